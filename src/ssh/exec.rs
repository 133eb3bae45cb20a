//! Running commands: one session channel per command, `exec` with the
//! command string (the server's shell runs it, like `ssh host 'cmd'`).
//!
//! A channel is always closed on the way out. On timeout or when the caller
//! drops the future (Ctrl-C), the remote process group gets SIGKILL and the
//! channel is closed explicitly: dropping a russh `Channel` does not close
//! it, and leaked channels use up the server's MaxSessions slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{ChannelMsg, ChannelWriteHalf, Sig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::config::Secret;
use super::error::ExecError;
use super::pool::Connection;
use super::session::ClientHandler;

/// How to run one command.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `None`: the pool's default command timeout (none unless set).
    pub timeout: Option<Duration>,
    pub become_: Option<Become>,
    /// Fed to the command's stdin, which is then closed. `None`: stdin is
    /// closed at once, so a command that reads it does not hang.
    pub stdin: Option<Vec<u8>>,
    /// Exported for the command (names must be shell identifiers).
    pub env: Vec<(String, String)>,
    /// Run in a channel of its own, by the login shell (`raw`), rather
    /// than through the connection's long-lived `/bin/sh`.
    pub own_channel: bool,
    /// herd's own probe text (no user command in it, no `$$`): through the
    /// connection's shell it runs in a subshell, a fork without the exec
    /// of a new `/bin/sh` (about 0.4 ms of host CPU saved per command).
    pub probe: bool,
}

/// Run as another user with sudo (or `su`).
#[derive(Debug, Clone)]
pub struct Become {
    pub user: String,
    /// `become_method: su`: `su USER -c LINE`; it works without a password
    /// only where su needs none (as root), since su reads it from a TTY.
    pub su: bool,
    /// Fed to `sudo -S` when it asks; never logged or shown.
    pub password: Option<Secret>,
}

impl Default for Become {
    fn default() -> Become {
        Become {
            user: "root".into(),
            su: false,
            password: None,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: Option<i32>,
    /// Signal name (`KILL`, `TERM`, ...) when the command was killed.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

impl ExecOutput {
    /// Exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A name a POSIX shell takes as a variable (letters, digits, `_`; not
/// starting with a digit).
pub fn is_shell_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Where stdin comes from.
pub(crate) enum Input<'a> {
    Empty,
    Bytes(&'a [u8]),
    Reader(&'a mut (dyn AsyncRead + Unpin + Send)),
}

/// Where stdout goes: captured (capped) or streamed.
pub(crate) enum Output<'a> {
    Capture,
    Writer(&'a mut (dyn AsyncWrite + Unpin + Send)),
}

/// Stops the command and closes its channel if it did not run to its end,
/// even when the future is dropped mid-way.
struct ChannelGuard {
    handle: Arc<Handle<ClientHandler>>,
    write: Arc<ChannelWriteHalf<Msg>>,
    /// The remote shell's pid (= its process group), once it has said it.
    pid: Arc<AtomicU32>,
    finished: bool,
}

/// Closing the channel is not enough: sshd keeps a session (and its
/// MaxSessions slot) until the command exits, and a `sleep 600` never
/// notices the closed pipes. The `signal` channel request would do, but
/// sshd refuses it for root logins (no privilege separation there), so
/// the command's process group is killed over a second channel.
pub(crate) async fn abort_channel(
    handle: Arc<Handle<ClientHandler>>,
    write: Arc<ChannelWriteHalf<Msg>>,
    pid: u32,
) {
    // Bounded: on a wedged connection these could wait forever.
    let closing = async {
        let _ = write.eof().await;
        let _ = write.close().await;
    };
    if tokio::time::timeout(Duration::from_secs(5), closing)
        .await
        .is_err()
        || pid == 0
        || handle.is_closed()
    {
        return;
    }
    let kill = async {
        let channel = open_session(&handle, Duration::from_secs(5)).await.ok()?;
        let command = format!("kill -s KILL -- -{pid} 2>/dev/null; exit 0");
        let (mut read, write) = channel.split();
        write.exec(false, command.into_bytes()).await.ok()?;
        while read.wait().await.is_some() {}
        Some(())
    };
    if tokio::time::timeout(Duration::from_secs(10), kill)
        .await
        .is_err()
    {
        tracing::warn!("could not stop remote process group {pid} in time");
    }
}

impl ChannelGuard {
    async fn finish_with_abort(&mut self) {
        self.finished = true;
        let pid = self.pid.load(Ordering::Relaxed);
        abort_channel(self.handle.clone(), self.write.clone(), pid).await;
    }
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (handle, write) = (self.handle.clone(), self.write.clone());
            let pid = self.pid.load(Ordering::Relaxed);
            runtime.spawn(abort_channel(handle, write, pid));
        }
    }
}

/// Opens a session channel, retrying while the server refuses for up to
/// `patience`.
///
/// sshd frees a closed session only once the command has exited and it has
/// handled the rest of the packets it read in one go, so an open right
/// after a close can find MaxSessions reached for a moment.
pub(crate) async fn open_session(
    handle: &Handle<ClientHandler>,
    patience: Duration,
) -> Result<russh::Channel<Msg>, russh::Error> {
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match handle.channel_open_session().await {
            Err(russh::Error::ChannelOpenFailure(_)) if started.elapsed() < patience => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// The first line the remote shell writes to stderr: its pid, so a
/// command that must be stopped can be killed with its process group
/// (sshd makes every session's shell a session leader).
const PID_MARKER: &str = "HERD-PID:";

/// Markers that frame sudo's password prompt and the start of the command.
pub(crate) struct BecomeMarkers {
    pub(crate) prompt: String,
    pub(crate) ready: String,
}

impl BecomeMarkers {
    pub(crate) fn new() -> BecomeMarkers {
        let nonce = nonce();
        BecomeMarkers {
            prompt: format!("[herd-sudo-{nonce}] password:"),
            ready: format!("HERD-BECOME-OK-{nonce}"),
        }
    }
}

/// A string unique to this process and call: temp file names, markers.
pub(crate) fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}{n:x}", time, std::process::id())
}

/// Caps captured output.
pub(crate) struct Capture {
    pub(crate) data: Vec<u8>,
    limit: usize,
    pub(crate) truncated: bool,
}

impl Capture {
    pub(crate) fn new(limit: usize) -> Capture {
        Capture {
            data: Vec::new(),
            limit,
            truncated: false,
        }
    }
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.data.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Connection {
    /// Runs `command` and collects its output.
    pub async fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, ExecError> {
        let started = std::time::Instant::now();
        if let Some(result) = self.shell_exec(command, opts).await {
            tracing::trace!("{}: shell frame in {:?}", self.name, started.elapsed());
            return result;
        }
        let input = match &opts.stdin {
            Some(bytes) => Input::Bytes(bytes),
            None => Input::Empty,
        };
        // Boxed: the exec channel is the rare path, and its future is larger
        // than the shell's; inline, every command of every host would carry it.
        let result = Box::pin(self.run(command, opts, input, Output::Capture)).await;
        tracing::trace!("{}: exec channel in {:?}", self.name, started.elapsed());
        result
    }

    /// Runs `command` with its stdout streamed into `stdout` as it arrives
    /// (stderr is captured as usual): for output too large to hold in
    /// memory, such as `tar czf -` for a backup.
    pub async fn exec_to(
        &self,
        command: &str,
        opts: &ExecOptions,
        stdout: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<ExecOutput, ExecError> {
        let input = match &opts.stdin {
            Some(bytes) => Input::Bytes(bytes),
            None => Input::Empty,
        };
        self.run(command, opts, input, Output::Writer(stdout)).await
    }

    /// The command line sent to the server: env exports, then sudo with the
    /// exports repeated inside (sudo resets the environment; outside, PATH
    /// decides which sudo runs).
    pub(crate) fn command_line(
        &self,
        command: &str,
        opts: &ExecOptions,
        markers: Option<&BecomeMarkers>,
    ) -> Result<String, ExecError> {
        let mut exports = String::new();
        for (name, value) in &opts.env {
            if !is_shell_name(name) {
                return Err(ExecError::BadEnv {
                    host: self.name.clone(),
                    name: name.clone(),
                });
            }
            exports.push_str(&format!("export {name}={}; ", shell_quote(value)));
        }
        let line = format!("{exports}{command}");
        let Some(become_) = &opts.become_ else {
            return Ok(line);
        };
        let user = shell_quote(&become_.user);
        if become_.su {
            if markers.is_some() {
                return Err(ExecError::Become {
                    host: self.name.clone(),
                    reason: "become_method su with a password is not supported (su reads it from a terminal)".into(),
                });
            }
            return Ok(format!("{exports}su {user} -c {}", shell_quote(&line)));
        }
        Ok(match markers {
            Some(m) => format!(
                "{exports}sudo -S -p {} -u {user} -- /bin/sh -c {}",
                shell_quote(&m.prompt),
                shell_quote(&format!("echo {}; {line}", m.ready))
            ),
            None => format!(
                "{exports}sudo -n -u {user} -- /bin/sh -c {}",
                shell_quote(&line)
            ),
        })
    }

    /// The one way commands run: exec, feed stdin, read until the channel
    /// ends, within the timeout.
    pub(crate) async fn run(
        &self,
        command: &str,
        opts: &ExecOptions,
        input: Input<'_>,
        output: Output<'_>,
    ) -> Result<ExecOutput, ExecError> {
        let host = || self.name.clone();
        let password = opts.become_.as_ref().and_then(|b| b.password.as_ref());
        let markers = password.map(|_| BecomeMarkers::new());
        let line = self.command_line(command, opts, markers.as_ref())?;

        let _permit = self
            .channels
            .acquire()
            .await
            .expect("semaphore never closed");
        let channel = open_session(&self.handle, Duration::from_secs(2))
            .await
            .map_err(|e| ExecError::Channel {
                host: host(),
                reason: e.to_string(),
            })?;
        let (mut read, write) = channel.split();
        let mut guard = ChannelGuard {
            handle: self.handle.clone(),
            write: Arc::new(write),
            pid: Arc::new(AtomicU32::new(0)),
            finished: false,
        };
        let (write, pid) = (guard.write.clone(), guard.pid.clone());
        let line = format!("printf '{PID_MARKER}%s\\n' \"$$\" >&2; {line}");

        let timeout = opts.timeout.or(self.command_timeout);
        let work = async {
            write
                .exec(true, line.into_bytes())
                .await
                .map_err(|e| ExecError::Channel {
                    host: host(),
                    reason: e.to_string(),
                })?;
            self.exchange(
                &mut read,
                &write,
                &pid,
                input,
                output,
                password.zip(markers.as_ref()),
            )
            .await
        };
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => {
                    guard.finish_with_abort().await;
                    return Err(ExecError::Timeout {
                        host: host(),
                        after: limit,
                    });
                }
            },
            None => work.await,
        };
        if result.is_err() {
            guard.finish_with_abort().await;
        } else {
            guard.finished = true;
        }
        result
    }

    async fn exchange(
        &self,
        read: &mut russh::ChannelReadHalf,
        write: &ChannelWriteHalf<Msg>,
        pid: &AtomicU32,
        input: Input<'_>,
        mut output: Output<'_>,
        sudo: Option<(&Secret, &BecomeMarkers)>,
    ) -> Result<ExecOutput, ExecError> {
        let host = || self.name.clone();
        let (password, markers) = (sudo.map(|s| s.0), sudo.map(|s| s.1));
        // Stdin waits until sudo has started the command (or at once).
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let mut ready_tx = Some(ready_tx);
        if markers.is_none() {
            let _ = ready_tx.take().map(|tx| tx.send(()));
        }
        let stall = self.stall_timeout;
        let writer = async move {
            if ready_rx.await.is_err() {
                return Ok(());
            }
            let result = match input {
                Input::Empty => Ok(()),
                Input::Bytes(bytes) => send_stream(write, &mut &bytes[..], stall).await,
                Input::Reader(reader) => send_stream(write, reader, stall).await,
            };
            let _ = write.eof().await;
            result
        };

        let reader = async {
            // Owned here, so the writer stops waiting when the reader ends.
            let mut ready_tx = ready_tx;
            let mut out = ExecOutput::default();
            let mut stdout = Capture::new(self.output_limit);
            let mut stderr = Capture::new(self.output_limit);
            let mut exit_status = None;
            let mut pending: Vec<u8> = Vec::new(); // stdout before the ready marker
            let mut err_pending: Vec<u8> = Vec::new();
            let mut prompts = 0;
            let mut pid_line: Option<Vec<u8>> = Some(Vec::new());
            let mut confirmed = false;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        let mut data: &[u8] = &data;
                        if let (Some(m), Some(_)) = (markers, &ready_tx) {
                            pending.extend_from_slice(data);
                            let marker = format!("{}\n", m.ready);
                            let Some(at) = find(&pending, marker.as_bytes()) else {
                                continue;
                            };
                            let _ = ready_tx.take().map(|tx| tx.send(()));
                            pending.drain(..at + marker.len());
                            data = &pending;
                        }
                        match &mut output {
                            Output::Capture => stdout.push(data),
                            Output::Writer(w) => {
                                w.write_all(data).await.map_err(|e| ExecError::Input {
                                    host: host(),
                                    source: e,
                                })?;
                            }
                        }
                        pending.clear();
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        let data = match pid_line.as_mut() {
                            None => data.to_vec(),
                            Some(buf) => {
                                buf.extend_from_slice(&data);
                                let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                                    continue;
                                };
                                let rest = buf.split_off(end + 1);
                                let first = std::mem::take(buf);
                                pid_line = None;
                                match parse_pid(&first) {
                                    Some(n) => {
                                        pid.store(n, Ordering::Relaxed);
                                        rest
                                    }
                                    None => [first, rest].concat(),
                                }
                            }
                        };
                        let Some(m) = markers.filter(|_| ready_tx.is_some()) else {
                            stderr.push(&data);
                            continue;
                        };
                        err_pending.extend_from_slice(&data);
                        while let Some(at) = find(&err_pending, m.prompt.as_bytes()) {
                            prompts += 1;
                            err_pending.drain(at..at + m.prompt.len());
                            if prompts > 1 {
                                return Err(ExecError::Become {
                                    host: host(),
                                    reason: "sudo rejected the become password".into(),
                                });
                            }
                            let secret = password.map_or("", |p| p.expose());
                            write
                                .data(format!("{secret}\n").as_bytes())
                                .await
                                .map_err(|e| ExecError::Channel {
                                    host: host(),
                                    reason: e.to_string(),
                                })?;
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status: code } => exit_status = Some(code as i32),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        out.signal = Some(signal_name_of(&signal_name))
                    }
                    ChannelMsg::Success => confirmed = true,
                    ChannelMsg::Failure if !confirmed => {
                        return Err(ExecError::Channel {
                            host: host(),
                            reason: "the server refused to run the command".into(),
                        });
                    }
                    _ => {}
                }
            }
            if let Some(partial) = pid_line.take() {
                stderr.push(&partial);
            }
            if markers.is_some() && ready_tx.is_some() {
                // sudo never started the command.
                stderr.push(&err_pending);
                let text = String::from_utf8_lossy(&stderr.data).trim().to_string();
                return Err(ExecError::Become {
                    host: host(),
                    reason: if text.is_empty() {
                        format!("sudo exited with {exit_status:?}")
                    } else {
                        text
                    },
                });
            }
            stderr.push(&err_pending);
            if let Output::Writer(w) = &mut output {
                w.flush().await.map_err(|e| ExecError::Input {
                    host: host(),
                    source: e,
                })?;
            }
            out.exit_code = exit_status;
            (out.stdout, out.stdout_truncated) = (stdout.data, stdout.truncated);
            (out.stderr, out.stderr_truncated) = (stderr.data, stderr.truncated);
            if out.exit_code.is_none() && out.signal.is_none() {
                return Err(ExecError::NoExitStatus { host: host() });
            }
            Ok(out)
        };

        // The reader ends when the channel does (command done, session
        // killed, connection lost); then no more input can go, so the
        // writer is dropped rather than left waiting for window space
        // that will never come. A writer that made no progress for the
        // stall timeout ends the command.
        tokio::pin!(writer, reader);
        let (written, result) = tokio::select! {
            written = &mut writer => match written {
                Err(SendError::Stalled) => {
                    return Err(ExecError::Stalled { host: host(), after: stall });
                }
                written => (written, reader.await),
            },
            result = &mut reader => (Ok(()), result),
        };
        let out = result?;
        if let Err(SendError::Channel(reason)) = written {
            // A command may exit without reading all of its stdin; that is
            // its business. A local read error is ours to report.
            tracing::debug!("{}: stdin not fully sent: {reason}", self.name);
        }
        if opts_become_failed(&out) {
            return Err(ExecError::Become {
                host: host(),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }
}

/// `sudo -n` that needs a password exits 1 with this message.
pub(crate) fn opts_become_failed(out: &ExecOutput) -> bool {
    out.exit_code == Some(1)
        && out.stderr.starts_with(b"sudo: ")
        && find(&out.stderr, b"password is required").is_some()
}

fn parse_pid(line: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(line).ok()?;
    text.strip_prefix(PID_MARKER)?.trim().parse().ok()
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn signal_name_of(sig: &Sig) -> String {
    match sig {
        Sig::Custom(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

/// Bytes read from the local source per channel write: OpenSSH's maximum
/// packet payload. russh's `data(reader)` copies through tokio's 8 KiB
/// buffer, so every 5 MiB upload became 640 small packets that cost the
/// server far more CPU than 160 full ones.
const UPLOAD_CHUNK: usize = 32 * 1024;

/// Why stdin could not all be sent.
enum SendError {
    /// The channel or the local reader failed (the command may simply have
    /// exited without reading all of it).
    Channel(String),
    /// No bytes were accepted for the stall timeout: the host or the link
    /// is stuck.
    Stalled,
}

/// Sends `reader` into the channel; every write must be accepted within
/// `stall` (it waits for window space while the host is slow).
async fn send_stream<R: AsyncRead + Unpin + ?Sized>(
    write: &ChannelWriteHalf<Msg>,
    reader: &mut R,
    stall: Duration,
) -> Result<(), SendError> {
    let mut buf = vec![0u8; UPLOAD_CHUNK];
    loop {
        // Fill the chunk: local reads may return less than asked.
        let mut filled = 0;
        while filled < buf.len() {
            let n = reader
                .read(&mut buf[filled..])
                .await
                .map_err(|e| SendError::Channel(e.to_string()))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(());
        }
        tokio::time::timeout(stall, write.data_bytes(buf[..filled].to_vec()))
            .await
            .map_err(|_| SendError::Stalled)?
            .map_err(|e| SendError::Channel(e.to_string()))?;
        if filled < buf.len() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/d.txt"), "abc/d.txt");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's a $x"), r"'it'\''s a $x'");
    }

    #[test]
    fn capture_is_capped() {
        let mut c = Capture::new(5);
        c.push(b"abc");
        c.push(b"defg");
        assert_eq!(c.data, b"abcde");
        assert!(c.truncated);
    }
}
