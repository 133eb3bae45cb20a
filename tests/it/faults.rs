//! The fault suite: herd on a bad day. Each test is one row of
//! docs/reliability.md's table (fault, command, what herd does, what is left
//! on the host and in the store) and keeps it true.
//!
//! Faults are made on the loopback fleet (tests/it/fleet): a host's sshd and
//! its session processes are found through /proc by parent pid and killed
//! or frozen (SIGSTOP); a host's disk and the store's disk are small tmpfs
//! mounts (root only: those tests say so and pass without checking when
//! not root); a panic is injected with `HERD_TEST_PANIC_HOST`, honoured by
//! debug builds only. Tests assert contracts, not timings, except generous
//! "never hangs" bounds.

use crate::fleet;
use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fleet::Fleet;
use serde_json::Value;
use support::{Herd, Outcome, finish_within};

/// herd is given this long before a test calls it hung.
const NEVER_HANGS: Duration = Duration::from_secs(60);

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

/// The fleet's results store, opened as any SQLite client would.
fn store(fleet: &Fleet) -> rusqlite::Connection {
    rusqlite::Connection::open(fleet.dir.join(".herd/herd.db")).expect("open the store")
}

/// The newest run of `kind`: its id and outcome.
fn last_run(fleet: &Fleet, kind: &str) -> (i64, String) {
    store(fleet)
        .query_row(
            "SELECT id, outcome FROM runs WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
            [kind],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("a recorded run")
}

/// host -> status recorded for run `id`.
fn recorded_statuses(fleet: &Fleet, id: i64) -> BTreeMap<String, String> {
    let db = store(fleet);
    let mut query = db
        .prepare("SELECT host, status FROM host_results WHERE run_id = ?1")
        .unwrap();
    query
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn integrity_check(path: &Path) -> String {
    rusqlite::Connection::open(path)
        .expect("the store opens")
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check runs")
}

/// Polls `probe` until it gives a value, at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until host `i` runs a process whose command line has `needle`.
fn wait_for_command(fleet: &Fleet, i: usize, needle: &str) {
    wait_for(
        &format!("`{needle}` to run on host{}", i + 1),
        Duration::from_secs(30),
        || {
            fleet
                .session_pids(i)
                .iter()
                .any(|pid| fleet::cmdline(*pid).contains(needle))
                .then_some(())
        },
    );
}

/// `host -> result` from `herd run --format json`.
fn run_results(out: &Outcome) -> BTreeMap<String, Value> {
    out.json_lines()
        .into_iter()
        .map(|line| (line["host"].as_str().unwrap().to_string(), line))
        .collect()
}

/// The PLAY RECAP counts per host from `herd play --format json`.
fn recap(out: &Outcome) -> serde_json::Map<String, Value> {
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"recap\""))
        .unwrap_or_else(|| panic!("no recap:\n{}\n{}", out.stdout, out.stderr));
    let event: Value = serde_json::from_str(line).unwrap();
    event["hosts"].as_object().unwrap().clone()
}

fn count(recap: &serde_json::Map<String, Value>, host: &str, what: &str) -> u64 {
    recap[host][what].as_u64().unwrap()
}

/// The messages of `host`'s task results in `herd play --format json`.
fn task_messages(out: &Outcome, host: &str) -> Vec<String> {
    out.json_lines()
        .iter()
        .filter(|e| e["event"] == "task_done")
        .flat_map(|e| e["results"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["host"] == host)
        .filter_map(|r| r["msg"].as_str().map(str::to_string))
        .collect()
}

fn write_playbook(fleet: &Fleet, name: &str, tasks: &str) -> PathBuf {
    let path = fleet.dir.join(name);
    std::fs::write(
        &path,
        format!("- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}"),
    )
    .unwrap();
    path
}

/// Files named like herd's upload temp files (`.NAME.herd-tmp-*`) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".herd-tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Kills every session process of every host (leftover commands of a run
/// whose herd was killed), so nothing outlives the test.
fn kill_sessions(fleet: &Fleet) {
    for i in 0..fleet.hosts.len() {
        Fleet::signal(&fleet.session_pids(i), libc::SIGKILL);
    }
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A tmpfs of `size` mounted at `dir` for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }

    /// Fills the file system up with a filler file.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

// --- a task panics -------------------------------------------------------

#[test]
fn a_panicking_host_task_fails_that_host_in_run_and_the_exit_code_says_so() {
    let fleet = Fleet::builder().hosts(3).start();
    let out = herd(&fleet)
        .env("HERD_TEST_PANIC_HOST", "host2")
        .args(["run", "all", "--format", "json", "--", "echo", "hi"])
        .run()
        .code(3);
    let results = run_results(&out);
    assert_eq!(results.len(), 3, "every host reported:\n{}", out.stdout);
    assert_eq!(results["host2"]["status"], "failed");
    let error = results["host2"]["error"].as_str().unwrap();
    assert!(error.starts_with("internal error: "), "{error}");
    for host in ["host1", "host3"] {
        assert_eq!(results[host]["status"], "ok", "{host}");
    }
    let (id, outcome) = last_run(&fleet, "run");
    assert_eq!(outcome, "failed");
    let recorded = recorded_statuses(&fleet, id);
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded["host2"], "failed");
}

#[test]
fn a_panicking_host_task_fails_that_host_in_play_and_its_recap() {
    let fleet = Fleet::builder().hosts(3).start();
    write_playbook(
        &fleet,
        "site.yml",
        "    - command: echo one\n    - command: echo two\n",
    );
    let out = herd(&fleet)
        .env("HERD_TEST_PANIC_HOST", "host2")
        .args(["play", "site.yml", "--format", "json"])
        .run()
        .code(3);
    let recap = recap(&out);
    assert_eq!(recap.len(), 3, "host2 is in the recap:\n{}", out.stdout);
    assert_eq!(count(&recap, "host2", "failed"), 1);
    assert_eq!(count(&recap, "host1", "ok"), 2);
    assert_eq!(count(&recap, "host3", "ok"), 2);
    let messages = task_messages(&out, "host2");
    assert!(
        messages.iter().any(|m| m.starts_with("internal error: ")),
        "{messages:?}"
    );
    let (id, outcome) = last_run(&fleet, "play");
    assert_eq!(outcome, "failed");
    assert_eq!(recorded_statuses(&fleet, id)["host2"], "failed");
}

#[test]
fn a_panicking_host_task_fails_that_host_in_deploy() {
    let fleet = Fleet::builder().hosts(2).start();
    let binary = fleet.dir.join("demo");
    std::fs::write(&binary, "#!/bin/sh\necho demo v1\n").unwrap();
    let out = herd(&fleet)
        .env("HERD_TEST_PANIC_HOST", "host2")
        .args(["deploy", "all", "--service", "demo"])
        .args(["--root", "{{ root_dir }}/demo", "--release-version", "v1"])
        .args(["--restart", "true"])
        .args([std::ffi::OsStr::new("--binary"), binary.as_os_str()])
        .args(["--format", "json"])
        .run();
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let (id, outcome) = last_run(&fleet, "deploy");
    assert_eq!(outcome, "failed");
    let recorded = recorded_statuses(&fleet, id);
    assert_eq!(recorded["host1"], "ok", "{}\n{}", out.stdout, out.stderr);
    assert_eq!(recorded["host2"], "failed", "{recorded:?}");
    let error: String = store(&fleet)
        .query_row(
            "SELECT error FROM host_results WHERE run_id = ?1 AND host = 'host2'",
            [id],
            |row| row.get(0),
        )
        .unwrap();
    assert!(error.starts_with("internal error: "), "{error}");
}

// --- sshd killed mid-command ---------------------------------------------

/// Kills host `i`'s sshd: the listener and every session process.
fn kill_sshd(fleet: &Fleet, i: usize) {
    let mut pids = vec![fleet.hosts[i].sshd_pid().unwrap()];
    pids.extend(fleet.session_pids(i));
    Fleet::signal(&pids, libc::SIGKILL);
}

#[test]
fn sshd_killed_mid_command_in_run_reports_that_host_and_the_other_nine_finish() {
    let fleet = Fleet::builder().hosts(10).start();
    let child = herd(&fleet)
        .args(["run", "all", "--format", "json", "--", "sleep 2; echo done"])
        .spawn();
    wait_for_command(&fleet, 2, "sleep 2");
    kill_sshd(&fleet, 2);
    let out = finish_within(child, NEVER_HANGS).code(4);
    let results = run_results(&out);
    assert_eq!(results.len(), 10, "{}", out.stdout);
    assert_eq!(results["host3"]["status"], "unreachable");
    let error = results["host3"]["error"].as_str().unwrap();
    assert!(
        error.contains("host3"),
        "the reason names the host: {error}"
    );
    for (host, result) in &results {
        if host != "host3" {
            assert_eq!(result["status"], "ok", "{host}: {result}");
            assert_eq!(result["stdout"], "done\n", "{host}");
        }
    }
    let (id, outcome) = last_run(&fleet, "run");
    assert_eq!(outcome, "unreachable");
    let recorded = recorded_statuses(&fleet, id);
    assert_eq!(recorded.len(), 10);
    assert_eq!(recorded["host3"], "unreachable");
    assert_eq!(recorded.values().filter(|s| *s == "ok").count(), 9);
}

#[test]
fn sshd_killed_mid_command_in_play_reports_that_host_and_the_other_nine_finish() {
    let fleet = Fleet::builder().hosts(10).start();
    write_playbook(
        &fleet,
        "site.yml",
        "    - command: sleep 2\n    - command: echo after\n",
    );
    let child = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .spawn();
    wait_for_command(&fleet, 2, "sleep 2");
    kill_sshd(&fleet, 2);
    let out = finish_within(child, NEVER_HANGS).code(4);
    let recap = recap(&out);
    assert_eq!(recap.len(), 10);
    assert_eq!(count(&recap, "host3", "unreachable"), 1, "{}", out.stdout);
    let messages = task_messages(&out, "host3");
    assert!(
        messages.iter().any(|m| m.contains("host3")),
        "the reason names the host: {messages:?}"
    );
    for i in (1..=10).filter(|i| *i != 3) {
        let host = format!("host{i}");
        assert_eq!(count(&recap, &host, "ok"), 2, "{host}");
        assert_eq!(count(&recap, &host, "failed"), 0, "{host}");
    }
    let (id, outcome) = last_run(&fleet, "play");
    assert_eq!(outcome, "unreachable");
    assert_eq!(recorded_statuses(&fleet, id)["host3"], "unreachable");
}

// --- connection cut mid-upload -------------------------------------------

/// A file of `size` bytes that compresses badly.
fn big_file(path: &Path, size: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Cuts host1's connection in the middle of the upload of `module` (copy
/// or template) of a 32 MiB file, then checks what is left and reruns.
fn cut_mid_upload(module: &str) {
    const SIZE: usize = 32 << 20;
    let fleet = Fleet::builder().hosts(2).start();
    // Letters only, so the same file is a valid template.
    let bytes = build(&fleet.dir, "big", SIZE);
    let bytes = std::fs::read(bytes).unwrap();
    std::fs::write(fleet.dir.join("big.txt"), &bytes).unwrap();
    for host in &fleet.hosts {
        std::fs::write(host.root.join("big.txt"), "old\n").unwrap();
    }
    write_playbook(
        &fleet,
        "site.yml",
        &format!("    - {module}: {{src: big.txt, dest: '{{{{ root_dir }}}}/big.txt'}}\n"),
    );
    let child = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .spawn();
    let root = fleet.hosts[0].root.clone();
    // Mid-upload: the temp file exists and is partly written.
    let temp = wait_for("the upload to start", Duration::from_secs(30), || {
        temp_files(&root)
            .into_iter()
            .map(|n| root.join(n))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    // Freeze the connection's sshd, so the upload cannot finish, then cut it.
    let sshd = fleet.session_sshd_pids(0);
    assert!(!sshd.is_empty());
    Fleet::signal(&sshd, libc::SIGSTOP);
    let written = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
    assert!(
        written < bytes.len() as u64,
        "cut mid-upload ({written} bytes)"
    );
    Fleet::signal(&sshd, libc::SIGKILL);

    let out = finish_within(child, NEVER_HANGS).code(4);
    let recap = recap(&out);
    assert_eq!(count(&recap, "host1", "unreachable"), 1, "{}", out.stdout);
    assert_eq!(count(&recap, "host2", "changed"), 1);
    assert_eq!(std::fs::read(root.join("big.txt")).unwrap(), b"old\n");
    // The host's shell removes the temp file once its upload is cut.
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&root).is_empty().then_some(())
    });

    herd(&fleet).args(["play", "site.yml"]).run().success();
    assert!(std::fs::read(root.join("big.txt")).unwrap() == bytes);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn connection_cut_mid_upload_keeps_the_old_file_leaves_no_temp_and_a_rerun_completes() {
    cut_mid_upload("copy");
}

#[test]
fn connection_cut_mid_template_upload_keeps_the_old_file_leaves_no_temp() {
    cut_mid_upload("template");
}

// --- host frozen ---------------------------------------------------------

/// Keepalive every second (given up after 4 s without an answer).
fn fast_keepalive(fleet: &Fleet) {
    let config = std::fs::read_to_string(&fleet.ssh_config).unwrap();
    std::fs::write(
        &fleet.ssh_config,
        format!("Host *\n  ServerAliveInterval 1\n\n{config}"),
    )
    .unwrap();
}

/// Freezes host `i` (SIGSTOP its sshd and sessions) until dropped.
struct Frozen<'f>(&'f fleet::FleetHost);

impl Frozen<'_> {
    fn host(fleet: &Fleet, i: usize) -> Frozen<'_> {
        fleet.hosts[i].freeze();
        Frozen(&fleet.hosts[i])
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.thaw();
    }
}

#[test]
fn a_host_frozen_mid_command_is_given_up_after_the_keepalive_bound() {
    let fleet = Fleet::builder().hosts(3).start();
    fast_keepalive(&fleet);
    let started = Instant::now();
    let child = herd(&fleet)
        .args(["run", "all", "--format", "json", "--", "sleep 1; echo done"])
        .spawn();
    wait_for_command(&fleet, 1, "sleep 1");
    let frozen = Frozen::host(&fleet, 1);
    let out = finish_within(child, NEVER_HANGS).code(4);
    drop(frozen);
    let results = run_results(&out);
    assert_eq!(results["host2"]["status"], "unreachable", "{}", out.stdout);
    assert_eq!(results["host1"]["stdout"], "done\n");
    assert_eq!(results["host3"]["stdout"], "done\n");
    // ServerAliveInterval 1 x 4 keepalives, plus start-up: far below this.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_host_frozen_before_connecting_is_given_up_after_the_connect_timeout() {
    let fleet = Fleet::builder().hosts(3).start();
    write_playbook(&fleet, "site.yml", "    - command: echo hi\n");
    let _frozen = Frozen::host(&fleet, 1);
    for args in [
        &[
            "run",
            "--connect-timeout",
            "2",
            "all",
            "--format",
            "json",
            "--",
            "echo",
            "hi",
        ][..],
        &[
            "play",
            "--connect-timeout",
            "2",
            "site.yml",
            "--format",
            "json",
        ][..],
        &["collect", "--connect-timeout", "2", "--format", "json"][..],
    ] {
        let started = Instant::now();
        let out = finish_within(herd(&fleet).args(args).spawn(), NEVER_HANGS);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{args:?} took {:?}",
            started.elapsed()
        );
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.contains("host2: timed out after 2s"),
            "{args:?}: host2 is named with the bound:\n{text}"
        );
        match args[0] {
            "run" => {
                assert_eq!(out.code, 4);
                let results = run_results(&out);
                assert_eq!(results["host2"]["status"], "unreachable");
                assert_eq!(results["host1"]["status"], "ok");
                assert_eq!(results["host3"]["status"], "ok");
            }
            "play" => {
                assert_eq!(out.code, 4);
                let recap = recap(&out);
                assert_eq!(count(&recap, "host2", "unreachable"), 1);
                assert_eq!(count(&recap, "host1", "ok"), 1);
                assert_eq!(count(&recap, "host3", "ok"), 1);
            }
            _ => {
                let reach: BTreeMap<String, bool> = {
                    let db = store(&fleet);
                    let mut q = db
                        .prepare(
                            "SELECT host, reachable FROM host_reach WHERE collection_id =
                             (SELECT MAX(id) FROM collections)",
                        )
                        .unwrap();
                    q.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                };
                assert_eq!(reach.get("host2"), Some(&false), "{reach:?}");
                assert_eq!(reach.get("host1"), Some(&true), "{reach:?}");
            }
        }
    }
}

// --- disk full on the host -----------------------------------------------

#[test]
fn disk_full_on_the_host_names_host_and_path_and_keeps_the_old_file() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs as the host's full disk needs root");
        return;
    }
    let fleet = Fleet::builder().hosts(2).start();
    let full = fleet.hosts[0].root.join("full");
    let disk = Tmpfs::mount(&full, "1m");
    std::fs::write(full.join("app.bin"), "old\n").unwrap();
    std::fs::write(full.join("app.conf"), "old\n").unwrap();
    disk.fill();
    std::fs::create_dir_all(fleet.hosts[1].root.join("full")).unwrap();
    big_file(&fleet.dir.join("app.bin"), 256 << 10);
    std::fs::write(
        fleet.dir.join("app.conf.j2"),
        "name = {{ inventory_hostname }}\n",
    )
    .unwrap();
    write_playbook(
        &fleet,
        "site.yml",
        "    - copy: {src: app.bin, dest: '{{ root_dir }}/full/app.bin'}\n      ignore_errors: true\n\
         \x20   - template: {src: app.conf.j2, dest: '{{ root_dir }}/full/app.conf'}\n",
    );
    let out = finish_within(
        herd(&fleet)
            .args(["play", "site.yml", "--format", "json"])
            .spawn(),
        NEVER_HANGS,
    )
    .code(3);
    let recap = recap(&out);
    assert_eq!(count(&recap, "host1", "failed"), 1, "{}", out.stdout);
    assert_eq!(count(&recap, "host1", "ignored"), 1);
    assert_eq!(count(&recap, "host2", "changed"), 2);
    let messages = task_messages(&out, "host1");
    assert_eq!(messages.len(), 2, "{messages:?}");
    for (message, file) in messages.iter().zip(["app.bin", "app.conf"]) {
        assert!(message.contains("host1"), "names the host: {message}");
        assert!(
            message.contains(&format!("full/{file}")),
            "names the path: {message}"
        );
        assert!(message.contains("No space left"), "says why: {message}");
    }
    assert_eq!(std::fs::read(full.join("app.bin")).unwrap(), b"old\n");
    assert_eq!(std::fs::read(full.join("app.conf")).unwrap(), b"old\n");
    assert!(temp_files(&full).is_empty(), "{:?}", temp_files(&full));
}

// --- herd killed ---------------------------------------------------------

#[test]
fn herd_killed_mid_play_leaves_whole_files_and_the_next_start_marks_the_run_interrupted() {
    let fleet = Fleet::builder().hosts(3).start();
    let bytes = big_file(&fleet.dir.join("app.bin"), 1 << 20);
    write_playbook(
        &fleet,
        "site.yml",
        "    - copy: {src: app.bin, dest: '{{ root_dir }}/app.bin'}\n    - command: sleep 20\n",
    );
    let mut child = herd(&fleet).args(["play", "site.yml"]).spawn();
    for i in 0..3 {
        wait_for_command(&fleet, i, "sleep 20");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, outcome) = last_run(&fleet, "play");
    assert_eq!(outcome, "running", "herd had no chance to record more");

    // The next herd to open the store sees that herd is gone.
    herd(&fleet).args(["runs"]).run().success();
    let (id, outcome) = last_run(&fleet, "play");
    assert_eq!(outcome, "interrupted");
    assert_eq!(integrity_check(&fleet.dir.join(".herd/herd.db")), "ok");
    for host in &fleet.hosts {
        assert!(std::fs::read(host.root.join("app.bin")).unwrap() == bytes);
        assert!(temp_files(&host.root).is_empty());
    }
    let _ = id;
    kill_sessions(&fleet);
}

// --- the store's disk full -----------------------------------------------

#[test]
fn the_stores_disk_full_is_a_clear_error_and_the_store_stays_whole() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs as the store's full disk needs root");
        return;
    }
    let fleet = Fleet::builder().hosts(2).start();
    let state = fleet.dir.join(".herd");
    let disk = Tmpfs::mount(&state, "2m");
    herd(&fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
    herd(&fleet).args(["collect"]).run().success();
    let filler = disk.fill();
    for args in [&["run", "all", "--", "echo", "hi"][..], &["collect"][..]] {
        let out = finish_within(herd(&fleet).args(args).spawn(), NEVER_HANGS);
        assert_eq!(out.code, 1, "{args:?}:\n{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains("the disk is full") && out.stderr.contains("herd.db"),
            "{args:?}: a clear error naming the store:\n{}",
            out.stderr
        );
    }
    std::fs::remove_file(filler).unwrap();
    assert_eq!(integrity_check(&state.join("herd.db")), "ok");
    herd(&fleet).args(["runs"]).run().success();
    herd(&fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
}

// --- cron and people at once ---------------------------------------------

#[test]
fn collect_run_and_play_at_once_lose_no_rows_and_never_lock() {
    const ROUNDS: usize = 10;
    let fleet = Fleet::builder().hosts(2).start();
    write_playbook(&fleet, "site.yml", "    - command: echo hi\n");
    for _ in 0..ROUNDS {
        let children = [
            herd(&fleet).args(["collect"]).spawn(),
            herd(&fleet)
                .args(["run", "all", "--", "echo", "hi"])
                .spawn(),
            herd(&fleet).args(["play", "site.yml"]).spawn(),
        ];
        for child in children {
            let out = finish_within(child, NEVER_HANGS);
            assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
            assert!(!out.stderr.contains("locked"), "{}", out.stderr);
        }
    }
    let db = store(&fleet);
    let runs = |kind: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM runs WHERE kind = ?1 AND outcome = 'ok'",
            [kind],
            |row| row.get(0),
        )
        .unwrap()
    };
    assert_eq!(runs("run"), ROUNDS as i64);
    assert_eq!(runs("play"), ROUNDS as i64);
    let results: i64 = db
        .query_row("SELECT COUNT(*) FROM host_results", [], |row| row.get(0))
        .unwrap();
    assert_eq!(results, (ROUNDS * 2 * 2) as i64);
    // Every collection kept its samples, the same number each.
    let per_collection: Vec<i64> = db
        .prepare("SELECT COUNT(*) FROM samples GROUP BY collection_id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(per_collection.len(), ROUNDS, "{per_collection:?}");
    assert!(per_collection[0] > 0);
    assert!(per_collection.iter().all(|n| *n == per_collection[0]));
    assert_eq!(integrity_check(&fleet.dir.join(".herd/herd.db")), "ok");
}

#[test]
fn three_collections_started_together_keep_every_sample() {
    let fleet = Fleet::builder().hosts(2).start();
    let children: Vec<_> = (0..3)
        .map(|_| herd(&fleet).args(["collect"]).spawn())
        .collect();
    for child in children {
        finish_within(child, NEVER_HANGS).success();
    }
    let db = store(&fleet);
    let load_samples: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM samples WHERE metric = 'load.1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(load_samples, 3 * 2, "three per host");
    let out = herd(&fleet)
        .args([
            "history", "host1", "load.1", "--since", "1h", "--format", "json",
        ])
        .run()
        .success();
    assert_eq!(out.json_lines().len(), 3);
}

// --- host key changed ----------------------------------------------------

#[test]
fn sshd_restarted_with_a_new_host_key_is_refused_and_named_and_the_others_run() {
    let mut fleet = Fleet::builder().hosts(3).start();
    fleet.hosts[1].restart_sshd(true);
    let out = herd(&fleet)
        .args(["run", "all", "--format", "json", "--", "echo", "hi"])
        .run()
        .code(4);
    let results = run_results(&out);
    assert_eq!(results["host2"]["status"], "unreachable");
    let error = results["host2"]["error"].as_str().unwrap();
    assert!(error.contains("HOST KEY CHANGED for host2"), "{error}");
    assert_eq!(results["host1"]["stdout"], "hi\n");
    assert_eq!(results["host3"]["stdout"], "hi\n");
}

// --- the wire: a fault proxy in front of each host ------------------------

#[test]
fn a_link_blackholed_mid_command_is_given_up_after_the_keepalive_bound() {
    let fleet = Fleet::builder().hosts(3).proxied().start();
    fast_keepalive(&fleet);
    write_playbook(
        &fleet,
        "site.yml",
        "    - command: sleep 1.5\n    - command: echo after\n",
    );
    let link = fleet.hosts[1].link().clone();
    for args in [
        &[
            "run",
            "all",
            "--format",
            "json",
            "--",
            "sleep 1.5; echo done",
        ][..],
        &["play", "site.yml", "--format", "json"][..],
    ] {
        link.restore();
        let started = Instant::now();
        let child = herd(&fleet).args(args).spawn();
        wait_for_command(&fleet, 1, "sleep 1.5");
        link.blackhole();
        let out = finish_within(child, NEVER_HANGS).code(4);
        // ServerAliveInterval 1 x 4 keepalives, plus start-up: far below this.
        assert!(started.elapsed() < Duration::from_secs(30), "{args:?}");
        if args[0] == "run" {
            let results = run_results(&out);
            assert_eq!(results["host2"]["status"], "unreachable", "{}", out.stdout);
            assert_eq!(results["host1"]["stdout"], "done\n");
            assert_eq!(results["host3"]["stdout"], "done\n");
        } else {
            let recap = recap(&out);
            assert_eq!(count(&recap, "host2", "unreachable"), 1, "{}", out.stdout);
            assert_eq!(count(&recap, "host1", "ok"), 2);
            assert_eq!(count(&recap, "host3", "ok"), 2);
        }
    }
    // Blackholed before connecting: the connect timeout bounds it.
    link.restore();
    link.blackhole();
    let started = Instant::now();
    let out = finish_within(
        herd(&fleet)
            .args(["collect", "--connect-timeout", "2", "--format", "json"])
            .spawn(),
        NEVER_HANGS,
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("host2: timed out after 2s"), "{text}");
    let unreachable: String = store(&fleet)
        .query_row(
            "SELECT group_concat(host) FROM host_reach WHERE reachable = 0",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(unreachable, "host2");
}

#[test]
fn a_link_reset_mid_upload_keeps_the_old_file_leaves_no_temp_and_a_rerun_completes() {
    const SIZE: usize = 16 << 20;
    let fleet = Fleet::builder().hosts(2).proxied().start();
    let source = fleet.dir.join("big.bin");
    let bytes = big_file(&source, SIZE);
    for host in &fleet.hosts {
        std::fs::write(host.root.join("big.bin"), "old\n").unwrap();
    }
    write_playbook(
        &fleet,
        "site.yml",
        "    - copy: {src: big.bin, dest: '{{ root_dir }}/big.bin'}\n",
    );
    let link = fleet.hosts[0].link().clone();
    let child = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .spawn();
    let root = fleet.hosts[0].root.clone();
    let temp = wait_for("the upload to start", Duration::from_secs(30), || {
        temp_files(&root)
            .into_iter()
            .map(|n| root.join(n))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    // Hold the bytes, so the upload cannot finish, then reset the link.
    link.cut();
    std::thread::sleep(Duration::from_millis(200));
    let written = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
    assert!(written < SIZE as u64, "reset mid-upload ({written} bytes)");
    link.reset();
    link.restore();

    let out = finish_within(child, NEVER_HANGS).code(4);
    let recap = recap(&out);
    assert_eq!(count(&recap, "host1", "unreachable"), 1, "{}", out.stdout);
    assert_eq!(count(&recap, "host2", "changed"), 1);
    assert_eq!(std::fs::read(root.join("big.bin")).unwrap(), b"old\n");
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&root).is_empty().then_some(())
    });
    herd(&fleet).args(["play", "site.yml"]).run().success();
    assert!(std::fs::read(root.join("big.bin")).unwrap() == bytes);
}

/// Each host's duration (ms) of the task named `task` in `herd play --format json`.
fn task_durations(out: &Outcome, task: &str) -> BTreeMap<String, u64> {
    out.json_lines()
        .iter()
        .filter(|e| e["event"] == "task_done" && e["name"] == task)
        .flat_map(|e| e["results"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["duration_ms"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn one_slow_host_holds_back_only_what_serial_requires() {
    let fleet = Fleet::builder().hosts(4).proxied().start();
    big_file(&fleet.dir.join("app.bin"), 300 << 10);
    std::fs::write(
        fleet.dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  serial: 2\n  tasks:\n\
         \x20   - name: upload\n      copy: {src: app.bin, dest: '{{ root_dir }}/app.bin'}\n",
    )
    .unwrap();
    fleet.hosts[0].link().set_bandwidth(Some(100 << 10));
    let out = finish_within(
        herd(&fleet)
            .args(["play", "site.yml", "--format", "json"])
            .spawn(),
        NEVER_HANGS,
    )
    .success();
    let took = task_durations(&out, "upload");
    assert_eq!(took.len(), 4, "{}", out.stdout);
    // 300 KiB at 100 KiB/s: about 3 s for host1 alone.
    assert!(took["host1"] >= 2000, "{took:?}");
    for host in ["host2", "host3", "host4"] {
        assert!(
            took[host] * 2 < took["host1"],
            "{host} is not slowed by host1: {took:?}"
        );
    }
}

/// The order `herd play --format json` reported its task results in:
/// (task, host).
fn result_order(out: &Outcome) -> Vec<(String, String)> {
    out.json_lines()
        .iter()
        .filter(|e| e["event"] == "task_done")
        .flat_map(|e| {
            let task = e["name"].as_str().unwrap().to_string();
            e["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |r| (task.clone(), r["host"].as_str().unwrap().to_string()))
        })
        .collect()
}

/// In the four-task play below, host2 and host3 end the play before host1
/// (the far one) ends its first task, and every host runs every task.
fn the_others_finish_before_host1_starts(out: &Outcome) {
    let done = result_order(out);
    assert_eq!(done.len(), 12, "{}", out.stdout);
    let at = |task: &str, host: &str| {
        done.iter()
            .position(|(t, h)| t == task && h == host)
            .unwrap_or_else(|| panic!("no {task} on {host}: {done:?}"))
    };
    for host in ["host2", "host3"] {
        assert!(at("last", host) < at("first", "host1"), "{done:?}");
    }
    assert!(at("first", "host1") < at("last", "host1"), "{done:?}");
}

#[test]
fn in_a_free_play_a_slow_host_does_not_hold_back_the_others() {
    let fleet = Fleet::builder().hosts(3).proxied().start();
    std::fs::write(
        fleet.dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  strategy: free\n  tasks:\n\
         \x20   - name: first\n      command: 'true'\n\
         \x20   - name: second\n      copy: {content: \"x\\n\", dest: '{{ root_dir }}/x'}\n\
         \x20   - name: third\n      command: cat {{ root_dir }}/x\n      register: seen\n\
         \x20   - name: last\n      debug: {msg: '{{ seen.stdout }}'}\n",
    )
    .unwrap();
    fleet.hosts[0].link().set_rtt(Duration::from_millis(400));
    let out = finish_within(
        herd(&fleet)
            .args(["play", "site.yml", "--format", "json"])
            .spawn(),
        NEVER_HANGS,
    )
    .success();
    // host1 is 400 ms away: the others finish the play before it
    // finishes its first task (a linear play would wait for it at each).
    the_others_finish_before_host1_starts(&out);
    // Every host went through every task, with its own registered value;
    // the same play without the keyword is free when the project says so.
    let site = fleet.dir.join("site.yml");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&site, text.replace("  strategy: free\n", "")).unwrap();
    let project = fleet.dir.join("herd.toml");
    let settings = std::fs::read_to_string(&project).unwrap();
    std::fs::write(&project, format!("strategy = \"free\"\n{settings}")).unwrap();
    let out = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .run()
        .success();
    the_others_finish_before_host1_starts(&out);
    let text = herd(&fleet).args(["play", "site.yml"]).run().success();
    assert!(text.stdout.contains("ok=4 "), "{}", text.stdout);
    assert!(!text.stdout.contains("failed=1"), "{}", text.stdout);
}

// --- deploy under faults -------------------------------------------------

/// A service build: a shell script with `version` in it, padded with a
/// comment of `padding` random-looking bytes (to make the upload long).
fn build(dir: &Path, version: &str, padding: usize) -> PathBuf {
    let dir = dir.join("builds").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo");
    let pad: String = {
        let mut state: u32 = 0x2545_f491;
        (0..padding)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect()
    };
    std::fs::write(&path, format!("#!/bin/sh\necho demo {version}\n# {pad}\n")).unwrap();
    path
}

/// `herd deploy all` of `binary` under each host's `demo/`.
fn deploy(fleet: &Fleet, binary: &Path, version: &str, restart: &str) -> Herd {
    herd(fleet)
        .args(["deploy", "all", "--service", "demo"])
        .args([
            "--root",
            "{{ root_dir }}/demo",
            "--release-version",
            version,
        ])
        .args(["--restart", restart])
        .args([std::ffi::OsStr::new("--binary"), binary.as_os_str()])
}

/// The release `current` points at on a host, checking that the link
/// resolves to a whole binary of that release.
fn current_release(host: &fleet::FleetHost, builds: &Path) -> String {
    let current = host.root.join("demo/current");
    let target = std::fs::read_link(&current).expect("current is a symlink");
    let release = target.file_name().unwrap().to_string_lossy().into_owned();
    let binary = std::fs::read(current.join("demo")).expect("current is not dangling");
    let built = std::fs::read(builds.join(&release).join("demo")).unwrap();
    assert!(binary == built, "{}: release {release} is whole", host.name);
    release
}

#[test]
fn herd_killed_mid_deploy_leaves_each_host_on_its_old_or_new_release() {
    let fleet = Fleet::builder().hosts(3).start();
    let builds = fleet.dir.join("builds");
    let v1 = build(&fleet.dir, "v1", 0);
    deploy(&fleet, &v1, "v1", "true").run().success();
    let v2 = build(&fleet.dir, "v2", 0);
    // The restart waits, so herd is killed with v2 active on some hosts.
    let mut child = deploy(&fleet, &v2, "v2", "sleep 20").spawn();
    wait_for_command(&fleet, 0, "sleep 20");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(last_run(&fleet, "deploy").1, "running");

    herd(&fleet).args(["runs"]).run().success();
    assert_eq!(last_run(&fleet, "deploy").1, "interrupted");
    assert_eq!(integrity_check(&fleet.dir.join(".herd/herd.db")), "ok");
    for host in &fleet.hosts {
        let release = current_release(host, &builds);
        assert!(release == "v1" || release == "v2", "{release}");
        assert!(temp_files(&host.root.join("demo")).is_empty());
    }
    assert_eq!(current_release(&fleet.hosts[0], &builds), "v2");
    kill_sessions(&fleet);
}

#[test]
fn connection_cut_mid_deploy_upload_keeps_the_old_release_and_a_rerun_completes() {
    let fleet = Fleet::builder().hosts(2).start();
    let builds = fleet.dir.join("builds");
    let v1 = build(&fleet.dir, "v1", 0);
    deploy(&fleet, &v1, "v1", "true").run().success();
    let v2 = build(&fleet.dir, "v2", 16 << 20);
    let child = deploy(&fleet, &v2, "v2", "true").spawn();
    let dir = fleet.hosts[0].root.join("demo/releases/v2");
    let temp = wait_for("the upload to start", Duration::from_secs(30), || {
        temp_files(&dir)
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    let sshd = fleet.session_sshd_pids(0);
    Fleet::signal(&sshd, libc::SIGSTOP);
    let written = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
    assert!(written < 16 << 20, "cut mid-upload ({written} bytes)");
    Fleet::signal(&sshd, libc::SIGKILL);

    let out = finish_within(child, NEVER_HANGS).code(4);
    let (id, _) = last_run(&fleet, "deploy");
    let recorded = recorded_statuses(&fleet, id);
    assert_eq!(recorded["host1"], "unreachable", "{}", out.stdout);
    assert_eq!(recorded["host2"], "ok");
    assert_eq!(current_release(&fleet.hosts[0], &builds), "v1");
    assert!(!dir.join("demo").exists(), "no partial binary");
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&dir).is_empty().then_some(())
    });
    deploy(&fleet, &v2, "v2", "true").run().success();
    assert_eq!(current_release(&fleet.hosts[0], &builds), "v2");
}

// --- Ctrl-C ----------------------------------------------------------------

#[test]
fn ctrl_c_in_play_records_unfinished_hosts_as_interrupted_as_run_does() {
    let fleet = Fleet::builder().hosts(2).start();
    write_playbook(&fleet, "site.yml", "    - command: sleep 20\n");
    let child = herd(&fleet).args(["play", "site.yml"]).spawn();
    for i in 0..2 {
        wait_for_command(&fleet, i, "sleep 20");
    }
    // SAFETY: kill(2) on our own child, as a terminal's Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    finish_within(child, NEVER_HANGS).code(130);
    let (id, outcome) = last_run(&fleet, "play");
    assert_eq!(outcome, "interrupted");
    let recorded = recorded_statuses(&fleet, id);
    assert_eq!(
        recorded.values().collect::<Vec<_>>(),
        ["interrupted", "interrupted"],
        "{recorded:?}"
    );
    // The remote commands were stopped, not left running.
    wait_for(
        "the remote commands to end",
        Duration::from_secs(10),
        || {
            (0..2)
                .all(|i| {
                    !fleet
                        .session_pids(i)
                        .iter()
                        .any(|pid| fleet::cmdline(*pid).contains("sleep 20"))
                })
                .then_some(())
        },
    );
}

#[test]
fn a_host_frozen_mid_upload_is_given_up_within_the_keepalive_bounds() {
    const SIZE: usize = 32 << 20;
    let fleet = Fleet::builder().hosts(2).start();
    fast_keepalive(&fleet);
    big_file(&fleet.dir.join("big.bin"), SIZE);
    let root = fleet.hosts[0].root.clone();
    std::fs::write(root.join("big.bin"), "old\n").unwrap();
    write_playbook(
        &fleet,
        "site.yml",
        "    - copy: {src: big.bin, dest: '{{ root_dir }}/big.bin'}\n",
    );
    let started = Instant::now();
    let child = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .spawn();
    wait_for("the upload to start", Duration::from_secs(30), || {
        (!temp_files(&root).is_empty()).then_some(())
    });
    let frozen = Frozen::host(&fleet, 0);
    let out = finish_within(child, NEVER_HANGS);
    // Keepalive 1 s: given up after 4 s (8 s if the stuck write blocks the
    // connection), plus start-up: far below this.
    assert!(started.elapsed() < Duration::from_secs(30));
    let recap = recap(&out);
    // The keepalives find the host gone before the upload's stall bound.
    assert_eq!(count(&recap, "host1", "unreachable"), 1, "{}", out.stdout);
    assert_eq!(count(&recap, "host2", "changed"), 1);
    let messages = task_messages(&out, "host1");
    assert!(messages.iter().any(|m| m.contains("host1")), "{messages:?}");
    assert_eq!(std::fs::read(root.join("big.bin")).unwrap(), b"old\n");
    // Thawed, the host notices the connection is gone and removes its temp
    // file.
    drop(frozen);
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&root).is_empty().then_some(())
    });
}

// --- stdin the host does not take (the transport itself) ------------------

/// The transport to host1 of `fleet`, keepalive every second.
fn transport(fleet: &Fleet) -> (std::sync::Arc<herd::ssh::Pool>, herd::ssh::Target) {
    let options = herd::ssh::SshOptions {
        config_file: Some(fleet.ssh_config.clone()),
        keepalive: Some(Duration::from_secs(1)),
        ..herd::ssh::SshOptions::isolated(&fleet.dir)
    };
    let target = herd::ssh::Target::resolve("host1", &Default::default(), &options).unwrap();
    (herd::ssh::Pool::new(options), target)
}

fn input(size: usize) -> herd::ssh::ExecOptions {
    herd::ssh::ExecOptions {
        stdin: Some(vec![b'x'; size]),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_command_that_exits_without_reading_its_input_ends_the_upload() {
    let fleet = Fleet::builder().hosts(1).start();
    let (pool, target) = transport(&fleet);
    let conn = pool.connect(&target).await.unwrap();
    // Far more than the channel window: the rest can never be sent.
    let input = input(64 << 20);
    let run = conn.exec("exit 7", &input);
    let out = tokio::time::timeout(NEVER_HANGS, run)
        .await
        .expect("the writer ends with the channel")
        .unwrap();
    assert_eq!(out.exit_code, Some(7));
}

#[tokio::test]
async fn input_a_live_host_does_not_take_fails_after_the_stall_bound() {
    let fleet = Fleet::builder().hosts(1).start();
    let (pool, target) = transport(&fleet);
    let conn = pool.connect(&target).await.unwrap();
    let started = Instant::now();
    let input = input(64 << 20);
    let run = conn.exec("sleep 30", &input);
    let err = tokio::time::timeout(NEVER_HANGS, run)
        .await
        .expect("the stall bound ends it")
        .unwrap_err();
    // Keepalive 1 s: 4 s to give a silent host up, one more for the stall.
    assert!(matches!(err, herd::ssh::ExecError::Stalled { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("host1: no data accepted for 6s"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The host is alive: the connection still runs commands.
    let out = conn.exec("echo ok", &Default::default()).await.unwrap();
    assert_eq!(out.stdout, b"ok\n");
}

// --- restore cut mid-upload ----------------------------------------------

#[test]
fn connection_cut_mid_restore_keeps_the_current_file_and_a_rerun_completes() {
    const SIZE: usize = 16 << 20;
    let fleet = Fleet::builder().hosts(1).start();
    let app = fleet.hosts[0].root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let bytes = big_file(&app.join("data.bin"), SIZE);
    herd(&fleet)
        .args(["backup", "host1", app.to_str().unwrap()])
        .run()
        .success();
    std::fs::write(app.join("data.bin"), "changed\n").unwrap();

    let child = herd(&fleet).args(["restore", "host1", "latest"]).spawn();
    let temp = wait_for("the upload to start", Duration::from_secs(30), || {
        temp_files(&app)
            .into_iter()
            .map(|n| app.join(n))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    let sshd = fleet.session_sshd_pids(0);
    Fleet::signal(&sshd, libc::SIGSTOP);
    let written = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
    assert!(written < SIZE as u64, "cut mid-upload ({written} bytes)");
    Fleet::signal(&sshd, libc::SIGKILL);

    let out = finish_within(child, NEVER_HANGS).code(4);
    assert!(
        out.stdout.contains("host1: ") && out.stdout.contains("data.bin: FAILED: host1: "),
        "names the host and the path:\n{}",
        out.stdout
    );
    assert_eq!(std::fs::read(app.join("data.bin")).unwrap(), b"changed\n");
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&app).is_empty().then_some(())
    });
    herd(&fleet)
        .args(["restore", "host1", "latest"])
        .run()
        .success();
    assert!(std::fs::read(app.join("data.bin")).unwrap() == bytes);
}

#[test]
fn disk_full_on_the_host_fails_deploy_keeping_the_old_release_and_backup_still_works() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs as the host's full disk needs root");
        return;
    }
    let fleet = Fleet::builder().hosts(2).start();
    let builds = fleet.dir.join("builds");
    let demo = fleet.hosts[0].root.join("demo");
    let disk = Tmpfs::mount(&demo, "1m");
    let v1 = build(&fleet.dir, "v1", 0);
    deploy(&fleet, &v1, "v1", "true").run().success();
    disk.fill();
    let v2 = build(&fleet.dir, "v2", 64 << 10);
    let out = finish_within(deploy(&fleet, &v2, "v2", "true").spawn(), NEVER_HANGS).code(3);
    assert!(
        out.stdout.contains("upload failed on host1")
            && out.stdout.contains("demo/releases/v2")
            && out.stdout.contains("No space left"),
        "names the host, the path and why:\n{}",
        out.stdout
    );
    assert_eq!(current_release(&fleet.hosts[0], &builds), "v1");
    assert_eq!(current_release(&fleet.hosts[1], &builds), "v2");
    assert!(!demo.join("releases/v2/demo").exists(), "no partial binary");
    assert!(temp_files(&demo.join("releases/v2")).is_empty());

    // A backup writes nothing on the host: a full disk there does not stop it.
    herd(&fleet)
        .args(["backup", "host1", demo.join("current/").to_str().unwrap()])
        .run()
        .success()
        .stdout_has("host1: backup ");
}

#[test]
fn one_slow_host_holds_back_only_its_own_deploy_upload() {
    let fleet = Fleet::builder().hosts(4).proxied().start();
    let v1 = build(&fleet.dir, "v1", 500 << 10);
    fleet.hosts[0].link().set_bandwidth(Some(100 << 10));
    let out = finish_within(
        deploy(&fleet, &v1, "v1", "true")
            .args(["--serial", "2", "--format", "json"])
            .spawn(),
        NEVER_HANGS,
    )
    .success();
    let upload: BTreeMap<String, u64> = out
        .json_lines()
        .iter()
        .filter(|l| l["host"].is_string())
        .map(|l| {
            let took = l["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["kind"] == "uploaded")
                .map(|s| s["duration"].as_u64().unwrap())
                .unwrap();
            (l["host"].as_str().unwrap().to_string(), took)
        })
        .collect();
    assert_eq!(upload.len(), 4, "{}", out.stdout);
    assert!(upload["host1"] >= 1500, "host1 is slow: {upload:?}");
    for host in ["host2", "host3", "host4"] {
        assert!(
            upload[host] * 2 < upload["host1"],
            "{host} is not slowed by host1: {upload:?}"
        );
    }
}

#[test]
fn a_link_cut_mid_upload_is_given_up_after_the_keepalive_bound() {
    let fleet = Fleet::builder().hosts(2).proxied().start();
    fast_keepalive(&fleet);
    big_file(&fleet.dir.join("big.bin"), 16 << 20);
    let root = fleet.hosts[0].root.clone();
    std::fs::write(root.join("big.bin"), "old\n").unwrap();
    write_playbook(
        &fleet,
        "site.yml",
        "    - copy: {src: big.bin, dest: '{{ root_dir }}/big.bin'}\n",
    );
    let link = fleet.hosts[0].link().clone();
    let started = Instant::now();
    let child = herd(&fleet)
        .args(["play", "site.yml", "--format", "json"])
        .spawn();
    wait_for("the upload to start", Duration::from_secs(30), || {
        (!temp_files(&root).is_empty()).then_some(())
    });
    // Bytes stop in both directions and wait; nothing is closed.
    link.cut();
    let out = finish_within(child, NEVER_HANGS).code(4);
    assert!(started.elapsed() < Duration::from_secs(30));
    let recap = recap(&out);
    assert_eq!(count(&recap, "host1", "unreachable"), 1, "{}", out.stdout);
    assert_eq!(count(&recap, "host2", "changed"), 1);
    assert_eq!(std::fs::read(root.join("big.bin")).unwrap(), b"old\n");
    // Restored, the host sees the connection end and removes its temp file.
    link.restore();
    wait_for("no temp file", Duration::from_secs(10), || {
        temp_files(&root).is_empty().then_some(())
    });
}
