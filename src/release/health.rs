//! The health gate after a restart: a probe run on the host itself (so
//! `localhost` means the host), retried until it passes or the attempts
//! run out, all in one shell loop (one round trip however long it waits).
//!
//! Probes: a command exiting 0, a TCP connect (its first line is the
//! output), an HTTP GET with curl or wget, or the binary's `--version`.
//! With `expect`, the probe's output must also contain that string: the
//! way to check the new version is the one answering.

use std::time::Duration;

use super::{Layout, ReleaseError};
use crate::remote::Transport;
use crate::ssh::{ExecOptions, shell_quote};

/// What to ask the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A shell command, run in the release root.
    Command(String),
    /// Connect to HOST:PORT from the host.
    Tcp { host: String, port: u16 },
    /// GET the URL from the host; any 2xx/3xx passes.
    Http(String),
    /// `./current/BINARY --version`.
    Version,
}

/// A health gate. No probe: the gate always passes.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub probe: Option<Probe>,
    /// The probe's output must contain this.
    pub expect: Option<String>,
    pub retries: u32,
    pub delay: Duration,
    /// Per attempt.
    pub timeout: Duration,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            probe: None,
            expect: None,
            retries: 5,
            delay: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Parses `[HOST:]PORT` (HOST defaults to 127.0.0.1).
pub fn parse_tcp(text: &str) -> Result<Probe, String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(['[', ']']).to_string(), p),
        None => ("127.0.0.1".to_string(), text),
    };
    let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        format!("TCP health check {text:?}: expected [HOST:]PORT with a port 1-65535")
    })?;
    if host.is_empty() {
        return Err(format!("TCP health check {text:?}: empty host"));
    }
    Ok(Probe::Tcp { host, port })
}

impl Health {
    /// Whether there is anything to check.
    pub fn is_set(&self) -> bool {
        self.probe.is_some() || self.expect.is_some()
    }

    /// The shell command for one attempt.
    fn probe_command(&self, binary: &str) -> Option<String> {
        let secs = self.timeout.as_secs().max(1);
        let probe = match (&self.probe, &self.expect) {
            (None, None) => return None,
            (None, Some(_)) => &Probe::Version,
            (Some(p), _) => p,
        };
        Some(match probe {
            Probe::Command(cmd) => cmd.clone(),
            Probe::Tcp { host, port } => format!(
                "command -v bash >/dev/null 2>&1 || {{ echo 'the TCP health check needs bash on the host' >&2; exit 127; }}; \
                 bash -c 'exec 3<>\"/dev/tcp/$0/$1\" || exit 1; IFS= read -r -t 1 line <&3; printf \"%s\\n\" \"$line\"; exit 0' {} {port}",
                shell_quote(host)
            ),
            Probe::Http(url) => {
                let url = shell_quote(url);
                format!(
                    "if command -v curl >/dev/null 2>&1; then curl -fsS -m {secs} {url}; \
                     elif command -v wget >/dev/null 2>&1; then wget -qO- -T {secs} {url}; \
                     else echo 'the HTTP health check needs curl or wget on the host' >&2; exit 127; fi"
                )
            }
            Probe::Version => format!("./current/{} --version", shell_quote(binary)),
        })
    }

    /// The time the whole gate may take, with some slack for the round trip.
    fn budget(&self) -> Duration {
        (self.timeout + self.delay) * self.retries.max(1) + Duration::from_secs(10)
    }
}

/// Runs the gate on the host. `Ok(Ok(output))`: healthy; `Ok(Err(why))`:
/// unhealthy after every attempt; `Err`: the check could not run.
pub async fn check(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    health: &Health,
    binary: &str,
) -> Result<Result<String, String>, ReleaseError> {
    let Some(probe) = health.probe_command(binary) else {
        return Ok(Ok(String::new()));
    };
    let matches = match &health.expect {
        Some(want) => format!(
            "case \"$out\" in *{}*) true ;; *) false ;; esac",
            shell_quote(want)
        ),
        None => "true".into(),
    };
    let script = format!(
        "cd {root} || exit 1; i=1; while :; do \
           out=$(timeout {secs} sh -c {probe} 2>&1 </dev/null); rc=$?; \
           if [ $rc -eq 0 ] && {matches}; then printf '%s\\n' \"$out\"; exit 0; fi; \
           if [ $i -ge {retries} ]; then printf 'after %s attempts: exit %s: %s\\n' $i $rc \"$out\"; exit 1; fi; \
           i=$((i+1)); sleep {delay}; \
         done",
        root = layout.q_root(),
        secs = health.timeout.as_secs().max(1),
        probe = shell_quote(&probe),
        retries = health.retries.max(1),
        delay = health.delay.as_secs_f64(),
    );
    let opts = ExecOptions {
        timeout: Some(health.budget()),
        ..exec.clone()
    };
    let out = transport.exec(&script, &opts).await?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(match out.exit_code {
        Some(0) => Ok(text),
        Some(1) => Err(match &health.expect {
            Some(want) => format!("{text} (expected output containing {want:?})"),
            None => text,
        }),
        _ => {
            return Err(ReleaseError::Remote {
                host: transport.name().to_string(),
                step: "health check",
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_targets_parse() {
        assert_eq!(
            parse_tcp("8080").unwrap(),
            Probe::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(
            parse_tcp("127.0.0.5:9").unwrap(),
            Probe::Tcp {
                host: "127.0.0.5".into(),
                port: 9
            }
        );
        assert!(parse_tcp("x:0").is_err());
        assert!(parse_tcp("web").is_err());
    }

    #[tokio::test]
    async fn gate_retries_then_passes_or_fails_with_the_last_output() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().display().to_string());
        let exec = ExecOptions::default();
        let fast = |probe: &str, expect: Option<&str>| Health {
            probe: Some(Probe::Command(probe.into())),
            expect: expect.map(str::to_string),
            retries: 3,
            delay: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
        };
        // Passes on the third attempt: the probe counts its runs in a file.
        let counting =
            "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo v$n; [ $n -ge 3 ]";
        let ok = check(
            &Transport::Local,
            &exec,
            &layout,
            &fast(counting, None),
            "app",
        )
        .await
        .unwrap();
        assert_eq!(ok, Ok("v3".to_string()));
        let bad = check(
            &Transport::Local,
            &exec,
            &layout,
            &fast("echo v1", Some("v2")),
            "app",
        )
        .await
        .unwrap();
        assert!(bad.unwrap_err().contains("after 3 attempts: exit 0: v1"));
    }
}
