//! `herd deploy` and `herd releases` against a fleet of real sshd hosts: a
//! small real service (a shell script that serves its version on a TCP
//! port through perl, which every Debian has) is rolled out in batches,
//! health-gated, rolled back, and listed.

use crate::fleet;
use crate::support;

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet::Fleet;
use support::Herd;

/// A service build: `--version` prints it, `serve ADDR PORT` answers every
/// connection with it. A `broken` build exits at once instead of serving.
fn build(dir: &Path, version: &str) -> PathBuf {
    let serve = if version == "broken" {
        "echo 'cannot start' >&2; exit 1".to_string()
    } else {
        format!(
            "exec perl -MIO::Socket::INET -e 'my ($a, $p, $m) = @ARGV; my $s; \
             for (1..50) {{ $s = IO::Socket::INET->new(LocalAddr => $a, LocalPort => $p, Listen => 5, ReuseAddr => 1) and last; select(undef, undef, undef, 0.1) }} \
             $s or die \"bind $a:$p: $!\"; while (my $c = $s->accept) {{ print $c \"$m\\n\"; close $c }}' \"$2\" \"$3\" 'demo {version}'"
        )
    };
    let script = format!(
        "#!/bin/sh\n# demo service {version}\ncase \"$1\" in\n  --version) echo 'demo {version}' ;;\n  serve) {serve} ;;\nesac\n"
    );
    let dir = dir.join("builds").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo");
    std::fs::write(&path, script).unwrap();
    path
}

/// Stops the services the tests started (they outlive sshd otherwise).
struct Services(Vec<PathBuf>);

impl Services {
    fn of(fleet: &Fleet) -> Services {
        Services(
            fleet
                .hosts
                .iter()
                .map(|h| h.root.join("demo/demo.pid"))
                .collect(),
        )
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for pid_file in &self.0 {
            if let Ok(pid) = std::fs::read_to_string(pid_file)
                && let Ok(pid) = pid.trim().parse::<i32>()
            {
                // SAFETY: kill(2) on the pid our restart command recorded.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
    }
}

/// A fleet of `hosts` with the demo's v1 deployed by herd on every host.
fn fleet_on_v1(hosts: usize) -> (Fleet, Services, u16) {
    let fleet = Fleet::builder().hosts(hosts).start();
    let services = Services::of(&fleet);
    let port = port();
    let v1 = build(&fleet.dir, "v1");
    deploy(&fleet, &v1, port, "v1", &["--release-version", "v1"])
        .run()
        .success()
        .stdout_has(&format!("{hosts} ok"));
    (fleet, services, port)
}

fn port() -> u16 {
    let probe = std::net::TcpListener::bind(("127.0.0.2", 0)).unwrap();
    probe.local_addr().unwrap().port()
}

/// Stops the demo (its pid file) and starts `current` on the host's address.
fn restart_demo(port: u16) -> String {
    format!(
        "kill $(cat demo.pid 2>/dev/null) 2>/dev/null; \
         setsid ./current/demo serve {{{{ ansible_host }}}} {port} > demo.log 2>&1 < /dev/null & echo $! > demo.pid"
    )
}

/// `herd deploy all --binary BUILD` of the demo under each host's root.
fn deploy_demo(fleet: &Fleet, binary: &Path) -> Herd {
    Herd::in_dir(&fleet.dir)
        .args(["deploy", "all", "--service", "demo"])
        .args(["--root", "{{ root_dir }}/demo"])
        .arg_path("--binary", binary)
}

/// `herd deploy all --binary BUILD ...` with the demo's restart and a TCP
/// health gate that expects the build's version.
fn deploy(fleet: &Fleet, binary: &Path, port: u16, version: &str, extra: &[&str]) -> Herd {
    let restart = restart_demo(port);
    deploy_demo(fleet, binary)
        .args(["--restart", &restart])
        .args(["--health-tcp", &format!("{{{{ ansible_host }}}}:{port}")])
        .args(["--health-expect", &format!("demo {version}")])
        .args(["--health-delay", "0.2"])
        .args(if extra.contains(&"--health-retries") {
            &[][..]
        } else {
            &["--health-retries", "20"][..]
        })
        .args(extra)
}

/// What the host's service answers on its own address.
fn served(fleet: &Fleet, i: usize, port: u16) -> String {
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(mut conn) = TcpStream::connect((fleet.hosts[i].addr, port)) {
            conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = conn.read_to_string(&mut text);
            return text.trim().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    "nothing listening".into()
}

/// Where the host's `current` symlink points.
fn current(fleet: &Fleet, i: usize) -> PathBuf {
    std::fs::read_link(fleet.hosts[i].root.join("demo/current")).unwrap()
}

fn release_dirs(fleet: &Fleet, i: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fleet.hosts[i].root.join("demo/releases"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

trait ArgPath {
    fn arg_path(self, flag: &str, path: &Path) -> Self;
}

impl ArgPath for Herd {
    fn arg_path(self, flag: &str, path: &Path) -> Herd {
        self.args([std::ffi::OsStr::new(flag), path.as_os_str()])
    }
}

#[test]
fn rolling_update_in_batches_then_a_rerun_uploads_nothing() {
    let (fleet, _services, port) = fleet_on_v1(4);
    let v2 = build(&fleet.dir, "v2");
    for i in 0..4 {
        assert_eq!(served(&fleet, i, port), "demo v1");
    }

    let out = deploy(
        &fleet,
        &v2,
        port,
        "v2",
        &["--release-version", "v2", "--canary", "--serial", "2"],
    )
    .run()
    .success();
    // The canary alone, then batches of two.
    out.stdout.find("batch 1/3: host1").expect(&out.stdout);
    out.stdout.find("batch 2/3: host[2-3]").expect(&out.stdout);
    out.stdout.find("batch 3/3: host4").expect(&out.stdout);
    out.stdout_has("on v2 (was v1), healthy");
    for i in 0..4 {
        assert_eq!(served(&fleet, i, port), "demo v2");
        assert_eq!(current(&fleet, i), Path::new("releases/v2"));
        // The binary arrived whole, executable, and no temp file is left.
        let installed = fleet.hosts[i].root.join("demo/releases/v2/demo");
        assert_eq!(
            std::fs::read(&installed).unwrap(),
            std::fs::read(&v2).unwrap()
        );
        let names: Vec<_> = std::fs::read_dir(installed.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["demo"]);
    }

    // Same build again: nothing is sent, nothing restarted.
    let again = deploy(
        &fleet,
        &v2,
        port,
        "v2",
        &["--release-version", "v2", "--format", "json"],
    )
    .run()
    .success();
    let lines = again.json_lines();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        assert_eq!(line["uploaded"], false, "{line}");
        assert_eq!(line["release"], "unchanged", "{line}");
        let steps: Vec<&str> = line["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["upload_skipped", "unchanged"], "{line}");
    }

    // herd releases: current, previous and the kept releases of each host.
    let listed = Herd::in_dir(&fleet.dir)
        .args(["releases", "all", "--root", "{{ root_dir }}/demo"])
        .run()
        .success();
    for host in ["host1", "host2", "host3", "host4"] {
        let line = listed
            .stdout
            .lines()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("{host} missing:\n{}", listed.stdout));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, [host, "v2", "v1", "v2", "v1"], "{}", listed.stdout);
    }

    // The store has every step of every host, with timings.
    let store = herd::store::Store::open(&fleet.dir.join(".herd")).unwrap();
    let steps = store.release_steps(herd::store::RunId(2)).unwrap();
    for host in ["host1", "host2", "host3", "host4"] {
        let kinds: Vec<&str> = steps
            .iter()
            .filter(|s| s.host == host)
            .map(|s| s.step.as_str())
            .collect();
        assert_eq!(kinds, ["uploaded", "activated", "restarted", "healthy"]);
    }
    assert!(steps.iter().all(|s| s.release == "v2" && s.started_at > 0));
    assert!(steps.iter().any(|s| s.duration_ms > 0));
    // ... and herd releases shows them (run 3, the rerun, is the last deploy).
    let shown = Herd::in_dir(&fleet.dir)
        .args(["releases", "host3", "--steps=2"])
        .run()
        .success()
        .stdout_has("run 2: deploy v2");
    assert_eq!(shown.stdout.matches("host3").count(), 4, "{}", shown.stdout);
    assert!(!shown.stdout.contains("host1"), "{}", shown.stdout);
    Herd::in_dir(&fleet.dir)
        .args(["releases", "all", "--steps"])
        .run()
        .success()
        .stdout_has("run 3: deploy v2")
        .stdout_has("upload_skipped");
    Herd::in_dir(&fleet.dir)
        .args(["runs", "show", "2"])
        .run()
        .success()
        .stdout_has("on v2 (was v1), healthy");
}

#[test]
fn a_build_failing_its_health_gate_is_rolled_back_and_stops_the_rollout() {
    let (fleet, _services, port) = fleet_on_v1(3);
    let broken = build(&fleet.dir, "broken");

    let out = deploy(
        &fleet,
        &broken,
        port,
        "broken",
        &[
            "--release-version",
            "v2",
            "--serial",
            "1",
            "--health-retries",
            "3",
        ],
    )
    .run()
    .code(3);
    assert!(
        out.stdout.contains("v2 failed its health gate")
            && out.stdout.contains("rolled back to v1, which is healthy"),
        "{}",
        out.stdout
    );
    let out = out.stdout_has("rollout stopped: 1 of 1 hosts in batch 1 failed (100%)");
    out.stdout_has("2 host(s) not started");
    // host1 is back on v1 and serving it; the others were never touched.
    for i in 0..3 {
        assert_eq!(served(&fleet, i, port), "demo v1", "host{}", i + 1);
        assert_eq!(current(&fleet, i), Path::new("releases/v1"));
    }
    assert_eq!(release_dirs(&fleet, 0), ["v1", "v2"]);
    assert_eq!(release_dirs(&fleet, 1), ["v1"]);
    assert_eq!(release_dirs(&fleet, 2), ["v1"]);
}

#[test]
fn rollback_returns_hosts_to_their_previous_release() {
    let (fleet, _services, port) = fleet_on_v1(2);
    let v2 = build(&fleet.dir, "v2");
    deploy(&fleet, &v2, port, "v2", &["--release-version", "v2"])
        .run()
        .success();
    assert_eq!(served(&fleet, 1, port), "demo v2");

    let restart = restart_demo(port);
    Herd::in_dir(&fleet.dir)
        .args([
            "deploy",
            "--rollback",
            "all",
            "--root",
            "{{ root_dir }}/demo",
        ])
        .args(["--restart", &restart])
        .args(["--health-tcp", &format!("{{{{ ansible_host }}}}:{port}")])
        .args(["--health-expect", "demo v1", "--health-delay", "0.2"])
        .run()
        .success()
        .stdout_has("rolled back: on v1 (was v2), healthy");
    for i in 0..2 {
        assert_eq!(served(&fleet, i, port), "demo v1");
    }
    Herd::in_dir(&fleet.dir)
        .args([
            "releases",
            "all",
            "--root",
            "{{ root_dir }}/demo",
            "--format",
            "json",
        ])
        .run()
        .success()
        .stdout_has(r#""current":"v1","previous":"v2""#);
}

#[test]
fn bad_input_is_refused_before_any_host_is_touched() {
    let fleet = Fleet::builder().hosts(1).start();
    let missing = fleet.dir.join("no-such-build");
    deploy_demo(&fleet, &missing)
        .run()
        .code(2)
        .stderr_has("no-such-build")
        .stderr_has("--binary");
    Herd::in_dir(&fleet.dir)
        .args(["deploy", "all", "--service", "demo", "--serial", "0"])
        .arg_path("--binary", &build(&fleet.dir, "v1"))
        .run()
        .code(2)
        .stderr_has("--serial");
    Herd::in_dir(&fleet.dir)
        .args([
            "deploy",
            "all",
            "--service",
            "demo",
            "--root",
            "{{ no_such_var }}",
        ])
        .arg_path("--binary", &build(&fleet.dir, "v1"))
        .run()
        .code(2)
        .stderr_has("--root for host host1");
    assert!(!fleet.hosts[0].root.join("demo").exists());
}

#[test]
fn an_unreachable_host_does_not_stop_the_others() {
    let mut fleet = Fleet::builder().hosts(3).start();
    fleet.stop_host(1);
    let _services = Services::of(&fleet);
    let port = port();
    let v1 = build(&fleet.dir, "v1");
    let out = deploy(
        &fleet,
        &v1,
        port,
        "v1",
        &["--release-version", "v1", "--max-fail-percentage", "50"],
    )
    .run()
    .code(4);
    let out = out.stdout_has("host2: ");
    let out = out.stdout_has("nothing changed on the host");
    out.stdout_has("2 ok, 0 failed, 1 unreachable");
    assert_eq!(served(&fleet, 0, port), "demo v1");
    assert_eq!(served(&fleet, 2, port), "demo v1");
}

#[test]
fn the_release_module_rolls_out_from_a_playbook_with_serial() {
    let fleet = Fleet::builder().hosts(3).start();
    let _services = Services::of(&fleet);
    let port = port();
    let v1 = build(&fleet.dir, "v1");
    let broken = build(&fleet.dir, "broken");
    let playbook = fleet.dir.join("release.yml");
    std::fs::write(
        &playbook,
        r#"- hosts: all
  serial: 1
  max_fail_percentage: 0
  gather_facts: false
  tasks:
    - name: ship the demo
      release:
        src: "{{ build }}"
        service: demo
        version: "{{ version }}"
        root: "{{ root_dir }}/demo"
        restart: "kill $(cat demo.pid 2>/dev/null) 2>/dev/null; setsid ./current/demo serve {{ ansible_host }} {{ port }} > demo.log 2>&1 < /dev/null & echo $! > demo.pid"
        health_tcp: "{{ ansible_host }}:{{ port }}"
        health_expect: "demo {{ version }}"
        health_retries: 20
        health_delay: 0.2
"#,
    )
    .unwrap();
    let play = |build: &Path, version: &str, extra: &[&str]| {
        Herd::in_dir(&fleet.dir)
            .args(["play", "release.yml", "-e", &format!("port={port}")])
            .args(extra)
            .args(["-e", &format!("version={version}")])
            .args([
                std::ffi::OsStr::new("-e"),
                format!("build={}", build.display()).as_ref(),
            ])
            .run()
    };
    play(&v1, "v1", &[]).success().stdout_has("changed=1");
    for i in 0..3 {
        assert_eq!(served(&fleet, i, port), "demo v1");
    }
    // --check: the play says it would change, and nothing is sent.
    play(&broken, "v2", &["--check"])
        .success()
        .stdout_has("changed=1");
    assert_eq!(release_dirs(&fleet, 0), ["v1"]);
    // The broken build fails on host1, which goes back to v1; serial 1 with
    // max_fail_percentage 0 stops the play before host2.
    let out = play(&broken, "v2", &[]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    out.stdout_has("rolled back to v1, which is healthy");
    for i in 0..3 {
        assert_eq!(served(&fleet, i, port), "demo v1");
    }
    assert_eq!(release_dirs(&fleet, 0), ["v1", "v2"]);
    assert_eq!(release_dirs(&fleet, 1), ["v1"]);
}

#[test]
fn ctrl_c_mid_rollout_leaves_each_host_on_a_whole_release_and_the_store_says_which() {
    let (fleet, _services, _port) = fleet_on_v1(2);
    let v2 = build(&fleet.dir, "v2");

    // The health gate of v2 hangs; Ctrl-C comes while host1 waits on it.
    let home = fleet.dir.join(".test-home");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .current_dir(&fleet.dir)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .args([
            "deploy",
            "all",
            "--service",
            "demo",
            "--root",
            "{{ root_dir }}/demo",
        ])
        .arg("--binary")
        .arg(&v2)
        .args(["--release-version", "v2", "--serial", "1"])
        .args([
            "--restart",
            "true",
            "--health-cmd",
            "sleep 60",
            "--health-timeout",
            "90",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let current = fleet.hosts[0].root.join("demo/current");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_link(&current).ok() != Some(PathBuf::from("releases/v2")) {
        assert!(std::time::Instant::now() < deadline, "host1 never switched");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));

    // host1 is on v2 (switched, not verified), host2 untouched on v1.
    let shown = Herd::in_dir(&fleet.dir)
        .args(["runs", "show", "2"])
        .run()
        .success();
    assert!(shown.stdout.contains("interrupted"), "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains("on release v2 (current was switched)"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        std::fs::read_link(fleet.hosts[1].root.join("demo/current")).unwrap(),
        Path::new("releases/v1")
    );
    assert_eq!(
        std::fs::read(fleet.hosts[0].root.join("demo/releases/v2/demo")).unwrap(),
        std::fs::read(&v2).unwrap()
    );
}

#[test]
fn crossing_the_threshold_can_roll_back_the_whole_batch() {
    let (fleet, _services, _port) = fleet_on_v1(3);
    let v2 = build(&fleet.dir, "v2");
    // host2's gate fails; host1, in the same batch, passes it.
    let out = deploy_demo(&fleet, &v2)
        .args([
            "--release-version",
            "v2",
            "--serial",
            "2",
            "--rollback-batch",
        ])
        .args(["--restart", "true", "--health-retries", "1"])
        .args([
            "--health-cmd",
            "{{ 'false' if inventory_hostname == 'host2' else 'true' }}",
        ])
        .run()
        .code(3);
    let out = out.stdout_has("rolling back the batch's healthy hosts");
    let out = out.stdout_has("host1: rolled back: on v1 (was v2)");
    out.stdout_has("1 host(s) not started")
        .stdout_has("3 hosts: 1 ok, 1 failed, 0 unreachable");
    for i in 0..3 {
        assert_eq!(
            current(&fleet, i),
            Path::new("releases/v1"),
            "host{}",
            i + 1
        );
    }
}

/// Unmounts a test's tmpfs on drop (before the fleet's directory goes).
struct Mount(PathBuf);

impl Mount {
    /// A tiny tmpfs at `dir`, or `None` where mounting is not allowed.
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_upload_and_leaves_the_old_release_running() {
    let (fleet, _services, port) = fleet_on_v1(1);
    // v2 is 1 MB of noise; its release directory is a 256 KiB tmpfs.
    let v2 = fleet.dir.join("builds/big/demo");
    std::fs::create_dir_all(v2.parent().unwrap()).unwrap();
    let mut noise = vec![0u8; 1 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut noise)
        .unwrap();
    std::fs::write(&v2, noise).unwrap();
    let Some(_mount) = Mount::tmpfs(&fleet.hosts[0].root.join("demo/releases/v2"), "256k") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let out = deploy_demo(&fleet, &v2)
        .args(["--release-version", "v2", "--restart", "true"])
        .run()
        .code(3)
        .stdout_has("upload failed")
        .stdout_has("No space left on device")
        .stdout_has("host is on v1");
    assert!(!out.stdout.contains("activated"), "{}", out.stdout);
    assert_eq!(current(&fleet, 0), Path::new("releases/v1"));
    assert_eq!(served(&fleet, 0, port), "demo v1");
    // No binary, whole or partial, is left in the release directory.
    assert_eq!(
        std::fs::read_dir(fleet.hosts[0].root.join("demo/releases/v2"))
            .unwrap()
            .count(),
        0
    );
}
