//! `herd run` against a fleet of real sshd hosts: what the admin sees on the
//! terminal, in JSON, in the exit code and in the store.

use crate::fleet;
use crate::support;

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

#[test]
fn identical_output_is_folded_under_one_host_list() {
    let fleet = Fleet::builder().hosts(4).start();
    let out = herd(&fleet)
        .args(["run", "all", "--", "echo", "same"])
        .run()
        .success();
    // One block for all four hosts, the output once, then the recap.
    assert_eq!(out.stdout.matches("same").count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("host[1-4]"), "{}", out.stdout);
    assert!(out.stdout.contains("4 ok"), "{}", out.stdout);
}

#[test]
fn different_outputs_get_their_own_blocks_and_failures_set_the_exit_code() {
    let fleet = Fleet::builder().hosts(3).start();
    // host3's working dir lacks the marker file: its `cat` fails.
    for host in &fleet.hosts[..2] {
        std::fs::write(host.root.join("marker"), "present\n").unwrap();
    }
    let out = herd(&fleet)
        .args(["run", "all", "--", "cat", "$HOME/../root/marker"])
        .run()
        .code(3);
    assert!(out.stdout.contains("host[1-2]"), "{}", out.stdout);
    assert!(out.stdout.contains("present"), "{}", out.stdout);
    assert!(out.stdout.contains("host3"), "{}", out.stdout);
    assert!(out.stdout.contains("No such file"), "{}", out.stdout);
    assert!(out.stdout.contains("2 ok, 1 failed"), "{}", out.stdout);
}

#[test]
fn json_prints_one_object_per_host() {
    let fleet = Fleet::builder().hosts(3).start();
    let out = herd(&fleet)
        .args(["run", "web", "--format", "json", "--", "echo $HOME; exit 0"])
        .run()
        .success();
    let lines = out.json_lines();
    // web is the first half of the fleet: host1 and host2.
    let mut hosts: Vec<_> = lines
        .iter()
        .map(|l| l["host"].as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["host1", "host2"]);
    for line in &lines {
        let host = &fleet.hosts[if line["host"] == "host1" { 0 } else { 1 }];
        assert_eq!(line["status"], "ok");
        assert_eq!(line["exit_code"], 0);
        assert_eq!(line["stdout"], format!("{}\n", host.home.display()));
    }
}

#[test]
fn unreachable_and_wrong_key_hosts_are_reported_while_the_rest_succeed() {
    let mut fleet = Fleet::builder().hosts(4).start();
    fleet.stop_host(1); // host2: connection refused
    std::fs::write(&fleet.hosts[2].authorized_keys, "").unwrap(); // host3: our key is not accepted
    let out = herd(&fleet)
        .args(["run", "all", "--", "echo", "up"])
        .run()
        .code(4);
    assert!(out.stdout.contains("host2"), "{}", out.stdout);
    assert!(
        out.stdout.to_lowercase().contains("refused"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("host3"), "{}", out.stdout);
    assert!(out.stdout.to_lowercase().contains("auth"), "{}", out.stdout);
    assert!(out.stdout.contains("host[1,4]"), "{}", out.stdout);
    assert!(out.stdout.contains("2 ok"), "{}", out.stdout);
    assert!(out.stdout.contains("2 unreachable"), "{}", out.stdout);
}

#[test]
fn a_command_that_outlives_its_timeout_fails_that_host_only() {
    let fleet = Fleet::builder().hosts(2).start();
    let started = std::time::Instant::now();
    let out = herd(&fleet)
        .args([
            "run",
            "all",
            "--timeout",
            "1",
            "--format",
            "json",
            "--",
            "if [ $HOME = ",
            fleet.hosts[0].home.to_str().unwrap(),
            " ]; then sleep 30; fi; echo done",
        ])
        .run()
        .code(3);
    assert!(
        started.elapsed().as_secs() < 20,
        "the timeout did not cut the command short"
    );
    let lines = out.json_lines();
    let slow = lines.iter().find(|l| l["host"] == "host1").unwrap();
    let fast = lines.iter().find(|l| l["host"] == "host2").unwrap();
    assert_eq!(slow["status"], "failed");
    assert!(
        slow["error"].as_str().unwrap().contains("timed out"),
        "{slow}"
    );
    assert_eq!(fast["status"], "ok");
}

#[test]
fn rerun_failed_targets_exactly_the_failed_and_unreachable_hosts() {
    let mut fleet = Fleet::builder().hosts(5).start();
    fleet.stop_host(4); // host5 unreachable
    // host2 and host3 fail: no marker file.
    for i in [0, 3] {
        std::fs::write(fleet.hosts[i].root.join("marker"), "x").unwrap();
    }
    herd(&fleet)
        .args(["run", "all", "--", "test -e $HOME/../root/marker"])
        .run()
        .code(4);
    let out = herd(&fleet)
        .args(["run", "--rerun-failed", "--format", "json"])
        .run();
    let mut hosts: Vec<String> = out
        .json_lines()
        .iter()
        .map(|l| l["host"].as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["host2", "host3", "host5"]);

    // The runs are in the store, newest first.
    let runs = herd(&fleet)
        .args(["runs", "--format", "json"])
        .run()
        .success();
    let listed = runs.json_lines();
    let all: Vec<&serde_json::Value> = listed
        .iter()
        .flat_map(|v| {
            v.as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_else(|| vec![v])
        })
        .collect();
    assert!(all.len() >= 2, "{}", runs.stdout);
}

#[test]
fn an_unmatched_pattern_is_bad_input() {
    let fleet = Fleet::builder().hosts(1).start();
    herd(&fleet)
        .args(["run", "nosuchgroup", "--", "true"])
        .run()
        .code(2)
        .stderr_has("nosuchgroup");
}

#[test]
fn ctrl_c_records_the_run_as_interrupted() {
    let fleet = Fleet::builder().hosts(3).start();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_herd"))
        .current_dir(&fleet.dir)
        .env("HOME", fleet.dir.join(".test-home"))
        .args(["run", "all", "--", "sleep", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give the hosts time to start the command, then press Ctrl-C.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = support::Outcome::from(child.wait_with_output().unwrap());
    let out = out.code(130);
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);

    let shown = herd(&fleet)
        .args(["runs", "show", "last", "--format", "json"])
        .run()
        .success();
    let run: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(run["outcome"], "interrupted", "{run}");
    let statuses: Vec<&str> = run["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["interrupted"; 3], "{run}");
    // The hosts' sessions were closed: a new run on the same hosts works at once.
    herd(&fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success();
}

/// Where herd connects, as `ssh` would: without ansible_host the inventory
/// name is the destination and its ssh_config HostName applies; with
/// ansible_host, that is the destination (its own HostName applies, the
/// inventory name's does not).
#[test]
fn ssh_config_hostname_applies_to_the_destination_as_ssh_does() {
    let fleet = Fleet::builder().hosts(2).start();
    let mut config = std::fs::read_to_string(&fleet.ssh_config).unwrap();
    for (alias, host) in [
        ("127.0.0.99", &fleet.hosts[0]),
        ("127.0.0.98", &fleet.hosts[1]),
    ] {
        config.push_str(&format!(
            "Host {alias}\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n\n",
            host.addr,
            host.port,
            fleet.user,
            fleet.client_key.display(),
            fleet.known_hosts.display()
        ));
    }
    std::fs::write(&fleet.ssh_config, config).unwrap();
    std::fs::write(
        fleet.path("alias.yml"),
        "all:\n  hosts:\n    127.0.0.99:\n    viaaddr: {ansible_host: 127.0.0.98}\n    host1: {ansible_host: 127.0.0.96}\n",
    )
    .unwrap();
    let out = herd(&fleet)
        .args([
            "-i",
            "alias.yml",
            "run",
            "127.0.0.99,viaaddr",
            "--",
            "echo",
            "reached",
        ])
        .run()
        .success();
    assert!(out.stdout.contains("2 ok"), "{}{}", out.stdout, out.stderr);
    // host1's own block says HostName 127.0.0.2, but ansible_host wins.
    herd(&fleet)
        .args(["-i", "alias.yml", "run", "host1", "--", "echo", "reached"])
        .run()
        .code(4);
}

/// ProxyCommand in ssh_config carries the connection over the command's
/// stdin and stdout, with %h and %p expanded, as OpenSSH does: here
/// `ssh -W` through host1 reaches host2.
#[test]
fn proxy_command_from_ssh_config_carries_the_connection() {
    let fleet = Fleet::builder().hosts(2).start();
    let marker = fleet.path("proxied");
    let config = std::fs::read_to_string(&fleet.ssh_config).unwrap();
    std::fs::write(
        &fleet.ssh_config,
        format!(
            "Host host2\n  ProxyCommand sh -c \"echo %h:%p >> {}; exec ssh -F {} -o BatchMode=yes -W %h:%p host1\"\n\n{config}",
            marker.display(),
            fleet.ssh_config.display()
        ),
    )
    .unwrap();
    let out = herd(&fleet)
        .args(["run", "all", "--", "echo", "reached"])
        .run()
        .success();
    assert!(out.stdout.contains("2 ok"), "{}{}", out.stdout, out.stderr);
    let host2 = &fleet.hosts[1];
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default(),
        format!("{}:{}\n", host2.addr, host2.port)
    );
}

#[test]
fn output_past_the_capture_limit_is_marked_in_text_and_json() {
    let fleet = Fleet::builder().hosts(1).start();
    // 9 MiB of "y": past the 8 MiB capture limit.
    let big = ["run", "all", "-m", "shell", "-a", "yes | head -c 9437184"];
    let out = herd(&fleet).args(big).run().success();
    let marker = "[... truncated by herd: output past the first 8 MiB was not kept]";
    assert!(
        out.stdout.contains(marker),
        "{}",
        &out.stdout[out.stdout.len() - 300..]
    );
    let out = herd(&fleet)
        .args(big.iter().chain(&["--format", "json"]))
        .run()
        .success();
    let lines = out.json_lines();
    assert_eq!(lines[0]["truncated"], true);
    assert!(lines[0]["stdout"].as_str().unwrap().ends_with(marker));
    let out = herd(&fleet)
        .args(["run", "all", "--format", "json", "--", "echo", "small"])
        .run()
        .success();
    assert_eq!(out.json_lines()[0]["truncated"], false);
}

/// Runs herd under `script`, so its stdout is a terminal.
fn on_a_terminal(fleet: &Fleet, args: &str) -> String {
    let home = fleet.dir.join(".test-home");
    std::fs::create_dir_all(&home).unwrap();
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_herd"));
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(&fleet.dir)
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("run script (util-linux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn terminal_escapes_in_host_output_are_shown_not_obeyed() {
    let fleet = Fleet::builder().hosts(1).start();
    let printf = r"printf '\033]0;owned\007fine\rhidden\n'";
    let shown = on_a_terminal(&fleet, &format!("run all -m shell -a \"{printf}\""));
    assert!(shown.contains(r"\x1b]0;owned\x07fine\rhidden"), "{shown:?}");
    assert!(!shown.contains("\x1b]0;owned"), "{shown:?}");
    // JSON and pipes keep the text as the host sent it.
    let out = herd(&fleet)
        .args([
            "run", "all", "-m", "shell", "-a", printf, "--format", "json",
        ])
        .run()
        .success();
    assert_eq!(
        out.json_lines()[0]["stdout"],
        "\x1b]0;owned\x07fine\rhidden\n"
    );
    assert!(
        out.stdout
            .contains(r#""\u001b]0;owned\u0007fine\rhidden\n""#),
        "{}",
        out.stdout
    );
}
