//! `collect.yml`: which services to watch, custom collectors and network
//! probes for `herd collect`. Every mistake is reported at its
//! file:line:col, before any host is contacted.
//!
//! ```yaml
//! services: [sshd, nginx]
//! collectors:
//!   - name: queue_depth
//!     command: cat /var/run/queue_depth
//!     parse: number            # number | keyvalue | json | regex
//!   - name: app
//!     command: curl -s localhost:8080/stats
//!     parse: json
//!     path: workers.busy       # a dotted path; numbers index lists
//!   - name: conns
//!     command: ss -s
//!     parse: regex
//!     pattern: 'estab (\d+)'   # the first capture group
//! probes:
//!   - ping: 10.0.0.1
//!   - tcp: db1:5432
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The config file's name at the project root.
pub const CONFIG_FILE: &str = "collect.yml";

/// A mistake in the config file, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// What `herd collect` gathers beyond the built-in metrics.
#[derive(Debug, Clone, Default)]
pub struct CollectConfig {
    pub services: Vec<String>,
    pub collectors: Vec<Collector>,
    pub probes: Vec<Probe>,
}

/// A command run on each host and how to read its output.
#[derive(Debug, Clone)]
pub struct Collector {
    pub name: String,
    pub command: String,
    pub parse: Parse,
}

/// How a collector's output becomes numbers.
#[derive(Debug, Clone)]
pub enum Parse {
    /// The whole output is one number: metric `<name>`.
    Number,
    /// `key=value` lines: metric `<name>.<key>` each.
    KeyValue,
    /// A number at a dotted path in a JSON document: metric `<name>`.
    Json { path: Vec<String> },
    /// The first capture group of a regex: metric `<name>`.
    Regex { pattern: regex::Regex },
}

/// A network check run from each host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Latency, jitter and loss of a few pings to a host.
    Ping { dest: String },
    /// Time to open a TCP connection to host:port.
    Tcp { host: String, port: u16 },
}

impl Probe {
    /// The destination as written, used in metric names.
    pub fn dest(&self) -> String {
        match self {
            Probe::Ping { dest } => dest.clone(),
            Probe::Tcp { host, port } => format!("{host}:{port}"),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    services: Vec<Spanned<String>>,
    #[serde(default)]
    collectors: Vec<RawCollector>,
    #[serde(default)]
    probes: Vec<RawProbe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollector {
    name: Spanned<String>,
    command: Spanned<String>,
    parse: Spanned<String>,
    path: Option<Spanned<String>>,
    pattern: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    ping: Option<Spanned<String>>,
    tcp: Option<Spanned<String>>,
}

impl CollectConfig {
    /// Reads `path`; a missing file at the default location means "built-in
    /// metrics only", so callers check existence first.
    pub fn load(path: &Path) -> Result<CollectConfig, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        CollectConfig::parse(&text, path)
    }

    /// Parses and checks the text of a config file read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<CollectConfig, ConfigFileError> {
        if text.trim().is_empty() {
            return Ok(CollectConfig::default());
        }
        let raw: RawConfig = crate::yaml::from_str(text, path)?;
        let at = |s: &serde_saphyr::Location, message: String| ConfigError {
            path: path.to_path_buf(),
            line: s.line(),
            column: s.column(),
            message,
        };
        let mut config = CollectConfig::default();
        for service in raw.services {
            if !is_word(&service.value, "@_.:-") {
                return Err(at(
                    &service.referenced,
                    format!(
                        "service `{}`: not a systemd unit name (letters, digits, @ _ . : -)",
                        service.value
                    ),
                )
                .into());
            }
            config.services.push(service.value);
        }
        for c in raw.collectors {
            let name = c.name.value.clone();
            if !is_word(&name, "_-") {
                return Err(at(
                    &c.name.referenced,
                    format!("collector name `{name}`: use letters, digits, _ and - (it becomes the metric name)"),
                )
                .into());
            }
            if config.collectors.iter().any(|other| other.name == name) {
                return Err(at(
                    &c.name.referenced,
                    format!("collector `{name}` is defined twice: give each a unique name"),
                )
                .into());
            }
            if c.command.value.trim().is_empty() {
                return Err(at(
                    &c.command.referenced,
                    format!("collector `{name}`: command is empty"),
                )
                .into());
            }
            if let Some(why) = shell_syntax_error(&c.command.value) {
                return Err(at(
                    &c.command.referenced,
                    format!("collector `{name}`: the command is not valid sh (sh -n: {why})"),
                )
                .into());
            }
            let parse = match c.parse.value.as_str() {
                "number" => Parse::Number,
                "keyvalue" => Parse::KeyValue,
                "json" => {
                    let Some(path) = &c.path else {
                        return Err(at(
                            &c.parse.referenced,
                            format!("collector `{name}`: parse: json needs `path:` (a dotted path such as a.b.0.c)"),
                        )
                        .into());
                    };
                    Parse::Json {
                        path: path.value.split('.').map(str::to_string).collect(),
                    }
                }
                "regex" => {
                    let Some(pattern) = &c.pattern else {
                        return Err(at(
                            &c.parse.referenced,
                            format!("collector `{name}`: parse: regex needs `pattern:` with one capture group"),
                        )
                        .into());
                    };
                    let regex = regex::Regex::new(&pattern.value).map_err(|e| {
                        at(
                            &pattern.referenced,
                            format!("collector `{name}`: invalid regex: {e}"),
                        )
                    })?;
                    if regex.captures_len() < 2 {
                        return Err(at(
                            &pattern.referenced,
                            format!("collector `{name}`: the regex needs a capture group, e.g. 'depth=(\\d+)'"),
                        )
                        .into());
                    }
                    Parse::Regex { pattern: regex }
                }
                other => {
                    return Err(at(
                        &c.parse.referenced,
                        format!(
                            "collector `{name}`: unknown parse `{other}`: use number, keyvalue, json or regex"
                        ),
                    )
                    .into());
                }
            };
            config.collectors.push(Collector {
                name,
                command: c.command.value,
                parse,
            });
        }
        for p in raw.probes {
            let probe = match (p.ping, p.tcp) {
                (Some(dest), None) => {
                    if !is_word(&dest.value, ".:-_") {
                        return Err(at(
                            &dest.referenced,
                            format!("ping probe `{}`: not a host name or address", dest.value),
                        )
                        .into());
                    }
                    Probe::Ping { dest: dest.value }
                }
                (None, Some(dest)) => {
                    let parsed = dest.value.rsplit_once(':').and_then(|(host, port)| {
                        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
                        is_word(host, ".-_").then(|| Probe::Tcp {
                            host: host.to_string(),
                            port,
                        })
                    });
                    parsed.ok_or_else(|| {
                        at(
                            &dest.referenced,
                            format!(
                                "tcp probe `{}`: expected HOST:PORT, e.g. db1:5432",
                                dest.value
                            ),
                        )
                    })?
                }
                (ping, tcp) => {
                    let location = ping.map(|s| s.referenced).or(tcp.map(|s| s.referenced));
                    let message =
                        "a probe is either `- ping: HOST` or `- tcp: HOST:PORT` (one per list item)"
                            .to_string();
                    return Err(match location {
                        Some(l) => at(&l, message),
                        None => ConfigError {
                            path: path.to_path_buf(),
                            line: 0,
                            column: 0,
                            message,
                        },
                    }
                    .into());
                }
            };
            config.probes.push(probe);
        }
        Ok(config)
    }
}

/// Either a YAML syntax error or a mistake in the config's content.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{}: cannot read the collect config: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What `sh -n` says about `command`'s syntax, checked on this machine
/// before any host is contacted (`None`: it parses, or there is no `sh` to
/// ask).
fn shell_syntax_error(command: &str) -> Option<String> {
    let out = std::process::Command::new("sh")
        .args(["-n", "-c", command])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let first = text.lines().next().unwrap_or("syntax error").trim();
    // dash: "sh: 1: Syntax error: ..."; bash: "sh: -c: line 1: ...".
    let first = first.strip_prefix("sh: ").unwrap_or(first);
    let first = first.strip_prefix("-c: ").unwrap_or(first);
    Some(match first.split_once(": ") {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => format!("line {n}: {rest}"),
        _ => first.to_string(),
    })
}

/// Non-empty, ASCII letters and digits plus `extra`: safe in metric names
/// and (quoted anyway) in the remote script.
fn is_word(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

crate::exit::bad_input!(ConfigFileError);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CollectConfig, String> {
        CollectConfig::parse(text, Path::new("collect.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_services_collectors_and_probes() {
        let config = parse(
            "services: [sshd, nginx]\ncollectors:\n  - name: q\n    command: echo 3\n    parse: number\n  - name: j\n    command: echo '{}'\n    parse: json\n    path: a.0.b\n  - name: r\n    command: echo depth=4\n    parse: regex\n    pattern: 'depth=(\\d+)'\nprobes:\n  - ping: 127.0.0.2\n  - tcp: 127.0.0.3:22\n",
        )
        .unwrap();
        assert_eq!(config.services, ["sshd", "nginx"]);
        assert_eq!(config.collectors.len(), 3);
        assert!(
            matches!(&config.collectors[1].parse, Parse::Json { path } if path == &["a", "0", "b"])
        );
        assert_eq!(
            config.probes,
            [
                Probe::Ping {
                    dest: "127.0.0.2".into()
                },
                Probe::Tcp {
                    host: "127.0.0.3".into(),
                    port: 22
                }
            ]
        );
    }

    #[test]
    fn mistakes_name_file_line_and_column() {
        let err =
            parse("collectors:\n  - name: q\n    command: x\n    parse: numbr\n").unwrap_err();
        assert!(err.starts_with("collect.yml:4:12:"), "{err}");
        assert!(err.contains("unknown parse `numbr`"), "{err}");

        let err = parse("collectors:\n  - name: q\n    command: x\n    parse: regex\n    pattern: '(unclosed'\n").unwrap_err();
        assert!(err.starts_with("collect.yml:5:14:"), "{err}");
        assert!(err.contains("invalid regex"), "{err}");

        let err = parse("probes:\n  - tcp: db1\n").unwrap_err();
        assert!(err.starts_with("collect.yml:2:10:"), "{err}");
        assert!(err.contains("HOST:PORT"), "{err}");

        let err = parse(
            "collectors:\n  - name: q\n    command: printf 1\n    parse: number\n  - name: bad\n    command: echo \"unclosed\n    parse: number\n",
        )
        .unwrap_err();
        assert!(err.starts_with("collect.yml:6:14:"), "{err}");
        assert!(
            err.contains("collector `bad`: the command is not valid sh"),
            "{err}"
        );

        let err = parse("servics: [a]\n").unwrap_err();
        assert!(err.starts_with("collect.yml:1:"), "{err}");

        let err = parse("collectors:\n  - name: q\n    command: x\n    parse: number\n  - name: q\n    command: y\n    parse: number\n").unwrap_err();
        assert!(err.starts_with("collect.yml:5:"), "{err}");
        assert!(err.contains("defined twice"), "{err}");
    }
}
