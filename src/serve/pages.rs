//! The HTML pages: fleet, host, runs, one run, alerts. Each gathers what
//! it shows from the store into plain values; the minijinja templates in
//! `templates/` lay them out, escaping every value (autoescape is on for
//! `.html` templates), so host output can never become markup.

use std::time::Duration;

use minijinja::{Environment, context};
use serde_json::{Value, json};

use super::app::{App, Failure};
use super::http::{self, HTML, Reply};
use super::params::{Query, RANGES, encode};
use crate::collect::when::format_age;
use crate::report::chart::{self, Series};
use crate::report::fold::fold;
use crate::report::hostlist::compress;
use crate::report::text::{self, Recap, format_duration};
use crate::report::{html, tasks};
use crate::store::Store;

/// The live-refresh script, served at `/live.js`.
pub const LIVE_SCRIPT: &str = include_str!("templates/live.js");

/// Rows shown in lists (runs, alert log, a host's runs and tasks).
const RECENT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// Points per chart line at most: about one per horizontal pixel.
const CHART_POINTS: usize = 720;

const EXTRA_STYLE: &str = "nav{margin-bottom:1em}nav a{margin-right:.3em}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;max-height:40em}\
section.group{border-left:4px solid #08732a;padding-left:.8em;margin:1em 0}\
section.group.failed{border-color:#b00020}section.group.unreachable{border-color:#c77700}\
section.group.interrupted{border-color:#8a2be2}.filter a{margin-left:.4em}a.current{font-weight:700}\
.unreachable{color:#c77700;font-weight:600}.changed{color:#c77700}.skipped{color:#777}";

/// The page templates, loaded once.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("fleet.html", include_str!("templates/fleet.html")),
        ("host.html", include_str!("templates/host.html")),
        ("runs.html", include_str!("templates/runs.html")),
        ("run.html", include_str!("templates/run.html")),
        ("alerts.html", include_str!("templates/alerts.html")),
    ] {
        env.add_template(name, source)
            .expect("herd's own page templates parse");
    }
    env
}

/// Renders `template` with the layout's values and `page`'s, secrets masked.
fn render(app: &App, template: &str, live: bool, page: Value) -> Result<Reply, Failure> {
    let now = text::local_time(jiff::Timestamp::now().as_millisecond(), &app.tz);
    let style = format!("{}{EXTRA_STYLE}", html::STYLE);
    let ctx = context! {
        style,
        now,
        live,
        refresh => app.settings.refresh,
        ..minijinja::Value::from(minijinja::value::Serde(&page))
    };
    let body = app
        .templates
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Failure::Internal(format!("template {template}: {e:#}")))?;
    Ok(Reply::new(
        HTML,
        crate::secrets::redact::redact(&body).into_owned(),
    ))
}

/// `/`: every host worst first, `?pattern=` to narrow.
pub fn fleet(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["pattern"])?;
    let pattern = q.get("pattern");
    let page = app.with_store(|store| -> Result<Value, Failure> {
        let view = app.fleet(store, pattern)?;
        let now = jiff::Timestamp::now().as_second();
        let count = |s| view.rows.iter().filter(|r| r.state == s).count();
        let rows: Vec<Value> = view
            .rows
            .iter()
            .map(|r| {
                json!({
                    "host": r.host,
                    "href": encode(&r.host),
                    "state": r.state,
                    "state_text": match (r.state, &r.error) {
                        ("down", Some(e)) => format!("down: {e}"),
                        ("unknown", _) => "never collected".into(),
                        (s, _) => s.to_string(),
                    },
                    "load": number(r.load1),
                    "cpu": number(r.cpu_pct),
                    "mem": number(r.mem_pct),
                    "disk": match (r.disk_pct, &r.disk_mount) {
                        (Some(p), Some(m)) => format!("{p:.0}% {m}"),
                        _ => "–".into(),
                    },
                    "last_seen": ago(r.last_seen, now),
                    "firing": view.firing.get(&r.host).map(|a| a.join(", ")).unwrap_or_default(),
                    "release": view.releases.get(&r.host).cloned().unwrap_or_default(),
                })
            })
            .collect();
        Ok(json!({
            "rows": rows,
            "pattern": pattern.unwrap_or(""),
            "groups": app.group_names(),
            "collected": view.rows.iter().any(|r| r.state != "unknown"),
            "counts": {"up": count("up"), "down": count("down"), "unknown": count("unknown")},
            "firing_total": view.firing.values().map(Vec::len).sum::<usize>(),
        }))
    })??;
    render(app, "fleet.html", true, page)
}

/// `/hosts/NAME`: one host's charts, runs, tasks, alerts, releases,
/// backups and audit.
pub fn host(app: &App, host: &str, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["range"])?;
    let range = q.range()?;
    let page = app.with_store(|store| -> Result<Value, Failure> {
        if !app.knows_host(store, host)? {
            return Err(Failure::NotFound(format!(
                "no host `{host}` in the inventory: see / for the fleet"
            )));
        }
        let now = jiff::Timestamp::now().as_second();
        let status = crate::report::fleet::fleet_status(store, vec![host.to_string()])?
            .pop()
            .expect("one host in, one row out");
        let firing = crate::report::fleet::firing_by_host(store)?
            .remove(host)
            .unwrap_or_default();
        let releases = store.host_release_steps(host, RECENT)?;
        let (backups, backups_note) = backups(app, host);
        let audit = store.host_audit(host)?;
        Ok(json!({
            "host": host,
            "state": status.state,
            "state_text": match (status.state, &status.error) {
                ("down", Some(e)) => format!("down: {e}"),
                ("unknown", _) => "never collected".into(),
                (s, _) => s.to_string(),
            },
            "last_seen": ago(status.last_seen, now),
            "groups": app.groups_of(host),
            "release": store.current_releases()?.remove(host),
            "firing": firing,
            "range": range.name,
            "ranges": RANGES.iter().map(|r| r.name).collect::<Vec<_>>(),
            "charts": charts(app, store, host, now - range.seconds, now)?,
            "runs": store.host_runs(host, RECENT)?.iter().map(|r| json!({
                "id": r.run.0,
                "started": text::local_time(r.started_at, &app.tz),
                "kind": r.kind,
                "command": r.command,
                "status": r.status,
                "status_text": match r.exit_code {
                    Some(code) if r.status == "failed" => format!("failed (exit {code})"),
                    _ => r.status.clone(),
                },
                "duration": format_duration(Duration::from_millis(r.duration_ms.max(0) as u64)),
            })).collect::<Vec<_>>(),
            "tasks": store.host_task_results(host, RECENT)?.iter().map(|(run, t)| json!({
                "run": run.0, "task": t.task, "location": t.location,
                "status": t.status, "msg": t.msg,
            })).collect::<Vec<_>>(),
            "alerts": store.host_alert_log(host, RECENT)?.iter().map(|a| json!({
                "time": text::local_time(a.ts * 1000, &app.tz),
                "event": a.event, "alert": a.alert, "severity": a.severity, "message": a.message,
            })).collect::<Vec<_>>(),
            "releases": releases.iter().map(|(run, s)| json!({
                "run": run.0,
                "time": text::local_time(s.started_at, &app.tz),
                "step": s.step, "release": s.release, "detail": s.detail,
            })).collect::<Vec<_>>(),
            "backups": backups,
            "backups_note": backups_note,
            "audit_time": audit.as_ref().map(|(t, _)| text::local_time(*t, &app.tz)),
            "audit": audit.map(|(_, rows)| rows).unwrap_or_default(),
        }))
    })??;
    render(app, "host.html", false, page)
}

/// One chart per metric the host has samples of in `since..=until`.
fn charts(
    app: &App,
    store: &Store,
    host: &str,
    since: i64,
    until: i64,
) -> Result<Vec<Value>, Failure> {
    let samples = store.host_samples(host, since, until)?;
    let mut charts = Vec::new();
    let axis = |secs: i64| html::axis_label(secs, until - since, &app.tz);
    for group in samples.chunk_by(|a, b| a.metric == b.metric) {
        let points: Vec<(i64, f64)> = group.iter().map(|s| (s.ts, s.value)).collect();
        let last = points.last().map(|p| p.1);
        let series = [Series {
            host,
            points: chart::thin(&points, CHART_POINTS),
        }];
        charts.push(json!({
            "metric": group[0].metric,
            "last": number(last),
            "svg": chart::line_chart(&group[0].metric, &series, &axis),
        }));
    }
    Ok(charts)
}

/// The host's backups on this machine, newest first, or why none show.
fn backups(app: &App, host: &str) -> (Vec<Value>, String) {
    let backups = crate::backup::Backups::new(&app.settings.state_dir);
    match backups.list(Some(host)) {
        Ok(list) if list.is_empty() => (Vec::new(), "no backups: `herd backup`".into()),
        Ok(list) => (
            list.iter()
                .rev()
                .map(|b| {
                    json!({
                        "id": b.id, "created": b.created, "paths": b.paths.join(" "),
                        "files": b.files, "bytes": b.bytes, "encrypted": b.encrypted,
                    })
                })
                .collect(),
            String::new(),
        ),
        Err(e) => (Vec::new(), format!("cannot list backups: {e}")),
    }
}

/// `/runs`: the newest runs (`?limit=`, default 50).
pub fn runs(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["limit"])?;
    let limit = q.count("limit", RECENT, MAX_LIMIT)?;
    let runs = app.with_store(|store| store.recent_runs(limit))??;
    let rows: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "id": r.id.0,
                "started": text::local_time(r.started_at, &app.tz),
                "duration": r.duration_ms.map(|ms| format_duration(Duration::from_millis(ms.max(0) as u64))).unwrap_or_else(|| "-".into()),
                "outcome": r.outcome.as_str(),
                "kind": r.kind, "ok": r.ok, "failed": r.failed, "unreachable": r.unreachable,
                "pattern": r.pattern, "command": r.command,
            })
        })
        .collect();
    render(app, "runs.html", false, json!({ "runs": rows }))
}

/// `/runs/ID`: one run, hosts folded by identical result as the terminal
/// shows them, then each host's own output; a running run refreshes.
pub fn run(app: &App, id: &str, query: Option<&str>) -> Result<Reply, Failure> {
    Query::parse(query, &[])?;
    let id = http::run_id(id)?;
    let (detail, task_records) = app.with_store(|store| -> Result<_, Failure> {
        let detail = store
            .run(id)?
            .ok_or_else(|| Failure::NotFound(format!("no run {id}: see /runs")))?;
        Ok((detail, store.task_results(id)?))
    })??;
    let s = &detail.summary;
    let results = detail.results();
    let elapsed_ms = s
        .duration_ms
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond() - s.started_at);
    let elapsed = Duration::from_millis(elapsed_ms.max(0) as u64);
    let recap = {
        let mut out = Vec::new();
        let recap = Recap::new(&results, s.host_count, elapsed);
        let _ = text::write_recap(&mut out, &recap, false);
        String::from_utf8_lossy(&out).trim_end().to_string()
    };
    let groups: Vec<Value> = fold(&results)
        .iter()
        .map(|g| {
            let names: Vec<String> = g.hosts.iter().map(|h| h.to_string()).collect();
            let mut title = compress(&names);
            if names.len() > 1 {
                title.push_str(&format!(" ({})", names.len()));
            }
            json!({
                "title": title,
                "status": g.status.as_str(),
                "stdout": g.stdout,
                "stderr": g.stderr,
                "status_line": text::status_line(g.status, g.exit_code, g.error),
            })
        })
        .collect();
    let hosts: Vec<Value> = detail
        .hosts
        .iter()
        .map(|h| {
            let r = &h.result;
            let first_line = r.stdout.lines().next().or(r.error.as_deref()).unwrap_or("");
            json!({
                "host": r.host, "href": encode(&r.host), "status": r.status.as_str(),
                "exit": r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                "duration": format_duration(r.duration),
                "summary": shorten(first_line, 80),
                "stdout": r.stdout, "stderr": r.stderr, "error": r.error,
            })
        })
        .collect();
    let page = json!({
        "run": s,
        "started": text::local_time(s.started_at, &app.tz),
        "duration": format_duration(elapsed),
        "recap": recap,
        "truncated": detail.hosts.iter().any(|h| h.stdout_truncated || h.stderr_truncated),
        "cap_kib": crate::store::OUTPUT_CAP / 1024,
        "tasks": tasks::by_task(&task_records),
        "groups": groups,
        "hosts": hosts,
    });
    let live = s.outcome == crate::engine::RunOutcome::Running;
    render(app, "run.html", live, page)
}

/// `/alerts`: what fires now, and the log (`?limit=`).
pub fn alerts(app: &App, query: Option<&str>) -> Result<Reply, Failure> {
    let q = Query::parse(query, &["limit"])?;
    let limit = q.count("limit", RECENT, MAX_LIMIT)?;
    let (states, log) = app.with_store(|store| -> Result<_, Failure> {
        Ok((store.alert_states()?, store.alert_log(limit)?))
    })??;
    let time = |secs: i64| text::local_time(secs * 1000, &app.tz);
    let page = json!({
        "firing": states.iter().filter(|s| s.firing).map(|s| json!({
            "alert": s.alert, "host": s.host, "href": encode(&s.host),
            "since": time(s.since), "value": number(s.value),
        })).collect::<Vec<_>>(),
        "log": log.iter().map(|a| json!({
            "time": time(a.ts), "event": a.event, "alert": a.alert, "host": a.host,
            "href": encode(&a.host), "severity": a.severity, "message": a.message,
            "notification": a.notification, "error": a.error,
        })).collect::<Vec<_>>(),
    });
    render(app, "alerts.html", false, page)
}

/// A value to two places, or a dash.
fn number(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

/// "3m ago", or "never".
fn ago(ts: Option<i64>, now: i64) -> String {
    ts.map_or("never".into(), |t| format!("{} ago", format_age(now - t)))
}

/// At most `max` characters, a cut marked with "…".
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}
