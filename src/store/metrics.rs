//! Metric time series from `herd collect`: samples (host, metric, time,
//! value), the collections that produced them, and whether each host was
//! reached. Times are unix seconds; a sample belongs to its collection, so
//! collections that ran in the same second each keep theirs.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One measured value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    pub host: String,
    /// Dotted name, e.g. `load.1`, `mem.used_pct`, `disk./.used_pct`.
    pub metric: String,
    /// Unix seconds.
    pub ts: i64,
    pub value: f64,
}

/// Whether a host answered a collection, and why not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reach {
    pub host: String,
    pub ts: i64,
    pub reachable: bool,
    pub error: Option<String>,
}

/// A collection's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CollectionId(pub i64);

/// Every host with reach records, as table `hosts(h)`: the index on
/// (host, collection) is walked one host at a time (a skip scan).
const REACH_HOSTS: &str = "WITH RECURSIVE hosts(h) AS (
    SELECT (SELECT MIN(host) FROM host_reach)
    UNION ALL
    SELECT (SELECT MIN(host) FROM host_reach WHERE host > hosts.h) FROM hosts WHERE h IS NOT NULL
)";

/// A `host, metric, ts, value` row.
fn sample_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Sample> {
    Ok(Sample {
        host: row.get(0)?,
        metric: row.get(1)?,
        ts: row.get(2)?,
        value: row.get(3)?,
    })
}

/// A `host, ts, reachable, error` row.
pub(super) fn reach_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Reach> {
    Ok(Reach {
        host: row.get(0)?,
        ts: row.get(1)?,
        reachable: row.get(2)?,
        error: row.get(3)?,
    })
}

impl Store {
    /// Starts a collection over `host_count` hosts at `ts`.
    pub fn begin_collection(
        &mut self,
        ts: i64,
        host_count: usize,
    ) -> Result<CollectionId, StoreError> {
        let err = self.sql_err();
        self.conn
            .execute(
                "INSERT INTO collections (started_at, host_count) VALUES (?1, ?2)",
                params![ts, host_count as i64],
            )
            .map_err(&err)?;
        Ok(CollectionId(self.conn.last_insert_rowid()))
    }

    /// Stores hosts' samples and reach in one transaction: a collection's
    /// batch is all there or not at all.
    pub fn record_samples(
        &mut self,
        collection: CollectionId,
        samples: &[Sample],
        reach: &[Reach],
    ) -> Result<(), StoreError> {
        let (tx, err) = self.write_tx()?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO samples (host, metric, ts, collection_id, value)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&err)?;
            let mut latest = tx
                .prepare_cached(
                    "INSERT INTO latest_samples (host, metric, ts, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (host, metric) DO UPDATE SET ts = excluded.ts, value = excluded.value
                     WHERE excluded.ts >= latest_samples.ts",
                )
                .map_err(&err)?;
            for s in samples {
                insert
                    .execute(params![s.host, s.metric, s.ts, collection.0, s.value])
                    .map_err(&err)?;
                latest
                    .execute(params![s.host, s.metric, s.ts, s.value])
                    .map_err(&err)?;
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO host_reach (collection_id, host, ts, reachable, error)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&err)?;
            for r in reach {
                insert
                    .execute(params![collection.0, r.host, r.ts, r.reachable, r.error])
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// Marks a collection finished at `ts`.
    pub fn finish_collection(
        &mut self,
        collection: CollectionId,
        ts: i64,
    ) -> Result<(), StoreError> {
        let err = self.sql_err();
        self.conn
            .execute(
                "UPDATE collections SET finished_at = ?2 WHERE id = ?1",
                params![collection.0, ts],
            )
            .map_err(&err)?;
        Ok(())
    }

    /// Samples of `metric` for `hosts` (every host when empty) with
    /// `since <= ts <= until`, ordered by host then time.
    pub fn samples(
        &self,
        hosts: &[String],
        metric: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<Sample>, StoreError> {
        let mut out = self.query_rows(
            "SELECT host, metric, ts, value FROM samples
             WHERE metric = ?1 AND ts BETWEEN ?2 AND ?3 ORDER BY host, ts, collection_id",
            params![metric, since, until],
            sample_row,
        )?;
        if !hosts.is_empty() {
            let wanted: std::collections::HashSet<&String> = hosts.iter().collect();
            out.retain(|s| wanted.contains(&s.host));
        }
        Ok(out)
    }

    /// Each host's newest value of every metric, ordered by host and metric.
    pub fn latest_samples(&self) -> Result<Vec<Sample>, StoreError> {
        self.query_rows(
            "SELECT host, metric, ts, value FROM latest_samples ORDER BY host, metric",
            [],
            sample_row,
        )
    }

    /// Each host's latest reach record.
    pub fn latest_reach(&self) -> Result<Vec<Reach>, StoreError> {
        // One index seek per host (REACH_HOSTS) rather than grouping every
        // collection's rows.
        self.query_rows(
            &format!(
                "{REACH_HOSTS}
                 SELECT r.host, r.ts, r.reachable, r.error FROM hosts
                 JOIN host_reach r ON r.host = hosts.h AND r.collection_id =
                     (SELECT MAX(collection_id) FROM host_reach WHERE host = hosts.h)
                 ORDER BY r.host"
            ),
            [],
            reach_row,
        )
    }

    /// When `host` was last reached, if ever.
    pub fn last_seen(&self, host: &str) -> Result<Option<i64>, StoreError> {
        let err = self.sql_err();
        self.conn
            .query_row(
                "SELECT MAX(ts) FROM host_reach WHERE host = ?1 AND reachable = 1",
                [host],
                |row| row.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(&err)
    }
}

/// The newest collection: when it started and finished and how many
/// hosts it covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CollectionSummary {
    pub started_at: i64,
    /// `None` while it runs (or if its herd died).
    pub finished_at: Option<i64>,
    pub host_count: usize,
}

impl Store {
    /// The newest finished collection, if any.
    pub fn last_collection(&self) -> Result<Option<CollectionSummary>, StoreError> {
        let err = self.sql_err();
        self.conn
            .query_row(
                "SELECT started_at, finished_at, host_count FROM collections
                 WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    Ok(CollectionSummary {
                        started_at: row.get(0)?,
                        finished_at: row.get(1)?,
                        host_count: row.get::<_, i64>(2)?.max(0) as usize,
                    })
                },
            )
            .optional()
            .map_err(&err)
    }

    /// Every sample of `host` with `since <= ts <= until`, ordered by
    /// metric then time (one host's charts).
    pub fn host_samples(
        &self,
        host: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<Sample>, StoreError> {
        let mut out = self.query_rows(
            "SELECT host, metric, ts, value FROM samples
             WHERE host = ?1 AND ts BETWEEN ?2 AND ?3",
            params![host, since, until],
            sample_row,
        )?;
        out.sort_by(|a, b| a.metric.cmp(&b.metric).then(a.ts.cmp(&b.ts)));
        Ok(out)
    }

    /// Each host's last time reached, by host.
    pub fn last_seen_all(&self) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, Option<i64>)> = self.query_rows(
            &format!(
                "{REACH_HOSTS}
                 SELECT h, (SELECT ts FROM host_reach WHERE host = h AND reachable = 1
                            ORDER BY collection_id DESC LIMIT 1)
                 FROM hosts WHERE h IS NOT NULL"
            ),
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(host, ts)| Some((host, ts?)))
            .collect())
    }
}

/// What a retention pass removed or merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Samples deleted for being older than the retention.
    pub deleted: usize,
    /// Samples replaced by their bucket's average.
    pub merged: usize,
}

impl Store {
    /// Deletes samples, reach records and collections older than `before`
    /// (unix seconds) in one transaction; returns the samples deleted.
    pub fn prune_metrics(&mut self, before: i64) -> Result<usize, StoreError> {
        let (tx, err) = self.write_tx()?;
        let deleted = tx
            .execute("DELETE FROM samples WHERE ts < ?1", [before])
            .map_err(&err)?;
        tx.execute("DELETE FROM latest_samples WHERE ts < ?1", [before])
            .map_err(&err)?;
        // host_reach rows go with their collections (ON DELETE CASCADE).
        tx.execute(
            "DELETE FROM collections WHERE COALESCE(finished_at, started_at) < ?1",
            [before],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(deleted)
    }

    /// Replaces the samples with `since <= ts < until` by one average per
    /// host, metric and `bucket`-second interval, stamped at the interval's
    /// start. `until` is rounded down to a bucket boundary so a bucket is
    /// never averaged half-full; a bucket already reduced to one point at
    /// its start is left alone, so repeating a pass changes nothing.
    /// Returns how many samples were merged away.
    pub fn downsample(&mut self, since: i64, until: i64, bucket: i64) -> Result<usize, StoreError> {
        let until = until.div_euclid(bucket) * bucket;
        let since = since.div_euclid(bucket) * bucket;
        let (tx, err) = self.write_tx()?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS downsampled (
                 host TEXT, metric TEXT, ts INTEGER, value REAL, n INTEGER);
             DELETE FROM temp.downsampled;",
        )
        .map_err(&err)?;
        tx.execute(
            "INSERT INTO temp.downsampled (host, metric, ts, value, n)
             SELECT host, metric, (ts / ?3) * ?3 AS b, AVG(value), COUNT(*) FROM samples
             WHERE ts >= ?1 AND ts < ?2
             GROUP BY metric, host, b
             HAVING COUNT(*) > 1 OR MIN(ts) <> b",
            params![since, until, bucket],
        )
        .map_err(&err)?;
        let removed = tx
            .execute(
                "DELETE FROM samples WHERE ts >= ?1 AND ts < ?2 AND EXISTS (
                     SELECT 1 FROM temp.downsampled d
                     WHERE d.metric = samples.metric AND d.host = samples.host
                       AND d.ts = (samples.ts / ?3) * ?3)",
                params![since, until, bucket],
            )
            .map_err(&err)?;
        let added = tx
            .execute(
                "INSERT INTO samples (host, metric, ts, value)
                 SELECT host, metric, ts, value FROM temp.downsampled",
                [],
            )
            .map_err(&err)?;
        tx.execute("DELETE FROM temp.downsampled", [])
            .map_err(&err)?;
        // A newest value inside the span (a host silent since) now lives on
        // as its bucket's average.
        tx.execute(
            "UPDATE latest_samples SET (ts, value) = (
                 SELECT s.ts, s.value FROM samples s
                 WHERE s.metric = latest_samples.metric AND s.host = latest_samples.host
                 ORDER BY s.ts DESC LIMIT 1)
             WHERE ts >= ?1 AND ts < ?2",
            params![since, until],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(removed.saturating_sub(added))
    }

    /// Every metric name stored, sorted (for "did you mean" hints).
    pub fn metric_names(&self) -> Result<Vec<String>, StoreError> {
        let err = self.sql_err();
        let mut query = self
            .conn
            .prepare_cached("SELECT DISTINCT metric FROM samples ORDER BY metric")
            .map_err(&err)?;
        let rows = query.query_map([], |row| row.get(0)).map_err(&err)?;
        rows.collect::<Result<_, _>>().map_err(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_round_trip_and_latest_picks_the_newest_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let c = store.begin_collection(100, 2).unwrap();
        let s = |host: &str, ts, value| Sample {
            host: host.into(),
            metric: "load.1".into(),
            ts,
            value,
        };
        let reach = |host: &str, ts, ok: bool| Reach {
            host: host.into(),
            ts,
            reachable: ok,
            error: (!ok).then(|| "connection refused".into()),
        };
        store
            .record_samples(
                c,
                &[s("a", 100, 0.5), s("b", 100, 1.5)],
                &[reach("a", 100, true), reach("b", 100, true)],
            )
            .unwrap();
        let c2 = store.begin_collection(160, 2).unwrap();
        store
            .record_samples(
                c2,
                &[s("a", 160, 0.7)],
                &[reach("a", 160, true), reach("b", 160, false)],
            )
            .unwrap();
        store.finish_collection(c2, 161).unwrap();

        let a = store.samples(&["a".into()], "load.1", 0, 1000).unwrap();
        assert_eq!(a.iter().map(|s| s.value).collect::<Vec<_>>(), [0.5, 0.7]);
        let latest = store.latest_samples().unwrap();
        assert_eq!(latest, [s("a", 160, 0.7), s("b", 100, 1.5)]);
        let reach_now = store.latest_reach().unwrap();
        assert!(reach_now[0].reachable && !reach_now[1].reachable);
        assert_eq!(store.last_seen("b").unwrap(), Some(100));
        assert_eq!(store.last_seen("zz").unwrap(), None);
    }

    #[test]
    fn downsampling_averages_buckets_once_and_pruning_drops_old_points() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let c = store.begin_collection(0, 1).unwrap();
        // Points every 60 s from 0 to 1140 (20 points, values 0..19).
        let samples: Vec<Sample> = (0..20)
            .map(|i| Sample {
                host: "a".into(),
                metric: "load.1".into(),
                ts: i * 60,
                value: i as f64,
            })
            .collect();
        store.record_samples(c, &samples, &[]).unwrap();
        // 5-minute buckets below 1000 s: rounded down to 900, so three
        // buckets (0, 300, 600) of five points each.
        let merged = store.downsample(0, 1000, 300).unwrap();
        assert_eq!(merged, 12);
        let all = store.samples(&[], "load.1", 0, 10_000).unwrap();
        let points: Vec<(i64, f64)> = all.iter().map(|s| (s.ts, s.value)).collect();
        assert_eq!(
            &points[..4],
            [(0, 2.0), (300, 7.0), (600, 12.0), (900, 15.0)]
        );
        assert_eq!(points.len(), 3 + 5);
        // A second pass changes nothing.
        assert_eq!(store.downsample(0, 1000, 300).unwrap(), 0);
        assert_eq!(store.samples(&[], "load.1", 0, 10_000).unwrap(), all);

        // The newest point (1140) is outside the span: still the latest.
        assert_eq!(store.latest_samples().unwrap()[0].ts, 1140);
        let merged = store.downsample(0, 1200, 600).unwrap();
        assert!(merged > 0);
        // Now it is inside: the latest is its bucket's average.
        let latest = &store.latest_samples().unwrap()[0];
        let all = store.samples(&[], "load.1", 0, 10_000).unwrap();
        assert_eq!(
            (latest.ts, latest.value),
            (all.last().unwrap().ts, all.last().unwrap().value)
        );
        assert_eq!(latest.ts, 600);

        assert_eq!(store.prune_metrics(600).unwrap(), 1);
        assert_eq!(store.latest_samples().unwrap().len(), 1);
        assert_eq!(store.prune_metrics(601).unwrap(), 1);
        assert!(store.latest_samples().unwrap().is_empty());
        assert!(store.samples(&[], "load.1", 0, 10_000).unwrap().is_empty());
    }
}
