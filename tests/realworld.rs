//! Real-world public Ansible roles and playbooks, run unmodified against real
//! sshd hosts. The fixtures live in `tests/data/realworld/<name>/`, each with
//! a SOURCE.md naming the repository, commit, path and licence. Where a role
//! is applied through a wrapper playbook, the wrapper is marked as ours.
//!
//! The fleet hosts all share this machine's filesystem, so every path a role
//! writes is pointed into the host's own directory through inventory
//! variables (`group_vars/all.yml`), which is how an admin would point a role
//! at another file.

mod fleet;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fleet::Fleet;
use serde_json::Value;
use support::{Herd, copy_dir};

/// A fleet of `hosts` hosts with the fixture `name` copied to `<fleet>/<name>/`
/// and `group_vars` (YAML text) as the inventory's `group_vars/all.yml`.
fn fleet_with(name: &str, hosts: usize, group_vars: &str) -> Fleet {
    let fleet = Fleet::builder().hosts(hosts).start();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/realworld")
            .join(name),
        &fleet.dir.join(name),
    );
    if !group_vars.is_empty() {
        std::fs::create_dir_all(fleet.dir.join("group_vars")).unwrap();
        std::fs::write(fleet.dir.join("group_vars/all.yml"), group_vars).unwrap();
    }
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

/// Runs `herd play <playbook> --format json` and returns the recap.
fn play(fleet: &Fleet, playbook: &str) -> (serde_json::Map<String, Value>, String) {
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", playbook, "--format", "json"])
        .run()
        .success();
    (recap(&out.stdout), out.stdout)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The current user's name (the fleet runs as this user).
fn user(fleet: &Fleet) -> String {
    fleet.user.clone()
}

/// jtyr/ansible-resolv_conf (MIT): one template, rendered with
/// `ansible_managed | comment` and loops over the nameservers.
#[test]
fn resolv_conf_role_renders_the_file_and_a_rerun_changes_nothing() {
    let fleet = fleet_with(
        "resolv_conf",
        2,
        "resolv_conf_file: \"{{ root_dir }}/resolv.conf\"\n",
    );
    let (first, stdout) = play(&fleet, "resolv_conf/site.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "failed"), 0, "{stdout}");
        assert_eq!(count(&first, host, "changed"), 1, "{stdout}");
    }
    for host in &fleet.hosts {
        let text = std::fs::read_to_string(host.root.join("resolv.conf")).unwrap();
        assert_eq!(
            text,
            "#\n# Ansible managed\n#\n\n\
             nameserver dns1.example.com\n\
             nameserver dns2.example.com\n\
             search example.com sub.example.com\n",
            "{}",
            host.name
        );
    }
    let (second, stdout) = play(&fleet, "resolv_conf/site.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&second, host, "changed"), 0, "{stdout}");
        assert_eq!(count(&second, host, "failed"), 0, "{stdout}");
    }
}

/// weareinteractive/ansible-environment (MIT): `file: state=touch` with a
/// registered result and `changed_when`, then `lineinfile` over `with_dict`.
#[test]
fn environment_role_sets_variables_and_a_rerun_changes_nothing() {
    let user_vars = |fleet: &Fleet| {
        format!(
            "environment_file: \"{{{{ root_dir }}}}/environment\"\n\
             environment_file_owner: {user}\n\
             environment_file_group: {group}\n",
            user = user(fleet),
            group = group_name(),
        )
    };
    let fleet = fleet_with("environment", 2, "");
    std::fs::create_dir_all(fleet.dir.join("group_vars")).unwrap();
    std::fs::write(fleet.dir.join("group_vars/all.yml"), user_vars(&fleet)).unwrap();
    // An existing file with another line, as /etc/environment has PATH.
    std::fs::write(
        fleet.hosts[0].root.join("environment"),
        "PATH=\"/usr/bin:/bin\"\nLC_ALL=en_US.UTF-8\n",
    )
    .unwrap();

    let (first, stdout) = play(&fleet, "environment/site.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "failed"), 0, "{stdout}");
    }
    // The touch task is never "changed": its changed_when looks at the
    // result's `state`, which is "file" once the file exists (as in
    // Ansible). host1's line is replaced, host2's file created and added to.
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "changed"), 1, "{stdout}");
    }
    let (h1, h2) = (&fleet.hosts[0], &fleet.hosts[1]);
    assert_eq!(
        std::fs::read_to_string(h1.root.join("environment")).unwrap(),
        "PATH=\"/usr/bin:/bin\"\nLC_ALL='C'\n"
    );
    assert_eq!(
        std::fs::read_to_string(h2.root.join("environment")).unwrap(),
        "LC_ALL='C'\n"
    );
    assert_eq!(mode(&h2.root.join("environment")) & 0o200, 0o200);

    let (second, stdout) = play(&fleet, "environment/site.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&second, host, "changed"), 0, "{stdout}");
        assert_eq!(count(&second, host, "failed"), 0, "{stdout}");
    }
}

/// build-failure/ansible-role-hello-world (MIT): `debug`, `file:
/// state=directory` on a path variable (its parents created too) and a
/// `template`, applied by the role's own molecule `converge.yml`. The role's
/// `handlers/main.yml` and `vars/main.yml` are empty YAML documents.
#[test]
fn hello_world_role_writes_its_message_and_a_rerun_changes_nothing() {
    let fleet = fleet_with(
        "hello_world",
        2,
        "hello_world_dir: \"{{ root_dir }}/tmp/shared/hello-world\"\n",
    );
    let (first, stdout) = play(&fleet, "hello_world/converge.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "failed"), 0, "{stdout}");
        // The directory and the file; the debug task is ok, not changed.
        assert_eq!(count(&first, host, "changed"), 2, "{stdout}");
    }
    assert!(stdout.contains("Hello World!"), "{stdout}");
    for host in &fleet.hosts {
        let dir = host.root.join("tmp/shared/hello-world");
        assert!(dir.is_dir(), "{}", host.name);
        let file = dir.join("hello_world.txt");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "Hello World!\n",
            "{}",
            host.name
        );
        // No mode given: the directory is made under the session's umask
        // (inherited from this process by the fleet's sshd), the file is
        // 0644 (Ansible's 0666 less a 022 umask).
        assert_eq!(mode(&dir), 0o777 & !umask(), "{}", host.name);
        assert_eq!(mode(&file), 0o644, "{}", host.name);
    }
    let (second, stdout) = play(&fleet, "hello_world/converge.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&second, host, "changed"), 0, "{stdout}");
        assert_eq!(count(&second, host, "failed"), 0, "{stdout}");
    }
}

/// This process's umask, as `sh` reports it.
fn umask() -> u32 {
    let out = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()
        .unwrap();
    u32::from_str_radix(String::from_utf8(out.stdout).unwrap().trim(), 8).unwrap()
}

/// The current user's primary group name.
fn group_name() -> String {
    let out = std::process::Command::new("id")
        .arg("-gn")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// geerlingguy/ansible-for-devops first-ansible-playbook (MIT): installs
/// chrony with `dnf`, which herd does not implement. The playbook is
/// refused before any host is contacted, naming the file, line and module.
#[test]
fn a_playbook_using_dnf_is_refused_before_any_host_is_touched() {
    let fleet = fleet_with("first-ansible-playbook", 1, "");
    let out = Herd::in_dir(&fleet.dir)
        .args([
            "play",
            "first-ansible-playbook/first-ansible-playbook/playbook.yml",
        ])
        .run()
        .code(2)
        .stderr_has("playbook.yml:7:5")
        .stderr_has("dnf");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    no_run_recorded(&fleet);
}

/// weareinteractive/ansible-sudo (MIT): loads per-OS variables with
/// `include_vars` + `with_first_found` (supported), installs with `package`
/// and lists files with `find`. Refused at `package`.
#[test]
fn a_role_using_package_is_refused_before_any_host_is_touched() {
    let fleet = fleet_with("sudo", 1, "");
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "sudo/site.yml"])
        .run()
        .code(2)
        .stderr_has("tasks/install.yml:4:3")
        .stderr_has("module `package`");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    no_run_recorded(&fleet);
}

/// No run in the store: herd contacted no host.
fn no_run_recorded(fleet: &Fleet) {
    let runs = Herd::in_dir(&fleet.dir)
        .args(["runs", "--format", "json"])
        .run()
        .success();
    assert!(runs.stdout.trim().is_empty(), "{}", runs.stdout);
}
