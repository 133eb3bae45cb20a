//! `herd deploy`'s rollout, batch by batch: each host of a batch deploys
//! (or rolls back) its release over the pool, its steps collected as they
//! happen; then the batch's steps and host results go to the store. The
//! rollout policy (batches, when to stop) is [`crate::engine::rollout`].

mod plan;
mod rollout;

pub use plan::{PlanError, PlanTemplate};
pub use rollout::{Rolled, RolloutError, Shown, Spec, roll_out};

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::fanout::{self, FleetHost, Outcome};
use crate::engine::{HostResult, HostStatus};
use crate::release::{self, Artifact, Plan, Report, Status, Step, StepKind};
use crate::remote::Transport;
use crate::ssh::{Pool, SshOptions};
use crate::store::{RunId, Store, StoreError};

/// A host of a batch: its name, how its job ended, and its steps.
pub type Ended = (String, HostEnd, Vec<Step>);

/// What each host of a batch does.
#[derive(Clone)]
pub enum Job {
    Deploy(Artifact),
    Rollback,
}

impl From<&Option<Artifact>> for Job {
    fn from(artifact: &Option<Artifact>) -> Job {
        match artifact {
            Some(a) => Job::Deploy(a.clone()),
            None => Job::Rollback,
        }
    }
}

/// How a host's job ended, with its steps.
pub enum HostEnd {
    /// The host's report, how long it took, and whether a failure came
    /// from the connection dying (the host is then unreachable).
    Report(Report, Duration, bool),
    Unreachable(String),
    /// Interrupted (status interrupted) or panicked (status failed, an
    /// internal error): only the steps say where it got to.
    Cut(HostStatus, String),
}

/// Runs the job on every host of the batch; steps are collected as they
/// happen, so an interrupted host still has its steps.
pub fn run_batch(
    options: &SshOptions,
    batch: &[FleetHost],
    forks: usize,
    plans: &HashMap<String, Plan>,
    job: Job,
) -> io::Result<Vec<Ended>> {
    let steps: Arc<Mutex<HashMap<String, Vec<Step>>>> = Arc::default();
    let pool = Pool::new(options.clone());
    let outcomes = fanout::block_on(fanout::for_each_host(pool, batch, forks, |pool, host| {
        let plan = plans[host.name()].clone();
        let (job, steps) = (job.clone(), steps.clone());
        async move {
            let started = Instant::now();
            let name = host.name().to_string();
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(err) => return HostEnd::Unreachable(err.to_string()),
            };
            let transport = Transport::Ssh(conn);
            let log = move |step: Step| {
                let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
                steps.entry(name.clone()).or_default().push(step);
            };
            let report = match &job {
                Job::Deploy(artifact) => {
                    release::deploy(&transport, &host.exec, &plan, artifact, &log).await
                }
                Job::Rollback => release::rollback(&transport, &host.exec, &plan, &log).await,
            };
            // A failure because the connection died: the host is
            // unreachable, as in run and play.
            let ok = matches!(report.status, Status::Deployed | Status::Unchanged);
            let lost = !ok && transport.is_lost().await;
            HostEnd::Report(report, started.elapsed(), lost)
        }
    }))?;
    let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
    Ok(outcomes
        .into_iter()
        .map(|(host, outcome)| {
            let end = match outcome {
                Outcome::Done(end) => end,
                Outcome::Interrupted => HostEnd::Cut(HostStatus::Interrupted, "interrupted".into()),
                Outcome::Panicked(why) => HostEnd::Cut(HostStatus::Failed, why),
            };
            let host_steps = steps.remove(&host).unwrap_or_default();
            (host, end, host_steps)
        })
        .collect())
}

/// Writes the batch's steps and host results to the store; returns the results.
pub fn record(
    store: &mut Store,
    run: RunId,
    ended: &[Ended],
    artifact: Option<&Artifact>,
    started: Instant,
) -> Result<Vec<HostResult>, StoreError> {
    let mut steps = Vec::new();
    let mut results = Vec::new();
    for (host, end, host_steps) in ended {
        steps.extend(host_steps.iter().map(|s| (host.clone(), s.clone())));
        let result = |status, stdout: String, error: Option<String>, duration| HostResult {
            stdout,
            ..HostResult::without_output(host.clone(), status, error, duration)
        };
        results.push(match end {
            HostEnd::Report(report, took, lost) => {
                let ok = matches!(report.status, Status::Deployed | Status::Unchanged)
                    || (report.status == Status::RolledBack && artifact.is_none());
                let line = format!("{}: {}", status_word(report.status), report.message);
                if ok {
                    result(HostStatus::Ok, line, None, *took)
                } else if *lost {
                    result(HostStatus::Unreachable, String::new(), Some(line), *took)
                } else {
                    result(HostStatus::Failed, String::new(), Some(line), *took)
                }
            }
            HostEnd::Unreachable(why) => result(
                HostStatus::Unreachable,
                String::new(),
                Some(format!("{why} (nothing changed on the host)")),
                started.elapsed(),
            ),
            HostEnd::Cut(status, why) => {
                let where_ = where_it_stopped(host_steps, artifact);
                steps.push((
                    host.clone(),
                    Step {
                        kind: StepKind::Failed,
                        release: String::new(),
                        detail: Some(format!("{why}: {where_}")),
                        started_at: jiff::Timestamp::now().as_millisecond(),
                        duration: Duration::ZERO,
                    },
                ));
                result(
                    *status,
                    String::new(),
                    Some(format!("{why}: {where_}")),
                    started.elapsed(),
                )
            }
        });
    }
    store.record_release_steps(run, &steps)?;
    store.record_results(run, &results)?;
    Ok(results)
}

/// Which release a host cut off mid-way is on, from its last switch.
fn where_it_stopped(steps: &[Step], artifact: Option<&Artifact>) -> String {
    let last_switch = steps
        .iter()
        .rev()
        .find(|s| matches!(s.kind, StepKind::Activated | StepKind::RolledBack));
    let after = steps.last().map_or("before any step".to_string(), |s| {
        format!("after {}", s.kind.as_str())
    });
    match (last_switch, artifact) {
        (Some(s), _) => format!("{after}: on release {} (current was switched)", s.release),
        (None, Some(a)) => format!("{after}: still on its old release ({} not activated)", a.id),
        (None, None) => format!("{after}: on the release it had"),
    }
}

/// What a release report's status is called in the store.
fn status_word(status: Status) -> &'static str {
    match status {
        Status::Deployed => "deployed",
        Status::Unchanged => "unchanged",
        Status::RolledBack => "rolled back",
        Status::Failed => "failed",
    }
}
