//! `herd collect`, `status`, `history` and `cron` against a fleet of real
//! sshd hosts: what lands in the store and what the admin sees.

use crate::fleet;
use crate::support;

use std::path::Path;
use std::time::Duration;

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

/// A host's working directory as its shell sees it.
const ROOT: &str = "$HOME/../root";

fn write_depths(fleet: &Fleet, base: u32) {
    for (i, host) in fleet.hosts.iter().enumerate() {
        std::fs::write(host.root.join("depth"), format!("{}\n", base + i as u32)).unwrap();
    }
}

/// Points of `metric` per host from `herd history --format json`.
fn points(fleet: &Fleet, target: &str, metric: &str) -> Vec<(String, i64, f64)> {
    let out = herd(fleet)
        .args([
            "history", target, metric, "--since", "1h", "--format", "json",
        ])
        .run()
        .success();
    out.json_lines()
        .iter()
        .map(|l| {
            (
                l["host"].as_str().unwrap().to_string(),
                l["ts"].as_i64().unwrap(),
                l["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn two_collections_give_a_history_with_both_points_per_host_and_custom_collectors() {
    let fleet = Fleet::builder().hosts(3).start();
    std::fs::write(
        fleet.path("collect.yml"),
        format!(
            "services: [herd-no-such-unit]\n\
             collectors:\n\
             \x20 - name: queue_depth\n\
             \x20   command: cat \"{ROOT}/depth\"\n\
             \x20   parse: number\n\
             \x20 - name: app\n\
             \x20   command: printf 'workers=4\\nidle=1.5\\n'\n\
             \x20   parse: keyvalue\n\
             \x20 - name: api\n\
             \x20   command: echo '{{\"pool\":[{{\"busy\":7}}]}}'\n\
             \x20   parse: json\n\
             \x20   path: pool.0.busy\n"
        ),
    )
    .unwrap();
    write_depths(&fleet, 10);
    let first = herd(&fleet).args(["collect"]).run().success();
    assert!(
        first.stdout.contains("from 3 of 3 hosts"),
        "{}",
        first.stdout
    );
    // Sample times are seconds: the second collection must be in another.
    std::thread::sleep(Duration::from_millis(1100));
    write_depths(&fleet, 20);
    let second = herd(&fleet)
        .args(["collect", "--format", "json"])
        .run()
        .success();
    let summary = &second.json_lines()[0];
    assert_eq!(summary["reached"], 3);
    assert!(summary["samples"].as_u64().unwrap() > 3 * 15, "{summary}");

    let depth = points(&fleet, "all", "queue_depth");
    for (i, host) in ["host1", "host2", "host3"].iter().enumerate() {
        let values: Vec<f64> = depth.iter().filter(|p| p.0 == *host).map(|p| p.2).collect();
        assert_eq!(values, [10.0 + i as f64, 20.0 + i as f64], "{depth:?}");
    }
    let load = points(&fleet, "all", "load.1");
    assert_eq!(load.len(), 6, "{load:?}");
    let times: std::collections::BTreeSet<i64> = load.iter().map(|p| p.1).collect();
    assert_eq!(times.len(), 2, "one time per collection: {load:?}");
    assert_eq!(points(&fleet, "host2", "app.workers")[0].2, 4.0);
    assert_eq!(points(&fleet, "host2", "app.idle")[0].2, 1.5);
    assert_eq!(points(&fleet, "host2", "api")[0].2, 7.0);
    assert_eq!(
        points(&fleet, "host1", "service.herd-no-such-unit.active").len(),
        2
    );
    for metric in [
        "cpu.used_pct",
        "mem.used_pct",
        "disk./.used_pct",
        "procs.count",
    ] {
        assert_eq!(points(&fleet, "web", metric).len(), 4, "{metric}");
    }

    // The table: both points per host, and a chart.
    let table = herd(&fleet)
        .args(["history", "all", "queue_depth", "--since", "1h"])
        .run()
        .success();
    let host3 = table
        .stdout
        .lines()
        .find(|l| l.starts_with("host3"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    let cells: Vec<&str> = host3.split_whitespace().collect();
    assert_eq!(&cells[1..6], ["2", "12", "17", "22", "22"], "{host3}");
    // Two points: the first column low, the last full.
    let chart: Vec<char> = host3.chars().filter(|c| ('▁'..='█').contains(c)).collect();
    assert_eq!(chart.len(), 2, "{host3}");
    assert!(chart[0] < '█' && host3.ends_with('█'), "{host3}");

    let csv = herd(&fleet)
        .args(["history", "host1", "queue_depth", "--format", "csv"])
        .run()
        .success();
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "host,metric,time,ts,value");
    assert!(lines[1].starts_with("host1,queue_depth,") && lines[1].ends_with(",10"));
    assert!(lines[2].ends_with(",20"), "{}", csv.stdout);
    assert_eq!(lines.len(), 3);

    // A mistyped metric is named, with the ones that exist.
    herd(&fleet)
        .args(["history", "all", "queue_dept"])
        .run()
        .code(2)
        .stderr_has("no metric `queue_dept`");
}

#[test]
fn a_collector_that_fails_is_a_warning_and_config_mistakes_name_the_line() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.path("collect.yml"),
        "collectors:\n  - name: broken\n    command: echo oops; exit 3\n    parse: number\n",
    )
    .unwrap();
    let out = herd(&fleet).args(["collect"]).run().success();
    assert!(
        out.stdout
            .contains("warning: host1: collector broken: command exited 3"),
        "{}",
        out.stdout
    );

    std::fs::write(
        fleet.path("collect.yml"),
        "collectors:\n  - name: q\n    command: x\n    parse: regex\n    pattern: 'no group'\n",
    )
    .unwrap();
    herd(&fleet)
        .args(["collect"])
        .run()
        .code(2)
        .stderr_has("collect.yml:5:14: collector `q`: the regex needs a capture group");
}

#[test]
fn probes_measure_ping_and_tcp_connect_from_each_host() {
    let fleet = Fleet::builder().hosts(2).start();
    let ssh = fleet.hosts[1].socket();
    std::fs::write(
        fleet.path("probes.yml"),
        format!("probes:\n  - ping: 127.0.0.1\n  - tcp: {ssh}\n  - tcp: 127.0.0.1:1\n"),
    )
    .unwrap();
    let out = herd(&fleet)
        .args(["collect", "--config", "probes.yml"])
        .run()
        .success();
    assert!(
        out.stdout
            .contains("tcp probe 127.0.0.1:1: connection failed"),
        "{}",
        out.stdout
    );
    let loss = points(&fleet, "all", "probe.ping.127.0.0.1.loss_pct");
    assert_eq!(loss.iter().map(|p| p.2).collect::<Vec<_>>(), [0.0, 0.0]);
    let rtt = points(&fleet, "all", "probe.ping.127.0.0.1.rtt_ms");
    assert!(
        rtt.len() == 2 && rtt.iter().all(|p| p.2 > 0.0 && p.2 < 100.0),
        "{rtt:?}"
    );
    assert_eq!(
        points(&fleet, "all", "probe.ping.127.0.0.1.jitter_ms").len(),
        2
    );
    let connect = points(&fleet, "all", &format!("probe.tcp.{ssh}.connect_ms"));
    assert!(
        connect.len() == 2 && connect.iter().all(|p| p.2 >= 0.0 && p.2 < 1000.0),
        "{connect:?}"
    );
    let refused = points(&fleet, "all", "probe.tcp.127.0.0.1:1.ok");
    assert_eq!(refused.iter().map(|p| p.2).collect::<Vec<_>>(), [0.0, 0.0]);
}

#[test]
fn status_lists_the_unreachable_host_first_then_the_rest() {
    let mut fleet = Fleet::builder().hosts(3).start();
    herd(&fleet)
        .args(["status"])
        .run()
        .success()
        .stdout_has("no collection yet");
    fleet.stop_host(1);
    let out = herd(&fleet).args(["collect"]).run().code(4);
    assert!(
        out.stdout.contains("2 of 3 hosts; 1 unreachable (host2)"),
        "{}",
        out.stdout
    );

    let table = herd(&fleet).args(["status"]).run().code(4);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert!(rows[0].starts_with("HOST"), "{}", table.stdout);
    assert!(
        rows[1].starts_with("host2") && rows[1].contains("DOWN"),
        "{}",
        table.stdout
    );
    assert!(rows[1].contains("never"), "{}", table.stdout);
    assert!(
        rows[1].to_lowercase().contains("refused"),
        "{}",
        table.stdout
    );
    for row in &rows[2..] {
        assert!(
            row.contains("UP") && row.contains("% /") && row.contains("s ago"),
            "{row}"
        );
    }

    let json = herd(&fleet)
        .args(["status", "--format", "json"])
        .run()
        .code(4);
    let hosts = json.json_lines();
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[0]["host"], "host2");
    assert_eq!(hosts[0]["state"], "down");
    assert!(hosts[0]["last_seen"].is_null());
    for h in &hosts[1..] {
        assert_eq!(h["state"], "up");
        let mem = h["mem_pct"].as_f64().unwrap();
        assert!(mem > 0.0 && mem < 100.0, "{h}");
        assert!(h["metrics"]["load.1"].is_number(), "{h}");
        assert!(h["last_seen"].as_i64().unwrap() > 0);
    }
    // Worst first among the reachable: by their highest use figure.
    let pressure = |h: &serde_json::Value| {
        ["cpu_pct", "mem_pct", "disk_pct"]
            .iter()
            .filter_map(|k| h[k].as_f64())
            .fold(0.0, f64::max)
    };
    assert!(pressure(&hosts[1]) >= pressure(&hosts[2]));

    // A pattern narrows it.
    let web = herd(&fleet)
        .args(["status", "host1", "--format", "json"])
        .run()
        .success();
    assert_eq!(web.json_lines().len(), 1);
}

/// The command part of a crontab line (between the 5 time fields and the tag).
fn cron_command(line: &str) -> String {
    let command = line.splitn(6, ' ').nth(5).unwrap();
    command
        .rsplit_once(" # herd-cron:")
        .unwrap()
        .0
        .replace("\\%", "%")
}

#[test]
fn cron_add_and_remove_leave_other_lines_alone_and_the_entry_runs_under_a_lock() {
    let fleet = Fleet::builder().hosts(2).start();
    let crontab = fleet.path("crontab");
    let original =
        "# my jobs\nMAILTO=ops@example.com\r\n0 3 * * * /usr/local/bin/backup --all  # nightly\n\n";
    std::fs::write(&crontab, original).unwrap();
    let cron = |args: &[&str]| {
        herd(&fleet)
            .env("HERD_CRONTAB_FILE", &crontab)
            .args(args)
            .run()
    };

    cron(&[
        "cron", "add", "collect", "--every", "5m", "--", "all", "--keep", "90d",
    ])
    .success()
    .stdout_has("added cron entry 1: */5 * * * *");
    cron(&["cron", "add", "alerts", "--schedule", "*/10  8-18 * * 1-5"])
        .success()
        .stdout_has("added cron entry 2: */10 8-18 * * 1-5");
    let text = std::fs::read_to_string(&crontab).unwrap();
    assert!(text.starts_with(original), "{text}");
    let list = cron(&["cron", "list"]).success();
    assert!(
        list.stdout.contains("herd collect all --keep 90d"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("herd alerts"), "{}", list.stdout);
    let entries = cron(&["cron", "list", "--format", "json"])
        .success()
        .json_lines();
    assert_eq!(entries[0]["id"], 1);
    assert_eq!(entries[0]["schedule"], "*/5 * * * *");

    // What cron would run: it collects, logging to the state dir...
    let line = text.lines().find(|l| l.ends_with("# herd-cron:1")).unwrap();
    let command = cron_command(line);
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir("/")
        .env("HOME", fleet.path(".test-home"))
        .status()
        .unwrap();
    assert!(run.success(), "{command}");
    let log = fleet.path(".herd/cron-collect.log");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("from 2 of 2 hosts"), "{logged}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // ...and skips while a run still holds the lock.
    let lock = fleet.path(".herd/cron-collect.lock");
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let skipped = std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .status()
        .unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        !skipped.success(),
        "a second run must not start while the first holds the lock"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), logged);

    cron(&["cron", "remove", "7"])
        .code(2)
        .stderr_has("no herd cron entry 7");
    cron(&["cron", "remove", "1"])
        .success()
        .stdout_has("removed cron entry 1");
    let text = std::fs::read_to_string(&crontab).unwrap();
    assert!(
        !text.contains("herd-cron:1") && text.contains("herd-cron:2"),
        "{text}"
    );
    cron(&["cron", "remove", "all"]).success();
    assert_eq!(std::fs::read_to_string(&crontab).unwrap(), original);
}

#[test]
fn cron_uses_the_crontab_command_when_no_file_is_given() {
    // A stand-in `crontab` on PATH keeps the real user's crontab out of it
    // while herd goes through `crontab -l` / `crontab -`.
    let fleet = Fleet::builder().hosts(1).start();
    let bin = fleet.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store = fleet.path("fake-crontab");
    std::fs::write(
        bin.join("crontab"),
        format!(
            "#!/bin/sh\nf='{}'\ncase \"$1\" in\n-l) [ -f \"$f\" ] || {{ echo 'no crontab for test' >&2; exit 1; }}; cat \"$f\";;\n-) cat > \"$f\";;\n*) exit 2;;\nesac\n",
            store.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("crontab"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let cron = |args: &[&str]| herd(&fleet).env("PATH", &path).args(args).run();
    cron(&["cron", "list"])
        .success()
        .stdout_has("no herd entries");
    cron(&["cron", "add", "collect"]).success();
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(text.starts_with("*/5 * * * * cd "), "{text}");
    cron(&["cron", "remove", "all"]).success();
    assert_eq!(std::fs::read_to_string(&store).unwrap(), "");
}

/// Another job's bytes are not herd's to change: a Latin-1 `é` (0xE9, not
/// UTF-8) in someone else's line survives `herd cron add` and `remove`,
/// through `crontab -l`/`crontab -` and through HERD_CRONTAB_FILE.
#[test]
fn cron_keeps_other_jobs_bytes_exactly() {
    let fleet = Fleet::builder().hosts(1).start();
    let bin = fleet.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store = fleet.path("fake-crontab");
    std::fs::write(
        bin.join("crontab"),
        format!(
            "#!/bin/sh\nf='{}'\ncase \"$1\" in\n-l) cat \"$f\";;\n-) cat > \"$f\";;\n*) exit 2;;\nesac\n",
            store.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("crontab"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let original: &[u8] = b"# caf\xe9 jobs\n0 3 * * * /usr/local/bin/r\xe9sum\xe9 --all\n";
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let file = fleet.path("crontab");
    for via_file in [false, true] {
        let target = if via_file { &file } else { &store };
        std::fs::write(target, original).unwrap();
        let cron = |args: &[&str]| {
            let herd = herd(&fleet).env("PATH", &path).args(args);
            match via_file {
                true => herd.env("HERD_CRONTAB_FILE", &file),
                false => herd,
            }
            .run()
        };
        cron(&["cron", "add", "collect"]).success();
        let text = std::fs::read(target).unwrap();
        assert!(
            text.starts_with(original),
            "{}",
            String::from_utf8_lossy(&text)
        );
        cron(&["cron", "list"]).success().stdout_has("herd collect");
        cron(&["cron", "remove", "all"]).success();
        assert_eq!(std::fs::read(target).unwrap(), original);
    }
}

#[test]
fn retention_deletes_and_merges_old_points() {
    let fleet = Fleet::builder().hosts(1).start();
    herd(&fleet).args(["collect"]).run().success();
    // Points from the past, written straight into the store: an hour of
    // one a minute three days ago, and one ten days ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let hour_start = (now - 3 * 86_400) / 3600 * 3600;
    let db = rusqlite::Connection::open(fleet.path(".herd/herd.db")).unwrap();
    for i in 0..60 {
        db.execute(
            "INSERT INTO samples (host, metric, ts, value) VALUES ('host1', 'old', ?1, ?2)",
            (hour_start + i * 60, i as f64),
        )
        .unwrap();
    }
    db.execute(
        "INSERT INTO samples (host, metric, ts, value) VALUES ('host1', 'old', ?1, 1)",
        [now - 10 * 86_400],
    )
    .unwrap();
    drop(db);
    let recent = points(&fleet, "all", "load.1");

    let out = herd(&fleet)
        .args(["collect", "--prune", "--keep", "5d", "--format", "json"])
        .run()
        .success();
    let pruned = &out.json_lines()[0];
    assert_eq!(pruned["deleted"], 1, "{pruned}");
    assert_eq!(pruned["merged"], 60 - 12, "{pruned}");
    let csv = herd(&fleet)
        .args([
            "history", "host1", "old", "--since", "30d", "--format", "csv",
        ])
        .run()
        .success();
    let values: Vec<&str> = csv
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    // Twelve 5-minute averages: (0+..+4)/5 = 2, then 7, ... 57.
    assert_eq!(
        values,
        [
            "2", "7", "12", "17", "22", "27", "32", "37", "42", "47", "52", "57"
        ]
    );
    // Today's points are untouched.
    assert_eq!(points(&fleet, "all", "load.1"), recent);

    herd(&fleet)
        .args(["collect", "--prune"])
        .run()
        .code(2)
        .stderr_has("--keep");
    herd(&fleet)
        .args(["collect", "--keep", "90x"])
        .run()
        .code(2)
        .stderr_has("not a duration");
}

#[test]
fn concurrent_collect_and_run_lose_nothing() {
    let fleet = Fleet::builder().hosts(3).start();
    const COLLECTS: usize = 3;
    const RUNS: usize = 8;
    let dir = fleet.dir.clone();
    let collects = std::thread::spawn(move || {
        let mut outs = Vec::new();
        for _ in 0..COLLECTS {
            outs.push(Herd::in_dir(&dir).args(["collect"]).run());
            std::thread::sleep(Duration::from_millis(1100));
        }
        outs
    });
    let dir = fleet.dir.clone();
    let runs = std::thread::spawn(move || {
        (0..RUNS)
            .map(|i| {
                Herd::in_dir(&dir)
                    .args(["run", "all", "--", "echo", &format!("run{i}")])
                    .run()
            })
            .collect::<Vec<_>>()
    });
    for out in collects
        .join()
        .unwrap()
        .into_iter()
        .chain(runs.join().unwrap())
    {
        assert!(!out.stderr.contains("locked"), "{}", out.stderr);
        out.success();
    }
    let listed = herd(&fleet)
        .args(["runs", "--format", "json"])
        .run()
        .success()
        .json_lines();
    assert_eq!(listed.len(), RUNS, "{listed:?}");
    for run in &listed {
        assert_eq!(run["outcome"], "ok", "{run}");
        assert_eq!(run["host_count"], 3, "{run}");
    }
    let load = points(&fleet, "all", "load.1");
    for host in ["host1", "host2", "host3"] {
        assert_eq!(
            load.iter().filter(|p| p.0 == host).count(),
            COLLECTS,
            "{load:?}"
        );
    }
    let state = Path::new(&fleet.dir).join(".herd/herd.db");
    assert!(state.exists());
}
