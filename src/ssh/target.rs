//! A host resolved into everything needed to reach it: address, port, user,
//! identities, known_hosts files, jump hosts, timeouts.
//!
//! Precedence, highest first: inventory variables (`ansible_host`,
//! `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`), `-o`
//! options from `ansible_ssh_common_args`, the OpenSSH client config, then
//! defaults. The config is matched on the inventory name and, like Ansible
//! (which runs `ssh <ansible_host>`), also on `ansible_host`; the name's
//! blocks come first. HostName follows `ssh <destination>`, the
//! destination being `ansible_host` or else the inventory name: without
//! ansible_host the name's HostName applies; with it, only the address's
//! own Host blocks can rename it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ssh2_config::SshConfig;

use super::config::{Params, SshOptions, load_ssh_config};
use super::error::ConnectError;
use crate::project::HostKeyChecking;

/// What the inventory says about one host's connection.
#[derive(Debug, Clone, Default)]
pub struct HostSpec {
    /// `ansible_host`.
    pub address: Option<String>,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `-o Key=Value` pairs from `ansible_ssh_common_args`/`ansible_ssh_extra_args`.
    pub ssh_options: Vec<(String, String)>,
}

impl From<&crate::inventory::HostConnection> for HostSpec {
    /// The inventory's connection variables for one host.
    fn from(conn: &crate::inventory::HostConnection) -> HostSpec {
        HostSpec {
            // The name itself when there is no ansible_host: the resolver
            // treats an address equal to the name as the name.
            address: Some(conn.address.clone()),
            port: conn.port,
            user: conn.user.clone(),
            private_key_file: conn.private_key_file.clone(),
            ssh_options: conn.ssh_options.clone(),
        }
    }
}

/// A fully resolved connection target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Inventory name (or the jump host's spec), used in every message.
    pub name: String,
    /// Address or DNS name to connect to.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Identity files to try, in order (those that do not exist are skipped).
    pub identity_files: Vec<PathBuf>,
    /// Extra certificate files (CertificateFile); `KEY-cert.pub` beside a
    /// key is found on its own.
    pub certificate_files: Vec<PathBuf>,
    /// Only use the agent's keys that match an identity file.
    pub identities_only: bool,
    pub agent_socket: Option<PathBuf>,
    /// known_hosts files to check, in order; accept-new appends to the first
    /// writable one.
    pub known_hosts: Vec<PathBuf>,
    pub host_key_checking: HostKeyChecking,
    pub connect_timeout: Duration,
    pub keepalive: Option<Duration>,
    /// The hop before this host (the last ProxyJump entry), itself a full
    /// target; `None` for a direct connection.
    pub jump: Option<Box<Target>>,
    /// ProxyCommand (tokens expanded): the connection runs over its stdio.
    pub proxy_command: Option<String>,
}

impl Target {
    /// Resolves one host. Reads the ssh config; to resolve many hosts, make
    /// a [`Resolver`] once.
    pub fn resolve(
        name: &str,
        spec: &HostSpec,
        options: &SshOptions,
    ) -> Result<Target, ConnectError> {
        Resolver::new(options)
            .map_err(|reason| ConnectError::Config {
                host: name.to_string(),
                reason,
            })?
            .resolve(name, spec)
    }

    /// `host` as known_hosts and messages spell it: `[addr]:port` unless the
    /// port is 22.
    pub fn known_hosts_name(&self) -> String {
        known_hosts_name(&self.host, self.port)
    }

    /// Identifies the connection in the pool: the same user, address, port
    /// and route share one connection.
    pub fn pool_key(&self) -> String {
        let mut key = format!("{}@{}:{}", self.user, self.host, self.port);
        if let Some(command) = &self.proxy_command {
            key.push_str(" via command ");
            key.push_str(command);
        }
        if let Some(jump) = &self.jump {
            key.push_str(" via ");
            key.push_str(&jump.pool_key());
        }
        key
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}@{})",
            self.name,
            self.user,
            self.known_hosts_name()
        )
    }
}

pub(crate) fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Resolves targets against one parsed ssh config.
pub struct Resolver {
    options: SshOptions,
    config: Option<SshConfig>,
}

/// Jump chains longer than this are a configuration loop.
const MAX_JUMPS: usize = 8;

impl Resolver {
    pub fn new(options: &SshOptions) -> Result<Resolver, String> {
        Ok(Resolver {
            options: options.clone(),
            config: load_ssh_config(options)?,
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    pub fn resolve(&self, name: &str, spec: &HostSpec) -> Result<Target, ConnectError> {
        self.resolve_depth(name, spec, 0)
    }

    fn resolve_depth(
        &self,
        name: &str,
        spec: &HostSpec,
        depth: usize,
    ) -> Result<Target, ConnectError> {
        let config_error = |reason: String| ConnectError::Config {
            host: name.to_string(),
            reason,
        };
        if depth > MAX_JUMPS {
            return Err(config_error(format!(
                "more than {MAX_JUMPS} ProxyJump hops (a loop in the ssh config?)"
            )));
        }
        let home = &self.options.home;
        // What `ssh` is given: ansible_host, else the inventory name.
        let destination = spec.address.as_deref().unwrap_or(name);
        let mut params = Params::from_options(&spec.ssh_options, home).map_err(config_error)?;
        // HostName as ssh finds it for the destination: `-o HostName`, then
        // the destination's own Host blocks (not the inventory name's when
        // ansible_host is another address).
        let mut host_name = params.host_name.take();
        if let Some(config) = &self.config {
            let mut by_name = Params::from_config(config, name, home).map_err(config_error)?;
            if destination == name {
                host_name = host_name.or(by_name.host_name.take());
            } else {
                by_name.host_name = None;
            }
            params = params.or(by_name);
            if destination != name {
                let mut by_address =
                    Params::from_config(config, destination, home).map_err(config_error)?;
                host_name = host_name.or(by_address.host_name.take());
                params = params.or(by_address);
            }
        }

        let host =
            host_name.map_or_else(|| destination.to_string(), |h| h.replace("%h", destination));
        let port = spec.port.or(params.port).unwrap_or(22);
        let user = match spec.user.clone().or(params.user.take()) {
            Some(user) => user,
            None => local_user().ok_or_else(|| {
                config_error("no user: set ansible_user, User in ~/.ssh/config, or $USER".into())
            })?,
        };

        let mut identity_files: Vec<PathBuf> = spec.private_key_file.iter().cloned().collect();
        identity_files.extend(params.identity_files.iter().cloned());
        if identity_files.is_empty() {
            identity_files = ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|f| home.join(".ssh").join(f))
                .collect();
        }
        let identity_files = identity_files
            .into_iter()
            .map(|p| expand_tokens(&p, home, name, &host, port, &user))
            .collect();

        let mut known_hosts = self.options.known_hosts.clone();
        known_hosts.extend(
            params
                .user_known_hosts
                .clone()
                .unwrap_or_else(|| vec![home.join(".ssh/known_hosts")]),
        );

        let jump = match params.proxy_jump.as_deref() {
            None | Some([]) => None,
            Some(chain) => Some(Box::new(self.resolve_chain(name, chain, depth)?)),
        };
        let proxy_command = params
            .proxy_command
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("none"))
            .map(|c| expand_text(c, home, name, &host, port, &user));
        if let (Some(command), Some(jump)) = (&proxy_command, &jump) {
            return Err(config_error(format!(
                "both ProxyJump {} and ProxyCommand `{command}` apply; OpenSSH takes whichever its config names first, herd will not guess: add `ProxyJump none` or `ProxyCommand none` to this host's block",
                jump.name
            )));
        }

        Ok(Target {
            name: name.to_string(),
            host,
            port,
            user,
            identity_files,
            certificate_files: params.certificate_files.clone(),
            identities_only: params.identities_only.unwrap_or(false),
            agent_socket: params
                .identity_agent
                .clone()
                .unwrap_or_else(|| self.options.agent_socket.clone()),
            known_hosts,
            host_key_checking: self
                .options
                .host_key_checking
                .or(params.strict_host_key_checking)
                .unwrap_or_default(),
            connect_timeout: params
                .connect_timeout
                .unwrap_or(self.options.connect_timeout),
            keepalive: params.server_alive_interval.or(self.options.keepalive),
            jump,
            proxy_command,
        })
    }

    /// `a,b,c`: the last hop is the one this host is reached through; each
    /// hop is reached through the one before it. The first hop follows its
    /// own ssh config (it may have a ProxyJump of its own).
    fn resolve_chain(
        &self,
        name: &str,
        chain: &[String],
        depth: usize,
    ) -> Result<Target, ConnectError> {
        let (last, before) = chain.split_last().expect("non-empty chain");
        let (jump_name, mut spec) = parse_jump(last).map_err(|reason| ConnectError::Config {
            host: name.to_string(),
            reason,
        })?;
        if !before.is_empty() {
            // The earlier hops decide the route, not the hop's own config.
            spec.ssh_options
                .push(("ProxyJump".into(), before.join(",")));
        }
        self.resolve_depth(&jump_name, &spec, depth + 1)
            .map_err(|e| ConnectError::Proxy {
                host: name.to_string(),
                jump: last.clone(),
                reason: e.to_string(),
            })
    }
}

/// `[user@]host[:port]` (or `ssh://[user@]host[:port]`) from ProxyJump.
fn parse_jump(text: &str) -> Result<(String, HostSpec), String> {
    let rest = text.strip_prefix("ssh://").unwrap_or(text);
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) => (Some(user.to_string()), rest),
        None => (None, rest),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("bad ProxyJump host {text:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("bad port in ProxyJump {text:?}"))
        })
        .transpose()?;
    if host.is_empty() {
        return Err(format!("bad ProxyJump host {text:?}"));
    }
    Ok((
        host.to_string(),
        HostSpec {
            user,
            port,
            ..HostSpec::default()
        },
    ))
}

/// The local user name: `$USER`, else the password database.
pub(crate) fn local_user() -> Option<String> {
    if let Some(user) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return Some(user);
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; we
    // copy the name out before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr((*pw).pw_name);
        Some(name.to_string_lossy().into_owned())
    }
}

/// Expands `~` and the OpenSSH tokens `%d %h %n %p %r %u %%` in a path.
fn expand_tokens(
    path: &std::path::Path,
    home: &std::path::Path,
    name: &str,
    host: &str,
    port: u16,
    user: &str,
) -> PathBuf {
    let text = path.to_string_lossy();
    if !text.contains('%') && !text.starts_with('~') {
        return path.to_path_buf();
    }
    let out = expand_text(&text, home, name, host, port, user);
    super::config::expand_tilde(&out, home)
}

/// The OpenSSH tokens `%d %h %n %p %r %u %%` in `text`.
fn expand_text(
    text: &str,
    home: &std::path::Path,
    name: &str,
    host: &str,
    port: u16,
    user: &str,
) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&home.to_string_lossy()),
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(name),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(user),
            Some('u') => out.push_str(&local_user().unwrap_or_default()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &std::path::Path, config: &str) -> SshOptions {
        let path = dir.join("ssh_config");
        std::fs::write(&path, config).unwrap();
        SshOptions {
            config_file: Some(path),
            ..SshOptions::isolated(dir)
        }
    }

    #[test]
    fn inventory_beats_dash_o_beats_config_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "Host web1\n  HostName 10.1.1.1\n  User cfguser\n  Port 2201\n  IdentityFile ~/.ssh/cfgkey\n",
        );
        let resolver = Resolver::new(&opts).unwrap();

        let t = resolver.resolve("web1", &HostSpec::default()).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("10.1.1.1", 2201, "cfguser")
        );
        assert_eq!(t.identity_files, vec![dir.path().join(".ssh/cfgkey")]);
        assert_eq!(t.known_hosts, vec![dir.path().join(".ssh/known_hosts")]);
        assert_eq!(t.host_key_checking, HostKeyChecking::Strict);

        let spec = HostSpec {
            ssh_options: vec![
                ("User".into(), "ouser".into()),
                ("Port".into(), "2202".into()),
            ],
            ..HostSpec::default()
        };
        let t = resolver.resolve("web1", &spec).unwrap();
        assert_eq!((t.port, t.user.as_str()), (2202, "ouser"));

        let spec = HostSpec {
            address: Some("127.0.0.9".into()),
            port: Some(2203),
            user: Some("invuser".into()),
            private_key_file: Some("/keys/inv".into()),
            ssh_options: vec![("User".into(), "ouser".into())],
        };
        let t = resolver.resolve("web1", &spec).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("127.0.0.9", 2203, "invuser")
        );
        assert_eq!(t.identity_files[0], PathBuf::from("/keys/inv"));

        let t = resolver
            .resolve(
                "plain",
                &HostSpec {
                    user: Some("u".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((t.host.as_str(), t.port), ("plain", 22));
        assert_eq!(t.identity_files.len(), 3);
        assert_eq!(t.identity_files[0], dir.path().join(".ssh/id_ed25519"));
    }

    #[test]
    fn hostname_follows_the_destination_as_ssh_does() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "Host web1\n  HostName 10.1.1.1\nHost 10.9.9.9\n  HostName 10.2.2.2\n",
        );
        let host = |name: &str, address: &str| {
            let spec = HostSpec {
                address: Some(address.into()),
                user: Some("u".into()),
                ..HostSpec::default()
            };
            Target::resolve(name, &spec, &opts).unwrap().host
        };
        // Inventory hosts carry their name as the address without ansible_host.
        assert_eq!(host("web1", "web1"), "10.1.1.1");
        assert_eq!(host("web1", "10.3.3.3"), "10.3.3.3");
        assert_eq!(host("web1", "10.9.9.9"), "10.2.2.2");
    }

    #[test]
    fn proxy_command_expands_tokens_and_excludes_proxy_jump() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "Host both\n  ProxyJump bastion\nHost none\n  ProxyCommand none\nHost *\n  HostName %h.example\n  ProxyCommand nc -q0 %h %p # %r\n",
        );
        let spec = HostSpec {
            user: Some("u".into()),
            port: Some(2222),
            ..HostSpec::default()
        };
        let t = Target::resolve("web1", &spec, &opts).unwrap();
        assert_eq!(t.proxy_command.as_deref(), Some("nc -q0 web1.example 2222"));
        assert!(t.pool_key().contains("via command"));
        assert_eq!(
            Target::resolve("none", &spec, &opts).unwrap().proxy_command,
            None
        );
        let err = Target::resolve("both", &spec, &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ProxyJump bastion and ProxyCommand"), "{err}");
    }

    #[test]
    fn config_matches_the_address_too() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path(), "Host 10.*\n  User tenuser\n");
        let spec = HostSpec {
            address: Some("10.0.0.1".into()),
            ..HostSpec::default()
        };
        let t = Target::resolve("db1", &spec, &opts).unwrap();
        assert_eq!(t.user, "tenuser");
    }

    #[test]
    fn proxy_jump_chains_resolve_each_hop() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "Host inner\n  HostName 10.0.0.2\n  ProxyJump ignored\nHost outer\n  HostName 1.2.3.4\n  User jumper\n  ProxyJump none\nHost target\n  ProxyJump outer,admin@inner:2222\n  User t\n",
        );
        let t = Target::resolve("target", &HostSpec::default(), &opts).unwrap();
        let inner = t.jump.as_ref().unwrap();
        assert_eq!(
            (inner.host.as_str(), inner.port, inner.user.as_str()),
            ("10.0.0.2", 2222, "admin")
        );
        let outer = inner.jump.as_ref().unwrap();
        assert_eq!(
            (outer.host.as_str(), outer.user.as_str()),
            ("1.2.3.4", "jumper")
        );
        assert!(outer.jump.is_none());
        assert!(
            t.pool_key()
                .contains("via admin@10.0.0.2:2222 via jumper@1.2.3.4:22")
        );
    }

    #[test]
    fn jump_loops_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path(), "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n");
        let err = Target::resolve(
            "a",
            &HostSpec {
                user: Some("u".into()),
                ..Default::default()
            },
            &opts,
        )
        .unwrap_err();
        assert!(err.to_string().contains("ProxyJump"), "{err}");
    }

    #[test]
    fn explicit_host_key_checking_wins_over_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path(), "Host *\n  StrictHostKeyChecking no\n");
        let spec = HostSpec {
            user: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(
            Target::resolve("h", &spec, &opts)
                .unwrap()
                .host_key_checking,
            HostKeyChecking::Off
        );
        opts.host_key_checking = Some(HostKeyChecking::Strict);
        assert_eq!(
            Target::resolve("h", &spec, &opts)
                .unwrap()
                .host_key_checking,
            HostKeyChecking::Strict
        );
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A target with placeholder values, for unit tests to adjust.
    pub(crate) fn target() -> Target {
        Target {
            name: "test".into(),
            host: "127.0.0.1".into(),
            port: 22,
            user: "nobody".into(),
            identity_files: Vec::new(),
            certificate_files: Vec::new(),
            identities_only: false,
            agent_socket: None,
            known_hosts: Vec::new(),
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: Duration::from_secs(5),
            keepalive: None,
            jump: None,
            proxy_command: None,
        }
    }
}
