//! `herd report --html FILE`: the fleet on one self-contained web page,
//! read from the results store.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::Context;
use crate::alerts::Seconds;
use crate::report::chart::Series;
use crate::report::hostlist::natural_cmp;
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
    let store = Store::open(ctx.project.ensure_state_dir()?)?;
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

/// Every host the store or the inventory knows, unreachable and alerting
/// hosts first.
fn fleet_rows(ctx: &Context, store: &Store) -> anyhow::Result<Vec<FleetRow>> {
    let mut rows: BTreeMap<String, FleetRow> = BTreeMap::new();
    let row = |host: &str| FleetRow {
        host: host.to_string(),
        reachable: None,
        error: None,
        last_seen: None,
        load: None,
        mem_pct: None,
        disk_pct: None,
        firing: Vec::new(),
    };
    match ctx.inventory() {
        Ok(inventory) => {
            for host in inventory.select("all", None)? {
                rows.insert(host.clone(), row(&host));
            }
        }
        // Without an inventory the store's hosts are the fleet.
        Err(e)
            if matches!(
                e.downcast_ref(),
                Some(crate::project::ProjectError::NoInventory)
            ) => {}
        Err(e) => return Err(e),
    }
    for reach in store.latest_reach()? {
        let r = rows
            .entry(reach.host.clone())
            .or_insert_with(|| row(&reach.host));
        r.reachable = Some(reach.reachable);
        r.error = reach.error;
    }
    let latest: HashMap<(String, String), f64> = store
        .latest_samples()?
        .into_iter()
        .map(|s| ((s.host, s.metric), s.value))
        .collect();
    for state in store.alert_states()?.into_iter().filter(|s| s.firing) {
        if let Some(r) = rows.get_mut(&state.host) {
            r.firing.push(state.alert);
        }
    }
    let mut rows: Vec<FleetRow> = rows.into_values().collect();
    for r in &mut rows {
        let metric = |name: &str| latest.get(&(r.host.clone(), name.to_string())).copied();
        r.load = metric("load.1");
        r.mem_pct = metric("mem.used_pct");
        r.disk_pct = metric("disk./.used_pct");
        r.last_seen = store.last_seen(&r.host)?;
    }
    rows.sort_by(|a, b| {
        let badness = |r: &FleetRow| (r.reachable != Some(false), r.firing.is_empty());
        badness(a)
            .cmp(&badness(b))
            .then_with(|| natural_cmp(&a.host, &b.host))
    });
    Ok(rows)
}
