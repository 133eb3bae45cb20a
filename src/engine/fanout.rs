//! Runs one async job per host, at most `forks` at once, over a shared
//! connection pool: the fan-out behind every subcommand that does the same
//! thing on many hosts (deploy, collect, keys, backup, audit).
//!
//! A host whose job fails or panics never stops the others: a panic is that
//! host's failure ("internal error: ..."). Ctrl-C stops the fan-out: the
//! hosts that had not finished are reported as interrupted, so the caller
//! can record them as such. `herd run` and `herd play` use [`fan_out`]
//! directly (they stream results as hosts finish); the other commands use
//! [`for_each_host`].

use std::collections::HashMap;
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
    /// The text reads "internal error: ..." (see [`fan_out`]).
    Panicked(String),
}

/// Runs every `(host, job)`, at most `forks` at once, and calls
/// `done(index, result)` as each one ends, in the order they end. This is
/// the one fan-out under every command (run, play's tasks, deploy, collect,
/// ...), so they share its semantics:
///
/// - A job that panics never takes the others down and never goes missing:
///   `done` gets `Err("internal error: ...")` for it, and the caller
///   reports the host as failed with that text.
/// - Dropping the returned future (Ctrl-C) aborts every job still running
///   or waiting for a slot; the caller reports the hosts `done` was not
///   called for as interrupted. [`until_ctrl_c`] does the watching.
///
/// A job does not start before it has a fork slot, so a job may report
/// its own start. In debug builds, `HERD_TEST_PANIC_HOST=NAME` makes the
/// job of host NAME panic as it starts (the fault suite's way to inject a
/// bug; release builds ignore it).
pub async fn fan_out<T, Fut>(
    jobs: Vec<(String, Fut)>,
    forks: usize,
    mut done: impl FnMut(usize, Result<T, String>),
) where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let forks = Arc::new(Semaphore::new(forks.max(1)));
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::new();
    for (index, (host, work)) in jobs.into_iter().enumerate() {
        let forks = forks.clone();
        let handle = tasks.spawn(async move {
            let _permit = forks.acquire_owned().await;
            panic_if_asked(&host);
            work.await
        });
        index_of.insert(handle.id(), index);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((id, value)) => done(index_of[&id], Ok(value)),
            Err(err) => {
                let index = index_of[&err.id()];
                let why = if err.is_panic() {
                    panic_text(err.into_panic())
                } else {
                    "the host's task was cancelled".to_string()
                };
                tracing::error!("a host task panicked: {why}");
                done(index, Err(format!("internal error: {why} (a bug in herd)")));
            }
        }
    }
}

/// Runs `future` until it ends or Ctrl-C comes; `None` on Ctrl-C (the
/// future is dropped, which aborts a [`fan_out`] inside it).
pub async fn until_ctrl_c<F: Future>(future: F) -> Option<F::Output> {
    tokio::select! {
        output = future => Some(output),
        _ = tokio::signal::ctrl_c() => None,
    }
}

/// The message of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`).
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&str>() {
            Ok(text) => text.to_string(),
            Err(_) => "a host task panicked".to_string(),
        },
    }
}

/// The test-only panic hook of [`fan_out`]: debug builds only.
fn panic_if_asked(host: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("HERD_TEST_PANIC_HOST").is_ok_and(|h| h == host) {
        panic!("HERD_TEST_PANIC_HOST asked {host}'s task to panic");
    }
    let _ = host;
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
    let jobs = hosts
        .iter()
        .map(|host| (host.name().to_string(), job(pool.clone(), host.clone())))
        .collect();
    let mut outcomes: Vec<Option<Outcome<T>>> = hosts.iter().map(|_| None).collect();
    let finished = until_ctrl_c(fan_out(jobs, forks, |index, result| {
        outcomes[index] = Some(match result {
            Ok(value) => Outcome::Done(value),
            Err(why) => Outcome::Panicked(why),
        })
    }))
    .await;
    if finished.is_none() {
        eprintln!("herd: interrupted: stopping; hosts not finished are recorded as interrupted");
    }
    pool.close_all().await;
    hosts
        .iter()
        .zip(outcomes)
        .map(|(host, outcome)| {
            (
                host.name().to_string(),
                outcome.unwrap_or(Outcome::Interrupted),
            )
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
