//! `herd alerts` over metric series in the store of a real fleet project:
//! firing after `for`, one notification per state with cooldown, resolving,
//! dry runs, notify commands and webhooks, and the alert log.
//!
//! The samples are written through the library the way `herd collect`
//! writes them; `--at` evaluates as of a chosen time so a timeline of
//! evaluations is exact.

use crate::fleet;
use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;

use fleet::Fleet;
use herd::store::{Reach, Sample, Store};
use support::{Herd, Outcome};

/// A fixed time far from now, so "now" never interferes.
const T: i64 = 1_800_000_000;

/// Stores `series` as `herd collect` would: one collection per time, every
/// host reached.
fn seed(fleet: &Fleet, metric: &str, series: &[(&str, &[(i64, f64)])]) {
    let mut store = Store::open(&fleet.dir.join(".herd")).unwrap();
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .collect();
    times.sort();
    times.dedup();
    for ts in times {
        let c = store.begin_collection(ts, series.len()).unwrap();
        let samples: Vec<Sample> = series
            .iter()
            .flat_map(|(host, points)| {
                points.iter().filter(|p| p.0 == ts).map(|p| Sample {
                    host: host.to_string(),
                    metric: metric.into(),
                    ts,
                    value: p.1,
                })
            })
            .collect();
        let reach: Vec<Reach> = samples
            .iter()
            .map(|s| Reach {
                host: s.host.clone(),
                ts,
                reachable: true,
                error: None,
            })
            .collect();
        store.record_samples(c, &samples, &reach).unwrap();
        store.finish_collection(c, ts).unwrap();
    }
}

fn alerts(fleet: &Fleet, at: i64, extra: &[&str]) -> Outcome {
    Herd::in_dir(&fleet.dir)
        .args(["alerts", "--at", &at.to_string()])
        .args(extra)
        .run()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn high_load_rules(notify: &str) -> String {
    format!(
        "alerts:\n  - name: high_load\n    metric: load.1\n    op: \">\"\n    value: 4\n    for: 5m\n    hosts: web\n    cooldown: 30m\n    severity: critical\nnotify:\n{notify}"
    )
}

#[test]
fn fires_notifies_once_stays_quiet_in_cooldown_and_resolves() {
    let fleet = Fleet::builder().hosts(3).start();
    let notified = fleet.path("notified.jsonl");
    std::fs::write(
        fleet.path("alerts.yml"),
        high_load_rules(&format!(
            "  command: cat >> {0}; echo >> {0}\n",
            notified.display()
        )),
    )
    .unwrap();
    // host1 is loaded from T, clears at T+900, flaps back at T+1200 and
    // clears for good at T+2100; host2 stays calm; host3 (db) is loaded
    // but not in the alert's `hosts: web`.
    let loaded: Vec<(i64, f64)> = (0..16)
        .map(|i| {
            let ts = T + i * 300;
            let high = matches!(i, 0..=2 | 4..=6);
            (ts, if high { 6.0 } else { 1.0 })
        })
        .collect();
    let calm: Vec<(i64, f64)> = (0..16).map(|i| (T + i * 300, 0.5)).collect();
    let db: Vec<(i64, f64)> = (0..16).map(|i| (T + i * 300, 9.0)).collect();
    seed(
        &fleet,
        "load.1",
        &[("host1", &loaded), ("host2", &calm), ("host3", &db)],
    );

    // Loaded for less than 5m: pending, nobody told.
    alerts(&fleet, T + 100, &[])
        .success()
        .stdout_has("nothing firing")
        .stdout_has("pending: high_load on host1");
    assert!(lines(&notified).is_empty());

    // 5m in: fires and the command gets the event as JSON.
    alerts(&fleet, T + 300, &[])
        .success()
        .stdout_has("fire     high_load fired on host1: load.1 = 6")
        .stdout_has("[notified]")
        .stdout_has("firing: high_load on host1");
    let events = lines(&notified);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["alert"], "high_load");
    assert_eq!(e["host"], "host1");
    assert_eq!(e["event"], "fire");
    assert_eq!(e["severity"], "critical");
    assert_eq!(e["metric"], "load.1");
    assert_eq!(e["op"], ">");
    assert_eq!(e["threshold"], 4.0);
    assert_eq!(e["value"], 6.0);
    assert_eq!(e["time"], T + 300);

    // Still firing: nothing new to tell.
    let out = alerts(&fleet, T + 600, &[]).success();
    assert!(!out.stdout.contains("notified"), "{}", out.stdout);
    assert_eq!(lines(&notified).len(), 1);

    // Clears 10 minutes after the notification: resolved, but the cooldown
    // holds the notice back.
    alerts(&fleet, T + 900, &[])
        .success()
        .stdout_has("resolve  high_load resolved on host1")
        .stdout_has("[not notified: cooldown]")
        .stdout_has("nothing firing");
    // Flaps back: they were told it fires, so nothing to send.
    alerts(&fleet, T + 1500, &[])
        .success()
        .stdout_has("fire     high_load fired on host1")
        .stdout_has("[no notification needed]");
    assert_eq!(lines(&notified).len(), 1, "flapping must not notify");

    // Clears after the cooldown: the resolve is sent.
    alerts(&fleet, T + 2100, &[])
        .success()
        .stdout_has("resolve  high_load resolved on host1")
        .stdout_has("[notified]");
    let events = lines(&notified);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["event"], "resolve");
    assert_eq!(events[1]["value"], 1.0);
    // ... and only once.
    alerts(&fleet, T + 2400, &[]).success();
    assert_eq!(lines(&notified).len(), 2);

    // The log has every transition and what the admin was told, newest first.
    let log = Herd::in_dir(&fleet.dir)
        .args(["alerts", "log", "--format", "json"])
        .run()
        .success()
        .json_lines();
    let summary: Vec<(String, String)> = log
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["notification"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("resolve", "sent"),
        ("fire", "not needed"),
        ("resolve", "cooldown"),
        ("fire", "sent"),
    ];
    assert_eq!(
        summary,
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    Herd::in_dir(&fleet.dir)
        .args(["alerts", "log"])
        .run()
        .success()
        .stdout_has("high_load fired on host1: load.1 = 6 (rule: load.1 > 4 for 5m)")
        .stdout_has("[critical; sent]");
}

#[test]
fn test_mode_changes_nothing() {
    let fleet = Fleet::builder().hosts(2).start();
    let notified = fleet.path("notified.jsonl");
    std::fs::write(
        fleet.path("alerts.yml"),
        high_load_rules(&format!("  command: cat >> {}\n", notified.display())),
    )
    .unwrap();
    seed(&fleet, "load.1", &[("host1", &[(T, 8.0), (T + 300, 8.0)])]);

    for _ in 0..2 {
        alerts(&fleet, T + 300, &["--test"])
            .success()
            .stdout_has("would fire     high_load fired on host1: load.1 = 8")
            .stdout_has("[would notify]")
            .stdout_has("(dry run: nobody notified, nothing saved)");
    }
    assert!(!notified.exists(), "--test ran the notifier");
    Herd::in_dir(&fleet.dir)
        .args(["alerts", "log"])
        .run()
        .success()
        .stdout_has("no alerts recorded yet");
    // The real run still sees the change the dry runs reported.
    alerts(&fleet, T + 300, &[])
        .success()
        .stdout_has("[notified]");
    assert!(notified.exists());
}

/// A one-request-at-a-time HTTP server on 127.0.0.1 that answers 200 and
/// hands each request's path, content type and body to the test.
fn webhook_listener() -> (u16, mpsc::Receiver<(String, String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            let target = request_line.split_whitespace().nth(1).unwrap().to_string();
            let line = format!("{} {target}", request_line.split(' ').next().unwrap());
            if tx
                .send((line, content_type, String::from_utf8(body).unwrap()))
                .is_err()
            {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn webhook_gets_the_event_posted_as_json() {
    let fleet = Fleet::builder().hosts(2).start();
    let (port, requests) = webhook_listener();
    std::fs::write(
        fleet.path("alerts.yml"),
        format!(
            "alerts:\n  - name: host_down\n    unreachable: true\n    for: 10m\n    severity: page\nnotify:\n  webhook: http://127.0.0.1:{port}/hook\n"
        ),
    )
    .unwrap();
    // host2 stops answering collections at T+300.
    let mut store = Store::open(&fleet.dir.join(".herd")).unwrap();
    for i in 0..4 {
        let ts = T + i * 300;
        let c = store.begin_collection(ts, 2).unwrap();
        let reach = |host: &str, reachable: bool| Reach {
            host: host.into(),
            ts,
            reachable,
            error: (!reachable).then(|| "connection refused".into()),
        };
        store
            .record_samples(c, &[], &[reach("host1", true), reach("host2", i == 0)])
            .unwrap();
    }
    drop(store);

    alerts(&fleet, T + 600, &[])
        .success()
        .stdout_has("pending: host_down on host2");
    alerts(&fleet, T + 900, &[])
        .success()
        .stdout_has("fire     host_down fired on host2 (rule: unreachable for 10m)")
        .stdout_has("[notified]");
    let (line, content_type, body) = requests
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the webhook was called");
    assert_eq!(line, "POST /hook");
    assert_eq!(content_type, "application/json");
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["alert"], "host_down");
    assert_eq!(event["host"], "host2");
    assert_eq!(event["event"], "fire");
    assert_eq!(event["severity"], "page");
    assert_eq!(event["unreachable"], true);
    assert!(requests.try_recv().is_err(), "one alert, one request");
}

#[test]
fn a_failing_notifier_is_recorded_and_retried() {
    let fleet = Fleet::builder().hosts(2).start();
    seed(&fleet, "load.1", &[("host1", &[(T, 8.0), (T + 300, 8.0)])]);
    std::fs::write(
        fleet.path("alerts.yml"),
        high_load_rules("  command: echo pager is down >&2; exit 3\n"),
    )
    .unwrap();
    let out = alerts(&fleet, T + 300, &[])
        .code(1)
        .stdout_has("NOTIFICATION FAILED")
        .stdout_has("pager is down")
        .stderr_has("notification(s) failed");
    // The evaluation itself went through.
    assert!(
        out.stdout.contains("firing: high_load on host1"),
        "{}",
        out.stdout
    );
    Herd::in_dir(&fleet.dir)
        .args(["alerts", "log"])
        .run()
        .success()
        .stdout_has(
            "failed: command `echo pager is down >&2; exit 3`: exit status: 3: pager is down",
        );

    // With the notifier fixed, the next run tells them.
    let notified = fleet.path("notified.jsonl");
    std::fs::write(
        fleet.path("alerts.yml"),
        high_load_rules(&format!("  command: cat >> {}\n", notified.display())),
    )
    .unwrap();
    alerts(&fleet, T + 600, &[])
        .success()
        .stdout_has("fire     high_load fired on host1: load.1 = 8 (rule: load.1 > 4 for 5m) (delayed notification)");
    assert_eq!(lines(&notified).len(), 1);
}

#[test]
fn mistakes_in_alerts_yml_name_file_line_and_column() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.path("alerts.yml"),
        "alerts:\n  - name: high_load\n    metric: load.1\n    op: \"=>\"\n    value: 4\n",
    )
    .unwrap();
    alerts(&fleet, T, &[]).code(2).stderr_has("alerts.yml:4:");
    std::fs::write(
        fleet.path("alerts.yml"),
        "alerts:\n  - name: high_load\n    metric: load.1\n",
    )
    .unwrap();
    alerts(&fleet, T, &[])
        .code(2)
        .stderr_has("alerts.yml:2:11: alert `high_load`: needs `op:`");
    std::fs::remove_file(fleet.path("alerts.yml")).unwrap();
    alerts(&fleet, T, &[])
        .code(2)
        .stderr_has("alerts.yml: cannot read alert rules")
        .stderr_has("--config FILE");
}

#[test]
fn collected_metrics_fire_cool_down_and_resolve_end_to_end() {
    let mut fleet = Fleet::builder().hosts(2).start();
    std::fs::write(
        fleet.path("collect.yml"),
        "collectors:\n  - name: queue_depth\n    command: cat \"$HOME/../root/depth\"\n    parse: number\n",
    )
    .unwrap();
    let notified = fleet.path("notified.jsonl");
    std::fs::write(
        fleet.path("alerts.yml"),
        format!(
            "alerts:\n  - name: deep_queue\n    metric: queue_depth\n    op: \">=\"\n    value: 10\n    cooldown: 10m\n  - name: host_down\n    unreachable: true\nnotify:\n  command: cat >> {0}; echo >> {0}\n",
            notified.display()
        ),
    )
    .unwrap();
    let depth = |fleet: &Fleet, host: usize, value: u32| {
        std::fs::write(fleet.hosts[host].root.join("depth"), format!("{value}\n")).unwrap();
    };
    let collect = |fleet: &Fleet| Herd::in_dir(&fleet.dir).args(["collect"]).run();
    let evaluate = |fleet: &Fleet, extra: &[&str]| {
        Herd::in_dir(&fleet.dir)
            .args(["alerts"])
            .args(extra)
            .run()
            .success()
    };
    let events = || -> Vec<(String, String, String)> {
        lines(&notified)
            .iter()
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap().to_string();
                (field("alert"), field("host"), field("event"))
            })
            .collect()
    };
    let event = |alert: &str, host: &str, event: &str| {
        (alert.to_string(), host.to_string(), event.to_string())
    };

    depth(&fleet, 0, 50);
    depth(&fleet, 1, 1);
    collect(&fleet).success();
    evaluate(&fleet, &[])
        .stdout_has("deep_queue fired on host1: queue_depth = 50")
        .stdout_has("[notified]");
    assert_eq!(events(), [event("deep_queue", "host1", "fire")]);

    // The queue drains, then fills again, within the cooldown: one notice.
    depth(&fleet, 0, 2);
    collect(&fleet).success();
    evaluate(&fleet, &[]).stdout_has("[not notified: cooldown]");
    depth(&fleet, 0, 60);
    collect(&fleet).success();
    evaluate(&fleet, &[]).stdout_has("[no notification needed]");
    assert_eq!(events().len(), 1);

    // It drains for good and host2 goes away; after the cooldown both are told.
    depth(&fleet, 0, 3);
    fleet.stop_host(1);
    collect(&fleet).stdout_has("1 unreachable (host2)");
    let later = (jiff::Timestamp::now().as_second() + 15 * 60).to_string();
    evaluate(&fleet, &["--at", &later])
        .stdout_has("deep_queue resolved on host1: queue_depth = 3")
        .stdout_has("host_down fired on host2");
    let mut got = events();
    got[1..].sort();
    assert_eq!(
        got,
        [
            event("deep_queue", "host1", "fire"),
            event("deep_queue", "host1", "resolve"),
            event("host_down", "host2", "fire"),
        ]
    );
}
