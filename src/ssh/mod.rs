//! The SSH transport: resolve a host into a [`Target`], get its pooled
//! [`Connection`] from the [`Pool`], then `exec`, `put`, `get`, `stat` and
//! `sha256` over it.
//!
//! OpenSSH semantics throughout: `~/.ssh/config`, known_hosts (strict by
//! default), ssh-agent, certificates, ProxyJump. A user's `ssh host` and
//! `herd run host` reach the same machine the same way.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use herd::ssh::{ExecOptions, HostSpec, Pool, SshOptions, Target};
//! let options = SshOptions::default();
//! let target = Target::resolve("web1", &HostSpec::default(), &options)?;
//! let pool = Pool::new(options);
//! let conn = pool.connect(&target).await?;
//! let out = conn.exec("uptime", &ExecOptions::default()).await?;
//! println!("{}", String::from_utf8_lossy(&out.stdout));
//! pool.close_all().await;
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod error;
mod exec;
pub mod known_hosts;
mod pool;
mod proxy_command;
mod session;
mod target;
mod transfer;

pub use config::{Secret, SshOptions};
pub use error::{ConnectError, ExecError, TransferError};
pub(crate) use exec::nonce;
pub use exec::{Become, ExecOptions, ExecOutput, shell_quote};
pub use pool::{Connection, Pool};
pub use target::{HostSpec, Resolver, Target};
pub use transfer::{PutOptions, RemoteStat};

/// Raises this process's open-file limit to its hard limit. Each host
/// holds a socket, so a large fan-out runs out of the usual soft limit of
/// 1024 long before anything else. Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid, initialized struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        Ok(limit.rlim_cur as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nofile_limit_is_raised_to_the_hard_limit() {
        let soft = super::raise_nofile_limit().unwrap();
        assert!(soft >= 1024);
    }
}
