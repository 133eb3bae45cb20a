//! Starts and stops a detached fleet of real sshd hosts: the README demo and
//! the benchmarks use it; the tests use the same harness in-process.
//!
//!     cargo run --example fleet -- up 10 demo/run     # start 10 hosts
//!     cargo run --example fleet -- up 3 demo/run --isolated --apt --rtt 50ms
//!     cargo run --example fleet -- status demo/run
//!     cargo run --example fleet -- down demo/run
//!
//! `--isolated` (root): each host its own machine (namespaces, copy-on-write
//! root, hostname; see tests/it/fleet/isolated.rs); `--apt`: with a local apt
//! repository (hello, tree, cowsay) as the hosts' only package source;
//! `--rtt 50ms`: a proxy in front of every host adding that round-trip time
//! (`--jitter`, `--bandwidth` too), run by a detached `fleet proxy` process.
//!
//!     fleet proxy [--rtt D] [--jitter D] [--bandwidth BYTES_PER_S] LISTEN=SSHD...
//!
//! runs proxies in the foreground until killed (bench/run.sh uses it in
//! front of the peer harness's hosts).

#[path = "../tests/it/fleet/mod.rs"]
#[allow(dead_code)] // the examples use part of the test harness
mod fleet;

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use fleet::Fleet;
use fleet::proxy::{self, Route, Shape};

const USAGE: &str = "usage: fleet up N DIR [--port PORT] [--isolated] [--apt] [--rtt D] [--jitter D] [--bandwidth BYTES_PER_S]
       fleet down DIR | fleet status DIR
       fleet proxy [--rtt D] [--jitter D] [--bandwidth BYTES_PER_S] LISTEN=SSHD...   (D: 50ms, 1s, ...)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["up", n, dir, rest @ ..] => up(n, Path::new(dir), rest),
        ["down", dir] => {
            let stopped = Fleet::stop_dir(Path::new(dir));
            eprintln!("fleet: stopped {stopped} servers");
            Ok(())
        }
        ["status", dir] => {
            println!("{} servers running", Fleet::running_in_dir(Path::new(dir)));
            Ok(())
        }
        ["proxy", rest @ ..] => run_proxy(rest),
        _ => Err(String::new()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("fleet: {message}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Options shared by `up` and `proxy`: link shape, flags, the rest.
struct Options<'a> {
    shape: Option<Shape>,
    port: Option<u16>,
    isolated: bool,
    apt: bool,
    positional: Vec<&'a str>,
}

fn parse_options<'a>(args: &[&'a str]) -> Result<Options<'a>, String> {
    let mut options = Options {
        shape: None,
        port: None,
        isolated: false,
        apt: false,
        positional: Vec::new(),
    };
    let duration = |v: Option<&&str>, flag: &str| {
        v.and_then(|v| proxy::parse_duration(v))
            .ok_or_else(|| format!("{flag} needs a duration like 50ms or 1s"))
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--rtt" => {
                options.shape.get_or_insert_default().latency = duration(it.next(), "--rtt")? / 2
            }
            "--jitter" => {
                options.shape.get_or_insert_default().jitter = duration(it.next(), "--jitter")?
            }
            "--bandwidth" => {
                let rate = it.next().and_then(|v| v.parse().ok());
                options.shape.get_or_insert_default().bandwidth =
                    Some(rate.ok_or("--bandwidth needs bytes per second")?);
            }
            "--port" => {
                options.port = Some(
                    it.next()
                        .and_then(|p| p.parse().ok())
                        .ok_or("--port needs a number")?,
                )
            }
            "--isolated" => options.isolated = true,
            "--apt" => options.apt = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => options.positional.push(other),
        }
    }
    Ok(options)
}

fn up(n: &str, dir: &Path, rest: &[&str]) -> Result<(), String> {
    let n: usize = n.parse().map_err(|_| "N must be a number".to_string())?;
    let options = parse_options(rest)?;
    if !options.positional.is_empty() {
        return Err(format!("unexpected {}", options.positional.join(" ")));
    }
    let stopped = Fleet::stop_dir(dir);
    if stopped > 0 {
        eprintln!(
            "fleet: stopped {stopped} servers of the previous fleet in {}",
            dir.display()
        );
    }
    let mut builder = Fleet::builder()
        .hosts(n)
        .dir(dir)
        .detached(true)
        .isolated(options.isolated);
    if let Some(port) = options.port {
        builder = builder.port(port);
    }
    if options.apt {
        builder = builder.apt_packages(fleet::apt::DEFAULT_PACKAGES);
    }
    if let Some(shape) = &options.shape {
        builder = builder.link(shape.clone());
    }
    let fleet = builder.start();
    if let Some(shape) = &fleet.link_shape {
        spawn_proxy(&fleet.dir, &fleet.routes, shape)?;
    }
    eprintln!(
        "fleet: {n} {kind} on {}..{} port {}{link}; project {}",
        fleet.hosts[0].addr,
        fleet.hosts[n - 1].addr,
        fleet.port,
        fleet.project_file.display(),
        kind = if options.isolated {
            "isolated hosts"
        } else {
            "sshd hosts"
        },
        link = match &fleet.link_shape {
            Some(shape) => format!(" behind a proxy ({shape:?})"),
            None => String::new(),
        },
    );
    Ok(())
}

/// Starts this program as a detached `fleet proxy` for the fleet's routes;
/// `fleet down` stops it by DIR/proxy.pid.
fn spawn_proxy(dir: &Path, routes: &[Route], shape: &Shape) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("proxy.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("proxy")
        .arg(format!("--dir={}", dir.display()))
        .args(["--rtt", &format!("{}us", shape.latency.as_micros() * 2)])
        .args(["--jitter", &format!("{}us", shape.jitter.as_micros())]);
    if let Some(rate) = shape.bandwidth {
        cmd.args(["--bandwidth", &rate.to_string()]);
    }
    cmd.args(
        routes
            .iter()
            .map(|r| format!("{}={}", r.listen, r.upstream)),
    )
    .stdin(Stdio::null())
    .stdout(log.try_clone().map_err(|e| e.to_string())?)
    .stderr(log);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("start the proxy: {e}"))?;
    std::fs::write(dir.join("proxy.pid"), format!("{}\n", child.id()))
        .map_err(|e| e.to_string())?;
    // Listening once every route accepts a connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for route in routes {
        while std::net::TcpStream::connect(route.listen).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "proxy not listening on {}; see {}/proxy.log",
                    route.listen,
                    dir.display()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    Ok(())
}

fn run_proxy(args: &[&str]) -> Result<(), String> {
    // --dir=DIR only marks the process as this fleet's (for `fleet down`).
    let args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--dir="))
        .collect();
    let options = parse_options(&args)?;
    let routes = options
        .positional
        .iter()
        .map(|r| {
            let (listen, upstream) = r.split_once('=').ok_or(format!("route {r}: LISTEN=SSHD"))?;
            Ok(Route {
                listen: listen.parse().map_err(|e| format!("{listen}: {e}"))?,
                upstream: upstream.parse().map_err(|e| format!("{upstream}: {e}"))?,
            })
        })
        .collect::<Result<Vec<Route>, String>>()?;
    if routes.is_empty() {
        return Err("proxy: no routes".into());
    }
    let shape = options.shape.unwrap_or_default();
    for route in &routes {
        if !route.listen.ip().is_loopback() || !route.upstream.ip().is_loopback() {
            return Err(format!("{route:?}: loopback addresses only"));
        }
    }
    eprintln!("fleet proxy: {} routes, {shape:?}", routes.len());
    proxy::serve_forever(&routes, &shape).map_err(|e| format!("proxy: {e}"))
}
