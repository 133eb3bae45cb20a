//! `herd serve` against a store filled by real collections and runs on the
//! loopback fleet: pages checked the way a user sees them (headless
//! Chromium), `/metrics` checked by Prometheus' own tools, and the guards
//! (token, read-only, bad parameters).

use crate::fleet;
use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

/// A running `herd serve`, stopped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `herd serve --listen 127.0.0.1:0 ARGS` in `dir` and waits
    /// for the address it prints.
    fn start(dir: &Path, args: &[&str]) -> Server {
        let mut child = Herd::in_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .spawn_server();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("herd serve: listening on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| {
                let _ = child.kill();
                let mut rest = String::new();
                let _ = stderr.read_to_string(&mut rest);
                panic!("herd serve did not start: {line}{rest}")
            })
            .parse()
            .unwrap();
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, &[])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status code and body.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The fleet table's rows in page order: (host, state, pressure), where
/// pressure is the highest of CPU, memory and disk use shown.
fn fleet_rows(dom: &str) -> Vec<(String, String, f64)> {
    dom.split("<tr class=\"host\"")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            let attr = |name: &str| {
                let start = row.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                row[start..start + row[start..].find('"').unwrap()].to_string()
            };
            let cell = |class: &str| -> Option<f64> {
                let start = row.find(&format!("class=\"num {class}\">"))? + class.len() + 13;
                let text = &row[start..start + row[start..].find('<')?];
                text.split('%').next()?.trim().parse().ok()
            };
            let pressure = ["cpu", "mem", "disk"]
                .into_iter()
                .filter_map(cell)
                .fold(0.0, f64::max);
            (attr("data-host"), attr("data-state"), pressure)
        })
        .collect()
}

#[test]
fn pages_show_the_fleet_worst_first_a_host_chart_a_folded_run_and_follow_new_collections() {
    let mut fleet = Fleet::builder().hosts(3).start();
    herd(&fleet).args(["collect"]).run().success();
    herd(&fleet)
        .args(["run", "all", "--", "echo hello"])
        .run()
        .success();
    let server = Server::start(&fleet.dir, &[]);

    let Some(dom) = support::chromium_dom(&server.url("/"), &[]) else {
        return;
    };
    let rows = fleet_rows(&dom);
    assert_eq!(rows.len(), 3, "{dom}");
    assert!(rows.iter().all(|r| r.1 == "up"), "{rows:?}");
    assert!(dom.contains("3 up"), "{dom}");

    // A host goes away; cron's collect writes while the server reads.
    fleet.stop_host(1);
    herd(&fleet).args(["collect"]).run().code(4);
    herd(&fleet)
        .args(["run", "all", "--", "echo hello"])
        .run()
        .code(4);

    // Fetched again, the page shows the new collection: host2 down and
    // first, then the others by how loaded they are.
    let dom = support::chromium_dom(&server.url("/"), &[]).unwrap();
    let rows = fleet_rows(&dom);
    assert_eq!(rows.len(), 3, "{dom}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("host2", "down"));
    assert!(rows[1].1 == "up" && rows[2].1 == "up", "{rows:?}");
    assert!(rows[1].2 >= rows[2].2, "worst first: {rows:?}");
    assert!(dom.contains("1 down"), "{dom}");
    // The pattern filter narrows the table.
    let (status, page) = server.get("/?pattern=db");
    assert_eq!(status, 200);
    let hosts: Vec<String> = fleet_rows(&page).into_iter().map(|r| r.0).collect();
    assert_eq!(hosts, ["host3"]);

    // The run page folds hosts with the same output, as the terminal does.
    let dom = support::chromium_dom(&server.url("/runs/2"), &[]).unwrap();
    assert!(dom.contains("Run 2: <code>echo hello</code>"), "{dom}");
    let folded = dom.find("host[1,3] (2)").expect("host1 and host3 folded");
    let section = &dom[folded..folded + dom[folded..].find("</section>").unwrap()];
    assert!(
        section.contains("<pre class=\"stdout\">hello\n</pre>"),
        "{section}"
    );
    let host2 = dom.find("<h3 class=\"group-title\">host2</h3>").unwrap();
    assert!(host2 > folded, "problems after the ok group");
    assert!(dom.contains("2 ok, 0 failed, 1 unreachable"), "{dom}");
    // The runs list links both runs.
    let dom = support::chromium_dom(&server.url("/runs"), &[]).unwrap();
    assert_eq!(dom.matches("<tr class=\"run\">").count(), 2, "{dom}");

    // A host page draws a chart per metric with both collections' points.
    let dom = support::chromium_dom(&server.url("/hosts/host1?range=1h"), &[]).unwrap();
    let start = dom.find("data-metric=\"load.1\"").expect("a load.1 chart");
    let chart = &dom[start..start + dom[start..].find("</svg>").unwrap()];
    assert!(chart.contains("<polyline"), "{chart}");
    assert!(dom.contains("<strong>1h</strong>"), "{dom}");
    assert!(dom.contains("echo hello"), "the host's runs: {dom}");
    let (status, json) = server.get("/api/hosts/host1/history?metric=load.1&range=1h");
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["series"]["load.1"].as_array().unwrap().len(),
        2,
        "{json}"
    );
}

#[test]
fn api_answers_json_and_refuses_bad_requests_with_reasons() {
    let mut fleet = Fleet::builder().hosts(2).start();
    // Before any herd command has written the store there is nothing to serve.
    let out = herd(&fleet)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .run()
        .code(1);
    assert!(
        out.stderr.contains("no results store at") && out.stderr.contains("herd collect"),
        "{}",
        out.stderr
    );
    fleet.stop_host(1);
    herd(&fleet).args(["collect"]).run().code(4);
    herd(&fleet)
        .args(["run", "all", "--", "echo hi"])
        .run()
        .code(4);
    let server = Server::start(&fleet.dir, &[]);

    let (status, body) = server.get("/api/hosts");
    assert_eq!(status, 200, "{body}");
    let hosts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hosts[0]["host"], "host2");
    assert_eq!(hosts[0]["state"], "down");
    assert_eq!(hosts[0]["groups"], serde_json::json!(["db"]));
    assert!(hosts[1]["load1"].is_number(), "{body}");
    let (_, body) = server.get("/api/runs");
    let runs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(runs[0]["command"], "echo hi");
    let (_, body) = server.get("/api/runs/1");
    let run: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(run["hosts"][0]["stdout"], "hi\n");
    assert_eq!(run["hosts"][1]["status"], "unreachable");
    let (status, body) = server.get("/api/alerts");
    assert_eq!(status, 200, "{body}");

    for (path, code, reason) in [
        ("/hosts/host1?range=2w", 400, "`range=2w` is not a range"),
        ("/?patern=web", 400, "unknown parameter `patern`"),
        ("/?pattern=web[", 400, "web["),
        ("/runs?limit=-1", 400, "`limit=-1` is not a count"),
        ("/runs/abc", 400, "`abc` is not a run ID"),
        ("/api/runs/99", 404, "no run 99"),
        ("/hosts/nosuch", 404, "no host `nosuch`"),
        ("/hosts/%ZZ", 400, "bad %-escape"),
        ("/etc/passwd", 404, "no page /etc/passwd"),
    ] {
        let (status, body) = server.get(path);
        assert_eq!(status, code, "{path}: {body}");
        assert!(body.contains(reason), "{path}: {body}");
    }
    // Read-only: nothing but GET and HEAD.
    for method in ["POST", "PUT", "DELETE"] {
        let (status, _) = request(server.addr, method, "/api/runs", &[]);
        assert_eq!(status, 405, "{method}");
    }
    let (status, body) = request(server.addr, "HEAD", "/", &[]);
    assert_eq!((status, body.as_str()), (200, ""));
}

#[test]
fn any_address_but_loopback_needs_a_token_and_requests_without_it_get_401() {
    let (_dir, dir) = support::scratch();
    std::fs::write(dir.join("hosts"), "web1\n").unwrap();
    herd_in(&dir).args(["-i", "hosts", "status"]).run();

    let out = herd_in(&dir)
        .args(["-i", "hosts", "serve", "--listen", "0.0.0.0:8088"])
        .run()
        .code(2);
    assert!(
        out.stderr
            .contains("refusing to serve on 0.0.0.0:8088 without a token"),
        "{}",
        out.stderr
    );
    std::fs::write(dir.join("weak"), "secret\n").unwrap();
    herd_in(&dir)
        .args(["-i", "hosts", "serve", "--listen", "0.0.0.0:0"])
        .args(["--token-file", "weak"])
        .run()
        .code(2)
        .stderr_has("too short");

    let token = "k3Vq9x2LmP0wZr7TbY4nHs";
    std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
    let mut child = herd_in(&dir)
        .args(["-i", "hosts", "serve", "--listen", "0.0.0.0:0"])
        .args(["--token-file", "token"])
        .spawn_server();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    for path in ["/", "/metrics", "/api/hosts"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        let (status, _) = request(
            server.addr,
            "GET",
            path,
            &["Authorization: Bearer wrong-token-123456"],
        );
        assert_eq!(status, 401, "{path}");
        let (status, body) = request(
            server.addr,
            "GET",
            path,
            &[&format!("Authorization: Bearer {token}")],
        );
        assert_eq!(status, 200, "{path}: {body}");
    }
}

fn herd_in(dir: &Path) -> Herd {
    Herd::in_dir(dir).env("HERD_STATE_DIR", dir.join("state"))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn metrics_pass_promtool_and_a_real_prometheus_scrapes_a_hosts_load() {
    let fleet = Fleet::builder().hosts(2).start();
    herd(&fleet).args(["collect"]).run().success();
    herd(&fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
    // An alert that fires on every host, so herd_alert_firing has series.
    std::fs::write(
        fleet.path("alerts.yml"),
        "alerts:\n  - name: any_load\n    metric: load.1\n    op: \">=\"\n    value: 0\n",
    )
    .unwrap();
    herd(&fleet).args(["alerts"]).run().success();
    let token = "prometheus-scrape-token-0123";
    std::fs::write(fleet.path("serve.token"), token).unwrap();
    let server = Server::start(&fleet.dir, &["--token-file", "serve.token"]);
    let (status, text) = request(
        server.addr,
        "GET",
        "/metrics",
        &[&format!("Authorization: Bearer {token}")],
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("herd_runs{outcome=\"ok\"} 1\n"), "{text}");
    assert!(text.contains("herd_hosts_unreachable 0\n"), "{text}");
    assert!(text.contains("herd_alerts_firing 2\n"), "{text}");
    let load_line = text
        .lines()
        .find(|l| l.starts_with("herd_host_load_1{host=\"host1\",groups=\",web,\"}"))
        .unwrap_or_else(|| panic!("no load for host1:\n{text}"));
    let load: f64 = load_line.rsplit(' ').next().unwrap().parse().unwrap();

    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!(
            "\n\n*** SKIPPED: no promtool/prometheus on PATH; run scripts/ensure-deps.sh ***\n"
        );
        return;
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes it every second, with the token.
    let prom_dir = tempfile::tempdir().unwrap();
    let config = prom_dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: herd\n    authorization:\n      credentials_file: {}\n    \
             static_configs:\n      - targets: ['{}']\n",
            fleet.path("serve.token").display(),
            server.addr
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(prom_dir.path().join("log")).unwrap())
        .spawn()
        .expect("start prometheus");
    let prom_addr = SocketAddr::from(([127, 0, 0, 1], prom_port));
    let query = "/api/v1/query?query=herd_host_load_1%7Bhost%3D%22host1%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        if Instant::now() > deadline {
            let _ = prometheus.kill();
            panic!(
                "Prometheus never answered with host1's load:\n{}",
                std::fs::read_to_string(prom_dir.path().join("log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        if TcpStream::connect(prom_addr).is_err() {
            continue;
        }
        let (status, body) = request(prom_addr, "GET", query, &[]);
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) else {
            continue;
        };
        if status == 200
            && json["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        {
            break json;
        }
    };
    // Every query of the Grafana dashboard in examples/ is valid PromQL
    // over these series and finds data.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .replace("$host", ".*");
        let encoded: String = expr
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (status, body) = request(
            prom_addr,
            "GET",
            &format!("/api/v1/query?query={encoded}"),
            &[],
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, &json["status"]),
            (200, &serde_json::json!("success")),
            "{expr}: {body}"
        );
        assert!(
            !json["data"]["result"].as_array().unwrap().is_empty(),
            "{expr} found nothing: {body}"
        );
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let series = &answer["data"]["result"][0];
    assert_eq!(series["metric"]["groups"], ",web,", "{answer}");
    assert_eq!(series["metric"]["job"], "herd", "{answer}");
    let value: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(value, load, "{answer}");
}

/// A proxy in front of `upstream` that runs `before` ahead of forwarding
/// the `nth` request for `path`: a way to change the store between a
/// page's first load and its live refresh. One request per connection.
fn proxy(
    upstream: SocketAddr,
    path: &'static str,
    nth: usize,
    before: impl FnOnce() + Send + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut before = Some(before);
        let mut seen = 0;
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if !line.to_ascii_lowercase().starts_with("connection:") {
                    head.push_str(&line);
                }
            }
            if head.starts_with(&format!("GET {path} ")) {
                seen += 1;
                if seen == nth
                    && let Some(f) = before.take()
                {
                    f();
                }
            }
            head.push_str("Connection: close\r\n\r\n");
            let Ok(mut server) = TcpStream::connect(upstream) else {
                return;
            };
            let _ = server.write_all(head.as_bytes());
            let _ = std::io::copy(&mut server, &mut client);
        }
    });
    addr
}

#[test]
fn the_fleet_page_updates_itself_after_a_new_collection_and_a_running_run_until_it_ends() {
    let mut fleet = Fleet::builder().hosts(2).start();
    herd(&fleet).args(["collect"]).run().success();
    let server = Server::start(&fleet.dir, &["--refresh", "1"]);
    let dir = fleet.dir.clone();
    // host2 stops and a collection runs after the page has loaded, before
    // its script fetches the page again.
    fleet.stop_host(1);
    let front = proxy(server.addr, "/", 2, move || {
        Herd::in_dir(&dir).args(["collect"]).run().code(4);
    });
    let Some(dom) =
        support::chromium_dom(&format!("http://{front}/"), &["--virtual-time-budget=2500"])
    else {
        return;
    };
    assert!(
        dom.contains("data-refreshed=\""),
        "the script never swapped: {dom}"
    );
    let rows = fleet_rows(&dom);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("host2", "down"),
        "{dom}"
    );
    assert!(dom.contains("1 down"), "{dom}");

    // A running run's page refreshes itself until the run ends.
    let mut run = Herd::in_dir(&fleet.dir)
        .args(["run", "host1", "--", "sleep 3; echo done"])
        .spawn_server();
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        assert!(Instant::now() < deadline, "the run never showed up");
        std::thread::sleep(Duration::from_millis(200));
        let (status, page) = server.get("/runs/1");
        if status == 200 {
            break page;
        }
    };
    assert!(page.contains("id=\"outcome\">running<"), "{page}");
    assert!(page.contains("<main data-live=\"1\">"), "{page}");
    assert!(run.wait().unwrap().success());
    let (_, page) = server.get("/runs/1");
    assert!(page.contains("id=\"outcome\">ok<"), "{page}");
    assert!(
        page.contains("<main>"),
        "a finished run stops refreshing: {page}"
    );
    assert!(page.contains("done\n"), "{page}");
}
