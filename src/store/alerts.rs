//! `herd alerts` state: whether each alert fires on each host, what the
//! admin was last told about it (for cooldown), and the alert log. Times
//! are unix seconds.

use rusqlite::{Row, params};

use super::{Reach, Store, StoreError};
use crate::secrets::redact::{redact, redact_opt};

/// One alert on one host, as last evaluated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertState {
    pub alert: String,
    pub host: String,
    pub firing: bool,
    /// When it started firing (or stopped).
    pub since: i64,
    /// The value that decided it, if the alert is on a metric.
    pub value: Option<f64>,
    /// The last notification sent: "fire" or "resolve".
    pub notified_event: Option<String>,
    pub notified_at: Option<i64>,
}

/// One line of the alert log: a transition or a notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertLogEntry {
    pub ts: i64,
    pub alert: String,
    pub host: String,
    /// "fire" or "resolve".
    pub event: String,
    pub severity: String,
    pub value: Option<f64>,
    pub message: String,
    /// "sent", "failed", "cooldown" or "none" (no notifier configured).
    pub notification: String,
    /// Why the notification failed.
    pub error: Option<String>,
}

impl Store {
    /// Every stored alert state.
    pub fn alert_states(&self) -> Result<Vec<AlertState>, StoreError> {
        self.query_rows(
            "SELECT alert, host, firing, since, value, notified_event, notified_at
             FROM alert_state ORDER BY alert, host",
            [],
            |row| {
                Ok(AlertState {
                    alert: row.get(0)?,
                    host: row.get(1)?,
                    firing: row.get(2)?,
                    since: row.get(3)?,
                    value: row.get(4)?,
                    notified_event: row.get(5)?,
                    notified_at: row.get(6)?,
                })
            },
        )
    }

    /// Saves an evaluation's new states and log lines in one transaction,
    /// so an interrupted `herd alerts` leaves the previous evaluation whole.
    pub fn save_alerts(
        &mut self,
        states: &[AlertState],
        log: &[AlertLogEntry],
    ) -> Result<(), StoreError> {
        let (tx, err) = self.write_tx()?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO alert_state
                     (alert, host, firing, since, value, notified_event, notified_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(&err)?;
            for s in states {
                upsert
                    .execute(params![
                        s.alert,
                        s.host,
                        s.firing,
                        s.since,
                        s.value,
                        s.notified_event,
                        s.notified_at
                    ])
                    .map_err(&err)?;
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO alert_log
                     (ts, alert, host, event, severity, value, message, notification, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(&err)?;
            for e in log {
                insert
                    .execute(params![
                        e.ts,
                        e.alert,
                        e.host,
                        e.event,
                        e.severity,
                        e.value,
                        redact(&e.message),
                        e.notification,
                        redact_opt(&e.error)
                    ])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// The newest `limit` alert log lines, newest first.
    pub fn alert_log(&self, limit: usize) -> Result<Vec<AlertLogEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT ts, alert, host, event, severity, value, message, notification, error
             FROM alert_log ORDER BY id DESC LIMIT ?1",
            [limit],
            read_log,
        )
    }

    /// The newest `limit` alert log lines about `host`, newest first.
    pub fn host_alert_log(
        &self,
        host: &str,
        limit: usize,
    ) -> Result<Vec<AlertLogEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_rows(
            "SELECT ts, alert, host, event, severity, value, message, notification, error
             FROM alert_log WHERE host = ?1 ORDER BY id DESC LIMIT ?2",
            params![host, limit],
            read_log,
        )
    }

    /// Every reach record with `since <= ts <= until`, by host then time:
    /// the series `unreachable` alerts are evaluated over.
    pub fn reach_between(&self, since: i64, until: i64) -> Result<Vec<Reach>, StoreError> {
        self.query_rows(
            "SELECT host, ts, reachable, error FROM host_reach
             WHERE ts BETWEEN ?1 AND ?2 ORDER BY host, ts",
            params![since, until],
            super::metrics::reach_row,
        )
    }
}

fn read_log(row: &Row) -> rusqlite::Result<AlertLogEntry> {
    Ok(AlertLogEntry {
        ts: row.get(0)?,
        alert: row.get(1)?,
        host: row.get(2)?,
        event: row.get(3)?,
        severity: row.get(4)?,
        value: row.get(5)?,
        message: row.get(6)?,
        notification: row.get(7)?,
        error: row.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_upsert_and_log_reads_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let state = |firing, since| AlertState {
            alert: "high_load".into(),
            host: "web1".into(),
            firing,
            since,
            value: Some(5.0),
            notified_event: None,
            notified_at: None,
        };
        let log = |ts, event: &str| AlertLogEntry {
            ts,
            alert: "high_load".into(),
            host: "web1".into(),
            event: event.into(),
            severity: "warning".into(),
            value: Some(5.0),
            message: "load.1 is 5".into(),
            notification: "sent".into(),
            error: None,
        };
        store
            .save_alerts(&[state(true, 100)], &[log(100, "fire")])
            .unwrap();
        store
            .save_alerts(&[state(false, 200)], &[log(200, "resolve")])
            .unwrap();
        assert_eq!(store.alert_states().unwrap(), [state(false, 200)]);
        let events: Vec<_> = store
            .alert_log(10)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, ["resolve", "fire"]);
        assert_eq!(store.alert_log(1).unwrap().len(), 1);
    }
}
