//! Test hosts that behave like machines: isolated hosts (own filesystem,
//! users, packages, hostname, processes) and the fault proxy on the wire
//! (latency, cut, reset), driven through the real `herd` binary.
//!
//! Isolated hosts need root (CI runs as root).

use crate::fleet;
use crate::support;

use std::time::{Duration, Instant};

use fleet::Fleet;
use support::Herd;

fn herd(fleet: &Fleet) -> Herd {
    Herd::in_dir(&fleet.dir)
}

fn read(path: impl AsRef<std::path::Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

/// `herd run HOSTS --format json -- COMMAND`, stdout per host name.
fn run_json(
    fleet: &Fleet,
    hosts: &str,
    command: &str,
) -> std::collections::BTreeMap<String, (i64, String)> {
    json_by_host(fleet, &[hosts, "--", command])
        .into_iter()
        .map(|(host, l)| {
            let code = l["exit_code"].as_i64().unwrap_or(-1);
            let stdout = l["stdout"].as_str().unwrap_or_default().to_string();
            (host, (code, stdout))
        })
        .collect()
}

/// `herd run --connect-timeout 2 --format json ARGS...`: each host's JSON
/// line by host name.
fn json_by_host(
    fleet: &Fleet,
    args: &[&str],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let out = herd(fleet)
        .args(["run", "--connect-timeout", "2", "--format", "json"])
        .args(args)
        .run();
    out.json_lines()
        .into_iter()
        .map(|l| (l["host"].as_str().unwrap().to_string(), l))
        .collect()
}

/// Each host's status ("ok", "failed", "unreachable") after `herd run
/// HOSTS -- true`, and its error if any, in host order.
fn statuses(fleet: &Fleet, hosts: &str) -> Vec<(String, String, String)> {
    json_by_host(fleet, &[hosts, "--", "true"])
        .into_iter()
        .map(|(host, l)| {
            let status = l["status"].as_str().unwrap_or_default().to_string();
            let error = l["error"].as_str().unwrap_or_default().to_string();
            (host, status, error)
        })
        .collect()
}

fn all_ok(fleet: &Fleet) {
    let statuses = statuses(fleet, "all");
    assert_eq!(statuses.len(), fleet.hosts.len(), "{statuses:?}");
    for (host, status, error) in statuses {
        assert_eq!(status, "ok", "{host}: {error}");
    }
}

#[test]
fn a_user_a_package_and_etc_hosts_changed_on_host2_stay_on_host2() {
    let fleet = Fleet::builder()
        .hosts(3)
        .isolated(true)
        .apt_packages(&["hello"])
        .start();
    let machine_hosts = read("/etc/hosts");
    let machine_passwd = read("/etc/passwd");
    assert!(
        !std::path::Path::new("/usr/bin/hello").exists(),
        "the test machine must not have `hello` installed for this test"
    );
    let before: Vec<(String, String)> = fleet
        .hosts
        .iter()
        .map(|h| {
            (
                read(h.fs_path("/etc/hosts")),
                read(h.fs_path("/etc/passwd")),
            )
        })
        .collect();

    // Each host is its own machine: own hostname, own PID 1.
    let names = run_json(
        &fleet,
        "all",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '",
    );
    for host in &fleet.hosts {
        let (code, stdout) = &names[&host.name];
        assert_eq!(*code, 0, "{}: {stdout}", host.name);
        assert!(stdout.starts_with(&format!("{}\n", host.name)), "{stdout}");
        assert!(
            stdout.contains("init.sh"),
            "PID 1 is the host's init: {stdout}"
        );
    }

    // A playbook of `command` tasks (herd has no user/apt module yet) and a
    // lineinfile, on host2 only.
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: host2\n  gather_facts: false\n  tasks:\n\
         \x20   - name: add a user\n      command: useradd --create-home alice\n\
         \x20   - name: install a package from the fleet's local repository\n      command: apt-get install -y -q hello\n\
         \x20   - name: name the database\n      lineinfile:\n        path: /etc/hosts\n        line: 127.0.0.99 db.internal\n",
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=3");

    let after = run_json(
        &fleet,
        "all",
        "id -un alice 2>&1; hello 2>&1; grep db.internal /etc/hosts; ls -d /home/alice 2>&1; true",
    );
    let (_, host2) = &after["host2"];
    assert!(host2.contains("alice\n"), "{host2}");
    assert!(host2.contains("Hello, world!"), "{host2}");
    assert!(host2.contains("127.0.0.99 db.internal"), "{host2}");
    assert!(host2.contains("/home/alice\n"), "{host2}");
    for (i, name) in [(0, "host1"), (2, "host3")] {
        let (_, out) = &after[name];
        assert!(out.contains("no such user"), "{name}: {out}");
        assert!(!out.contains("Hello, world!"), "{name}: {out}");
        assert!(!out.contains("db.internal"), "{name}: {out}");
        let host = &fleet.hosts[i];
        assert_eq!(
            read(host.fs_path("/etc/hosts")),
            before[i].0,
            "{name} /etc/hosts"
        );
        assert_eq!(
            read(host.fs_path("/etc/passwd")),
            before[i].1,
            "{name} /etc/passwd"
        );
        assert!(!host.fs_path("/usr/bin/hello").exists(), "{name} has hello");
    }
    // The test machine is untouched.
    assert_eq!(read("/etc/hosts"), machine_hosts);
    assert_eq!(read("/etc/passwd"), machine_passwd);
    assert!(!std::path::Path::new("/usr/bin/hello").exists());
    assert!(!std::path::Path::new("/home/alice").exists());
}

/// The account play of `user_group_and_getent_...`: a group, a user in it
/// with most of what `user` manages, and `getent` facts checked by asserts.
const ACCOUNTS_PLAY: &str = r#"- hosts: host1
  gather_facts: false
  tasks:
    - name: a group with a gid
      group: {name: deploy, gid: 4242}
    - name: a user in it
      user:
        name: carol
        uid: 4300
        group: deploy
        groups: [adm]
        shell: /bin/sh
        comment: Carol Example
        password: "$6$rounds=656000$TT4O7jz2M57npccl$33LF6FcUMSW11qrESXL1HX0BS.bsiT6aenFLLiVpsQh6hDtI9pJh5iY7x8J7ePkN4fP8hmElidHXaeD51pbGS."
        expires: 2529881062
        password_expire_max: 90
        generate_ssh_key: true
      register: carol
"#;

const ACCOUNTS_VERIFY: &str = r#"- hosts: host1
  gather_facts: false
  tasks:
    - user: {name: carol}
      register: carol
    - getent: {database: shadow, key: carol}
    - getent: {database: group, key: adm}
    - assert:
        that:
          - carol is not changed
          - carol.uid == 4300 and carol.group == 4242 and carol.home == '/home/carol'
          - carol.shell == '/bin/sh' and carol.comment == 'Carol Example'
          - getent_shadow['carol'][6] == '29281'
          - getent_shadow['carol'][3] == '90'
          - "'carol' in getent_group['adm'][2].split(',')"
    - getent: {database: passwd, key: nosuchuser}
      register: missing
      ignore_errors: true
    - getent: {database: passwd, key: nosuchuser, fail_key: false}
      register: tolerated
    - assert:
        that:
          - missing is failed
          - missing.msg == 'One or more supplied key could not be found in the database.'
          - tolerated is not failed and getent_passwd['nosuchuser'] is none
    - user: {name: carol, generate_ssh_key: true}
      register: key
    - assert:
        that:
          - key is not changed
          - key.ssh_public_key is search('^ssh-rsa ')
          - key.ssh_key_file == '/home/carol/.ssh/id_rsa'
"#;

#[test]
fn user_group_and_getent_manage_accounts_on_an_isolated_host() {
    let fleet = Fleet::builder().hosts(2).isolated(true).start();
    let host2_passwd = read(fleet.hosts[1].fs_path("/etc/passwd"));
    let host1 = &fleet.hosts[0];
    std::fs::write(fleet.path("accounts.yml"), ACCOUNTS_PLAY).unwrap();
    std::fs::write(fleet.path("verify.yml"), ACCOUNTS_VERIFY).unwrap();

    // Check mode: both would change, nothing is created.
    herd(&fleet)
        .args(["play", "accounts.yml", "--check"])
        .run()
        .success()
        .stdout_has("changed=2");
    assert!(!read(host1.fs_path("/etc/passwd")).contains("carol:"));
    assert!(!read(host1.fs_path("/etc/group")).contains("deploy:"));

    herd(&fleet)
        .args(["play", "accounts.yml"])
        .run()
        .success()
        .stdout_has("changed=2");
    let passwd = read(host1.fs_path("/etc/passwd"));
    assert!(
        passwd.contains("carol:x:4300:4242:Carol Example:/home/carol:/bin/sh\n"),
        "{passwd}"
    );
    let shadow = read(host1.fs_path("/etc/shadow"));
    assert!(shadow.contains("carol:$6$rounds=656000$TT4O7"), "{shadow}");
    let key = host1.fs_path("/home/carol/.ssh/id_rsa");
    assert!(key.exists());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&key).unwrap().uid(), 4300);

    // Again: nothing to do; the facts and fields say what the host has.
    herd(&fleet)
        .args(["play", "accounts.yml"])
        .run()
        .success()
        .stdout_has("changed=0");
    herd(&fleet)
        .args(["play", "verify.yml"])
        .run()
        .success()
        .stdout_has("failed=0");

    // Changes: groups emptied, password locked, expiry removed.
    std::fs::write(
        fleet.path("change.yml"),
        "- hosts: host1\n  gather_facts: false\n  tasks:\n\
         \x20   - user: {name: carol, groups: [], password_lock: true, expires: -1}\n",
    )
    .unwrap();
    for expected in ["changed=1", "changed=0"] {
        herd(&fleet)
            .args(["play", "change.yml"])
            .run()
            .success()
            .stdout_has(expected);
    }
    let shadow = read(host1.fs_path("/etc/shadow"));
    let line = shadow.lines().find(|l| l.starts_with("carol:")).unwrap();
    assert!(line.starts_with("carol:!$6$"), "{line}");
    assert_eq!(line.split(':').nth(7), Some(""), "{line}");
    let adm = read(host1.fs_path("/etc/group"));
    let adm = adm.lines().find(|l| l.starts_with("adm:")).unwrap();
    assert!(!adm.contains("carol"), "{adm}");

    // A group that is a user's primary group is deleted only with force.
    std::fs::write(
        fleet.path("remove.yml"),
        "- hosts: host1\n  gather_facts: false\n  tasks:\n\
         \x20   - group: {name: deploy, state: absent}\n      register: plain\n      ignore_errors: true\n\
         \x20   - assert: {that: [plain is failed]}\n\
         \x20   - user: {name: carol, state: absent, remove: true}\n\
         \x20   - group: {name: deploy, state: absent}\n",
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "remove.yml"])
        .run()
        .success()
        .stdout_has("changed=2");
    assert!(!read(host1.fs_path("/etc/passwd")).contains("carol:"));
    assert!(!read(host1.fs_path("/etc/group")).contains("deploy:"));
    assert!(!host1.fs_path("/home/carol").exists());

    // The other host and the machine are untouched.
    assert_eq!(read(fleet.hosts[1].fs_path("/etc/passwd")), host2_passwd);
    // (Only carol: other runs on the machine may add accounts meanwhile.)
    assert!(!read("/etc/passwd").contains("carol:"));
    assert!(!read("/etc/group").contains("deploy:"));
}

/// `~` in a path is the home of the user a task runs as (the become user),
/// on the host, as in Ansible.
const HOME_PLAY: &str = "\
- hosts: host1
  gather_facts: false
  tasks:
    - user: {name: dora, uid: 4400, home: /home/dora, create_home: true}
    - name: as dora
      become: true
      become_user: dora
      block:
        - copy: {content: \"a\\n\", dest: ~/a.txt, mode: '0644'}
        - template: {src: t.j2, dest: '~/b.txt'}
        - file: {path: ~/c, state: touch}
        - stat: {path: ~/a.txt}
          register: a
        - find: {paths: ~/, patterns: '*.txt'}
          register: found
        - assert:
            that:
              - a.stat.exists and a.stat.pw_name == 'dora'
              - found.files | map(attribute='path') | sort == ['/home/dora/a.txt', '/home/dora/b.txt']
";

#[test]
fn a_tilde_path_is_the_become_users_home() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    std::fs::write(fleet.path("home.yml"), HOME_PLAY).unwrap();
    std::fs::create_dir_all(fleet.path("templates")).unwrap();
    std::fs::write(fleet.path("templates/t.j2"), "b {{ 1 + 1 }}\n").unwrap();
    herd(&fleet)
        .args(["play", "home.yml"])
        .run()
        .success()
        .stdout_has("failed=0");
    use std::os::unix::fs::MetadataExt;
    let host1 = &fleet.hosts[0];
    for (name, text) in [("a.txt", "a\n"), ("b.txt", "b 2\n"), ("c", "")] {
        let path = host1.fs_path(&format!("/home/dora/{name}"));
        assert_eq!(read(&path), text, "{name}");
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), 4400, "{name}");
    }
    // Again: nothing changes but the touch.
    herd(&fleet)
        .args(["play", "home.yml"])
        .run()
        .success()
        .stdout_has("changed=1");
}

#[test]
fn dropping_an_isolated_fleet_ends_its_processes_and_mounts() {
    let fleet = Fleet::builder().hosts(2).isolated(true).start();
    let inits: Vec<i32> = fleet.hosts.iter().map(|h| h.namespace().init_pid).collect();
    let sshds: Vec<i32> = fleet
        .hosts
        .iter()
        .map(|h| h.sshd_pid().expect("sshd runs"))
        .collect();
    // The host's mounts are its own: none shows in the machine's table.
    let mounts = read("/proc/self/mountinfo");
    assert!(!mounts.contains("herd-host"), "{mounts}");
    assert!(
        !mounts.contains(&fleet.dir.display().to_string()),
        "{mounts}"
    );
    drop(fleet);
    for pid in inits.iter().chain(&sshds) {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived its fleet"
        );
    }
}

/// Wall time of `herd run all -- true`, checking every host answered.
fn timed_run(fleet: &Fleet) -> Duration {
    let started = Instant::now();
    herd(fleet)
        .args(["run", "all", "--", "true"])
        .run()
        .success()
        .stdout_has(&format!("{} ok", fleet.hosts.len()));
    started.elapsed()
}

#[test]
fn latency_on_the_wire_slows_every_handshake() {
    let rtt = Duration::from_millis(100);
    let fleet = Fleet::builder().hosts(10).rtt(rtt).start();
    // An SSH command costs at least: banner, key exchange, service request,
    // auth, channel open, exec: over 5 round trips. Assert 4.
    let floor = rtt * 4;
    let slow = timed_run(&fleet);
    assert!(
        slow >= floor,
        "10 hosts at 100 ms RTT took {slow:?} (< {floor:?})"
    );

    // The same links without latency: the run does not take that long (the
    // best of 3, so a busy machine does not fail it).
    for host in &fleet.hosts {
        host.link().set_rtt(Duration::ZERO);
    }
    let fast = (0..3).map(|_| timed_run(&fleet)).find(|t| *t < floor);
    assert!(
        fast.is_some(),
        "without latency every run took >= {floor:?}"
    );
}

#[test]
fn an_isolated_hosts_sshd_can_be_killed_restarted_rekeyed_and_frozen() {
    let mut fleet = Fleet::builder().hosts(2).isolated(true).proxied().start();
    all_ok(&fleet);

    // kill -9: host1 is gone, host2 serves.
    fleet.hosts[0].kill_sshd();
    let after_kill = statuses(&fleet, "all");
    assert_ne!(after_kill[0].1, "ok", "{after_kill:?}");
    assert_eq!(after_kill[1].1, "ok", "{after_kill:?}");

    // Restarted with the same key: reachable again, the host's state kept.
    fleet.hosts[0].sh("echo kept > /etc/marker");
    fleet.hosts[0].restart_sshd(false);
    let out = run_json(&fleet, "host1", "cat /etc/marker");
    assert_eq!(out["host1"], (0, "kept\n".to_string()));

    // Frozen (every process SIGSTOPped): connections hang until the timeout.
    fleet.hosts[0].freeze();
    let started = Instant::now();
    let frozen = statuses(&fleet, "host1");
    assert_ne!(frozen[0].1, "ok", "{frozen:?}");
    assert!(frozen[0].2.contains("timed out"), "{frozen:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    fleet.hosts[0].thaw();
    all_ok(&fleet);

    // A new host key: strict checking refuses host1 until known_hosts learns it.
    fleet.hosts[0].restart_sshd(true);
    let rekeyed = statuses(&fleet, "host1");
    assert_ne!(rekeyed[0].1, "ok", "{rekeyed:?}");
    assert!(rekeyed[0].2.to_lowercase().contains("key"), "{rekeyed:?}");
    fleet.write_client_files();
    all_ok(&fleet);

    // A tiny disk fills up.
    fleet.hosts[1].mount_tmpfs("/srv/tiny", 64);
    let out = run_json(
        &fleet,
        "host2",
        "{ head -c 200000 /dev/zero > /srv/tiny/blob; } 2>&1; df -k /srv/tiny",
    );
    let (_, stdout) = &out["host2"];
    assert!(stdout.contains("No space left on device"), "{stdout}");
    // ... on that host only.
    assert!(!fleet.hosts[1].fs_path("/srv/tiny").starts_with("/srv"));
    assert!(!std::path::Path::new("/srv/tiny").exists());
}

#[test]
fn a_cut_stalled_blackholed_or_reset_link_fails_or_delays_that_host_only() {
    let mut fleet = Fleet::builder().hosts(2).proxied().start();
    all_ok(&fleet);
    let link = fleet.hosts[0].link().clone();

    // Cut: host1 times out, host2 works; restored, host1 works again.
    link.cut();
    let cut = statuses(&fleet, "all");
    assert!(cut[0].2.contains("timed out"), "{cut:?}");
    assert_eq!(cut[1].1, "ok", "{cut:?}");
    link.restore();
    all_ok(&fleet);

    // Blackholed: nothing ever answers.
    link.blackhole();
    let hole = statuses(&fleet, "host1");
    assert!(hole[0].2.contains("timed out"), "{hole:?}");
    link.restore();
    all_ok(&fleet);

    // A stall delays, nothing is lost.
    link.stall(Duration::from_millis(1500));
    let started = Instant::now();
    all_ok(&fleet);
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Reset mid-command: the host fails now instead of answering later.
    let dir = fleet.dir.clone();
    let running = std::thread::spawn(move || {
        Herd::in_dir(&dir)
            .args([
                "run",
                "host1",
                "--format",
                "json",
                "--",
                "sleep 8; echo finished",
            ])
            .run()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while link.open_connections() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    link.reset();
    let out = running.join().unwrap();
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(!out.stdout.contains("finished"), "{}", out.stdout);

    // Bandwidth: 200 KB of output at 100 KB/s takes over 1.5 s.
    link.set_bandwidth(Some(100_000));
    let started = Instant::now();
    let out = run_json(&fleet, "host1", "head -c 150000 /dev/zero | base64");
    assert_eq!(out["host1"].0, 0);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    link.set_bandwidth(None);

    // The loopback fleet's controls: kill -9 and restart, freeze and thaw.
    fleet.hosts[1].kill_sshd();
    assert_ne!(statuses(&fleet, "host2")[0].1, "ok");
    fleet.hosts[1].restart_sshd(false);
    all_ok(&fleet);
    fleet.hosts[1].freeze();
    assert!(statuses(&fleet, "host2")[0].2.contains("timed out"));
    fleet.hosts[1].thaw();
    all_ok(&fleet);
}

#[test]
fn the_proxy_keeps_bytes_in_order_under_jitter_and_delays_a_close() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    // An upstream that echoes everything back, then closes.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = upstream.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => conn.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let listen = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let shape = fleet::Shape {
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(20),
        slow_close: Duration::from_millis(700),
        ..fleet::Shape::default()
    };
    let route = fleet::proxy::Route {
        listen,
        upstream: upstream_addr,
    };
    let (_proxies, links) = fleet::proxy::Proxies::start(&[route], &shape).unwrap();
    assert_eq!(links[0].shape(), shape);

    let mut client = TcpStream::connect(listen).unwrap();
    client.set_nodelay(true).unwrap();
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let chunk = format!("{i:05} ");
        client.write_all(chunk.as_bytes()).unwrap();
        sent.extend_from_slice(chunk.as_bytes());
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    let started = Instant::now();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).unwrap();
    // Every byte back, in order, despite up to 20 ms of jitter per chunk.
    assert_eq!(
        String::from_utf8_lossy(&echoed),
        String::from_utf8_lossy(&sent)
    );
    // Our close reached the upstream 700 ms late, and its close came back
    // 700 ms late again.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

/// Run by `a_killed_test_process_takes_its_isolated_hosts_along` in a child
/// process (ignored otherwise): starts an isolated host, prints its pids and
/// waits to be killed.
#[test]
#[ignore = "a helper: run in a child process by another test"]
fn helper_isolated_host_until_killed() {
    let Some(dir) = std::env::var_os("HERD_TEST_KILLED_FLEET") else {
        return;
    };
    // In the parent's scratch dir: nothing is left in /tmp when we are killed.
    let fleet = Fleet::builder()
        .hosts(1)
        .isolated(true)
        .dir(std::path::Path::new(&dir))
        .start();
    let host = &fleet.hosts[0];
    println!(
        "pids {} {}",
        host.namespace().init_pid,
        host.sshd_pid().expect("sshd runs")
    );
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_killed_test_process_takes_its_isolated_hosts_along() {
    use std::io::BufRead;
    let (_scratch, dir) = support::scratch();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "isolated::helper_isolated_host_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("HERD_TEST_KILLED_FLEET", &dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("pids "))
        .expect("the helper printed its host's pids");
    let pids: Vec<i32> = line[5..].split(' ').map(|p| p.parse().unwrap()).collect();
    // SIGKILL: no Drop, no unwinding; only PR_SET_PDEATHSIG and the PID
    // namespace can clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in pids {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "process {pid} outlived its test");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn cron_manages_its_jobs_and_keeps_everyone_elses_bytes() {
    let fleet = Fleet::builder().hosts(2).isolated(true).start();
    let host1 = &fleet.hosts[0];
    // Someone else's job, with a Latin-1 byte, already in root's crontab.
    let foreign = b"# caf\xe9\n0 4 * * * /usr/local/bin/nightly\n";
    std::fs::write(fleet.path("foreign.cron"), foreign).unwrap();
    let installed = host1.sh(&format!("crontab {}", fleet.path("foreign.cron").display()));
    assert!(installed.status.success(), "{installed:?}");
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - name: nightly backup\n      cron:\n        name: backup\n        minute: \"30\"\n        hour: \"2\"\n        job: /usr/local/bin/backup --all\n\
         \x20   - name: MAILTO for the backup\n      cron:\n        name: MAILTO\n        env: true\n        job: ops@example.org\n\
         \x20   - name: a system job file\n      cron:\n        name: rotate\n        cron_file: herd-rotate\n        user: root\n        special_time: daily\n        job: /usr/sbin/logrotate /etc/logrotate.conf\n",
    )
    .unwrap();

    // Check mode changes nothing.
    herd(&fleet)
        .args(["play", "site.yml", "--check"])
        .run()
        .success()
        .stdout_has("changed=3");
    let crontab = |h: &fleet::FleetHost| h.sh("crontab -l").stdout;
    assert_eq!(crontab(host1), foreign);

    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=3");
    let mut expected = b"MAILTO=\"ops@example.org\"\n".to_vec();
    expected.extend_from_slice(foreign);
    expected.extend_from_slice(b"#Ansible: backup\n30 2 * * * /usr/local/bin/backup --all\n");
    assert_eq!(
        String::from_utf8_lossy(&crontab(host1)),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(
        crontab(host1),
        expected,
        "the foreign bytes are kept exactly"
    );
    for host in &fleet.hosts {
        assert_eq!(
            read(host.fs_path("/etc/cron.d/herd-rotate")),
            "#Ansible: rotate\n@daily root /usr/sbin/logrotate /etc/logrotate.conf\n"
        );
    }

    // A rerun changes nothing; removing the last job removes the file.
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=0");
    std::fs::write(
        fleet.path("remove.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - cron:\n        name: rotate\n        cron_file: herd-rotate\n        state: absent\n",
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "remove.yml"])
        .run()
        .success()
        .stdout_has("changed=1");
    assert!(!host1.fs_path("/etc/cron.d/herd-rotate").exists());
}

#[test]
fn sysctl_writes_the_file_reloads_it_and_then_changes_nothing() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    // The kernel is the machine's: set a value to what it already is, so
    // the reload (`sysctl -p`) is real and harmless.
    let swappiness = read("/proc/sys/vm/swappiness").trim().to_string();
    std::fs::write(
        host.fs_path("/etc/sysctl.d/60-herd.conf"),
        "# tuned by hand\n  vm.swappiness = 1\nkernel.panic = 10\n",
    )
    .unwrap();
    std::fs::write(
        fleet.path("site.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - ansible.posix.sysctl:\n        name: vm.swappiness\n        value: \"{swappiness}\"\n        sysctl_file: /etc/sysctl.d/60-herd.conf\n\
             \x20   - sysctl:\n        name: kernel.panic\n        state: absent\n        sysctl_file: /etc/sysctl.d/60-herd.conf\n        reload: false\n"
        ),
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "site.yml", "--check"])
        .run()
        .success()
        .stdout_has("changed=2");
    assert!(read(host.fs_path("/etc/sysctl.d/60-herd.conf")).contains("vm.swappiness = 1"));
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=2");
    assert_eq!(
        read(host.fs_path("/etc/sysctl.d/60-herd.conf")),
        format!("# tuned by hand\nvm.swappiness={swappiness}\n")
    );
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=0");
}

#[test]
fn mount_writes_fstab_mounts_and_unmounts() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    let fstab_before = read(host.fs_path("/etc/fstab"));
    let play = |state: &str, opts: &str| {
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - ansible.posix.mount:\n        path: /mnt/herd data\n        src: tmpfs\n        fstype: tmpfs\n        opts: {opts}\n        state: {state}\n"
        )
    };
    let mounted = |h: &fleet::FleetHost| {
        h.sh("mountpoint -q '/mnt/herd data' && echo yes || echo no")
            .stdout
    };
    std::fs::write(fleet.path("site.yml"), play("mounted", "size=1m")).unwrap();
    herd(&fleet)
        .args(["play", "site.yml", "--check"])
        .run()
        .success()
        .stdout_has("changed=1");
    assert_eq!(mounted(host), b"no\n");
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=1");
    assert_eq!(mounted(host), b"yes\n");
    assert_eq!(
        read(host.fs_path("/etc/fstab")),
        format!("{fstab_before}tmpfs /mnt/herd\\040data tmpfs size=1m 0 0\n")
    );
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=0");

    // New options: the line changes and the mount is remounted with them.
    std::fs::write(fleet.path("site.yml"), play("mounted", "size=2m")).unwrap();
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=1");
    let options = host.sh("findmnt -no OPTIONS '/mnt/herd data'").stdout;
    assert!(
        String::from_utf8_lossy(&options).contains("size=2048k"),
        "{}",
        String::from_utf8_lossy(&options)
    );

    std::fs::write(fleet.path("site.yml"), play("absent", "size=2m")).unwrap();
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("changed=1");
    assert_eq!(mounted(host), b"no\n");
    assert_eq!(read(host.fs_path("/etc/fstab")), fstab_before);
    assert!(!host.fs_path("/mnt/herd data").exists());
}

#[test]
fn package_facts_service_facts_and_setup_report_the_host_as_ansible_does() {
    let fleet = Fleet::builder().hosts(2).isolated(true).start();
    // host2 has no Python at all: its Python facts are simply absent. Nor
    // has it `service`: service_facts asks the init.d scripts itself.
    let gone = fleet.hosts[1].sh(
        "rm -rf /usr/bin/python3 /usr/bin/python3.* /usr/bin/python /root/.pyenv /usr/sbin/service; \
         ! command -v python3 && ! command -v service",
    );
    assert!(gone.status.success(), "{gone:?}");
    std::fs::write(
        fleet.path("site.yml"),
        r#"- hosts: host1
  gather_subset: "!all"
  tasks:
    - copy:
        dest: /tmp/min
        content: "{{ ansible_hostname is defined }} {{ ansible_mounts is defined }} {{ ansible_virtualization_type is defined }}"
- hosts: all
  tasks:
    - package_facts:
        manager: auto
    - name: a SysV script whose service runs, and one whose service is stopped
      copy:
        dest: "/etc/init.d/herd-{{ item }}"
        mode: "0755"
        content: |
          #!/bin/sh
          case "$1" in
            status)
              if [ -e /run/herd-{{ item }}.up ]; then echo "herd-{{ item }} is running"
              else echo "herd-{{ item }} is not running"; exit 3; fi ;;
            *) exit 0 ;;
          esac
      loop: [up, down]
    - file:
        path: /run/herd-up.up
        state: touch
        setype: var_run_t
        seuser: system_u
    - service_facts:
    - command:
        cmd: "true"
        warn: false
      register: warned
    - copy:
        dest: /tmp/facts.json
        content: "{{ {'dpkg': ansible_facts.packages['dpkg'], 'up': ansible_facts.services['herd-up'], 'down': ansible_facts.services['herd-down'], 'mounts': ansible_mounts, 'selinux': ansible_selinux, 'memory': ansible_memory_mb, 'fips': ansible_fips, 'python': ansible_python | default('none'), 'python_version': ansible_python_version | default('none'), 'virt': [ansible_virtualization_type, ansible_virtualization_role], 'warnings': warned.warnings} | to_json }}"
    - name: decided on the packages
      copy:
        dest: /tmp/no-nginx
        content: "no nginx here"
      when: "'nginx' not in ansible_facts.packages and 'dpkg' in packages"
"#,
    )
    .unwrap();
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("failed=0");
    // A play's `gather_subset` reaches the gathering: minimal facts only.
    assert_eq!(read(fleet.hosts[0].fs_path("/tmp/min")), "True False False");
    for (i, host) in fleet.hosts.iter().enumerate() {
        let facts: serde_json::Value =
            serde_json::from_str(&read(host.fs_path("/tmp/facts.json"))).unwrap();
        assert!(host.fs_path("/tmp/no-nginx").exists(), "{}", host.name);
        // The packages, as dpkg knows them.
        let dpkg = host.sh("dpkg-query -W -f='${Version} ${Architecture} ${Section}' dpkg");
        let dpkg = String::from_utf8_lossy(&dpkg.stdout).to_string();
        let words: Vec<&str> = dpkg.split(' ').collect();
        assert_eq!(
            facts["dpkg"],
            serde_json::json!([{"name": "dpkg", "version": words[0], "arch": words[1],
                "category": words[2], "origin": "", "source": "apt"}])
        );
        // The SysV services, by their scripts' status.
        assert_eq!(
            facts["up"],
            serde_json::json!({"name": "herd-up", "state": "running", "source": "sysv"})
        );
        assert_eq!(facts["down"]["state"], "stopped");
        // Mounts: those /proc/mounts lists with a device path, measured.
        let listed =
            host.sh("awk '$1 ~ /^\\// && $3 != \"none\" && !seen[$2]++ {print $2}' /proc/mounts");
        let listed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .map(String::from)
            .collect();
        let mounts = facts["mounts"].as_array().unwrap();
        let points: Vec<String> = mounts
            .iter()
            .map(|m| m["mount"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(points, listed, "{}", host.name);
        for m in mounts {
            assert!(m["device"].as_str().unwrap().starts_with('/'), "{m}");
            assert!(
                m["size_total"].as_u64() >= m["size_available"].as_u64(),
                "{m}"
            );
            assert!(m["block_total"].as_u64().unwrap() > 0, "{m}");
        }
        assert_eq!(facts["selinux"], serde_json::json!({"status": "disabled"}));
        assert_eq!(facts["fips"], false);
        let meminfo_kb: i64 = read("/proc/meminfo")
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(facts["memory"]["real"]["total"], meminfo_kb / 1024);
        assert!(facts["memory"]["nocache"]["free"].as_i64().unwrap() > 0);
        let role = facts["virt"][1].as_str().unwrap();
        assert!(["guest", "host", "NA"].contains(&role), "{}", facts["virt"]);
        assert!(!facts["virt"][0].as_str().unwrap().is_empty());
        assert!(facts["warnings"][0].as_str().unwrap().contains("'warn'"));
        if i == 0 {
            // The interpreter Ansible would discover: /usr/bin/python3.
            let version = String::from_utf8_lossy(
                &host
                    .sh("/usr/bin/python3 -c 'import platform; print(platform.python_version())'")
                    .stdout,
            )
            .trim()
            .to_string();
            assert_eq!(facts["python_version"], version.as_str());
            assert_eq!(facts["python"]["type"], "cpython");
            assert!(
                facts["python"]["executable"]
                    .as_str()
                    .unwrap()
                    .contains("python")
            );
        } else {
            assert_eq!(facts["python"], "none");
            assert_eq!(facts["python_version"], "none");
        }
    }
}

#[test]
fn reset_connection_logs_in_again_for_the_next_task() {
    let fleet = Fleet::builder().hosts(1).isolated(true).start();
    let host = &fleet.hosts[0];
    // The client port in `$SSH_CONNECTION` names the TCP connection: the
    // same for every task until the reset, a new one after it.
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - shell: echo $SSH_CONNECTION | cut -d' ' -f2\n      register: first\n\
         \x20   - shell: echo $SSH_CONNECTION | cut -d' ' -f2\n      register: second\n\
         \x20   - meta: reset_connection\n\
         \x20   - shell: echo $SSH_CONNECTION | cut -d' ' -f2\n      register: third\n\
         \x20   - copy:\n        dest: /tmp/sessions\n        content: \"{{ first.stdout }} {{ second.stdout }} {{ third.stdout }}\"\n",
    )
    .unwrap();
    let logins = |h: &fleet::FleetHost| h.log_text().matches("Accepted publickey").count();
    let before = logins(host);
    herd(&fleet)
        .args(["play", "site.yml"])
        .run()
        .success()
        .stdout_has("failed=0");
    let sessions = read(host.fs_path("/tmp/sessions"));
    // The client port of each task's SSH connection.
    let ports: Vec<&str> = sessions.split_whitespace().collect();
    assert_eq!(ports.len(), 3, "{sessions}");
    assert_eq!(
        ports[0], ports[1],
        "one connection until the reset: {sessions}"
    );
    assert_ne!(ports[1], ports[2], "a new connection after it: {sessions}");
    assert_eq!(
        logins(host) - before,
        2,
        "one login before the reset, one after"
    );
}
