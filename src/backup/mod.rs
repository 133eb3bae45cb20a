//! Backups of hosts' files, kept on the controller: `herd backup` streams
//! `tar czf -` from each host over the SSH channel straight into
//! `<state dir>/backups/HOST/ID/`, reading the stream on the way to build
//! the manifest (path, type, size, mode, owner, sha256, symlink target);
//! `herd restore` puts files back one by one, atomically.
//!
//! The backup directory is the source of truth, not the results store: a
//! backup is self-contained (copy it, delete it, and `herd backup list`
//! agrees), and there is no second record to drift from the files.
//!
//! ```text
//! .herd/backups/web1/20260101T120000Z/   (0700)
//!     backup.json            summary: host, id, time, paths, counts (0600)
//!     manifest.json[.age]    one entry per path (encrypted with --encrypt)
//!     archive.tar.gz[.age]   the host's tar stream (encrypted with --encrypt)
//! ```

mod archive;
pub mod job;
mod local;
pub mod manifest;
pub mod remote;
pub mod restore;

use std::path::PathBuf;

pub use archive::{ArchiveWriter, BlockingWrite};
pub use local::{Backups, Pending, Summary, new_id};
pub use manifest::{Entry, Kind};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("the archive from the host is not a readable tar.gz stream: {0}")]
    Archive(std::io::Error),
    #[error("{}: unreadable backup file: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("no backup {id} of {host} (see `herd backup list {host}`)")]
    NotFound { host: String, id: String },
    /// A missing identity is bad input: the exit code is the
    /// SecretsError's.
    #[error("{0}")]
    Secrets(#[from] crate::secrets::SecretsError),
}

impl BackupError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl Fn(std::io::Error) -> Self {
        let path = path.into();
        move |source| BackupError::Io {
            path: path.clone(),
            action,
            source,
        }
    }

    pub(crate) fn archive(source: std::io::Error) -> Self {
        BackupError::Archive(source)
    }
}

crate::exit::code!(BackupError, |err| match err {
    BackupError::NotFound { .. } => crate::exit::BAD_INPUT,
    BackupError::Secrets(e) => crate::exit::Code::exit_code(e),
    _ => crate::exit::ERROR,
});
