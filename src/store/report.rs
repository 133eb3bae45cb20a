//! Queries for `herd report`: which metrics have samples in a span.

use rusqlite::params;

use super::{Store, StoreError};

impl Store {
    /// The metrics with samples in `since <= ts <= until`, by name.
    pub fn metrics_between(&self, since: i64, until: i64) -> Result<Vec<String>, StoreError> {
        let err = self.sql_err();
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT metric FROM samples WHERE ts BETWEEN ?1 AND ?2 ORDER BY metric",
            )
            .map_err(&err)?;
        let rows = query
            .query_map(params![since, until], |row| row.get(0))
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }
}
