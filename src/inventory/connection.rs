//! How to reach a host, from its merged vars.
//!
//! | setting     | variables, first found wins                                        |
//! |-------------|--------------------------------------------------------------------|
//! | address     | `herd_host`, `ansible_host`, `ansible_ssh_host`, else the name      |
//! | port        | `herd_port`, `ansible_port`, `ansible_ssh_port`                     |
//! | user        | `herd_user`, `ansible_user`, `ansible_ssh_user`                     |
//! | key file    | `herd_key`, `ansible_ssh_private_key_file`, `ansible_private_key_file` |
//! | become      | `ansible_become` (bool, or yes/no/true/false/on/off/1/0)           |
//! | become user | `ansible_become_user`                                              |
//! | become pass | `ansible_become_password`, `ansible_become_pass`                   |
//!
//! `ansible_become_method` must be `sudo` (the only method herd has).
//! `ansible_connection` is `ssh` (or unset, `smart`, `paramiko`) or `local`
//! (this machine, no ssh: Ansible's `localhost ansible_connection=local`);
//! other plugins (docker, winrm, ...) are an error naming the host.
//!
//! An ansible.cfg's remote_user, private_key_file, become, become_user and
//! ssh_args options are [`ConnectionDefaults`]: used where a host's vars
//! say nothing.
//! `ansible_ssh_common_args` then `ansible_ssh_extra_args` contribute their
//! `-o Key=Value` options; other ssh flags are reported as warnings, not
//! silently used or dropped.

use std::path::PathBuf;

use serde_json::Value;

use super::{InventoryError, Vars, words};

/// How a host is reached (`ansible_connection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionKind {
    #[default]
    Ssh,
    /// This machine: commands run here with `sh -c`, no ssh.
    Local,
}

/// Connection settings for every host that does not set its own (from
/// ansible.cfg).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionDefaults {
    pub user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub become_: bool,
    pub become_user: Option<String>,
    /// `-o` options, after the host's own (which win).
    pub ssh_options: Vec<(String, String)>,
}

/// Everything the SSH layer needs to connect to one host and escalate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConnection {
    /// The inventory name (what the user typed and what results are keyed by).
    pub name: String,
    /// ssh, or this machine.
    pub connection: ConnectionKind,
    /// What to connect to: an IP or DNS name (may differ from `name`).
    pub address: String,
    /// `None` leaves the choice to ~/.ssh/config, then 22.
    pub port: Option<u16>,
    /// `None` leaves the choice to ~/.ssh/config, then the local user.
    pub user: Option<String>,
    /// Identity file to offer first; `~/` already expanded.
    pub private_key_file: Option<PathBuf>,
    /// `-o` options from `ansible_ssh_common_args`/`_extra_args`, in order.
    pub ssh_options: Vec<(String, String)>,
    /// Whether and how to run commands through sudo.
    pub become_: BecomeSettings,
    /// Settings herd understood but does not act on (e.g. ssh flags other
    /// than `-o`), to show the user rather than drop silently.
    pub warnings: Vec<String>,
}

/// Privilege escalation (sudo) for a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BecomeSettings {
    /// Off unless `ansible_become` says so: escalation is never implicit.
    pub enabled: bool,
    /// `None` means root.
    pub user: Option<String>,
    /// For sudo's prompt; `None` assumes passwordless sudo.
    pub password: Option<String>,
}

/// OpenSSH client flags that take an argument, so the argument is not
/// mistaken for the next flag when reporting ignored ones.
const FLAGS_WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOpQRSWw";

pub(crate) fn from_vars(
    host: &str,
    vars: &Vars,
    defaults: &ConnectionDefaults,
) -> Result<HostConnection, InventoryError> {
    let bad = |var: &str, message: String| InventoryError::BadVar {
        host: host.to_string(),
        var: var.to_string(),
        message,
    };
    let string = |names: &[&str]| -> Result<Option<String>, InventoryError> {
        for name in names {
            match vars.get(*name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => return Ok(Some(s.clone())),
                Some(Value::Number(n)) => return Ok(Some(n.to_string())),
                Some(other) => return Err(bad(name, format!("must be a string, found {other}"))),
            }
        }
        Ok(None)
    };

    let address = string(&["herd_host", "ansible_host", "ansible_ssh_host"])?
        .unwrap_or_else(|| host.to_string());
    let port = port(vars, &bad)?;
    let connection = match string(&["ansible_connection"])?.as_deref() {
        None | Some("ssh" | "smart" | "paramiko" | "paramiko_ssh" | "ansible.builtin.ssh") => {
            ConnectionKind::Ssh
        }
        Some("local" | "ansible.builtin.local") => ConnectionKind::Local,
        Some(other) => {
            return Err(bad(
                "ansible_connection",
                format!(
                    "is `{other}`, but herd connects with `ssh` (or `local` for this machine); reach the host over ssh or leave it out of herd's runs"
                ),
            ));
        }
    };
    let user = string(&["herd_user", "ansible_user", "ansible_ssh_user"])?
        .or_else(|| defaults.user.clone());
    let private_key_file = string(&[
        "herd_key",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
    ])?
    .map(|p| expand_home(&p))
    .or_else(|| defaults.private_key_file.clone());

    let enabled = match vars.get("ansible_become") {
        None | Some(Value::Null) => defaults.become_,
        Some(v) => truthy(v).ok_or_else(|| {
            bad(
                "ansible_become",
                format!("must be true or false, found {v}"),
            )
        })?,
    };
    if let Some(method) = string(&["ansible_become_method"])?
        && method != "sudo"
    {
        return Err(bad(
            "ansible_become_method",
            format!("is `{method}`, but herd only supports `sudo`; remove it or set it to sudo"),
        ));
    }
    let become_ = BecomeSettings {
        enabled,
        user: string(&["ansible_become_user"])?.or_else(|| defaults.become_user.clone()),
        password: string(&["ansible_become_password", "ansible_become_pass"])?,
    };

    let mut ssh_options = Vec::new();
    let mut warnings = Vec::new();
    for var in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = string(&[var])? {
            let (options, ignored) = split_ssh_args(&args).map_err(|message| bad(var, message))?;
            ssh_options.extend(options);
            warnings.extend(
                ignored
                    .into_iter()
                    .map(|flag| format!("{var}: ignoring `{flag}` (herd only uses -o options)")),
            );
        }
    }

    for (key, value) in &defaults.ssh_options {
        if !ssh_options
            .iter()
            .any(|(k, _): &(String, String)| k.eq_ignore_ascii_case(key))
        {
            ssh_options.push((key.clone(), value.clone()));
        }
    }

    Ok(HostConnection {
        name: host.to_string(),
        connection,
        address,
        port,
        user,
        private_key_file,
        ssh_options,
        become_,
        warnings,
    })
}

fn port(
    vars: &Vars,
    bad: &dyn Fn(&str, String) -> InventoryError,
) -> Result<Option<u16>, InventoryError> {
    for name in ["herd_port", "ansible_port", "ansible_ssh_port"] {
        let value = match vars.get(name) {
            None | Some(Value::Null) => continue,
            Some(v) => v,
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        return match parsed {
            Some(p) if p > 0 => Ok(Some(p)),
            _ => Err(bad(
                name,
                format!("must be a port number (1-65535), found {value}"),
            )),
        };
    }
    Ok(None)
}

/// Ansible's booleans: real bools, and the usual words in any case.
fn truthy(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().filter(|n| *n == 0 || *n == 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `-o` options as (key, value), and the other flags as written.
pub type SshArgs = (Vec<(String, String)>, Vec<String>);

/// Splits ssh arguments as a shell would and collects `-o Key=Value`,
/// `-oKey=Value` and `-o "Key Value"`; other flags (with their argument)
/// come back as written, for the caller to warn about.
pub fn split_ssh_args(text: &str) -> Result<SshArgs, String> {
    let mut words = words::split(text)
        .map_err(|(_, message)| message)?
        .into_iter()
        .map(|w| w.text);
    let mut options = Vec::new();
    let mut ignored = Vec::new();
    while let Some(word) = words.next() {
        let option = if word == "-o" {
            words
                .next()
                .ok_or("ends with `-o` and no option after it")?
        } else if let Some(rest) = word.strip_prefix("-o") {
            rest.to_string()
        } else {
            let takes_argument = word.len() == 2
                && word.starts_with('-')
                && word
                    .chars()
                    .nth(1)
                    .is_some_and(|c| FLAGS_WITH_ARGUMENT.contains(c));
            let argument = if takes_argument { words.next() } else { None };
            match argument {
                Some(argument) => ignored.push(format!("{word} {argument}")),
                None => ignored.push(word),
            }
            continue;
        };
        let option = option.trim();
        let split = option
            .find(['=', ' ', '\t'])
            .ok_or_else(|| format!("`-o {option}` needs a value: -o Key=Value"))?;
        let (key, value) = (
            &option[..split],
            option[split + 1..].trim_start_matches(['=', ' ', '\t']),
        );
        options.push((key.to_string(), value.to_string()));
    }
    Ok((options, ignored))
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(vars: serde_json::Value) -> Result<HostConnection, InventoryError> {
        from_vars(
            "web1",
            vars.as_object().unwrap(),
            &ConnectionDefaults::default(),
        )
    }

    #[test]
    fn ansible_cfg_defaults_fill_what_the_host_leaves_open() {
        let defaults = ConnectionDefaults {
            user: Some("deploy".into()),
            private_key_file: Some("/keys/cfg".into()),
            become_: true,
            become_user: Some("admin".into()),
            ssh_options: vec![
                ("StrictHostKeyChecking".into(), "no".into()),
                ("Port".into(), "2200".into()),
            ],
        };
        let vars = json!({"ansible_user": "own", "ansible_ssh_common_args": "-o port=22"});
        let c = from_vars("web1", vars.as_object().unwrap(), &defaults).unwrap();
        assert_eq!(c.user.as_deref(), Some("own"));
        assert_eq!(c.private_key_file, Some(PathBuf::from("/keys/cfg")));
        assert!(c.become_.enabled);
        assert_eq!(c.become_.user.as_deref(), Some("admin"));
        // The host's own -o options win; the config's fill the rest.
        assert_eq!(
            c.ssh_options,
            vec![
                ("port".to_string(), "22".to_string()),
                ("StrictHostKeyChecking".to_string(), "no".to_string()),
            ]
        );
        let vars = json!({"ansible_become": false});
        let c = from_vars("web1", vars.as_object().unwrap(), &defaults).unwrap();
        assert!(!c.become_.enabled);
    }

    #[test]
    fn connection_is_ssh_or_local_else_an_error_naming_the_host() {
        assert_eq!(conn(json!({})).unwrap().connection, ConnectionKind::Ssh);
        assert_eq!(
            conn(json!({"ansible_connection": "smart"}))
                .unwrap()
                .connection,
            ConnectionKind::Ssh
        );
        assert_eq!(
            conn(json!({"ansible_connection": "local"}))
                .unwrap()
                .connection,
            ConnectionKind::Local
        );
        let err = conn(json!({"ansible_connection": "winrm"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("web1") && err.contains("winrm"), "{err}");
    }

    #[test]
    fn defaults_to_the_inventory_name() {
        let c = conn(json!({})).unwrap();
        assert_eq!((c.address.as_str(), c.port, c.user), ("web1", None, None));
        assert!(!c.become_.enabled);
    }

    #[test]
    fn herd_aliases_win_over_ansible_and_old_names() {
        let c = conn(json!({
            "ansible_ssh_host": "old", "ansible_host": "10.0.0.1", "herd_host": "10.0.0.2",
            "ansible_ssh_port": 1, "ansible_port": "2222",
            "ansible_ssh_user": "olduser", "ansible_user": "deploy",
            "ansible_ssh_private_key_file": "/keys/a", "herd_key": "/keys/b",
        }))
        .unwrap();
        assert_eq!(c.address, "10.0.0.2");
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.user.as_deref(), Some("deploy"));
        assert_eq!(c.private_key_file, Some(PathBuf::from("/keys/b")));
        let c = conn(json!({"ansible_ssh_host": "old", "ansible_ssh_user": "u"})).unwrap();
        assert_eq!((c.address.as_str(), c.user.as_deref()), ("old", Some("u")));
    }

    #[test]
    fn become_settings_and_method() {
        let c = conn(json!({"ansible_become": "yes", "ansible_become_user": "postgres", "ansible_become_pass": "pw"}))
            .unwrap();
        assert_eq!(
            c.become_,
            BecomeSettings {
                enabled: true,
                user: Some("postgres".into()),
                password: Some("pw".into())
            }
        );
        assert!(
            conn(json!({"ansible_become": "True"}))
                .unwrap()
                .become_
                .enabled
        );
        let err = conn(json!({"ansible_become_method": "su"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("host `web1`")
                && err.contains("ansible_become_method")
                && err.contains("sudo"),
            "{err}"
        );
    }

    #[test]
    fn bad_types_name_host_and_variable() {
        let err = conn(json!({"ansible_port": "abc"}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "host `web1`: variable `ansible_port` must be a port number (1-65535), found \"abc\""
        );
        assert!(conn(json!({"ansible_port": 70000})).is_err());
        assert!(
            conn(json!({"ansible_become": "maybe"}))
                .unwrap_err()
                .to_string()
                .contains("ansible_become")
        );
        assert!(
            conn(json!({"ansible_user": ["a"]}))
                .unwrap_err()
                .to_string()
                .contains("ansible_user")
        );
    }

    #[test]
    fn ssh_args_yield_options_and_warnings() {
        let c = conn(json!({
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -oProxyJump=bastion -o \"ProxyCommand ssh -W %h:%p gw\"",
            "ansible_ssh_extra_args": "-C -i /tmp/k -o ServerAliveInterval=30",
        }))
        .unwrap();
        assert_eq!(
            c.ssh_options,
            [
                ("StrictHostKeyChecking".to_string(), "no".to_string()),
                ("ProxyJump".to_string(), "bastion".to_string()),
                ("ProxyCommand".to_string(), "ssh -W %h:%p gw".to_string()),
                ("ServerAliveInterval".to_string(), "30".to_string()),
            ]
        );
        assert_eq!(c.warnings.len(), 2);
        assert!(c.warnings[1].contains("`-i /tmp/k`"), "{:?}", c.warnings);
    }

    #[test]
    fn inventory_connection_uses_merged_vars() {
        let inv = super::super::Inventory::from_ini_str(
            "[web]\nweb1 ansible_host=192.0.2.10\n[web:vars]\nansible_port=2200\nansible_user=deploy\n",
            std::path::Path::new("hosts"),
        )
        .unwrap();
        let c = inv.connection("web1").unwrap();
        assert_eq!(
            (c.address.as_str(), c.port, c.user.as_deref()),
            ("192.0.2.10", Some(2200), Some("deploy"))
        );
        let err = inv.connection("web2").unwrap_err().to_string();
        assert!(err.contains("did you mean `web1`?"), "{err}");
    }
}
