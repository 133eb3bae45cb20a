//! `herd report --html`: a self-contained page, checked the way a user sees
//! it, by rendering it in headless Chromium.

use crate::fleet;
use crate::support;

use std::path::Path;

use fleet::Fleet;
use herd::store::{Reach, Sample, Store};
use support::Herd;

const METRICS: [&str; 3] = ["disk./.used_pct", "load.1", "mem.used_pct"];

/// An hour of samples every 5 minutes for host1 and host2 (host3 stopped
/// answering 10 minutes ago), as `herd collect` writes them.
fn seed(fleet: &Fleet) {
    let mut store = Store::open(&fleet.dir.join(".herd")).unwrap();
    let now = jiff::Timestamp::now().as_second();
    for i in 0..12 {
        let ts = now - 3600 + i * 300;
        let c = store.begin_collection(ts, 3).unwrap();
        let mut samples = Vec::new();
        let mut reach = Vec::new();
        for (h, host) in ["host1", "host2", "host3"].into_iter().enumerate() {
            let up = host != "host3" || i < 10;
            reach.push(Reach {
                host: host.into(),
                ts,
                reachable: up,
                error: (!up).then(|| "connection refused".into()),
            });
            if !up {
                continue;
            }
            for (m, metric) in METRICS.into_iter().enumerate() {
                samples.push(Sample {
                    host: host.into(),
                    metric: metric.into(),
                    ts,
                    value: (h * 10 + m * 20) as f64 + i as f64,
                });
            }
        }
        store.record_samples(c, &samples, &reach).unwrap();
        store.finish_collection(c, ts).unwrap();
    }
}

/// Chromium's rendered DOM of the report file, or None without Chromium.
fn render(page: &Path) -> Option<String> {
    support::chromium_dom(&format!("file://{}", page.display()), &[])
}

#[test]
fn html_report_renders_fleet_runs_alerts_and_a_chart_per_metric() {
    let fleet = Fleet::builder().hosts(3).start();
    seed(&fleet);
    // A real run, and an alert that fires, so both tables have rows.
    Herd::in_dir(&fleet.dir)
        .args(["run", "all", "--", "true"])
        .run();
    std::fs::write(
        fleet.path("alerts.yml"),
        "alerts:\n  - name: host_down\n    unreachable: true\n",
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["alerts"])
        .run()
        .success()
        .stdout_has("fire     host_down fired on host3");

    let page = fleet.path("report.html");
    Herd::in_dir(&fleet.dir)
        .args(["report", "--html", "report.html", "--since", "2h"])
        .run()
        .success()
        .stderr_has("wrote report.html (3 hosts, 3 charts)");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch.
    for external in ["<script", "src=", "href=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "report refers to {external}");
    }

    let Some(dom) = render(&page) else { return };
    // Fleet table: a row per host, the unreachable one first.
    assert_eq!(dom.matches("<tr class=\"host\">").count(), 3, "{dom}");
    let host3 = dom.find("<td>host3</td>").expect("host3 row");
    assert!(
        host3 < dom.find("<td>host1</td>").unwrap(),
        "down hosts first"
    );
    let host3_row = &dom[host3..host3 + dom[host3..].find("</tr>").unwrap()];
    assert!(
        host3_row.contains("down: connection refused"),
        "{host3_row}"
    );
    assert!(
        host3_row.contains(">host_down<"),
        "firing alert: {host3_row}"
    );
    // One chart per metric, a line per host that has samples.
    assert_eq!(dom.matches("<svg").count(), METRICS.len(), "{dom}");
    for metric in METRICS {
        let start = dom
            .find(&format!("data-metric=\"{metric}\""))
            .unwrap_or_else(|| panic!("no chart for {metric}"));
        let chart = &dom[start..start + dom[start..].find("</svg>").unwrap()];
        assert_eq!(chart.matches("<polyline").count(), 3, "{chart}");
        assert!(chart.contains("class=\"x-label\""), "{chart}");
        for host in ["host1", "host2", "host3"] {
            assert!(chart.contains(&format!(">{host}</text>")), "{chart}");
        }
    }
    // Recent runs and alerts.
    assert!(dom.contains("<tr class=\"run\">"), "{dom}");
    assert!(dom.contains("<code>true</code>"), "{dom}");
    assert!(dom.contains("<tr class=\"alert\">"), "{dom}");
    assert!(dom.contains("host_down fired on host3"), "{dom}");
}
