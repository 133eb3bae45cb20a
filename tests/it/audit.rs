//! `herd audit` against real sshd hosts: the effective settings of the
//! running sshd, world-writable files, listening ports, the exit code and
//! the store.

use crate::fleet;
use crate::support;

use std::os::unix::fs::PermissionsExt;

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

/// The JSON row for `host`'s `check`.
fn row<'a>(rows: &'a [serde_json::Value], host: &str, check: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["host"] == host && r["check"] == check)
        .unwrap_or_else(|| panic!("no {check} row for {host} in {rows:#?}"))
}

#[test]
fn flags_the_host_whose_sshd_allows_passwords_and_world_writable_files() {
    // host2's sshd alone is started with `-o PasswordAuthentication=yes`:
    // only the running server's command line says so, not the config file.
    let fleet = Fleet::builder()
        .hosts(2)
        .host_sshd_option(1, "PasswordAuthentication=yes")
        .start();
    let root = &fleet.hosts[0].root;
    let open = root.join("open.conf");
    std::fs::write(&open, "x\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    // Sticky, like /tmp: fine. A private file: fine.
    std::fs::create_dir(root.join("spool")).unwrap();
    std::fs::set_permissions(root.join("spool"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(root.join("closed.conf"), "y\n").unwrap();

    let out = herd(&fleet)
        .args(["audit", "all", "--format", "json", "--paths"])
        .args([root])
        .run()
        .code(3);
    let rows = out.json_lines();
    assert_eq!(row(&rows, "host1", "ssh-password-auth")["status"], "pass");
    let host2 = row(&rows, "host2", "ssh-password-auth");
    assert_eq!(host2["status"], "fail", "{host2}");
    assert!(
        host2["detail"]
            .as_str()
            .unwrap()
            .contains("PasswordAuthentication yes (sshd -T"),
        "{host2}"
    );
    for host in ["host1", "host2"] {
        assert_eq!(row(&rows, host, "ssh-root-login")["status"], "pass");
        assert_eq!(row(&rows, host, "reboot")["status"], "pass");
        assert_eq!(row(&rows, host, "ports")["status"], "info");
    }
    // Both hosts share this machine's file system, so both see the file.
    let ww = row(&rows, "host1", "world-writable");
    assert_eq!(ww["status"], "fail");
    let detail = ww["detail"].as_str().unwrap();
    assert!(detail.contains(open.to_str().unwrap()), "{detail}");
    assert!(
        !detail.contains("spool") && !detail.contains("closed.conf"),
        "{detail}"
    );

    // The table says the same, and the audit is in the store.
    let out = herd(&fleet)
        .args(["audit", "host1", "--paths"])
        .args([&fleet.hosts[1].root])
        .run()
        .success();
    assert!(out.stdout.contains("HOST"), "{}", out.stdout);
    assert!(
        out.stdout.contains("world-writable     pass"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("audit 2: 1 hosts"), "{}", out.stdout);
    let db = rusqlite::Connection::open(fleet.dir.join(".herd/herd.db")).unwrap();
    let stored: String = db
        .query_row(
            "SELECT status FROM audit_results WHERE audit_id = 1 AND host = 'host2' AND check_name = 'ssh-password-auth'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, "fail");
}

#[test]
fn listening_ports_outside_the_allow_list_fail() {
    let fleet = Fleet::builder().hosts(1).start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = herd(&fleet)
        .args(["audit", "host1", "--format", "json", "--allow-ports", "22"])
        .run()
        .code(3);
    let rows = out.json_lines();
    let ports = row(&rows, "host1", "ports");
    assert_eq!(ports["status"], "fail");
    let detail = ports["detail"].as_str().unwrap();
    assert!(
        detail.split([' ', ',', '(']).any(|w| w == port),
        "{port} not in {detail}"
    );

    // Allowing every port that listens makes the check pass (the machine's
    // other listeners come and go, so allow all of them).
    // (In chunks: one argument may not exceed 128 KiB.)
    let all: Vec<String> = (1..=65535).map(|p: u32| p.to_string()).collect();
    let mut audit = herd(&fleet).args(["audit", "host1", "--format", "json"]);
    for chunk in all.chunks(5000) {
        audit = audit.args(["--allow-ports", &chunk.join(",")]);
    }
    let out = audit.run().success();
    assert_eq!(row(&out.json_lines(), "host1", "ports")["status"], "pass");

    herd(&fleet)
        .args(["audit", "host1", "--paths", "etc"])
        .run()
        .code(2)
        .stderr_has("absolute");
    drop(listener);
}
