//! What can go wrong with the results store, phrased so the admin knows
//! which file is involved and what to do about it.

use std::path::PathBuf;

use rusqlite::ErrorCode;

use super::RunId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot {action}: {source}{hint}", hint = io_hint(.source, .path))]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// The SQLite error is part of the message rather than a `source`:
    /// its own source only repeats it as "Error code 14: ...".
    #[error("{path}: results store error: {error}{hint}", hint = sqlite_hint(.error, .path))]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error(
        "{path} was created by a newer herd (schema version {found}, this herd knows up to {known}); upgrade herd"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("no results store at {path} yet: `herd collect` or `herd run` creates it")]
    Missing { path: PathBuf },
    #[error(
        "{path} has an older schema than this herd; any command that writes it (`herd status`, `herd collect`) upgrades it"
    )]
    Outdated { path: PathBuf },
    #[error("{path}: no run {id} in the results store")]
    NoSuchRun { path: PathBuf, id: RunId },
    #[error("{path}: run {id} has an unreadable row ({what}); was the database edited by hand?")]
    Corrupt {
        path: PathBuf,
        id: RunId,
        what: String,
    },
}

fn io_hint(err: &std::io::Error, path: &std::path::Path) -> String {
    if err.kind() == std::io::ErrorKind::PermissionDenied {
        format!(
            " (check who owns it: `ls -l {}`; herd keeps it private to one user)",
            path.display()
        )
    } else {
        String::new()
    }
}

fn sqlite_hint(err: &rusqlite::Error, path: &std::path::Path) -> String {
    let Some(code) = err.sqlite_error_code() else {
        return String::new();
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            " (another herd process held the store for too long; retry when it has finished)"
                .to_string()
        }
        ErrorCode::PermissionDenied | ErrorCode::ReadOnly | ErrorCode::CannotOpen => format!(
            " (check that you can write {} and its -wal/-shm files and directory: `ls -la {}`)",
            path.display(),
            path.parent().unwrap_or(path).display()
        ),
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => format!(
            " ({} is damaged or not a herd store; move it aside and herd starts a new one)",
            path.display()
        ),
        ErrorCode::DiskFull => full_disk_hint(path),
        // A write into the WAL on a full disk fails as a plain I/O error.
        ErrorCode::SystemIoFailure if disk_is_full(path) => full_disk_hint(path),
        _ => String::new(),
    }
}

fn full_disk_hint(path: &std::path::Path) -> String {
    format!(
        " (the disk is full: free space where {} lives; what the store already held is intact)",
        path.parent().unwrap_or(path).display()
    )
}

/// Whether the file system holding `path` has (almost) no room left.
fn disk_is_full(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().unwrap_or(path);
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return false;
    }
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) < 64 * 1024
}
