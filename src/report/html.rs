//! `herd report --html`: one self-contained page (inline CSS and SVG, no
//! script, nothing fetched) with the fleet table, a chart per metric,
//! recent runs and recent alerts. It is built from what the caller read
//! from the store; this module only renders.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::chart::{self, Series};
use super::text;
use crate::store::{AlertLogEntry, RunSummary};

/// One host's line in the fleet table, from the latest collection (the
/// rows of `herd status`).
pub struct FleetRow {
    pub host: String,
    /// "up", "down" or "unknown" (never collected).
    pub state: &'static str,
    pub error: Option<String>,
    pub last_seen: Option<i64>,
    pub load: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    /// The fullest disk: use and mount point.
    pub disk: Option<(f64, String)>,
    /// Alerts firing on the host.
    pub firing: Vec<String>,
}

/// Everything a report shows.
pub struct Report<'a> {
    /// Unix seconds.
    pub generated_at: i64,
    /// The time span the charts cover, e.g. "24h".
    pub span: String,
    pub fleet: Vec<FleetRow>,
    /// (metric, one series per host), in the order to show.
    pub charts: Vec<(String, Vec<Series<'a>>)>,
    pub runs: Vec<RunSummary>,
    pub alerts: Vec<AlertLogEntry>,
}

pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse}th,td.num{white-space:nowrap}th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
.down,.fire,.failed{color:#b00020;font-weight:600}.unknown{color:#777}.up,.resolve,.ok{color:#08732a}\
figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}.muted{color:#777}";

/// The page, as text.
pub fn render(report: &Report, tz: &TimeZone) -> String {
    let time = |secs: i64| text::local_time(secs * 1000, tz);
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>herd report {}</title><style>{STYLE}</style></head><body>\
         <h1>herd fleet report</h1><p class=\"muted\">generated {}; charts cover the last {}</p>",
        escape(&time(report.generated_at)),
        escape(&time(report.generated_at)),
        escape(&report.span)
    );
    fleet_table(&mut page, &report.fleet, &time);

    page.push_str("<h2 id=\"metrics\">Metrics</h2>");
    if report.charts.is_empty() {
        page.push_str(
            "<p class=\"muted\">no samples in this span: run <code>herd collect</code></p>",
        );
    }
    let span = report
        .charts
        .iter()
        .flat_map(|(_, series)| series.iter().flat_map(|s| s.points.iter().map(|p| p.0)))
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let axis_time = |secs: i64| axis_label(secs, span.1.saturating_sub(span.0), tz);
    for (metric, series) in &report.charts {
        let _ = write!(
            page,
            "<figure class=\"metric\"><figcaption>{}</figcaption>{}</figure>",
            escape(metric),
            chart::line_chart(metric, series, &axis_time)
        );
    }

    runs_table(&mut page, &report.runs, tz);
    alerts_table(&mut page, &report.alerts, &time);
    page.push_str("</body></html>\n");
    page
}

fn fleet_table(page: &mut String, fleet: &[FleetRow], time: &dyn Fn(i64) -> String) {
    let _ = write!(
        page,
        "<h2 id=\"fleet\">Fleet ({} hosts)</h2><table id=\"fleet-table\"><thead><tr>\
         <th>host</th><th>status</th><th>last seen</th><th>load 1m</th><th>cpu %</th>\
         <th>mem %</th><th>fullest disk %</th><th>firing alerts</th></tr></thead><tbody>",
        fleet.len()
    );
    for row in fleet {
        let status = match (row.state, &row.error) {
            ("down", Some(error)) => format!("down: {error}"),
            ("unknown", _) => "never collected".to_string(),
            (state, _) => state.to_string(),
        };
        let disk = match &row.disk {
            Some((pct, mount)) => format!("{pct:.0} {mount}"),
            None => "–".into(),
        };
        let _ = write!(
            page,
            "<tr class=\"host\"><td>{}</td><td class=\"{}\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"fire\">{}</td></tr>",
            escape(&row.host),
            row.state,
            escape(&status),
            row.last_seen.map(time).unwrap_or_else(|| "never".into()),
            value(row.load),
            value(row.cpu_pct),
            value(row.mem_pct),
            escape(&disk),
            escape(&row.firing.join(", "))
        );
    }
    page.push_str("</tbody></table>");
}

fn runs_table(page: &mut String, runs: &[RunSummary], tz: &TimeZone) {
    page.push_str("<h2 id=\"runs\">Recent runs</h2>");
    if runs.is_empty() {
        page.push_str("<p class=\"muted\">no runs recorded</p>");
        return;
    }
    page.push_str(
        "<table id=\"runs-table\"><thead><tr><th>id</th><th>started</th><th>kind</th>\
         <th>command</th><th>pattern</th><th>outcome</th><th>ok</th><th>failed</th>\
         <th>unreachable</th></tr></thead><tbody>",
    );
    for r in runs {
        let outcome = r.outcome.as_str();
        let _ = write!(
            page,
            "<tr class=\"run\"><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td>\
             <td class=\"{outcome}\">{outcome}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            r.id,
            escape(&text::local_time(r.started_at, tz)),
            escape(&r.kind),
            escape(&r.command),
            escape(&r.pattern),
            r.ok,
            r.failed,
            r.unreachable
        );
    }
    page.push_str("</tbody></table>");
}

fn alerts_table(page: &mut String, alerts: &[AlertLogEntry], time: &dyn Fn(i64) -> String) {
    page.push_str("<h2 id=\"alerts\">Recent alerts</h2>");
    if alerts.is_empty() {
        page.push_str("<p class=\"muted\">no alerts recorded</p>");
        return;
    }
    page.push_str(
        "<table id=\"alerts-table\"><thead><tr><th>time</th><th>event</th><th>alert</th>\
         <th>host</th><th>severity</th><th>message</th><th>notification</th></tr></thead><tbody>",
    );
    for a in alerts {
        let _ = write!(
            page,
            "<tr class=\"alert\"><td>{}</td><td class=\"{ev}\">{ev}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"{n}\">{n}</td></tr>",
            escape(&time(a.ts)),
            escape(&a.alert),
            escape(&a.host),
            escape(&a.severity),
            escape(&a.message),
            ev = escape(&a.event),
            n = escape(&a.notification)
        );
    }
    page.push_str("</tbody></table>");
}

fn value(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

/// A time on a chart's axis: the clock for spans under two days, the date
/// and clock beyond.
pub fn axis_label(secs: i64, span: i64, tz: &TimeZone) -> String {
    let format = if span < 2 * 86_400 {
        "%H:%M"
    } else {
        "%m-%d %H:%M"
    };
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_zoned(tz.clone()).strftime(format).to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Text made safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
