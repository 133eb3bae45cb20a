//! Metrics from the fleet: `herd collect` gathers them in one round trip per
//! host ([`remote`]), configured by `collect.yml` ([`config`]); retention
//! keeps the store small ([`retention`]); `herd cron` schedules collect and
//! alerts ([`cron`]).

pub mod config;
pub mod cron;
mod record;
pub mod remote;
pub mod retention;
pub mod when;

use std::sync::Arc;

use crate::engine::fanout::{FleetHost, Outcome, for_each_host};
use crate::ssh::{ExecOptions, Pool};

pub use config::CollectConfig;
pub use record::{Summary, Unreached, record};

/// What one host gave a collection.
#[derive(Debug)]
pub enum HostCollect {
    /// The script ran: its numbers and what could not be read.
    Reached(remote::Reading),
    /// No connection, or the script could not run: why.
    Unreachable(String),
}

/// Runs the collect script on every host (at most `forks` at once) and
/// reads each host's output. Ctrl-C and panics count as unreachable with
/// the reason said.
pub async fn collect(
    pool: Arc<Pool>,
    hosts: &[FleetHost],
    forks: usize,
    config: Arc<CollectConfig>,
    timeout: std::time::Duration,
) -> Vec<(String, HostCollect)> {
    let script = Arc::new(remote::script(&config));
    let outcomes = for_each_host(pool, hosts, forks, |pool, host| {
        let (script, config) = (script.clone(), config.clone());
        async move {
            let connection = match pool.connect(&host.target).await {
                Ok(c) => c,
                Err(err) => return HostCollect::Unreachable(err.to_string()),
            };
            let options = ExecOptions {
                timeout: Some(timeout),
                ..host.exec.clone()
            };
            match connection.exec(&script, &options).await {
                Ok(out) if out.exit_code.is_some() => HostCollect::Reached(remote::read(
                    &String::from_utf8_lossy(&out.stdout),
                    &config,
                )),
                Ok(out) => HostCollect::Unreachable(match out.signal {
                    Some(signal) => format!("the collect script was killed by signal {signal}"),
                    None => "no exit status from the server".into(),
                }),
                Err(err) => HostCollect::Unreachable(err.to_string()),
            }
        }
    })
    .await;
    outcomes
        .into_iter()
        .map(|(host, outcome)| {
            let result = match outcome {
                Outcome::Done(r) => r,
                Outcome::Interrupted => HostCollect::Unreachable("interrupted".into()),
                Outcome::Panicked(why) => HostCollect::Unreachable(why),
            };
            (host, result)
        })
        .collect()
}
