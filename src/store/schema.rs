//! Versioned schema migrations.
//!
//! `PRAGMA user_version` holds the number of migration steps applied. Steps
//! are append-only: never edit a released step, add a new one. Each step runs
//! in its own immediate transaction, re-reading the version inside it, so two
//! herd processes opening a fresh store at once migrate it exactly once.

use rusqlite::{Connection, TransactionBehavior};

/// Migration steps; step `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs and their per-host results.
    "CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT    NOT NULL,
        command     TEXT    NOT NULL,
        pattern     TEXT    NOT NULL,
        user        TEXT    NOT NULL,
        host_count  INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        duration_ms INTEGER,
        outcome     TEXT    NOT NULL,
        pid         INTEGER NOT NULL,
        pid_start   INTEGER
    );
    CREATE INDEX runs_by_kind ON runs (kind, id);
    CREATE INDEX runs_by_started ON runs (started_at);
    CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
    CREATE TABLE host_results (
        run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        host             TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        exit_code        INTEGER,
        stdout           TEXT    NOT NULL,
        stderr           TEXT    NOT NULL,
        stdout_truncated INTEGER NOT NULL DEFAULT 0,
        stderr_truncated INTEGER NOT NULL DEFAULT 0,
        error            TEXT,
        duration_ms      INTEGER NOT NULL,
        finished_at      INTEGER NOT NULL,
        PRIMARY KEY (run_id, host)
    ) WITHOUT ROWID;
    CREATE INDEX host_results_by_host ON host_results (host, run_id);",
    // 2: playbook runs keep every task's result per host.
    "CREATE TABLE task_results (
        run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        play        TEXT    NOT NULL,
        task        TEXT    NOT NULL,
        location    TEXT    NOT NULL,
        host        TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        msg         TEXT,
        diff        TEXT,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq, host)
    ) WITHOUT ROWID;",
    // 3: metric time series from `herd collect`: one row per host, metric
    // and time; collections say when each host was last reached.
    "CREATE TABLE collections (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        host_count  INTEGER NOT NULL
    );
    CREATE TABLE samples (
        host   TEXT    NOT NULL,
        metric TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        value  REAL    NOT NULL,
        PRIMARY KEY (metric, host, ts)
    ) WITHOUT ROWID;
    CREATE INDEX samples_by_host ON samples (host, ts);
    CREATE INDEX samples_by_ts ON samples (ts);
    CREATE TABLE host_reach (
        collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
        host          TEXT    NOT NULL,
        ts            INTEGER NOT NULL,
        reachable     INTEGER NOT NULL,
        error         TEXT,
        PRIMARY KEY (host, collection_id)
    ) WITHOUT ROWID;",
    // 4: `herd audit`: one row per audit run, one per host and check.
    "CREATE TABLE audits (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        pattern     TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        host_count  INTEGER NOT NULL
    );
    CREATE TABLE audit_results (
        audit_id INTEGER NOT NULL REFERENCES audits (id) ON DELETE CASCADE,
        host     TEXT    NOT NULL,
        check_name TEXT  NOT NULL,
        status   TEXT    NOT NULL,
        detail   TEXT    NOT NULL,
        PRIMARY KEY (audit_id, host, check_name)
    ) WITHOUT ROWID;
    CREATE INDEX audit_results_by_host ON audit_results (host, audit_id);",
    // 5: `herd alerts`: each alert's state per host (firing, and what the
    // admin was last told, for cooldown) and a log of what happened.
    "CREATE TABLE alert_state (
        alert          TEXT    NOT NULL,
        host           TEXT    NOT NULL,
        firing         INTEGER NOT NULL,
        since          INTEGER NOT NULL,
        value          REAL,
        notified_event TEXT,
        notified_at    INTEGER,
        PRIMARY KEY (alert, host)
    ) WITHOUT ROWID;
    CREATE TABLE alert_log (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        ts           INTEGER NOT NULL,
        alert        TEXT    NOT NULL,
        host         TEXT    NOT NULL,
        event        TEXT    NOT NULL,
        severity     TEXT    NOT NULL,
        value        REAL,
        message      TEXT    NOT NULL,
        notification TEXT    NOT NULL,
        error        TEXT
    );
    CREATE INDEX alert_log_by_ts ON alert_log (ts);",
    // 6: `herd deploy` / `--rollback`: every release step per host, with
    // timings (the run and its per-host outcome are in runs/host_results).
    "CREATE TABLE release_steps (
        run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        host        TEXT    NOT NULL,
        step        TEXT    NOT NULL,
        release     TEXT    NOT NULL,
        detail      TEXT,
        started_at  INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX release_steps_by_host ON release_steps (host, run_id);",
    // 7: each host's newest value of every metric, kept by record_samples,
    // so `herd status`, `herd serve` and /metrics read one row per host
    // and metric instead of grouping the whole history (seconds on a
    // 1,000-host day).
    "CREATE TABLE latest_samples (
        host   TEXT    NOT NULL,
        metric TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        value  REAL    NOT NULL,
        PRIMARY KEY (host, metric)
    ) WITHOUT ROWID;
    INSERT INTO latest_samples (host, metric, ts, value)
        SELECT s.host, s.metric, s.ts, s.value FROM samples s
        JOIN (SELECT host, metric, MAX(ts) AS ts FROM samples GROUP BY host, metric) m
          ON s.host = m.host AND s.metric = m.metric AND s.ts = m.ts;",
    // 8: every collection keeps its samples. Keyed by (metric, host, ts),
    // collections started in the same second (cron and a manual run)
    // overwrote each other; the collection is now part of the key. Rows
    // from before (and retention's averages) have collection 0.
    "CREATE TABLE samples_v8 (
        host          TEXT    NOT NULL,
        metric        TEXT    NOT NULL,
        ts            INTEGER NOT NULL,
        collection_id INTEGER NOT NULL DEFAULT 0,
        value         REAL    NOT NULL,
        PRIMARY KEY (metric, host, ts, collection_id)
    ) WITHOUT ROWID;
    INSERT INTO samples_v8 (host, metric, ts, collection_id, value)
        SELECT host, metric, ts, 0, value FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_v8 RENAME TO samples;
    CREATE INDEX samples_by_host ON samples (host, ts);
    CREATE INDEX samples_by_ts ON samples (ts);",
    // 9: what herd last saw of each file it hashed on a host (identity and
    // SHA-1), so a rerun skips hashing files that did not change.
    "CREATE TABLE file_marks (
        host      TEXT    NOT NULL,
        path      TEXT    NOT NULL,
        identity  TEXT    NOT NULL,
        sha1      TEXT    NOT NULL,
        marked_at INTEGER NOT NULL,
        PRIMARY KEY (host, path)
    ) WITHOUT ROWID;",
];

/// The schema version this herd writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// What the database needs before use.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Current,
    NeedsMigration,
    /// Written by a newer herd: this version found.
    TooNew(i64),
}

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

pub fn check(conn: &Connection) -> rusqlite::Result<Check> {
    let version = user_version(conn)?;
    Ok(if version == VERSION {
        Check::Current
    } else if version > VERSION {
        Check::TooNew(version)
    } else {
        Check::NeedsMigration
    })
}

/// Applies every missing step. Returns the version found if the database is
/// newer than this herd (nothing is changed then).
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), i64>> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        if version > VERSION {
            return Ok(Err(version));
        }
        let Some(step) = MIGRATIONS.get(version as usize) else {
            return Ok(Ok(()));
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store at schema 6 (samples keyed by metric, host and second)
    /// migrates with its samples kept, and then keeps two collections of
    /// the same second apart.
    #[test]
    fn samples_survive_migration_7_and_same_second_collections_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
            for step in &MIGRATIONS[..6] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute(
                "INSERT INTO samples (host, metric, ts, value) VALUES ('a', 'load.1', 100, 0.5)",
                [],
            )
            .unwrap();
        }
        let mut store = crate::store::Store::open(dir.path()).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), VERSION);
        let sample = |value| crate::store::Sample {
            host: "a".into(),
            metric: "load.1".into(),
            ts: 200,
            value,
        };
        for value in [1.0, 2.0, 3.0] {
            let c = store.begin_collection(200, 1).unwrap();
            store.record_samples(c, &[sample(value)], &[]).unwrap();
        }
        let kept = store.samples(&[], "load.1", 0, 1000).unwrap();
        let values: Vec<f64> = kept.iter().map(|s| s.value).collect();
        assert_eq!(values, [0.5, 1.0, 2.0, 3.0]);
        assert_eq!(store.latest_samples().unwrap(), [sample(3.0)]);
    }
}
