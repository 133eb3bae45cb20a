//! A fleet of real OpenSSH servers on loopback, for tests, the README demo
//! and the benchmarks.
//!
//! Host i (0-based) is one `sshd -D` listening on its own address
//! 127.0.X.Y (127.0.0.2, 127.0.0.3, ...) on a port chosen per fleet, so
//! fleets of tests running in parallel never collide. Every host has its own
//! ed25519 host key, authorized_keys, working directory (`root`) and `$HOME`,
//! and runs as the current user.
//!
//! Lifetime: a test fleet kills its servers on `Drop` (also when the test
//! panics) and, as a second line of defence, each sshd gets
//! PR_SET_PDEATHSIG so it dies with the thread that started it even if the
//! test process is killed. A detached fleet (demo, benchmarks) outlives the
//! process that started it; `Fleet::stop_dir` stops it by its pid files.
//!
//! Key exchange is pinned to curve25519-sha256: OpenSSH 9's default
//! post-quantum kex costs ~0.2 s of CPU per handshake on this machine.
//!
//! Two worlds, one API:
//! - the loopback fleet (default): every sshd shares the machine's
//!   filesystem, users and processes. Fast; enough for most tests.
//! - isolated hosts (`.isolated(true)`, needs root): each host has its own
//!   mount, UTS and PID namespaces and a copy-on-write root over the
//!   machine's `/`, so users, packages and /etc stay per host (see
//!   isolated.rs). Optionally with a local apt repository
//!   (`.apt_packages(..)`, see apt.rs).
//!
//! Either can put a fault proxy in front of each sshd (`.proxied()`,
//! `.rtt(..)`, `.link(..)`; see proxy.rs): clients reach the proxy on the
//! host's address and port, the proxy forwards to the sshd on another port.
//! Each host then has a [`LinkControl`] for latency, bandwidth and faults.
//!
//! Host controls ([`FleetHost`]): kill -9 the sshd, restart it (same or new
//! host key), SIGSTOP/SIGCONT it or the whole host, run a command on the
//! host, read its files, give a path a tiny tmpfs (isolated hosts).
//!
//! Shared by several test binaries and an example, so not every item is used
//! by each.

pub mod apt;
pub mod isolated;
pub mod proxy;
pub mod sim;

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use proxy::{LinkControl, Shape};

const SSHD: &str = "/usr/sbin/sshd";
const KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org";

/// One sshd host of the fleet.
pub struct FleetHost {
    /// Inventory name: host1, host2, ...
    pub name: String,
    pub addr: Ipv4Addr,
    /// The port clients use (the proxy's when the fleet is proxied).
    pub port: u16,
    /// The port the host's sshd listens on (= `port` without a proxy).
    pub sshd_port: u16,
    /// The host's own directory (keys, logs, pid file).
    pub dir: PathBuf,
    /// The host's working directory, for files tests create "on the host"
    /// (also at the same path inside an isolated host).
    pub root: PathBuf,
    /// `$HOME` of sessions on this host, as the host sees it (an isolated
    /// host's is its own /root).
    pub home: PathBuf,
    pub host_key: PathBuf,
    pub host_key_pub: PathBuf,
    pub authorized_keys: PathBuf,
    pub log: PathBuf,
    pub pid_file: PathBuf,
    /// The isolated host's namespaces (`None` on the loopback fleet).
    pub namespace: Option<isolated::Namespace>,
    /// The host's link when the fleet is proxied.
    pub link: Option<LinkControl>,
    child: Option<Child>,
    /// `unshare`, parent of an isolated host's init.
    unshare: Option<Child>,
    sshd_config: PathBuf,
    sshd_options: Vec<String>,
    detached: bool,
}

impl FleetHost {
    /// `addr:port`, as a socket address (what clients connect to).
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::from((self.addr, self.port))
    }

    /// Where the host's sshd itself listens (behind the proxy, if any).
    pub fn sshd_socket(&self) -> SocketAddr {
        SocketAddr::from((self.addr, self.sshd_port))
    }

    /// The host's `[addr]:port` known_hosts name.
    pub fn known_hosts_name(&self) -> String {
        format!("[{}]:{}", self.addr, self.port)
    }

    /// The sshd log so far (for assertions and failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The host's public host key line ("ssh-ed25519 AAAA...").
    pub fn public_key(&self) -> String {
        let text = std::fs::read_to_string(&self.host_key_pub).expect("read host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The host's link (latency, bandwidth, faults). Panics unless the fleet
    /// is proxied.
    pub fn link(&self) -> &LinkControl {
        self.link.as_ref().unwrap_or_else(|| {
            panic!(
                "{}: the fleet has no proxy (use .proxied() or .rtt(..))",
                self.name
            )
        })
    }

    /// The isolated host's namespaces. Panics on the loopback fleet.
    pub fn namespace(&self) -> &isolated::Namespace {
        self.namespace
            .as_ref()
            .unwrap_or_else(|| panic!("{}: not an isolated host (use .isolated(true))", self.name))
    }

    /// A path as this host sees it, readable and writable from the test:
    /// inside an isolated host's filesystem, else the machine's path.
    pub fn fs_path(&self, path: &str) -> PathBuf {
        match &self.namespace {
            Some(ns) => ns.path(path),
            None => PathBuf::from(path),
        }
    }

    /// Runs `sh -c script` on the host (inside an isolated host's
    /// namespaces; on the loopback fleet in the host's root dir with its
    /// `$HOME`), without SSH.
    pub fn sh(&self, script: &str) -> std::process::Output {
        match &self.namespace {
            Some(ns) => ns.sh(script),
            None => Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .current_dir(&self.root)
                .env("HOME", &self.home)
                .stdin(Stdio::null())
                .output()
                .expect("run sh"),
        }
    }

    /// The machine pid of the host's sshd listener, if it runs.
    pub fn sshd_pid(&self) -> Option<i32> {
        match &self.namespace {
            Some(ns) => ns.outer_pid(read_pid(&self.pid_file)?),
            None => {
                let pid = self.child.as_ref()?.id() as i32;
                Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
            }
        }
    }

    /// Sends `signal` to the host's sshd listener (not to its sessions).
    pub fn signal_sshd(&self, signal: i32) {
        let pid = self
            .sshd_pid()
            .unwrap_or_else(|| panic!("{}: sshd is not running", self.name));
        // SAFETY: kill(2) on the sshd this fleet started.
        unsafe { libc::kill(pid, signal) };
    }

    /// kill -9 the host's sshd listener: new connections fail; sessions
    /// already open go on (as on a real machine).
    pub fn kill_sshd(&mut self) {
        self.signal_sshd(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        } else if let Some(ns) = &self.namespace {
            let deadline = Instant::now() + Duration::from_secs(5);
            let pid = read_pid(&self.pid_file);
            while pid.and_then(|p| ns.outer_pid(p)).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }

    /// Starts the host's sshd again (stopping it first if it runs), with a
    /// fresh host key if `new_key` (known_hosts is not updated: see
    /// `Fleet::write_client_files`). Waits until it listens.
    pub fn restart_sshd(&mut self, new_key: bool) {
        if self.sshd_pid().is_some() {
            self.kill_sshd();
        }
        if new_key {
            let _ = std::fs::remove_file(&self.host_key);
            let _ = std::fs::remove_file(&self.host_key_pub);
            keygen(&self.host_key, &self.name);
        }
        spawn_sshd(self);
        if let Err(message) = wait_all_listening(std::slice::from_mut(self)) {
            panic!("restart: {message}");
        }
    }

    /// SIGSTOP every process of the host (isolated: all of them; loopback:
    /// its sshd and the sessions under it): a frozen machine. Connections
    /// hang, nothing is refused.
    pub fn freeze(&self) {
        self.signal_all(libc::SIGSTOP);
    }

    /// SIGCONT what `freeze` stopped.
    pub fn thaw(&self) {
        self.signal_all(libc::SIGCONT);
    }

    fn signal_all(&self, signal: i32) {
        let pids = match (&self.namespace, self.sshd_pid()) {
            (Some(ns), _) => ns.processes(),
            (None, Some(pid)) => isolated::process_tree(pid),
            (None, None) => Vec::new(),
        };
        for pid in pids {
            // SAFETY: kill(2) on processes of this fleet's host.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Mounts a tmpfs of `kib` KiB at `path` inside an isolated host (a tiny
    /// disk to fill). The mount lives in the host's namespace only.
    pub fn mount_tmpfs(&self, path: &str, kib: u64) {
        let out = self.namespace().sh(&format!(
            "mkdir -p '{path}' && mount -t tmpfs -o size={kib}k herd-tiny '{path}'"
        ));
        assert!(
            out.status.success(),
            "{}: mount tmpfs at {path}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Configures and starts a fleet.
pub struct FleetBuilder {
    hosts: usize,
    sshd_config: Vec<String>,
    /// Extra `-o KEY=VALUE` options per host index.
    host_options: Vec<(usize, String)>,
    dir: Option<PathBuf>,
    detached: bool,
    port: Option<u16>,
    isolated: bool,
    /// A proxy in front of every sshd, links shaped like this.
    link: Option<Shape>,
    apt_packages: Vec<String>,
}

/// A running fleet and the client-side files to reach it.
pub struct Fleet {
    /// Everything the fleet wrote lives here.
    pub dir: PathBuf,
    pub hosts: Vec<FleetHost>,
    /// The port clients use on every host.
    pub port: u16,
    /// The local user every host runs as and accepts.
    pub user: String,
    /// ed25519 client key authorized on every host.
    pub client_key: PathBuf,
    /// `[addr]:port key` for every host.
    pub known_hosts: PathBuf,
    /// An OpenSSH client config with a `Host hostN` block per host
    /// (`ssh -F ssh_config host1` works).
    pub ssh_config: PathBuf,
    /// Ansible YAML inventory: group `web` (first half), `db` (second half).
    pub inventory: PathBuf,
    /// A herd.toml project file pointing at the files above.
    pub project_file: PathBuf,
    /// The proxy routes (client address -> sshd) of a proxied fleet. A
    /// detached fleet does not run them itself: see examples/fleet.rs.
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub routes: Vec<proxy::Route>,
    /// The shape every link started with (proxied fleets).
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub link_shape: Option<Shape>,
    /// The local apt repository isolated hosts install from, if any.
    pub apt_repo: Option<PathBuf>,
    detached: bool,
    /// Held so the proxies run as long as the fleet.
    _proxies: Option<proxy::Proxies>,
    _tempdir: Option<tempfile::TempDir>,
}

impl Fleet {
    pub fn builder() -> FleetBuilder {
        FleetBuilder {
            hosts: 1,
            sshd_config: Vec::new(),
            host_options: Vec::new(),
            dir: None,
            detached: false,
            port: None,
            isolated: false,
            link: None,
            apt_packages: Vec::new(),
        }
    }

    /// Stops host `i` (0-based): its sshd (an isolated host: all of it)
    /// stops and it becomes unreachable (refused; reset right after
    /// connecting through a proxy).
    pub fn stop_host(&mut self, i: usize) {
        stop_host(&mut self.hosts[i]);
    }

    /// Every process below host `i`'s listening sshd, parents before
    /// children: each connection's sshd processes, the shells they started
    /// and their commands (found through /proc by parent pid).
    pub fn session_pids(&self, i: usize) -> Vec<i32> {
        let Some(listener) = self.hosts[i].sshd_pid() else {
            return Vec::new();
        };
        isolated::process_tree(listener).split_off(1)
    }

    /// The session processes of host `i` that are sshd itself (the
    /// per-connection server), not the shells and commands below them.
    pub fn session_sshd_pids(&self, i: usize) -> Vec<i32> {
        self.session_pids(i)
            .into_iter()
            .filter(|pid| process_name(*pid).is_some_and(|n| n.starts_with("sshd")))
            .collect()
    }

    /// Sends `signal` to each pid; returns how many got it.
    pub fn signal(pids: &[i32], signal: i32) -> usize {
        pids.iter()
            // SAFETY: kill(2) on pids of this fleet's own process tree.
            .filter(|pid| unsafe { libc::kill(**pid, signal) } == 0)
            .count()
    }

    /// Path of a file inside the fleet dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Rewrites known_hosts, ssh_config, the inventory and herd.toml from the
    /// hosts' current keys (e.g. after `restart_sshd(true)`).
    pub fn write_client_files(&mut self) {
        write_client_files(self);
    }

    /// Stops a detached fleet started in `dir`, by its pid files (sshds,
    /// isolated hosts' inits, the `fleet proxy` process). Returns how many
    /// servers were stopped.
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub fn stop_dir(dir: &Path) -> usize {
        let mut stopped = 0;
        let proxy_pid = dir.join("proxy.pid");
        if let Some(pid) = read_pid(&proxy_pid)
            && is_ours(pid, dir, "proxy")
        {
            // SAFETY: plain kill(2) on a pid we verified is our proxy.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            wait_gone(pid);
        }
        let _ = std::fs::remove_file(&proxy_pid);
        let Ok(entries) = std::fs::read_dir(dir.join("hosts")) else {
            return 0;
        };
        for entry in entries.flatten() {
            let pid_file = entry.path().join("sshd.pid");
            let init_file = entry.path().join("init.pid");
            if let Some(pid) = read_pid(&init_file) {
                // An isolated host: its sshd.pid holds a pid inside the
                // host; killing the init stops everything in it.
                if is_ours(pid, dir, "init.sh") {
                    // SAFETY: plain kill(2) on a pid we verified is our init.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    wait_gone(pid);
                    stopped += 1;
                }
                let _ = std::fs::remove_file(&init_file);
            } else if let Some(pid) = read_pid(&pid_file)
                && is_ours(pid, dir, SSHD)
            {
                // SAFETY: plain kill(2) on a pid we verified is our sshd.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                wait_gone(pid);
                stopped += 1;
            }
            let _ = std::fs::remove_file(&pid_file);
        }
        stopped
    }

    /// How many servers (or isolated hosts) of a detached fleet in `dir`
    /// are running.
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub fn running_in_dir(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir.join("hosts")) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| match read_pid(&e.path().join("init.pid")) {
                Some(pid) => is_ours(pid, dir, "init.sh"),
                None => {
                    read_pid(&e.path().join("sshd.pid")).is_some_and(|pid| is_ours(pid, dir, SSHD))
                }
            })
            .count()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        for host in &mut self.hosts {
            stop_host(host);
        }
    }
}

impl FleetBuilder {
    /// Number of hosts (default 1).
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n;
        self
    }

    /// An extra sshd_config line for every host, e.g. "TrustedUserCAKeys /x".
    pub fn sshd_config(mut self, line: &str) -> Self {
        self.sshd_config.push(line.to_string());
        self
    }

    /// An sshd option for host `i` (0-based) only, passed as `-o KEY=VALUE`
    /// (e.g. "PasswordAuthentication=yes").
    pub fn host_sshd_option(mut self, i: usize, option: &str) -> Self {
        self.host_options.push((i, option.to_string()));
        self
    }

    /// Where to put the fleet (default: a tempdir removed on drop).
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Fixed port instead of a free one.
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Servers outlive this process (demo, benchmarks); stop them with
    /// `Fleet::stop_dir`.
    #[allow(dead_code, reason = "used by examples/fleet.rs")]
    pub fn detached(mut self, yes: bool) -> Self {
        self.detached = yes;
        self
    }

    /// Isolated hosts: own mount, UTS and PID namespaces, own copy-on-write
    /// root, own hostname (isolated.rs). Needs root.
    pub fn isolated(mut self, yes: bool) -> Self {
        self.isolated = yes;
        self
    }

    /// A fault proxy in front of every host's sshd, links unshaped (see
    /// `FleetHost::link`).
    pub fn proxied(self) -> Self {
        self.link(Shape::default())
    }

    /// A proxy in front of every host, each link with this round-trip time.
    pub fn rtt(self, rtt: Duration) -> Self {
        self.link(Shape::rtt(rtt))
    }

    /// A proxy in front of every host, each link shaped like this.
    pub fn link(mut self, shape: Shape) -> Self {
        self.link = Some(shape);
        self
    }

    /// A local apt repository with these packages (fetched once into
    /// `apt::cache_dir()`), the only apt source of every isolated host:
    /// `apt-get install hello` works offline inside a host.
    pub fn apt_packages(mut self, packages: &[&str]) -> Self {
        self.apt_packages = packages.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Starts every server and waits until each accepts connections.
    /// Panics with the failing server's log if one cannot start.
    pub fn start(self) -> Fleet {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (apt-get install openssh-server)"
        );
        assert!(
            self.hosts >= 1 && self.hosts <= 250 * 250,
            "1..=62500 hosts"
        );
        assert!(
            !self.isolated || is_root(),
            "isolated hosts need root (mount namespaces, overlayfs): run the tests as root"
        );
        assert!(
            self.apt_packages.is_empty() || self.isolated,
            "a fleet apt repository is for isolated hosts (.isolated(true))"
        );
        let (tempdir, dir) = match &self.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).expect("create fleet dir");
                (None, dir.canonicalize().expect("fleet dir"))
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("herd-fleet-")
                    .tempdir()
                    .expect("tempdir");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        if is_root() {
            // sshd's privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let user = current_user();
        let client_key = dir.join("client_ed25519");
        if !client_key.exists() {
            keygen(&client_key, "herd-fleet-client");
        }
        let common_config = dir.join("sshd_config");
        write_sshd_config(&common_config, &self.sshd_config);
        let apt_repo = (!self.apt_packages.is_empty()).then(|| {
            let repo = dir.join("apt");
            let packages: Vec<&str> = self.apt_packages.iter().map(String::as_str).collect();
            apt::build_repo(&repo, &packages);
            repo
        });

        let mut hosts: Vec<FleetHost> = (0..self.hosts)
            .map(|i| {
                let options = self
                    .host_options
                    .iter()
                    .filter(|(h, _)| *h == i)
                    .map(|(_, o)| o.clone())
                    .collect();
                prepare_host(&dir, i, &client_key, &common_config, options, self.detached)
            })
            .collect();
        if self.isolated {
            start_namespaces(&mut hosts, &dir, apt_repo.as_deref(), self.detached);
        }

        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = self.port.unwrap_or_else(|| free_port(self.hosts, None));
            // Behind a proxy the sshd listens on a port of its own.
            let sshd_port = match self.link {
                Some(_) => free_port(self.hosts, Some(port)),
                None => port,
            };
            for host in hosts.iter_mut() {
                host.port = port;
                host.sshd_port = sshd_port;
                spawn_sshd(host);
            }
            let started = wait_all_listening(&mut hosts).and_then(|()| {
                let Some(shape) = &self.link else {
                    return Ok(None);
                };
                let routes: Vec<proxy::Route> = hosts
                    .iter()
                    .map(|h| proxy::Route {
                        listen: h.socket(),
                        upstream: h.sshd_socket(),
                    })
                    .collect();
                if self.detached {
                    return Ok(Some((routes, None)));
                }
                let (proxies, links) = proxy::Proxies::start(&routes, shape)
                    .map_err(|e| format!("proxy on port {port}: {e}"))?;
                for (host, link) in hosts.iter_mut().zip(links) {
                    host.link = Some(link);
                }
                Ok(Some((routes, Some(proxies))))
            });
            match started {
                Ok(proxied) => {
                    let (routes, proxies) = proxied.unwrap_or_default();
                    let mut fleet = Fleet {
                        known_hosts: dir.join("known_hosts"),
                        ssh_config: dir.join("ssh_config"),
                        inventory: dir.join("inventory.yml"),
                        project_file: dir.join("herd.toml"),
                        dir,
                        hosts,
                        port,
                        user,
                        client_key,
                        routes,
                        link_shape: self.link.clone(),
                        apt_repo,
                        detached: self.detached,
                        _proxies: proxies,
                        _tempdir: tempdir,
                    };
                    write_client_files(&mut fleet);
                    return fleet;
                }
                Err(message) => {
                    for host in &mut hosts {
                        stop_sshd(host);
                    }
                    // Another fleet may have taken the port between our check
                    // and sshd's bind: try a fresh port a few times.
                    if attempt >= 5 || self.port.is_some() {
                        for host in &mut hosts {
                            stop_host(host);
                        }
                        panic!("fleet did not start: {message}");
                    }
                }
            }
        }
    }
}

/// Starts every host's namespaces (all at once), then waits for each.
fn start_namespaces(hosts: &mut [FleetHost], dir: &Path, apt_repo: Option<&Path>, detached: bool) {
    let setups: Vec<isolated::Setup> = hosts
        .iter()
        .map(|h| isolated::Setup {
            name: &h.name,
            addr: h.addr,
            fleet_dir: dir,
            host_dir: &h.dir,
            apt_repo,
        })
        .collect();
    let spawned: Vec<_> = setups
        .iter()
        .map(|setup| isolated::spawn(setup, detached))
        .collect();
    let mut started = Vec::new();
    let mut failure = None;
    for (setup, child) in setups.iter().zip(spawned) {
        match child.and_then(|child| isolated::wait_ready(setup, child)) {
            Ok(pair) => started.push(Some(pair)),
            Err(message) => {
                failure.get_or_insert(message);
                started.push(None);
            }
        }
    }
    drop(setups);
    for (host, pair) in hosts.iter_mut().zip(started) {
        if let Some((child, namespace)) = pair {
            if detached {
                std::fs::write(
                    host.dir.join("init.pid"),
                    format!("{}\n", namespace.init_pid),
                )
                .expect("init.pid");
            }
            host.unshare = Some(child);
            host.namespace = Some(namespace);
            host.home = PathBuf::from("/root");
        }
    }
    if let Some(message) = failure {
        for host in hosts.iter_mut() {
            stop_host(host);
        }
        panic!("fleet did not start: {message}");
    }
}

/// The address of host `i`: 127.0.0.2, 127.0.0.3, ... 127.0.0.251,
/// 127.0.1.2, ...
pub fn host_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (i / 250) as u8, (i % 250 + 2) as u8)
}

fn prepare_host(
    dir: &Path,
    i: usize,
    client_key: &Path,
    sshd_config: &Path,
    sshd_options: Vec<String>,
    detached: bool,
) -> FleetHost {
    let name = format!("host{}", i + 1);
    let host_dir = dir.join("hosts").join(&name);
    let root = host_dir.join("root");
    let home = host_dir.join("home");
    std::fs::create_dir_all(&root).expect("host root");
    std::fs::create_dir_all(&home).expect("host home");
    let host_key = host_dir.join("ssh_host_ed25519_key");
    if !host_key.exists() {
        keygen(&host_key, &name);
    }
    let authorized_keys = host_dir.join("authorized_keys");
    if !authorized_keys.exists() {
        let public = std::fs::read_to_string(format!("{}.pub", client_key.display()))
            .expect("client public key");
        write_private(&authorized_keys, &public);
    }
    FleetHost {
        addr: host_addr(i),
        port: 0,
        sshd_port: 0,
        root,
        home,
        host_key_pub: PathBuf::from(format!("{}.pub", host_key.display())),
        host_key,
        authorized_keys,
        log: host_dir.join("sshd.log"),
        pid_file: host_dir.join("sshd.pid"),
        dir: host_dir,
        name,
        namespace: None,
        link: None,
        child: None,
        unshare: None,
        sshd_config: sshd_config.to_path_buf(),
        sshd_options,
        detached,
    }
}

fn write_sshd_config(path: &Path, extra: &[String]) {
    let mut text = String::from(
        "# written by herd's test fleet; per-host settings are passed with -o\n\
         AddressFamily inet\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         StrictModes no\n\
         UsePAM no\n\
         UseDNS no\n\
         MaxStartups 2000:30:4000\n\
         MaxAuthTries 20\n\
         LoginGraceTime 60\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         X11Forwarding no\n\
         AllowTcpForwarding yes\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n\
         LogLevel VERBOSE\n",
    );
    let _ = writeln!(text, "KexAlgorithms {KEX}");
    for line in extra {
        let _ = writeln!(text, "{line}");
    }
    std::fs::write(path, text).expect("write sshd_config");
}

/// Starts the host's sshd: on the loopback fleet a foreground `sshd -D`
/// child; inside an isolated host a daemon started with nsenter, which the
/// host's init adopts.
fn spawn_sshd(host: &mut FleetHost) {
    let _ = std::fs::remove_file(&host.log);
    let _ = std::fs::remove_file(&host.pid_file);
    let mut cmd = match &host.namespace {
        Some(ns) => ns.command(SSHD),
        None => {
            let mut cmd = Command::new(SSHD);
            cmd.arg("-D")
                // Sessions get the host's own $HOME: the machine's ~/.bashrc
                // is not part of any measurement and hosts don't share
                // dotfiles.
                .arg("-o")
                .arg(format!("SetEnv=HOME={}", host.home.display()));
            cmd
        }
    };
    cmd.arg("-f")
        .arg(&host.sshd_config)
        .arg("-E")
        .arg(&host.log)
        .arg("-o")
        .arg(format!("ListenAddress={}:{}", host.addr, host.sshd_port))
        .arg("-o")
        .arg(format!("HostKey={}", host.host_key.display()))
        .arg("-o")
        .arg(format!("PidFile={}", host.pid_file.display()))
        .arg("-o")
        .arg(format!(
            "AuthorizedKeysFile={}",
            host.authorized_keys.display()
        ))
        .args(host.sshd_options.iter().flat_map(|o| ["-o", o.as_str()]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if host.namespace.is_some() {
        // nsenter returns once sshd has daemonized inside the host.
        let status = cmd.status().expect("run nsenter (util-linux)");
        assert!(
            status.success(),
            "{}: starting sshd inside the host failed",
            host.name
        );
        return;
    }
    let detached = host.detached;
    // SAFETY: only async-signal-safe calls (prctl, setsid) between fork and exec.
    unsafe {
        if detached {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        } else {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    let child = cmd.spawn().expect("spawn sshd");
    if detached {
        // sshd -D writes no pid file in the foreground on every version; write
        // our own so `stop_dir` can find it.
        std::fs::write(&host.pid_file, format!("{}\n", child.id())).expect("pid file");
    }
    host.child = Some(child);
}

fn wait_all_listening(hosts: &mut [FleetHost]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    for host in hosts.iter_mut() {
        loop {
            if TcpStream::connect_timeout(&host.sshd_socket(), Duration::from_millis(200)).is_ok() {
                break;
            }
            let exited = match host.child.as_mut() {
                Some(child) => child.try_wait().ok().flatten().map(|s| s.to_string()),
                // A daemonized sshd: its log says when it gave up.
                None => host
                    .log_text()
                    .contains("fatal:")
                    .then(|| "a fatal error".to_string()),
            };
            if let Some(status) = exited {
                return Err(format!(
                    "{} ({}) exited with {status}; its log:\n{}",
                    host.name,
                    host.sshd_socket(),
                    host.log_text()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} ({}) not listening after 20s; its log:\n{}",
                    host.name,
                    host.sshd_socket(),
                    host.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

/// Stops the host's sshd (SIGTERM, then SIGKILL after 5 s).
fn stop_sshd(host: &mut FleetHost) {
    if host.namespace.is_some() {
        if let Some(pid) = host.sshd_pid() {
            // SAFETY: kill(2) on the sshd this fleet started in the host.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            wait_gone(pid);
        }
        let _ = std::fs::remove_file(&host.pid_file);
        return;
    }
    if let Some(mut child) = host.child.take() {
        // A frozen host's processes could not act on SIGTERM, and its
        // stopped sessions would outlive the sshd.
        host_thaw_tree(child.id() as i32);
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = std::fs::remove_file(&host.pid_file);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&host.pid_file);
    }
}

fn host_thaw_tree(pid: i32) {
    for pid in isolated::process_tree(pid) {
        // SAFETY: kill(2) on our sshd and the sessions under it.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
}

/// Stops the host: its sshd, and an isolated host's every process (and so
/// its mounts).
fn stop_host(host: &mut FleetHost) {
    if let Some(ns) = host.namespace.take() {
        ns.kill();
        if let Some(mut unshare) = host.unshare.take() {
            let _ = unshare.wait();
        } else {
            wait_gone(ns.init_pid);
        }
        let _ = std::fs::remove_file(&host.pid_file);
        return;
    }
    stop_sshd(host);
}

/// A port that is free on the addresses of the first `n` hosts (and is not
/// `except`).
fn free_port(n: usize, except: Option<u16>) -> u16 {
    'search: for _ in 0..50 {
        let probe = TcpListener::bind((host_addr(0), 0)).expect("bind probe");
        let port = probe.local_addr().expect("probe addr").port();
        if Some(port) == except {
            continue;
        }
        let mut held = vec![probe];
        for i in 1..n {
            match TcpListener::bind((host_addr(i), port)) {
                Ok(l) => held.push(l),
                Err(_) => continue 'search,
            }
        }
        return port;
    }
    panic!("no free port found for {n} loopback hosts");
}

fn write_client_files(fleet: &mut Fleet) {
    let key = fleet.client_key.display().to_string();
    let mut known_hosts = String::new();
    let mut ssh_config = String::new();
    for host in &fleet.hosts {
        let _ = writeln!(
            known_hosts,
            "{} {}",
            host.known_hosts_name(),
            host.public_key()
        );
        let _ = write!(
            ssh_config,
            "Host {name}\n  HostName {addr}\n  Port {port}\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n\n",
            name = host.name,
            addr = host.addr,
            port = host.port,
            user = fleet.user,
            kh = fleet.known_hosts.display(),
        );
    }
    write_private(&fleet.known_hosts, &known_hosts);
    write_private(&fleet.ssh_config, &ssh_config);

    let half = fleet.hosts.len().div_ceil(2);
    let mut inv = format!(
        "# A loopback fleet of real sshd hosts, written by herd's fleet harness.\n\
         all:\n  vars:\n    ansible_user: {user}\n    ansible_port: {port}\n    ansible_ssh_private_key_file: {key}\n  children:\n",
        user = fleet.user,
        port = fleet.port,
    );
    for (group, range) in [("web", 0..half), ("db", half..fleet.hosts.len())] {
        if range.is_empty() {
            continue;
        }
        let _ = write!(inv, "    {group}:\n      hosts:\n");
        for host in &fleet.hosts[range] {
            let _ = writeln!(
                inv,
                "        {}: {{ansible_host: {}, root_dir: {}}}",
                host.name,
                host.addr,
                host.root.display()
            );
        }
    }
    write_private(&fleet.inventory, &inv);
    let project = "# herd project for the loopback fleet\n\
                   inventory = \"inventory.yml\"\n\n\
                   [ssh]\n\
                   config = \"ssh_config\"\n\
                   known_hosts = [\"known_hosts\"]\n";
    write_private(&fleet.project_file, project);
}

fn keygen(path: &Path, comment: &str) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen (install openssh-client)");
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write fleet file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Only signal a pid whose command line names `what` (sshd, init.sh,
/// proxy) and this fleet directory.
#[allow(
    dead_code,
    reason = "used by examples/fleet.rs (through Fleet::stop_dir)"
)]
fn is_ours(pid: i32, dir: &Path, what: &str) -> bool {
    let mut cmdline = String::new();
    let Ok(mut f) = std::fs::File::open(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if f.read_to_string(&mut cmdline).is_err() {
        return false;
    }
    cmdline.contains(what) && cmdline.contains(&*dir.to_string_lossy())
}

fn process_name(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_string())
}

/// The command line of `pid`, arguments joined by spaces.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}
