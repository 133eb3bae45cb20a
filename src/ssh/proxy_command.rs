//! ProxyCommand: the SSH connection runs over a local command's stdin and
//! stdout, as OpenSSH does (`ProxyCommand nc %h %p`, `ssh -W %h:%p bastion`,
//! cloud tunnels). The command runs through `/bin/sh -c 'exec ...'` and
//! lives as long as the connection: dropping the stream kills it. Its
//! stderr goes to herd's, as with `ssh`.

use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Join, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::error::ConnectError;
use super::target::Target;

/// A running ProxyCommand, read and written as the connection's stream.
pub(crate) struct ProxyStream {
    io: Join<ChildStdout, ChildStdin>,
    /// Killed when the stream is dropped (`kill_on_drop`).
    _child: Child,
}

/// Starts `command` (tokens already expanded) for `target`.
pub(crate) fn spawn(target: &Target, command: &str) -> Result<ProxyStream, ConnectError> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ConnectError::ProxyCommand {
            host: target.name.clone(),
            command: command.to_string(),
            reason: e.to_string(),
        })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stdin = child.stdin.take().expect("piped stdin");
    Ok(ProxyStream {
        io: tokio::io::join(stdout, stdin),
        _child: child,
    })
}

impl AsyncRead for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
