//! A collection's results into the store: each reached host's samples,
//! every host's reachability, and what the collection did.

use super::HostCollect;
use crate::store::{CollectionId, Pruned, Reach, Sample, Store, StoreError};

/// What a collection did (`herd collect` prints it).
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub collection: i64,
    pub ts: i64,
    pub hosts: usize,
    pub reached: usize,
    pub unreachable: Vec<Unreached>,
    pub samples: usize,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<Pruned>,
}

#[derive(Debug, serde::Serialize)]
pub struct Unreached {
    pub host: String,
    pub error: String,
}

/// Records a collection's results, as of `now`, and ends it; the summary
/// has no retention yet (the caller applies it).
pub fn record(
    store: &mut Store,
    collection: CollectionId,
    now: i64,
    results: Vec<(String, HostCollect)>,
) -> Result<Summary, StoreError> {
    let hosts = results.len();
    let mut samples = Vec::new();
    let mut reach = Vec::with_capacity(results.len());
    let mut summary = Summary {
        collection: collection.0,
        ts: now,
        hosts,
        reached: 0,
        unreachable: Vec::new(),
        samples: 0,
        warnings: Vec::new(),
        retention: None,
    };
    for (host, result) in results {
        match result {
            HostCollect::Reached(reading) => {
                summary.reached += 1;
                summary
                    .warnings
                    .extend(reading.warnings.iter().map(|w| format!("{host}: {w}")));
                samples.extend(reading.values.into_iter().map(|(metric, value)| Sample {
                    host: host.clone(),
                    metric,
                    ts: now,
                    value,
                }));
                reach.push(Reach {
                    host,
                    ts: now,
                    reachable: true,
                    error: None,
                });
            }
            HostCollect::Unreachable(error) => {
                reach.push(Reach {
                    host: host.clone(),
                    ts: now,
                    reachable: false,
                    error: Some(error.clone()),
                });
                summary.unreachable.push(Unreached { host, error });
            }
        }
    }
    summary.samples = samples.len();
    store.record_samples(collection, &samples, &reach)?;
    store.finish_collection(collection, jiff::Timestamp::now().as_second())?;
    Ok(summary)
}
