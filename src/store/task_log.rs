//! Records a playbook run's task results as the engine's events arrive:
//! each task's results on every host in one write when the task ends, in
//! run order, so `herd runs show ID` has them even if the run is cut short.

use super::{RunId, Store, StoreError, TaskRecord};
use crate::engine::events::{PlayEvent, TaskResult};
use crate::engine::{HostResult, RunOutcome};

/// The store's side of one `herd play` run.
pub struct TaskLog {
    store: Store,
    run: RunId,
    /// The play being run.
    play: String,
    /// The next task's order within the run.
    seq: u32,
}

impl TaskLog {
    pub fn new(store: Store, run: RunId) -> TaskLog {
        TaskLog {
            store,
            run,
            play: String::new(),
            seq: 0,
        }
    }

    /// The store, for what the run keeps besides its results (file marks).
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Takes one event; a finished task is written at once.
    pub fn event(&mut self, event: &PlayEvent) -> Result<(), StoreError> {
        match event {
            PlayEvent::PlayStart { name, .. } => self.play = name.clone(),
            PlayEvent::TaskStart { .. } => {}
            PlayEvent::TaskDone {
                name,
                location,
                results,
                ..
            } => self.record(name, location, results)?,
            PlayEvent::PlayAborted { .. } => {}
        }
        Ok(())
    }

    fn record(
        &mut self,
        task: &str,
        location: &str,
        results: &[TaskResult],
    ) -> Result<(), StoreError> {
        let records: Vec<TaskRecord> = results
            .iter()
            .map(|r| TaskRecord {
                seq: self.seq,
                play: self.play.clone(),
                task: task.to_string(),
                location: location.to_string(),
                host: r.host.clone(),
                status: r.status.as_str().to_string(),
                msg: r.msg.clone(),
                diff: (!r.diffs.is_empty())
                    .then(|| r.diffs.iter().map(crate::modules::diff::unified).collect()),
                duration_ms: r.duration_ms,
            })
            .collect();
        self.seq += 1;
        self.store.record_task_results(self.run, &records)
    }

    /// Ends the run: each host's row (none when the play could not run),
    /// then how the run ended.
    pub fn finish(mut self, hosts: &[HostResult], outcome: RunOutcome) -> Result<(), StoreError> {
        if !hosts.is_empty() {
            self.store.record_results(self.run, hosts)?;
        }
        self.store.finish_run(self.run, outcome)
    }
}
