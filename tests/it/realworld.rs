//! Roles in the shapes public roles have, run on the loopback sshd fleet:
//! our own roles of tests/data/roles (its README says which public role
//! each takes its shape from), applied by small playbooks written here as
//! an admin would write them. tests/it/role_parity.rs runs the whole suite on
//! isolated hosts against Ansible; these check single roles' results in
//! detail, on the faster fleet.
//!
//! The fleet hosts all share this machine's filesystem, so every path a role
//! writes is pointed into the host's own directory through inventory
//! variables (`group_vars/all.yml`), which is how an admin would point a role
//! at another file.

use crate::fleet;
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use fleet::Fleet;
use serde_json::Value;
use support::{Herd, copy_dir};

/// A fleet of `hosts` hosts with the role suite copied into its directory,
/// `group_vars` (YAML text) as the inventory's `group_vars/all.yml` and
/// `playbook` (YAML text) as `play.yml` beside the suite's `roles/`.
fn fleet_with(hosts: usize, group_vars: &str, playbook: &str) -> Fleet {
    let fleet = Fleet::builder().hosts(hosts).start();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/roles"),
        &fleet.dir,
    );
    std::fs::write(fleet.dir.join("play.yml"), playbook).unwrap();
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

/// resolv_conf: one template, rendered with `ansible_managed | comment`,
/// whitespace control (`-%}`) and loops over role parameters.
#[test]
fn resolv_conf_role_renders_the_file_and_a_rerun_changes_nothing() {
    let fleet = fleet_with(
        2,
        "resolv_conf_file: \"{{ root_dir }}/resolv.conf\"\n",
        "- hosts: all\n  roles:\n    - role: resolv_conf\n      resolv_conf_nameserver:\n\
         \x20       - dns1.example.com\n        - dns2.example.com\n      resolv_conf_search:\n\
         \x20       - example.com\n        - sub.example.com\n",
    );
    let (first, stdout) = play(&fleet, "play.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "failed"), 0, "{stdout}");
        assert_eq!(count(&first, host, "changed"), 1, "{stdout}");
    }
    for host in &fleet.hosts {
        let text = std::fs::read_to_string(host.root.join("resolv.conf")).unwrap();
        assert_eq!(
            text,
            "#\n# Ansible managed\n#\n\
             nameserver dns1.example.com\n\
             nameserver dns2.example.com\n\
             search example.com sub.example.com\n",
            "{}",
            host.name
        );
    }
    let (second, stdout) = play(&fleet, "play.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&second, host, "changed"), 0, "{stdout}");
        assert_eq!(count(&second, host, "failed"), 0, "{stdout}");
    }
}

/// environment: `import_tasks` with tags, `file: state=touch` with a
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
    let fleet = fleet_with(
        2,
        "",
        "- hosts: all\n  roles:\n    - environment\n  vars:\n    environment_config:\n      LC_ALL: C\n",
    );
    std::fs::create_dir_all(fleet.dir.join("group_vars")).unwrap();
    std::fs::write(fleet.dir.join("group_vars/all.yml"), user_vars(&fleet)).unwrap();
    // An existing file with another line, as /etc/environment has PATH.
    std::fs::write(
        fleet.hosts[0].root.join("environment"),
        "PATH=\"/usr/bin:/bin\"\nLC_ALL=en_US.UTF-8\n",
    )
    .unwrap();

    let (first, stdout) = play(&fleet, "play.yml");
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
        "PATH=\"/usr/bin:/bin\"\nLC_ALL=C\n"
    );
    assert_eq!(
        std::fs::read_to_string(h2.root.join("environment")).unwrap(),
        "LC_ALL=C\n"
    );
    assert_eq!(mode(&h2.root.join("environment")) & 0o200, 0o200);

    let (second, stdout) = play(&fleet, "play.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&second, host, "changed"), 0, "{stdout}");
        assert_eq!(count(&second, host, "failed"), 0, "{stdout}");
    }
}

/// greeting: `debug`, `file: state=directory` on a path variable (its
/// parents created too) and a `template`, applied as a molecule
/// `converge.yml` does. The role's `handlers/main.yml` and `vars/main.yml`
/// are empty YAML documents.
#[test]
fn greeting_role_writes_its_message_and_a_rerun_changes_nothing() {
    let fleet = fleet_with(
        2,
        "greeting_dir: \"{{ root_dir }}/tmp/shared/greeting\"\n",
        "---\n- name: Converge\n  hosts: all\n  roles:\n    - greeting\n",
    );
    let (first, stdout) = play(&fleet, "play.yml");
    for host in ["host1", "host2"] {
        assert_eq!(count(&first, host, "failed"), 0, "{stdout}");
        // The directory and the file; the debug task is ok, not changed.
        assert_eq!(count(&first, host, "changed"), 2, "{stdout}");
    }
    assert!(stdout.contains("Hello World!"), "{stdout}");
    for host in &fleet.hosts {
        let dir = host.root.join("tmp/shared/greeting");
        assert!(dir.is_dir(), "{}", host.name);
        let file = dir.join("greeting.txt");
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
    let (second, stdout) = play(&fleet, "play.yml");
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

/// A playbook installing chrony with `dnf` (RedHat's package manager,
/// which herd does not implement): refused before any host is contacted,
/// naming the file, line and module.
#[test]
fn a_playbook_using_dnf_is_refused_before_any_host_is_touched() {
    let fleet = fleet_with(
        1,
        "",
        "---\n- hosts: all\n  become: true\n  tasks:\n\
         \x20   - name: Ensure chrony (for time synchronization) is installed.\n\
         \x20     dnf:\n        name: chrony\n        state: present\n",
    );
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "play.yml"])
        .run()
        .code(2)
        .stderr_has("play.yml:6:7")
        .stderr_has("dnf");
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
