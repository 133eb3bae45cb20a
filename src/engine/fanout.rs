//! The one fan-out under every command that does the same thing on many
//! hosts (run, play's tasks, deploy, collect, keys, backup, audit,
//! releases): one async job per host, at most `forks` at once.
//!
//! Every command gets the same semantics from [`fan_out`]:
//! - A host whose job fails or panics never stops the others: a panic is
//!   that host's failure ("internal error: ..."), never a missing host.
//! - Ctrl-C ([`Interrupt`]) stops the fan-out: the hosts that had not
//!   finished come back as [`Outcome::Interrupted`], so the caller records
//!   them as such.
//! - Each host's start (it got a fork slot) and end are reported as they
//!   happen; the outcomes come back in the order the jobs were given.
//!
//! [`for_each_host`] is the whole round for the commands that need nothing
//! more (it watches Ctrl-C itself and closes the pool).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};
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
    /// The text reads "internal error: ... (a bug in herd)".
    Panicked(String),
}

impl<T> Outcome<T> {
    /// The job's value; a panic's text as the error; `None` when interrupted.
    pub fn finished(self) -> Option<Result<T, String>> {
        match self {
            Outcome::Done(value) => Some(Ok(value)),
            Outcome::Panicked(why) => Some(Err(why)),
            Outcome::Interrupted => None,
        }
    }
}

/// What [`fan_out`] reports while it runs, by the job's index.
#[derive(Debug)]
pub enum Progress<'a, T> {
    /// The job got its fork slot and starts.
    Started(usize),
    /// The job ended (done or panicked; interrupted jobs are only in the
    /// returned outcomes).
    Finished(usize, &'a Outcome<T>),
}

/// Whether Ctrl-C came. One watch serves a whole command, so a Ctrl-C that
/// comes between two fan-outs (a play's tasks) is not lost.
#[derive(Debug, Clone)]
pub struct Interrupt {
    pressed: watch::Receiver<bool>,
}

impl Interrupt {
    /// Watches Ctrl-C from now on; call it inside the runtime.
    pub fn ctrl_c() -> Interrupt {
        let (tx, pressed) = watch::channel(false);
        // The watcher ends with the last copy of the `Interrupt` (a
        // server runs many rounds).
        tokio::spawn(async move {
            tokio::select! {
                pressed = tokio::signal::ctrl_c() => {
                    if pressed.is_ok() {
                        let _ = tx.send(true);
                    }
                }
                () = tx.closed() => {}
            }
        });
        Interrupt { pressed }
    }

    /// Never interrupted (tests, and work that must not stop half way).
    pub fn never() -> Interrupt {
        Interrupt {
            pressed: watch::channel(false).1,
        }
    }

    /// Whether Ctrl-C came.
    pub fn is_set(&self) -> bool {
        *self.pressed.borrow()
    }

    /// Waits for Ctrl-C (forever when it cannot come).
    async fn wait(&mut self) {
        if self.pressed.wait_for(|pressed| *pressed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs every `(host, job)`, at most `forks` at once, until all end or
/// `interrupt` fires, and calls `progress` as each job starts and ends.
/// Returns each job's outcome in the order given.
///
/// On Ctrl-C every job still running or waiting for a slot is aborted
/// (dropping a job drops its channels) and comes back as interrupted.
///
/// A job does not start before it has a fork slot, so a job may report
/// its own start. Jobs are taken from `jobs` as they are spawned, so a lazy
/// iterator never holds every host's unstarted job at once. In debug builds, `HERD_TEST_PANIC_HOST=NAME` makes the
/// job of host NAME panic as it starts (the fault suite's way to inject a
/// bug; release builds ignore it).
pub async fn fan_out<T, Fut>(
    jobs: impl IntoIterator<Item = (String, Fut)>,
    forks: usize,
    interrupt: &Interrupt,
    mut progress: impl FnMut(Progress<'_, T>),
) -> Vec<Outcome<T>>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let forks = Arc::new(Semaphore::new(forks.max(1)));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let mut index_of = std::collections::HashMap::new();
    let mut outcomes: Vec<Option<Outcome<T>>> = Vec::new();
    for (index, (host, work)) in jobs.into_iter().enumerate() {
        let (forks, started_tx) = (forks.clone(), started_tx.clone());
        // Boxed: an async block keeps a future it captures and the same
        // future being awaited in two places, doubling every host's task.
        let work = Box::pin(work);
        let handle = tasks.spawn(async move {
            let _permit = forks.acquire_owned().await;
            let _ = started_tx.send(index);
            panic_if_asked(&host);
            work.await
        });
        index_of.insert(handle.id(), index);
        outcomes.push(None);
    }
    drop(started_tx);
    let mut interrupt = interrupt.clone();
    loop {
        tokio::select! {
            // A job's start is queued before its end can be joined.
            biased;
            Some(index) = started.recv() => progress(Progress::Started(index)),
            joined = tasks.join_next_with_id() => {
                let Some(joined) = joined else { break };
                let (index, outcome) = match joined {
                    Ok((id, value)) => (index_of[&id], Outcome::Done(value)),
                    Err(err) => (index_of[&err.id()], Outcome::Panicked(internal_error(err))),
                };
                progress(Progress::Finished(index, &outcome));
                outcomes[index] = Some(outcome);
            }
            () = interrupt.wait() => {
                tasks.abort_all();
                break;
            }
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or(Outcome::Interrupted))
        .collect()
}

/// A failed join's text: "internal error: <panic message> (a bug in herd)".
fn internal_error(err: tokio::task::JoinError) -> String {
    let why = if err.is_panic() {
        panic_text(err.into_panic())
    } else {
        "the host's task was cancelled".to_string()
    };
    tracing::error!("a host task panicked: {why}");
    format!("internal error: {why} (a bug in herd)")
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
        .collect::<Vec<_>>();
    let interrupt = Interrupt::ctrl_c();
    let outcomes = fan_out(jobs, forks, &interrupt, |_| {}).await;
    if interrupt.is_set() {
        eprintln!("herd: interrupted: stopping; hosts not finished are recorded as interrupted");
    }
    pool.close_all().await;
    hosts
        .iter()
        .map(|host| host.name().to_string())
        .zip(outcomes)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Jobs for hosts h0..h{n-1}, job i from `work(i)`.
    fn jobs<Fut>(n: usize, work: impl Fn(usize) -> Fut) -> Vec<(String, Fut)> {
        (0..n).map(|i| (format!("h{i}"), work(i))).collect()
    }

    #[tokio::test]
    async fn a_panicking_job_is_that_hosts_failure_and_the_others_finish() {
        let jobs = jobs(3, |i| async move {
            if i == 1 {
                panic!("boom");
            }
            i
        });
        let outcomes = fan_out(jobs, 2, &Interrupt::never(), |_| {}).await;
        assert!(matches!(outcomes[0], Outcome::Done(0)));
        match &outcomes[1] {
            Outcome::Panicked(why) => {
                assert!(why.starts_with("internal error: boom"), "{why}")
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        assert!(matches!(outcomes[2], Outcome::Done(2)));
    }

    #[tokio::test]
    async fn outcomes_come_back_in_the_order_given_whatever_order_jobs_end() {
        let jobs = jobs(5, |i| async move {
            // The first job ends last.
            tokio::time::sleep(Duration::from_millis(10 * (5 - i as u64))).await;
            i
        });
        let mut ended = Vec::new();
        let outcomes = fan_out(jobs, 5, &Interrupt::never(), |p| {
            if let Progress::Finished(i, _) = p {
                ended.push(i)
            }
        })
        .await;
        assert_eq!(ended, [4, 3, 2, 1, 0]);
        let values: Vec<usize> = outcomes
            .into_iter()
            .map(|o| match o {
                Outcome::Done(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, [0, 1, 2, 3, 4]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_forks_jobs_run_at_once_and_each_starts_before_it_ends() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = jobs(12, |_| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        });
        let mut events = Vec::new();
        fan_out(jobs, 3, &Interrupt::never(), |p| {
            events.push(match p {
                Progress::Started(i) => (i, "started"),
                Progress::Finished(i, _) => (i, "finished"),
            })
        })
        .await;
        assert_eq!(most.load(Ordering::SeqCst), 3);
        for i in 0..12 {
            let at = |what| events.iter().position(|e| *e == (i, what)).unwrap();
            assert!(at("started") < at("finished"), "{events:?}");
        }
    }

    #[tokio::test]
    async fn ctrl_c_reports_the_unfinished_hosts_as_interrupted() {
        let (press, pressed) = watch::channel(false);
        let interrupt = Interrupt { pressed };
        let jobs = jobs(3, |i| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            i
        });
        let outcomes = fan_out(jobs, 3, &interrupt, |p| {
            if let Progress::Finished(0, _) = p {
                let _ = press.send(true);
            }
        })
        .await;
        assert!(matches!(outcomes[0], Outcome::Done(0)));
        assert!(matches!(outcomes[1], Outcome::Interrupted));
        assert!(matches!(outcomes[2], Outcome::Interrupted));
        assert!(interrupt.is_set());
    }
}
