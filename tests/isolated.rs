//! Test hosts that behave like machines: isolated hosts (own filesystem,
//! users, packages, hostname, processes) and the fault proxy on the wire
//! (latency, cut, reset), driven through the real `herd` binary.
//!
//! Isolated hosts need root (CI runs as root).

mod fleet;
mod support;

use std::time::{Duration, Instant};

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

fn read(path: impl AsRef<std::path::Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

/// `herd run HOSTS --format json -- COMMAND`, stdout per host name.
fn run_json(
    fleet: &Fleet,
    hosts: &str,
    command: &str,
) -> std::collections::BTreeMap<String, (i64, String)> {
    let out = herd(fleet)
        .args(["run", hosts, "--format", "json", "--", command])
        .run();
    out.json_lines()
        .iter()
        .map(|l| {
            (
                l["host"].as_str().unwrap().to_string(),
                (
                    l["exit_code"].as_i64().unwrap_or(-1),
                    l["stdout"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_user_a_package_and_etc_hosts_changed_on_host2_stay_on_host2() {
    let fleet = Fleet::builder()
        .hosts(3)
        .isolated(true)
        .apt_packages(&["hello"])
        .start();
    let machine_hosts = read("/etc/hosts");
    let machine_passwd = read("/etc/passwd");
    assert!(
        !std::path::Path::new("/usr/bin/hello").exists(),
        "the test machine must not have `hello` installed for this test"
    );
    let before: Vec<(String, String)> = fleet
        .hosts
        .iter()
        .map(|h| {
            (
                read(h.fs_path("/etc/hosts")),
                read(h.fs_path("/etc/passwd")),
            )
        })
        .collect();

    // Each host is its own machine: own hostname, own PID 1.
    let names = run_json(
        &fleet,
        "all",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '",
    );
    for host in &fleet.hosts {
        let (code, stdout) = &names[&host.name];
        assert_eq!(*code, 0, "{}: {stdout}", host.name);
        assert!(stdout.starts_with(&format!("{}\n", host.name)), "{stdout}");
        assert!(
            stdout.contains("init.sh"),
            "PID 1 is the host's init: {stdout}"
        );
    }

    // A playbook of `command` tasks (herd has no user/apt module yet) and a
    // lineinfile, on host2 only.
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: host2\n  gather_facts: false\n  tasks:\n\
         \x20   - name: add a user\n      command: useradd --create-home alice\n\
         \x20   - name: install a package from the fleet's local repository\n      command: apt-get install -y -q hello\n\
         \x20   - name: name the database\n      lineinfile:\n        path: /etc/hosts\n        line: 127.0.0.99 db.internal\n",
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=3");

    let after = run_json(
        &fleet,
        "all",
        "id -un alice 2>&1; hello 2>&1; grep db.internal /etc/hosts; ls -d /home/alice 2>&1; true",
    );
    let (_, host2) = &after["host2"];
    assert!(host2.contains("alice\n"), "{host2}");
    assert!(host2.contains("Hello, world!"), "{host2}");
    assert!(host2.contains("127.0.0.99 db.internal"), "{host2}");
    assert!(host2.contains("/home/alice\n"), "{host2}");
    for (i, name) in [(0, "host1"), (2, "host3")] {
        let (_, out) = &after[name];
        assert!(out.contains("no such user"), "{name}: {out}");
        assert!(!out.contains("Hello, world!"), "{name}: {out}");
        assert!(!out.contains("db.internal"), "{name}: {out}");
        let host = &fleet.hosts[i];
        assert_eq!(
            read(host.fs_path("/etc/hosts")),
            before[i].0,
            "{name} /etc/hosts"
        );
        assert_eq!(
            read(host.fs_path("/etc/passwd")),
            before[i].1,
            "{name} /etc/passwd"
        );
        assert!(!host.fs_path("/usr/bin/hello").exists(), "{name} has hello");
    }
    // The test machine is untouched.
    assert_eq!(read("/etc/hosts"), machine_hosts);
    assert_eq!(read("/etc/passwd"), machine_passwd);
    assert!(!std::path::Path::new("/usr/bin/hello").exists());
    assert!(!std::path::Path::new("/home/alice").exists());
}

#[test]
fn dropping_an_isolated_fleet_ends_its_processes_and_mounts() {
    let fleet = Fleet::builder().hosts(2).isolated(true).start();
    let inits: Vec<i32> = fleet.hosts.iter().map(|h| h.namespace().init_pid).collect();
    let sshds: Vec<i32> = fleet
        .hosts
        .iter()
        .map(|h| h.sshd_pid().expect("sshd runs"))
        .collect();
    // The host's mounts are its own: none shows in the machine's table.
    let mounts = read("/proc/self/mountinfo");
    assert!(!mounts.contains("herd-host"), "{mounts}");
    assert!(
        !mounts.contains(&fleet.dir.display().to_string()),
        "{mounts}"
    );
    drop(fleet);
    for pid in inits.iter().chain(&sshds) {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived its fleet"
        );
    }
}

/// Wall time of `herd run all -- true`, checking every host answered.
fn timed_run(fleet: &Fleet) -> Duration {
    let started = Instant::now();
    herd(fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success()
        .stdout_has(&format!("{} ok", fleet.hosts.len()));
    started.elapsed()
}

#[test]
fn latency_on_the_wire_slows_every_handshake() {
    let rtt = Duration::from_millis(100);
    let fleet = Fleet::builder().hosts(10).rtt(rtt).start();
    // An SSH command costs at least: banner, key exchange, service request,
    // auth, channel open, exec: over 5 round trips. Assert 4.
    let floor = rtt * 4;
    let slow = timed_run(&fleet);
    assert!(
        slow >= floor,
        "10 hosts at 100 ms RTT took {slow:?} (< {floor:?})"
    );

    // The same links without latency: the run does not take that long (the
    // best of 3, so a busy machine does not fail it).
    for host in &fleet.hosts {
        host.link().set_rtt(Duration::ZERO);
    }
    let fast = (0..3).map(|_| timed_run(&fleet)).find(|t| *t < floor);
    assert!(
        fast.is_some(),
        "without latency every run took >= {floor:?}"
    );
}
