//! The CLI's front door: help, version, completions, project discovery and
//! exit codes for bad input.

use crate::support;

use support::{Herd, scratch};

#[test]
fn help_lists_subcommands_and_version_prints() {
    let (_t, dir) = scratch();
    Herd::in_dir(&dir)
        .args(["--help"])
        .run()
        .success()
        .stdout_has("inventory")
        .stdout_has("run")
        .stdout_has("completions");
    Herd::in_dir(&dir)
        .args(["--version"])
        .run()
        .success()
        .stdout_has(concat!("herd ", env!("CARGO_PKG_VERSION")));
    Herd::in_dir(&dir)
        .args(["run", "--help"])
        .run()
        .success()
        .stdout_has("--forks");
}

#[test]
fn completions_for_each_shell() {
    let (_t, dir) = scratch();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef herd"),
        ("fish", "complete -c herd"),
    ] {
        Herd::in_dir(&dir)
            .args(["completions", shell])
            .run()
            .success()
            .stdout_has(marker);
    }
}

#[test]
fn no_inventory_is_bad_input_with_a_hint() {
    let (_t, dir) = scratch();
    Herd::in_dir(&dir)
        .args(["inventory", "list"])
        .run()
        .code(2)
        .stderr_has("no inventory given")
        .stderr_has("herd.toml");
}

#[test]
fn project_file_in_a_parent_directory_is_found() {
    let (_t, dir) = scratch();
    std::fs::write(dir.join("herd.toml"), "inventory = \"hosts.ini\"\n").unwrap();
    std::fs::write(dir.join("hosts.ini"), "[web]\nweb1\nweb2\n").unwrap();
    let sub = dir.join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = Herd::in_dir(&sub)
        .args(["inventory", "list"])
        .run()
        .success();
    assert_eq!(out.stdout, "web1\nweb2\n");
    // HERD_INVENTORY overrides the project file, -i overrides both.
    std::fs::write(dir.join("other.ini"), "[db]\ndb1\n").unwrap();
    std::fs::write(dir.join("third.ini"), "[lb]\nlb1\n").unwrap();
    let out = Herd::in_dir(&sub)
        .env("HERD_INVENTORY", dir.join("other.ini"))
        .args(["inventory", "list"])
        .run()
        .success();
    assert_eq!(out.stdout, "db1\n");
    let out = Herd::in_dir(&sub)
        .env("HERD_INVENTORY", dir.join("other.ini"))
        .args([
            "-i",
            dir.join("third.ini").to_str().unwrap(),
            "inventory",
            "list",
        ])
        .run()
        .success();
    assert_eq!(out.stdout, "lb1\n");
}

#[test]
fn malformed_project_file_names_file_line_and_key() {
    let (_t, dir) = scratch();
    std::fs::write(dir.join("herd.toml"), "forks = 5\ninventroy = \"x\"\n").unwrap();
    Herd::in_dir(&dir)
        .args(["inventory", "list"])
        .run()
        .code(2)
        .stderr_has("herd.toml:2:1")
        .stderr_has("inventroy");
}

/// Nine levels of ten aliases each: a few hundred bytes that expand to a
/// billion strings if every alias is copied (a YAML "billion laughs").
fn alias_bomb(indent: &str) -> String {
    let mut text = format!("{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("{indent}a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn alias_bombs_in_playbooks_and_extra_vars_are_refused_at_their_line() {
    let (_t, dir) = scratch();
    std::fs::write(dir.join("hosts.yml"), "all:\n  hosts:\n    web1:\n").unwrap();
    let bomb = alias_bomb("    ");
    std::fs::write(
        dir.join("bomb.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n{bomb}  tasks:\n    - debug: msg=hi\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n",
    )
    .unwrap();
    let flow = format!(
        "{{{}}}",
        alias_bomb("").lines().collect::<Vec<_>>().join(", ")
    );
    std::fs::write(dir.join("extra.yml"), alias_bomb("")).unwrap();
    let bounded = |args: &[&str]| {
        Herd::in_dir(&dir)
            .args(args)
            .run_bounded(1 << 30, std::time::Duration::from_secs(30))
    };
    // a5 (a million strings) is the first to pass the budget.
    bounded(&["play", "-i", "hosts.yml", "bomb.yml"])
        .code(2)
        .stderr_has("bomb.yml:9:")
        .stderr_has("alias bomb");
    bounded(&["play", "-i", "hosts.yml", "site.yml", "-e", &flow])
        .code(2)
        .stderr_has("-e:1:")
        .stderr_has("alias bomb");
    bounded(&["play", "-i", "hosts.yml", "site.yml", "-e", "@extra.yml"])
        .code(2)
        .stderr_has("extra.yml:6:")
        .stderr_has("alias bomb");
}
