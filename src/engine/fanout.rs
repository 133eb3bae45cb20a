//! Runs one async job per host, at most `forks` at once, over a shared
//! connection pool: the fan-out behind every subcommand that does the same
//! thing on many hosts (deploy, collect, keys, backup, audit).
//!
//! A host whose job fails or panics never stops the others. Ctrl-C stops the
//! fan-out: the hosts that had not finished are reported as interrupted, so
//! the caller can record them as such.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ssh::{ExecOptions, Pool, Target};

/// A host ready to be reached: its connection target and how to run
/// commands there (become, from the command line and inventory).
#[derive(Debug, Clone)]
pub struct FleetHost {
    pub target: Target,
    pub exec: ExecOptions,
}

impl FleetHost {
    /// The inventory name of the host.
    pub fn name(&self) -> &str {
        &self.target.name
    }
}

/// How one host's job ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The job ran to its end and returned this (which may itself describe a
    /// failure).
    Done(T),
    /// Ctrl-C came before the job finished.
    Interrupted,
    /// The job panicked: a bug, reported rather than taking the fleet down.
    Panicked(String),
}

/// Runs `job` for every host, at most `forks` at once, and returns each
/// host's outcome in the order of `hosts`. Returns early on Ctrl-C with the
/// unfinished hosts as [`Outcome::Interrupted`]; the pool's connections are
/// closed either way. `job` connects through the pool itself, so it can
/// report an unreachable host in its own terms.
pub async fn for_each_host<T, F, Fut>(
    pool: Arc<Pool>,
    hosts: &[FleetHost],
    forks: usize,
    job: F,
) -> Vec<(String, Outcome<T>)>
where
    T: Send + 'static,
    F: Fn(Arc<Pool>, FleetHost) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let forks = Arc::new(Semaphore::new(forks.max(1)));
    let mut tasks = JoinSet::new();
    for (index, host) in hosts.iter().enumerate() {
        let forks = forks.clone();
        let work = job(pool.clone(), host.clone());
        tasks.spawn(async move {
            let Ok(_permit) = forks.acquire_owned().await else {
                return (index, None);
            };
            (index, Some(work.await))
        });
    }
    let mut outcomes: Vec<Option<Outcome<T>>> = hosts.iter().map(|_| None).collect();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((index, Some(value)))) => outcomes[index] = Some(Outcome::Done(value)),
                Some(Ok((_, None))) => {}
                Some(Err(err)) if err.is_panic() => {
                    tracing::error!("a host task panicked: {err}");
                    // The index is lost with the panic; it is filled in below.
                }
                Some(Err(_)) => {}
            },
            _ = &mut ctrl_c => {
                eprintln!("herd: interrupted: stopping; hosts not finished are recorded as interrupted");
                tasks.abort_all();
                break;
            }
        }
    }
    let interrupted = !tasks.is_empty();
    tasks.shutdown().await;
    pool.close_all().await;
    hosts
        .iter()
        .zip(outcomes)
        .map(|(host, outcome)| {
            let outcome = outcome.unwrap_or(if interrupted {
                Outcome::Interrupted
            } else {
                Outcome::Panicked("the host's task panicked (a bug in herd)".into())
            });
            (host.name().to_string(), outcome)
        })
        .collect()
}

/// Builds a multi-threaded tokio runtime and runs `future` on it, after
/// raising the open-file limit (one socket per host).
pub fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    if let Err(err) = crate::ssh::raise_nofile_limit() {
        tracing::warn!("cannot raise the open-file limit: {err}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
