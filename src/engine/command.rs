//! Runs one shell command on many hosts in parallel: `herd run`'s engine.
//!
//! Each host is a tokio task (not a thread), bounded by `forks` permits, so
//! 10,000 hosts cost 10,000 small futures. Results stream out as events the
//! moment a host finishes; sinks (terminal, JSON, store) consume them. The
//! fan-out, with its handling of panics and Ctrl-C, is [`fan_out`], shared
//! with every other command.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fanout::{Interrupt, Outcome, Progress, fan_out};
use super::{HostResult, HostStatus};
use crate::ssh::{ExecOptions, Pool, Target};

/// What to run on one host, and how (become and timeouts can differ per
/// host, from inventory variables).
#[derive(Debug, Clone)]
pub struct HostJob {
    pub target: Target,
    /// The command line, run by the remote user's shell as `ssh host CMD` does.
    pub command: String,
    pub options: ExecOptions,
}

/// What the engine reports while a run goes on.
#[derive(Debug, Clone)]
pub enum Event {
    /// A host's turn began (it got a fork slot).
    Started { host: String },
    /// A host is done, for better or worse.
    Finished(HostResult),
}

/// Runs every job, at most `forks` hosts at once, and reports each step to
/// `on_event`. Returns every host's result in the order of `jobs`: a host
/// whose task panicked is failed with "internal error: ..."; on Ctrl-C the
/// hosts not finished are interrupted (they get no `Finished` event).
pub async fn run_command(
    pool: Arc<Pool>,
    jobs: Vec<HostJob>,
    forks: usize,
    interrupt: &Interrupt,
    mut on_event: impl FnMut(Event),
) -> Vec<HostResult> {
    let started = Instant::now();
    let hosts: Vec<String> = jobs.iter().map(|j| j.target.name.clone()).collect();
    let work = jobs
        .into_iter()
        .map(|job| {
            let pool = pool.clone();
            let host = job.target.name.clone();
            (host, async move { run_on_host(&pool, &job).await })
        })
        .collect();
    let outcomes = fan_out(work, forks, interrupt, |progress| match progress {
        Progress::Started(index) => on_event(Event::Started {
            host: hosts[index].clone(),
        }),
        Progress::Finished(index, outcome) => {
            on_event(Event::Finished(result_of(&hosts[index], outcome, started)))
        }
    })
    .await;
    hosts
        .iter()
        .zip(outcomes)
        .map(|(host, outcome)| match outcome {
            Outcome::Done(result) => result,
            cut => result_of(host, &cut, started),
        })
        .collect()
}

/// A host's result from its outcome: a panic fails the host, Ctrl-C
/// interrupts it.
fn result_of(host: &str, outcome: &Outcome<HostResult>, started: Instant) -> HostResult {
    let (status, error) = match outcome {
        Outcome::Done(result) => return result.clone(),
        Outcome::Panicked(why) => (HostStatus::Failed, why.clone()),
        Outcome::Interrupted => (
            HostStatus::Interrupted,
            "interrupted before this host finished".to_string(),
        ),
    };
    let duration = match status {
        HostStatus::Interrupted => started.elapsed(),
        _ => Duration::ZERO,
    };
    HostResult::without_output(host, status, Some(error), duration)
}

async fn run_on_host(pool: &Pool, job: &HostJob) -> HostResult {
    let started = Instant::now();
    let host = job.target.name.clone();
    let connection = match pool.connect(&job.target).await {
        Ok(c) => c,
        Err(err) => {
            return HostResult::without_output(
                host,
                HostStatus::Unreachable,
                Some(err.to_string()),
                started.elapsed(),
            );
        }
    };
    match connection.exec(&job.command, &job.options).await {
        Ok(out) => {
            let (status, error) = match (out.exit_code, &out.signal) {
                (Some(0), _) => (HostStatus::Ok, None),
                // The exit code says it all; the report shows `[exit N]`.
                (Some(_), _) => (HostStatus::Failed, None),
                (None, Some(signal)) => (
                    HostStatus::Failed,
                    Some(format!("killed by signal {signal}")),
                ),
                (None, None) => (
                    HostStatus::Failed,
                    Some("no exit status from the server".into()),
                ),
            };
            let limit = pool.options().output_limit;
            let text = |bytes: &[u8], cut: bool| {
                let mut text = String::from_utf8_lossy(bytes).into_owned();
                if cut {
                    super::result::mark_capture_cut(&mut text, limit);
                }
                text
            };
            HostResult {
                host,
                status,
                exit_code: out.exit_code,
                stdout: text(&out.stdout, out.stdout_truncated),
                stderr: text(&out.stderr, out.stderr_truncated),
                truncated: out.stdout_truncated || out.stderr_truncated,
                error,
                duration: started.elapsed(),
            }
        }
        Err(err) => {
            // As Ansible: a connection lost mid-command makes the host
            // unreachable, not failed (the command's fate is unknown).
            let status = if connection.is_lost().await {
                HostStatus::Unreachable
            } else {
                HostStatus::Failed
            };
            HostResult::without_output(host, status, Some(err.to_string()), started.elapsed())
        }
    }
}
