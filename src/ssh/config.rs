//! herd-wide SSH settings and the OpenSSH client configuration.
//!
//! `~/.ssh/config` is read with ssh2-config (Host patterns, Include,
//! first-match-wins). The handful of options herd acts on are pulled into
//! [`Params`], which also reads `-o Key=Value` pairs from the inventory's
//! `ansible_ssh_common_args` through the same parser, so both spell options
//! exactly as `ssh` does.

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig};

use crate::project::HostKeyChecking;

/// A secret string (key passphrase, become password). Its `Debug` never
/// shows the value, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// herd-wide SSH settings (CLI flags and `herd.toml`'s `[ssh]`).
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// OpenSSH client config; `None` means `~/.ssh/config` when it exists.
    pub config_file: Option<PathBuf>,
    /// What `~` means: `$HOME` by default. Tests point it at a temp dir so
    /// the user's own `~/.ssh` is never read or written.
    pub home: PathBuf,
    /// known_hosts files checked in addition to the user's (ssh config's
    /// UserKnownHostsFile or `~/.ssh/known_hosts`). These come first, so
    /// accept-new records learned keys in the project's file when it has one.
    pub known_hosts: Vec<PathBuf>,
    /// `None`: the ssh config's StrictHostKeyChecking, else strict. An
    /// explicit herd setting wins over the ssh config.
    pub host_key_checking: Option<HostKeyChecking>,
    /// TCP connect + handshake + authentication, per host.
    pub connect_timeout: Duration,
    /// Keepalive interval when the ssh config has no ServerAliveInterval.
    pub keepalive: Option<Duration>,
    /// Default per-command timeout (`ExecOptions::timeout` overrides it).
    pub command_timeout: Option<Duration>,
    /// ssh-agent socket; defaults to `$SSH_AUTH_SOCK`. `None`: no agent.
    pub agent_socket: Option<PathBuf>,
    /// Passphrase for protected keys; defaults to `$HERD_KEY_PASSPHRASE`.
    pub key_passphrase: Option<Secret>,
    /// Ask for key passphrases on the terminal when there is one.
    pub prompt_passphrase: bool,
    /// Channels open at once per connection. Must stay below the server's
    /// MaxSessions (OpenSSH default 10): a closed channel's slot is freed a
    /// moment after we send the close, so leave a margin.
    pub max_channels: usize,
    /// Handshakes in flight at once across the whole run. sshd drops new
    /// unauthenticated connections beyond MaxStartups (default 10:30:100,
    /// per server) and a handshake costs CPU on this machine; pacing the
    /// handshakes (not the connections) keeps a 10,000-host fan-out from
    /// looking like a flood while finished connections stay open.
    pub max_handshakes: usize,
    /// Captured stdout/stderr per command is cut at this many bytes (the
    /// output's `*_truncated` flag says so), keeping per-host memory small.
    pub output_limit: usize,
}

impl Default for SshOptions {
    fn default() -> SshOptions {
        SshOptions {
            config_file: None,
            home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
            known_hosts: Vec::new(),
            host_key_checking: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Some(Duration::from_secs(30)),
            command_timeout: None,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            key_passphrase: std::env::var("HERD_KEY_PASSPHRASE").ok().map(Secret),
            prompt_passphrase: true,
            max_channels: 8,
            max_handshakes: 64,
            output_limit: 8 << 20,
        }
    }
}

impl SshOptions {
    /// Sized for a run over `hosts` hosts: more handshakes in flight for a
    /// large fleet (64 up to ~1,000 hosts, then one per 16 hosts, at most
    /// 512), so 10,000 hosts 50 ms away do not queue behind 64 slots, while
    /// a small run never floods; and the open-file limit raised to a socket
    /// per host.
    pub fn scale_to(&mut self, hosts: usize) {
        self.max_handshakes = handshake_slots(hosts);
        super::ensure_open_files(hosts);
    }

    /// Options that read nothing from the environment or the user's home:
    /// `home` is `home`, no agent, no passphrase, no prompts. For tests and
    /// for callers that want full control.
    pub fn isolated(home: &Path) -> SshOptions {
        SshOptions {
            home: home.to_path_buf(),
            agent_socket: None,
            key_passphrase: None,
            prompt_passphrase: false,
            ..SshOptions::default()
        }
    }

    /// Takes the `[ssh]` table of `herd.toml` into account.
    pub fn apply_settings(&mut self, settings: &crate::project::SshSettings) {
        if let Some(config) = &settings.config {
            self.config_file = Some(config.clone());
        }
        self.known_hosts
            .extend(settings.known_hosts.iter().cloned());
        if settings.host_key_checking.is_some() {
            self.host_key_checking = settings.host_key_checking;
        }
        if let Some(secs) = settings.connect_timeout {
            self.connect_timeout = Duration::from_secs(secs);
        }
    }

    /// Expands a leading `~/` against `home`.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        expand_tilde(path, &self.home)
    }
}

/// Handshakes in flight for a run over `hosts` hosts (see
/// [`SshOptions::scale_to`]).
pub fn handshake_slots(hosts: usize) -> usize {
    (hosts / 16).clamp(64, 512)
}

pub(crate) fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix('~') {
        Some("") => home.to_path_buf(),
        Some(rest) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(path),
    }
}

/// Reads the OpenSSH client config named by the options, if any.
pub(crate) fn load_ssh_config(options: &SshOptions) -> Result<Option<SshConfig>, String> {
    let (path, explicit) = match &options.config_file {
        Some(path) => (path.clone(), true),
        None => (options.home.join(".ssh/config"), false),
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse_config(&mut BufReader::new(file), &options.home)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_config(reader: &mut impl std::io::BufRead, home: &Path) -> Result<SshConfig, String> {
    SshConfig::default()
        .home_dir(home)
        .parse(
            reader,
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map_err(|e| e.to_string())
}

/// The options herd acts on, for one host, from one source. `None` means
/// "this source does not say"; [`Params::or`] layers sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    pub certificate_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    pub identity_agent: Option<Option<PathBuf>>,
    /// Jump hosts, first hop first; `Some(vec![])` is `ProxyJump none`.
    pub proxy_jump: Option<Vec<String>>,
    /// ProxyCommand as written (tokens not expanded; `none` kept).
    pub proxy_command: Option<String>,
    pub server_alive_interval: Option<Duration>,
    pub user_known_hosts: Option<Vec<PathBuf>>,
    pub strict_host_key_checking: Option<HostKeyChecking>,
    pub connect_timeout: Option<Duration>,
}

impl Params {
    /// `self`, with what it leaves open taken from `lower`. Identity files
    /// accumulate like OpenSSH's IdentityFile.
    pub fn or(mut self, lower: Params) -> Params {
        self.host_name = self.host_name.or(lower.host_name);
        self.user = self.user.or(lower.user);
        self.port = self.port.or(lower.port);
        self.identity_files.extend(lower.identity_files);
        self.certificate_files.extend(lower.certificate_files);
        self.identities_only = self.identities_only.or(lower.identities_only);
        self.identity_agent = self.identity_agent.or(lower.identity_agent);
        self.proxy_jump = self.proxy_jump.or(lower.proxy_jump);
        self.proxy_command = self.proxy_command.or(lower.proxy_command);
        self.server_alive_interval = self.server_alive_interval.or(lower.server_alive_interval);
        self.user_known_hosts = self.user_known_hosts.or(lower.user_known_hosts);
        self.strict_host_key_checking = self
            .strict_host_key_checking
            .or(lower.strict_host_key_checking);
        self.connect_timeout = self.connect_timeout.or(lower.connect_timeout);
        self
    }

    /// The options of `config` that apply to `host` (an inventory name or
    /// address, matched against `Host` patterns).
    pub fn from_config(config: &SshConfig, host: &str, home: &Path) -> Result<Params, String> {
        Params::from_host_params(&config.query(host), home)
    }

    /// `-o Key=Value` pairs, as `ssh -o` would take them.
    pub fn from_options(options: &[(String, String)], home: &Path) -> Result<Params, String> {
        if options.is_empty() {
            return Ok(Params::default());
        }
        let mut text = String::new();
        for (key, value) in options {
            if key.contains(['\n', ' ', '=']) || value.contains('\n') {
                return Err(format!("invalid ssh option {key:?}={value:?}"));
            }
            text.push_str(&format!("{key} {value}\n"));
        }
        let config = parse_config(&mut text.as_bytes(), home)?;
        Params::from_host_params(&config.query("*"), home)
    }

    fn from_host_params(p: &HostParams, home: &Path) -> Result<Params, String> {
        let unsupported = |name: &str| -> Option<&Vec<String>> { p.unsupported_fields.get(name) };
        let first = |name: &str| -> Option<String> {
            unsupported(name).and_then(|args| args.first().cloned())
        };
        let identities_only = first("identitiesonly").map(|v| yes_no(&v)).transpose()?;
        let identity_agent = first("identityagent").map(|v| {
            if v.eq_ignore_ascii_case("none") {
                None
            } else if v == "SSH_AUTH_SOCK" || v == "$SSH_AUTH_SOCK" {
                std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from)
            } else {
                Some(expand_tilde(&v, home))
            }
        });
        let user_known_hosts = unsupported("userknownhostsfile").map(|args| {
            args.iter()
                .flat_map(|a| a.split_whitespace())
                .filter(|a| !a.eq_ignore_ascii_case("none"))
                .map(|a| expand_tilde(a, home))
                .collect()
        });
        let strict = first("stricthostkeychecking")
            .map(|v| parse_strict(&v))
            .transpose()?;
        let proxy_jump = p.proxy_jump.as_ref().map(|jumps| {
            let jumps: Vec<String> = jumps
                .iter()
                .flat_map(|j| j.split(','))
                .map(|j| j.trim().to_string())
                .filter(|j| !j.is_empty())
                .collect();
            if jumps.len() == 1 && jumps[0].eq_ignore_ascii_case("none") {
                Vec::new()
            } else {
                jumps
            }
        });
        Ok(Params {
            host_name: p.host_name.clone(),
            user: p.user.clone(),
            port: p.port,
            identity_files: p.identity_file.clone().unwrap_or_default(),
            certificate_files: p.certificate_file.iter().cloned().collect(),
            identities_only,
            identity_agent,
            proxy_jump,
            proxy_command: unsupported("proxycommand").map(|args| args.join(" ")),
            server_alive_interval: p.server_alive_interval.filter(|d| !d.is_zero()),
            user_known_hosts,
            strict_host_key_checking: strict,
            connect_timeout: p.connect_timeout.filter(|d| !d.is_zero()),
        })
    }
}

fn yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("expected yes or no, got {value:?}")),
    }
}

fn parse_strict(value: &str) -> Result<HostKeyChecking, String> {
    match value.to_ascii_lowercase().as_str() {
        // `ask` cannot ask in a batch run; refusing is what it comes to.
        "yes" | "ask" | "true" => Ok(HostKeyChecking::Strict),
        "accept-new" => Ok(HostKeyChecking::AcceptNew),
        "no" | "off" | "false" => Ok(HostKeyChecking::Off),
        _ => Err(format!(
            "StrictHostKeyChecking: expected yes, accept-new or no, got {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes_in_flight_grow_with_the_fleet_within_bounds() {
        assert_eq!(handshake_slots(10), 64);
        assert_eq!(handshake_slots(1_000), 64);
        assert_eq!(handshake_slots(4_000), 250);
        assert_eq!(handshake_slots(10_000), 512);
    }

    fn config(text: &str) -> SshConfig {
        parse_config(&mut text.as_bytes(), Path::new("/home/u")).unwrap()
    }

    #[test]
    fn reads_the_options_herd_uses() {
        let cfg = config(
            "Host web*\n  HostName 10.0.0.5\n  User deploy\n  Port 2200\n  IdentityFile ~/.ssh/web\n  IdentitiesOnly yes\n  ProxyJump bastion,inner\n  ServerAliveInterval 15\n  UserKnownHostsFile ~/kh /etc/kh2\n  StrictHostKeyChecking accept-new\n  ConnectTimeout 3\n\nHost *\n  User nobody\n  IdentityFile ~/.ssh/other\n",
        );
        let p = Params::from_config(&cfg, "web1", Path::new("/home/u")).unwrap();
        assert_eq!(p.host_name.as_deref(), Some("10.0.0.5"));
        assert_eq!(p.user.as_deref(), Some("deploy"));
        assert_eq!(p.port, Some(2200));
        assert_eq!(p.identity_files[0], PathBuf::from("/home/u/.ssh/web"));
        assert_eq!(p.identities_only, Some(true));
        assert_eq!(
            p.proxy_jump,
            Some(vec!["bastion".to_string(), "inner".to_string()])
        );
        assert_eq!(p.server_alive_interval, Some(Duration::from_secs(15)));
        assert_eq!(
            p.user_known_hosts,
            Some(vec![PathBuf::from("/home/u/kh"), PathBuf::from("/etc/kh2")])
        );
        assert_eq!(p.strict_host_key_checking, Some(HostKeyChecking::AcceptNew));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(3)));

        let other = Params::from_config(&cfg, "db1", Path::new("/home/u")).unwrap();
        assert_eq!(other.user.as_deref(), Some("nobody"));
        assert_eq!(other.host_name, None);
    }

    #[test]
    fn dash_o_options_override_the_config() {
        let home = Path::new("/home/u");
        let opts = vec![
            ("User".to_string(), "admin".to_string()),
            ("ProxyJump".to_string(), "none".to_string()),
            ("StrictHostKeyChecking".to_string(), "no".to_string()),
        ];
        let cfg = config("Host *\n  User deploy\n  Port 2200\n  ProxyJump bastion\n");
        let p = Params::from_options(&opts, home)
            .unwrap()
            .or(Params::from_config(&cfg, "x", home).unwrap());
        assert_eq!(p.user.as_deref(), Some("admin"));
        assert_eq!(p.port, Some(2200));
        assert_eq!(p.proxy_jump, Some(vec![]));
        assert_eq!(p.strict_host_key_checking, Some(HostKeyChecking::Off));
    }

    #[test]
    fn bad_option_values_are_errors() {
        let home = Path::new("/");
        let opts = vec![("StrictHostKeyChecking".to_string(), "maybe".to_string())];
        assert!(Params::from_options(&opts, home).is_err());
        let opts = vec![("Port".to_string(), "abc".to_string())];
        assert!(Params::from_options(&opts, home).is_err());
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
