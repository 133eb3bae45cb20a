//! Opening one SSH connection: TCP (or a channel through a jump host),
//! key exchange with the host key checked against known_hosts, then
//! authentication.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PublicKey, PublicKeyOrCertificate};

use super::auth::{KeyStore, authenticate};
use super::error::ConnectError;
use super::known_hosts::{self, HostKeyStatus, LearnError, Learned};
use super::target::Target;
use crate::project::HostKeyChecking;

/// Our side of the SSH session: russh calls it with the server's key.
pub(crate) struct ClientHandler {
    name: String,
    host: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    mode: HostKeyChecking,
}

/// Lets `check_server_key` hand a precise reason out of russh's handshake.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey(ConnectError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, HandlerError> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // We advertise no host certificate algorithms; should a server
            // send one anyway, its key must still be in known_hosts.
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        let (files, host, port) = (self.known_hosts.clone(), self.host.clone(), self.port);
        let checked = key.clone();
        let status =
            tokio::task::spawn_blocking(move || known_hosts::check(&files, &host, port, &checked))
                .await
                .map_err(|e| self.read_error(e.to_string()));
        if self.mode == HostKeyChecking::Off {
            self.accept_unchecked(&key, status);
            return Ok(true);
        }
        let status = status?.map_err(|e| self.read_error(e.to_string()))?;
        match status {
            HostKeyStatus::Known => Ok(true),
            HostKeyStatus::Unknown if self.mode == HostKeyChecking::AcceptNew => {
                self.learn(key).await
            }
            status => Err(HandlerError::HostKey(self.refusal(status))),
        }
    }
}

/// Whether this run has already said that host key checking is off.
static UNCHECKED_SAID: AtomicBool = AtomicBool::new(false);

impl ClientHandler {
    /// Host key checking is off: say so once per run, whatever the
    /// command, and say loudly when the key differs from the recorded one
    /// (as OpenSSH does even with StrictHostKeyChecking=no).
    fn accept_unchecked<E>(
        &self,
        key: &PublicKey,
        status: Result<Result<HostKeyStatus, E>, HandlerError>,
    ) {
        if !UNCHECKED_SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "herd: WARNING: host key checking is OFF (StrictHostKeyChecking=no or \
                 --host-key-checking off) for {} and any other host set so: whoever answers at \
                 their addresses is trusted (man-in-the-middle risk)",
                self.name
            );
        }
        if let Ok(Ok(HostKeyStatus::Changed { file, line, .. })) = status {
            eprint!(
                "{}",
                changed_key_warning(&self.name, &self.addr(), key, &file, line)
            );
        }
    }

    fn addr(&self) -> String {
        super::target::known_hosts_name(&self.host, self.port)
    }

    fn learn_error(&self, reason: String) -> HandlerError {
        HandlerError::HostKey(ConnectError::HostKeyLearn {
            host: self.name.clone(),
            addr: self.addr(),
            reason,
        })
    }

    fn read_error(&self, reason: String) -> HandlerError {
        HandlerError::HostKey(ConnectError::KnownHostsRead {
            host: self.name.clone(),
            addr: self.addr(),
            reason,
        })
    }

    fn refusal(&self, status: HostKeyStatus) -> ConnectError {
        let (host, addr) = (self.name.clone(), self.addr());
        match status {
            HostKeyStatus::Changed {
                file,
                line,
                algorithm,
            } => ConnectError::HostKeyChanged {
                host,
                addr,
                file,
                line,
                algorithm,
            },
            HostKeyStatus::Revoked { file, line } => ConnectError::HostKeyRevoked {
                host,
                addr,
                file,
                line,
            },
            HostKeyStatus::Known | HostKeyStatus::Unknown => ConnectError::HostKeyUnknown {
                host,
                addr,
                keyscan_args: if self.port == 22 {
                    self.host.clone()
                } else {
                    format!("-p {} {}", self.port, self.host)
                },
            },
        }
    }

    async fn learn(&self, key: PublicKey) -> Result<bool, HandlerError> {
        let (files, host, port) = (self.known_hosts.clone(), self.host.clone(), self.port);
        let learned =
            tokio::task::spawn_blocking(move || known_hosts::learn(&files, &host, port, &key))
                .await
                .map_err(|e| self.learn_error(e.to_string()))?;
        match learned {
            Ok(Learned::Added(file)) => {
                tracing::warn!(
                    "{}: learned new host key for {} into {}",
                    self.name,
                    self.addr(),
                    file.display()
                );
                Ok(true)
            }
            Ok(Learned::AlreadyKnown) => Ok(true),
            Err(LearnError::Changed(status)) => Err(HandlerError::HostKey(self.refusal(status))),
            Err(e) => Err(self.learn_error(e.to_string())),
        }
    }
}

/// OpenSSH's warning for a host whose key is not the recorded one, naming
/// the host, the offered key's fingerprint and the recorded key's line.
fn changed_key_warning(
    name: &str,
    addr: &str,
    key: &PublicKey,
    file: &Path,
    line: usize,
) -> String {
    let kind = key_kind(key.algorithm().as_str());
    let bar = "@".repeat(59);
    format!(
        "{bar}\n\
         @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
         {bar}\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that a host key has just been changed.\n\
         The fingerprint for the {kind} key sent by {name} ({addr}) is\n\
         {fingerprint}.\n\
         Offending key in {file}:{line}\n\
         Host key checking is off, so herd connected anyway. If the change is expected,\n\
         remove the old key: ssh-keygen -R '{addr}' -f {file}\n",
        fingerprint = key.fingerprint(russh::keys::HashAlg::Sha256),
        file = file.display(),
    )
}

/// `ED25519`, `RSA`, `ECDSA`: how OpenSSH names a key type in messages.
fn key_kind(algorithm: &str) -> String {
    if algorithm.contains("ed25519") {
        "ED25519".into()
    } else if algorithm.contains("ecdsa") {
        "ECDSA".into()
    } else if algorithm.contains("rsa") {
        "RSA".into()
    } else {
        algorithm.to_string()
    }
}

/// Keepalives sent without an answer before the host is given up.
const KEEPALIVE_MAX: usize = 3;

/// How long a silent host is waited for before it is given up: OpenSSH's
/// ServerAliveInterval x (ServerAliveCountMax + 1), the count being 3 here.
/// `None` with keepalives off (ServerAliveInterval 0).
pub(crate) fn dead_after(target: &Target) -> Option<Duration> {
    let interval = target.keepalive.filter(|i| !i.is_zero())?;
    Some(interval * (KEEPALIVE_MAX as u32 + 1))
}

/// How long upload data may wait for the host to accept it: past both
/// bounds after which a connection is given up (a silent host, a stuck
/// write), so a frozen host or link is reported as gone and this bound only
/// ends a command that stops reading its input on a live host: interval x 6.
/// Two minutes with keepalives off.
pub(crate) fn stall_after(target: &Target) -> Duration {
    match (dead_after(target), target.keepalive) {
        (Some(dead), Some(interval)) => dead + interval * 2,
        _ => Duration::from_secs(120),
    }
}

/// The russh client configuration for one target.
fn client_config(target: &Target) -> client::Config {
    let defaults = russh::Preferred::default();
    // curve25519 first: OpenSSH 9's default (sntrup761 / mlkem hybrids)
    // costs much more CPU per handshake, which adds up over many hosts.
    let fast = [russh::kex::CURVE25519, russh::kex::CURVE25519_PRE_RFC_8731];
    let mut kex: Vec<_> = fast.to_vec();
    kex.extend(defaults.kex.iter().filter(|k| !fast.contains(k)).cloned());
    // Host key types already in known_hosts first, like OpenSSH, so a host
    // recorded with its RSA key is not refused for showing an ed25519 one.
    let known = known_hosts::known_algorithms(&target.known_hosts, &target.host, target.port);
    let mut key: Vec<_> = defaults
        .key
        .iter()
        .filter(|a| known.iter().any(|k| same_family(k, a)))
        .cloned()
        .collect();
    key.extend(
        defaults
            .key
            .iter()
            .filter(|a| !key.contains(a))
            .cloned()
            .collect::<Vec<_>>(),
    );
    client::Config {
        keepalive_interval: target.keepalive,
        keepalive_max: KEEPALIVE_MAX,
        // Keepalives cannot go out while a write to a stuck host blocks the
        // session; this bounds that write (answers to keepalives reset it,
        // so a healthy quiet connection never hits it).
        inactivity_timeout: dead_after(target).zip(target.keepalive).map(|(d, i)| d + i),
        nodelay: true,
        // Bulk uploads are window-bound: 16 MiB keeps a fast link busy.
        window_size: 16 << 20,
        maximum_packet_size: 65535,
        preferred: russh::Preferred {
            kex: Cow::Owned(kex),
            key: Cow::Owned(key),
            ..defaults
        },
        ..client::Config::default()
    }
}

fn same_family(a: &russh::keys::Algorithm, b: &russh::keys::Algorithm) -> bool {
    use russh::keys::Algorithm::Rsa;
    a == b || (matches!(a, Rsa { .. }) && matches!(b, Rsa { .. }))
}

/// Connects, checks the host key and authenticates. The caller applies the
/// connect timeout and the handshake limit. Returns the session and the
/// public key we logged in with.
pub(crate) async fn establish(
    target: &Target,
    jump: Option<&Handle<ClientHandler>>,
    keys: &KeyStore,
) -> Result<(Handle<ClientHandler>, PublicKey), ConnectError> {
    let config = Arc::new(client_config(target));
    let handler = ClientHandler {
        name: target.name.clone(),
        host: target.host.clone(),
        port: target.port,
        known_hosts: target.known_hosts.clone(),
        mode: target.host_key_checking,
    };
    let addr = target.known_hosts_name();
    let handshake = match (jump, &target.proxy_command) {
        (Some(jump), _) => {
            let stream = jump_stream(target, jump).await?;
            client::connect_stream(config, stream, handler).await
        }
        (None, Some(command)) => {
            let stream = super::proxy_command::spawn(target, command)?;
            client::connect_stream(config, stream, handler).await
        }
        (None, None) => {
            let stream = tcp_connect(target).await?;
            client::connect_stream(config, stream, handler).await
        }
    };
    let mut handle = handshake.map_err(|e| match e {
        HandlerError::HostKey(e) => e,
        HandlerError::Ssh(e) => ConnectError::Protocol {
            host: target.name.clone(),
            addr: addr.clone(),
            reason: describe_ssh_error(&e),
        },
    })?;
    let login_key = authenticate(&mut handle, target, keys).await?;
    Ok((handle, login_key))
}

/// A TCP stream to `target` through its jump host.
async fn jump_stream(
    target: &Target,
    jump: &Handle<ClientHandler>,
) -> Result<russh::ChannelStream<client::Msg>, ConnectError> {
    let channel = jump
        .channel_open_direct_tcpip(target.host.clone(), target.port.into(), "127.0.0.1", 0)
        .await
        .map_err(|e| ConnectError::Proxy {
            host: target.name.clone(),
            jump: target
                .jump
                .as_ref()
                .map_or_else(String::new, |j| j.name.clone()),
            reason: format!(
                "the jump host could not open a connection to {}: {e}",
                target.known_hosts_name()
            ),
        })?;
    Ok(channel.into_stream())
}

/// Only notes the server's key, then ends the handshake: `ssh-keyscan`.
struct KeyGrab(Arc<std::sync::Mutex<Option<PublicKey>>>);

impl client::Handler for KeyGrab {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, russh::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(false)
    }
}

/// The host key `target` presents in key exchange (the type already in
/// known_hosts preferred, as for a connection). Nothing is verified and no
/// login is attempted.
pub(crate) async fn host_key(
    target: &Target,
    jump: Option<&Handle<ClientHandler>>,
) -> Result<PublicKey, ConnectError> {
    let config = Arc::new(client_config(target));
    let seen = Arc::new(std::sync::Mutex::new(None));
    let handler = KeyGrab(seen.clone());
    // The handshake ends with an error once the key is refused: expected.
    let ended = match (jump, &target.proxy_command) {
        (Some(jump), _) => {
            let stream = jump_stream(target, jump).await?;
            client::connect_stream(config, stream, handler).await.err()
        }
        (None, Some(command)) => {
            let stream = super::proxy_command::spawn(target, command)?;
            client::connect_stream(config, stream, handler).await.err()
        }
        (None, None) => {
            let stream = tcp_connect(target).await?;
            client::connect_stream(config, stream, handler).await.err()
        }
    };
    let key = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
    key.ok_or_else(|| ConnectError::Protocol {
        host: target.name.clone(),
        addr: target.known_hosts_name(),
        reason: ended.map_or_else(|| "no host key received".into(), |e| describe_ssh_error(&e)),
    })
}

async fn tcp_connect(target: &Target) -> Result<tokio::net::TcpStream, ConnectError> {
    let addr = format!("{}:{}", target.host, target.port);
    let address_error = |reason: String| ConnectError::Address {
        host: target.name.clone(),
        addr: addr.clone(),
        reason,
    };
    let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| address_error(e.to_string()))?
        .collect();
    let mut last = None;
    for sockaddr in addrs {
        match tokio::net::TcpStream::connect(sockaddr).await {
            Ok(stream) => {
                stream.set_nodelay(true).ok();
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => ConnectError::Refused {
            host: target.name.clone(),
            addr,
        },
        Some(e) => address_error(e.to_string()),
        None => address_error("no addresses found".into()),
    })
}

fn describe_ssh_error(e: &russh::Error) -> String {
    match e {
        russh::Error::Disconnect | russh::Error::HUP => {
            "the server closed the connection during the handshake (sshd MaxStartups reached, or a TCP wrapper refused us?)".into()
        }
        russh::Error::Kex => format!("{e} (no common key exchange algorithm? the server may be too old)"),
        russh::Error::IO(io) if io.kind() == std::io::ErrorKind::UnexpectedEof || io.kind() == std::io::ErrorKind::ConnectionReset => {
            "the server closed the connection during the handshake (sshd MaxStartups reached, or a TCP wrapper refused us?)".into()
        }
        other => other.to_string(),
    }
}
