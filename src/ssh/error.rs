//! What can go wrong on the way to a host and on it, in words for the admin.
//!
//! Every `ConnectError` names the host and says what to do; the run output
//! shows it as the host's error. Secrets never appear in these messages.

use std::path::PathBuf;
use std::time::Duration;

/// Why herd could not get an authenticated connection to a host.
///
/// `Clone` because the pool remembers a host's failure for the rest of the
/// run and hands the same error to every task that asks for that host.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("{host}: connection refused by {addr} (is sshd running and listening on that port?)")]
    Refused { host: String, addr: String },

    #[error(
        "{host}: timed out after {}s connecting to {addr} (host down or filtered? raise ConnectTimeout or --connect-timeout)",
        .after.as_secs()
    )]
    Timeout {
        host: String,
        addr: String,
        after: Duration,
    },

    #[error("{host}: cannot resolve or reach address {addr}: {reason}")]
    Address {
        host: String,
        addr: String,
        reason: String,
    },

    #[error(
        "{host}: host key for {addr} is not known; add it with `ssh-keyscan {keyscan_args} >> ~/.ssh/known_hosts` or use --host-key-checking accept-new"
    )]
    HostKeyUnknown {
        host: String,
        /// `[127.0.0.2]:2222` or `example.com`: the known_hosts name.
        addr: String,
        /// `-p 2222 127.0.0.2`.
        keyscan_args: String,
    },

    #[error(
        "HOST KEY CHANGED for {host} ({addr}): {}:{line} has a different {algorithm} key; if the change is expected, remove that line (ssh-keygen -R '{addr}' -f {})",
        .file.display(), .file.display()
    )]
    HostKeyChanged {
        host: String,
        addr: String,
        file: PathBuf,
        line: usize,
        algorithm: String,
    },

    #[error("{host}: the host key of {addr} is marked @revoked in {}:{line}", .file.display())]
    HostKeyRevoked {
        host: String,
        addr: String,
        file: PathBuf,
        line: usize,
    },

    #[error("{host}: cannot record the host key of {addr}: {reason}")]
    HostKeyLearn {
        host: String,
        addr: String,
        reason: String,
    },

    #[error("{host}: cannot read known_hosts to check the host key of {addr}: {reason}")]
    KnownHostsRead {
        host: String,
        addr: String,
        reason: String,
    },

    #[error("{host}: authentication as {user} failed; tried {}{}", tried_list(.tried), notes_list(.notes))]
    Auth {
        host: String,
        user: String,
        /// Methods and identities tried, e.g. `publickey ~/.ssh/id_ed25519`.
        tried: Vec<String>,
        /// Why some identities were skipped (passphrase unavailable, unreadable file).
        notes: Vec<String>,
    },

    #[error("{host}: cannot connect through jump host {jump}: {reason}")]
    Proxy {
        host: String,
        jump: String,
        reason: String,
    },

    #[error("{host}: cannot start ProxyCommand `{command}`: {reason}")]
    ProxyCommand {
        host: String,
        command: String,
        reason: String,
    },

    #[error("{host}: ssh configuration: {reason}")]
    Config { host: String, reason: String },

    #[error("{host}: ssh protocol error talking to {addr}: {reason}")]
    Protocol {
        host: String,
        addr: String,
        reason: String,
    },
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        "nothing (no usable identity: add an IdentityFile, ansible_ssh_private_key_file, or load a key into ssh-agent)".to_string()
    } else {
        tried.join(", ")
    }
}

fn notes_list(notes: &[String]) -> String {
    notes.iter().map(|n| format!("; {n}")).collect()
}

impl ConnectError {
    /// The inventory name of the host this error is about.
    pub fn host(&self) -> &str {
        match self {
            ConnectError::Refused { host, .. }
            | ConnectError::Timeout { host, .. }
            | ConnectError::Address { host, .. }
            | ConnectError::HostKeyUnknown { host, .. }
            | ConnectError::HostKeyChanged { host, .. }
            | ConnectError::HostKeyRevoked { host, .. }
            | ConnectError::HostKeyLearn { host, .. }
            | ConnectError::KnownHostsRead { host, .. }
            | ConnectError::Auth { host, .. }
            | ConnectError::Proxy { host, .. }
            | ConnectError::ProxyCommand { host, .. }
            | ConnectError::Config { host, .. }
            | ConnectError::Protocol { host, .. } => host,
        }
    }
}

/// A command could not be run to completion on a connected host.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{host}: command timed out after {}s (the channel was closed)", .after.as_secs_f64())]
    Timeout { host: String, after: Duration },

    #[error(
        "{host}: no data accepted for {}s (the command does not read its input, or the host or link is stuck)",
        .after.as_secs()
    )]
    Stalled { host: String, after: Duration },

    #[error("{host}: cannot open a session channel: {reason}")]
    Channel { host: String, reason: String },

    #[error(
        "{host}: the command ended without an exit status (connection lost or sshd killed the session)"
    )]
    NoExitStatus { host: String },

    #[error("{host}: become (sudo) failed: {reason}")]
    Become { host: String, reason: String },

    #[error("{host}: invalid environment variable name {name:?}")]
    BadEnv { host: String, name: String },

    #[error("{host}: reading local input: {source}")]
    Input {
        host: String,
        source: std::io::Error,
    },
}

/// A file transfer or remote file query failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Exec(#[from] ExecError),

    #[error("{host}: {op} {path} failed (exit {code}): {stderr}")]
    Remote {
        host: String,
        op: &'static str,
        path: String,
        code: i32,
        stderr: String,
    },

    #[error(
        "{host}: checksum mismatch after upload to {path} (local {local}, remote {remote}); the destination was left untouched"
    )]
    Checksum {
        host: String,
        path: String,
        local: String,
        remote: String,
    },

    #[error("{host}: unexpected output from {op} {path}: {output:?}")]
    Parse {
        host: String,
        op: &'static str,
        path: String,
        output: String,
    },

    #[error("{host}: local I/O during transfer of {path}: {source}")]
    Local {
        host: String,
        path: String,
        source: std::io::Error,
    },
}
