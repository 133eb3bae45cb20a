//! One authenticated connection per host per run, shared by every command
//! and transfer to that host.
//!
//! The first caller for a host connects; concurrent callers wait for that
//! same connect. The outcome — connection or error — is kept for the run,
//! so an unreachable host fails every task at once instead of each task
//! waiting out its own timeout. Jump hosts are pooled the same way, so all
//! targets behind one bastion share one connection to it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::Handle;
use tokio::sync::{OnceCell, Semaphore};

use super::auth::KeyStore;
use super::config::SshOptions;
use super::error::ConnectError;
use super::session::{ClientHandler, establish};
use super::target::Target;

type Slot = Arc<OnceCell<Result<Arc<Connection>, ConnectError>>>;

/// The connection pool for one run.
pub struct Pool {
    options: SshOptions,
    keys: KeyStore,
    /// Limits handshakes in flight, not open connections (see
    /// [`SshOptions::max_handshakes`]).
    handshakes: Semaphore,
    slots: Mutex<HashMap<String, Slot>>,
}

/// An authenticated connection to one host.
pub struct Connection {
    pub(crate) name: String,
    pub(crate) handle: Arc<Handle<ClientHandler>>,
    /// Channels open at once stay below the server's MaxSessions.
    pub(crate) channels: Arc<Semaphore>,
    pub(crate) max_channels: usize,
    /// The long-lived shell commands run through (see `shell.rs`).
    pub(crate) shell: super::shell::ShellSlot,
    pub(crate) output_limit: usize,
    pub(crate) command_timeout: Option<Duration>,
    /// How long a write (upload data) may wait for the host to accept it.
    pub(crate) stall_timeout: Duration,
    /// The public key the server accepted for our login.
    pub(crate) login_key: russh::keys::PublicKey,
    /// Keeps the jump host's connection alive as long as this one.
    _jump: Option<Arc<Connection>>,
    depth: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .finish()
    }
}

impl Connection {
    /// The inventory name of the host.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key this connection logged in with.
    pub fn login_key(&self) -> &russh::keys::PublicKey {
        &self.login_key
    }

    /// True once the connection is gone (network, keepalive, server exit).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// After a command failed: whether the connection itself is gone. The
    /// channel can end a moment before the connection is marked closed, so
    /// this waits up to 200 ms for the mark.
    pub async fn is_lost(&self) -> bool {
        for _ in 0..10 {
            if self.is_closed() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_closed()
    }

    /// Says goodbye to the server; channels still open are closed with it.
    pub async fn disconnect(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "herd run finished", "en")
            .await;
    }
}

impl Pool {
    pub fn new(options: SshOptions) -> Arc<Pool> {
        Arc::new(Pool {
            keys: KeyStore::new(options.key_passphrase.clone(), options.prompt_passphrase),
            handshakes: Semaphore::new(options.max_handshakes.max(1)),
            slots: Mutex::new(HashMap::new()),
            options,
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    /// The connection to `target`, opened on first use.
    pub async fn connect(&self, target: &Target) -> Result<Arc<Connection>, ConnectError> {
        let key = target.pool_key();
        let slot = self.slot(&key);
        let result = slot.get_or_init(|| self.open(target)).await.clone();
        match result {
            // Lost since (server restarted, network blip): connect afresh once.
            Ok(conn) if conn.is_closed() => {
                let fresh = {
                    let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                    let current = slots.entry(key).or_default();
                    if Arc::ptr_eq(current, &slot) {
                        *current = Slot::default();
                    }
                    current.clone()
                };
                fresh.get_or_init(|| self.open(target)).await.clone()
            }
            other => other,
        }
    }

    /// Forgets a host's cached outcome, so the next `connect` tries again.
    pub fn forget(&self, target: &Target) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&target.pool_key());
    }

    /// Closes the connection to `target`, if one is open, and forgets it:
    /// the next `connect` logs in again (`meta: reset_connection`).
    pub async fn reset(&self, target: &Target) {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.remove(&target.pool_key())
        };
        if let Some(Ok(conn)) = slot.as_ref().and_then(|s| s.get()) {
            tracing::debug!("{}: connection reset", target.name);
            conn.disconnect().await;
        }
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.to_string()).or_default().clone()
    }

    /// Boxed: a target's jump host is connected through `connect` again.
    fn open<'a>(
        &'a self,
        target: &'a Target,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Connection>, ConnectError>> + Send + 'a>> {
        Box::pin(async move {
            let jump = self.jump_of(target).await?;
            let connecting = establish(target, jump.as_deref().map(|j| &*j.handle), &self.keys);
            let (handle, login_key) = self.handshake(target, connecting).await?;
            tracing::debug!("{}: connected to {}", target.name, target.pool_key());
            Ok(Arc::new(Connection {
                name: target.name.clone(),
                handle: Arc::new(handle),
                login_key,
                channels: Arc::new(Semaphore::new(self.options.max_channels.max(1))),
                max_channels: self.options.max_channels,
                shell: Default::default(),
                output_limit: self.options.output_limit,
                command_timeout: self.options.command_timeout,
                stall_timeout: super::session::stall_after(target),
                depth: jump.as_ref().map_or(0, |j| j.depth + 1),
                _jump: jump,
            }))
        })
    }

    /// The connection to `target`'s jump host, if it has one.
    async fn jump_of(&self, target: &Target) -> Result<Option<Arc<Connection>>, ConnectError> {
        let Some(jump) = &target.jump else {
            return Ok(None);
        };
        self.connect(jump)
            .await
            .map(Some)
            .map_err(|e| ConnectError::Proxy {
                host: target.name.clone(),
                jump: jump.name.clone(),
                reason: e.to_string(),
            })
    }

    /// The host key `target` presents, without verifying it or logging in
    /// (`herd keys scan`). A jump host is reached through the pool.
    pub async fn host_key(&self, target: &Target) -> Result<russh::keys::PublicKey, ConnectError> {
        let jump = self.jump_of(target).await?;
        let scanning = super::session::host_key(target, jump.as_deref().map(|j| &*j.handle));
        self.handshake(target, scanning).await
    }

    /// Runs one handshake with `target` in a handshake slot, bounded by the
    /// connect timeout (waiting for the slot is not part of it).
    async fn handshake<T>(
        &self,
        target: &Target,
        work: impl Future<Output = Result<T, ConnectError>>,
    ) -> Result<T, ConnectError> {
        let _permit = self
            .handshakes
            .acquire()
            .await
            .expect("semaphore never closed");
        tokio::time::timeout(target.connect_timeout, work)
            .await
            .map_err(|_| ConnectError::Timeout {
                host: target.name.clone(),
                addr: target.known_hosts_name(),
                after: target.connect_timeout,
            })?
    }

    /// Disconnects every connection cleanly: hosts behind jump hosts first,
    /// then the jump hosts.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.drain().map(|(_, slot)| slot).collect()
        };
        let mut conns: Vec<Arc<Connection>> = slots
            .iter()
            .filter_map(|slot| slot.get().and_then(|r| r.as_ref().ok()).cloned())
            .collect();
        conns.sort_by_key(|c| std::cmp::Reverse(c.depth));
        for conn in conns {
            conn.disconnect().await;
        }
    }
}
