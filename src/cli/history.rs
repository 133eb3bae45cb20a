//! `herd history HOST|PATTERN METRIC --since 24h`: a metric over time per
//! host: a table of min/avg/max/last with a sparkline each, or every point
//! as CSV or JSON lines for export.

use std::io::Write;

use jiff::tz::TimeZone;

use super::{BadInput, Context};
use crate::collect::when;
use crate::report::{sparkline::sparkline, table};
use crate::store::{Sample, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd history web load.1\n  herd history host3 'disk./.used_pct' --since 7d\n  herd history all mem.used_pct --since 2026-11-01 --until 2026-11-02 --format csv"
)]
pub struct HistoryArgs {
    /// A host or host pattern.
    #[arg(value_name = "HOST|PATTERN")]
    pub target: String,

    /// Metric name, e.g. load.1, cpu.used_pct, mem.used_pct,
    /// disk./.used_pct, or a custom collector's name.
    #[arg(value_name = "METRIC")]
    pub metric: String,

    /// Start: a duration ago (24h, 7d), or a date/time (2026-11-20T14:00).
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,

    /// End: as --since [default: now].
    #[arg(long, value_name = "WHEN", default_value = "now")]
    pub until: String,

    /// Output: a table with charts, or every point as CSV or JSON lines.
    #[arg(long, value_enum, default_value_t)]
    pub format: HistoryFormat,

    /// Width of each chart in columns.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub width: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HistoryFormat {
    #[default]
    Text,
    Csv,
    Json,
}

pub fn execute(ctx: &Context, args: HistoryArgs) -> anyhow::Result<u8> {
    let now = jiff::Timestamp::now().as_second();
    let since =
        when::parse_time(&args.since, now).map_err(|e| BadInput(format!("--since: {e}")))?;
    let until =
        when::parse_time(&args.until, now).map_err(|e| BadInput(format!("--until: {e}")))?;
    if since > until {
        return Err(BadInput("--since is after --until: nothing in between".into()).into());
    }
    let store = ctx.store()?;
    let hosts = ctx.inventory()?.select(&args.target, None)?;
    let samples = store.samples(&hosts, &args.metric, since, until)?;
    if samples.is_empty() {
        check_metric(&store, &args.metric)?;
    }
    let tz = TimeZone::system();
    let mut out = crate::secrets::redact::stdout();
    match args.format {
        HistoryFormat::Csv => {
            writeln!(out, "host,metric,time,ts,value")?;
            for s in &samples {
                writeln!(
                    out,
                    "{},{},{},{},{}",
                    csv_field(&s.host),
                    csv_field(&s.metric),
                    local_time(s.ts, &tz),
                    s.ts,
                    s.value
                )?;
            }
        }
        HistoryFormat::Json => {
            for s in &samples {
                let mut value = serde_json::to_value(s)?;
                value["time"] = local_time(s.ts, &tz).into();
                crate::report::json::write_line(&mut out, &value)?;
            }
        }
        HistoryFormat::Text => {
            write_chart_table(&mut out, &args, &hosts, &samples, (since, until), &tz)?
        }
    }
    Ok(crate::exit::OK)
}

/// A metric with no points at all is most likely a typo: say which exist.
fn check_metric(store: &Store, metric: &str) -> anyhow::Result<()> {
    let names = store.metric_names()?;
    if names.is_empty() || names.iter().any(|n| n == metric) {
        return Ok(());
    }
    let prefix = metric.split('.').next().unwrap_or(metric);
    let mut near: Vec<&str> = names
        .iter()
        .filter(|n| n.starts_with(prefix))
        .map(String::as_str)
        .collect();
    if near.is_empty() {
        near = names.iter().map(String::as_str).collect();
    }
    near.truncate(12);
    Err(BadInput(format!(
        "no metric `{metric}` in the store; known metrics include: {}",
        near.join(", ")
    ))
    .into())
}

fn write_chart_table(
    out: &mut impl Write,
    args: &HistoryArgs,
    hosts: &[String],
    samples: &[Sample],
    (since, until): (i64, i64),
    tz: &TimeZone,
) -> anyhow::Result<()> {
    let (low, high) = samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.value), hi.max(s.value))
        });
    // Charts span the points found, not the asked window, so a metric
    // collected for an hour is not squeezed into the last column of a day.
    let first = samples.iter().map(|s| s.ts).min().unwrap_or(since);
    let last = samples.iter().map(|s| s.ts).max().unwrap_or(until);
    writeln!(
        out,
        "{} from {} to {}",
        args.metric,
        local_time(since, tz),
        local_time(until, tz),
    )?;
    if !samples.is_empty() {
        writeln!(
            out,
            "charts: {} .. {}, scale {} .. {}",
            local_time(first, tz),
            local_time(last, tz),
            number(low),
            number(high)
        )?;
    }
    let mut rows = vec![
        ["HOST", "POINTS", "MIN", "AVG", "MAX", "LAST", "CHART"]
            .map(String::from)
            .to_vec(),
    ];
    for host in hosts {
        let points: Vec<(i64, f64)> = samples
            .iter()
            .filter(|s| &s.host == host)
            .map(|s| (s.ts, s.value))
            .collect();
        if points.is_empty() {
            rows.push(vec![host.clone(), "0".into()]);
            continue;
        }
        let values = points.iter().map(|p| p.1);
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
        let avg = values.sum::<f64>() / points.len() as f64;
        rows.push(vec![
            host.clone(),
            points.len().to_string(),
            number(min),
            number(avg),
            number(max),
            number(points[points.len() - 1].1),
            sparkline(&points, first, last, args.width, low, high),
        ]);
    }
    table::write(out, &rows, &[1, 2, 3, 4, 5])?;
    Ok(())
}

/// Short and exact enough: whole numbers as they are, others to 2 places.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn local_time(ts: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
