//! `herd inventory add|remove|group|set-var`: edits keep every comment,
//! blank line and the order of the file; what cannot be edited safely is
//! refused; `--check-ssh` records the host key before writing.

use crate::fleet;
use crate::support;

use std::path::{Path, PathBuf};

use fleet::Fleet;
use support::{Herd, scratch};

const YAML: &str = "\
# Production inventory -- edited by hand and by herd.
all:
  vars:
    ntp: pool.ntp.org   # shared by everyone
  children:
    # Front ends
    web:
      hosts:
        web1:
          http_port: 80   # legacy port
        web2:
      vars:
        motd: |
          Welcome
          # part of the motd, not a comment

    db:
      hosts:
        db1:

# end of file
";

const INI: &str = "\
; Office inventory.
mail.example.com

[web]
# front ends
web1 http_port=80   # legacy port
web2

[db]
db1

[prod:children]
web
db

[web:vars]
tier=front
";

fn herd_in(dir: &Path, inventory: &str) -> Herd {
    Herd::in_dir(dir).args(["-i", inventory])
}

/// A scratch directory with the inventory `name` holding `text`.
fn inventory(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, dir) = scratch();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    (tmp, dir, file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Runs `herd -i FILE ARGS...` in `dir` and checks the whole file is now
/// `expected`; returns it for the next step.
fn edit(dir: &Path, file: &Path, args: &[&str], expected: String) -> String {
    let name = file.file_name().unwrap().to_str().unwrap();
    herd_in(dir, name).args(args).run().success();
    assert_eq!(read(file), expected);
    expected
}

#[test]
fn yaml_edits_keep_comments_and_layout() {
    let (_t, dir, file) = inventory("hosts.yml", YAML);
    let herd = || herd_in(&dir, "hosts.yml");

    herd()
        .args([
            "inventory",
            "add",
            "web3",
            "--group",
            "web",
            "--var",
            "http_port=8080",
        ])
        .run()
        .success()
        .stdout_has("added web3 in web");
    let expected = YAML.replace(
        "        web2:\n",
        "        web2:\n        web3:\n          http_port: 8080\n",
    );
    assert_eq!(read(&file), expected);

    let expected = edit(
        &dir,
        &file,
        &["inventory", "set-var", "web1", "http_port=81"],
        expected.replace("http_port: 80   #", "http_port: 81   #"),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "set-var", "--group", "db", "backup=nightly"],
        expected.replace(
            "        db1:\n",
            "        db1:\n      vars:\n        backup: nightly\n",
        ),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "group", "rename", "db", "database"],
        expected.replace("    db:\n", "    database:\n"),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "group", "add-host", "database", "web2"],
        expected.replace("        db1:\n", "        db1:\n        web2:\n"),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "remove", "web2"],
        expected.replace("        web2:\n", ""),
    );

    herd()
        .args(["inventory", "group", "add", "cache"])
        .run()
        .success();
    herd()
        .args(["inventory", "group", "remove", "cache"])
        .run()
        .success();
    assert_eq!(read(&file), expected);

    // What herd sees agrees with the text.
    herd()
        .args(["inventory", "list", "database"])
        .run()
        .success()
        .stdout_has("db1");
    let out = herd().args(["inventory", "show", "web3"]).run().success();
    assert!(out.stdout.contains("http_port: 8080"), "{}", out.stdout);
    assert!(out.stdout.contains("Welcome"), "{}", out.stdout);
}

#[test]
fn ini_edits_keep_comments_and_layout() {
    let (_t, dir, file) = inventory("hosts", INI);
    let herd = || herd_in(&dir, "hosts");

    let expected = edit(
        &dir,
        &file,
        &[
            "inventory",
            "add",
            "web3",
            "-g",
            "web",
            "--var",
            "motd=hello there",
        ],
        INI.replace("web2\n", "web2\nweb3 motd=\"hello there\"\n"),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "set-var", "web1", "http_port=81", "rack=a1"],
        expected.replace("http_port=80   #", "http_port=81 rack=a1   #"),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "remove", "mail.example.com"],
        expected.replace("mail.example.com\n", ""),
    );

    let expected = edit(
        &dir,
        &file,
        &["inventory", "group", "rename", "web", "front"],
        expected
            .replace("[web]", "[front]")
            .replace("\nweb\ndb\n", "\nfront\ndb\n")
            .replace("[web:vars]", "[front:vars]"),
    );

    // db still lists db1: removing it needs --force, and changes nothing.
    herd()
        .args(["inventory", "group", "remove", "db"])
        .run()
        .code(2)
        .stderr_has("--force");
    assert_eq!(read(&file), expected);
    edit(
        &dir,
        &file,
        &["inventory", "group", "remove", "db", "--force"],
        expected
            .replace("[db]\ndb1\n\n", "")
            .replace("front\ndb\n", "front\n"),
    );

    let out = herd().args(["inventory", "show", "web3"]).run().success();
    assert!(out.stdout.contains("motd: hello there"), "{}", out.stdout);
    assert!(out.stdout.contains("tier: front"), "{}", out.stdout);
}

#[test]
fn unsafe_or_ambiguous_edits_are_refused_and_change_nothing() {
    let (_t, dir) = scratch();
    std::fs::create_dir(dir.join("inv")).unwrap();
    std::fs::write(dir.join("inv/a.yml"), "web:\n  hosts:\n    w[1:3]:\n").unwrap();
    std::fs::write(dir.join("inv/b.yml"), "db:\n  hosts: {d1: , d2: }\n").unwrap();
    let before_a = read(&dir.join("inv/a.yml"));
    let before_b = read(&dir.join("inv/b.yml"));

    herd_in(&dir, "inv")
        .args(["inventory", "add", "x1"])
        .run()
        .code(2)
        .stderr_has("--file");
    herd_in(&dir, "inv")
        .args(["inventory", "remove", "w2", "--file", "inv/a.yml"])
        .run()
        .code(2)
        .stderr_has("range");
    herd_in(&dir, "inv")
        .args(["inventory", "add", "d3", "-g", "db", "--file", "inv/b.yml"])
        .run()
        .code(2)
        .stderr_has("inline");
    herd_in(&dir, "inv")
        .args(["inventory", "add", "w1", "-g", "web", "--file", "inv/a.yml"])
        .run()
        .code(2);
    herd_in(&dir, "inv")
        .args(["inventory", "add", "bad name"])
        .run()
        .code(2)
        .stderr_has("not a valid host name");
    // A host name is a directory name in fetch's dest/<host>/ and backups.
    for name in ["../../x", "a/b", "..", "."] {
        herd_in(&dir, "inv")
            .args(["inventory", "add", name, "--file", "inv/a.yml"])
            .run()
            .code(2)
            .stderr_has("not a valid host name");
    }
    assert_eq!(read(&dir.join("inv/a.yml")), before_a);
    assert_eq!(read(&dir.join("inv/b.yml")), before_b);
}

/// A block-style inventory for the fleet without any host in it yet.
fn empty_fleet_inventory(fleet: &Fleet) -> String {
    format!(
        "# hosts are added by `herd inventory add`\nall:\n  vars:\n    ansible_user: {}\n    ansible_port: {}\n    ansible_ssh_private_key_file: {}\n  children:\n    web:\n      hosts:\n",
        fleet.user,
        fleet.port,
        fleet.client_key.display()
    )
}

#[test]
fn check_ssh_records_the_host_key_before_writing() {
    let mut fleet = Fleet::builder().hosts(2).start();
    let inventory = fleet.path("new.yml");
    std::fs::write(&inventory, empty_fleet_inventory(&fleet)).unwrap();
    // host1's key is not known yet.
    let known = read(&fleet.known_hosts);
    let host1_line = known
        .lines()
        .find(|l| l.starts_with(&fleet.hosts[0].known_hosts_name()))
        .unwrap()
        .to_string();
    std::fs::write(
        &fleet.known_hosts,
        known.replace(&format!("{host1_line}\n"), ""),
    )
    .unwrap();

    let addr1 = format!("ansible_host={}", fleet.hosts[0].addr);
    Herd::in_dir(&fleet.dir)
        .args([
            "-i",
            "new.yml",
            "inventory",
            "add",
            "host1",
            "-g",
            "web",
            "--var",
            &addr1,
            "--check-ssh",
        ])
        .run()
        .success();
    assert!(read(&fleet.known_hosts).contains(&host1_line));
    assert!(read(&inventory).ends_with(&format!(
        "      hosts:\n        host1:\n          ansible_host: {}\n",
        fleet.hosts[0].addr
    )));
    Herd::in_dir(&fleet.dir)
        .args(["-i", "new.yml", "run", "host1", "--", "echo", "hi"])
        .run()
        .success();

    // An unreachable host: nothing written anywhere.
    fleet.stop_host(1);
    let before = (read(&inventory), read(&fleet.known_hosts));
    let addr2 = format!("ansible_host={}", fleet.hosts[1].addr);
    Herd::in_dir(&fleet.dir)
        .args([
            "-i",
            "new.yml",
            "inventory",
            "add",
            "host2",
            "--var",
            &addr2,
            "--check-ssh",
        ])
        .run()
        .code(4)
        .stderr_has("was not changed");
    assert_eq!((read(&inventory), read(&fleet.known_hosts)), before);
}
