//! What one host's part of a run came to. Produced by the engine, consumed
//! by every sink: terminal, JSON, and the results store.

use std::time::Duration;

use serde::Serialize;

/// How one host fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// The command ran and exited 0.
    Ok,
    /// The command ran and failed: non-zero exit, killed by a signal, or
    /// timed out (see `HostResult::error`).
    Failed,
    /// herd could not connect or authenticate (see `HostResult::error`).
    Unreachable,
    /// The run was interrupted (Ctrl-C) before this host finished.
    Interrupted,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Ok => "ok",
            HostStatus::Failed => "failed",
            HostStatus::Unreachable => "unreachable",
            HostStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<HostStatus> {
        Some(match text {
            "ok" => HostStatus::Ok,
            "failed" => HostStatus::Failed,
            "unreachable" => HostStatus::Unreachable,
            "interrupted" => HostStatus::Interrupted,
            _ => return None,
        })
    }
}

/// One host's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostResult {
    /// Inventory hostname.
    pub host: String,
    pub status: HostStatus,
    /// Exit status of the command, when it ran to completion.
    pub exit_code: Option<i32>,
    /// Output, lossily decoded as UTF-8.
    pub stdout: String,
    pub stderr: String,
    /// stdout or stderr went past the capture limit: the text ends with a
    /// marker and the rest was not kept.
    pub truncated: bool,
    /// Why the host failed or was unreachable, in words for the admin
    /// ("connection refused", "host key changed (known_hosts:3)", "timed
    /// out after 10s").
    pub error: Option<String>,
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
}

impl HostResult {
    /// A host with nothing to show: it did not run, or its run was cut
    /// short; `error` says why.
    pub fn without_output(
        host: impl Into<String>,
        status: HostStatus,
        error: Option<String>,
        duration: Duration,
    ) -> HostResult {
        HostResult {
            host: host.into(),
            status,
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            error,
            duration,
        }
    }
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Still running (or herd was killed without a chance to record more).
    Running,
    Ok,
    /// Some host failed; none was unreachable.
    Failed,
    /// Some host was unreachable.
    Unreachable,
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Unreachable => "unreachable",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<RunOutcome> {
        Some(match text {
            "running" => RunOutcome::Running,
            "ok" => RunOutcome::Ok,
            "failed" => RunOutcome::Failed,
            "unreachable" => RunOutcome::Unreachable,
            "interrupted" => RunOutcome::Interrupted,
            _ => return None,
        })
    }

    /// The run's outcome from its hosts' results.
    pub fn from_results<'a>(results: impl IntoIterator<Item = &'a HostResult>) -> RunOutcome {
        RunOutcome::from_statuses(results.into_iter().map(|r| r.status))
    }

    /// The outcome of hosts that ended so: interrupted beats unreachable
    /// beats failed.
    pub fn from_statuses(statuses: impl IntoIterator<Item = HostStatus>) -> RunOutcome {
        let mut outcome = RunOutcome::Ok;
        for status in statuses {
            match status {
                HostStatus::Interrupted => return RunOutcome::Interrupted,
                HostStatus::Unreachable => outcome = RunOutcome::Unreachable,
                HostStatus::Failed if outcome == RunOutcome::Ok => outcome = RunOutcome::Failed,
                _ => {}
            }
        }
        outcome
    }

    /// The documented process exit code for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Ok | RunOutcome::Running => crate::exit::OK,
            RunOutcome::Failed => crate::exit::FAILED,
            RunOutcome::Unreachable => crate::exit::UNREACHABLE,
            RunOutcome::Interrupted => crate::exit::INTERRUPTED,
        }
    }
}

/// Marks output the transport stopped reading at `limit` bytes (see
/// `SshOptions::output_limit`): the rest never reached herd, so the marker
/// says so in every place the text goes (terminal, JSON, store).
pub fn mark_capture_cut(text: &mut String, limit: usize) {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let size = if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    text.push_str(&format!(
        "[... truncated by herd: output past the first {size} was not kept]"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_cut_is_marked_on_its_own_line() {
        let mut text = "abc".to_string();
        mark_capture_cut(&mut text, 8 << 20);
        assert_eq!(
            text,
            "abc\n[... truncated by herd: output past the first 8 MiB was not kept]"
        );
    }
}
