//! Options shared by every subcommand that reaches hosts (`run`, `play`):
//! which hosts, how many at once, how to connect, and privilege escalation.
//! Their meaning mirrors ansible's flags of the same names.

use std::time::Duration;

use anyhow::Context as _;

use super::{BadInput, Context};
use crate::engine::fanout::FleetHost;
use crate::inventory::Inventory;
use crate::project::HostKeyChecking;
use crate::ssh::{Become, ExecOptions, HostSpec, Resolver, Secret, SshOptions};

/// Default parallelism: high, because most of a host's time is spent waiting
/// on the network; connection setup is paced separately by the transport.
pub const DEFAULT_FORKS: usize = 100;

#[derive(Debug, Default, clap::Args)]
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
    pub(super) fn ssh_options(&self, ctx: &Context) -> SshOptions {
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
    pub(super) fn forks(&self, ctx: &Context) -> usize {
        self.forks
            .or(ctx.project.file.forks)
            .unwrap_or(DEFAULT_FORKS)
    }

    /// The sudo password, asked once on the terminal when `-K` is given.
    pub(super) fn become_password(&self) -> anyhow::Result<Option<String>> {
        if !self.ask_become_pass {
            return Ok(None);
        }
        let password = rpassword::prompt_password("BECOME password: ")
            .context("cannot read the password from the terminal (is there one?)")?;
        crate::secrets::redact::register(&password);
        Ok(Some(password))
    }

    /// The hosts PATTERN (narrowed by `--limit`) selects, in inventory order.
    pub fn select(&self, inventory: &Inventory, pattern: &str) -> anyhow::Result<Vec<String>> {
        Ok(inventory.select(pattern, self.limit.as_deref())?)
    }

    /// Each host's connection target and exec options (become from the
    /// command line, else the inventory). That host key checking is off is
    /// said by the transport, once per run, for every command.
    pub(super) fn fleet_hosts(
        &self,
        inventory: &Inventory,
        hosts: &[String],
        options: &SshOptions,
        become_password: Option<&str>,
    ) -> anyhow::Result<Vec<FleetHost>> {
        let resolver =
            Resolver::new(options).map_err(|reason| BadInput(format!("ssh config: {reason}")))?;
        let mut fleet = Vec::with_capacity(hosts.len());
        for host in hosts {
            let conn = inventory.connection(host)?;
            if conn.connection == crate::inventory::ConnectionKind::Local {
                return Err(BadInput(format!(
                    "host `{host}` has ansible_connection=local: this command reaches hosts over ssh, only `herd play` runs on this machine; leave it out with --limit '!{host}'"
                ))
                .into());
            }
            for warning in &conn.warnings {
                tracing::warn!(host = %host, "{warning}");
            }
            let target = resolver
                .resolve(host, &HostSpec::from(&conn))
                .map_err(Unresolvable)?;
            let become_ = (self.become_ || conn.become_.enabled).then(|| Become {
                su: false,
                user: self
                    .become_user
                    .clone()
                    .or(conn.become_.user.clone())
                    .unwrap_or_else(|| "root".into()),
                password: become_password
                    .map(str::to_string)
                    .or(conn.become_.password.clone())
                    .map(Secret::new),
            });
            fleet.push(FleetHost {
                target,
                exec: ExecOptions {
                    become_,
                    ..ExecOptions::default()
                },
            });
        }
        Ok(fleet)
    }
}

/// A host whose connection settings cannot be used (its ssh config or
/// ProxyJump): the admin's to fix, so bad input.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Unresolvable(pub crate::ssh::ConnectError);

crate::exit::bad_input!(Unresolvable);
