//! The results store: every run and every host's result, in one SQLite file
//! (`<state dir>/herd.db`) so `herd runs`, reruns of failed hosts and reports
//! work after the terminal is gone.
//!
//! Several herd processes (cron and an admin) may share the store: the file
//! is in WAL mode, waits up to [`BUSY_TIMEOUT`] for a lock, and every write
//! is one immediate transaction, so writers queue instead of failing with
//! "database is locked" and a reader never sees a half-written run. The
//! file and its -wal/-shm companions are private (0600): outputs can hold
//! secrets.

mod alerts;
mod audits;
mod error;
mod file_marks;
mod liveness;
mod metrics;
mod queries;
mod releases;
mod report;
mod runs;
mod schema;
mod task_log;
mod tasks;
mod truncate;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use alerts::{AlertLogEntry, AlertState};
pub use audits::{AuditId, AuditRow};
pub use error::StoreError;
pub use metrics::{CollectionId, CollectionSummary, Pruned, Reach, Sample};
pub use queries::{HostRun, RunDetail, RunSummary, StoredResult};
pub use releases::StepRecord;
pub use runs::NewRun;
pub use schema::VERSION as SCHEMA_VERSION;
pub use task_log::TaskLog;
pub use tasks::TaskRecord;
pub use truncate::{OUTPUT_CAP, cap_output};
pub use writer::ResultWriter;

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "herd.db";

/// How long a herd waits for another herd's write to finish before giving
/// up. Writes are short (one batch of results), so this is generous.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A run's number, as shown by `herd runs` and accepted by `herd runs show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An open results store. One per thread; it is cheap to open another.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens `state_dir/herd.db`, creating it (0600) and migrating its
    /// schema as needed, then marks runs whose herd died as interrupted.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join(DB_FILE);
        let io_err = |action, source| StoreError::Io {
            path: path.clone(),
            action,
            source,
        };
        crate::atomic::create_private_dir(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            action: "create the state directory",
            source,
        })?;
        // Create the file ourselves so it is born 0600 whatever the umask;
        // SQLite gives the -wal and -shm files the main file's mode.
        create_private_file(&path).map_err(|e| io_err("create the results store", e))?;
        let conn = Connection::open(&path).map_err(|error| StoreError::Sqlite {
            path: path.clone(),
            error,
        })?;
        let mut store = Store { conn, path };
        store.configure()?;
        store.tighten_modes()?;
        store.recover_dead_runs()?;
        Ok(store)
    }

    /// Opens `state_dir/herd.db` read-only for a reader that must never
    /// write (`herd serve`): nothing is created, migrated or recovered, and
    /// other herds (cron's `herd collect`) keep writing while it reads. The
    /// store must exist and have this herd's schema.
    pub fn open_read_only(state_dir: &Path) -> Result<Store, StoreError> {
        use rusqlite::OpenFlags;
        let path = state_dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Missing { path });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|error| StoreError::Sqlite {
                path: path.clone(),
                error,
            })?;
        let store = Store { conn, path };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(store.sql_err())?;
        match schema::check(&store.conn).map_err(store.sql_err())? {
            schema::Check::Current => Ok(store),
            schema::Check::TooNew(found) => Err(StoreError::TooNew {
                path: store.path,
                found,
                known: schema::VERSION,
            }),
            schema::Check::NeedsMigration => Err(StoreError::Outdated { path: store.path }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let conn = &self.conn;
        // The busy timeout comes first: switching to WAL and migrating take
        // locks another herd may hold.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(self.sql_err())?;
        let mode = enable_wal(conn).map_err(self.sql_err())?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "results store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.sql_err())?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(self.sql_err())?;
        let too_new = |found| StoreError::TooNew {
            path: self.path.clone(),
            found,
            known: schema::VERSION,
        };
        match schema::check(conn).map_err(self.sql_err())? {
            schema::Check::Current => Ok(()),
            schema::Check::TooNew(found) => Err(too_new(found)),
            schema::Check::NeedsMigration => {
                let path = self.path.clone();
                schema::migrate(&mut self.conn)
                    .map_err(|error| StoreError::Sqlite { path, error })?
                    .map_err(too_new)
            }
        }
    }

    /// Makes the database and its -wal/-shm files 0600, fixing files left
    /// readable by an older tool or a hand copy.
    fn tighten_modes(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let file = PathBuf::from(file);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(
                    |source| StoreError::Io {
                        path: file.clone(),
                        action: "make the results store private (chmod 600)",
                        source,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Every row of `sql` with `params`, each read by `row`.
    fn query_rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let err = self.sql_err();
        let mut query = self.conn.prepare_cached(sql).map_err(&err)?;
        let rows = query.query_map(params, row).map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }

    /// A write transaction that takes the write lock at its start
    /// (IMMEDIATE): a concurrent writer then waits in the busy handler
    /// instead of failing half-way with "database is locked". Returned with
    /// the error mapper the caller needs for its statements.
    fn write_tx(
        &mut self,
    ) -> Result<
        (
            rusqlite::Transaction<'_>,
            impl Fn(rusqlite::Error) -> StoreError + use<>,
        ),
        StoreError,
    > {
        let err = self.sql_err();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        Ok((tx, err))
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
        let path = self.path.clone();
        move |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        }
    }
}

/// Switches to WAL and returns the journal mode now in force. SQLite
/// answers "database is locked" at once, without the busy handler, when two
/// connections race to switch a new file, so this retries until
/// [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Creates `path` with mode 0600 if it does not exist yet.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests;
