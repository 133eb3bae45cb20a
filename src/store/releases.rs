//! Release steps of `herd deploy`: what happened on each host, in order,
//! with timings, so "which release is host X on after that interrupted
//! rollout?" has an answer after the terminal is gone.

use rusqlite::params;

use super::{RunId, Store, StoreError};
use crate::release::Step;
use crate::secrets::redact::redact_opt;

/// A stored release step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepRecord {
    pub host: String,
    pub step: String,
    pub release: String,
    pub detail: Option<String>,
    pub started_at: i64,
    pub duration_ms: i64,
}

impl Store {
    /// Appends steps (host, step) to a run, after those already recorded.
    pub fn record_release_steps(
        &mut self,
        run: RunId,
        steps: &[(String, Step)],
    ) -> Result<(), StoreError> {
        let (tx, err) = self.write_tx()?;
        let mut seq: i64 = tx
            .query_row(
                "SELECT coalesce(max(seq), 0) FROM release_steps WHERE run_id = ?1",
                [run.0],
                |row| row.get(0),
            )
            .map_err(&err)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO release_steps
                     (run_id, seq, host, step, release, detail, started_at, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(&err)?;
            for (host, step) in steps {
                seq += 1;
                insert
                    .execute(params![
                        run.0,
                        seq,
                        host,
                        step.kind.as_str(),
                        step.release,
                        redact_opt(&step.detail),
                        step.started_at,
                        i64::try_from(step.duration.as_millis()).unwrap_or(i64::MAX),
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// A run's release steps in the order they happened.
    pub fn release_steps(&self, run: RunId) -> Result<Vec<StepRecord>, StoreError> {
        self.query_rows(
            "SELECT host, step, release, detail, started_at, duration_ms
             FROM release_steps WHERE run_id = ?1 ORDER BY seq",
            [run.0],
            |row| read_step(row, 0),
        )
    }
    /// The newest `limit` release steps on `host`, newest first.
    pub fn host_release_steps(
        &self,
        host: &str,
        limit: usize,
    ) -> Result<Vec<(RunId, StepRecord)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT run_id, host, step, release, detail, started_at, duration_ms
             FROM release_steps WHERE host = ?1 ORDER BY run_id DESC, seq DESC LIMIT ?2",
            params![host, limit],
            |row| Ok((RunId(row.get(0)?), read_step(row, 1)?)),
        )
    }

    /// Each host's current release as the deploys recorded it: the release
    /// of its newest step that made one current (activated, rolled back,
    /// or already current).
    pub fn current_releases(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = self.query_rows(
            "SELECT host, release FROM release_steps s
             WHERE step IN ('activated', 'rolled_back', 'unchanged')
               AND NOT EXISTS (SELECT 1 FROM release_steps n
                   WHERE n.host = s.host AND n.step IN ('activated', 'rolled_back', 'unchanged')
                     AND (n.run_id > s.run_id OR (n.run_id = s.run_id AND n.seq > s.seq)))",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }
}

/// A step row's columns from `first` on: host, step, release, detail,
/// started_at, duration_ms.
fn read_step(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<StepRecord> {
    Ok(StepRecord {
        host: row.get(first)?,
        step: row.get(first + 1)?,
        release: row.get(first + 2)?,
        detail: row.get(first + 3)?,
        started_at: row.get(first + 4)?,
        duration_ms: row.get(first + 5)?,
    })
}
