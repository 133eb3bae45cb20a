//! `herd collect [PATTERN]`: gathers metrics from every host in one round
//! trip each and stores them as time series (`herd status`, `herd
//! history`). Meant for cron (`herd cron add collect`): plain output, and
//! `--keep` applies retention after each run.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::connect::ConnectArgs;
use super::{Context, Format};
use crate::collect::config::CONFIG_FILE;
use crate::collect::{CollectConfig, HostCollect, retention, when};
use crate::exit;
use crate::report::hostlist;
use crate::store::{Pruned, Reach, Sample};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd collect\n  herd collect web --keep 90d\n  herd collect --prune --keep 30d"
)]
pub struct CollectArgs {
    /// Host pattern [default: all].
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// Collect config: services, custom collectors, probes [default:
    /// collect.yml at the project root, if there is one].
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// After storing, delete points older than this (e.g. 90d) and average
    /// old points (5-minute buckets after a day, hourly after a week).
    #[arg(long = "keep", value_name = "DURATION", value_parser = when::parse_duration)]
    pub keep: Option<i64>,

    /// Only apply retention (--keep) to every stored point; no host is
    /// contacted.
    #[arg(long = "prune", requires = "keep")]
    pub prune: bool,

    /// Seconds a host's collection may take before it counts as failed.
    #[arg(
        short = 'T',
        long = "timeout",
        value_name = "SECS",
        default_value_t = 60
    )]
    pub timeout: u64,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// What a collection did, as printed.
#[derive(Debug, serde::Serialize)]
struct Summary {
    collection: i64,
    ts: i64,
    hosts: usize,
    reached: usize,
    unreachable: Vec<Unreached>,
    samples: usize,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<Pruned>,
}

#[derive(Debug, serde::Serialize)]
struct Unreached {
    host: String,
    error: String,
}

pub fn execute(ctx: &Context, args: CollectArgs) -> anyhow::Result<u8> {
    let mut store = ctx.store()?;
    let now = jiff::Timestamp::now().as_second();
    if args.prune {
        let keep = args.keep.expect("clap requires --keep with --prune");
        let pruned = retention::apply(&mut store, now, keep, true)?;
        let mut out = crate::secrets::redact::stdout();
        match args.format {
            Format::Json => crate::report::json::write_line(&mut out, &pruned)?,
            Format::Text => writeln!(
                out,
                "pruned: {} old samples deleted, {} merged into averages",
                pruned.deleted, pruned.merged
            )?,
        }
        return Ok(exit::OK);
    }

    let config = Arc::new(load_config(ctx, args.config.as_ref())?);
    let fleet = ctx.fleet(&args.connect, args.pattern.as_deref().unwrap_or("all"))?;
    let hosts = &fleet.names;

    let collection = store.begin_collection(now, hosts.len())?;
    let timeout = Duration::from_secs(args.timeout);
    let results = crate::engine::fanout::block_on(crate::collect::collect(
        fleet.pool(),
        &fleet.hosts,
        fleet.forks,
        config,
        timeout,
    ))?;

    let mut samples = Vec::new();
    let mut reach = Vec::with_capacity(results.len());
    let mut summary = Summary {
        collection: collection.0,
        ts: now,
        hosts: hosts.len(),
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
    if let Some(keep) = args.keep {
        summary.retention = Some(retention::apply(&mut store, now, keep, false)?);
    }

    let mut out = crate::secrets::redact::stdout();
    match args.format {
        Format::Json => crate::report::json::write_line(&mut out, &summary)?,
        Format::Text => write_text(&mut out, &summary)?,
    }
    Ok(if summary.unreachable.is_empty() {
        exit::OK
    } else {
        exit::UNREACHABLE
    })
}

/// `--config FILE`, else collect.yml at the project root (or here) if it
/// exists, else built-in metrics only.
fn load_config(ctx: &Context, given: Option<&PathBuf>) -> anyhow::Result<CollectConfig> {
    let path = match given {
        Some(path) => path.clone(),
        None => {
            let root = match &ctx.project.root {
                Some(root) => root.clone(),
                None => std::env::current_dir()?,
            };
            let path = root.join(CONFIG_FILE);
            if !path.exists() {
                return Ok(CollectConfig::default());
            }
            path
        }
    };
    Ok(CollectConfig::load(&path)?)
}

fn write_text(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    for warning in &s.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    for u in &s.unreachable {
        writeln!(out, "{}: UNREACHABLE: {}", u.host, u.error)?;
    }
    let down: Vec<String> = s.unreachable.iter().map(|u| u.host.clone()).collect();
    write!(
        out,
        "collection {}: {} samples from {} of {} hosts",
        s.collection, s.samples, s.reached, s.hosts
    )?;
    if !down.is_empty() {
        write!(
            out,
            "; {} unreachable ({})",
            down.len(),
            hostlist::compress(&down)
        )?;
    }
    writeln!(out)?;
    if let Some(r) = s.retention {
        writeln!(
            out,
            "retention: {} old samples deleted, {} merged into averages",
            r.deleted, r.merged
        )?;
    }
    Ok(())
}
