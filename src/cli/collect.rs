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
use crate::collect::{self, CollectConfig, retention, when};
use crate::exit;
use crate::report;

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

    let mut summary = collect::record(&mut store, collection, now, results)?;
    if let Some(keep) = args.keep {
        summary.retention = Some(retention::apply(&mut store, now, keep, false)?);
    }

    let mut out = crate::secrets::redact::stdout();
    match args.format {
        Format::Json => crate::report::json::write_line(&mut out, &summary)?,
        Format::Text => report::collect::write_text(&mut out, &summary)?,
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
