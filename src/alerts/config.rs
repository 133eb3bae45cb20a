//! `alerts.yml`: the alert rules and where notifications go.
//!
//! ```yaml
//! alerts:
//!   - name: high_load
//!     metric: load.1
//!     op: ">"            # > >= < <= == !=
//!     value: 4
//!     for: 5m            # must hold this long (default 0: the latest sample)
//!     hosts: web         # host pattern, default all
//!     cooldown: 30m      # at most one notification per alert and host per this
//!     severity: warning  # default warning
//!   - name: host_down
//!     unreachable: true  # fires while collections cannot reach the host
//!     for: 10m
//! notify:
//!   command: /usr/local/bin/page-oncall   # the event as JSON on stdin
//!   webhook: http://127.0.0.1:9000/hook   # the same JSON, POSTed
//! stale_after: 1h        # older data says nothing (default 1h)
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::yaml::YamlError;

/// The file name looked for at the project root.
pub const CONFIG_FILE: &str = "alerts.yml";

/// How long a notification silences the next one by default.
const DEFAULT_COOLDOWN: Seconds = Seconds(10 * 60);
/// Samples older than this by default tell nothing about now.
const DEFAULT_STALE_AFTER: Seconds = Seconds(60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read alert rules: {source} (create it, or pass --config FILE)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{path}:{line}:{column}: alert `{name}`: {message}")]
    Rule {
        path: PathBuf,
        line: u64,
        column: u64,
        name: String,
        message: String,
    },
}

/// A comparison between a sample and the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// A span of time written `30s`, `5m`, `2h`, `1d`, `2w` or a number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Seconds(pub i64);

impl Seconds {
    pub fn parse(text: &str) -> Result<Seconds, String> {
        // A bare 0 is allowed here (`for: 0`), unlike in `--keep`/`--since`.
        match text.trim().parse::<u32>() {
            Ok(n) => Ok(Seconds(n.into())),
            Err(_) => crate::collect::when::parse_duration(text).map(Seconds),
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        match s {
            0 => write!(f, "0s"),
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seconds, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Seconds(n.into())),
            Raw::Text(text) => Seconds::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// What an alert watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A metric compared with a threshold.
    Threshold { metric: String, op: Op, value: f64 },
    /// The host could not be reached by collections.
    Unreachable,
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub for_: Seconds,
    pub hosts: String,
    pub cooldown: Seconds,
    pub severity: String,
}

impl Rule {
    /// "load.1 > 4 for 5m", "unreachable for 10m".
    pub fn describe(&self) -> String {
        let what = match &self.condition {
            Condition::Threshold { metric, op, value } => {
                format!("{metric} {} {value}", op.as_str())
            }
            Condition::Unreachable => "unreachable".to_string(),
        };
        if self.for_.0 > 0 {
            format!("{what} for {}", self.for_)
        } else {
            what
        }
    }
}

/// Where notifications go; both may be set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Run with `sh -c`, the event as JSON on stdin.
    pub command: Option<String>,
    /// An http:// URL the event is POSTed to as JSON.
    pub webhook: Option<Spanned<String>>,
}

/// A parsed and checked `alerts.yml`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub path: PathBuf,
    pub rules: Vec<Rule>,
    pub notify: Notify,
    pub stale_after: Seconds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    alerts: Vec<RawRule>,
    #[serde(default)]
    notify: Notify,
    stale_after: Option<Seconds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    metric: Option<String>,
    op: Option<Op>,
    value: Option<f64>,
    #[serde(default)]
    unreachable: bool,
    #[serde(rename = "for", default)]
    for_: Seconds,
    hosts: Option<String>,
    cooldown: Option<Seconds>,
    severity: Option<String>,
}

impl AlertsConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<AlertsConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AlertsConfig::parse(&text, path)
    }

    /// Parses `text` read from `path` (used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<AlertsConfig, ConfigError> {
        let raw: RawFile = crate::yaml::from_str(text, path)?;
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.alerts.len());
        for r in raw.alerts {
            let at = r.name.referenced;
            let fail = |message: String| ConfigError::Rule {
                path: path.to_path_buf(),
                line: at.line(),
                column: at.column(),
                name: r.name.value.clone(),
                message,
            };
            if rules.iter().any(|seen| seen.name == r.name.value) {
                return Err(fail(
                    "the name is used twice; alert names must be unique".into(),
                ));
            }
            let condition = match (r.unreachable, r.metric, r.op, r.value) {
                (true, None, None, None) => Condition::Unreachable,
                (true, ..) => {
                    return Err(fail(
                        "`unreachable: true` takes no metric, op or value; make it a separate alert".into(),
                    ));
                }
                (false, Some(metric), Some(op), Some(value)) => {
                    Condition::Threshold { metric, op, value }
                }
                (false, None, ..) => {
                    return Err(fail(
                        "says what to watch with `metric:` (plus `op:` and `value:`) or `unreachable: true`".into(),
                    ));
                }
                (false, Some(_), None, _) => {
                    return Err(fail("needs `op:` (one of > >= < <= == !=)".into()));
                }
                (false, Some(_), Some(_), None) => {
                    return Err(fail("needs `value:`, the threshold".into()));
                }
            };
            rules.push(Rule {
                name: r.name.value,
                condition,
                for_: r.for_,
                hosts: r.hosts.unwrap_or_else(|| "all".into()),
                cooldown: r.cooldown.unwrap_or(DEFAULT_COOLDOWN),
                severity: r.severity.unwrap_or_else(|| "warning".into()),
            });
        }
        if let Some(url) = &raw.notify.webhook
            && !url.value.starts_with("http://")
        {
            let at = url.referenced;
            return Err(YamlError {
                path: path.to_path_buf(),
                line: at.line(),
                column: at.column(),
                message: format!(
                    "webhook `{}`: only http:// URLs are supported (herd carries no TLS stack for this); for https, POST from a `notify: command:` such as `curl -fsS -H 'Content-Type: application/json' --data-binary @- URL`",
                    url.value
                ),
            }
            .into());
        }
        Ok(AlertsConfig {
            path: path.to_path_buf(),
            rules,
            notify: raw.notify,
            stale_after: raw.stale_after.unwrap_or(DEFAULT_STALE_AFTER),
        })
    }
}

crate::exit::bad_input!(ConfigError);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, ConfigError> {
        AlertsConfig::parse(text, Path::new("alerts.yml"))
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(Seconds::parse("90").unwrap(), Seconds(90));
        assert_eq!(Seconds::parse("30s").unwrap(), Seconds(30));
        assert_eq!(Seconds::parse("5m").unwrap(), Seconds(300));
        assert_eq!(Seconds::parse("2d").unwrap(), Seconds(172_800));
        assert!(Seconds::parse("soon").unwrap_err().contains("5m"));
        assert_eq!(Seconds(300).to_string(), "5m");
        assert_eq!(Seconds(5400).to_string(), "90m");
    }

    #[test]
    fn rules_get_defaults() {
        let config = parse(
            "alerts:\n  - name: high_load\n    metric: load.1\n    op: '>'\n    value: 4\n    for: 5m\n    hosts: web\n  - name: down\n    unreachable: true\nnotify:\n  command: cat\n",
        )
        .unwrap();
        let load = &config.rules[0];
        assert_eq!(
            load.condition,
            Condition::Threshold {
                metric: "load.1".into(),
                op: Op::Gt,
                value: 4.0
            }
        );
        assert_eq!(load.describe(), "load.1 > 4 for 5m");
        assert_eq!((load.hosts.as_str(), load.cooldown), ("web", Seconds(600)));
        assert_eq!(config.rules[1].condition, Condition::Unreachable);
        assert_eq!(config.rules[1].hosts, "all");
        assert_eq!(config.notify.command.as_deref(), Some("cat"));
    }

    #[test]
    fn mistakes_name_the_place() {
        let err = parse("alerts:\n  - name: a\n    metric: load.1\n    op: '>>'\n    value: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("alerts.yml:4:"), "{err}");
        let err = parse(
            "alerts:\n  - name: a\n    metric: load.1\n    op: '>'\n    value: 1\n    for: soon\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("alerts.yml:6:") && err.contains("5m"),
            "{err}"
        );
        let err = parse("alerts:\n  - name: a\n    metric: load.1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("alerts.yml:2:11: alert `a`: needs `op:`"),
            "{err}"
        );
        let err = parse("alerts:\n  - name: a\n    metirc: load.1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("alerts.yml:3:") && err.contains("metirc"),
            "{err}"
        );
        let err = parse("notify:\n  webhook: https://example.org/x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("alerts.yml:2:12:") && err.contains("curl"),
            "{err}"
        );
    }
}
