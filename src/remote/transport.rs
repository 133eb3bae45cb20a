//! Where a module's or a release step's work happens: a pooled SSH connection, or this machine
//! (`delegate_to: localhost`).
//!
//! Both sides speak the same POSIX shell, so modules build one shell
//! command per question ("stat and checksum this file") and the transport
//! only runs it. Uploads are atomic on both sides: temp file beside the
//! destination, then rename.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ssh::{
    Connection, ExecOptions, ExecOutput, PutOptions, RemoteStat, installed_identity,
    move_into_place, shell_quote,
};

/// Why a command or a file transfer could not be done (the words are the
/// admin's: they end up in the task's or step's error).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Over SSH: the connection, the channel or the transfer failed.
    #[error("{0}")]
    Ssh(String),
    /// On this machine: the shell or a file could not be used.
    #[error("{0}")]
    Local(String),
}

/// A module's way to a host.
#[derive(Debug, Clone)]
pub enum Transport {
    Ssh(Arc<Connection>),
    /// The machine herd runs on: commands run with `sh -c`.
    Local,
    /// A scripted host for module fixtures (see `super::replay`; tests only).
    #[cfg(test)]
    Replay(Arc<super::replay::Replay>),
}

impl Transport {
    /// A name for messages.
    pub fn name(&self) -> &str {
        match self {
            Transport::Ssh(conn) => conn.name(),
            Transport::Local => "localhost",
            #[cfg(test)]
            Transport::Replay(_) => "fixture-host",
        }
    }

    /// After an error: whether the connection to the host is gone (the
    /// host is then unreachable rather than failed).
    pub async fn is_lost(&self) -> bool {
        match self {
            Transport::Ssh(conn) => conn.is_lost().await,
            Transport::Local => false,
            #[cfg(test)]
            Transport::Replay(_) => false,
        }
    }

    /// Runs a shell command (with become, env and stdin from `opts`).
    pub async fn exec(
        &self,
        command: &str,
        opts: &ExecOptions,
    ) -> Result<ExecOutput, TransportError> {
        match self {
            Transport::Ssh(conn) => conn
                .exec(command, opts)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string())),
            Transport::Local => local_exec(command, opts).await,
            #[cfg(test)]
            Transport::Replay(replay) => replay.exec(command, opts),
        }
    }

    /// Writes `bytes` to `path` atomically with the mode/owner/group of
    /// `opts`. Returns the written file's identity (`ssh::IDENTITY_STAT`)
    /// when the host could tell it for sure.
    pub async fn put(
        &self,
        bytes: &[u8],
        path: &str,
        opts: &PutOptions,
    ) -> Result<Option<String>, TransportError> {
        self.put_reader(bytes, path, opts).await
    }

    /// [`put`](Self::put) from a reader (large files are streamed over SSH).
    pub async fn put_reader(
        &self,
        mut reader: impl AsyncRead + Unpin + Send,
        path: &str,
        opts: &PutOptions,
    ) -> Result<Option<String>, TransportError> {
        match self {
            Transport::Ssh(conn) => conn
                .put(reader, path, opts)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string())),
            Transport::Local => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).await.map_err(|e| {
                    TransportError::Local(format!("reading upload for {path}: {e}"))
                })?;
                local_put(&bytes, path, opts).await
            }
            #[cfg(test)]
            Transport::Replay(replay) => {
                let mut bytes = Vec::new();
                let _ = reader.read_to_end(&mut bytes).await;
                let put = ExecOptions {
                    stdin: Some(bytes),
                    ..ExecOptions::default()
                };
                replay.exec(&format!("put {path}"), &put).map(|_| None)
            }
        }
    }

    /// A file's content (`become` from `opts`), in memory: for small files.
    pub async fn get(&self, path: &str, opts: &ExecOptions) -> Result<Vec<u8>, TransportError> {
        let mut buf = Vec::new();
        self.get_into(path, &mut buf, opts).await?;
        Ok(buf)
    }

    /// Streams a file's content into `local` as it arrives (`become` from
    /// `opts`); returns the byte count. Over SSH the bytes are checked
    /// against the host's sha256sum.
    pub async fn get_into(
        &self,
        path: &str,
        local: &mut (dyn AsyncWrite + Unpin + Send),
        opts: &ExecOptions,
    ) -> Result<u64, TransportError> {
        let reading = |e: std::io::Error| TransportError::Local(format!("reading {path}: {e}"));
        match self {
            Transport::Ssh(conn) => conn
                .get_with(path, local, opts)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string())),
            Transport::Local if opts.become_.is_none() => {
                let mut file = tokio::fs::File::open(path).await.map_err(reading)?;
                tokio::io::copy(&mut file, local).await.map_err(reading)
            }
            Transport::Local => {
                let out = local_exec(&format!("cat -- {}", shell_quote(path)), opts).await?;
                if !out.success() {
                    return Err(TransportError::Local(format!(
                        "reading {path}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                local.write_all(&out.stdout).await.map_err(reading)?;
                Ok(out.stdout.len() as u64)
            }
            #[cfg(test)]
            Transport::Replay(replay) => {
                let out = replay.exec(&format!("get {path}"), opts)?;
                local.write_all(&out.stdout).await.map_err(reading)?;
                Ok(out.stdout.len() as u64)
            }
        }
    }

    /// Metadata of `path` (symlinks followed); `None` if missing.
    pub async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, TransportError> {
        match self {
            Transport::Ssh(conn) => conn
                .stat(path)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string())),
            Transport::Local => {
                use std::os::unix::fs::{MetadataExt, PermissionsExt};
                let meta = match std::fs::metadata(path) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(TransportError::Local(format!("stat {path}: {e}"))),
                };
                Ok(Some(RemoteStat {
                    size: meta.len(),
                    mode: meta.permissions().mode() & 0o7777,
                    owner: user_name(meta.uid()),
                    group: group_name(meta.gid()),
                    mtime: meta.mtime(),
                    is_dir: meta.is_dir(),
                    is_file: meta.is_file(),
                }))
            }
            #[cfg(test)]
            Transport::Replay(replay) => replay.stat(path),
        }
    }

    /// Hex SHA-256 of a regular file; `None` if missing.
    pub async fn sha256(&self, path: &str) -> Result<Option<String>, TransportError> {
        match self {
            Transport::Ssh(conn) => conn
                .sha256(path)
                .await
                .map_err(|e| TransportError::Ssh(e.to_string())),
            Transport::Local => {
                use sha2::Digest;
                match std::fs::read(path) {
                    Ok(bytes) => Ok(Some(hex(&sha2::Sha256::digest(&bytes)))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(TransportError::Local(format!("reading {path}: {e}"))),
                }
            }
            #[cfg(test)]
            Transport::Replay(replay) => {
                let out = replay.exec(&format!("sha256 {path}"), &ExecOptions::default())?;
                let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
                Ok(out.success().then_some(text))
            }
        }
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sh -c` on this machine, with become through `sudo -n` (a password
/// prompt is not supported locally).
async fn local_exec(command: &str, opts: &ExecOptions) -> Result<ExecOutput, TransportError> {
    let mut line = String::new();
    for (name, value) in &opts.env {
        line.push_str(&format!("export {name}={}; ", shell_quote(value)));
    }
    line.push_str(command);
    let mut cmd = match &opts.become_ {
        None => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(&line);
            c
        }
        Some(b) if b.password.is_none() && b.su => {
            let mut c = tokio::process::Command::new("su");
            c.args([&b.user, "-c", &line]);
            c
        }
        Some(b) if b.password.is_none() => {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "-u", &b.user, "--", "/bin/sh", "-c", &line]);
            c
        }
        Some(_) => {
            return Err(TransportError::Local(
                "become with a password is not supported with delegate_to localhost (use passwordless sudo)"
                    .into(),
            ));
        }
    };
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| TransportError::Local(format!("cannot run /bin/sh: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = opts.stdin.clone().unwrap_or_default();
    let feed = async move {
        let _ = stdin.write_all(&input).await;
        drop(stdin);
    };
    let work = async {
        let (_, out) = tokio::join!(feed, child.wait_with_output());
        out
    };
    let out = match opts.timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| {
            TransportError::Local(format!("command timed out after {}s", limit.as_secs_f64()))
        })?,
        None => work.await,
    }
    .map_err(|e| TransportError::Local(format!("running /bin/sh: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(ExecOutput {
        exit_code: out.status.code(),
        signal: out.status.signal().map(|s| s.to_string()),
        stdout: out.stdout,
        stderr: out.stderr,
        stdout_truncated: false,
        stderr_truncated: false,
    })
}

/// Temp file beside `path`, mode/owner/group, rename. With become the same
/// steps run through `sudo` in a shell.
async fn local_put(
    bytes: &[u8],
    path: &str,
    opts: &PutOptions,
) -> Result<Option<String>, TransportError> {
    let mode = opts.mode.unwrap_or(0o644);
    let dir = match path.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
        None => ".".to_string(),
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    let tmp = format!("{dir}/.{name}.herd-tmp-{}", crate::ssh::nonce());
    if opts.become_.is_some() || opts.owner.is_some() || opts.group.is_some() {
        let q_tmp = shell_quote(&tmp);
        let mut script = format!("umask 077; cat > {q_tmp} && chmod {mode:o} {q_tmp}");
        if let Some(owner) = chown_spec(opts) {
            script.push_str(&format!(" && chown {} {q_tmp}", shell_quote(&owner)));
        }
        script.push_str(&format!(
            " && {}",
            move_into_place(&q_tmp, &shell_quote(path))
        ));
        let exec = ExecOptions {
            become_: opts.become_.clone(),
            stdin: Some(bytes.to_vec()),
            timeout: opts.timeout.or(Some(Duration::from_secs(3600))),
            ..ExecOptions::default()
        };
        let out = local_exec(&script, &exec).await?;
        if !out.success() {
            return Err(TransportError::Local(format!(
                "writing {path}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        return Ok(installed_identity(&out.stdout));
    }
    crate::atomic::write_via_temp(Path::new(&tmp), Path::new(path), bytes, mode)
        .map_err(|e| TransportError::Local(format!("writing {path}: {e}")))?;
    Ok(None)
}

fn chown_spec(opts: &PutOptions) -> Option<String> {
    match (&opts.owner, &opts.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

fn user_name(uid: u32) -> String {
    name_from("/etc/passwd", uid).unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: u32) -> String {
    name_from("/etc/group", gid).unwrap_or_else(|| gid.to_string())
}

/// Looks an id up in a passwd-style file (NSS sources beyond files are
/// not consulted; the number is shown then).
fn name_from(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_exec_runs_sh_with_stdin_and_env() {
        let opts = ExecOptions {
            stdin: Some(b"abc".to_vec()),
            env: vec![("X".into(), "it's".into())],
            ..ExecOptions::default()
        };
        let out = Transport::Local
            .exec("cat; echo \" $X\"; exit 3", &opts)
            .await
            .unwrap();
        assert_eq!(out.stdout, b"abc it's\n");
        assert_eq!(out.exit_code, Some(3));
    }

    #[tokio::test]
    async fn local_put_is_a_rename_with_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f").display().to_string();
        let opts = PutOptions {
            mode: Some(0o600),
            ..PutOptions::default()
        };
        Transport::Local.put(b"hi", &path, &opts).await.unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"hi");
        let st = Transport::Local.stat(&path).await.unwrap().unwrap();
        assert_eq!((st.size, st.mode, st.is_file), (2, 0o600, true));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
