//! `/metrics`: the Prometheus text exposition (format 0.0.4) of the newest
//! sample of every host and metric, and herd's own state.
//!
//! herd's dotted metric names become Prometheus names under `herd_host_`;
//! the parts that vary per host are labels, so one family holds every
//! mount or service:
//!
//! | herd                     | Prometheus                                  |
//! |--------------------------|---------------------------------------------|
//! | `load.1`                 | `herd_host_load_1`                          |
//! | `disk./var.used_pct`     | `herd_host_disk_used_pct{mount="/var"}`     |
//! | `service.nginx.active`   | `herd_host_service_active{service="nginx"}` |
//! | `probe.ping.DEST.rtt_ms` | `herd_host_probe_ping_rtt_ms{dest="DEST"}`  |
//! | `probe.tcp.DEST.ok`      | `herd_host_probe_tcp_ok{dest="DEST"}`       |
//!
//! Names follow Prometheus' conventions so `promtool check metrics` finds
//! nothing to say: units become base units (`probe.tcp.DEST.connect_ms`
//! is `herd_host_probe_tcp_connect_seconds`, its value divided by 1000)
//! and a gauge loses a counter's or histogram's suffix (`procs.count` is
//! `herd_host_procs`).
//!
//! Every host series carries `host` and `groups` (its inventory groups as
//! `,web,prod,`, the leading and trailing commas letting `=~".*,web,.*"`
//! match one group). Values carry no timestamp: Prometheus stamps them
//! at scrape time, and `herd_reachable` says whether they are fresh.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::app::{App, Failure};
use super::http::Reply;
use super::params::Query;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its help text and sample lines.
#[derive(Default)]
struct Family {
    help: String,
    lines: Vec<String>,
    /// Label sets already written (the first sample of a duplicate wins).
    seen: HashSet<String>,
}

#[derive(Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
}

impl Exposition {
    fn add(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let family = self.families.entry(name.to_string()).or_default();
        if family.help.is_empty() {
            family.help = help.to_string();
        }
        let mut label_text = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                label_text.push(',');
            }
            let _ = write!(label_text, "{k}=\"{}\"", escape_label(v));
        }
        if !family.seen.insert(label_text.clone()) {
            return;
        }
        let braces = if label_text.is_empty() {
            String::new()
        } else {
            format!("{{{label_text}}}")
        };
        family
            .lines
            .push(format!("{name}{braces} {}", format_value(value)));
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        for (name, family) in self.families {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} gauge");
            for line in family.lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// `/metrics`.
pub fn metrics(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    Query::parse(query, &[])?;
    let body = app.with_store(|store| -> Result<String, Failure> {
        let mut expo = Exposition::default();
        let mut groups_cache: BTreeMap<String, String> = BTreeMap::new();
        let mut groups = |host: &str| -> String {
            groups_cache
                .entry(host.to_string())
                .or_insert_with(|| {
                    let g = app.groups_of(host);
                    if g.is_empty() {
                        String::new()
                    } else {
                        format!(",{},", g.join(","))
                    }
                })
                .clone()
        };
        for s in store.latest_samples()? {
            let (name, extra, scale) = family_of(&s.metric);
            let g = groups(&s.host);
            let mut labels: Vec<(&str, &str)> = vec![("host", &s.host), ("groups", &g)];
            if let Some((k, v)) = &extra {
                labels.push((k, v));
            }
            let help = format!(
                "herd metric {} (newest sample per host)",
                pattern_of(&s.metric)
            );
            expo.add(&name, &help, &labels, s.value * scale);
        }
        let reach = store.latest_reach()?;
        let last_seen = store.last_seen_all()?;
        for r in &reach {
            let g = groups(&r.host);
            let labels = [("host", r.host.as_str()), ("groups", g.as_str())];
            expo.add(
                "herd_reachable",
                "1 if the host answered its latest collection, 0 if not",
                &labels,
                if r.reachable { 1.0 } else { 0.0 },
            );
            if let Some(ts) = last_seen.get(&r.host) {
                expo.add(
                    "herd_last_seen_timestamp_seconds",
                    "when the host last answered a collection (unix seconds)",
                    &labels,
                    *ts as f64,
                );
            }
        }
        expo.add(
            "herd_hosts_unreachable",
            "hosts that did not answer their latest collection",
            &[],
            reach.iter().filter(|r| !r.reachable).count() as f64,
        );
        if let Some(c) = store.last_collection()? {
            let finished = c.finished_at.unwrap_or(c.started_at);
            expo.add(
                "herd_collection_last_timestamp_seconds",
                "when the newest finished collection ended (unix seconds)",
                &[],
                finished as f64,
            );
            expo.add(
                "herd_collection_last_duration_seconds",
                "how long the newest finished collection took",
                &[],
                (finished - c.started_at).max(0) as f64,
            );
            expo.add(
                "herd_collection_last_hosts",
                "hosts the newest finished collection covered",
                &[],
                c.host_count as f64,
            );
        }
        // Every outcome is listed, zero or not, so queries need no `or`.
        let counts = store.run_counts()?;
        for outcome in ["ok", "failed", "unreachable", "interrupted", "running"] {
            let n = counts
                .iter()
                .find(|(o, _)| o == outcome)
                .map_or(0, |(_, n)| *n);
            expo.add(
                "herd_runs",
                "runs in the results store by outcome",
                &[("outcome", outcome)],
                n as f64,
            );
        }
        let firing: Vec<_> = store
            .alert_states()?
            .into_iter()
            .filter(|s| s.firing)
            .collect();
        expo.add(
            "herd_alerts_firing",
            "alerts firing now, over all hosts",
            &[],
            firing.len() as f64,
        );
        for s in &firing {
            let g = groups(&s.host);
            expo.add(
                "herd_alert_firing",
                "1 for each alert firing on a host",
                &[("alert", &s.alert), ("host", &s.host), ("groups", &g)],
                1.0,
            );
        }
        Ok(crate::secrets::redact::redact(&expo.finish()).into_owned())
    })??;
    Ok(Reply::new(CONTENT_TYPE, body))
}

/// The family name, the varying label (if any) and the factor that turns
/// the value into the name's base unit, of a herd metric.
fn family_of(metric: &str) -> (String, Option<(&'static str, String)>, f64) {
    let parametrised = [
        ("disk.", "disk", "mount"),
        ("service.", "service", "service"),
        ("probe.ping.", "probe_ping", "dest"),
        ("probe.tcp.", "probe_tcp", "dest"),
    ];
    for (prefix, family, label) in parametrised {
        if let Some(rest) = metric.strip_prefix(prefix)
            && let Some((value, field)) = rest.rsplit_once('.')
            && !value.is_empty()
        {
            let (name, scale) = conventional(&format!("{family}_{}", sanitize(field)));
            return (
                format!("herd_host_{name}"),
                Some((label, value.to_string())),
                scale,
            );
        }
    }
    let (name, scale) = conventional(&sanitize(metric));
    (format!("herd_host_{name}"), None, scale)
}

/// Units a name may spell, as (word, base unit, factor to the base unit).
const UNITS: [(&str, &str, f64); 20] = [
    ("ms", "seconds", 1e-3),
    ("milliseconds", "seconds", 1e-3),
    ("us", "seconds", 1e-6),
    ("microseconds", "seconds", 1e-6),
    ("ns", "seconds", 1e-9),
    ("nanoseconds", "seconds", 1e-9),
    ("s", "seconds", 1.0),
    ("sec", "seconds", 1.0),
    ("m", "seconds", 60.0),
    ("minutes", "seconds", 60.0),
    ("h", "seconds", 3600.0),
    ("hours", "seconds", 3600.0),
    ("d", "seconds", 86_400.0),
    ("days", "seconds", 86_400.0),
    ("b", "bytes", 1.0),
    ("kb", "bytes", 1e3),
    ("mb", "bytes", 1e6),
    ("gb", "bytes", 1e9),
    ("tb", "bytes", 1e12),
    ("pb", "bytes", 1e15),
];

/// `name` (already `[a-zA-Z0-9_]`) in base units and without the suffixes
/// Prometheus keeps for counters and histograms; the value's factor.
fn conventional(name: &str) -> (String, f64) {
    let mut scale = 1.0;
    let mut parts: Vec<&str> = name
        .split('_')
        .map(
            |part| match UNITS.iter().find(|u| part.eq_ignore_ascii_case(u.0)) {
                Some((_, base, factor)) => {
                    scale *= factor;
                    *base
                }
                None => part,
            },
        )
        .collect();
    while parts.len() > 1 && ["total", "count", "sum", "bucket"].contains(&parts[parts.len() - 1]) {
        parts.pop();
    }
    (parts.join("_"), scale)
}

/// The herd name a family stands for, with its label as a placeholder.
fn pattern_of(metric: &str) -> String {
    match family_of(metric) {
        (_, Some((label, value)), _) => metric.replacen(&value, &label.to_uppercase(), 1),
        (_, None, _) => metric.to_string(),
    }
}

/// A Prometheus metric name part: `[a-zA-Z0-9_]`, anything else `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn herd_names_map_to_families_with_labels_and_base_units() {
        assert_eq!(family_of("load.1"), ("herd_host_load_1".into(), None, 1.0));
        assert_eq!(
            family_of("disk./var/lib.used_pct"),
            (
                "herd_host_disk_used_pct".into(),
                Some(("mount", "/var/lib".into())),
                1.0
            )
        );
        assert_eq!(
            family_of("probe.ping.10.0.0.1.rtt_ms"),
            (
                "herd_host_probe_ping_rtt_seconds".into(),
                Some(("dest", "10.0.0.1".into())),
                1e-3
            )
        );
        assert_eq!(family_of("procs.count").0, "herd_host_procs");
        assert_eq!(family_of("jobs_total").0, "herd_host_jobs");
        assert_eq!(family_of("count").0, "herd_host_count");
        assert_eq!(
            family_of("app-x.queue depth"),
            ("herd_host_app_x_queue_depth".into(), None, 1.0)
        );
        assert_eq!(
            family_of("cache.size_kb"),
            ("herd_host_cache_size_bytes".into(), None, 1e3)
        );
        assert_eq!(pattern_of("disk./.used_pct"), "disk.MOUNT.used_pct");
    }

    #[test]
    fn families_are_contiguous_labels_escaped_and_duplicates_dropped() {
        let mut e = Exposition::default();
        e.add("b", "B", &[("host", "x\"y\\z\nw")], 1.5);
        e.add("a", "A", &[], f64::INFINITY);
        e.add("b", "B", &[("host", "h2")], f64::NAN);
        e.add("b", "B", &[("host", "h2")], 3.0);
        assert_eq!(
            e.finish(),
            "# HELP a A\n# TYPE a gauge\na +Inf\n\
             # HELP b B\n# TYPE b gauge\nb{host=\"x\\\"y\\\\z\\nw\"} 1.5\nb{host=\"h2\"} NaN\n"
        );
    }
}
