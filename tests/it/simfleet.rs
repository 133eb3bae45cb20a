//! The simulated fleet (tests/it/fleet/sim.rs): one process answering SSH for
//! hundreds of virtual hosts, reached by herd as it would reach real ones
//! (strict known_hosts, public-key login), through both the fast path and
//! real shells.

use crate::fleet;
use crate::support;

use std::sync::atomic::Ordering;

use fleet::sim::{SimFleet, SimOptions};
use support::Herd;

const HOSTS: usize = 300;

fn start(dir: &std::path::Path) -> SimFleet {
    SimFleet::start(SimOptions::new(HOSTS, dir)).expect("start the simulated fleet")
}

#[test]
fn herd_runs_and_plays_on_300_simulated_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = start(tmp.path());
    // 300 hosts go past 127.10.0.254 into 127.10.1.x.
    assert_eq!(sim.hosts[299].addr.to_string(), "127.10.1.46");

    let out = Herd::in_dir(&sim.dir)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
    assert!(
        out.stdout.contains("300 ok, 0 failed, 0 unreachable"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    // One folded header for the 300 identical results.
    assert!(out.stdout.contains("host[001-300] (300)"), "{}", out.stdout);
    assert!(sim.stats.fast_execs.load(Ordering::Relaxed) >= HOSTS as u64);

    // A play: a fast-path command, then two tasks that need a real shell
    // in each host's own directory.
    std::fs::write(
        sim.dir.join("play.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - command: \"true\"\n\
         \x20   - shell: echo \"$HERD_SIM_HOST\" > marker\n\
         \x20   - command: cat marker\n\
         \x20     register: marker\n\
         \x20     changed_when: false\n\
         \x20     failed_when: marker.stdout != inventory_hostname\n",
    )
    .unwrap();
    let shells_before = sim.stats.shell_execs.load(Ordering::Relaxed);
    let play = Herd::in_dir(&sim.dir)
        .args(["play", "play.yml"])
        .run()
        .success();
    // Every host ok, folded into one recap line.
    let recap = play.stdout.split("PLAY RECAP").nth(1).unwrap_or_default();
    let line = recap.lines().find(|l| l.starts_with("host[001-300]"));
    assert!(
        line.is_some_and(|l| l.contains("ok=3 changed=2 unreachable=0 failed=0")),
        "not every host ok:\n{}",
        play.stdout
    );
    for host in [&sim.hosts[0], &sim.hosts[299]] {
        let marker = std::fs::read_to_string(host.root.join("marker")).unwrap();
        assert_eq!(marker.trim(), host.name);
    }
    assert!(sim.stats.shell_execs.load(Ordering::Relaxed) >= shells_before + 2 * HOSTS as u64);

    // collect's built-in script is answered by the fast path.
    let fast_before = sim.stats.fast_execs.load(Ordering::Relaxed);
    Herd::in_dir(&sim.dir)
        .args(["collect", "all"])
        .run()
        .success()
        .stdout_has("from 300 of 300 hosts");
    assert!(sim.stats.fast_execs.load(Ordering::Relaxed) >= fast_before + HOSTS as u64);

    let shown = Herd::in_dir(&sim.dir)
        .args(["runs", "show", "last"])
        .run()
        .success();
    assert!(shown.stdout.contains("host[001-300]"), "{}", shown.stdout);
}

#[test]
fn a_host_key_that_does_not_match_known_hosts_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = SimFleet::start(SimOptions::new(3, tmp.path())).unwrap();
    // Swap two hosts' known_hosts keys: each host now presents a key
    // recorded for another.
    let text = std::fs::read_to_string(&sim.known_hosts).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let key = |l: &str| l.split_once(' ').unwrap().1.to_string();
    let name = |l: &str| l.split_once(' ').unwrap().0.to_string();
    let swapped = format!(
        "{} {}\n{} {}\n{}\n",
        name(lines[0]),
        key(lines[1]),
        name(lines[1]),
        key(lines[0]),
        lines[2]
    );
    std::fs::write(&sim.known_hosts, swapped).unwrap();
    let out = Herd::in_dir(&sim.dir)
        .args(["run", "all", "--", "true"])
        .run();
    assert!(
        out.stdout.contains("1 ok, 0 failed, 2 unreachable"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}
