//! Options shared by every subcommand that reaches hosts (`run`, `play`):
//! which hosts, how many at once, how to connect, and privilege escalation.
//! Their meaning mirrors ansible's flags of the same names.

use std::time::Duration;

use anyhow::Context as _;

use super::Context;
use crate::project::HostKeyChecking;
use crate::ssh::SshOptions;

/// Default parallelism: high, because most of a host's time is spent waiting
/// on the network; connection setup is paced separately by the transport.
pub const DEFAULT_FORKS: usize = 100;

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Further restrict the hosts (a pattern; `@file` reads host names from
    /// a file).
    #[arg(short = 'l', long = "limit", value_name = "PATTERN")]
    pub limit: Option<String>,

    /// How many hosts to work on at once [default: herd.toml `forks`, else 100].
    #[arg(short = 'f', long = "forks", value_name = "N")]
    pub forks: Option<usize>,

    /// Run with sudo (as root, or --become-user).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,

    /// User to become with -b [default: root].
    #[arg(long = "become-user", value_name = "USER")]
    pub become_user: Option<String>,

    /// Ask for the sudo password (once, on the terminal).
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,

    /// Host key policy, as OpenSSH's StrictHostKeyChecking [default: strict].
    #[arg(long = "host-key-checking", value_enum, value_name = "MODE")]
    pub host_key_checking: Option<HostKeyChecking>,

    /// Seconds to wait for each host's connection and login [default: 10].
    #[arg(long = "connect-timeout", value_name = "SECS")]
    pub connect_timeout: Option<u64>,
}

impl ConnectArgs {
    /// herd-wide SSH settings: defaults < herd.toml's `[ssh]` < command line.
    pub fn ssh_options(&self, ctx: &Context) -> SshOptions {
        let mut options = SshOptions::default();
        options.apply_settings(&ctx.project.file.ssh);
        if let Some(mode) = self.host_key_checking {
            options.host_key_checking = Some(mode);
        }
        if let Some(secs) = self.connect_timeout {
            options.connect_timeout = Duration::from_secs(secs);
        }
        options
    }

    /// `-f`, else herd.toml's `forks`, else [`DEFAULT_FORKS`].
    pub fn forks(&self, ctx: &Context) -> usize {
        self.forks
            .or(ctx.project.file.forks)
            .unwrap_or(DEFAULT_FORKS)
    }

    /// The sudo password, asked once on the terminal when `-K` is given.
    pub fn become_password(&self) -> anyhow::Result<Option<String>> {
        if !self.ask_become_pass {
            return Ok(None);
        }
        rpassword::prompt_password("BECOME password: ")
            .map(Some)
            .context("cannot read the password from the terminal (is there one?)")
    }
}
