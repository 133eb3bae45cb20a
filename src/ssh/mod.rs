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
mod shell;
mod target;
mod transfer;

pub use config::{Secret, SshOptions};
pub use error::{ConnectError, ExecError, TransferError};
pub(crate) use exec::nonce;
pub use exec::{Become, ExecOptions, ExecOutput, is_shell_name, shell_quote};
pub use pool::{Connection, Pool};
pub use target::{HostSpec, Resolver, Target};
pub use transfer::{IDENTITY_STAT, PutOptions, RemoteStat, installed_identity, move_into_place};

/// Raises this process's open-file limit to its hard limit. Each host
/// holds a socket, so a large fan-out runs out of the usual soft limit of
/// 1024 long before anything else. Returns the new soft limit.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    set_nofile_limit(0)
}

/// Open files a run over `hosts` hosts needs: a socket per host (every
/// connection stays open for the run) plus the store, logs and the like.
pub fn open_files_for(hosts: usize) -> u64 {
    hosts as u64 + 256
}

/// Makes room for a run over `hosts` hosts: the soft open-file limit goes
/// to the hard one, and the hard one up to [`open_files_for`] where this
/// process may raise it (root). Says once, on stderr, when the limit still
/// falls short: hosts past it would fail with "too many open files".
pub fn ensure_open_files(hosts: usize) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let want = open_files_for(hosts);
    match set_nofile_limit(want) {
        Ok(limit) if limit >= want => {}
        Ok(limit) => {
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "herd: warning: {hosts} hosts need about {want} open files and the limit is {limit}: \
                     hosts past it will fail to connect; raise it (ulimit -Hn, LimitNOFILE=) or run fewer hosts at once"
                );
            }
        }
        Err(err) => tracing::warn!("cannot raise the open-file limit: {err}"),
    }
}

/// Soft limit to the hard limit, and both to `want` when the hard limit is
/// lower and we are allowed to raise it. Returns the soft limit reached.
fn set_nofile_limit(want: u64) -> std::io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid, initialized struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
        let (soft, hard) = (limit.rlim_cur as u64, limit.rlim_max as u64);
        if hard < want {
            let raised = libc::rlimit {
                rlim_cur: want as libc::rlim_t,
                rlim_max: want as libc::rlim_t,
            };
            // Fails without privilege: then the hard limit is what we get.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok(want);
            }
        }
        if soft < hard {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(hard)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nofile_limit_is_raised_to_the_hard_limit() {
        let soft = super::raise_nofile_limit().unwrap();
        assert!(soft >= 1024);
    }

    #[test]
    fn open_files_for_many_hosts_reach_a_socket_per_host() {
        assert_eq!(super::open_files_for(10_000), 10_256);
    }
}
