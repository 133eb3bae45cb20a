//! The CLI's front door: help, version, completions, project discovery and
//! exit codes for bad input.

mod support;

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
