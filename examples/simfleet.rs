//! A simulated fleet for scale tests and benchmarks: one process answering
//! SSH for N virtual hosts on N loopback addresses (see tests/fleet/sim.rs).
//!
//!     cargo run --release --example simfleet -- --hosts 10000 [--dir bench/run/sim] [--port P]
//!         [--first 127.10.0.1] [--no-fast-path] [--max-shells 32]
//!
//! Writes the client files (inventory.yml, herd.toml, known_hosts,
//! id_ed25519, addresses.txt, ssh_options, hosts.json, inventory.py) into
//! the directory, prints `ready N PORT DIR` on stdout once every host
//! listens, and serves until killed (SIGTERM/SIGINT); what it served so far
//! goes to stderr every 10 s while it changes.

#[path = "../tests/fleet/mod.rs"]
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.hosts == 0 {
        return Err("--hosts N is required".into());
    }
    if !options.first.is_loopback() {
        return Err(format!("{}: not a loopback address", options.first));
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

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{text}: not a valid value"))
}
