//! Ansible as the oracle: the pinned ansible-core that
//! scripts/ensure-ansible.sh installs into a virtualenv, and running
//! `ansible-playbook` on a test fleet with the same trust settings herd uses
//! (strict host keys against the fleet's known_hosts, the fleet's key only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ansible-core release the parity tests compare with.
pub const VERSION: &str = "2.19.14";

/// The venv scripts/ensure-ansible.sh makes: `$HERD_ANSIBLE_VENV`, else
/// `${XDG_CACHE_HOME:-~/.cache}/herd-tests/ansible-venv-<VERSION>`.
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("HERD_ANSIBLE_VENV") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    cache
        .join("herd-tests")
        .join(format!("ansible-venv-{VERSION}"))
}

/// The pinned `ansible-playbook`, or `None` (with a note on stderr) where
/// it is not installed. In CI (`CI` set) a missing one is a failure, never
/// a skip: the parity tests are the point of the oracle.
pub fn playbook_command() -> Option<PathBuf> {
    let bin = venv().join("bin/ansible-playbook");
    if bin.is_file() {
        return Some(bin);
    }
    let hint = format!(
        "{} is missing: run scripts/ensure-ansible.sh (scripts/test.sh does) to install ansible-core {VERSION}",
        bin.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{hint}");
    eprintln!("{hint}; parity check skipped");
    None
}

/// Writes `<dir>/ansible.cfg` for a fleet whose known_hosts is `known_hosts`
/// and returns its path. Connections are kept open between tasks
/// (ControlPersist, which setting `ssh_args` would otherwise drop) and
/// modules piped in (pipelining), as a tuned Ansible setup runs.
pub fn write_config(dir: &Path, known_hosts: &Path) -> PathBuf {
    let config = dir.join("ansible.cfg");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\nretry_files_enabled = False\ntimeout = 60\n\
             [ssh_connection]\npipelining = True\ncontrol_path_dir = {cp}\n\
             ssh_args = -o ControlMaster=auto -o ControlPersist=30s -o UserKnownHostsFile={kh} -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes\n",
            cp = dir.join(".cp").display(),
            kh = known_hosts.display()
        ),
    )
    .unwrap();
    config
}

/// Runs `ansible-playbook -i inventory.yml <playbook> <extra>` in `dir`
/// (a fleet's directory) and returns its stdout; panics with both outputs
/// if it fails.
pub fn run_playbook(
    bin: &Path,
    dir: &Path,
    known_hosts: &Path,
    playbook: &str,
    extra: &[&str],
) -> String {
    let config = write_config(dir, known_hosts);
    let out = Command::new(bin)
        .current_dir(dir)
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible-tmp"))
        .env("ANSIBLE_HOME", dir.join(".ansible-home"))
        .args(["-i", "inventory.yml", playbook])
        .args(extra)
        .output()
        .expect("run ansible-playbook");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ansible-playbook failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `host -> "ok=9 changed=5 ..."` from a PLAY RECAP (either tool's text).
pub fn recap_text(text: &str) -> BTreeMap<String, String> {
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

/// `host -> {"ok": 9, "changed": 5, ...}` from a PLAY RECAP's text.
pub fn recap_counts(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    recap_text(text)
        .into_iter()
        .map(|(host, counts)| {
            let counts = counts
                .split_whitespace()
                .filter_map(|c| {
                    let (k, v) = c.split_once('=')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect();
            (host, counts)
        })
        .collect()
}
