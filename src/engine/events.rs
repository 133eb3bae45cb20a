//! What the playbook engine reports while it runs. The terminal, JSON lines
//! and the store are sinks of this one stream; no module prints.

use serde::Serialize;

use super::{HostStatus, RunOutcome};
use crate::modules::FileDiff;

/// How one task ended on one host (Ansible's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Ok,
    Changed,
    Skipped,
    Failed,
    /// Failed, but `ignore_errors` said to go on.
    Ignored,
    Unreachable,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Ok => "ok",
            TaskStatus::Changed => "changed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Failed => "failed",
            TaskStatus::Ignored => "ignored",
            TaskStatus::Unreachable => "unreachable",
        }
    }
}

/// One host's result for one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub host: String,
    pub status: TaskStatus,
    /// One line for the admin; hidden (`"censored"`) for `no_log` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// File changes for --diff (empty for no_log tasks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FileDiff>,
    /// Loop item labels that changed or failed, for the output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// `delegate_to`: the host the task ran on for `host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    pub duration_ms: u64,
}

/// Per-host totals for the PLAY RECAP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl HostStats {
    /// Adds another tally of the same host (a free play's host runner).
    pub fn add(&mut self, other: &HostStats) {
        self.ok += other.ok;
        self.changed += other.changed;
        self.unreachable += other.unreachable;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.rescued += other.rescued;
        self.ignored += other.ignored;
    }

    /// How the host ended its play: unreachable, failed, else ok; after
    /// Ctrl-C a host that had not failed is interrupted (its play did not
    /// finish), as in `herd run` and the other commands.
    pub fn status(&self, interrupted: bool) -> HostStatus {
        if self.unreachable > 0 {
            HostStatus::Unreachable
        } else if self.failed > 0 {
            HostStatus::Failed
        } else if interrupted {
            HostStatus::Interrupted
        } else {
            HostStatus::Ok
        }
    }

    /// The outcome of a playbook run from its hosts' totals: `completed`
    /// is false when a play was aborted.
    pub fn outcome<'a>(
        stats: impl IntoIterator<Item = &'a HostStats>,
        completed: bool,
    ) -> RunOutcome {
        let stats: Vec<&HostStats> = stats.into_iter().collect();
        if stats.iter().any(|s| s.unreachable > 0) {
            RunOutcome::Unreachable
        } else if !completed || stats.iter().any(|s| s.failed > 0) {
            RunOutcome::Failed
        } else {
            RunOutcome::Ok
        }
    }

    /// Counts a task result the way Ansible's recap does: `changed` tasks
    /// also count as `ok`.
    pub fn count(&mut self, status: TaskStatus) {
        match status {
            TaskStatus::Ok => self.ok += 1,
            TaskStatus::Changed => {
                self.ok += 1;
                self.changed += 1
            }
            TaskStatus::Skipped => self.skipped += 1,
            TaskStatus::Failed => self.failed += 1,
            TaskStatus::Ignored => {
                self.ok += 1;
                self.ignored += 1
            }
            TaskStatus::Unreachable => self.unreachable += 1,
        }
    }
}

/// The engine's event stream.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PlayEvent {
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        location: String,
        /// The module the task runs (`assert`, `copy`, ...), for scripts
        /// that count by kind.
        module: String,
        handler: bool,
    },
    /// All hosts of the current batch finished the task (in a free play:
    /// one host did, and other tasks' events may come in between, so it
    /// names its task again).
    TaskDone {
        name: String,
        location: String,
        handler: bool,
        results: Vec<TaskResult>,
    },
    /// A play stopped early (max_fail_percentage, any_errors_fatal, all
    /// hosts failed, meta: end_play).
    PlayAborted {
        name: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_play_fails_on_a_failed_host_or_an_abort_and_ctrl_c_interrupts_the_others() {
        let ok = HostStats {
            ok: 2,
            ..HostStats::default()
        };
        let failed = HostStats {
            failed: 1,
            ..HostStats::default()
        };
        assert_eq!(HostStats::outcome([&ok], true), RunOutcome::Ok);
        assert_eq!(HostStats::outcome([&ok], false), RunOutcome::Failed);
        assert_eq!(HostStats::outcome([&ok, &failed], true), RunOutcome::Failed);
        assert_eq!(ok.status(true), HostStatus::Interrupted);
        assert_eq!(failed.status(true), HostStatus::Failed);
        assert_eq!(ok.status(false), HostStatus::Ok);
    }
}
