use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;
use crate::engine::{HostResult, HostStatus, RunOutcome};

fn result(host: &str, status: HostStatus, exit_code: Option<i32>, stdout: &str) -> HostResult {
    let error = match status {
        HostStatus::Unreachable => Some("connection refused".to_string()),
        _ => None,
    };
    HostResult {
        exit_code,
        stdout: stdout.to_string(),
        ..HostResult::without_output(host, status, error, Duration::from_millis(1500))
    }
}

const RUN: NewRun = NewRun {
    kind: "run",
    command: "uptime",
    pattern: "web",
    host_count: 3,
};

#[test]
fn database_and_wal_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.begin_run(&RUN).unwrap();
    store
        .record_results(id, &[result("web1", HostStatus::Ok, Some(0), "up\n")])
        .unwrap();
    for name in ["herd.db", "herd.db-wal", "herd.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {mode:o}");
    }
}

#[test]
fn an_existing_world_readable_database_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let db = dir.path().join(DB_FILE);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(dir.path()).unwrap());
    let mode = std::fs::metadata(&db).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.begin_run(&RUN).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(schema::user_version(&store.conn).unwrap(), SCHEMA_VERSION);
    assert_eq!(store.last_run_id(None).unwrap(), Some(id));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.recent_runs(10).unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_herd_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .conn
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(store);
    let err = Store::open(dir.path())
        .err()
        .expect("newer schema must fail");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("created by a newer herd"), "{text}");
    assert!(text.contains("upgrade herd"), "{text}");
    assert!(text.contains("herd.db"), "{text}");
}

#[test]
fn a_run_round_trips_with_counts_and_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.begin_run(&RUN).unwrap();
    let results = vec![
        result("web1", HostStatus::Ok, Some(0), "up 3 days\n"),
        result("web2", HostStatus::Failed, Some(2), ""),
        result("web3", HostStatus::Unreachable, None, ""),
    ];
    store.record_results(id, &results[..1]).unwrap();
    store.record_results(id, &results[1..]).unwrap();
    store
        .finish_run(id, RunOutcome::from_results(&results))
        .unwrap();

    let detail = store.run(id).unwrap().unwrap();
    assert_eq!(detail.results(), results);
    let s = &detail.summary;
    assert_eq!((s.ok, s.failed, s.unreachable, s.interrupted), (1, 1, 1, 0));
    assert_eq!(s.outcome, RunOutcome::Unreachable);
    assert_eq!(
        (s.kind.as_str(), s.command.as_str(), s.pattern.as_str()),
        ("run", "uptime", "web")
    );
    assert_eq!(s.pid, i64::from(std::process::id()));
    assert!(!s.user.is_empty());
    assert!(s.finished_at.unwrap() >= s.started_at);
    assert_eq!(s.duration_ms, Some(s.finished_at.unwrap() - s.started_at));
    assert_eq!(store.recent_runs(5).unwrap(), vec![s.clone()]);
    assert_eq!(store.run(RunId(id.0 + 1)).unwrap(), None);
}

#[test]
fn recent_runs_are_newest_first_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let ids: Vec<RunId> = (0..5).map(|_| store.begin_run(&RUN).unwrap()).collect();
    let play = store
        .begin_run(&NewRun {
            kind: "play",
            ..RUN
        })
        .unwrap();
    let listed: Vec<RunId> = store.recent_runs(3).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(listed, vec![play, ids[4], ids[3]]);
    assert_eq!(store.last_run_id(None).unwrap(), Some(play));
    assert_eq!(store.last_run_id(Some("run")).unwrap(), Some(ids[4]));
    assert_eq!(store.last_run_id(Some("collect")).unwrap(), None);
}

#[test]
fn hosts_to_rerun_are_exactly_the_failed_unreachable_and_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.begin_run(&RUN).unwrap();
    let other = store.begin_run(&RUN).unwrap();
    store
        .record_results(
            id,
            &[
                result("a-ok", HostStatus::Ok, Some(0), ""),
                result("b-failed", HostStatus::Failed, Some(1), ""),
                result("c-down", HostStatus::Unreachable, None, ""),
                result("d-stopped", HostStatus::Interrupted, None, ""),
                result("e-ok", HostStatus::Ok, Some(0), ""),
            ],
        )
        .unwrap();
    store
        .record_results(
            other,
            &[result("z-failed", HostStatus::Failed, Some(1), "")],
        )
        .unwrap();
    assert_eq!(
        store.hosts_to_rerun(id).unwrap(),
        vec!["b-failed", "c-down", "d-stopped"]
    );
    // A retried host keeps only its latest result.
    store
        .record_results(id, &[result("b-failed", HostStatus::Ok, Some(0), "")])
        .unwrap();
    assert_eq!(
        store.hosts_to_rerun(id).unwrap(),
        vec!["c-down", "d-stopped"]
    );
}

#[test]
fn long_output_is_stored_truncated_with_marker_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let id = store.begin_run(&RUN).unwrap();
    let big = "x".repeat(OUTPUT_CAP + 10);
    let mut r = result("web1", HostStatus::Ok, Some(0), &big);
    r.stderr = "warning\n".to_string();
    store.record_results(id, &[r]).unwrap();
    let stored = &store.run(id).unwrap().unwrap().hosts[0];
    assert!(stored.stdout_truncated);
    assert!(!stored.stderr_truncated);
    assert!(
        stored
            .result
            .stdout
            .ends_with("x\n[... truncated by herd: 10 bytes omitted]")
    );
    assert_eq!(stored.result.stderr, "warning\n");
}

#[test]
fn recording_into_a_missing_run_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let err = store
        .record_results(RunId(42), &[result("web1", HostStatus::Ok, Some(0), "")])
        .unwrap_err();
    assert!(err.to_string().contains("no run 42"), "{err}");
    let err = store.finish_run(RunId(42), RunOutcome::Ok).unwrap_err();
    assert!(matches!(err, StoreError::NoSuchRun { .. }), "{err}");
}

#[test]
fn a_run_whose_herd_died_is_recovered_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let dead = store.begin_run(&RUN).unwrap();
    let alive = store.begin_run(&RUN).unwrap();
    store
        .record_results(dead, &[result("web1", HostStatus::Ok, Some(0), "")])
        .unwrap();
    // A child that has exited and been reaped stands in for a killed herd.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    store
        .conn
        .execute(
            "UPDATE runs SET pid = ?1, pid_start = NULL WHERE id = ?2",
            rusqlite::params![gone, dead.0],
        )
        .unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    let recovered = store.run(dead).unwrap().unwrap().summary;
    assert_eq!(recovered.outcome, RunOutcome::Interrupted);
    assert!(recovered.finished_at.is_some());
    assert!(recovered.duration_ms.unwrap() >= 0);
    // Our own run is still going: left alone.
    let running = store.run(alive).unwrap().unwrap().summary;
    assert_eq!(running.outcome, RunOutcome::Running);
}

#[test]
fn concurrent_writers_with_their_own_stores_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // Each opens a fresh store at once: the migration races too.
                let mut store = Store::open(&dir).unwrap();
                for i in 0..40 {
                    let id = store.begin_run(&RUN).unwrap();
                    let results: Vec<_> = (0..20)
                        .map(|h| {
                            result(&format!("w{w}-r{i}-h{h}"), HostStatus::Ok, Some(0), "ok\n")
                        })
                        .collect();
                    store.record_results(id, &results).unwrap();
                    store.finish_run(id, RunOutcome::Ok).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer failed");
    }
    let store = Store::open(dir.path()).unwrap();
    let runs = store.recent_runs(1000).unwrap();
    assert_eq!(runs.len(), 80);
    assert!(
        runs.iter()
            .all(|r| r.ok == 20 && r.outcome == RunOutcome::Ok)
    );
}

#[test]
fn an_unopenable_store_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(DB_FILE)).unwrap();
    let err = Store::open(dir.path())
        .err()
        .expect("a directory is no database");
    let text = err.to_string();
    assert!(text.contains("herd.db: "), "{text}");
    assert!(text.contains("ls -la"), "{text}");
}

#[test]
fn permission_errors_say_which_file_to_check() {
    let err = StoreError::Io {
        path: "/srv/herd/.herd/herd.db".into(),
        action: "create the results store",
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    let text = err.to_string();
    assert!(
        text.starts_with("/srv/herd/.herd/herd.db: cannot create the results store: "),
        "{text}"
    );
    assert!(
        text.ends_with("`ls -l /srv/herd/.herd/herd.db`; herd keeps it private to one user)"),
        "{text}"
    );
}

#[test]
fn a_writer_waits_for_another_herds_write_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Store::open(dir.path()).unwrap();
    let mut waiter = Store::open(dir.path()).unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let hold = std::thread::spawn(move || {
        let tx = holder
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let started = std::time::Instant::now();
    let id = waiter
        .begin_run(&RUN)
        .expect("must wait for the lock, not fail");
    assert!(started.elapsed() >= Duration::from_millis(200));
    waiter.finish_run(id, RunOutcome::Ok).unwrap();
    hold.join().unwrap();
}

#[test]
fn herds_opening_a_new_store_at_once_all_succeed() {
    // Racing to create the file, switch it to WAL and migrate it.
    for _ in 0..100 {
        let dir = tempfile::tempdir().unwrap();
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || Store::open(&dir).map(drop).map_err(|e| e.to_string()))
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
    }
}

#[test]
fn task_results_round_trip_in_run_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let run = store
        .begin_run(&NewRun {
            kind: "play",
            command: "play site.yml",
            pattern: "all",
            host_count: 2,
        })
        .unwrap();
    let record = |seq: u32, host: &str, status: &str| crate::store::TaskRecord {
        seq,
        play: "web".into(),
        task: format!("task {seq}"),
        location: "site.yml:3:7".into(),
        host: host.into(),
        status: status.into(),
        msg: None,
        diff: None,
        duration_ms: 5,
    };
    store
        .record_task_results(run, &[record(1, "b", "changed"), record(1, "a", "ok")])
        .unwrap();
    store
        .record_task_results(run, &[record(0, "a", "ok")])
        .unwrap();
    let got: Vec<(u32, String, String)> = store
        .task_results(run)
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.host, r.status))
        .collect();
    assert_eq!(
        got,
        [
            (0, "a".into(), "ok".into()),
            (1, "a".into(), "ok".into()),
            (1, "b".into(), "changed".into())
        ]
    );
}

#[test]
fn a_read_only_store_reads_what_a_writer_commits_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Store::open_read_only(dir.path()).err().unwrap().to_string();
    assert!(missing.contains("no results store at"), "{missing}");
    let mut writer = Store::open(dir.path()).unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert!(reader.recent_runs(5).unwrap().is_empty());
    assert_eq!(reader.last_collection().unwrap(), None);

    // The writer keeps writing while the reader holds its connection.
    let c = writer.begin_collection(100, 1).unwrap();
    let sample = Sample {
        host: "a".into(),
        metric: "load.1".into(),
        ts: 100,
        value: 0.5,
    };
    let reach = Reach {
        host: "a".into(),
        ts: 100,
        reachable: true,
        error: None,
    };
    writer
        .record_samples(c, std::slice::from_ref(&sample), &[reach])
        .unwrap();
    writer.finish_collection(c, 103).unwrap();
    let run = writer
        .begin_run(&NewRun {
            kind: "play",
            command: "play site.yml",
            pattern: "all",
            host_count: 1,
        })
        .unwrap();
    writer
        .record_results(run, &[result("a", HostStatus::Ok, Some(0), "")])
        .unwrap();
    writer.finish_run(run, RunOutcome::Ok).unwrap();

    assert_eq!(reader.host_samples("a", 0, 200).unwrap(), [sample]);
    assert_eq!(
        reader.last_collection().unwrap(),
        Some(CollectionSummary {
            started_at: 100,
            finished_at: Some(103),
            host_count: 1
        })
    );
    assert_eq!(reader.last_seen_all().unwrap()["a"], 100);
    assert_eq!(reader.run_counts().unwrap(), [("ok".to_string(), 1)]);
    let runs = reader.host_runs("a", 10).unwrap();
    assert_eq!((runs[0].run, runs[0].status.as_str()), (run, "ok"));
    assert!(reader.host_runs("b", 10).unwrap().is_empty());
    // Writing through the read-only handle is refused by SQLite itself.
    assert!(
        reader
            .conn
            .execute("DELETE FROM runs", [])
            .unwrap_err()
            .to_string()
            .contains("readonly"),
    );
}

#[test]
fn a_hosts_tasks_releases_and_audit_read_back_newest_first() {
    use crate::release::{Step, StepKind};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let new_run = |store: &mut Store| {
        store
            .begin_run(&NewRun {
                kind: "deploy",
                command: "deploy api",
                pattern: "all",
                host_count: 2,
            })
            .unwrap()
    };
    let step = |kind, release: &str| Step {
        kind,
        release: release.into(),
        detail: None,
        started_at: 1,
        duration: Duration::from_millis(3),
    };
    let first = new_run(&mut store);
    store
        .record_release_steps(
            first,
            &[
                ("a".into(), step(StepKind::Uploaded, "v1")),
                ("a".into(), step(StepKind::Activated, "v1")),
                ("b".into(), step(StepKind::Activated, "v1")),
            ],
        )
        .unwrap();
    let second = new_run(&mut store);
    store
        .record_release_steps(
            second,
            &[
                ("a".into(), step(StepKind::Activated, "v2")),
                ("a".into(), step(StepKind::Unhealthy, "v2")),
                ("a".into(), step(StepKind::RolledBack, "v1.1")),
                ("b".into(), step(StepKind::Failed, "v2")),
            ],
        )
        .unwrap();
    let current = store.current_releases().unwrap();
    assert_eq!(
        (current["a"].as_str(), current["b"].as_str()),
        ("v1.1", "v1")
    );
    let steps = store.host_release_steps("a", 2).unwrap();
    let names: Vec<(RunId, &str)> = steps.iter().map(|(r, s)| (*r, s.step.as_str())).collect();
    assert_eq!(names, [(second, "rolled_back"), (second, "unhealthy")]);

    store
        .record_results(second, &[result("a", HostStatus::Ok, Some(0), "")])
        .unwrap();
    let task = |seq: u32| crate::store::TaskRecord {
        seq,
        play: "p".into(),
        task: format!("t{seq}"),
        location: "x.yml:1:1".into(),
        host: "a".into(),
        status: "ok".into(),
        msg: None,
        diff: None,
        duration_ms: 1,
    };
    store
        .record_task_results(second, &[task(0), task(1)])
        .unwrap();
    let tasks = store.host_task_results("a", 10).unwrap();
    let seqs: Vec<u32> = tasks.iter().map(|(_, t)| t.seq).collect();
    assert_eq!(seqs, [1, 0]);

    let row = |host: &str, check: &str| AuditRow {
        host: host.into(),
        check: check.into(),
        status: "pass".into(),
        detail: String::new(),
    };
    store.record_audit("all", 1, &[row("a", "old")]).unwrap();
    store.record_audit("b", 1, &[row("b", "x")]).unwrap();
    store
        .record_audit("a", 1, &[row("a", "sshd"), row("a", "reboot")])
        .unwrap();
    let (_, rows) = store.host_audit("a").unwrap().unwrap();
    let checks: Vec<&str> = rows.iter().map(|r| r.check.as_str()).collect();
    assert_eq!(checks, ["reboot", "sshd"]);
    assert_eq!(store.host_audit("c").unwrap(), None);
}
