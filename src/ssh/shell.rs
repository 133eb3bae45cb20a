//! One long-lived `/bin/sh` per connection that runs commands one after
//! another, so a command costs one round trip and no new sshd session (an
//! exec channel per command makes sshd fork a session process and the
//! user's shell, and costs two more round trips: open and exec).
//!
//! Framing. The controller writes each command as a few lines of shell
//! text: print a begin marker (with the shell's pid) on stdout and stderr,
//! run the command with `/bin/sh -c` (its stdin from `/dev/null` or a
//! `printf` pipe, never the channel, so a command that reads stdin cannot
//! eat the next frame), then print an end marker with `$?` on both
//! streams. herd's own probes run as `( eval '...' )` instead: the subshell
//! keeps their `exit` and variables from the shell as well, and costs a
//! fork but no exec; a command gets its own `/bin/sh` so that `$$` is its
//! shell's pid, as under Ansible. Markers carry a fresh random nonce per command and are written
//! in two pieces, so neither host output nor an echo of the script can
//! forge one. A trap in the command's shell reports a normal exit, so a
//! command killed by a signal is told from one that exited 128+n.
//!
//! A command that times out, or whose caller stops waiting (Ctrl-C), kills
//! the shell's process group and the shell is replaced by the next command.
//! Where the shell cannot run (a forced command, a refused exec), the
//! connection falls back to one exec channel per command for good.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::{Mutex, OwnedSemaphorePermit};

use super::error::ExecError;
use super::exec::{
    BecomeMarkers, Capture, ExecOptions, ExecOutput, abort_channel, nonce, open_session,
};
use super::exec::{find, opts_become_failed, shell_quote};
use super::pool::Connection;
use super::session::ClientHandler;

/// Stdin payloads up to this size travel inside the frame (as `printf`
/// escapes); larger ones take an exec channel and stream.
const MAX_INLINE_STDIN: usize = 64 * 1024;

/// The connection's shell, when it has one.
pub(crate) struct ShellSlot {
    shell: Mutex<Option<Shell>>,
    /// Set once the shell could not start: exec channels from then on.
    unusable: AtomicBool,
}

impl Default for ShellSlot {
    /// `HERD_SSH_SHELL=0` in the environment: exec channels only (for
    /// comparisons, and as a way out should a host's shell misbehave).
    fn default() -> ShellSlot {
        let off = std::env::var_os("HERD_SSH_SHELL").is_some_and(|v| v == "0");
        ShellSlot {
            shell: Mutex::new(None),
            unusable: AtomicBool::new(off),
        }
    }
}

/// A running `/bin/sh` on the host, reading frames from its stdin.
struct Shell {
    handle: Arc<Handle<ClientHandler>>,
    read: ChannelReadHalf,
    write: Arc<ChannelWriteHalf<Msg>>,
    /// The shell's pid = its process group (sshd makes it a session leader).
    pid: u32,
    /// The shell holds one of the connection's channel slots.
    _permit: OwnedSemaphorePermit,
    /// Mid-command: if dropped now (the caller gave up), kill and close.
    busy: bool,
    /// No frame has completed yet (a failure then means: no shell here).
    fresh: bool,
}

impl Drop for Shell {
    fn drop(&mut self) {
        let (handle, write, pid) = (self.handle.clone(), self.write.clone(), self.pid);
        let busy = self.busy;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if busy {
                    abort_channel(handle, write, pid).await;
                } else {
                    let _ = write.eof().await;
                    let _ = write.close().await;
                }
            });
        }
    }
}

/// How a frame ended.
enum Outcome {
    Done(Box<ExecOutput>),
    /// The shell never began the command (no shell here, or it had died):
    /// safe to run it another way.
    NotStarted,
    /// The shell ended in the middle of the command.
    Lost,
}

impl Connection {
    /// Runs `command` through the connection's shell; `None` when it must
    /// take an exec channel instead (no shell here, shell busy, large
    /// stdin, become password with stdin, `own_channel`).
    pub(crate) async fn shell_exec(
        &self,
        command: &str,
        opts: &ExecOptions,
    ) -> Option<Result<ExecOutput, ExecError>> {
        let stdin = opts.stdin.as_deref().filter(|s| !s.is_empty());
        let password = opts.become_.as_ref().and_then(|b| b.password.as_ref());
        if opts.own_channel
            || self.shell.unusable.load(Ordering::Relaxed)
            || self.max_channels < 2
            || stdin.is_some_and(|s| s.len() > MAX_INLINE_STDIN)
            || (password.is_some() && stdin.is_some())
            || opts
                .become_
                .as_ref()
                .is_some_and(|b| b.su && b.password.is_some())
            || command.contains('\0')
        {
            return None;
        }
        // Busy with another command of this host: that one keeps the shell.
        let mut slot = self.shell.shell.try_lock().ok()?;
        let markers = password.map(|_| BecomeMarkers::new());
        // With a password, sudo's stdin is a pipe holding it: the command
        // itself reads /dev/null (sudo may not have needed the password).
        let command = match markers {
            Some(_) => format!("exec </dev/null; {command}"),
            None => command.to_string(),
        };
        let line = match self.command_line(&command, opts, markers.as_ref()) {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let mut shell = match slot.take() {
            Some(shell) => shell,
            None => match self.open_shell().await {
                Some(shell) => shell,
                None => return None,
            },
        };
        let nonce = nonce();
        let frame = frame(
            &nonce,
            &line,
            stdin,
            password.map(|p| p.expose()),
            opts.probe,
        );
        let timeout = opts.timeout.or(self.command_timeout);
        shell.busy = true;
        let work = shell.run(&nonce, frame, self.output_limit, self.stall_timeout);
        let outcome = match timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(outcome) => outcome,
                // Dropping the busy shell kills its process group.
                Err(_) => {
                    let (handle, write, pid) =
                        (shell.handle.clone(), shell.write.clone(), shell.pid);
                    shell.busy = false;
                    drop(shell);
                    abort_channel(handle, write, pid).await;
                    return Some(Err(ExecError::Timeout {
                        host: self.name.clone(),
                        after: limit,
                    }));
                }
            },
            None => work.await,
        };
        let out = match outcome {
            Ok(Outcome::Done(out)) => {
                shell.busy = false;
                shell.fresh = false;
                *slot = Some(shell);
                *out
            }
            Ok(Outcome::NotStarted) => {
                if shell.fresh {
                    tracing::debug!(
                        "{}: no shell channel here; one exec channel per command",
                        self.name
                    );
                    self.shell.unusable.store(true, Ordering::Relaxed);
                }
                shell.busy = false;
                return None;
            }
            Ok(Outcome::Lost) => {
                shell.busy = false;
                return Some(Err(ExecError::NoExitStatus {
                    host: self.name.clone(),
                }));
            }
            Err(e) => {
                // Dropped busy: killed and closed.
                return Some(Err(e.into_exec(&self.name)));
            }
        };
        drop(slot);
        Some(self.become_result(out, markers.as_ref()))
    }

    /// Opens the channel and starts `/bin/sh` reading frames; the first
    /// frame tells whether it runs (sent without waiting for the reply).
    async fn open_shell(&self) -> Option<Shell> {
        let permit = self.channels.clone().acquire_owned().await.ok()?;
        let channel = open_session(&self.handle, Duration::from_secs(2))
            .await
            .ok()?;
        let (read, write) = channel.split();
        // The login shell runs this, then /bin/sh reads frames from stdin.
        write.exec(true, "exec /bin/sh").await.ok()?;
        Some(Shell {
            handle: self.handle.clone(),
            read,
            write: Arc::new(write),
            pid: 0,
            _permit: permit,
            busy: false,
            fresh: true,
        })
    }

    /// Sudo's markers out of the output: the ready line from stdout, the
    /// password prompt from stderr.
    fn become_result(
        &self,
        mut out: ExecOutput,
        markers: Option<&BecomeMarkers>,
    ) -> Result<ExecOutput, ExecError> {
        let host = || self.name.clone();
        if let Some(m) = markers {
            let mut prompts = 0;
            while let Some(at) = find(&out.stderr, m.prompt.as_bytes()) {
                prompts += 1;
                out.stderr.drain(at..at + m.prompt.len());
            }
            if prompts > 1 {
                return Err(ExecError::Become {
                    host: host(),
                    reason: "sudo rejected the become password".into(),
                });
            }
            let ready = format!("{}\n", m.ready);
            match find(&out.stdout, ready.as_bytes()) {
                Some(at) => {
                    out.stdout.drain(..at + ready.len());
                }
                None => {
                    let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
                    return Err(ExecError::Become {
                        host: host(),
                        reason: if text.is_empty() {
                            format!("sudo exited with {:?}", out.exit_code)
                        } else {
                            text
                        },
                    });
                }
            }
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

/// Why a frame could not be sent.
enum FrameError {
    Stalled(Duration),
    Channel(String),
}

impl FrameError {
    fn into_exec(self, host: &str) -> ExecError {
        match self {
            FrameError::Stalled(after) => ExecError::Stalled {
                host: host.to_string(),
                after,
            },
            FrameError::Channel(reason) => ExecError::Channel {
                host: host.to_string(),
                reason,
            },
        }
    }
}

impl Shell {
    /// Sends one frame and reads both streams to their end markers.
    async fn run(
        &mut self,
        nonce: &str,
        frame: String,
        limit: usize,
        stall: Duration,
    ) -> Result<Outcome, FrameError> {
        tokio::time::timeout(stall, self.write.data_bytes(frame.into_bytes()))
            .await
            .map_err(|_| FrameError::Stalled(stall))?
            .map_err(|e| FrameError::Channel(e.to_string()))?;
        let needle = format!("HERD-{nonce}");
        let mut stdout = Stream::new(&needle, limit);
        let mut stderr = Stream::new(&needle, limit);
        let mut confirmed = !self.fresh;
        while !(stdout.end.is_some() && stderr.end.is_some()) {
            match self.read.wait().await {
                Some(ChannelMsg::Data { data }) => stdout.push(&data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.push(&data),
                Some(ChannelMsg::Success) => confirmed = true,
                Some(ChannelMsg::Failure) if !confirmed => return Ok(Outcome::NotStarted),
                Some(
                    ChannelMsg::Eof
                    | ChannelMsg::Close
                    | ChannelMsg::ExitStatus { .. }
                    | ChannelMsg::ExitSignal { .. },
                )
                | None => {
                    return Ok(if stdout.begin.is_some() || stderr.begin.is_some() {
                        Outcome::Lost
                    } else {
                        Outcome::NotStarted
                    });
                }
                Some(_) => {}
            }
            if let Some(pid) = stdout.begin.take_pid() {
                self.pid = pid;
            }
        }
        let rc = stdout.end.unwrap_or(-1);
        let mut out = ExecOutput::default();
        match (stdout.exited, rc) {
            (Some(code), _) => out.exit_code = Some(code),
            (None, 129..=192) => out.signal = Some(signal_name(rc - 128)),
            (None, code) => out.exit_code = Some(code),
        }
        (out.stdout, out.stdout_truncated) = (stdout.capture.data, stdout.capture.truncated);
        (out.stderr, out.stderr_truncated) = (stderr.capture.data, stderr.capture.truncated);
        Ok(Outcome::Done(Box::new(out)))
    }
}

/// The shell text for one command. Markers are printed as `HERD-` and the
/// nonce in two `%s`, so the script itself never contains them.
fn frame(
    nonce: &str,
    line: &str,
    stdin: Option<&[u8]>,
    password: Option<&str>,
    probe: bool,
) -> String {
    let mark = |kind: char, value: &str| format!("printf '%s%s{kind}%s\\n' HERD- {nonce} {value}");
    let inner = format!(
        "trap '{}' EXIT\n{line}",
        mark('X', "\"$?\"").replace('\'', "\"")
    );
    let (pipe, redirect) = match (stdin, password) {
        (Some(bytes), _) => (format!("printf '{}' | ", printf_escape(bytes)), ""),
        (None, Some(password)) => (format!("printf '%s\\n' {} | ", shell_quote(password)), ""),
        (None, None) => (String::new(), " </dev/null"),
    };
    // A command gets a /bin/sh of its own, so `$$` is its shell's pid as
    // under Ansible; herd's probes, which never read it, a subshell.
    let (open, close) = match probe {
        true => ("( eval ", " )"),
        false => ("/bin/sh -c ", ""),
    };
    format!(
        "{b}; {b} >&2\n{pipe}{open}{inner}{close}{redirect}\nherd_rc=$?; {e}; {e} >&2\n",
        b = mark('B', "\"$$\""),
        e = mark('E', "\"$herd_rc\""),
        inner = shell_quote(&inner),
    )
}

/// `bytes` as a `printf` format inside single quotes: `\`, `%`, `'`, NUL
/// and non-ASCII bytes as octal escapes (and a digit right after an
/// escape too, so it cannot extend it).
fn printf_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut escaped = false;
    for &b in bytes {
        let special = matches!(b, b'\\' | b'%' | b'\'' | 0) || b >= 0x80;
        if special || (escaped && b.is_ascii_digit()) {
            out.push_str(&format!("\\{b:03o}"));
            escaped = true;
        } else {
            out.push(b as char);
            escaped = false;
        }
    }
    out
}

/// One output stream of a frame: bytes before the begin marker are
/// dropped (login noise, late output of an earlier command's background
/// process), bytes up to the end marker are captured (capped).
struct Stream {
    needle: Vec<u8>,
    buf: Vec<u8>,
    begin: Begin,
    /// The exit status a trap in the command's shell reported.
    exited: Option<i32>,
    end: Option<i32>,
    capture: Capture,
}

/// The begin marker and the pid it carried (taken once).
#[derive(Default)]
struct Begin {
    seen: bool,
    pid: Option<u32>,
}

impl Begin {
    fn is_some(&self) -> bool {
        self.seen
    }
    fn take_pid(&mut self) -> Option<u32> {
        self.pid.take()
    }
}

impl Stream {
    fn new(needle: &str, limit: usize) -> Stream {
        Stream {
            needle: needle.as_bytes().to_vec(),
            buf: Vec::new(),
            begin: Begin::default(),
            exited: None,
            end: None,
            capture: Capture::new(limit),
        }
    }

    fn push(&mut self, data: &[u8]) {
        if self.end.is_some() {
            return;
        }
        self.buf.extend_from_slice(data);
        while let Some(at) = find(&self.buf, &self.needle) {
            let rest = at + self.needle.len();
            let Some(nl) = self.buf[rest..].iter().position(|&b| b == b'\n') else {
                // The marker's line is not complete yet.
                self.emit(at);
                return;
            };
            let kind = self.buf.get(rest).copied();
            let value = std::str::from_utf8(&self.buf[rest + 1..rest + nl])
                .ok()
                .and_then(|v| v.parse::<i64>().ok());
            self.emit(at);
            self.buf.drain(..rest + nl + 1 - at);
            match (kind, value) {
                (Some(b'B'), Some(pid)) => {
                    self.begin.seen = true;
                    self.begin.pid = u32::try_from(pid).ok();
                }
                (Some(b'X'), Some(rc)) if self.begin.seen => self.exited = Some(rc as i32),
                (Some(b'E'), Some(rc)) if self.begin.seen => {
                    self.end = Some(rc as i32);
                    self.buf.clear();
                    return;
                }
                _ => {}
            }
        }
        // Keep what could be the start of a marker.
        let keep = self.needle.len() - 1;
        if self.buf.len() > keep {
            self.emit(self.buf.len() - keep);
        }
    }

    /// Passes `buf[..n]` on (captured once the command has begun).
    fn emit(&mut self, n: usize) {
        if self.begin.seen {
            self.capture.push(&self.buf[..n]);
        }
        self.buf.drain(..n);
    }
}

/// Linux signal names, as sshd reports them in exit-signal.
fn signal_name(n: i32) -> String {
    const NAMES: [&str; 15] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM",
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| n.to_string(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: &[&[u8]]) -> Stream {
        let mut s = Stream::new("HERD-abc", 1 << 20);
        for c in chunks {
            s.push(c);
        }
        s
    }

    #[test]
    fn frames_are_found_across_chunks_and_noise_is_dropped() {
        let s = stream(&[
            b"motd\nHERD-a",
            b"bcB42\nout",
            b"put no newlineHERD-ab",
            b"cX0\nHERD-abcE0\nlate",
        ]);
        assert_eq!(s.capture.data, b"output no newline");
        assert_eq!((s.exited, s.end), (Some(0), Some(0)));
    }

    #[test]
    fn a_marker_with_another_nonce_is_output() {
        let s = stream(&[b"HERD-abcB1\nHERD-abdE0\nHERD-abc", b"E3\n"]);
        assert_eq!(s.capture.data, b"HERD-abdE0\n");
        assert_eq!((s.exited, s.end), (None, Some(3)));
    }

    #[test]
    fn escapes_keep_bytes_and_digits_after_escapes() {
        assert_eq!(
            printf_escape(b"a%b\\'\x001\n"),
            "a\\045b\\134\\047\\000\\061\n"
        );
    }

    #[test]
    fn a_probe_keeps_its_exit_and_its_syntax_errors_to_its_subshell() {
        let script = format!(
            "{}{}echo \"still here, x=$x\"\n",
            frame("abc", "x=1; exit 3", None, None, true),
            frame("abd", "echo (", None, None, true)
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        for want in [
            "HERD-abcX3\n",
            "HERD-abcE3\n",
            "HERD-abdE2\n",
            "still here, x=\n",
        ] {
            assert!(stdout.contains(want), "{want:?} not in {stdout:?}");
        }
    }

    #[test]
    fn the_frame_never_contains_a_marker() {
        let f = frame("abc", "echo hi", Some(b"x"), None, false);
        assert!(!f.contains("HERD-abc"));
    }
}
