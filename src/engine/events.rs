//! What the playbook engine reports while it runs. The terminal, JSON lines
//! and the store are sinks of this one stream; no module prints.

use serde::Serialize;

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
    /// All hosts of the current batch finished the task.
    TaskDone {
        name: String,
        results: Vec<TaskResult>,
    },
    /// A play stopped early (max_fail_percentage, any_errors_fatal, all
    /// hosts failed, meta: end_play).
    PlayAborted {
        name: String,
        reason: String,
    },
}
