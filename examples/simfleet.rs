//! A simulated fleet for scale tests and benchmarks: one process answering
//! SSH for N virtual hosts on N loopback addresses (see tests/it/fleet/sim.rs).
//!
//!     cargo run --release --example simfleet -- --hosts 10000 [--dir bench/run/sim] [--port P]
//!         [--first 127.10.0.1] [--no-fast-path] [--max-shells 32]
//!
//! Writes the client files (inventory.yml, herd.toml, known_hosts,
//! id_ed25519, addresses.txt, ssh_options, hosts.json, inventory.py) into
//! the directory, prints `ready N PORT DIR` on stdout once every host
//! listens, and serves until killed (SIGTERM/SIGINT); what it served so far
//! goes to stderr every 10 s while it changes.
//!
//! A host costs two descriptors (its listener and a connection). When the
//! open-file hard limit cannot hold 2N (and cannot be raised: raising it
//! needs CAP_SYS_RESOURCE), the fleet is served by several processes: this
//! one writes the client files, picks the port and the key seed, and starts
//! children (`--serve FROM-TO --seed HEX --no-files`) for slices of the
//! hosts; they die with it.

#[path = "../tests/it/fleet/mod.rs"]
#[allow(dead_code)] // the examples use part of the test harness
mod fleet;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use fleet::sim::{SimFleet, SimOptions};

const USAGE: &str = "usage: simfleet --hosts N [--dir DIR] [--port PORT] [--first ADDR] [--no-fast-path] [--max-shells N]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("simfleet: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = SimOptions::new(0, &PathBuf::from("simfleet"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--hosts" => options.hosts = parse(&value("--hosts")?)?,
            "--dir" => options.dir = PathBuf::from(value("--dir")?),
            "--port" => options.port = parse(&value("--port")?)?,
            "--first" => options.first = parse(&value("--first")?)?,
            "--max-shells" => options.max_shells = parse(&value("--max-shells")?)?,
            "--no-fast-path" => options.fast_path = false,
            "--no-files" => options.write_files = false,
            "--serve" => {
                let v = value("--serve")?;
                let (a, b) = v.split_once('-').ok_or(format!("--serve {v}: FROM-TO"))?;
                options.serve = Some(parse(a)?..parse(b)?);
            }
            "--seed" => options.seed = Some(parse_seed(&value("--seed")?)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.hosts == 0 {
        return Err("--hosts N is required".into());
    }
    if !options.first.is_loopback() {
        return Err(format!("{}: not a loopback address", options.first));
    }
    let per_process = (fleet::sim::nofile_hard_limit().saturating_sub(512) / 2).max(1) as usize;
    if options.serve.is_none() && options.hosts > per_process {
        return serve_in_children(options, per_process);
    }
    let fleet = SimFleet::start(options).map_err(|e| e.to_string())?;
    println!(
        "ready {} {} {}",
        fleet.hosts.len(),
        fleet.port,
        fleet.dir.display()
    );
    let stats = fleet.stats.clone();
    std::thread::spawn(move || {
        let mut last = (0, 0, 0);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            let now = (
                stats.connections.load(Ordering::Relaxed),
                stats.fast_execs.load(Ordering::Relaxed),
                stats.shell_execs.load(Ordering::Relaxed),
            );
            if now != last {
                eprintln!(
                    "simfleet: {} connections, {} authenticated, {} fast-path execs, {} shell execs",
                    now.0,
                    stats.authenticated.load(Ordering::Relaxed),
                    now.1,
                    now.2
                );
                last = now;
            }
        }
    });
    fleet.wait();
    Ok(())
}

/// Writes the client files here and serves the hosts from children, each
/// a slice of at most `per_process` hosts; waits for them.
fn serve_in_children(mut options: SimOptions, per_process: usize) -> Result<(), String> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let seed = fleet::sim::random_seed().map_err(|e| e.to_string())?;
    if options.port == 0 {
        let probe = std::net::TcpListener::bind((options.first, 0)).map_err(|e| e.to_string())?;
        options.port = probe.local_addr().map_err(|e| e.to_string())?.port();
    }
    options.seed = Some(seed);
    options.serve = Some(0..0);
    let fleet = SimFleet::start(options.clone()).map_err(|e| e.to_string())?;
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    let mut from = 0;
    while from < options.hosts {
        let to = (from + per_process).min(options.hosts);
        let mut cmd = std::process::Command::new(&me);
        cmd.args(["--hosts", &options.hosts.to_string()])
            .args(["--serve", &format!("{from}-{to}")])
            .args(["--seed", &hex, "--no-files"])
            .args(["--port", &options.port.to_string()])
            .args(["--first", &options.first.to_string()])
            .args(["--max-shells", &options.max_shells.to_string()])
            .arg("--dir")
            .arg(&fleet.dir)
            .stdout(std::process::Stdio::piped());
        if !options.fast_path {
            cmd.arg("--no-fast-path");
        }
        // SAFETY: prctl in the child before exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if !line.starts_with("ready") {
            return Err(format!("serving hosts {from}-{to} failed"));
        }
        children.push(child);
        from = to;
    }
    println!(
        "ready {} {} {} ({} processes)",
        fleet.hosts.len(),
        fleet.port,
        fleet.dir.display(),
        children.len()
    );
    for mut child in children {
        let _ = child.wait();
    }
    Ok(())
}

fn parse_seed(hex: &str) -> Result<[u8; 32], String> {
    let mut seed = [0u8; 32];
    if hex.len() != 64 {
        return Err("--seed: 64 hex digits".into());
    }
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| "--seed: not hex")?;
    }
    Ok(seed)
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{text}: not a valid value"))
}
