//! `herd history` output: a metric's points per host as a table with a
//! sparkline each, or every point as CSV or JSON lines for export.

use std::io::{self, Write};

use jiff::tz::TimeZone;

use super::sparkline::sparkline;
use super::{json, table};
use crate::store::Sample;

/// What was asked: the metric, the time window (unix seconds), and the
/// width of each chart in columns.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub metric: &'a str,
    pub since: i64,
    pub until: i64,
    pub width: usize,
}

/// Every point as CSV, with a header line.
pub fn write_csv(out: &mut impl Write, samples: &[Sample], tz: &TimeZone) -> io::Result<()> {
    writeln!(out, "host,metric,time,ts,value")?;
    for s in samples {
        writeln!(
            out,
            "{},{},{},{},{}",
            csv_field(&s.host),
            csv_field(&s.metric),
            local_time(s.ts, tz),
            s.ts,
            s.value
        )?;
    }
    Ok(())
}

/// Every point as one JSON line, with its local time beside the timestamp.
pub fn write_json(out: &mut impl Write, samples: &[Sample], tz: &TimeZone) -> io::Result<()> {
    for s in samples {
        let mut value = serde_json::to_value(s)?;
        value["time"] = local_time(s.ts, tz).into();
        json::write_line(out, &value)?;
    }
    Ok(())
}

/// The text output: a line saying what and when, then a row per host with
/// its min/avg/max/last and a chart, all charts on one scale.
pub fn write_chart_table(
    out: &mut impl Write,
    window: &Window,
    hosts: &[String],
    samples: &[Sample],
    tz: &TimeZone,
) -> io::Result<()> {
    let Window {
        metric,
        since,
        until,
        width,
    } = *window;
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
        metric,
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
            sparkline(&points, first, last, width, low, high),
        ]);
    }
    table::write(out, &rows, &[1, 2, 3, 4, 5])
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
