//! `herd history HOST|PATTERN METRIC --since 24h`: a metric over time per
//! host: a table of min/avg/max/last with a sparkline each, or every point
//! as CSV or JSON lines for export.

use jiff::tz::TimeZone;

use super::{BadInput, Context};
use crate::collect::when;
use crate::report::history;
use crate::store::Store;

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
        HistoryFormat::Csv => history::write_csv(&mut out, &samples, &tz)?,
        HistoryFormat::Json => history::write_json(&mut out, &samples, &tz)?,
        HistoryFormat::Text => {
            let window = history::Window {
                metric: &args.metric,
                since,
                until,
                width: args.width,
            };
            history::write_chart_table(&mut out, &window, &hosts, &samples, &tz)?
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
