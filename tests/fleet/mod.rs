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
//! Shared by several test binaries and an example, so not every item is used
//! by each.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org";

/// One sshd host of the fleet.
pub struct FleetHost {
    /// Inventory name: host1, host2, ...
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    /// The host's own directory (keys, logs, pid file).
    pub dir: PathBuf,
    /// The host's working directory, for files tests create "on the host".
    pub root: PathBuf,
    /// `$HOME` of sessions on this host.
    pub home: PathBuf,
    pub host_key: PathBuf,
    pub host_key_pub: PathBuf,
    pub authorized_keys: PathBuf,
    pub log: PathBuf,
    pub pid_file: PathBuf,
    child: Option<Child>,
}

impl FleetHost {
    /// `addr:port`, as a socket address.
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::from((self.addr, self.port))
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
}

/// A running fleet and the client-side files to reach it.
pub struct Fleet {
    /// Everything the fleet wrote lives here.
    pub dir: PathBuf,
    pub hosts: Vec<FleetHost>,
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
    detached: bool,
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
        }
    }

    /// Stops the sshd of host `i` (0-based): it becomes unreachable.
    pub fn stop_host(&mut self, i: usize) {
        stop_host(&mut self.hosts[i]);
    }

    /// The pid of host `i`'s listening sshd (`None` once stopped).
    pub fn sshd_pid(&self, i: usize) -> Option<i32> {
        self.hosts[i].child.as_ref().map(|c| c.id() as i32)
    }

    /// Every process below host `i`'s listening sshd, parents before
    /// children: each connection's sshd processes, the shells they started
    /// and their commands (found through /proc by parent pid).
    pub fn session_pids(&self, i: usize) -> Vec<i32> {
        self.sshd_pid(i).map(descendants).unwrap_or_default()
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

    /// Restarts host `i`'s sshd with a freshly generated host key, on the
    /// same address and port; known_hosts keeps the old key.
    pub fn restart_with_new_host_key(&mut self, i: usize) {
        stop_host(&mut self.hosts[i]);
        let host = &mut self.hosts[i];
        let _ = std::fs::remove_file(&host.host_key);
        let _ = std::fs::remove_file(&host.host_key_pub);
        keygen(&host.host_key, &host.name);
        spawn_sshd(host, &self.dir.join("sshd_config"), &[], false);
        wait_all_listening(std::slice::from_mut(host)).expect("sshd restarted");
    }

    /// Path of a file inside the fleet dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Stops a detached fleet started in `dir`, by its pid files. Returns how
    /// many servers were stopped.
    pub fn stop_dir(dir: &Path) -> usize {
        let mut stopped = 0;
        let Ok(entries) = std::fs::read_dir(dir.join("hosts")) else {
            return 0;
        };
        for entry in entries.flatten() {
            let pid_file = entry.path().join("sshd.pid");
            if let Some(pid) = read_pid(&pid_file)
                && is_our_sshd(pid, dir)
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

    /// How many servers of a detached fleet in `dir` are running.
    pub fn running_in_dir(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir.join("hosts")) else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| read_pid(&e.path().join("sshd.pid")))
            .filter(|pid| is_our_sshd(*pid, dir))
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
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Servers outlive this process (demo, benchmarks); stop them with
    /// `Fleet::stop_dir`.
    pub fn detached(mut self, yes: bool) -> Self {
        self.detached = yes;
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

        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = self.port.unwrap_or_else(|| free_port(self.hosts));
            let mut hosts: Vec<FleetHost> = (0..self.hosts)
                .map(|i| prepare_host(&dir, i, port, &client_key))
                .collect();
            for (i, host) in hosts.iter_mut().enumerate() {
                let options: Vec<&str> = self
                    .host_options
                    .iter()
                    .filter(|(h, _)| *h == i)
                    .map(|(_, o)| o.as_str())
                    .collect();
                spawn_sshd(host, &common_config, &options, self.detached);
            }
            match wait_all_listening(&mut hosts) {
                Ok(()) => {
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
                        detached: self.detached,
                        _tempdir: tempdir,
                    };
                    write_client_files(&mut fleet);
                    return fleet;
                }
                Err(message) => {
                    for host in &mut hosts {
                        stop_host(host);
                    }
                    // Another fleet may have taken the port between our check
                    // and sshd's bind: try a fresh port a few times.
                    if attempt >= 5 || self.port.is_some() {
                        panic!("fleet did not start: {message}");
                    }
                }
            }
        }
    }
}

/// The address of host `i`: 127.0.0.2, 127.0.0.3, ... 127.0.0.251,
/// 127.0.1.2, ...
pub fn host_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (i / 250) as u8, (i % 250 + 2) as u8)
}

fn prepare_host(dir: &Path, i: usize, port: u16, client_key: &Path) -> FleetHost {
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
        port,
        root,
        home,
        host_key_pub: PathBuf::from(format!("{}.pub", host_key.display())),
        host_key,
        authorized_keys,
        log: host_dir.join("sshd.log"),
        pid_file: host_dir.join("sshd.pid"),
        dir: host_dir,
        name,
        child: None,
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

fn spawn_sshd(host: &mut FleetHost, config: &Path, options: &[&str], detached: bool) {
    let _ = std::fs::remove_file(&host.log);
    let mut cmd = Command::new(SSHD);
    cmd.arg("-D")
        .arg("-f")
        .arg(config)
        .arg("-E")
        .arg(&host.log)
        .arg("-o")
        .arg(format!("ListenAddress={}:{}", host.addr, host.port))
        .arg("-o")
        .arg(format!("HostKey={}", host.host_key.display()))
        .arg("-o")
        .arg(format!("PidFile={}", host.pid_file.display()))
        .arg("-o")
        .arg(format!(
            "AuthorizedKeysFile={}",
            host.authorized_keys.display()
        ))
        // Sessions get the host's own $HOME: the machine's ~/.bashrc is not
        // part of any measurement and hosts don't share dotfiles.
        .arg("-o")
        .arg(format!("SetEnv=HOME={}", host.home.display()))
        .args(options.iter().flat_map(|o| ["-o", o]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
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
            if TcpStream::connect_timeout(&host.socket(), Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Some(child) = host.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "{} ({}) exited with {status}; its log:\n{}",
                    host.name,
                    host.socket(),
                    host.log_text()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} ({}) not listening after 20s; its log:\n{}",
                    host.name,
                    host.socket(),
                    host.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

fn stop_host(host: &mut FleetHost) {
    if let Some(mut child) = host.child.take() {
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

/// A port that is free on the addresses of the first `n` hosts.
fn free_port(n: usize) -> u16 {
    'search: for _ in 0..50 {
        let probe = TcpListener::bind((host_addr(0), 0)).expect("bind probe");
        let port = probe.local_addr().expect("probe addr").port();
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

/// Only signal a pid that really is an sshd of this fleet directory.
fn is_our_sshd(pid: i32, dir: &Path) -> bool {
    let mut cmdline = String::new();
    let Ok(mut f) = std::fs::File::open(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if f.read_to_string(&mut cmdline).is_err() {
        return false;
    }
    cmdline.contains(SSHD) && cmdline.contains(&*dir.to_string_lossy())
}

/// Parent pid of `pid`, from /proc/PID/stat (the field after the command
/// name, which may itself hold spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn process_name(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_string())
}

/// Every descendant of `root`, parents before children.
fn descendants(root: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok())
                && let Some(parent) = parent_of(pid)
            {
                parents.push((pid, parent));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
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
