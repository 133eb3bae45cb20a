//! Telling the admin: the alert event as JSON on a command's stdin and/or
//! POSTed to a webhook. A notifier that fails or hangs is reported to the
//! caller, which records it; it never stops the evaluation.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::config::Notify;

/// How long a notify command or webhook may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The configured notification channels.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    command: Option<String>,
    webhook: Option<String>,
}

impl Notifier {
    pub fn new(notify: &Notify) -> Notifier {
        Notifier {
            command: notify.command.clone(),
            webhook: notify.webhook.as_ref().map(|w| w.value.clone()),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.command.is_some() || self.webhook.is_some()
    }

    /// Sends `event` through every channel; the error names each channel
    /// that failed and why.
    pub fn send(&self, event: &serde_json::Value) -> Result<(), String> {
        let body = event.to_string();
        let mut errors = Vec::new();
        if let Some(command) = &self.command
            && let Err(e) = run_command(command, &body, event)
        {
            errors.push(format!("command `{command}`: {e}"));
        }
        if let Some(url) = &self.webhook
            && let Err(e) = post(url, &body)
        {
            errors.push(format!("webhook {url}: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Runs `sh -c command` with the event on stdin and its main fields in
/// HERD_ALERT, HERD_HOST, HERD_EVENT and HERD_SEVERITY.
fn run_command(command: &str, body: &str, event: &serde_json::Value) -> Result<(), String> {
    let field = |key: &str| event[key].as_str().unwrap_or_default().to_string();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("HERD_ALERT", field("alert"))
        .env("HERD_HOST", field("host"))
        .env("HERD_EVENT", field("event"))
        .env("HERD_SEVERITY", field("severity"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        match stdin.write_all(body.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(format!("cannot write the event to its stdin: {e}"));
            }
            _ => {}
        }
    }
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match finished.recv_timeout(TIMEOUT) {
        Ok(output) => output.map_err(|e| format!("cannot wait for it: {e}"))?,
        Err(_) => {
            // SAFETY: kill(2) on the child we started and have not reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            return Err(format!(
                "still running after {}s; killed",
                TIMEOUT.as_secs()
            ));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(match last {
        Some(line) => format!("{}: {}", output.status, line.trim()),
        None => output.status.to_string(),
    })
}

/// POSTs `body` as JSON; any answer but 2xx is a failure.
fn post(url: &str, body: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_says_why() {
        let notifier = Notifier {
            command: Some("echo nope >&2; exit 3".into()),
            webhook: None,
        };
        let err = notifier
            .send(&serde_json::json!({"alert": "a"}))
            .unwrap_err();
        assert!(
            err.contains("exit status: 3") && err.contains("nope"),
            "{err}"
        );
    }

    #[test]
    fn the_command_reads_the_event_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got.json");
        let notifier = Notifier {
            command: Some(format!(
                "cat > {}; test \"$HERD_HOST\" = web1",
                out.display()
            )),
            webhook: None,
        };
        let event = serde_json::json!({"alert": "a", "host": "web1"});
        notifier.send(&event).unwrap();
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        assert_eq!(got, event);
    }
}
