//! The test fleet itself: real sshd hosts that OpenSSH's own client reaches,
//! stopped when the fleet is dropped.

use crate::fleet;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use fleet::Fleet;

fn ssh(fleet: &Fleet, host: &str, command: &str) -> std::process::Output {
    Command::new("ssh")
        .arg("-F")
        .arg(&fleet.ssh_config)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            host,
            command,
        ])
        .output()
        .expect("run ssh")
}

#[test]
fn openssh_reaches_every_host_with_strict_host_keys() {
    let fleet = Fleet::builder().hosts(3).start();
    for (i, host) in fleet.hosts.iter().enumerate() {
        assert_eq!(host.addr.to_string(), format!("127.0.0.{}", i + 2));
        let out = ssh(&fleet, &host.name, "echo $HOME; pwd");
        assert!(
            out.status.success(),
            "{}: {}",
            host.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Each host has its own $HOME.
        assert!(
            stdout.starts_with(&host.home.display().to_string()),
            "{stdout}"
        );
    }
}

#[test]
fn dropping_the_fleet_stops_every_server() {
    let fleet = Fleet::builder().hosts(2).start();
    let sockets: Vec<_> = fleet.hosts.iter().map(|h| h.socket()).collect();
    drop(fleet);
    for socket in sockets {
        assert!(
            TcpStream::connect_timeout(&socket, Duration::from_millis(300)).is_err(),
            "{socket} still accepts connections"
        );
    }
}

#[test]
fn parallel_fleets_use_different_ports_and_host_keys() {
    let a = Fleet::builder().hosts(2).start();
    let b = Fleet::builder().hosts(2).start();
    assert_ne!(a.port, b.port);
    assert_ne!(a.hosts[0].public_key(), b.hosts[0].public_key());
    assert!(ssh(&a, "host2", "true").status.success());
    assert!(ssh(&b, "host2", "true").status.success());
}

#[test]
fn a_stopped_host_refuses_connections_while_others_serve() {
    let mut fleet = Fleet::builder().hosts(2).start();
    fleet.stop_host(0);
    assert!(
        TcpStream::connect_timeout(&fleet.hosts[0].socket(), Duration::from_millis(300)).is_err()
    );
    assert!(ssh(&fleet, "host2", "true").status.success());
}
