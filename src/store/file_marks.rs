//! File marks between runs (see `modules::file_marks`): loaded before a
//! play, the ones it made saved after it. A mark not renewed for
//! [`KEEP_DAYS`] is dropped, so files herd no longer manages do not pile up.

use rusqlite::params;

use super::{Store, StoreError};
use crate::modules::file_marks::{FileMark, FileMarks};

/// Marks older than this are dropped when marks are saved.
const KEEP_DAYS: i64 = 30;

impl Store {
    /// Every host's file marks (a bad row, such as one edited by hand, is
    /// skipped: it only costs a hash).
    pub fn file_marks(&self) -> Result<FileMarks, StoreError> {
        let err = self.sql_err();
        let mut select = self
            .conn
            .prepare("SELECT host, path, identity, sha1 FROM file_marks")
            .map_err(&err)?;
        let rows = select
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(&err)?
            .collect::<Result<Vec<(String, String, String, String)>, _>>()
            .map_err(&err)?;
        Ok(FileMarks::from_rows(rows.into_iter().filter_map(
            |(host, path, identity, sha1)| Some((host, path, FileMark::new(identity, sha1)?)),
        )))
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
