//! `herd backup` and `herd restore` against real sshd hosts: bytes, modes
//! and symlinks round-trip, `--check` changes nothing, `--keep` prunes,
//! `--encrypt` writes files the age CLI reads.

use crate::fleet;
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// host1's `app` directory: a config, a script, a secret, a nested file and
/// a symlink.
fn make_app(fleet: &Fleet) -> PathBuf {
    let app = fleet.hosts[0].root.join("app");
    std::fs::create_dir_all(app.join("conf.d")).unwrap();
    write(&app.join("app.conf"), "listen 80\nworkers 4\n", 0o640);
    write(&app.join("run.sh"), "#!/bin/sh\nexec app\n", 0o755);
    write(&app.join("secret.key"), "k3y-material\n", 0o600);
    write(&app.join("conf.d/extra.conf"), "debug off\n", 0o644);
    std::fs::write(app.join("blob.bin"), [0u8, 159, 146, 150, 255]).unwrap();
    std::os::unix::fs::symlink("app.conf", app.join("current")).unwrap();
    std::fs::set_permissions(app.join("conf.d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    app
}

/// The IDs `herd backup list HOST --format json` shows.
fn backup_ids(fleet: &Fleet, host: &str) -> Vec<String> {
    herd(fleet)
        .args(["backup", "list", host, "--format", "json"])
        .run()
        .success()
        .json_lines()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn backup_then_restore_round_trips_bytes_modes_and_links() {
    let fleet = Fleet::builder().hosts(1).start();
    let app = make_app(&fleet);
    let app_s = app.to_str().unwrap();
    let out = herd(&fleet)
        .args(["backup", "host1", app_s])
        .run()
        .success()
        .stdout_has("host1: backup ");
    assert!(out.stdout.contains("5 files"), "{}", out.stdout);
    let ids = backup_ids(&fleet, "host1");
    assert_eq!(ids.len(), 1);
    let dir = fleet.dir.join(".herd/backups/host1").join(&ids[0]);
    assert_eq!(mode(&dir), 0o700);
    for file in ["archive.tar.gz", "manifest.json", "backup.json"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let conf = manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == format!("{app_s}/app.conf"))
        .expect("app.conf in the manifest");
    assert_eq!(conf["mode"], 0o640);
    assert_eq!(conf["size"], 20);
    assert_eq!(conf["type"], "file");
    assert_eq!(conf["sha256"].as_str().unwrap().len(), 64);

    // Damage the host: new content, a mode, a deleted file and dir, a moved link.
    write(&app.join("app.conf"), "listen 8080\nworkers 4\n", 0o640);
    std::fs::set_permissions(app.join("run.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(app.join("secret.key")).unwrap();
    std::fs::remove_dir_all(app.join("conf.d")).unwrap();
    std::fs::remove_file(app.join("current")).unwrap();
    std::os::unix::fs::symlink("run.sh", app.join("current")).unwrap();
    let damaged = std::fs::read(app.join("app.conf")).unwrap();

    // --check --diff reports every change and changes nothing.
    let out = herd(&fleet)
        .args(["restore", "host1", "latest", "--check", "--diff"])
        .run()
        .success();
    for expected in [
        "app.conf: would restore (content)",
        "run.sh: would restore (mode)",
        "secret.key: would restore (missing)",
        "conf.d: would restore (missing)",
        "conf.d/extra.conf: would restore (missing)",
        "current: would restore (target)",
        "-listen 8080",
        "+listen 80",
        "6 of 8 paths differ",
    ] {
        assert!(
            out.stdout.contains(expected),
            "lacks {expected:?}:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("blob.bin"), "{}", out.stdout);
    assert_eq!(std::fs::read(app.join("app.conf")).unwrap(), damaged);
    assert_eq!(mode(&app.join("run.sh")), 0o644);
    assert!(!app.join("secret.key").exists());
    assert!(!app.join("conf.d").exists());

    // The real restore puts back bytes, modes and the link.
    herd(&fleet)
        .args(["restore", "host1", &ids[0]])
        .run()
        .success()
        .stdout_has("restored 6 of 6 changed paths");
    assert_eq!(
        std::fs::read_to_string(app.join("app.conf")).unwrap(),
        "listen 80\nworkers 4\n"
    );
    assert_eq!(mode(&app.join("app.conf")), 0o640);
    assert_eq!(mode(&app.join("run.sh")), 0o755);
    assert_eq!(
        std::fs::read_to_string(app.join("secret.key")).unwrap(),
        "k3y-material\n"
    );
    assert_eq!(mode(&app.join("secret.key")), 0o600);
    assert_eq!(mode(&app.join("conf.d")), 0o750);
    assert_eq!(
        std::fs::read_to_string(app.join("conf.d/extra.conf")).unwrap(),
        "debug off\n"
    );
    assert_eq!(
        std::fs::read_link(app.join("current")).unwrap(),
        Path::new("app.conf")
    );
    assert_eq!(
        std::fs::read(app.join("blob.bin")).unwrap(),
        [0u8, 159, 146, 150, 255]
    );
    // No temp files left beside the restored ones.
    let leftovers: Vec<_> = std::fs::read_dir(&app)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("herd-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    herd(&fleet)
        .args(["restore", "host1", "latest"])
        .run()
        .success()
        .stdout_has("nothing to restore");

    // Restoring one path leaves the others as they are.
    write(&app.join("app.conf"), "changed again\n", 0o640);
    write(&app.join("run.sh"), "changed too\n", 0o755);
    let one = format!("{app_s}/run.sh");
    herd(&fleet)
        .args(["restore", "host1", "latest", &one])
        .run()
        .success()
        .stdout_has("restored 1 of 1");
    assert_eq!(
        std::fs::read_to_string(app.join("run.sh")).unwrap(),
        "#!/bin/sh\nexec app\n"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("app.conf")).unwrap(),
        "changed again\n"
    );

    // Mistakes are bad input, with the way out.
    herd(&fleet)
        .args(["restore", "host1", "latest", "/not/in/backup"])
        .run()
        .code(2)
        .stderr_has("not in backup");
    herd(&fleet)
        .args(["restore", "host1", "19990101T000000Z"])
        .run()
        .code(2)
        .stderr_has("herd backup list host1");
    herd(&fleet)
        .args(["backup", "host1", "relative/path"])
        .run()
        .code(2)
        .stderr_has("absolute path");
}

#[test]
fn keep_prunes_old_backups_and_failures_save_nothing() {
    let fleet = Fleet::builder().hosts(2).start();
    let data = fleet.hosts[0].root.join("data.txt");
    std::fs::write(&data, "v1\n").unwrap();
    let data_s = data.to_str().unwrap();
    for _ in 0..3 {
        herd(&fleet)
            .args(["backup", "host1", data_s, "--keep", "2"])
            .run()
            .success();
    }
    let ids = backup_ids(&fleet, "host1");
    assert_eq!(ids.len(), 2, "{ids:?}");
    let listing = herd(&fleet).args(["backup", "list"]).run().success();
    assert!(listing.stdout.contains("ENCRYPTED"), "{}", listing.stdout);
    let rows = listing.stdout.lines().filter(|l| l.starts_with("host1 "));
    assert_eq!(rows.count(), 2, "{}", listing.stdout);

    // A path missing on the host fails that host with tar's reason and
    // saves nothing, not even a partial backup.
    let out = herd(&fleet)
        .args([
            "backup",
            "host1",
            data_s,
            "/nonexistent/herd-test",
            "--keep",
            "2",
        ])
        .run()
        .code(3);
    assert!(out.stdout.contains("host1: FAILED"), "{}", out.stdout);
    assert!(out.stdout.contains("No such file"), "{}", out.stdout);
    assert_eq!(backup_ids(&fleet, "host1"), ids);
    let partial = std::fs::read_dir(fleet.dir.join(".herd/backups/host1"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(partial, 0);

    // An unreachable host never stops the others; the newest backup sorts
    // last and the oldest is the one deleted.
    let mut fleet = fleet;
    fleet.stop_host(1);
    let out = herd(&fleet)
        .args(["backup", "all", data_s, "--keep", "2"])
        .run()
        .code(4);
    assert!(out.stdout.contains("host2: UNREACHABLE"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("deleted older: {}", ids[0])),
        "{}",
        out.stdout
    );
    let now = backup_ids(&fleet, "host1");
    assert_eq!(now.len(), 2);
    assert_eq!(now[0], ids[1]);
}

#[test]
fn encrypted_backups_are_age_files_and_restore_with_the_identity() {
    let fleet = Fleet::builder().hosts(1).start();
    herd(&fleet).args(["secrets", "init"]).run().success();
    let identity = fleet.dir.join(".test-home/.config/herd/identity.txt");
    let secret = fleet.hosts[0].root.join("db.password");
    write(&secret, "hunter2-backup-secret\n", 0o600);
    let secret_s = secret.to_str().unwrap();
    herd(&fleet)
        .args(["backup", "host1", secret_s, "--encrypt"])
        .run()
        .success()
        .stdout_has("encrypted");
    let id = &backup_ids(&fleet, "host1")[0];
    let dir = fleet.dir.join(".herd/backups/host1").join(id);
    assert!(!dir.join("archive.tar.gz").exists());
    assert!(!dir.join("manifest.json").exists());
    let archive = dir.join("archive.tar.gz.age");
    let raw = std::fs::read(&archive).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("hunter2"));

    // The age CLI decrypts it into a tar.gz that tar reads.
    let plain = fleet.dir.join("plain.tar.gz");
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&identity)
        .arg("-o")
        .arg(&plain)
        .arg(&archive)
        .output()
        .expect("age CLI (scripts/ensure-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("tar")
        .arg("-xzOf")
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hunter2-backup-secret\n"
    );

    std::fs::write(&secret, "overwritten\n").unwrap();
    herd(&fleet)
        .args(["restore", "host1", "latest"])
        .run()
        .success()
        .stdout_has("restored 1 of 1");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "hunter2-backup-secret\n"
    );
    assert_eq!(mode(&secret), 0o600);

    // Without the identity, restore says how to provide one.
    herd(&fleet)
        .args([
            "restore",
            "host1",
            "latest",
            "--identity",
            "/nonexistent/id.txt",
        ])
        .run()
        .code(2)
        .stderr_has("--identity");
}
