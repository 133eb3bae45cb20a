//! `herd audit` results: each audit and every host's checks, so the
//! admin can compare today's findings with last week's.

use rusqlite::params;

use super::{Store, StoreError, now_ms};

/// An audit's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct AuditId(pub i64);

/// One host's result of one check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub host: String,
    pub check: String,
    pub status: String,
    pub detail: String,
}

impl Store {
    /// Records a whole audit in one transaction.
    pub fn record_audit(
        &mut self,
        pattern: &str,
        host_count: usize,
        rows: &[AuditRow],
    ) -> Result<AuditId, StoreError> {
        let (tx, err) = self.write_tx()?;
        tx.execute(
            "INSERT INTO audits (pattern, started_at, host_count) VALUES (?1, ?2, ?3)",
            params![pattern, now_ms(), host_count as i64],
        )
        .map_err(&err)?;
        let id = tx.last_insert_rowid();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO audit_results (audit_id, host, check_name, status, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&err)?;
            for r in rows {
                insert
                    .execute(params![id, r.host, r.check, r.status, r.detail])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(AuditId(id))
    }

    /// The rows of audit `id`, by host and check.
    pub fn audit_results(&self, id: AuditId) -> Result<Vec<AuditRow>, StoreError> {
        let err = self.sql_err();
        let mut query = self
            .conn
            .prepare_cached(
                "SELECT host, check_name, status, detail FROM audit_results
                 WHERE audit_id = ?1 ORDER BY host, check_name",
            )
            .map_err(&err)?;
        let rows = query
            .query_map(params![id.0], |row| {
                Ok(AuditRow {
                    host: row.get(0)?,
                    check: row.get(1)?,
                    status: row.get(2)?,
                    detail: row.get(3)?,
                })
            })
            .map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }
}

impl Store {
    /// `host`'s rows of the newest audit that checked it, by check, with
    /// when that audit ran (unix milliseconds).
    pub fn host_audit(&self, host: &str) -> Result<Option<(i64, Vec<AuditRow>)>, StoreError> {
        let rows: Vec<(i64, AuditRow)> = self.query_rows(
            "SELECT a.started_at, r.host, r.check_name, r.status, r.detail
             FROM audit_results r JOIN audits a ON a.id = r.audit_id
             WHERE r.host = ?1
               AND r.audit_id = (SELECT max(audit_id) FROM audit_results WHERE host = ?1)
             ORDER BY r.check_name",
            [host],
            |row| {
                Ok((
                    row.get(0)?,
                    AuditRow {
                        host: row.get(1)?,
                        check: row.get(2)?,
                        status: row.get(3)?,
                        detail: row.get(4)?,
                    },
                ))
            },
        )?;
        let Some(started) = rows.first().map(|r| r.0) else {
            return Ok(None);
        };
        Ok(Some((started, rows.into_iter().map(|r| r.1).collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let row = |host: &str, status: &str| AuditRow {
            host: host.into(),
            check: "ssh-password-auth".into(),
            status: status.into(),
            detail: "PasswordAuthentication yes".into(),
        };
        let id = store
            .record_audit("all", 2, &[row("web2", "fail"), row("web1", "pass")])
            .unwrap();
        let rows = store.audit_results(id).unwrap();
        assert_eq!(rows, [row("web1", "pass"), row("web2", "fail")]);
    }
}
