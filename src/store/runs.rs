//! Writing runs: begin, record results in batches, finish; and recovering
//! runs whose herd died. Every write is one immediate transaction: it takes
//! the write lock up front, so concurrent herds wait their turn (up to the
//! busy timeout) instead of failing half-way.

use rusqlite::{OptionalExtension, params};

use super::{OUTPUT_CAP, RunId, Store, StoreError, cap_output, liveness, now_ms};
use crate::engine::{HostResult, RunOutcome};
use crate::secrets::redact::{redact, redact_opt};

/// What a new run is about.
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    /// "run", "play", ...
    pub kind: &'a str,
    /// What was run: the command line or the playbook.
    pub command: &'a str,
    /// The host pattern as the admin typed it.
    pub pattern: &'a str,
    /// How many hosts the pattern matched.
    pub host_count: usize,
}

impl Store {
    /// Records the start of a run (outcome "running") with who started it
    /// and this process's pid, so a herd that dies can be told apart from
    /// one still working.
    pub fn begin_run(&mut self, run: &NewRun) -> Result<RunId, StoreError> {
        let pid = std::process::id();
        let pid_start = liveness::process_start(pid);
        let (tx, err) = self.write_tx()?;
        tx.execute(
            "INSERT INTO runs (kind, command, pattern, user, host_count, started_at, outcome, pid, pid_start)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                run.kind,
                redact(run.command),
                run.pattern,
                current_user(),
                i64::try_from(run.host_count).unwrap_or(i64::MAX),
                now_ms(),
                RunOutcome::Running.as_str(),
                pid,
                pid_start,
            ],
        )
        .map_err(&err)?;
        let id = RunId(tx.last_insert_rowid());
        tx.commit().map_err(&err)?;
        Ok(id)
    }

    /// Stores a batch of host results in one transaction. A host recorded
    /// twice keeps its latest result. Outputs longer than [`OUTPUT_CAP`]
    /// are cut with a visible marker and flagged as truncated.
    pub fn record_results(&mut self, run: RunId, results: &[HostResult]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let (tx, err) = self.write_tx()?;
        let exists = tx
            .query_row("SELECT 1 FROM runs WHERE id = ?1", [run.0], |_| Ok(()))
            .optional()
            .map_err(&err)?;
        if exists.is_none() {
            return Err(StoreError::NoSuchRun { path, id: run });
        }
        let now = now_ms();
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO host_results
                     (run_id, host, status, exit_code, stdout, stderr, stdout_truncated,
                      stderr_truncated, error, duration_ms, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(&err)?;
            for r in results {
                // Secrets are masked before capping: the cap must not split one.
                let (out, err_text) = (redact(&r.stdout), redact(&r.stderr));
                let (stdout, stdout_cut) = cap_output(&out, OUTPUT_CAP);
                let (stderr, stderr_cut) = cap_output(&err_text, OUTPUT_CAP);
                insert
                    .execute(params![
                        run.0,
                        r.host,
                        r.status.as_str(),
                        r.exit_code,
                        stdout,
                        stderr,
                        stdout_cut,
                        stderr_cut,
                        redact_opt(&r.error),
                        duration_ms(r.duration),
                        now,
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// Records how the run ended, when, and how long it took.
    pub fn finish_run(&mut self, run: RunId, outcome: RunOutcome) -> Result<(), StoreError> {
        let path = self.path.clone();
        let (tx, err) = self.write_tx()?;
        let changed = tx
            .execute(
                "UPDATE runs SET outcome = ?2, finished_at = ?3, duration_ms = max(0, ?3 - started_at)
                 WHERE id = ?1",
                params![run.0, outcome.as_str(), now_ms()],
            )
            .map_err(&err)?;
        if changed == 0 {
            return Err(StoreError::NoSuchRun { path, id: run });
        }
        tx.commit().map_err(&err)
    }

    /// Marks runs still "running" whose herd process is gone as
    /// interrupted. Their end is taken to be their last recorded result.
    pub(super) fn recover_dead_runs(&mut self) -> Result<(), StoreError> {
        let err = self.sql_err();
        let dead: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, pid, pid_start FROM runs WHERE outcome = 'running'")
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .map_err(&err)?;
            let mut dead = Vec::new();
            for row in rows {
                let (id, pid, start): (i64, i64, Option<i64>) = row.map_err(&err)?;
                if !liveness::is_alive(pid, start) {
                    dead.push(id);
                }
            }
            dead
        };
        if dead.is_empty() {
            return Ok(());
        }
        let (tx, err) = self.write_tx()?;
        for id in dead {
            tx.execute(
                "UPDATE runs SET outcome = 'interrupted',
                   finished_at = coalesce(
                     (SELECT max(finished_at) FROM host_results WHERE run_id = runs.id),
                     started_at),
                   duration_ms = coalesce(
                     (SELECT max(finished_at) FROM host_results WHERE run_id = runs.id),
                     started_at) - started_at
                 WHERE id = ?1 AND outcome = 'running'",
                [id],
            )
            .map_err(&err)?;
            tracing::info!(run = id, "run's herd process is gone; marked interrupted");
        }
        tx.commit().map_err(&err)
    }
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Who started the run: $USER, else $LOGNAME, else the numeric uid.
fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|v| v.to_string_lossy().into_owned())
        .find(|v| !v.is_empty())
        // SAFETY: getuid cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}
