//! `herd play` against real sshd hosts: a playbook with a role, a template,
//! a handler, loops, conditions, register, a rescued block and serial
//! batches; then the same again, which must change nothing.

use crate::fleet;
use crate::support;

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

/// A 64 MiB file fetched from a host arrives byte for byte, and herd never
/// holds it in memory: its peak memory stays well below the file's size.
/// (The test writes and compares the file in chunks: a child's peak memory
/// counts what it shared with this process before it ran herd.)
#[test]
fn fetch_streams_a_big_file_without_holding_it() {
    use std::io::{Read, Write};
    let fleet = Fleet::builder().hosts(1).start();
    let big = fleet.hosts[0].root.join("big.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    let mut x: u32 = 1;
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..64 {
        for b in chunk.iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
        file.write_all(&chunk).unwrap();
    }
    file.into_inner().unwrap().sync_all().unwrap();
    std::fs::write(
        fleet.dir.join("fetch.yml"),
        format!(
            "- hosts: host1\n  gather_facts: false\n  tasks:\n    - fetch:\n        src: {}\n        dest: got/\n        flat: true\n",
            big.display()
        ),
    )
    .unwrap();
    let (out, peak_kib) = Herd::in_dir(&fleet.dir)
        .args(["play", "fetch.yml"])
        .run_with_peak_memory();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    eprintln!("herd play fetching 64 MiB: peak memory {peak_kib} KiB");
    assert!(
        peak_kib < 48 << 10,
        "herd peaked at {peak_kib} KiB fetching a 64 MiB file"
    );
    let (mut a, mut b) = (
        std::fs::File::open(&big).unwrap(),
        std::fs::File::open(fleet.dir.join("got/big.bin")).unwrap(),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    for _ in 0..64 {
        a.read_exact(&mut x).unwrap();
        b.read_exact(&mut y).unwrap();
        assert!(x == y, "the fetched file differs");
    }
    assert_eq!(b.read(&mut y).unwrap(), 0, "the fetched file is longer");
    // No temp file is left beside it.
    let left: Vec<_> = std::fs::read_dir(fleet.dir.join("got"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["big.bin"]);
}

/// `ssh-keygen -lf`'s SHA256 fingerprint of an OpenSSH public key line.
fn fingerprint(dir: &Path, public_key: &str) -> String {
    let file = dir.join("fingerprint.pub");
    std::fs::write(&file, format!("{public_key}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn host_key_checking_off_is_said_once_in_every_command_and_a_changed_key_loudly() {
    let fleet = Fleet::builder().hosts(2).start();
    // StrictHostKeyChecking=no from the inventory, as Ansible users write it.
    let inventory = std::fs::read_to_string(&fleet.inventory).unwrap().replacen(
        "  vars:\n",
        "  vars:\n    ansible_ssh_common_args: -o StrictHostKeyChecking=no\n",
        1,
    );
    std::fs::write(&fleet.inventory, inventory).unwrap();
    // host1's recorded key is some other key.
    let other = fleet.dir.join("other_host_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let (h1, h2) = (&fleet.hosts[0], &fleet.hosts[1]);
    std::fs::write(
        &fleet.known_hosts,
        format!(
            "{} {}\n{} {}\n",
            h1.known_hosts_name(),
            other_pub.join(" "),
            h2.known_hosts_name(),
            h2.public_key()
        ),
    )
    .unwrap();
    std::fs::write(
        fleet.dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    )
    .unwrap();

    let off = "host key checking is OFF";
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert_eq!(out.stderr.matches(off).count(), 1, "{}", out.stderr);
    assert_eq!(
        out.stderr
            .matches("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!")
            .count(),
        1,
        "{}",
        out.stderr
    );
    let offered = fingerprint(&fleet.dir, &h1.public_key());
    out.stderr_has(&format!("sent by host1 ({})", h1.known_hosts_name()))
        .stderr_has(&offered)
        .stderr_has(&format!("{}:1\n", fleet.known_hosts.display()));

    let out = Herd::in_dir(&fleet.dir)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
    assert_eq!(out.stderr.matches(off).count(), 1, "{}", out.stderr);
    out.stderr_has("HAS CHANGED");
}

#[test]
fn the_recorded_command_leaves_out_global_options_given_before_it() {
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    )
    .unwrap();
    let last_command = || {
        let out = Herd::in_dir(&fleet.dir)
            .args(["runs", "show", "last", "--format", "json"])
            .run()
            .success();
        let run: Value = serde_json::from_str(out.stdout.trim_end()).unwrap();
        run["command"].as_str().unwrap().to_string()
    };
    Herd::in_dir(&fleet.dir)
        .args(["-i", "inventory.yml", "-v", "play", "site.yml", "--check"])
        .run()
        .success();
    assert_eq!(last_command(), "play site.yml --check");
    Herd::in_dir(&fleet.dir)
        .args(["-i", "inventory.yml", "run", "all", "--", "uptime"])
        .run()
        .success();
    assert_eq!(last_command(), "uptime");
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

#[test]
fn include_vars_picks_the_first_found_vars_file_of_a_role_per_host() {
    // The common role pattern: vars/<os>.yml when there is one, else
    // vars/default.yml, by the first_found lookup or with_first_found. The files' templates are rendered when used, as
    // play vars are.
    let fleet = Fleet::builder().hosts(2).start();
    std::fs::create_dir_all(fleet.path("roles/r/tasks")).unwrap();
    std::fs::create_dir_all(fleet.path("roles/r/vars")).unwrap();
    std::fs::write(
        fleet.path("roles/r/vars/Debian.yml"),
        "pkg: \"{{ prefix }}-deb\"\n",
    )
    .unwrap();
    std::fs::write(fleet.path("roles/r/vars/default.yml"), "pkg: generic\n").unwrap();
    std::fs::write(
        fleet.path("roles/r/tasks/main.yml"),
        "- include_vars: \"{{ lookup('first_found', [os ~ '.yml', 'default.yml']) }}\"\n  \
         register: loaded\n\
         - include_vars:\n    file: \"{{ item }}\"\n    name: looped\n  \
         with_first_found: [\"{{ os }}.yml\", default.yml]\n\
         - copy:\n    content: \"{{ pkg }} {{ loaded.ansible_included_var_files[0] | basename }} {{ looped.pkg }}\"\n    \
         dest: \"{{ root_dir }}/pkg\"\n",
    )
    .unwrap();
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: all\n  gather_facts: false\n  vars:\n    prefix: herd\n    \
         os: \"{{ 'Debian' if inventory_hostname == 'host1' else 'Alpine' }}\"\n  roles: [r]\n",
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let pkg = |i: usize| std::fs::read_to_string(fleet.hosts[i].root.join("pkg")).unwrap();
    assert_eq!(pkg(0), "herd-deb Debian.yml herd-deb");
    assert_eq!(pkg(1), "generic default.yml generic");
}

#[test]
fn become_user_templates_and_become_variables_in_task_vars_pick_the_user() {
    // As Ansible: `become_user: "{{ who }}"` is rendered per host, and
    // `ansible_become`/`ansible_become_user` in a task's vars turn become on.
    let fleet = Fleet::builder().hosts(1).start();
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: all
  gather_facts: false
  vars:
    who: nobody
  tasks:
    - command: id -un
      become: true
      become_user: "{{ who }}"
      register: keyword
    - command: id -un
      vars:
        ansible_become: true
        ansible_become_user: "{{ who }}"
      register: variables
    - copy:
        content: "{{ keyword.stdout }}|{{ variables.stdout }}"
        dest: "{{ root_dir }}/users"
"#,
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    let users = std::fs::read_to_string(fleet.hosts[0].root.join("users")).unwrap();
    assert_eq!(users, "nobody|nobody");
}

#[test]
fn a_free_play_ends_as_the_linear_one_does() {
    // The fixture (role, handler, loops, rescue, serial, facts) on two
    // fleets: as written, and with every play `strategy: free`.
    let linear = fleet_with_playbook();
    let free = fleet_with_playbook();
    let site = free.dir.join("play/site.yml");
    let text = std::fs::read_to_string(&site).unwrap();
    let text = text.replace("  hosts: web\n", "  hosts: web\n  strategy: free\n");
    let text = text.replace("  hosts: all\n", "  hosts: all\n  strategy: free\n");
    std::fs::write(&site, &text).unwrap();
    assert_eq!(text.matches("strategy: free").count(), 2);

    let play = |fleet: &Fleet| {
        let out = Herd::in_dir(&fleet.dir)
            .args(["play", "play/site.yml", "--format", "json"])
            .run()
            .success();
        recap(&out.stdout)
    };
    let (want, got) = (play(&linear), play(&free));
    assert_eq!(got, want);
    for (a, b) in linear.hosts.iter().zip(&free.hosts) {
        for file in ["app.conf", "item-a", "item-b", "rescued"] {
            assert_eq!(
                std::fs::read(a.root.join(file)).ok(),
                std::fs::read(b.root.join(file)).ok(),
                "{}: {file}",
                a.name
            );
        }
        // The handler writes the time: it ran on the same hosts.
        let restarted = |h: &fleet::FleetHost| h.root.join("restarted").exists();
        assert_eq!(restarted(a), restarted(b), "{}: the handler", a.name);
    }
    // A rerun changes nothing in a free play either.
    let again = play(&free);
    for host in ["host1", "host2", "host3"] {
        assert_eq!(count(&again, host, "changed"), 0, "{host}: {again:?}");
    }
}

#[test]
fn a_rerun_skips_hashing_unchanged_files_and_still_sees_a_changed_one() {
    let fleet = Fleet::builder().hosts(2).start();
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(fleet.dir.join("payload.bin"), &payload).unwrap();
    std::fs::write(
        fleet.dir.join("copy.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {src: payload.bin, dest: \"{{ root_dir }}/payload.bin\"}\n",
    )
    .unwrap();
    let play = || {
        let out = Herd::in_dir(&fleet.dir)
            .args(["play", "copy.yml", "--format", "json"])
            .run()
            .success();
        recap(&out.stdout)
    };
    assert_eq!(count(&play(), "host1", "changed"), 1);
    // Reruns: the marks herd made when it wrote the files are in the
    // store, so the hosts do not hash them.
    for _ in 0..2 {
        let rerun = play();
        assert_eq!(count(&rerun, "host1", "changed"), 0);
        assert_eq!(count(&rerun, "host2", "changed"), 0);
    }
    // The marks are in the store: one planted with a wrong SHA-1 for host2
    // shows the host answered with it instead of hashing (copy writes again).
    let db = rusqlite::Connection::open(fleet.dir.join(".herd/herd.db")).unwrap();
    let planted = db
        .execute(
            "UPDATE file_marks SET sha1 = ?1 WHERE host = 'host2'",
            [&"0".repeat(40)],
        )
        .unwrap();
    assert_eq!(planted, 1);
    // host1's copy is changed behind herd's back, same size, mtime put
    // back: the next run notices and puts it right.
    let on_host1 = fleet.hosts[0].root.join("payload.bin");
    let mut tampered = payload.clone();
    tampered[500_000] ^= 1;
    support::rewrite_keeping_mtime(&on_host1, &tampered);
    let after = play();
    assert_eq!(count(&after, "host1", "changed"), 1);
    assert_eq!(
        count(&after, "host2", "changed"),
        1,
        "host2's mark was not used"
    );
    assert!(std::fs::read(&on_host1).unwrap() == payload);
    let last = play();
    assert_eq!(count(&last, "host1", "changed"), 0);
    assert_eq!(count(&last, "host2", "changed"), 0);
}
