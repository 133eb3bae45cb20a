//! herd and Ansible side by side: the same playbook on two identical fresh
//! fleets must give the same PLAY RECAP per host and the same files. Runs
//! when `ansible-playbook` is available (on PATH, or the peer benchmark's
//! virtualenv beside the repository); otherwise says so and passes.

mod fleet;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleet::Fleet;
use support::{Herd, copy_dir};

fn ansible_playbook() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/peer-bench/.venv/bin/ansible-playbook");
    if beside.is_file() {
        return Some(beside);
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v ansible-playbook"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&on_path.stdout).trim().to_string();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// `host -> "ok=9 changed=5 ..."` from a PLAY RECAP (either tool's text).
fn recap(text: &str) -> BTreeMap<String, String> {
    let start = text.rfind("PLAY RECAP").expect("a PLAY RECAP");
    text[start..]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (host, counts) = line.split_once(" : ")?;
            let counts: Vec<&str> = counts.split_whitespace().collect();
            Some((host.trim().to_string(), counts.join(" ")))
        })
        .collect()
}

/// Every file under each host's root: relative path -> (content, mode).
fn files(fleet: &Fleet) -> BTreeMap<String, (String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for host in &fleet.hosts {
        let mut stack = vec![host.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let rel = format!(
                    "{}/{}",
                    host.name,
                    path.strip_prefix(&host.root).unwrap().display()
                );
                let meta = entry.metadata().unwrap();
                if meta.is_dir() {
                    out.insert(
                        rel,
                        (String::from("<dir>"), meta.permissions().mode() & 0o7777),
                    );
                    stack.push(path);
                } else if !rel.ends_with("/restarted") {
                    // `restarted` holds the handler's timestamp: different by design.
                    out.insert(
                        rel,
                        (
                            std::fs::read_to_string(&path).unwrap_or_default(),
                            meta.permissions().mode() & 0o7777,
                        ),
                    );
                }
            }
        }
    }
    out
}

#[test]
fn herd_and_ansible_agree_on_the_recap_and_the_files() {
    let Some(ansible) = ansible_playbook() else {
        eprintln!("ansible-playbook not found: parity check skipped");
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/play");
    let by_herd = Fleet::builder().hosts(3).start();
    let by_ansible = Fleet::builder().hosts(3).start();
    copy_dir(&fixture, &by_herd.dir.join("play"));
    copy_dir(&fixture, &by_ansible.dir.join("play"));

    let herd = Herd::in_dir(&by_herd.dir)
        .args(["play", "play/site.yml"])
        .run()
        .success();
    let config = by_ansible.dir.join("ansible.cfg");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\nretry_files_enabled = False\n\
             [ssh_connection]\nssh_args = -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes\n",
            by_ansible.known_hosts.display()
        ),
    )
    .unwrap();
    let out = Command::new(&ansible)
        .current_dir(&by_ansible.dir)
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", by_ansible.dir.join(".ansible-tmp"))
        .env("ANSIBLE_HOME", by_ansible.dir.join(".ansible-home"))
        .args(["-i", "inventory.yml", "play/site.yml"])
        .output()
        .expect("run ansible-playbook");
    let ansible_text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible-playbook failed:\n{ansible_text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // herd folds identical hosts (host[3-4]); this fixture's hosts all differ.
    assert_eq!(
        recap(&herd.stdout),
        recap(&ansible_text),
        "herd:\n{}\nansible:\n{ansible_text}",
        herd.stdout
    );
    assert_eq!(files(&by_herd), files(&by_ansible));
}
