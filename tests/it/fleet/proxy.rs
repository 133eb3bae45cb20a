//! The wire: a fault proxy in front of each host's sshd.
//!
//! Every tool under test (herd, OpenSSH, pyinfra) connects to the host's
//! address; with a proxied fleet a proxy listens there and forwards to the
//! host's sshd on another port. Each host has its own [`LinkControl`], so one
//! host's link can be slowed, cut or reset while the others work.
//!
//! What the link can do (all changes apply at once, also to open
//! connections):
//! - latency per direction, with jitter (bytes keep their order), and a
//!   bandwidth cap per direction;
//! - `cut` / `restore`: hold every byte (a pulled cable: connections hang,
//!   nothing is lost, everything flows again on restore); `stall` is a cut
//!   that restores itself after a while;
//! - `blackhole`: swallow every byte, never answer, never close;
//! - `reset`: abort every open connection with a TCP RST;
//! - slow close: a side's FIN reaches the other side only after a delay.
//!
//! A new connection while the host's sshd is down is reset right after it is
//! accepted (a real host would refuse it: the proxy cannot).
//!
//! Why our own and not the `noxious` crate (a Rust port of Toxiproxy): its
//! last release is from 2021 (tokio-util 0.6, thiserror 1, mockall), and it
//! has no cut-and-resume (its `timeout` toxic drops data) or RST on command;
//! the model here is ~250 lines on the tokio that herd already uses.
//!
//! The proxies of a test fleet run on a tokio runtime owned by the fleet
//! (dropping it closes every connection); a detached fleet (demo, benchmarks)
//! runs them in a `fleet proxy` process (examples/fleet.rs).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How a link shapes the bytes that cross it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shape {
    /// Added delay in each direction (RTT = 2 x latency).
    pub latency: Duration,
    /// Up to this much more delay per chunk, random (order is kept).
    pub jitter: Duration,
    /// Bytes per second in each direction; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Delay before a side's close reaches the other side.
    pub slow_close: Duration,
}

impl Shape {
    /// A link with this round-trip time (half of it each way).
    pub fn rtt(rtt: Duration) -> Shape {
        Shape {
            latency: rtt / 2,
            ..Shape::default()
        }
    }
}

/// Whether bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Up,
    /// Cut: bytes wait until the link is restored.
    Held,
    /// Bytes are swallowed; nothing is ever answered or closed.
    Blackhole,
}

#[derive(Clone, Debug)]
struct State {
    shape: Shape,
    flow: Flow,
    /// Bumped by every flow change (so a stall's timer restores only its
    /// own cut).
    epoch: u64,
    /// Bumped by `reset`: connections opened before abort.
    resets: u64,
}

/// Controls one host's link. Cheap to clone; every clone controls the same
/// link.
#[derive(Clone)]
pub struct LinkControl {
    state: Arc<watch::Sender<State>>,
    open: Arc<AtomicUsize>,
}

impl LinkControl {
    fn new(shape: Shape) -> LinkControl {
        let (tx, _) = watch::channel(State {
            shape,
            flow: Flow::Up,
            epoch: 0,
            resets: 0,
        });
        LinkControl {
            state: Arc::new(tx),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The link's current shape.
    pub fn shape(&self) -> Shape {
        self.state.borrow().shape.clone()
    }

    /// Sets the round-trip time (half each way), keeping the rest.
    pub fn set_rtt(&self, rtt: Duration) {
        self.state.send_modify(|s| s.shape.latency = rtt / 2);
    }

    /// Caps each direction at `bytes_per_second` (`None`: unlimited).
    pub fn set_bandwidth(&self, bytes_per_second: Option<u64>) {
        self.state
            .send_modify(|s| s.shape.bandwidth = bytes_per_second);
    }

    /// Cuts the link: bytes wait (connections hang) until `restore`.
    pub fn cut(&self) {
        self.set_flow(Flow::Held);
    }

    /// Lets bytes flow again after `cut`, `stall` or `blackhole` (a
    /// blackholed connection has lost bytes for good; new ones work).
    pub fn restore(&self) {
        self.set_flow(Flow::Up);
    }

    /// Swallows every byte from now on, answering nothing, until `restore`.
    pub fn blackhole(&self) {
        self.set_flow(Flow::Blackhole);
    }

    /// Holds every byte for `duration`, then lets them flow (unless the
    /// flow was changed meanwhile).
    pub fn stall(&self, duration: Duration) {
        let epoch = self.set_flow(Flow::Held);
        let link = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            let mut restored = false;
            link.state.send_if_modified(|s| {
                restored = s.epoch == epoch;
                if restored {
                    s.flow = Flow::Up;
                    s.epoch += 1;
                }
                restored
            });
        });
    }

    /// Aborts every open connection with a TCP RST (both sides). New
    /// connections work.
    pub fn reset(&self) {
        self.state.send_modify(|s| s.resets += 1);
    }

    /// Connections open through the link now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn set_flow(&self, flow: Flow) -> u64 {
        let mut epoch = 0;
        self.state.send_modify(|s| {
            s.flow = flow;
            s.epoch += 1;
            epoch = s.epoch;
        });
        epoch
    }
}

/// One proxy: where it listens and the sshd it forwards to.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
}

/// Running proxies; dropping this closes every listener and connection.
pub struct Proxies {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Proxies {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Proxies {
    /// Binds a listener per route (an error if one is taken) and starts
    /// forwarding, every link shaped by `shape`. Returns one control per
    /// route, in order.
    pub fn start(routes: &[Route], shape: &Shape) -> std::io::Result<(Proxies, Vec<LinkControl>)> {
        let mut listeners = Vec::with_capacity(routes.len());
        for route in routes {
            let listener = std::net::TcpListener::bind(route.listen)?;
            listener.set_nonblocking(true)?;
            listeners.push(listener);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fleet-proxy")
            .enable_all()
            .build()?;
        let mut links = Vec::with_capacity(routes.len());
        for (route, listener) in routes.iter().zip(listeners) {
            let link = LinkControl::new(shape.clone());
            let upstream = route.upstream;
            let control = link.clone();
            runtime.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
                accept_loop(listener, upstream, control).await;
            });
            links.push(link);
        }
        Ok((
            Proxies {
                runtime: Some(runtime),
            },
            links,
        ))
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, upstream: SocketAddr, link: LinkControl) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(upstream.port());
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let link = link.clone();
        tokio::spawn(async move {
            link.open.fetch_add(1, Ordering::SeqCst);
            serve(client, upstream, &link, seed).await;
            link.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Forwards one connection until both directions are done or the link
/// resets it.
async fn serve(client: TcpStream, upstream: SocketAddr, link: &LinkControl, seed: u64) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        abort(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut state = link.state.subscribe();
    let resets = state.borrow_and_update().resets;
    let fds = (client.as_raw_fd(), server.as_raw_fd());
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pipe(client_read, server_write, link.state.subscribe(), seed);
    let down = pipe(
        server_read,
        client_write,
        link.state.subscribe(),
        seed ^ 0xff,
    );
    let reset = async move {
        loop {
            if state.borrow_and_update().resets != resets {
                break;
            }
            if state.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        // The halves (which own the fds) are dropped right after this
        // branch wins: with SO_LINGER 0 their close sends RST.
        set_abortive_close(fds.0);
        set_abortive_close(fds.1);
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = reset => {}
    }
}

/// One direction: read as bytes come, deliver each chunk after the link's
/// delay, at its bandwidth, while it flows.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut state: watch::Receiver<State>,
    seed: u64,
) {
    // Bounded: at most 64 chunks of 16 KiB wait per direction.
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(64);
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send((Instant::now(), None)).await;
                    return;
                }
                Ok(n) => {
                    if tx
                        .send((Instant::now(), Some(buf[..n].to_vec())))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let write = async move {
        let mut rng = seed | 1;
        let mut last_due = Instant::now();
        let mut line_free_at = Instant::now();
        while let Some((read_at, chunk)) = rx.recv().await {
            while state.borrow_and_update().flow == Flow::Held {
                if state.changed().await.is_err() {
                    return;
                }
            }
            let current = state.borrow().clone();
            if current.flow == Flow::Blackhole {
                continue;
            }
            let shape = current.shape;
            let jitter = if shape.jitter.is_zero() {
                Duration::ZERO
            } else {
                shape.jitter.mul_f64(next_unit(&mut rng))
            };
            let due = (read_at + shape.latency + jitter).max(last_due);
            tokio::time::sleep_until(due).await;
            last_due = due;
            let Some(bytes) = chunk else {
                if !shape.slow_close.is_zero() {
                    tokio::time::sleep(shape.slow_close).await;
                }
                let _ = to.shutdown().await;
                return;
            };
            if let Some(rate) = shape.bandwidth.filter(|r| *r > 0) {
                let start = line_free_at.max(Instant::now());
                line_free_at = start + Duration::from_secs_f64(bytes.len() as f64 / rate as f64);
                tokio::time::sleep_until(line_free_at).await;
            }
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}

/// xorshift64*: jitter needs spread, not quality.
fn next_unit(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

fn abort(stream: &TcpStream) {
    set_abortive_close(stream.as_raw_fd());
}

/// SO_LINGER with a zero timeout: close(2) sends RST instead of FIN.
fn set_abortive_close(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket fd that is still open, with a valid
    // pointer and length.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Runs proxies for `routes` in this process until it is killed (the
/// detached fleet's `fleet proxy`).
#[allow(dead_code, reason = "used by examples/fleet.rs")]
pub fn serve_forever(routes: &[Route], shape: &Shape) -> std::io::Result<()> {
    let (_proxies, _links) = Proxies::start(routes, shape)?;
    loop {
        std::thread::park();
    }
}

/// Parses "50ms", "1.5s", "200us" or "0".
#[allow(dead_code, reason = "used by examples/fleet.rs")]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        _ => return None,
    };
    (seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}
