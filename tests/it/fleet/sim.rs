//! A simulated fleet for scale: one process answers SSH for N virtual hosts
//! on N loopback addresses, so 10,000 hosts fit on a small machine.
//!
//! Each virtual host is one listening socket on its own address (127.10.0.1,
//! 127.10.0.2, ... on one port; Linux routes all of 127.0.0.0/8 to `lo`, so
//! addresses past 127.x.y.255 work without configuration). We bind every
//! address rather than 0.0.0.0: a wildcard socket would accept connections
//! from other machines too. That is one descriptor per host plus one per
//! connection, so the simulator raises its own open-file limit (hard limit
//! too when it may, as root) to 2N plus slack.
//!
//! The SSH is real (russh's server side): key exchange, a host key per
//! virtual host (its own ed25519 key, so known_hosts verification proves a
//! client reached the host it meant; keys are derived from one random seed
//! per start, so generating 10,000 costs well under a second), public-key
//! authentication against the one client key the simulator writes. Any user
//! name is accepted.
//!
//! Exec runs the command with `/bin/sh -c` in the host's own directory
//! (`hosts/<name>/`, also its `$HOME`; `$HERD_SIM_HOST` is its name), stdin
//! fed from the channel, stdout/stderr streamed back, in its own process
//! group. At most `max_shells` shells run at once (the rest wait): 10,000
//! hosts asked at once must not fork 10,000 shells on two cores.
//!
//! herd's long-lived shell (`exec /bin/sh`, see src/ssh/shell.rs) is
//! refused (exit 127 at once): a shell held open per connection would hold
//! one of the `max_shells` slots for the whole run, and framed commands
//! could not reach the fast path. herd then runs one exec channel per
//! command here, as OpenSSH and pyinfra do.
//!
//! The fast path: a fixed set of commands benchmarks send are answered
//! in-process, without a shell (see [`fast_path`]): `true`, `:`, `false`,
//! `exit N`, `echo` of plain words, `uname`/`uname -a`/`uname -n`,
//! `hostname`, `id -un`, `pwd`, each optionally behind herd's own prefix
//! that reports the shell's pid (the fast path reports pid 0, which herd
//! reads as "nothing to kill"), herd's command-module check that the
//! program exists, or `sh -c '...'` (herd's shell module, pyinfra); and
//! herd collect's built-in script (see [`collect_builtin`]). Anything else goes to the real shell, so the
//! fast path changes speed, never results. Every tool in a comparison talks
//! to the same simulator, so none gets a shortcut the others lack.
//!
//! Files written for clients, in the simulator's directory: `id_ed25519`
//! (+ `.pub`), `known_hosts` (`[addr]:port key` per host), `inventory.yml`
//! (Ansible YAML, group `sim`; names `host00001`... zero-padded so lists of
//! them fold into ranges), `herd.toml`, `addresses.txt` (one address per
//! line, for `xargs -P ssh`), `ssh_options` (the OpenSSH flags),
//! `hosts.json` and `inventory.py` (pyinfra).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{LineEnding, PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::Semaphore;

/// How to start a simulated fleet.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub hosts: usize,
    /// 0: pick a free port.
    pub port: u16,
    /// Address of the first host; the others follow it (skipping .0 and
    /// .255 in the last octet).
    pub first: Ipv4Addr,
    /// Where the client files and the hosts' directories go.
    pub dir: PathBuf,
    /// Answer the fast-path commands in-process.
    pub fast_path: bool,
    /// Real shells running at once.
    pub max_shells: usize,
    /// Derive the keys from this seed (a fleet served by several
    /// processes shares one); `None`: a random seed.
    pub seed: Option<[u8; 32]>,
    /// Serve only these hosts (indexes); `None`: all of them.
    pub serve: Option<std::ops::Range<usize>>,
    /// Write the client files (for every host, served here or not).
    pub write_files: bool,
}

impl SimOptions {
    pub fn new(hosts: usize, dir: &Path) -> SimOptions {
        SimOptions {
            hosts,
            port: 0,
            first: Ipv4Addr::new(127, 10, 0, 1),
            dir: dir.to_path_buf(),
            fast_path: true,
            max_shells: 32,
            seed: None,
            serve: None,
            write_files: true,
        }
    }
}

/// One virtual host.
#[derive(Debug, Clone)]
pub struct SimHost {
    pub name: String,
    pub addr: Ipv4Addr,
    /// Its working directory and `$HOME`.
    pub root: PathBuf,
}

/// What the simulator has served so far.
#[derive(Debug, Default)]
pub struct SimStats {
    pub connections: AtomicU64,
    pub authenticated: AtomicU64,
    pub fast_execs: AtomicU64,
    pub shell_execs: AtomicU64,
}

/// A running simulated fleet; stops when dropped.
pub struct SimFleet {
    pub dir: PathBuf,
    pub port: u16,
    pub user: String,
    pub hosts: Vec<SimHost>,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub inventory: PathBuf,
    pub project_file: PathBuf,
    pub stats: Arc<SimStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Shared by every connection.
struct Shared {
    client_key: PublicKey,
    fast_path: bool,
    shells: Semaphore,
    stats: Arc<SimStats>,
    uname: String,
    user: String,
    /// `HERD_SIM_LOG=1`: print every command on stderr (to see what a tool
    /// sends, e.g. to extend the fast path).
    log_commands: bool,
    /// herd collect's built-in script, as herd sends it.
    collect_script: String,
    df: tokio::sync::Mutex<(Option<std::time::Instant>, String)>,
}

/// 32 random bytes, for [`SimOptions::seed`].
pub fn random_seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))?;
    Ok(seed)
}

/// The open-file hard limit: a process serves at most (limit - 512) / 2
/// hosts (a listener and a connection each).
#[allow(dead_code, reason = "used by examples/simfleet.rs")]
pub fn nofile_hard_limit() -> u64 {
    // SAFETY: getrlimit with a valid, initialized struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        #[allow(clippy::unnecessary_cast)]
        let hard = limit.rlim_max as u64;
        hard
    }
}

/// Host i's address: `first` + i, skipping .0 and .255 last octets.
pub fn host_addr(first: Ipv4Addr, i: usize) -> Ipv4Addr {
    let mut n = u32::from(first);
    for _ in 0..i {
        n += 1;
        while matches!(n & 0xff, 0 | 255) {
            n += 1;
        }
    }
    Ipv4Addr::from(n)
}

impl SimFleet {
    /// Binds every host's address, writes the client files and serves on
    /// a runtime of its own (a thread), until dropped.
    pub fn start(options: SimOptions) -> std::io::Result<SimFleet> {
        let n = options.hosts;
        let serve = options.serve.clone().unwrap_or(0..n);
        if serve.end > n {
            return Err(std::io::Error::other(format!("hosts {serve:?} of {n}")));
        }
        raise_nofile_limit(2 * serve.len() as u64 + 512)?;
        std::fs::create_dir_all(options.dir.join("hosts"))?;
        let dir = std::fs::canonicalize(&options.dir)?;
        let user = current_user();
        let width = n.to_string().len().max(2);
        let hosts: Vec<SimHost> = {
            let mut addr = options.first;
            (0..n)
                .map(|i| {
                    if i > 0 {
                        addr = host_addr(addr, 1);
                    }
                    let name = format!("host{:0width$}", i + 1);
                    SimHost {
                        root: dir.join("hosts").join(&name),
                        name,
                        addr,
                    }
                })
                .collect()
        };
        let (port, listeners) = if serve.is_empty() {
            (options.port, Vec::new())
        } else {
            bind_all(&hosts[serve.clone()], options.port)?
        };

        // Keys: one random seed per start, a host key per host derived
        // from it (cheap), and the client key.
        let seed = match options.seed {
            Some(seed) => seed,
            None => random_seed()?,
        };
        let derive = |label: &str| -> PrivateKey {
            let mut h = sha2::Sha256::new();
            h.update(seed);
            h.update(label.as_bytes());
            let bytes: [u8; 32] = h.finalize().into();
            PrivateKey::from(Ed25519Keypair::from_seed(&bytes))
        };
        let client = derive("client");
        let host_keys: Vec<PrivateKey> = hosts.iter().map(|h| derive(&h.name)).collect();

        let mut fleet = SimFleet {
            client_key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            inventory: dir.join("inventory.yml"),
            project_file: dir.join("herd.toml"),
            dir,
            port,
            user: user.clone(),
            hosts,
            stats: Arc::new(SimStats::default()),
            stop: None,
            thread: None,
        };
        if options.write_files {
            fleet.write_client_files(&client, &host_keys)?;
        }
        if serve.is_empty() {
            return Ok(fleet);
        }

        let shared = Arc::new(Shared {
            client_key: client.public_key().clone(),
            fast_path: options.fast_path,
            shells: Semaphore::new(options.max_shells.max(1)),
            stats: fleet.stats.clone(),
            uname: uname(),
            user,
            log_commands: std::env::var_os("HERD_SIM_LOG").is_some(),
            collect_script: format!(
                "{HERD_PID_PREFIX}{}",
                herd::collect::remote::script(&Default::default())
            ),
            df: Default::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let hosts = fleet.hosts[serve.clone()].to_vec();
        let host_keys: Vec<PrivateKey> = host_keys.into_iter().skip(serve.start).collect();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("simfleet".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("simfleet runtime");
                runtime.block_on(async move {
                    for ((host, key), listener) in hosts.into_iter().zip(host_keys).zip(listeners) {
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        };
                        tokio::spawn(serve_host(
                            listener,
                            Arc::new(host),
                            Arc::new(server_config(key)),
                            shared.clone(),
                        ));
                    }
                    let _ = ready_tx.send(Ok(()));
                    let _ = stop_rx.await;
                });
                // Connections still open are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("simfleet thread died"))??;
        fleet.stop = Some(stop_tx);
        fleet.thread = Some(thread);
        Ok(fleet)
    }

    /// Stops serving (also on drop).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Blocks until the simulator stops (it runs until killed).
    #[allow(dead_code, reason = "used by examples/simfleet.rs")]
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn write_client_files(
        &self,
        client: &PrivateKey,
        host_keys: &[PrivateKey],
    ) -> std::io::Result<()> {
        let text = client
            .to_openssh(LineEnding::LF)
            .map_err(std::io::Error::other)?;
        write_private(&self.client_key, text.as_bytes())?;
        let public = client
            .public_key()
            .to_openssh()
            .map_err(std::io::Error::other)?;
        write_private(
            &self.dir.join("id_ed25519.pub"),
            format!("{public}\n").as_bytes(),
        )?;

        let mut known_hosts = String::new();
        let mut inventory = format!(
            "# A simulated fleet of {n} hosts (tests/it/fleet/sim.rs).\n\
             all:\n  vars:\n    ansible_user: {user}\n    ansible_port: {port}\n    \
             ansible_ssh_private_key_file: {key}\n    \
             ansible_ssh_common_args: -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes\n  \
             children:\n    sim:\n      hosts:\n",
            n = self.hosts.len(),
            user = self.user,
            port = self.port,
            key = self.client_key.display(),
            kh = self.known_hosts.display(),
        );
        let mut addresses = String::new();
        let mut json_hosts = Vec::new();
        for (host, key) in self.hosts.iter().zip(host_keys) {
            let public = key
                .public_key()
                .to_openssh()
                .map_err(std::io::Error::other)?;
            let _ = writeln!(known_hosts, "[{}]:{} {public}", host.addr, self.port);
            let _ = writeln!(
                inventory,
                "        {}: {{ansible_host: {}}}",
                host.name, host.addr
            );
            let _ = writeln!(addresses, "{}", host.addr);
            json_hosts.push(format!(
                "{{\"name\": \"{}\", \"address\": \"{}\", \"root_dir\": \"{}\", \"group\": \"sim\"}}",
                host.name,
                host.addr,
                host.root.display()
            ));
        }
        write_private(&self.known_hosts, known_hosts.as_bytes())?;
        write_private(&self.inventory, inventory.as_bytes())?;
        write_private(&self.dir.join("addresses.txt"), addresses.as_bytes())?;
        let ssh_options = format!(
            "-p {port} -l {user} -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={kh} \
             -o StrictHostKeyChecking=yes -o BatchMode=yes -o KexAlgorithms=curve25519-sha256\n",
            port = self.port,
            user = self.user,
            key = self.client_key.display(),
            kh = self.known_hosts.display(),
        );
        write_private(&self.dir.join("ssh_options"), ssh_options.as_bytes())?;
        let project = format!(
            "# herd project for the simulated fleet\n\
             inventory = \"inventory.yml\"\nforks = {n}\n\n[ssh]\nknown_hosts = [\"known_hosts\"]\n",
            n = self.hosts.len()
        );
        write_private(&self.project_file, project.as_bytes())?;
        let json = format!(
            "{{\"port\": {port}, \"user\": \"{user}\", \"key\": \"{key}\", \"known_hosts\": \"{kh}\",\n \"hosts\": [\n  {hosts}\n]}}\n",
            port = self.port,
            user = self.user,
            key = self.client_key.display(),
            kh = self.known_hosts.display(),
            hosts = json_hosts.join(",\n  "),
        );
        write_private(&self.dir.join("hosts.json"), json.as_bytes())?;
        write_private(&self.dir.join("inventory.py"), PYINFRA_INVENTORY.as_bytes())?;
        Ok(())
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// pyinfra's inventory: every host of hosts.json beside it, group `sim`.
const PYINFRA_INVENTORY: &str = r#"# pyinfra inventory for the simulated fleet (tests/it/fleet/sim.rs).
import json
import os

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hosts.json")) as _f:
    _fleet = json.load(_f)

sim = [(h["name"], {
    "ssh_hostname": h["address"],
    "ssh_port": _fleet["port"],
    "ssh_user": _fleet["user"],
    "ssh_key": _fleet["key"],
    "ssh_known_hosts_file": _fleet["known_hosts"],
    "ssh_strict_host_key_checking": "yes",
    "ssh_allow_agent": False,
    "ssh_look_for_keys": False,
    "root_dir": h["root_dir"],
}) for h in _fleet["hosts"]]
"#;

/// Binds `port` (0: a free one) on every host's address; retries with
/// another port when a chosen one is taken on some address.
fn bind_all(hosts: &[SimHost], port: u16) -> std::io::Result<(u16, Vec<std::net::TcpListener>)> {
    let mut last = None;
    for _ in 0..10 {
        let first = std::net::TcpListener::bind(SocketAddr::from((hosts[0].addr, port)))?;
        let chosen = first.local_addr()?.port();
        let mut listeners = vec![first];
        let mut failed = None;
        for host in &hosts[1..] {
            match std::net::TcpListener::bind(SocketAddr::from((host.addr, chosen))) {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    failed = Some(std::io::Error::new(
                        e.kind(),
                        format!("bind {}:{chosen}: {e}", host.addr),
                    ));
                    break;
                }
            }
        }
        match failed {
            None => {
                for l in &listeners {
                    l.set_nonblocking(true)?;
                }
                return Ok((chosen, listeners));
            }
            Some(e) if port == 0 && e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Some(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

fn server_config(key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        keys: vec![key],
        // Rejections are not slowed down: this is a test server.
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(Duration::from_secs(900)),
        nodelay: true,
        // Small buffers: 10,000 connections live in this process.
        channel_buffer_size: 16,
        ..Default::default()
    }
}

async fn serve_host(
    listener: tokio::net::TcpListener,
    host: Arc<SimHost>,
    config: Arc<russh::server::Config>,
    shared: Arc<Shared>,
) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                eprintln!("simfleet: {}: accept: {e}", host.name);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let handler = Conn {
            host: host.clone(),
            shared: shared.clone(),
        };
        let config = config.clone();
        tokio::spawn(async move {
            if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                let _ = session.await;
            }
        });
    }
}

/// One client connection to one virtual host.
struct Conn {
    host: Arc<SimHost>,
    shared: Arc<Shared>,
}

impl Conn {
    fn key_ok(&self, key: &PublicKey) -> bool {
        key.key_data() == self.shared.client_key.key_data()
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.key_ok(offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_ok(key.public_key) {
            self.shared
                .stats
                .authenticated
                .fetch_add(1, Ordering::Relaxed);
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        tokio::spawn(serve_channel(
            channel,
            self.host.clone(),
            self.shared.clone(),
        ));
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The command itself reaches the channel's task as ChannelMsg::Exec.
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

/// Serves one session channel: waits for its exec (or shell) request,
/// answers it, closes the channel.
async fn serve_channel(mut channel: Channel<Msg>, host: Arc<SimHost>, shared: Arc<Shared>) {
    let command: Option<Vec<u8>> = loop {
        match channel.wait().await {
            Some(ChannelMsg::Exec { command, .. }) => break Some(command),
            // A login shell reads its commands from stdin.
            Some(ChannelMsg::RequestShell { .. }) => break None,
            Some(_) => continue,
            None => return,
        }
    };
    if shared.log_commands {
        let text = command.as_deref().map(String::from_utf8_lossy);
        eprintln!(
            "simfleet: {}: {}",
            host.name,
            text.as_deref().unwrap_or("(shell)")
        );
    }
    if command.as_deref() == Some(b"exec /bin/sh".as_slice()) {
        let _ = channel
            .extended_data_bytes(1, b"simfleet: no long-lived shells here\n".to_vec())
            .await;
        let _ = channel.exit_status(127).await;
        let _ = channel.eof().await;
        let _ = channel.close().await;
        return;
    }
    let collect = shared.fast_path && command.as_deref() == Some(shared.collect_script.as_bytes());
    let answer = match &command {
        _ if collect => Some(collect_builtin(&shared).await),
        Some(c) if shared.fast_path => fast_path(c, &host, &shared),
        _ => None,
    };
    if let Some(answer) = answer {
        shared.stats.fast_execs.fetch_add(1, Ordering::Relaxed);
        if !answer.stderr.is_empty() {
            let _ = channel.extended_data_bytes(1, answer.stderr).await;
        }
        if !answer.stdout.is_empty() {
            let _ = channel.data_bytes(answer.stdout).await;
        }
        let _ = channel.exit_status(answer.code).await;
        let _ = channel.eof().await;
        let _ = channel.close().await;
        return;
    }
    shared.stats.shell_execs.fetch_add(1, Ordering::Relaxed);
    let _permit = shared.shells.acquire().await;
    run_shell(channel, command, &host, &shared).await;
}

/// Runs the command with a real `/bin/sh` in the host's directory.
async fn run_shell(
    channel: Channel<Msg>,
    command: Option<Vec<u8>>,
    host: &SimHost,
    shared: &Shared,
) {
    use std::process::Stdio;
    let (mut read, write) = channel.split();
    if let Err(e) = tokio::fs::create_dir_all(&host.root).await {
        let _ = write
            .extended_data_bytes(1, format!("simfleet: {e}\n").into_bytes())
            .await;
        let _ = write.exit_status(127).await;
        let _ = write.eof().await;
        let _ = write.close().await;
        return;
    }
    let mut cmd = tokio::process::Command::new("/bin/sh");
    if let Some(command) = &command {
        cmd.arg("-c").arg(std::ffi::OsStr::from_bytes(command));
    }
    cmd.current_dir(&host.root)
        .env("HOME", &host.root)
        .env("USER", &shared.user)
        .env("HERD_SIM_HOST", &host.name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = write
                .extended_data_bytes(1, format!("simfleet: sh: {e}\n").into_bytes())
                .await;
            let _ = write.exit_status(127).await;
            let _ = write.eof().await;
            let _ = write.close().await;
            return;
        }
    };
    let pgid = child.id();
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let pump = async {
        while let Some(msg) = read.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    if let Some(input) = stdin.as_mut()
                        && input.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                ChannelMsg::Eof => stdin = None,
                _ => {}
            }
        }
    };
    let run = async {
        let mut out = write.make_writer();
        let mut err = write.make_writer_ext(Some(1));
        let _ = tokio::join!(copy(stdout, &mut out), copy(stderr, &mut err));
        child.wait().await
    };
    tokio::select! {
        status = run => {
            use std::os::unix::process::ExitStatusExt;
            let code = match status {
                Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
                Err(_) => 255,
            };
            let _ = write.exit_status(code as u32).await;
            let _ = write.eof().await;
            let _ = write.close().await;
        }
        _ = pump => {
            // The client went away first: stop what it started.
            if let Some(pid) = pgid {
                // SAFETY: kill(2) on the process group this task started.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
        }
    }
}

async fn copy(
    from: Option<impl AsyncRead + Unpin>,
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> std::io::Result<u64> {
    match from {
        Some(mut from) => {
            let n = tokio::io::copy(&mut from, to).await?;
            to.flush().await?;
            Ok(n)
        }
        None => Ok(0),
    }
}

/// A fast-path answer.
struct Answer {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: u32,
}

/// herd's prefix on every command: the shell reports its pid on stderr.
const HERD_PID_PREFIX: &str = "printf 'HERD-PID:%s\\n' \"$$\" >&2; ";

/// The answer to a command in the fixed fast-path set, or `None` (run it
/// in a shell). Only exact, simple forms match: plain words, no quoting,
/// expansion, redirection or control operators beyond herd's own prefix.
fn fast_path(command: &[u8], host: &SimHost, shared: &Shared) -> Option<Answer> {
    let text = std::str::from_utf8(command).ok()?;
    let (stderr, rest) = match text.strip_prefix(HERD_PID_PREFIX) {
        Some(rest) => (b"HERD-PID:0\n".to_vec(), rest),
        None => (Vec::new(), text),
    };
    let rest = strip_wrappers(rest);
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" -_.,:=+@%/".contains(&b))
    };
    if !plain(rest) {
        return None;
    }
    let words: Vec<&str> = rest.split_ascii_whitespace().collect();
    let line = |s: &str| format!("{s}\n").into_bytes();
    let (stdout, code) = match words.as_slice() {
        ["true"] | [":"] => (Vec::new(), 0),
        ["false"] => (Vec::new(), 1),
        ["exit", n] => (Vec::new(), n.parse::<u8>().ok()? as u32),
        ["echo", args @ ..] => (line(&args.join(" ")), 0),
        ["uname"] => (line("Linux"), 0),
        ["uname", "-a"] => (line(&shared.uname_a(&host.name)), 0),
        ["uname", "-n"] | ["hostname"] => (line(&host.name), 0),
        ["id", "-un"] | ["whoami"] => (line(&shared.user), 0),
        ["pwd"] => (line(&host.root.display().to_string()), 0),
        _ => return None,
    };
    Some(Answer {
        stdout,
        stderr,
        code,
    })
}

/// The command names the fast path answers.
const FAST_COMMANDS: &[&str] = &[
    "true", ":", "false", "exit", "echo", "uname", "hostname", "id", "whoami", "pwd",
];

/// Peels what tools wrap around a command, when what is inside is for the
/// fast path: herd's command-module check that the program exists
/// (`command -v -- NAME >/dev/null 2>&1 || { ...; exit 2; }; `, which
/// always passes for these), and `sh -c '...'` / `/bin/sh -c '...'`
/// (herd's shell module, pyinfra) around text without quotes.
fn strip_wrappers(mut rest: &str) -> &str {
    if let Some(after) = rest.strip_prefix("command -v -- ")
        && let Some((name, _)) = after.split_once(' ')
        && FAST_COMMANDS.contains(&name)
        && let Some((_, inner)) = after.split_once("; }; ")
    {
        rest = inner;
    }
    for shell in ["sh -c '", "/bin/sh -c '"] {
        if let Some(inner) = rest
            .strip_prefix(shell)
            .and_then(|r| r.strip_suffix('\''))
            .filter(|inner| !inner.contains('\''))
        {
            return inner;
        }
    }
    rest
}

/// herd collect's built-in script (no services, collectors or probes),
/// answered in-process: the same /proc files read directly, `df -P` run at
/// most every 10 s, the script's half-second pause between its two reads
/// of /proc/stat kept (as a timer, not a process). A config with more
/// than the built-in metrics sends another script, which goes to the shell.
async fn collect_builtin(shared: &Shared) -> Answer {
    const MARK: &str = "@@herd-collect@@";
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let first_line = |path: &str| format!("{}\n", read(path).lines().next().unwrap_or(""));
    let mut out = String::new();
    let section = |out: &mut String, name: &str, body: &str| {
        let _ = write!(out, "\n{MARK} {name}\n{body}");
    };
    section(&mut out, "stat", &first_line("/proc/stat"));
    section(&mut out, "loadavg", &read("/proc/loadavg"));
    section(&mut out, "meminfo", &read("/proc/meminfo"));
    section(&mut out, "uptime", &read("/proc/uptime"));
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0);
    section(&mut out, "procs", &format!("{procs}\n"));
    section(&mut out, "netdev", &read("/proc/net/dev"));
    section(&mut out, "df", &shared.df().await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    section(&mut out, "stat2", &first_line("/proc/stat"));
    section(&mut out, "end", "");
    Answer {
        stdout: out.into_bytes(),
        stderr: b"HERD-PID:0\n".to_vec(),
        code: 0,
    }
}

impl Shared {
    /// `df -P`, at most 10 s old.
    async fn df(&self) -> String {
        let mut cached = self.df.lock().await;
        if cached
            .0
            .is_none_or(|at| at.elapsed() > Duration::from_secs(10))
        {
            let out = tokio::process::Command::new("df").arg("-P").output().await;
            cached.1 = out
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            cached.0 = Some(std::time::Instant::now());
        }
        cached.1.clone()
    }

    fn uname_a(&self, host: &str) -> String {
        // `uname -a` with the virtual host's name as the node name.
        let mut words: Vec<&str> = self.uname.split(' ').collect();
        if words.len() > 1 {
            words[1] = host;
        }
        words.join(" ")
    }
}

fn uname() -> String {
    std::process::Command::new("uname")
        .arg("-a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "Linux".into())
}

fn current_user() -> String {
    let out = std::process::Command::new("id").arg("-un").output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "root".into())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Raises the open-file limit to at least `want` (soft, and hard when
/// this process may: root). Fails only when even the hard limit cannot
/// hold `want`.
pub fn raise_nofile_limit(want: u64) -> std::io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid, initialized struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[allow(clippy::unnecessary_cast)]
        let (cur, max) = (limit.rlim_cur as u64, limit.rlim_max as u64);
        if cur >= want {
            return Ok(cur);
        }
        if max < want {
            let raised = libc::rlimit {
                rlim_cur: want as libc::rlim_t,
                rlim_max: want as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok(want);
            }
            return Err(std::io::Error::other(format!(
                "{want} open files needed (2 per simulated host), the hard limit is {max}: \
                 run as root or raise it (ulimit -Hn)"
            )));
        }
        limit.rlim_cur = want as libc::rlim_t;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(want)
    }
}
