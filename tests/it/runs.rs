//! `herd runs` and `herd runs show` against a store seeded through the
//! library, as the engine would fill it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use herd::engine::{HostResult, HostStatus, RunOutcome};
use herd::store::{NewRun, RunId, Store};

fn result(host: &str, status: HostStatus, code: Option<i32>, stdout: &str) -> HostResult {
    HostResult {
        host: host.into(),
        status,
        exit_code: code,
        stdout: stdout.into(),
        stderr: String::new(),
        truncated: false,
        error: (status == HostStatus::Unreachable).then(|| "connection refused".into()),
        duration: Duration::from_millis(300),
    }
}

/// A project directory whose store holds two runs: 1 finished with mixed
/// results, 2 a playbook still running.
fn seeded_project() -> (tempfile::TempDir, RunId) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("herd.toml"), "").unwrap();
    let mut store = Store::open(&dir.path().join(".herd")).unwrap();
    let first = store
        .begin_run(&NewRun {
            kind: "run",
            command: "systemctl is-active nginx",
            pattern: "web",
            host_count: 5,
        })
        .unwrap();
    let results = [
        result("web01", HostStatus::Ok, Some(0), "active\n"),
        result("web02", HostStatus::Ok, Some(0), "active\n"),
        result("web03", HostStatus::Failed, Some(3), "inactive\n"),
        result("web04", HostStatus::Ok, Some(0), &"x".repeat(70_000)),
        result("db1", HostStatus::Unreachable, None, ""),
    ];
    store.record_results(first, &results).unwrap();
    store
        .finish_run(first, RunOutcome::from_results(&results))
        .unwrap();
    store
        .begin_run(&NewRun {
            kind: "play",
            command: "site.yml",
            pattern: "all",
            host_count: 2,
        })
        .unwrap();
    (dir, first)
}

fn herd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .current_dir(dir)
        .env_remove("HERD_INVENTORY")
        .env_remove("HERD_STATE_DIR")
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "herd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn runs_lists_newest_first_with_counts() {
    let (dir, _) = seeded_project();
    let text = stdout(&herd(dir.path(), &["runs"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("ID  STARTED"), "{text}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[0], "2");
    assert_eq!(
        &cells[3..],
        ["-", "running", "play", "0", "0", "0", "all", "site.yml"]
    );
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(cells[0], "1");
    assert_eq!(
        &cells[4..],
        [
            "unreachable",
            "run",
            "3",
            "1",
            "1",
            "web",
            "systemctl",
            "is-active",
            "nginx"
        ]
    );

    let text = stdout(&herd(dir.path(), &["runs", "-n", "1", "--format", "json"]));
    let run: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(run["id"], 2);
    assert_eq!(run["outcome"], "running");
}

#[test]
fn runs_show_prints_the_summary_and_folded_results() {
    let (dir, id) = seeded_project();
    let text = stdout(&herd(dir.path(), &["runs", "show", &id.to_string()]));
    assert!(
        text.starts_with("run 1: systemctl is-active nginx\n  kind:     run\n  pattern:  web\n"),
        "{text}"
    );
    assert!(text.contains("  outcome:  unreachable\n"), "{text}");
    assert!(
        text.contains("  note:     some outputs were cut at 64 KiB"),
        "{text}"
    );
    let results = &text[text.find("\n\n").unwrap() + 2..];
    let (before_big, after_big) = results.split_at(results.find("xxx").unwrap());
    assert_eq!(
        before_big,
        "---------------- web[01-02] (2) ----------------\n\
         active\n\
         ---------------- web04 ----------------\n"
    );
    let tail = &after_big[after_big.find("[... truncated by herd").unwrap()..];
    assert!(
        tail.starts_with(
            "[... truncated by herd: 4464 bytes omitted]\n\
             ---------------- web03 ----------------\n\
             inactive\n\
             [exit 3]\n\
             ---------------- db1 ----------------\n\
             [unreachable: connection refused]\n\
             3 ok, 1 failed, 1 unreachable (5 hosts, "
        ),
        "{tail}"
    );
}

#[test]
fn runs_show_last_as_json_has_every_host_and_truncation_flags() {
    let (dir, _) = seeded_project();
    let text = stdout(&herd(
        dir.path(),
        &["runs", "show", "1", "--format", "json"],
    ));
    let run: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(run["command"], "systemctl is-active nginx");
    let hosts = run["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["db1", "web01", "web02", "web03", "web04"]);
    assert_eq!(hosts[3]["exit_code"], 3);
    assert_eq!(hosts[4]["stdout_truncated"], true);
    assert_eq!(hosts[1]["stdout_truncated"], false);

    let text = stdout(&herd(
        dir.path(),
        &["runs", "show", "last", "--format", "json"],
    ));
    let run: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(run["command"], "site.yml");
}

#[test]
fn an_unknown_run_is_bad_input() {
    let (dir, _) = seeded_project();
    let out = herd(dir.path(), &["runs", "show", "99"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no run 99 in "), "{err}");
    assert!(err.contains("herd.db"), "{err}");

    let out = herd(dir.path(), &["runs", "show", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_empty_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("herd.toml"), "").unwrap();
    let text = stdout(&herd(dir.path(), &["runs"]));
    assert!(text.starts_with("no runs recorded yet in "), "{text}");
    let out = herd(dir.path(), &["runs", "show", "last"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no runs recorded yet"));
}
