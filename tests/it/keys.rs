//! `herd keys push|revoke|rotate|scan` against real sshd hosts: what ends
//! up in authorized_keys and known_hosts, and who can still log in.

use crate::fleet;
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fleet::{Fleet, FleetHost};
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn keygen(path: &Path) -> PathBuf {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "extra@test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    PathBuf::from(format!("{}.pub", path.display()))
}

/// The base64 part of a public key file.
fn blob(public: &Path) -> String {
    read(public).split_whitespace().nth(1).unwrap().to_string()
}

/// Whether OpenSSH's own client logs in to `host` with only `key`.
fn ssh_login(fleet: &Fleet, host: &FleetHost, key: &Path) -> bool {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.known_hosts.display()
        ))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5"])
        .arg("-i")
        .arg(key)
        .arg("-p")
        .arg(host.port.to_string())
        .arg(format!("{}@{}", fleet.user, host.addr))
        .arg("true")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn push_is_idempotent_and_revoke_removes_only_that_key() {
    let fleet = Fleet::builder().hosts(2).start();
    let extra = fleet.path("extra");
    let extra_pub = keygen(&extra);
    let host1 = &fleet.hosts[0];
    assert!(!ssh_login(&fleet, host1, &extra));
    // The fleet's sshd reads <host dir>/authorized_keys: tell herd so.
    authorized_keys_file(&fleet, "host1", &host1.authorized_keys);

    let ak = &host1.authorized_keys;
    let out = herd(&fleet)
        .args(["keys", "push", "host1", "--key"])
        .args([&extra_pub])
        .run()
        .success();
    assert!(out.stdout.contains("host1  added"), "{}", out.stdout);
    let out = herd(&fleet)
        .args(["keys", "push", "host1", "--key"])
        .args([&extra_pub])
        .run()
        .success();
    assert!(out.stdout.contains("host1  present"), "{}", out.stdout);
    assert_eq!(
        read(ak).matches(&blob(&extra_pub)).count(),
        1,
        "{}",
        read(ak)
    );
    assert_eq!(read(ak).lines().count(), 2);
    assert_eq!(mode(ak), 0o600);
    assert!(ssh_login(&fleet, host1, &extra));

    // host2 has no override: the default ~/.ssh/authorized_keys, with the
    // modes sshd insists on.
    herd(&fleet)
        .args(["keys", "push", "host2", "--key"])
        .args([&extra_pub])
        .run()
        .success();
    let default = fleet.hosts[1].home.join(".ssh/authorized_keys");
    assert_eq!(read(&default).trim(), read(&extra_pub).trim());
    assert_eq!(mode(&default), 0o600);
    assert_eq!(mode(&fleet.hosts[1].home.join(".ssh")), 0o700);

    // Revoking the key herd logs in with is refused (lockout)...
    let client_pub = PathBuf::from(format!("{}.pub", fleet.client_key.display()));
    herd(&fleet)
        .args(["keys", "revoke", "host1", "--key"])
        .args([&client_pub])
        .run()
        .code(3)
        .stdout_has("lock herd out");
    assert!(read(ak).contains(&blob(&client_pub)));
    // ...another key goes, and herd still gets in.
    herd(&fleet)
        .args(["keys", "revoke", "host1", "--key"])
        .args([&extra_pub])
        .run()
        .success()
        .stdout_has("removed");
    assert!(!read(ak).contains(&blob(&extra_pub)));
    assert!(read(ak).contains(&blob(&client_pub)));
    assert!(!ssh_login(&fleet, host1, &extra));
    herd(&fleet)
        .args(["run", "host1", "--", "true"])
        .run()
        .success();
}

/// Tells herd (inventory var) which authorized_keys file `host` uses.
fn authorized_keys_file(fleet: &Fleet, host: &str, path: &Path) {
    herd(fleet)
        .args(["inventory", "set-var", host])
        .args([format!("herd_authorized_keys_file={}", path.display())])
        .run()
        .success();
}

fn new_keys(fleet: &Fleet) -> Vec<PathBuf> {
    std::fs::read_dir(fleet.path(".herd/keys"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_none())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rotate_leaves_the_host_reachable_only_with_the_new_key() {
    let fleet = Fleet::builder().hosts(2).start();
    let (host1, host2) = (&fleet.hosts[0], &fleet.hosts[1]);
    authorized_keys_file(&fleet, "host1", &host1.authorized_keys);
    let before = read(&fleet.inventory);

    let out = herd(&fleet)
        .args(["keys", "rotate", "host1"])
        .run()
        .success();
    assert!(out.stdout.contains("host1  rotated"), "{}", out.stdout);
    let keys = new_keys(&fleet);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let new_key = &keys[0];
    assert_eq!(mode(new_key), 0o600);

    // Only the new key gets in; the old one is gone from authorized_keys.
    assert!(ssh_login(&fleet, host1, new_key));
    assert!(!ssh_login(&fleet, host1, &fleet.client_key));
    assert_eq!(read(&host1.authorized_keys).lines().count(), 1);
    // The inventory points host1 (only) at the new key, in place.
    let after = read(&fleet.inventory);
    let host1_line = after.lines().find(|l| l.contains("host1:")).unwrap();
    assert!(
        host1_line.contains(&format!(
            "ansible_ssh_private_key_file: {}",
            new_key.display()
        )),
        "{after}"
    );
    let changed: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(changed, [host1_line]);
    herd(&fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
    // host2 was not part of it.
    assert!(ssh_login(&fleet, host2, &fleet.client_key));
}

#[test]
fn rotate_whose_new_key_does_not_log_in_keeps_the_old_key() {
    let fleet = Fleet::builder().hosts(1).start();
    let host1 = &fleet.hosts[0];
    // A file sshd does not read: the new key's install cannot take effect.
    let elsewhere = host1.dir.join("not_read_by_sshd");
    std::fs::write(&elsewhere, "").unwrap();
    authorized_keys_file(&fleet, "host1", &elsewhere);
    let inventory = read(&fleet.inventory);
    let authorized = read(&host1.authorized_keys);

    let out = herd(&fleet).args(["keys", "rotate", "host1"]).run().code(3);
    assert!(out.stdout.contains("old key is kept"), "{}", out.stdout);
    assert_eq!(read(&fleet.inventory), inventory);
    assert_eq!(read(&host1.authorized_keys), authorized);
    assert_eq!(read(&elsewhere), "", "the new key was not taken out again");
    assert!(new_keys(&fleet).is_empty(), "unused key pair left behind");
    assert!(ssh_login(&fleet, host1, &fleet.client_key));
    herd(&fleet)
        .args(["run", "host1", "--", "true"])
        .run()
        .success();
}

#[test]
fn scan_reports_new_changed_and_unchanged_host_keys() {
    let fleet = Fleet::builder().hosts(3).start();
    let out = herd(&fleet).args(["keys", "scan", "all"]).run().success();
    assert!(out.stdout.ends_with("3 unchanged\n"), "{}", out.stdout);

    // host1 "reinstalled" (known_hosts has another key), host2 never seen.
    let other_pub = keygen(&fleet.path("other"));
    let known = read(&fleet.known_hosts);
    let (h1, h2) = (&fleet.hosts[0], &fleet.hosts[1]);
    let edited: String = known
        .lines()
        .filter(|l| !l.starts_with(&h2.known_hosts_name()))
        .map(|l| {
            if l.starts_with(&h1.known_hosts_name()) {
                format!("{} {}\n", h1.known_hosts_name(), read(&other_pub).trim())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&fleet.known_hosts, &edited).unwrap();

    let out = herd(&fleet).args(["keys", "scan", "all"]).run().code(4);
    let line = |host: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .unwrap_or_else(|| panic!("no line for {host}:\n{}", out.stdout))
            .to_string()
    };
    assert!(line("host1").contains("CHANGED"), "{}", out.stdout);
    assert!(line("host1").contains("known_hosts:1"), "{}", out.stdout);
    assert!(line("host2").contains("new"), "{}", out.stdout);
    assert!(line("host3").contains("unchanged"), "{}", out.stdout);
    assert_eq!(
        read(&fleet.known_hosts),
        edited,
        "scan without --update writes nothing"
    );

    // --update records the new key only; the changed one stays for the admin.
    herd(&fleet)
        .args(["keys", "scan", "all", "--update"])
        .run()
        .code(4);
    let now = read(&fleet.known_hosts);
    assert!(now.contains(&format!("{} {}", h2.known_hosts_name(), h2.public_key())));
    assert!(!now.contains(&h1.public_key()));
    herd(&fleet)
        .args(["keys", "scan", "host2:host3"])
        .run()
        .success();
}

#[test]
fn rotate_is_refused_before_touching_hosts_when_host_vars_override_the_key() {
    let fleet = Fleet::builder().hosts(1).start();
    let host1 = &fleet.hosts[0];
    std::fs::create_dir(fleet.path("host_vars")).unwrap();
    std::fs::write(
        fleet.path("host_vars/host1.yml"),
        format!(
            "ansible_ssh_private_key_file: {}\n",
            fleet.client_key.display()
        ),
    )
    .unwrap();
    let (inventory, authorized) = (read(&fleet.inventory), read(&host1.authorized_keys));
    herd(&fleet)
        .args(["keys", "rotate", "host1"])
        .run()
        .code(2)
        .stderr_has("host_vars");
    assert_eq!(read(&fleet.inventory), inventory);
    assert_eq!(read(&host1.authorized_keys), authorized);
    assert!(new_keys(&fleet).is_empty());
}

/// A .pub file whose comment runs over several lines hides a second key:
/// herd refuses the file and writes nothing, so the hidden key never logs in.
#[test]
fn push_refuses_a_key_file_hiding_a_second_key() {
    let fleet = Fleet::builder().hosts(1).start();
    let host1 = &fleet.hosts[0];
    authorized_keys_file(&fleet, "host1", &host1.authorized_keys);
    let shown_pub = keygen(&fleet.path("shown"));
    let hidden = fleet.path("hidden");
    let hidden_pub = keygen(&hidden);
    let before = read(&host1.authorized_keys);

    let sneaky = fleet.path("sneaky.pub");
    let first = read(&shown_pub);
    let first = first.trim_end().trim_end_matches("extra@test");
    std::fs::write(&sneaky, format!("{first}ana\n{}", read(&hidden_pub))).unwrap();
    let out = herd(&fleet)
        .args(["keys", "push", "host1", "--key"])
        .args([&sneaky])
        .run()
        .code(2);
    assert!(out.stderr.contains("2 keys"), "{}", out.stderr);
    assert_eq!(read(&host1.authorized_keys), before);
    assert!(!ssh_login(&fleet, host1, &hidden));

    // A control character in a comment never reaches authorized_keys.
    let cr = fleet.path("cr.pub");
    std::fs::write(&cr, format!("{first}ana\rssh-ed25519 x\n")).unwrap();
    let out = herd(&fleet)
        .args(["keys", "push", "host1", "--key"])
        .args([&cr])
        .run()
        .code(2);
    assert!(out.stderr.contains("control character"), "{}", out.stderr);
    assert_eq!(read(&host1.authorized_keys), before);
}
