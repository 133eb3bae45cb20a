//! Isolated hosts: each host a small "machine" of its own.
//!
//! A host runs in its own mount, UTS and PID namespaces (util-linux
//! `unshare`), with an overlayfs root over the machine's `/`: /etc, /usr,
//! /var, /home, /root and /tmp are the host's own copy-on-write view, so
//! `useradd`, `dpkg -i`, crontabs and /etc edits stay inside that host. It
//! has its own hostname (`host1`, ...), its own /proc (it sees only its own
//! processes) and its own sshd, started inside it. The network namespace is
//! the machine's: the host is still reached on 127.0.0.x.
//!
//! Layout inside a host:
//! - `/` is overlayfs: lower = the machine's `/` (the root filesystem only,
//!   not the mounts under it), upper and work on a tmpfs mounted inside the
//!   host's mount namespace (overlayfs refuses an upper dir that lies inside
//!   its lower, and a tmpfs inside the namespace dies with it).
//! - /dev and /sys are the machine's (recursive bind mounts), /proc is a
//!   fresh procfs for the host's PID namespace, /run a fresh tmpfs.
//! - The fleet directory is bind-mounted at its own path, so the sshd's keys,
//!   config, log and pid file are the files the harness wrote, and each
//!   host's `root` dir is shared with the test as in the loopback fleet.
//!
//! Process tree, seen from the machine: `unshare` (our child) -> the host's
//! init (PID 1 inside: a shell that sets the host up, then waits and reaps
//! orphans forever) -> sshd (started with `nsenter`, daemonized, so the
//! host's init adopts it) -> sessions. Killing the init kills every process
//! of the host (PID namespace teardown), and with them go its mounts (the
//! mount namespace dies with its last process). `unshare --kill-child`
//! kills the init when `unshare` dies, and `unshare` gets PR_SET_PDEATHSIG
//! from the harness: nothing outlives a killed test process.
//!
//! Needs root (namespaces, mounts). Nothing here leaves the host's mount
//! namespace: the machine's mount table is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The namespaces of one isolated host.
pub struct Namespace {
    /// The host's init, as seen from the machine (PID 1 inside).
    pub init_pid: i32,
}

impl Namespace {
    /// A path inside the host's filesystem, readable and writable from the
    /// machine (through /proc/PID/root) while the host runs.
    pub fn path(&self, path: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/{}",
            self.init_pid,
            path.trim_start_matches('/')
        ))
    }

    /// A command that runs inside the host: its mounts, hostname, PID
    /// namespace and root.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", self.init_pid))
            .args(["--mount", "--uts", "--pid", "--root", "--wd", "--"])
            .arg(program);
        cmd
    }

    /// Runs `sh -c script` inside the host and returns its output.
    pub fn sh(&self, script: &str) -> Output {
        self.command("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter (util-linux)")
    }

    /// Every process of the host except its init, as machine pids.
    pub fn processes(&self) -> Vec<i32> {
        let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid", self.init_pid)) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != self.init_pid)
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == Some(ns.clone())
            })
            .collect()
    }

    /// The machine pid of the host's process whose pid inside the host is
    /// `inner`.
    pub fn outer_pid(&self, inner: i32) -> Option<i32> {
        self.processes().into_iter().find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
                    line.split_whitespace().last()?.parse::<i32>().ok()
                })
                == Some(inner)
        })
    }

    /// Kills every process of the host (its init first: the kernel then
    /// kills the rest and the host's mounts go with its mount namespace).
    pub fn kill(&self) {
        // SAFETY: kill(2) on the init we started.
        unsafe { libc::kill(self.init_pid, libc::SIGKILL) };
    }
}

/// Everything the init script needs to know about the host.
pub struct Setup<'a> {
    pub name: &'a str,
    pub addr: std::net::Ipv4Addr,
    /// The fleet directory, bind-mounted into the host at the same path.
    pub fleet_dir: &'a Path,
    /// The host's own directory in the fleet (init log, state mount point).
    pub host_dir: &'a Path,
    /// A local apt repository (a directory with `Packages`) to use as the
    /// host's only package source.
    pub apt_repo: Option<&'a Path>,
}

/// The shell script the host's init runs: build the root, pivot into it,
/// name the host, then wait forever (reaping orphans, as an init must).
pub fn init_script(setup: &Setup) -> String {
    let state = setup.host_dir.join("state");
    let ready = setup.host_dir.join("ready");
    let fleet = setup.fleet_dir.display();
    let apt = match setup.apt_repo {
        Some(repo) => format!(
            "# Packages come from the fleet's local repository only: never the network.\n\
             rm -f /etc/apt/sources.list.d/* /etc/apt/sources.list\n\
             echo 'deb [trusted=yes] file:{repo} ./' > /etc/apt/sources.list.d/herd-fleet.list\n\
             echo 'APT::Sandbox::User \"root\";' > /etc/apt/apt.conf.d/99herd-fleet\n\
             rm -rf /var/lib/apt/lists/*\n\
             apt-get update -qq >/dev/null\n",
            repo = repo.display()
        ),
        None => String::new(),
    };
    format!(
        r#"#!/bin/sh
# Written by herd's test fleet: sets up isolated host {name}, then stays its init.
set -eu
state={state}
mount -t tmpfs -o mode=0755 herd-{name} "$state"
mkdir -p "$state/upper" "$state/work" "$state/root"
mount -t overlay -o "lowerdir=/,upperdir=$state/upper,workdir=$state/work" herd-{name} "$state/root"
r="$state/root"
mount --rbind /dev "$r/dev"
mount --rbind /sys "$r/sys"
mount -t proc proc "$r/proc"
mount -t tmpfs -o mode=0755 run "$r/run"
mkdir -p "$r{fleet}"
mount --bind "{fleet}" "$r{fleet}"
mkdir -p "$r/.old-root"
cd "$r"
pivot_root . .old-root
cd /
umount -l /.old-root
rmdir /.old-root
hostname {name}
echo {name} > /etc/hostname
echo '{addr} {name}' >> /etc/hosts
mkdir -p /run/sshd
{apt}touch {ready}
while :; do
  sleep 3600 &
  wait $! || true
done
"#,
        name = setup.name,
        state = state.display(),
        addr = setup.addr,
        ready = ready.display(),
    )
}

/// Starts the host's namespaces: `unshare` running the init script.
/// `detached`: the host outlives this process (demo, benchmarks).
pub fn spawn(setup: &Setup, detached: bool) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let script = setup.host_dir.join("init.sh");
    std::fs::write(&script, init_script(setup)).expect("write init.sh");
    std::fs::create_dir_all(setup.host_dir.join("state")).expect("state dir");
    let _ = std::fs::remove_file(setup.host_dir.join("ready"));
    let log_file = std::fs::File::create(setup.host_dir.join("init.log")).expect("init.log");
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--uts",
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "--propagation=private",
        "/bin/sh",
    ])
    .arg(&script)
    .stdin(Stdio::null())
    .stdout(log_file.try_clone().expect("init.log"))
    .stderr(log_file);
    // SAFETY: only async-signal-safe calls (prctl, setsid) between fork and exec.
    unsafe {
        if detached {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        } else {
            cmd.pre_exec(|| {
                // unshare blocks SIGTERM while it waits for its child: KILL.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn()
        .map_err(|e| format!("run unshare (util-linux): {e}"))
}

/// Waits until the host's init has set the host up.
pub fn wait_ready(
    setup: &Setup,
    mut child: std::process::Child,
) -> Result<(std::process::Child, Namespace), String> {
    let ready = setup.host_dir.join("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = |why: String| {
        format!(
            "isolated host {} {why}; its init log:\n{}",
            setup.name,
            std::fs::read_to_string(setup.host_dir.join("init.log")).unwrap_or_default()
        )
    };
    loop {
        if ready.exists() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!("exited with {status}")));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(failed("not set up after 60s".into()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(init_pid) = children(child.id() as i32).first().copied() else {
        let _ = child.kill();
        return Err(failed("has no init process".into()));
    };
    Ok((child, Namespace { init_pid }))
}

/// Direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `pid` and all its descendants.
pub fn process_tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let more = children(all[i]);
        all.extend(more);
        i += 1;
    }
    all
}
