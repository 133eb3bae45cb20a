//! File marks between runs (see `modules::file_marks`): loaded before a
//! play, the ones it made saved after it. A mark not renewed for
//! [`KEEP_DAYS`] is dropped, so files herd no longer manages do not pile up.

use rusqlite::params;

use super::{Store, StoreError};
use crate::modules::file_marks::{FileMark, FileMarks};

/// Marks older than this are dropped when marks are saved.
const KEEP_DAYS: i64 = 30;

impl Store {
    /// The file marks of `hosts` (a bad row, such as one edited by hand, is
    /// skipped: it only costs a hash).
    pub fn file_marks(&self, hosts: &[String]) -> Result<FileMarks, StoreError> {
        let err = self.sql_err();
        let mut select = self
            .conn
            .prepare("SELECT path, identity, sha1 FROM file_marks WHERE host = ?1")
            .map_err(&err)?;
        let mut rows = Vec::new();
        for host in hosts {
            let marks = select
                .query_map([host], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .map_err(&err)?;
            for mark in marks {
                let (path, identity, sha1): (String, String, String) = mark.map_err(&err)?;
                if let Some(mark) = FileMark::new(identity, sha1) {
                    rows.push((host.clone(), path, mark));
                }
            }
        }
        Ok(FileMarks::from_rows(rows))
    }

    /// Saves the marks made during a play and drops stale ones.
    pub fn save_file_marks(&mut self, marks: &FileMarks) -> Result<(), StoreError> {
        let made = marks.made();
        let (tx, err) = self.write_tx()?;
        {
            let mut upsert = tx
                .prepare(
                    "INSERT INTO file_marks (host, path, identity, sha1, marked_at)
                     VALUES (?1, ?2, ?3, ?4, unixepoch())
                     ON CONFLICT (host, path) DO UPDATE SET identity = excluded.identity,
                       sha1 = excluded.sha1, marked_at = excluded.marked_at",
                )
                .map_err(&err)?;
            for (host, path, mark) in &made {
                upsert
                    .execute(params![host, path, mark.identity, mark.sha1])
                    .map_err(&err)?;
            }
        }
        tx.execute(
            "DELETE FROM file_marks WHERE marked_at < unixepoch() - ?1",
            [KEEP_DAYS * 86_400],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }
}
