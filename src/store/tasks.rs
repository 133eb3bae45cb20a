//! Task results of playbook runs: one row per task per host, in run order.

use rusqlite::params;

use super::{RunId, Store, StoreError};
use crate::secrets::redact::{redact, redact_opt};

/// One task's result on one host, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskRecord {
    /// Order of the task within the run (0, 1, ...); a task has one seq.
    pub seq: u32,
    pub play: String,
    pub task: String,
    /// file:line:col of the task.
    pub location: String,
    pub host: String,
    /// ok, changed, skipped, failed, ignored, unreachable.
    pub status: String,
    pub msg: Option<String>,
    /// Unified diff of what changed (with --diff), never for no_log tasks.
    pub diff: Option<String>,
    pub duration_ms: u64,
}

impl Store {
    /// Stores one task's results (all hosts) in one transaction.
    pub fn record_task_results(
        &mut self,
        run: RunId,
        records: &[TaskRecord],
    ) -> Result<(), StoreError> {
        let (tx, err) = self.write_tx()?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO task_results (run_id, seq, play, task, location, host, status, msg, diff, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(&err)?;
            for r in records {
                insert
                    .execute(params![
                        run.0,
                        r.seq,
                        r.play,
                        redact(&r.task),
                        r.location,
                        r.host,
                        r.status,
                        redact_opt(&r.msg),
                        redact_opt(&r.diff),
                        r.duration_ms as i64
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// A run's task results in run order, hosts in name order within a task.
    pub fn task_results(&self, run: RunId) -> Result<Vec<TaskRecord>, StoreError> {
        self.query_rows(
            "SELECT seq, play, task, location, host, status, msg, diff, duration_ms
             FROM task_results WHERE run_id = ?1 ORDER BY seq, host",
            [run.0],
            |row| read_task(row, 0),
        )
    }
    /// The newest `limit` task results of `host`, newest run first, each
    /// with its run.
    pub fn host_task_results(
        &self,
        host: &str,
        limit: usize,
    ) -> Result<Vec<(RunId, TaskRecord)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT run_id, seq, play, task, location, host, status, msg, diff, duration_ms
             FROM task_results
             WHERE host = ?1 AND run_id IN (
                 SELECT run_id FROM host_results WHERE host = ?1 ORDER BY run_id DESC LIMIT ?2)
             ORDER BY run_id DESC, seq DESC LIMIT ?2",
            params![host, limit],
            |row| Ok((RunId(row.get(0)?), read_task(row, 1)?)),
        )
    }
}

/// A task row's columns from `first` on: seq, play, task, location, host,
/// status, msg, diff, duration_ms.
fn read_task(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        seq: row.get(first)?,
        play: row.get(first + 1)?,
        task: row.get(first + 2)?,
        location: row.get(first + 3)?,
        host: row.get(first + 4)?,
        status: row.get(first + 5)?,
        msg: row.get(first + 6)?,
        diff: row.get(first + 7)?,
        duration_ms: row.get::<_, i64>(first + 8)?.max(0) as u64,
    })
}
