//! `herd play` against real sshd hosts: a playbook with a role, a template,
//! a handler, loops, conditions, register, a rescued block and serial
//! batches; then the same again, which must change nothing.

mod fleet;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fleet::Fleet;
use serde_json::Value;
use support::{Herd, copy_dir};

/// A fleet (web = host1, host2; db = host3) with the fixture playbook in
/// `play/`.
fn fleet_with_playbook() -> Fleet {
    let fleet = Fleet::builder().hosts(3).start();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/play"),
        &fleet.dir.join("play"),
    );
    fleet
}

/// The PLAY RECAP counts per host from `--format json`.
fn recap(stdout: &str) -> serde_json::Map<String, Value> {
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.contains("\"recap\""))
        .expect("a recap event");
    let event: Value = serde_json::from_str(last).unwrap();
    event["hosts"].as_object().unwrap().clone()
}

fn count(recap: &serde_json::Map<String, Value>, host: &str, what: &str) -> u64 {
    recap[host][what].as_u64().unwrap()
}

#[test]
fn a_playbook_applies_as_ansible_would_and_a_rerun_changes_nothing() {
    let fleet = fleet_with_playbook();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "play/site.yml", "--format", "json"])
        .run()
        .success();
    let first = recap(&out.stdout);
    // host1: template, items, directory, rescue copy, handler.
    assert_eq!(count(&first, "host1", "changed"), 5, "{}", out.stdout);
    assert_eq!(count(&first, "host2", "changed"), 4, "{}", out.stdout);
    assert_eq!(count(&first, "host1", "rescued"), 1);
    assert_eq!(count(&first, "host1", "failed"), 0);
    assert_eq!(count(&first, "host3", "ok"), 1);

    let (h1, h2) = (&fleet.hosts[0], &fleet.hosts[1]);
    let conf = std::fs::read_to_string(h1.root.join("app.conf")).unwrap();
    assert_eq!(
        conf,
        "# Ansible managed\n[server]\nhost = host1\nport = 8080\nworkers = 2\ngroup = web\n"
    );
    assert_eq!(
        std::fs::read_to_string(h2.root.join("item-b")).unwrap(),
        "b\n"
    );
    let mode = std::fs::metadata(h2.root.join("item-a"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    assert!(h1.root.join("only-first").is_dir());
    assert!(!h2.root.join("only-first").exists());
    assert!(h1.root.join("rescued").exists() && h2.root.join("restarted").exists());
    assert_eq!(
        std::fs::read_to_string(h1.root.join("rescued")).unwrap(),
        "rescued a check that fails rc=1\n",
        "rescue sees ansible_failed_task and ansible_failed_result"
    );
    assert!(
        !fleet.hosts[2].root.join("app.conf").exists(),
        "db hosts are not in the first play"
    );

    let restarted = std::fs::read_to_string(h1.root.join("restarted")).unwrap();
    let again = Herd::in_dir(&fleet.dir)
        .args(["play", "play/site.yml", "--format", "json"])
        .run()
        .success();
    let second = recap(&again.stdout);
    for host in ["host1", "host2", "host3"] {
        assert_eq!(
            count(&second, host, "changed"),
            0,
            "{host} changed on rerun:\n{}",
            again.stdout
        );
    }
    // The handler did not run again.
    assert_eq!(
        std::fs::read_to_string(h1.root.join("restarted")).unwrap(),
        restarted
    );
}

#[test]
fn check_mode_changes_nothing_and_diff_shows_what_would() {
    let fleet = fleet_with_playbook();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "play/site.yml", "--check", "--diff"])
        .run()
        .success();
    assert!(out.stdout.contains("+port = 8080"), "{}", out.stdout);
    assert!(
        out.stdout.contains("changed: host[1-2]") || out.stdout.contains("changed: host1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("PLAY RECAP"), "{}", out.stdout);
    for host in &fleet.hosts {
        assert!(
            !host.root.join("app.conf").exists(),
            "check mode wrote on {}",
            host.name
        );
        assert!(!host.root.join("item-a").exists());
    }
}

#[test]
fn the_store_keeps_every_task_result() {
    let fleet = fleet_with_playbook();
    Herd::in_dir(&fleet.dir)
        .args(["play", "play/site.yml"])
        .run()
        .success();
    let shown = Herd::in_dir(&fleet.dir)
        .args(["runs", "show", "last"])
        .run()
        .success();
    assert!(
        shown.stdout.contains("TASK [app : render the config]"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("changed: host[1-2]") || shown.stdout.contains("changed: host1"),
        "{}",
        shown.stdout
    );
    let json = Herd::in_dir(&fleet.dir)
        .args(["runs", "show", "last", "--format", "json"])
        .run()
        .success();
    let run: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(
        run["summary"]["kind"].as_str().or(run["kind"].as_str()),
        Some("play"),
        "{run}"
    );
    assert!(
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["task"] == "app : render the config" && t["status"] == "changed")
    );
}

#[test]
fn an_unknown_module_fails_before_any_host_is_touched() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.dir.join("bad.yml"),
        "- hosts: all\n  tasks:\n    - name: typo\n      copyy:\n        dest: /tmp/x\n",
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "bad.yml"])
        .run()
        .code(2)
        .stderr_has("bad.yml:4:7")
        .stderr_has("copyy");
    // Nothing was recorded as a run: no host was contacted.
    let runs = Herd::in_dir(&fleet.dir)
        .args(["runs", "--format", "json"])
        .run()
        .success();
    assert!(runs.stdout.trim().is_empty(), "{}", runs.stdout);
}

#[test]
fn playbook_dir_and_role_path_are_absolute_when_the_playbook_path_is_relative() {
    // `herd play site.yml` from the project directory, as a new user would:
    // Ansible gives absolute paths for both.
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::create_dir_all(fleet.path("roles/r/tasks")).unwrap();
    std::fs::write(
        fleet.path("roles/r/tasks/main.yml"),
        "- copy:\n    content: \"{{ playbook_dir }}|{{ role_path }}\"\n    dest: \"{{ root_dir }}/paths\"\n",
    )
    .unwrap();
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: all\n  gather_facts: false\n  roles: [r]\n",
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let paths = std::fs::read_to_string(fleet.hosts[0].root.join("paths")).unwrap();
    let dir = fleet.dir.display();
    assert_eq!(paths, format!("{dir}|{dir}/roles/r"));
}
