//! Starts and stops a detached loopback fleet of real sshd hosts: the README
//! demo and the benchmarks use it; the tests use the same harness in-process.
//!
//!     cargo run --example fleet -- up 10 demo/run     # start 10 hosts
//!     cargo run --example fleet -- status demo/run
//!     cargo run --example fleet -- down demo/run

#[path = "../tests/fleet/mod.rs"]
mod fleet;

use std::path::PathBuf;
use std::process::ExitCode;

use fleet::Fleet;

const USAGE: &str = "usage: fleet up N DIR [--port PORT] | fleet down DIR | fleet status DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up", n, dir, rest @ ..] => {
            let Ok(n) = n.parse::<usize>() else {
                eprintln!("fleet: N must be a number\n{USAGE}");
                return ExitCode::from(2);
            };
            let dir = PathBuf::from(dir);
            let stopped = Fleet::stop_dir(&dir);
            if stopped > 0 {
                eprintln!(
                    "fleet: stopped {stopped} servers of the previous fleet in {}",
                    dir.display()
                );
            }
            let mut builder = Fleet::builder().hosts(n).dir(&dir).detached(true);
            if let ["--port", port] = rest {
                builder = builder.port(port.parse().expect("--port PORT"));
            }
            let fleet = builder.start();
            eprintln!(
                "fleet: {n} sshd hosts on {}..{} port {}; project {}",
                fleet.hosts[0].addr,
                fleet.hosts[n - 1].addr,
                fleet.port,
                fleet.project_file.display()
            );
            ExitCode::SUCCESS
        }
        ["down", dir] => {
            let stopped = Fleet::stop_dir(&PathBuf::from(dir));
            eprintln!("fleet: stopped {stopped} servers");
            ExitCode::SUCCESS
        }
        ["status", dir] => {
            println!(
                "{} servers running",
                Fleet::running_in_dir(&PathBuf::from(dir))
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
