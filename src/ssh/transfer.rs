//! Files over the command channel, with nothing but a POSIX shell and
//! coreutils on the host: uploads stream into `cat > TMP` beside the
//! destination, are checked with `sha256sum`, then given their mode/owner
//! and renamed over the destination. A failed or interrupted upload leaves
//! the old file as it was.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::TransferError;
use super::exec::{Become, ExecOptions, ExecOutput, Input, Output, nonce, shell_quote};
use super::pool::Connection;

/// How to install an uploaded file.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Permission bits; default 0644.
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub become_: Option<Become>,
    /// No timeout by default: large files take what they take.
    pub timeout: Option<Duration>,
}

/// A remote file's metadata (symlinks followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStat {
    pub size: u64,
    /// Permission bits, e.g. 0o644.
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Seconds since the epoch.
    pub mtime: i64,
    pub is_dir: bool,
    pub is_file: bool,
}

const MISSING: &str = "herd-missing";

/// A regular file's identity as `stat` prints it: size, mtime, ctime (to
/// the nanosecond), device, inode. Any write moves the ctime; a new file
/// has another inode (`modules::file_marks` relies on both).
pub const IDENTITY_STAT: &str = "%s %.9Y %.9Z %d %i";

const INSTALLED: &str = "herd-installed:";

/// Where the ctime sits in [`IDENTITY_STAT`]: a rename moves it.
const IDENTITY_CTIME: usize = 2;

/// Shell text that renames `q_tmp` over `q_dest` (both quoted), removing
/// the temp file and exiting with mv's status if that fails; then prints
/// the temp file's identity from before the rename and the installed
/// file's, for [`installed_identity`].
pub fn move_into_place(q_tmp: &str, q_dest: &str) -> String {
    format!(
        "{{ t=$(stat -c '{IDENTITY_STAT}' -- {q_tmp} 2>/dev/null) || t=; }} && \
         mv -f {q_tmp} {q_dest} || {{ rc=$?; rm -f {q_tmp}; exit $rc; }}; \
         s=$(stat -c '{IDENTITY_STAT}' -- {q_dest} 2>/dev/null) && printf '{INSTALLED}%s|%s\\n' \"$t\" \"$s\"; :"
    )
}

/// The identity [`move_into_place`] printed, if the file at the
/// destination was still the one moved there (all but the ctime as the
/// temp file's): nothing wrote to it between the rename and the stat.
pub fn installed_identity(stdout: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().find_map(|l| l.strip_prefix(INSTALLED))?;
    let (before, after) = line.split_once('|')?;
    let (b, a): (Vec<&str>, Vec<&str>) = (before.split(' ').collect(), after.split(' ').collect());
    let fields = IDENTITY_STAT.split(' ').count();
    let moved = b.len() == fields
        && a.len() == fields
        && (0..fields).all(|i| i == IDENTITY_CTIME || a[i] == b[i]);
    moved.then(|| after.to_string())
}

impl Connection {
    /// Uploads `local` to `remote_path` atomically. Returns the installed
    /// file's identity ([`IDENTITY_STAT`]) when nothing touched it between
    /// its rename and the `stat` that followed.
    pub async fn put(
        &self,
        local: impl AsyncRead + Unpin + Send,
        remote_path: &str,
        opts: &PutOptions,
    ) -> Result<Option<String>, TransferError> {
        let (dir, name) = match remote_path.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", remote_path),
        };
        if name.is_empty() {
            return Err(self.parse_error("put", remote_path, "destination is a directory path"));
        }
        let tmp = format!("{dir}/.{name}.herd-tmp-{}", nonce());
        let (q_tmp, q_dest) = (shell_quote(&tmp), shell_quote(remote_path));
        let exec_opts = ExecOptions {
            timeout: opts.timeout,
            become_: opts.become_.clone(),
            ..ExecOptions::default()
        };

        let mut reader = HashingReader::new(local);
        let upload = format!(
            "umask 077; cat > {q_tmp} && sha256sum < {q_tmp} || {{ rc=$?; rm -f {q_tmp}; exit $rc; }}"
        );
        let result = self
            .run(
                &upload,
                &exec_opts,
                Input::Reader(&mut reader),
                Output::Capture,
            )
            .await;
        let cleanup = format!("rm -f {q_tmp}");
        // The cleanup must not hang on a host that just stopped answering.
        let cleanup_opts = ExecOptions {
            timeout: Some(self.stall_timeout),
            ..exec_opts.clone()
        };
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                // The command may have died mid-way; don't leave a temp file.
                let _ = self.exec(&cleanup, &cleanup_opts).await;
                return Err(e.into());
            }
        };
        if let Some(source) = reader.error.take() {
            let _ = self.exec(&cleanup, &cleanup_opts).await;
            return Err(TransferError::Local {
                host: self.name.clone(),
                path: remote_path.to_string(),
                source,
            });
        }
        self.check_exit("put", remote_path, &out)?;
        let remote = first_word(&out.stdout);
        let local_hash = reader.hex();
        if remote != local_hash {
            let _ = self.exec(&cleanup, &cleanup_opts).await;
            return Err(TransferError::Checksum {
                host: self.name.clone(),
                path: remote_path.to_string(),
                local: local_hash,
                remote,
            });
        }

        let mut install = format!("chmod {:o} {q_tmp}", opts.mode.unwrap_or(0o644));
        let owner = match (&opts.owner, &opts.group) {
            (Some(o), Some(g)) => Some(format!("{o}:{g}")),
            (Some(o), None) => Some(o.clone()),
            (None, Some(g)) => Some(format!(":{g}")),
            (None, None) => None,
        };
        if let Some(owner) = owner {
            install.push_str(&format!(" && chown {} {q_tmp}", shell_quote(&owner)));
        }
        install.push_str(&format!(" && {}", move_into_place(&q_tmp, &q_dest)));
        let out = self.exec(&install, &exec_opts).await?;
        self.check_exit("put", remote_path, &out)?;
        Ok(installed_identity(&out.stdout))
    }

    /// Downloads `remote_path` into `local`; returns the byte count. The
    /// data is checked against the remote `sha256sum` afterwards.
    pub async fn get(
        &self,
        remote_path: &str,
        local: impl AsyncWrite + Unpin + Send,
    ) -> Result<u64, TransferError> {
        self.get_with(remote_path, local, &ExecOptions::default())
            .await
    }

    /// [`get`](Self::get) with become or a timeout.
    pub async fn get_with(
        &self,
        remote_path: &str,
        local: impl AsyncWrite + Unpin + Send,
        opts: &ExecOptions,
    ) -> Result<u64, TransferError> {
        let mut writer = HashingWriter::new(local);
        let command = format!("cat -- {}", shell_quote(remote_path));
        let out = self
            .run(&command, opts, Input::Empty, Output::Writer(&mut writer))
            .await?;
        self.check_exit("get", remote_path, &out)?;
        let local_hash = writer.hex();
        match self.sha256_with(remote_path, opts).await? {
            Some(remote) if remote == local_hash => Ok(writer.count),
            remote => Err(TransferError::Checksum {
                host: self.name.clone(),
                path: remote_path.to_string(),
                local: local_hash,
                remote: remote.unwrap_or_else(|| "(file gone)".into()),
            }),
        }
    }

    /// Metadata of `remote_path`; `None` if it does not exist.
    pub async fn stat(&self, remote_path: &str) -> Result<Option<RemoteStat>, TransferError> {
        self.stat_with(remote_path, &ExecOptions::default()).await
    }

    /// [`stat`](Self::stat) with become or a timeout.
    pub async fn stat_with(
        &self,
        remote_path: &str,
        opts: &ExecOptions,
    ) -> Result<Option<RemoteStat>, TransferError> {
        let p = shell_quote(remote_path);
        let command = format!(
            "if [ -e {p} ]; then stat -L -c '%s %a %U %G %Y %F' -- {p}; else echo {MISSING}; fi"
        );
        let out = self.exec(&command, opts).await?;
        self.check_exit("stat", remote_path, &out)?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text == MISSING {
            return Ok(None);
        }
        parse_stat(&text)
            .map(Some)
            .ok_or_else(|| self.parse_error("stat", remote_path, &text))
    }

    /// Hex SHA-256 of a regular file; `None` if it does not exist.
    pub async fn sha256(&self, remote_path: &str) -> Result<Option<String>, TransferError> {
        self.sha256_with(remote_path, &ExecOptions::default()).await
    }

    /// [`sha256`](Self::sha256) with become or a timeout.
    pub async fn sha256_with(
        &self,
        remote_path: &str,
        opts: &ExecOptions,
    ) -> Result<Option<String>, TransferError> {
        let p = shell_quote(remote_path);
        let command = format!(
            "if [ -f {p} ]; then sha256sum < {p}; elif [ -e {p} ]; then echo 'not a regular file' >&2; exit 3; else echo {MISSING}; fi"
        );
        let out = self.exec(&command, opts).await?;
        self.check_exit("sha256", remote_path, &out)?;
        let word = first_word(&out.stdout);
        if word == MISSING {
            return Ok(None);
        }
        if word.len() != 64 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.parse_error("sha256", remote_path, &word));
        }
        Ok(Some(word))
    }

    fn check_exit(
        &self,
        op: &'static str,
        path: &str,
        out: &ExecOutput,
    ) -> Result<(), TransferError> {
        if out.success() {
            return Ok(());
        }
        Err(TransferError::Remote {
            host: self.name.clone(),
            op,
            path: path.to_string(),
            code: out.exit_code.unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    fn parse_error(&self, op: &'static str, path: &str, output: &str) -> TransferError {
        TransferError::Parse {
            host: self.name.clone(),
            op,
            path: path.to_string(),
            output: output.to_string(),
        }
    }
}

fn first_word(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// `%s %a %U %G %Y %F`, where %F (file type) may contain spaces.
fn parse_stat(text: &str) -> Option<RemoteStat> {
    let mut parts = text.splitn(6, ' ');
    let size = parts.next()?.parse().ok()?;
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let owner = parts.next()?.to_string();
    let group = parts.next()?.to_string();
    let mtime = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    Some(RemoteStat {
        size,
        mode,
        owner,
        group,
        mtime,
        is_dir: kind == "directory",
        is_file: kind.starts_with("regular"),
    })
}

/// Hashes what passes through, and keeps a local read error for the caller
/// (russh would report it only as a generic channel error).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    error: Option<std::io::Error>,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            error: None,
        }
    }
    fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HashingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                self.hasher.update(new);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                let kind = e.kind();
                self.error = Some(e);
                Poll::Ready(Err(std::io::Error::new(kind, "local read failed")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for HashingWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.hasher.update(&buf[..n]);
            self.count += n as u64;
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines() {
        let s = parse_stat("1234 644 root wheel 1700000000 regular file").unwrap();
        assert_eq!((s.size, s.mode, s.mtime), (1234, 0o644, 1700000000));
        assert_eq!((s.owner.as_str(), s.group.as_str()), ("root", "wheel"));
        assert!(s.is_file && !s.is_dir);
        assert!(parse_stat("4096 755 a b 1 directory").unwrap().is_dir);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn a_moved_file_is_identified_unless_something_wrote_to_it_after() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, dest) = (dir.path().join(".f.tmp"), dir.path().join("f"));
        let (q_tmp, q_dest) = (
            shell_quote(&tmp.display().to_string()),
            shell_quote(&dest.display().to_string()),
        );
        let run = |script: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", script])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            out.stdout
        };
        std::fs::write(&tmp, "new").unwrap();
        let out = run(&move_into_place(&q_tmp, &q_dest));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        let stat = run(&format!("stat -c '{IDENTITY_STAT}' -- {q_dest}"));
        let identity = String::from_utf8(stat).unwrap();
        assert_eq!(installed_identity(&out).as_deref(), Some(identity.trim()));
        // A write between the rename and the stat: no identity.
        std::fs::write(&tmp, "new").unwrap();
        let racing = move_into_place(&q_tmp, &q_dest).replacen(
            "; s=$(stat",
            &format!("; echo more >> {q_dest}; s=$(stat"),
            1,
        );
        assert!(racing.contains("echo more"));
        assert_eq!(installed_identity(&run(&racing)), None);
        assert_eq!(
            installed_identity(b"herd-installed:1 2 8 3 4|1 2 9 3 4\n").as_deref(),
            Some("1 2 9 3 4")
        );
        assert_eq!(installed_identity(b"herd-installed:|1 2 9 3 4\n"), None);
    }
}
