//! `herd deploy`'s rollout: batch after batch (the policy is
//! [`crate::engine::rollout`]), each batch's results to the store as it
//! ends, stopping where the policy says; with `--rollback-batch` the
//! stopping batch's healthy hosts go back to their previous release.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use super::{Ended, HostEnd, Job, record, run_batch};
use crate::engine::fanout::FleetHost;
use crate::engine::rollout::Rollout;
use crate::engine::{HostResult, HostStatus};
use crate::release::{Artifact, Plan, Status};
use crate::ssh::SshOptions;
use crate::store::{RunId, Store, StoreError};

/// What a rollout runs: the hosts' plans, the release (none: roll back),
/// the policy, and how.
pub struct Spec<'a> {
    pub options: &'a SshOptions,
    pub forks: usize,
    pub plans: &'a HashMap<String, Plan>,
    pub artifact: Option<&'a Artifact>,
    pub rollout: &'a Rollout,
    /// `--rollback-batch`: the stopping batch's healthy hosts roll back.
    pub rollback_batch: bool,
}

/// What the rollout shows as it goes (the printer is the caller's).
pub enum Shown<'a> {
    /// A batch starts (only when there are several).
    Batch {
        index: usize,
        count: usize,
        hosts: &'a [FleetHost],
    },
    /// A batch (or its rollback) ended: each host and its result.
    Ended(&'a [Ended], &'a [HostResult]),
    /// The stopping batch's healthy hosts are rolled back.
    RollingBack,
}

/// How the rollout ended.
pub struct Rolled {
    /// Each host's last result, in the order they ended.
    pub results: Vec<HostResult>,
    /// Why it stopped early, for the admin.
    pub stopped: Option<String>,
    pub interrupted: bool,
}

/// herd's own failure mid-rollout (exit code 1: nothing the admin typed).
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Runs every batch of `batches` in order, recording each in run `run_id`.
pub fn roll_out(
    spec: &Spec<'_>,
    batches: &[Vec<FleetHost>],
    store: &mut Store,
    run_id: RunId,
    started: Instant,
    show: &mut dyn FnMut(Shown<'_>) -> io::Result<()>,
) -> Result<Rolled, RolloutError> {
    let job = match spec.artifact {
        Some(a) => Job::Deploy(a.clone()),
        None => Job::Rollback,
    };
    let mut all: Vec<HostResult> = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        if batches.len() > 1 {
            show(Shown::Batch {
                index,
                count: batches.len(),
                hosts: batch,
            })?;
        }
        let ended = run_batch(spec.options, batch, spec.forks, spec.plans, job.clone())?;
        let results = record(store, run_id, &ended, spec.artifact, started)?;
        show(Shown::Ended(&ended, &results))?;
        let interrupted = results.iter().any(|r| r.status == HostStatus::Interrupted);
        let failed = results
            .iter()
            .filter(|r| r.status != HostStatus::Ok)
            .count();
        all.extend(results.iter().cloned());
        if interrupted {
            return Ok(Rolled {
                results: all,
                stopped: None,
                interrupted,
            });
        }
        let Some(stop) = spec.rollout.stops(failed, batch.len()) else {
            continue;
        };
        let left: usize = batches[index + 1..].iter().map(Vec::len).sum();
        let stopped = format!(
            "rollout stopped: {} of {} hosts in batch {} failed ({:.0}%), above --max-fail-percentage {}; {left} host(s) not started",
            stop.failed,
            stop.batch,
            index + 1,
            stop.percent,
            spec.rollout.max_fail_percentage.unwrap_or(0.0)
        );
        let deployed: Vec<FleetHost> = batch
            .iter()
            .filter(|h| {
                ended.iter().any(|(name, e, _)| {
                    name == h.name()
                        && matches!(e, HostEnd::Report(r, _, _) if r.status == Status::Deployed)
                })
            })
            .cloned()
            .collect();
        if spec.rollback_batch && spec.artifact.is_some() && !deployed.is_empty() {
            show(Shown::RollingBack)?;
            let ended = run_batch(
                spec.options,
                &deployed,
                spec.forks,
                spec.plans,
                Job::Rollback,
            )?;
            let results = record(store, run_id, &ended, None, started)?;
            show(Shown::Ended(&ended, &results))?;
            // A host's last result is the one that counts (as in the store).
            all.retain(|r| !results.iter().any(|n| n.host == r.host));
            all.extend(results);
        }
        return Ok(Rolled {
            results: all,
            stopped: Some(stopped),
            interrupted: false,
        });
    }
    Ok(Rolled {
        results: all,
        stopped: None,
        interrupted: false,
    })
}
