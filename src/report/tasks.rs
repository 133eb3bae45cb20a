//! A playbook run's task results the way `herd runs show` prints them:
//! each task once, its hosts folded by outcome, then the diffs it recorded.

use indexmap::IndexMap;

use super::hostlist::compress;
use crate::store::TaskRecord;

/// One task of a run with its hosts folded by outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskSummary<'a> {
    pub play: &'a str,
    pub task: &'a str,
    /// file:line:col.
    pub location: &'a str,
    /// (status, message, hosts as a compact list), in first-seen order.
    pub outcomes: Vec<Outcome<'a>>,
    /// (host, unified diff) for each host that recorded one.
    pub diffs: Vec<(&'a str, &'a str)>,
}

/// Hosts that ended a task the same way.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome<'a> {
    pub status: &'a str,
    pub msg: Option<&'a str>,
    /// e.g. `web[01-03]`.
    pub hosts: String,
    pub count: usize,
}

/// `tasks` (in run order, as the store returns them) grouped by task.
pub fn by_task(tasks: &[TaskRecord]) -> Vec<TaskSummary<'_>> {
    let mut out = Vec::new();
    for group in tasks.chunk_by(|a, b| a.seq == b.seq) {
        let mut by_outcome: IndexMap<(&str, Option<&str>), Vec<String>> = IndexMap::new();
        for t in group {
            by_outcome
                .entry((t.status.as_str(), t.msg.as_deref()))
                .or_default()
                .push(t.host.clone());
        }
        out.push(TaskSummary {
            play: &group[0].play,
            task: &group[0].task,
            location: &group[0].location,
            outcomes: by_outcome
                .into_iter()
                .map(|((status, msg), hosts)| Outcome {
                    status,
                    msg,
                    hosts: compress(&hosts),
                    count: hosts.len(),
                })
                .collect(),
            diffs: group
                .iter()
                .filter_map(|t| Some((t.host.as_str(), t.diff.as_deref()?)))
                .collect(),
        });
    }
    out
}
