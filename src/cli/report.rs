//! `herd report --html FILE`: the fleet on one self-contained web page,
//! read from the results store.

use std::path::PathBuf;

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::Context;
use crate::alerts::Seconds;
use crate::report::chart::Series;
use crate::report::html::{self, FleetRow, Report};
use crate::store::{Sample, Store};

/// How many recent runs and alert log lines the page lists.
const RECENT: usize = 30;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// How far back the charts go (e.g. 6h, 7d).
    #[arg(long, value_name = "SPAN", default_value = "24h", value_parser = Seconds::parse)]
    pub since: Seconds,
}

pub fn execute(ctx: &Context, args: ReportArgs) -> anyhow::Result<u8> {
    let store = ctx.store()?;
    let now = jiff::Timestamp::now().as_second();
    let since = now - args.since.0;

    let mut charts = Vec::new();
    let mut series_samples: Vec<(String, Vec<Sample>)> = Vec::new();
    for metric in store.metrics_between(since, now)? {
        let samples = store.samples(&[], &metric, since, now)?;
        series_samples.push((metric, samples));
    }
    for (metric, samples) in &series_samples {
        charts.push((metric.clone(), by_host(samples)));
    }

    let report = Report {
        generated_at: now,
        span: args.since.to_string(),
        fleet: fleet_rows(ctx, &store)?,
        charts,
        runs: store.recent_runs(RECENT)?,
        alerts: store.alert_log(RECENT)?,
    };
    let page = html::render(&report, &TimeZone::system());
    let page = crate::secrets::redact::redact(&page);
    crate::modules::write_local(&args.html, page.as_bytes())
        .with_context(|| format!("cannot write the report to {}", args.html.display()))?;
    eprintln!(
        "wrote {} ({} hosts, {} charts)",
        args.html.display(),
        report.fleet.len(),
        report.charts.len()
    );
    Ok(0)
}

/// Samples (ordered by host, then time) as one series per host.
fn by_host(samples: &[Sample]) -> Vec<Series<'_>> {
    let mut out: Vec<Series> = Vec::new();
    for s in samples {
        match out.last_mut() {
            Some(series) if series.host == s.host => series.points.push((s.ts, s.value)),
            _ => out.push(Series {
                host: &s.host,
                points: vec![(s.ts, s.value)],
            }),
        }
    }
    out
}

/// The fleet as `herd status` shows it (the inventory's hosts, else the
/// store's), with the alerts firing on each host.
fn fleet_rows(ctx: &Context, store: &Store) -> anyhow::Result<Vec<FleetRow>> {
    let hosts = match ctx.inventory() {
        Ok(inventory) => inventory.select("all", None)?,
        // Without an inventory the store's hosts are the fleet.
        Err(e)
            if matches!(
                e.downcast_ref(),
                Some(crate::project::ProjectError::NoInventory)
            ) =>
        {
            store.latest_reach()?.into_iter().map(|r| r.host).collect()
        }
        Err(e) => return Err(e),
    };
    let mut firing = crate::report::fleet::firing_by_host(store)?;
    Ok(crate::report::fleet::fleet_status(store, hosts)?
        .into_iter()
        .map(|s| FleetRow {
            firing: firing.remove(&s.host).unwrap_or_default(),
            state: s.state,
            error: s.error,
            last_seen: s.last_seen,
            load: s.load1,
            cpu_pct: s.cpu_pct,
            mem_pct: s.mem_pct,
            disk: s.disk_pct.zip(s.disk_mount),
            host: s.host,
        })
        .collect())
}
