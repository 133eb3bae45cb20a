//! Line charts as inline SVG: one metric over time, one line per host, with
//! labelled axes and a legend. Plain SVG text, so a report needs no script
//! and no external asset to show it.

use std::fmt::Write as _;

use super::html::escape;

/// One host's line.
pub struct Series<'a> {
    pub host: &'a str,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;
/// Above this many hosts the legend is one line instead of a key per host.
const MAX_LEGEND: usize = 24;
/// Distinguishable line colours (Okabe-Ito, colour-blind safe), reused in turn.
const COLORS: [&str; 8] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442",
];

/// The SVG for `metric`; `time_label` formats an axis time.
pub fn line_chart(metric: &str, series: &[Series], time_label: &dyn Fn(i64) -> String) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (t0, t1) = all.clone().fold((i64::MAX, i64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (v0, v1) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let legend_rows = if series.len() <= MAX_LEGEND {
        series.len().div_ceil(4)
    } else {
        1
    };
    let legend_height = 18.0 * legend_rows as f64;
    let height = HEIGHT + legend_height;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-metric="{m}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{m} over time">"#,
        m = escape(metric)
    );
    if t0 > t1 {
        svg.push_str(r#"<text x="20" y="40">no data</text></svg>"#);
        return svg;
    }
    let (v0, v1, step) = nice_range(v0.min(0.0), v1);
    let (t0, t1) = if t0 == t1 {
        (t0 - 60, t1 + 60)
    } else {
        (t0, t1)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
    let y = |v: f64| TOP + plot_h - (v - v0) / (v1 - v0) * plot_h;

    // Y axis: grid lines and values.
    let mut v = v0;
    while v <= v1 + step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            number(v),
            y = y(v)
        );
        v += step;
    }
    // X axis: five times across.
    for i in 0..=4 {
        let t = t0 + (t1 - t0) * i / 4;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text class="x-label" x="{x:.1}" y="{}" text-anchor="{anchor}" font-size="11">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            escape(&time_label(t)),
            x = x(t)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##
    );
    // One line per host (a dot when it has a single point).
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let host = escape(s.host);
        if let [(t, v)] = s.points.as_slice() {
            let _ = write!(
                svg,
                r#"<circle class="series" data-host="{host}" cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(*t),
                y(*v)
            );
            continue;
        }
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-host="{host}" fill="none" stroke="{color}" stroke-width="1.5" points="{}"><title>{host}</title></polyline>"#,
            points.join(" ")
        );
    }
    // Legend under the axis, four hosts a row; past a few dozen lines a
    // legend cannot be read, and each line names its host on hover.
    if series.len() > MAX_LEGEND {
        let _ = write!(
            svg,
            r#"<text class="legend" x="{LEFT}" y="{HEIGHT}" font-size="12">{} hosts: hover a line to see its host</text></svg>"#,
            series.len()
        );
        return svg;
    }
    for (i, s) in series.iter().enumerate() {
        let lx = LEFT + (i % 4) as f64 * (plot_w / 4.0);
        let ly = HEIGHT + 18.0 * (i / 4) as f64;
        let _ = write!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="4" fill="{}"/><text class="legend" x="{:.1}" y="{ly:.1}" font-size="12">{}</text>"#,
            ly - 5.0,
            COLORS[i % COLORS.len()],
            lx + 16.0,
            escape(s.host)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// At most `max` points: runs of neighbours averaged into one (time and
/// value), so a month of samples draws as fast as an hour.
pub fn thin(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            let t = c.iter().map(|p| p.0 as f64).sum::<f64>() / n;
            let v = c.iter().map(|p| p.1).sum::<f64>() / n;
            (t.round() as i64, v)
        })
        .collect()
}

/// An axis from `lo` to `hi` in round steps: (start, end, step).
fn nice_range(lo: f64, hi: f64) -> (f64, f64, f64) {
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let start = (lo / step).floor() * step;
    let mut end = (hi / step).ceil() * step;
    if end <= start {
        end = start + step;
    }
    (start, end, step)
}

/// A value as an axis label: no trailing zeros, thousands as k/M/G.
fn number(v: f64) -> String {
    let (v, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_averages_neighbours_down_to_the_limit() {
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
        assert_eq!(thin(&points, 20), points);
        assert_eq!(
            thin(&points, 5),
            [(5, 0.5), (25, 2.5), (45, 4.5), (65, 6.5), (85, 8.5)]
        );
        assert_eq!(thin(&points, 3).len(), 3);
    }

    #[test]
    fn axes_use_round_numbers() {
        assert_eq!(nice_range(0.0, 7.3), (0.0, 8.0, 2.0));
        assert_eq!(nice_range(0.0, 100.0), (0.0, 100.0, 20.0));
        assert_eq!(nice_range(0.0, 0.0), (0.0, 0.2, 0.2));
        assert_eq!(number(2.50), "2.5");
        assert_eq!(number(12_345_678.0), "12.35M");
    }

    #[test]
    fn one_line_per_host_and_labelled_axes() {
        let series = [
            Series {
                host: "web1",
                points: vec![(0, 1.0), (60, 2.0)],
            },
            Series {
                host: "<b>",
                points: vec![(30, 3.0)],
            },
        ];
        let svg = line_chart("load.1", &series, &|t| format!("t{t}"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains(">t0<") && svg.contains(">t60<"), "{svg}");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert_eq!(svg.matches("class=\"legend\"").count(), 2);

        let hosts: Vec<String> = (0..100).map(|i| format!("h{i}")).collect();
        let many: Vec<Series> = hosts
            .iter()
            .map(|h| Series {
                host: h,
                points: vec![(0, 1.0), (60, 2.0)],
            })
            .collect();
        let svg = line_chart("load.1", &many, &|t| t.to_string());
        assert_eq!(svg.matches("<polyline").count(), 100);
        assert!(
            svg.contains(">100 hosts: hover a line to see its host<"),
            "{svg}"
        );
    }
}
