//! An existing Ansible project's `ansible.cfg`, read where Ansible finds it.
//!
//! Without a `herd.toml`, herd looks for the first of `$ANSIBLE_CONFIG` (a
//! file, or a directory holding ansible.cfg), `./ansible.cfg` (skipped,
//! with a warning, in a world-writable directory, as Ansible does),
//! `~/.ansible.cfg` and `/etc/ansible/ansible.cfg`, and reads the settings
//! herd has an equivalent for:
//!
//! | section                  | keys                                                   |
//! |--------------------------|--------------------------------------------------------|
//! | `[defaults]`             | inventory, roles_path, collections_path, remote_user, private_key_file, host_key_checking, forks, strategy, timeout |
//! | `[privilege_escalation]` | become, become_method (sudo), become_user              |
//! | `[ssh_connection]`       | ssh_args (`-o` options herd's ssh layer acts on)       |
//!
//! Other keys and sections are Ansible's business and are ignored. The
//! file is Python configparser's INI as Ansible reads it: `key = value` or
//! `key: value`, `#`/`;` comment lines, `;` inline comments, indented
//! continuation lines. Relative paths are relative to the file's directory.
//! A bad value is an error naming file:line and what would be valid.

use std::path::{Path, PathBuf};

/// The file name Ansible looks for.
pub const FILE_NAME: &str = "ansible.cfg";

/// `-o` options of `ssh_args` that herd's ssh layer understands.
const SSH_OPTIONS: &[&str] = &[
    "hostname",
    "user",
    "port",
    "identityfile",
    "certificatefile",
    "identitiesonly",
    "identityagent",
    "proxyjump",
    "proxycommand",
    "serveraliveinterval",
    "userknownhostsfile",
    "stricthostkeychecking",
    "connecttimeout",
];

/// ssh options in Ansible's default ssh_args that herd's own connection
/// pool already stands for: mentioned with `-v`, not warned about.
const POOLED_OPTIONS: &[&str] = &["controlmaster", "controlpersist", "controlpath"];

#[derive(Debug, thiserror::Error)]
pub enum CfgError {
    #[error("{path}: cannot read Ansible config: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The settings of an ansible.cfg herd acts on (paths resolved).
#[derive(Debug, Clone, Default)]
pub struct AnsibleCfg {
    /// The file read.
    pub path: PathBuf,
    pub inventory: Vec<PathBuf>,
    pub roles_path: Vec<PathBuf>,
    pub collections_path: Vec<PathBuf>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub forks: Option<usize>,
    pub strategy: Option<crate::strategy::Strategy>,
    pub timeout: Option<u64>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `-o Key=Value` pairs from ssh_args that herd acts on.
    pub ssh_options: Vec<(String, String)>,
    /// What herd read but does not act on, to say once (warn level).
    pub warnings: Vec<String>,
    /// What herd's pool already does (ControlPersist...): said with `-v`.
    pub notes: Vec<String>,
}

/// The ansible.cfg Ansible would use from `cwd`, if any.
pub fn find(cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    if let Some(env) = std::env::var_os("ANSIBLE_CONFIG").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(env);
        let path = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path
        };
        if path.is_file() {
            return Some(path);
        }
    }
    let local = cwd.join(FILE_NAME);
    if local.is_file() {
        if world_writable(cwd) {
            tracing::warn!(
                "ignoring {} because its directory is world writable (as Ansible does)",
                local.display()
            );
        } else {
            return Some(local);
        }
    }
    if let Some(home) = home {
        let user = home.join(".ansible.cfg");
        if user.is_file() {
            return Some(user);
        }
    }
    let system = PathBuf::from("/etc/ansible").join(FILE_NAME);
    system.is_file().then_some(system)
}

fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

impl AnsibleCfg {
    /// Reads and checks `path`.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<AnsibleCfg, CfgError> {
        let text = std::fs::read_to_string(path).map_err(|source| CfgError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AnsibleCfg::parse(&text, path, home)
    }

    pub fn parse(text: &str, path: &Path, home: Option<&Path>) -> Result<AnsibleCfg, CfgError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = AnsibleCfg {
            path: path.to_path_buf(),
            ..AnsibleCfg::default()
        };
        for entry in entries(text, path)? {
            let bad = |message: String| CfgError::Invalid {
                path: path.to_path_buf(),
                line: entry.line,
                message: format!("[{}] {}: {message}", entry.section, entry.key),
            };
            let value = entry.value.as_str();
            let resolve = |p: &str| resolve_path(p.trim(), base, home);
            match (entry.section.as_str(), entry.key.as_str()) {
                ("defaults", "inventory" | "hostfile") => {
                    cfg.inventory = value
                        .split(',')
                        .filter(|p| !p.trim().is_empty())
                        .map(resolve)
                        .collect();
                }
                ("defaults", "roles_path") => cfg.roles_path = path_list(value, &resolve),
                ("defaults", "collections_path" | "collections_paths") => {
                    cfg.collections_path = path_list(value, &resolve)
                }
                ("defaults", "remote_user") => cfg.remote_user = non_empty(value),
                ("defaults", "private_key_file") => {
                    cfg.private_key_file = non_empty(value).map(|p| resolve(&p))
                }
                ("defaults", "host_key_checking") => {
                    cfg.host_key_checking = Some(boolean(value).map_err(bad)?)
                }
                ("defaults", "forks") => {
                    cfg.forks = Some(number(value).filter(|n| *n > 0).ok_or_else(|| {
                        bad(format!(
                            "expected a number of hosts at once (e.g. `forks = 20`), found `{value}`"
                        ))
                    })? as usize)
                }
                ("defaults", "strategy") => {
                    cfg.strategy = Some(value.to_string().try_into().map_err(bad)?)
                }
                ("defaults", "timeout") => {
                    cfg.timeout = Some(number(value).filter(|n| *n > 0).ok_or_else(|| {
                        bad(format!(
                            "expected seconds to wait for a connection (e.g. `timeout = 10`), found `{value}`"
                        ))
                    })?)
                }
                ("privilege_escalation", "become") => {
                    cfg.become_ = Some(boolean(value).map_err(bad)?)
                }
                ("privilege_escalation", "become_user") => cfg.become_user = non_empty(value),
                ("privilege_escalation", "become_method") if !value.is_empty() && value != "sudo" => {
                    return Err(bad(format!(
                        "herd escalates with sudo only, found `{value}`; set `become_method = sudo` or remove the line (a play can still say `become_method: su`)"
                    )));
                }
                ("ssh_connection", "ssh_args") => {
                    read_ssh_args(value, &mut cfg).map_err(bad)?;
                }
                _ => {}
            }
        }
        Ok(cfg)
    }
}

/// One `key = value` of a section, with the line it starts on.
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// configparser's INI: sections, `key = value` / `key: value`, comment
/// lines, `;` inline comments after whitespace, indented continuations.
fn entries(text: &str, path: &Path) -> Result<Vec<Entry>, CfgError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut section: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let content = strip_inline_comment(trimmed);
        let indented = raw.starts_with([' ', '\t']);
        if indented
            && let Some(last) = entries.last_mut()
            && Some(&last.section) == section.as_ref()
        {
            last.value.push('\n');
            last.value.push_str(content);
            continue;
        }
        if let Some(name) = content.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| CfgError::Invalid {
                path: path.to_path_buf(),
                line: line_no,
                message: format!("section header `{content}` is missing its closing `]`"),
            })?;
            section = Some(name.trim().to_string());
            continue;
        }
        let Some(split) = content.find(['=', ':']) else {
            return Err(CfgError::Invalid {
                path: path.to_path_buf(),
                line: line_no,
                message: format!("expected `key = value`, found `{content}`"),
            });
        };
        let Some(section) = section.clone() else {
            return Err(CfgError::Invalid {
                path: path.to_path_buf(),
                line: line_no,
                message: "a setting before any [section]; put it under [defaults]".into(),
            });
        };
        entries.push(Entry {
            section,
            key: content[..split].trim().to_ascii_lowercase(),
            value: content[split + 1..].trim().to_string(),
            line: line_no,
        });
    }
    Ok(entries)
}

fn strip_inline_comment(text: &str) -> &str {
    let cut = text
        .char_indices()
        .find(|&(i, c)| c == ';' && i > 0 && text[..i].ends_with(char::is_whitespace))
        .map_or(text.len(), |(i, _)| i);
    text[..cut].trim_end()
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// `~` expanded, relative to the config file's directory.
fn resolve_path(text: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    let expanded = match (text.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(text),
    };
    base.join(expanded)
}

/// A `:`-separated path list (Ansible's pathspec).
fn path_list(value: &str, resolve: &dyn Fn(&str) -> PathBuf) -> Vec<PathBuf> {
    value
        .split(':')
        .filter(|p| !p.trim().is_empty())
        .map(resolve)
        .collect()
}

fn number(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// Ansible's booleans; anything else is an error rather than a silent false.
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => Ok(true),
        "n" | "no" | "off" | "0" | "false" | "f" => Ok(false),
        _ => Err(format!("expected True or False, found `{value}`")),
    }
}

/// Keeps the `-o` options herd acts on; the rest is said once.
fn read_ssh_args(value: &str, cfg: &mut AnsibleCfg) -> Result<(), String> {
    let (options, flags) = crate::inventory::split_ssh_args(value)?;
    for flag in flags {
        if flag == "-C" {
            cfg.notes.push(format!(
                "ssh_args: `{flag}` (compression) has no effect in herd"
            ));
        } else {
            cfg.warnings.push(format!(
                "{}: ssh_args: ignoring `{flag}` (herd only uses -o options)",
                cfg.path.display()
            ));
        }
    }
    for (key, value) in options {
        let lower = key.to_ascii_lowercase();
        if SSH_OPTIONS.contains(&lower.as_str()) {
            cfg.ssh_options.push((key, value));
        } else if POOLED_OPTIONS.contains(&lower.as_str()) {
            cfg.notes.push(format!(
                "ssh_args: `-o {key}={value}` not needed: herd keeps one connection per host for the run"
            ));
        } else {
            cfg.warnings.push(format!(
                "{}: ssh_args: ignoring `-o {key}={value}` (herd's ssh acts on {})",
                cfg.path.display(),
                "HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump, ProxyCommand, UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout, ServerAliveInterval"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AnsibleCfg, CfgError> {
        AnsibleCfg::parse(
            text,
            Path::new("/proj/ansible.cfg"),
            Some(Path::new("/home/u")),
        )
    }

    #[test]
    fn reads_the_settings_herd_has() {
        let cfg = parse(
            "# project config\n[defaults]\ninventory = hosts.ini, /etc/other.yml\nroles_path = roles:~/.ansible/roles\nremote_user: deploy ; inline comment\nprivate_key_file = ~/.ssh/deploy\nhost_key_checking = False\nforks = 20\ntimeout=15\nstdout_callback = yaml\n\n[privilege_escalation]\nbecome = True\nbecome_method = sudo\nbecome_user = admin\n\n[ssh_connection]\nssh_args = -C -o ControlMaster=auto -o ControlPersist=60s\n  -o UserKnownHostsFile=/dev/null -o ForwardAgent=yes\npipelining = True\n",
        )
        .unwrap();
        assert_eq!(
            cfg.inventory,
            vec![
                PathBuf::from("/proj/hosts.ini"),
                PathBuf::from("/etc/other.yml")
            ]
        );
        assert_eq!(
            cfg.roles_path,
            vec![
                PathBuf::from("/proj/roles"),
                PathBuf::from("/home/u/.ansible/roles")
            ]
        );
        assert_eq!(cfg.remote_user.as_deref(), Some("deploy"));
        assert_eq!(
            cfg.private_key_file,
            Some(PathBuf::from("/home/u/.ssh/deploy"))
        );
        assert_eq!(cfg.host_key_checking, Some(false));
        assert_eq!((cfg.forks, cfg.timeout), (Some(20), Some(15)));
        assert_eq!(cfg.become_, Some(true));
        assert_eq!(cfg.become_user.as_deref(), Some("admin"));
        assert_eq!(
            cfg.ssh_options,
            vec![("UserKnownHostsFile".to_string(), "/dev/null".to_string())]
        );
        assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
        assert!(cfg.warnings[0].contains("ForwardAgent"));
        assert_eq!(cfg.notes.len(), 3, "{:?}", cfg.notes);
    }

    #[test]
    fn the_default_strategy_is_read_and_an_unknown_one_named() {
        let cfg = parse("[defaults]\nstrategy = host_pinned\n").unwrap();
        assert_eq!(cfg.strategy, Some(crate::strategy::Strategy::Free));
        assert_eq!(parse("[defaults]\n").unwrap().strategy, None);
        let err = parse("[defaults]\n\nstrategy = debug\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/proj/ansible.cfg:3:"), "{err}");
        assert!(err.contains("`linear` (the default), `free`"), "{err}");
    }

    #[test]
    fn bad_values_name_file_line_and_fix() {
        let err = parse("[defaults]\nforks = 20\nhost_key_checking = maybe\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/proj/ansible.cfg:3:"), "{err}");
        assert!(
            err.contains("host_key_checking") && err.contains("True or False"),
            "{err}"
        );
        let err = parse("[defaults]\n\nforks = many\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ansible.cfg:3") && err.contains("forks = 20"),
            "{err}"
        );
        let err = parse("[privilege_escalation]\nbecome_method = doas\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:") && err.contains("sudo"), "{err}");
        let err = parse("forks = 3\n").unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("[defaults]"), "{err}");
    }
}
