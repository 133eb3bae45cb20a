//! How long points live and how fine they stay: raw for a day, 5-minute
//! averages up to a week, hourly averages after that, nothing beyond
//! `--keep`. Old points are what history charts show at a coarse scale
//! anyway, and this keeps 90 days of a 5-minute cron collect at about
//! 1/12 of the raw size.

use crate::store::{Pruned, Store, StoreError};

const DAY: i64 = 86_400;

/// (age after which points are merged, bucket seconds), finest first.
pub const TIERS: &[(i64, i64)] = &[(DAY, 300), (7 * DAY, 3600)];

/// How far back a routine pass (after each collect) looks for points to
/// merge; `herd collect --prune` looks at everything.
pub const ROUTINE_WINDOW: i64 = 2 * DAY;

/// Applies retention at `now`: deletes points older than `keep` seconds,
/// then merges each tier. With `full`, every point is considered; else only
/// those within [`ROUTINE_WINDOW`] of each tier's edge (cheap enough to do
/// after every collect).
pub fn apply(store: &mut Store, now: i64, keep: i64, full: bool) -> Result<Pruned, StoreError> {
    let deleted = store.prune_metrics(now - keep)?;
    let mut merged = 0;
    for &(age, bucket) in TIERS {
        let until = now - age;
        let since = if full { 0 } else { until - ROUTINE_WINDOW };
        merged += store.downsample(since, until, bucket)?;
    }
    Ok(Pruned { deleted, merged })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sample;

    #[test]
    fn old_points_become_coarse_and_very_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let now = 100 * DAY;
        // A point every minute over the last 10 days.
        let samples: Vec<Sample> = (0..10 * 24 * 60)
            .map(|i| Sample {
                host: "a".into(),
                metric: "m".into(),
                ts: now - i * 60,
                value: 1.0,
            })
            .collect();
        let c = store.begin_collection(now, 1).unwrap();
        store.record_samples(c, &samples, &[]).unwrap();
        let pruned = apply(&mut store, now, 9 * DAY, true).unwrap();
        assert!(pruned.deleted > 0 && pruned.merged > 0, "{pruned:?}");
        let left = store.samples(&[], "m", 0, now).unwrap();
        assert!(left.iter().all(|s| s.ts >= now - 9 * DAY));
        let count = |from: i64, to: i64| left.iter().filter(|s| s.ts >= from && s.ts < to).count();
        // Last day raw (one a minute), days 1-7 one per 5 minutes, older hourly.
        assert_eq!(count(now - DAY + 60, now + 1), 24 * 60);
        assert_eq!(count(now - 6 * DAY, now - 2 * DAY), 4 * 24 * 12);
        assert_eq!(count(now - 9 * DAY, now - 8 * DAY), 24);
        assert!(left.iter().all(|s| s.value == 1.0));
        // Applying it again changes nothing.
        assert_eq!(
            apply(&mut store, now, 9 * DAY, true).unwrap(),
            Pruned::default()
        );
    }
}
