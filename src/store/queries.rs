//! Reading runs back: the recent-runs list, one run in full, and the hosts
//! worth running again.

use std::time::Duration;

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{RunId, Store, StoreError};
use crate::engine::{HostResult, HostStatus, RunOutcome};

/// One run as listed by `herd runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub kind: String,
    pub command: String,
    pub pattern: String,
    pub user: String,
    pub pid: i64,
    pub host_count: usize,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub outcome: RunOutcome,
    /// Hosts with a recorded result, by status.
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub interrupted: usize,
}

impl RunSummary {
    /// Hosts the run targeted but recorded nothing for (a herd killed
    /// mid-run leaves some).
    pub fn without_result(&self) -> usize {
        self.host_count
            .saturating_sub(self.ok + self.failed + self.unreachable + self.interrupted)
    }
}

/// One run as seen from one host: the run and that host's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRun {
    pub run: RunId,
    pub kind: String,
    pub command: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// ok, failed, unreachable, interrupted.
    pub status: String,
    pub exit_code: Option<i32>,
    pub duration_ms: i64,
}

/// One host's stored result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredResult {
    #[serde(flatten)]
    pub result: HostResult,
    /// Whether stdout/stderr were cut at [`super::OUTPUT_CAP`].
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Unix milliseconds when herd recorded it.
    pub finished_at: i64,
}

/// A run with every host's result, hosts in name order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub hosts: Vec<StoredResult>,
}

impl RunDetail {
    /// The plain results, for the report renderers.
    pub fn results(&self) -> Vec<HostResult> {
        self.hosts.iter().map(|h| h.result.clone()).collect()
    }
}

const SUMMARY_COLUMNS: &str = "r.id, r.kind, r.command, r.pattern, r.user, r.pid, r.host_count,
    r.started_at, r.finished_at, r.duration_ms, r.outcome,
    coalesce(sum(h.status = 'ok'), 0), coalesce(sum(h.status = 'failed'), 0),
    coalesce(sum(h.status = 'unreachable'), 0), coalesce(sum(h.status = 'interrupted'), 0)";

impl Store {
    /// The newest `limit` runs, newest first, with per-status host counts.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunSummary>, StoreError> {
        let err = self.sql_err();
        // Limit the runs before joining so the cost does not grow with history.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}
             FROM (SELECT * FROM runs ORDER BY id DESC LIMIT ?1) r
             LEFT JOIN host_results h ON h.run_id = r.id
             GROUP BY r.id ORDER BY r.id DESC"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(&err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], read_summary).map_err(&err)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(self.check_row(row.map_err(&err)?)?);
        }
        Ok(runs)
    }

    /// One run in full, or `None` if there is no such run.
    pub fn run(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        let err = self.sql_err();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}
             FROM runs r LEFT JOIN host_results h ON h.run_id = r.id
             WHERE r.id = ?1 GROUP BY r.id"
        );
        let Some(summary) = self
            .conn
            .query_row(&sql, [id.0], read_summary)
            .optional()
            .map_err(&err)?
        else {
            return Ok(None);
        };
        let summary = self.check_row(summary)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host, status, exit_code, stdout, stderr, error, duration_ms,
                        stdout_truncated, stderr_truncated, finished_at
                 FROM host_results WHERE run_id = ?1 ORDER BY host",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([id.0], |row| {
                let status: String = row.get(1)?;
                let duration: i64 = row.get(6)?;
                Ok((
                    status,
                    StoredResult {
                        result: HostResult {
                            host: row.get(0)?,
                            status: HostStatus::Ok,
                            exit_code: row.get(2)?,
                            stdout: row.get(3)?,
                            stderr: row.get(4)?,
                            truncated: false,
                            error: row.get(5)?,
                            duration: Duration::from_millis(duration.max(0) as u64),
                        },
                        stdout_truncated: row.get(7)?,
                        stderr_truncated: row.get(8)?,
                        finished_at: row.get(9)?,
                    },
                ))
            })
            .map_err(&err)?;
        let mut hosts = Vec::new();
        for row in rows {
            let (status, mut stored) = row.map_err(&err)?;
            stored.result.truncated = stored.stdout_truncated || stored.stderr_truncated;
            stored.result.status =
                HostStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
                    path: self.path.clone(),
                    id,
                    what: format!("host {} has status {status:?}", stored.result.host),
                })?;
            hosts.push(stored);
        }
        Ok(Some(RunDetail { summary, hosts }))
    }

    /// The newest run, of `kind` if given.
    pub fn last_run_id(&self, kind: Option<&str>) -> Result<Option<RunId>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM runs WHERE ?1 IS NULL OR kind = ?1",
                [kind],
                |row| row.get::<_, Option<i64>>(0),
            )
            .map(|id| id.map(RunId))
            .map_err(self.sql_err())
    }

    /// The hosts of `run` worth running again: those that failed, were
    /// unreachable, or were interrupted, in name order. Hosts a killed herd
    /// never recorded are not known to the store.
    pub fn hosts_to_rerun(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        let err = self.sql_err();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT host FROM host_results
                 WHERE run_id = ?1 AND status IN (?2, ?3, ?4) ORDER BY host",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(
                params![
                    run.0,
                    HostStatus::Failed.as_str(),
                    HostStatus::Unreachable.as_str(),
                    HostStatus::Interrupted.as_str()
                ],
                |row| row.get(0),
            )
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The newest `limit` runs that reached `host`, newest first, each with
    /// the host's own result.
    pub fn host_runs(&self, host: &str, limit: usize) -> Result<Vec<HostRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT r.id, r.kind, r.command, r.started_at, h.status, h.exit_code, h.duration_ms
             FROM host_results h JOIN runs r ON r.id = h.run_id
             WHERE h.host = ?1 ORDER BY h.run_id DESC LIMIT ?2",
            params![host, limit],
            |row| {
                Ok(HostRun {
                    run: RunId(row.get(0)?),
                    kind: row.get(1)?,
                    command: row.get(2)?,
                    started_at: row.get(3)?,
                    status: row.get(4)?,
                    exit_code: row.get(5)?,
                    duration_ms: row.get(6)?,
                })
            },
        )
    }

    /// How many stored runs ended (or are) in each outcome, by outcome.
    pub fn run_counts(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.query_rows(
            "SELECT outcome, count(*) FROM runs GROUP BY outcome ORDER BY outcome",
            [],
            |row| Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as usize)),
        )
    }

    fn check_row(
        &self,
        (summary, outcome): (RunSummary, String),
    ) -> Result<RunSummary, StoreError> {
        let outcome = RunOutcome::parse(&outcome).ok_or_else(|| StoreError::Corrupt {
            path: self.path.clone(),
            id: summary.id,
            what: format!("outcome {outcome:?}"),
        })?;
        Ok(RunSummary { outcome, ..summary })
    }
}

/// Reads `SUMMARY_COLUMNS`; the outcome text is checked by the caller.
fn read_summary(row: &Row<'_>) -> rusqlite::Result<(RunSummary, String)> {
    let count = |i| row.get::<_, i64>(i).map(|n| n.max(0) as usize);
    Ok((
        RunSummary {
            id: RunId(row.get(0)?),
            kind: row.get(1)?,
            command: row.get(2)?,
            pattern: row.get(3)?,
            user: row.get(4)?,
            pid: row.get(5)?,
            host_count: count(6)?,
            started_at: row.get(7)?,
            finished_at: row.get(8)?,
            duration_ms: row.get(9)?,
            outcome: RunOutcome::Running,
            ok: count(11)?,
            failed: count(12)?,
            unreachable: count(13)?,
            interrupted: count(14)?,
        },
        row.get(10)?,
    ))
}
