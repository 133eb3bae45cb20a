//! The SSH transport against real sshd hosts (see tests/it/fleet).

use crate::fleet;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::Fleet;
use herd::project::HostKeyChecking;
use herd::ssh::{
    ConnectError, ExecError, ExecOptions, HostSpec, Pool, PutOptions, Secret, SshOptions, Target,
    TransferError,
};

/// Options that read nothing from this machine's user: home is the fleet
/// dir, the fleet's ssh_config, no agent, no prompts.
fn options(fleet: &Fleet) -> SshOptions {
    SshOptions {
        config_file: Some(fleet.ssh_config.clone()),
        ..SshOptions::isolated(&fleet.dir)
    }
}

/// Options without any ssh config: only inventory-style inputs count.
fn bare_options(fleet: &Fleet, home: &Path) -> SshOptions {
    SshOptions {
        known_hosts: vec![fleet.known_hosts.clone()],
        ..SshOptions::isolated(home)
    }
}

/// Inventory-style inputs for host `i` with `key`.
fn spec(fleet: &Fleet, i: usize, key: &Path) -> HostSpec {
    HostSpec {
        address: Some(fleet.hosts[i].addr.to_string()),
        port: Some(fleet.hosts[i].port),
        user: Some(fleet.user.clone()),
        private_key_file: Some(key.to_path_buf()),
        ssh_options: Vec::new(),
    }
}

fn target(fleet: &Fleet, name: &str) -> Target {
    Target::resolve(name, &HostSpec::default(), &options(fleet)).unwrap()
}

fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "herd-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn authorize(fleet: &Fleet, i: usize, public_key: &Path) {
    use std::io::Write;
    let line = std::fs::read_to_string(public_key).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&fleet.hosts[i].authorized_keys)
        .unwrap();
    file.write_all(line.as_bytes()).unwrap();
}

fn pub_path(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}

fn accepted_logins(fleet: &Fleet, i: usize) -> usize {
    fleet.hosts[i]
        .log_text()
        .matches("Accepted publickey")
        .count()
}

async fn echo(pool: &Pool, target: &Target) -> String {
    let conn = pool.connect(target).await.unwrap();
    let out = conn
        .exec("echo hello", &ExecOptions::default())
        .await
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn exec_reports_exit_codes_output_signals_stdin_and_env() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let run = |cmd: &'static str, opts: ExecOptions| {
        let conn = conn.clone();
        async move { conn.exec(cmd, &opts).await.unwrap() }
    };

    let out = run("echo out; echo err >&2; exit 3", ExecOptions::default()).await;
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert!(!out.success());

    let out = run("kill -TERM $$", ExecOptions::default()).await;
    assert_eq!((out.exit_code, out.signal.as_deref()), (None, Some("TERM")));

    let stdin = ExecOptions {
        stdin: Some(b"line one\nline two\n".to_vec()),
        ..ExecOptions::default()
    };
    assert_eq!(run("wc -l", stdin).await.stdout, b"2\n");
    // Without stdin, a command reading it sees EOF instead of hanging.
    assert_eq!(
        run("cat; echo done", ExecOptions::default()).await.stdout,
        b"done\n"
    );

    let env = ExecOptions {
        env: vec![("GREETING".into(), "it's here".into())],
        ..ExecOptions::default()
    };
    assert_eq!(run("echo \"$GREETING\"", env).await.stdout, b"it's here\n");
    let bad = ExecOptions {
        env: vec![("BAD-NAME".into(), "x".into())],
        ..ExecOptions::default()
    };
    assert!(matches!(
        conn.exec("true", &bad).await,
        Err(ExecError::BadEnv { .. })
    ));
    pool.close_all().await;
}

#[tokio::test]
async fn captured_output_is_capped() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(SshOptions {
        output_limit: 1000,
        ..options(&fleet)
    });
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let out = conn
        .exec(
            "head -c 100000 /dev/zero; echo small >&2",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    assert!(!out.stderr_truncated);
}

#[tokio::test]
async fn rsa_and_ecdsa_keys_authenticate() {
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    for kind in ["rsa", "ecdsa"] {
        let key = home.path().join(format!("id_{kind}"));
        keygen(&key, kind, "");
        authorize(&fleet, 0, &pub_path(&key));
        let opts = bare_options(&fleet, home.path());
        let target = Target::resolve("host1", &spec(&fleet, 0, &key), &opts).unwrap();
        let pool = Pool::new(opts);
        assert_eq!(echo(&pool, &target).await, "hello\n", "{kind}");
        pool.close_all().await;
    }
}

#[tokio::test]
async fn passphrase_protected_key_needs_the_passphrase() {
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("id_locked");
    keygen(&key, "ed25519", "correct horse");
    authorize(&fleet, 0, &pub_path(&key));
    let opts = bare_options(&fleet, home.path());
    let target = Target::resolve("host1", &spec(&fleet, 0, &key), &opts).unwrap();

    let err = Pool::new(opts.clone()).connect(&target).await.unwrap_err();
    assert!(matches!(err, ConnectError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("HERD_KEY_PASSPHRASE"), "{err}");

    let err = Pool::new(SshOptions {
        key_passphrase: Some(Secret::new("wrong horse")),
        ..opts.clone()
    })
    .connect(&target)
    .await
    .unwrap_err();
    assert!(!err.to_string().contains("wrong horse"), "{err}");

    let pool = Pool::new(SshOptions {
        key_passphrase: Some(Secret::new("correct horse")),
        ..opts
    });
    assert_eq!(echo(&pool, &target).await, "hello\n");
}

/// An ssh-agent for one test, killed on drop.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent = Agent { child, socket };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !agent.socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        agent
    }

    fn add(&self, key: &Path) {
        let status = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn agent_identities_authenticate() {
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    let agent = Agent::start(home.path());
    let key = home.path().join("agent_key");
    keygen(&key, "ed25519", "");
    authorize(&fleet, 0, &pub_path(&key));
    agent.add(&key);
    // Only the agent has the key now.
    std::fs::remove_file(&key).unwrap();

    let opts = SshOptions {
        agent_socket: Some(agent.socket.clone()),
        ..bare_options(&fleet, home.path())
    };
    let spec = HostSpec {
        private_key_file: None,
        ..spec(&fleet, 0, &key)
    };
    let target = Target::resolve("host1", &spec, &opts).unwrap();
    let pool = Pool::new(opts);
    assert_eq!(echo(&pool, &target).await, "hello\n");
    pool.close_all().await;
}

#[tokio::test]
async fn certificate_login_without_authorized_key() {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("user_ca");
    keygen(&ca, "ed25519", "");
    let fleet = Fleet::builder()
        .hosts(1)
        .sshd_config(&format!("TrustedUserCAKeys {}", pub_path(&ca).display()))
        .start();
    let key = ca_dir.path().join("id_cert_user");
    keygen(&key, "ed25519", "");
    let opts = bare_options(&fleet, ca_dir.path());
    let target = Target::resolve("host1", &spec(&fleet, 0, &key), &opts).unwrap();

    // Not in authorized_keys and no certificate yet: refused.
    let err = Pool::new(opts.clone()).connect(&target).await.unwrap_err();
    assert!(matches!(err, ConnectError::Auth { .. }), "{err}");

    let status = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "herd-test", "-n", &fleet.user])
        .arg(pub_path(&key))
        .status()
        .unwrap();
    assert!(status.success());
    let pool = Pool::new(opts);
    assert_eq!(echo(&pool, &target).await, "hello\n");
    assert!(
        fleet.hosts[0].log_text().contains("Accepted publickey")
            || fleet.hosts[0].log_text().contains("CERT")
    );
}

#[tokio::test]
async fn proxy_jump_goes_through_the_bastion_and_shares_it() {
    // The bastion (host1) may only forward to host2: a connection to host3
    // "through" it fails, which proves traffic really takes that route.
    let fleet = Fleet::builder()
        .hosts(3)
        .sshd_config("PermitOpen 127.0.0.3:*")
        .start();
    let opts = options(&fleet);
    let via = |name: &str| {
        let spec = HostSpec {
            ssh_options: vec![("ProxyJump".into(), "host1".into())],
            ..HostSpec::default()
        };
        Target::resolve(name, &spec, &opts).unwrap()
    };
    let pool = Pool::new(opts.clone());
    let behind = via("host2");
    assert_eq!(behind.jump.as_ref().unwrap().name, "host1");
    assert_eq!(echo(&pool, &behind).await, "hello\n");
    assert_eq!(accepted_logins(&fleet, 1), 1);

    let err = pool.connect(&via("host3")).await.unwrap_err();
    assert!(matches!(err, ConnectError::Proxy { .. }), "{err}");
    assert_eq!(accepted_logins(&fleet, 2), 0);

    // The bastion connection is the pool's connection to host1.
    assert_eq!(echo(&pool, &target(&fleet, "host1")).await, "hello\n");
    assert_eq!(accepted_logins(&fleet, 0), 1);
    pool.close_all().await;
}

fn write_known_hosts(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn changed_host_key_is_refused_naming_file_and_line() {
    let fleet = Fleet::builder().hosts(2).start();
    let home = tempfile::tempdir().unwrap();
    let kh = home.path().join("known_hosts");
    // host1 recorded with host2's key on line 3.
    write_known_hosts(
        &kh,
        &[
            "# herd test".into(),
            format!(
                "{} {}",
                fleet.hosts[1].known_hosts_name(),
                fleet.hosts[1].public_key()
            ),
            format!(
                "{} {}",
                fleet.hosts[0].known_hosts_name(),
                fleet.hosts[1].public_key()
            ),
        ],
    );
    for mode in [HostKeyChecking::Strict, HostKeyChecking::AcceptNew] {
        let opts = SshOptions {
            known_hosts: vec![kh.clone()],
            host_key_checking: Some(mode),
            ..SshOptions::isolated(home.path())
        };
        let target = Target::resolve("host1", &spec(&fleet, 0, &fleet.client_key), &opts).unwrap();
        let err = Pool::new(opts).connect(&target).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConnectError::HostKeyChanged { line: 3, .. }),
            "{text}"
        );
        assert!(text.contains("HOST KEY CHANGED for host1"), "{text}");
        assert!(text.contains(&format!("{}:3", kh.display())), "{text}");
        assert!(text.contains("has a different ed25519 key"), "{text}");
        assert!(
            text.contains(&format!(
                "ssh-keygen -R '{}'",
                fleet.hosts[0].known_hosts_name()
            )),
            "{text}"
        );
    }
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 3);
    // Off accepts anything.
    let opts = SshOptions {
        known_hosts: vec![kh.clone()],
        host_key_checking: Some(HostKeyChecking::Off),
        ..SshOptions::isolated(home.path())
    };
    let target = Target::resolve("host1", &spec(&fleet, 0, &fleet.client_key), &opts).unwrap();
    assert_eq!(echo(&Pool::new(opts), &target).await, "hello\n");
}

#[tokio::test]
async fn unknown_host_key_is_refused_in_strict_mode() {
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    let opts = SshOptions::isolated(home.path());
    let target = Target::resolve("host1", &spec(&fleet, 0, &fleet.client_key), &opts).unwrap();
    let err = Pool::new(opts).connect(&target).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConnectError::HostKeyUnknown { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "host key for [127.0.0.2]:{port} is not known; add it with `ssh-keyscan -p {port} 127.0.0.2 >> ~/.ssh/known_hosts` or use --host-key-checking accept-new",
            port = fleet.port
        )),
        "{text}"
    );
    assert!(!home.path().join(".ssh/known_hosts").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_learns_each_host_once_under_parallel_connects() {
    let fleet = Fleet::builder().hosts(4).start();
    let home = tempfile::tempdir().unwrap();
    let kh = home.path().join("learned_known_hosts");
    let opts = SshOptions {
        known_hosts: vec![kh.clone()],
        host_key_checking: Some(HostKeyChecking::AcceptNew),
        ..SshOptions::isolated(home.path())
    };
    // Two pools (like two herd runs) race for every host at once.
    let pools = [Pool::new(opts.clone()), Pool::new(opts.clone())];
    let mut tasks = Vec::new();
    for pool in &pools {
        for i in 0..fleet.hosts.len() {
            let target = Target::resolve(
                &fleet.hosts[i].name,
                &spec(&fleet, i, &fleet.client_key),
                &opts,
            )
            .unwrap();
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move { echo(&pool, &target).await }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), "hello\n");
    }
    let text = std::fs::read_to_string(&kh).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    let mut expected: Vec<String> = fleet
        .hosts
        .iter()
        .map(|h| format!("{} {}", h.known_hosts_name(), h.public_key()))
        .collect();
    expected.sort();
    assert_eq!(lines, expected, "{text}");

    // The learned file is enough for a strict run.
    let strict = SshOptions {
        host_key_checking: Some(HostKeyChecking::Strict),
        ..opts
    };
    let pool = Pool::new(strict.clone());
    for i in 0..fleet.hosts.len() {
        let target = Target::resolve(
            &fleet.hosts[i].name,
            &spec(&fleet, i, &fleet.client_key),
            &strict,
        )
        .unwrap();
        assert_eq!(echo(&pool, &target).await, "hello\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_cancellation_close_their_channels() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    // A sleep only this test process runs, so other runs' leftovers on the
    // machine do not count (the fleet's hosts share one process table).
    let seconds = 3_000_000 + std::process::id() % 1_000_000;
    let sleep = format!("sleep {seconds}");
    let quick = ExecOptions {
        timeout: Some(Duration::from_millis(300)),
        ..ExecOptions::default()
    };
    // Three times MaxSessions: leaked sessions would exhaust the server.
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (conn, quick, sleep) = (conn.clone(), quick.clone(), sleep.clone());
        tasks.push(tokio::spawn(async move { conn.exec(&sleep, &quick).await }));
    }
    for task in tasks {
        let result = task.await.unwrap();
        assert!(
            matches!(result, Err(ExecError::Timeout { .. })),
            "{result:?}"
        );
    }
    // Dropped futures (Ctrl-C) close their channels too.
    for _ in 0..12 {
        let cancelled = tokio::time::timeout(
            Duration::from_millis(200),
            conn.exec(&sleep, &ExecOptions::default()),
        )
        .await;
        assert!(cancelled.is_err());
    }
    let out = conn
        .exec("echo still fine", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still fine\n");
    // And no command is left running on the host (the kills are sent
    // asynchronously: allow a loaded machine a few seconds).
    let count = format!("pgrep -f '^sleep {seconds}$' | wc -l");
    let mut left = String::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let out = conn.exec(&count, &ExecOptions::default()).await.unwrap();
        left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if left == "0" {
            break;
        }
    }
    assert_eq!(left, "0", "sleeps still running on the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_shares_one_connection_per_host() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(options(&fleet));
    let target = target(&fleet, "host1");
    let (a, b) = tokio::join!(pool.connect(&target), pool.connect(&target));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let conn = a.clone();
        tasks.push(tokio::spawn(async move {
            conn.exec(&format!("echo {i}"), &ExecOptions::default())
                .await
                .unwrap()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().stdout, format!("{i}\n").into_bytes());
    }
    assert_eq!(accepted_logins(&fleet, 0), 1);
    pool.close_all().await;
}

#[tokio::test]
async fn put_get_stat_sha256_round_trip_and_atomic_failure() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let dir = fleet.hosts[0].root.clone();
    let path = dir.join("data.bin");
    let remote = path.to_str().unwrap();

    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(conn.stat(remote).await.unwrap(), None);
    assert_eq!(conn.sha256(remote).await.unwrap(), None);
    let opts = PutOptions {
        mode: Some(0o640),
        ..PutOptions::default()
    };
    conn.put(&data[..], remote, &opts).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);

    let stat = conn.stat(remote).await.unwrap().unwrap();
    assert_eq!(
        (stat.size, stat.mode, stat.is_file, stat.is_dir),
        (data.len() as u64, 0o640, true, false)
    );
    assert_eq!(stat.owner, fleet.user);
    let dir_stat = conn.stat(dir.to_str().unwrap()).await.unwrap().unwrap();
    assert!(dir_stat.is_dir);

    let expected = {
        use sha2::Digest;
        sha2::Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(conn.sha256(remote).await.unwrap(), Some(expected));

    let mut back = Vec::new();
    assert_eq!(
        conn.get(remote, &mut back).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(back, data);
    let err = conn
        .get(dir.join("nope").to_str().unwrap(), Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Remote { .. }), "{err}");

    // A failing upload leaves the old file and no temp file behind.
    let failing = FailingReader { left: 100_000 };
    let err = conn
        .put(failing, remote, &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Local { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), data);
    // Into a directory that does not exist: a remote error, nothing written.
    let err = conn
        .put(
            &b"x"[..],
            dir.join("missing/f").to_str().unwrap(),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Remote { .. }), "{err}");
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("data.bin")]);
}

/// Yields some bytes, then an I/O error.
struct FailingReader {
    left: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let n = self.left.min(buf.remaining()).min(8192);
        buf.put_slice(&vec![b'z'; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn stopped_host_is_refused_quickly() {
    let mut fleet = Fleet::builder().hosts(1).start();
    fleet.stop_host(0);
    let started = Instant::now();
    let err = Pool::new(options(&fleet))
        .connect(&target(&fleet, "host1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("host1"), "{err}");
    // A refusal is reported at once, not after the 10 s connect timeout (the
    // bound is loose so a busy CI machine cannot make it flaky).
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_listing_what_was_tried() {
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("stranger");
    keygen(&key, "ed25519", "");
    let opts = bare_options(&fleet, home.path());
    let target = Target::resolve("host1", &spec(&fleet, 0, &key), &opts).unwrap();
    let err = Pool::new(opts).connect(&target).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConnectError::Auth { .. }), "{text}");
    assert!(
        text.contains(&format!("publickey {}", key.display())),
        "{text}"
    );
    assert!(text.contains(&format!("as {}", fleet.user)), "{text}");
}

/// A stand-in for sudo (none is installed here): takes `-n` or `-S -p
/// PROMPT`, `-u USER`, `--`, reads the password from stdin like `sudo -S`.
const FAKE_SUDO: &str = r#"#!/bin/sh
prompt="Password:"; nonint=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) nonint=1; shift;; -S) shift;; -p) prompt="$2"; shift 2;; -u) shift 2;;
    --) shift; break;; *) break;;
  esac
done
if [ $nonint = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
tries=0
while :; do
  printf '%s' "$prompt" >&2
  IFS= read -r pw || exit 1
  [ "$pw" = "letmein" ] && break
  tries=$((tries + 1)); echo "Sorry, try again." >&2
  [ $tries -ge 3 ] && { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
done
exec "$@"
"#;

#[tokio::test]
async fn become_feeds_the_password_and_keeps_stdin_for_the_command() {
    use herd::ssh::Become;
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::builder().hosts(1).start();
    let bin = fleet.hosts[0].root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sudo"), FAKE_SUDO).unwrap();
    std::fs::set_permissions(bin.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());

    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let with = |password: Option<&str>| ExecOptions {
        become_: Some(Become {
            password: password.map(Secret::new),
            ..Become::default()
        }),
        stdin: Some(b"from stdin\n".to_vec()),
        env: vec![("PATH".into(), path.clone())],
        ..ExecOptions::default()
    };

    let out = conn
        .exec("echo became; cat; echo warn >&2", &with(Some("letmein")))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "became\nfrom stdin\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "warn\n");

    let err = conn.exec("true", &with(Some("wrong"))).await.unwrap_err();
    assert!(matches!(err, ExecError::Become { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");

    let err = conn.exec("true", &with(None)).await.unwrap_err();
    assert!(err.to_string().contains("password is required"), "{err}");

    // Nothing was leaked: the connection still runs commands.
    let out = conn.exec("echo ok", &ExecOptions::default()).await.unwrap();
    assert_eq!(out.stdout, b"ok\n");
}

/// One line of known_hosts that is not UTF-8 (a Latin-1 comment, another
/// host's line) is skipped like any line herd cannot parse; the others
/// still count, with their real line numbers.
#[tokio::test]
async fn a_known_hosts_line_that_is_not_utf8_is_skipped() {
    let fleet = Fleet::builder().hosts(2).start();
    let home = tempfile::tempdir().unwrap();
    let kh = home.path().join("known_hosts");
    let mut bytes = b"# caf\xe9\nr\xe9sum\xe9.example ssh-ed25519 AAAA\n".to_vec();
    for (i, key_of) in [(0, 0), (1, 0)] {
        bytes.extend_from_slice(
            format!(
                "{} {}\n",
                fleet.hosts[i].known_hosts_name(),
                fleet.hosts[key_of].public_key()
            )
            .as_bytes(),
        );
    }
    std::fs::write(&kh, bytes).unwrap();
    let opts = SshOptions {
        known_hosts: vec![kh.clone()],
        host_key_checking: Some(HostKeyChecking::Strict),
        ..SshOptions::isolated(home.path())
    };
    let pool = Pool::new(opts.clone());
    let host1 = Target::resolve("host1", &spec(&fleet, 0, &fleet.client_key), &opts).unwrap();
    assert_eq!(echo(&pool, &host1).await, "hello\n");
    let host2 = Target::resolve("host2", &spec(&fleet, 1, &fleet.client_key), &opts).unwrap();
    let err = pool.connect(&host2).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::HostKeyChanged { line: 4, .. }),
        "{err}"
    );
    pool.close_all().await;
}

/// Commands run through one long-lived shell per connection; what they
/// print, read or do to it cannot confuse the framing.
#[tokio::test]
async fn commands_share_one_shell_and_hostile_output_stays_data() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(SshOptions {
        output_limit: 1 << 20,
        ..options(&fleet)
    });
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let run = |cmd: String, opts: ExecOptions| {
        let conn = conn.clone();
        async move { conn.exec(&cmd, &opts).await.unwrap() }
    };
    let plain = ExecOptions::default;

    // The same parent (the shell) for every command: no new sshd session.
    let a = run("echo $PPID".into(), plain()).await.stdout;
    let b = run("echo $PPID".into(), plain()).await.stdout;
    assert_eq!(a, b);

    // Markers without the nonce, the marker prefix, the frame's own text.
    let fake = "HERD-0123456789abcdefE0\nHERD-\nprintf %s%sE%s HERD- x 0";
    let out = run(format!("printf '%s' '{fake}'; printf 'HERD-' >&2"), plain()).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), fake);
    assert_eq!(out.stderr, b"HERD-");

    // Binary bytes and no trailing newline, on both streams.
    let out = run(
        r"printf '\000\001\377x'; printf '\377' >&2; exit 7".into(),
        plain(),
    )
    .await;
    assert_eq!(out.stdout, b"\0\x01\xffx");
    assert_eq!(out.stderr, b"\xff");
    assert_eq!(out.exit_code, Some(7));

    // Huge output is capped and read to its end; the shell goes on.
    let out = run("head -c 5000000 /dev/zero; echo end >&2".into(), plain()).await;
    assert_eq!((out.stdout.len(), out.stdout_truncated), (1 << 20, true));
    assert_eq!(out.stderr, b"end\n");

    // Stdin with every awkward byte reaches the command exactly; a command
    // reading stdin without any sees EOF and does not eat the next frame.
    let payload: Vec<u8> = (0..=255u8)
        .chain(b"%s\\n'\"0\n12".iter().copied())
        .collect();
    let with_stdin = ExecOptions {
        stdin: Some(payload.clone()),
        ..plain()
    };
    assert_eq!(run("cat".into(), with_stdin).await.stdout, payload);
    assert_eq!(
        run("cat; echo done".into(), plain()).await.stdout,
        b"done\n"
    );
    assert_eq!(
        run("read x; echo \"[$x]\"".into(), plain()).await.stdout,
        b"[]\n"
    );

    // A command killed by a signal is told from one that exits 143.
    let out = run("kill -KILL $$".into(), plain()).await;
    assert_eq!((out.exit_code, out.signal.as_deref()), (None, Some("KILL")));
    assert_eq!(run("exit 143".into(), plain()).await.exit_code, Some(143));
    // A syntax error is the command's failure, not the shell's.
    let out = run("if then fi (".into(), plain()).await;
    assert_eq!(out.exit_code, Some(2));
    assert_eq!(run("echo $PPID".into(), plain()).await.stdout, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_command_is_killed_and_the_next_runs() {
    let fleet = Fleet::builder().hosts(1).start();
    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let seconds = 4_000_000 + std::process::id() % 1_000_000;
    let quick = ExecOptions {
        timeout: Some(Duration::from_millis(300)),
        ..ExecOptions::default()
    };
    for _ in 0..3 {
        let result = conn.exec(&format!("sleep {seconds}"), &quick).await;
        assert!(
            matches!(result, Err(ExecError::Timeout { .. })),
            "{result:?}"
        );
        let out = conn.exec("echo next", &quick).await.unwrap();
        assert_eq!(out.stdout, b"next\n");
    }
    let count = format!("pgrep -f '^sleep {seconds}$' | wc -l");
    let out = conn.exec(&count, &ExecOptions::default()).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}

#[tokio::test]
async fn become_with_a_password_runs_through_the_shell() {
    use herd::ssh::Become;
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::builder().hosts(1).start();
    let bin = fleet.hosts[0].root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sudo"), FAKE_SUDO).unwrap();
    std::fs::set_permissions(bin.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let pool = Pool::new(options(&fleet));
    let conn = pool.connect(&target(&fleet, "host1")).await.unwrap();
    let with = |password: &str| ExecOptions {
        become_: Some(Become {
            password: Some(Secret::new(password)),
            ..Become::default()
        }),
        env: vec![("PATH".into(), path.clone())],
        ..ExecOptions::default()
    };
    let shell = conn
        .exec("echo $PPID", &ExecOptions::default())
        .await
        .unwrap();
    // The password is not the command's stdin.
    let out = conn
        .exec("echo became; cat; echo warn >&2", &with("letmein"))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "became\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "warn\n");
    let err = conn.exec("true", &with("wrong")).await.unwrap_err();
    assert!(matches!(err, ExecError::Become { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");
    let again = conn
        .exec("echo $PPID", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(shell.stdout, again.stdout);
}

/// A key with a forced command: the shell cannot start, so every command
/// takes its own exec channel and sees what `ssh host cmd` would.
#[tokio::test]
async fn a_forced_command_host_falls_back_to_exec_channels() {
    use std::io::Write;
    let fleet = Fleet::builder().hosts(1).start();
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("id_forced");
    keygen(&key, "ed25519", "");
    let line = std::fs::read_to_string(pub_path(&key)).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&fleet.hosts[0].authorized_keys)
        .unwrap()
        .write_all(format!("command=\"echo forced: $SSH_ORIGINAL_COMMAND\" {line}").as_bytes())
        .unwrap();
    let opts = bare_options(&fleet, home.path());
    let target = Target::resolve("host1", &spec(&fleet, 0, &key), &opts).unwrap();
    let pool = Pool::new(opts);
    let conn = pool.connect(&target).await.unwrap();
    for _ in 0..2 {
        let out = conn.exec("echo hi", &ExecOptions::default()).await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.starts_with("forced: ") && text.contains("echo hi"),
            "{text}"
        );
    }
    pool.close_all().await;
}
