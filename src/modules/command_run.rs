//! How the modules that run a command (command, shell, raw, script) run it:
//! the `creates`/`removes`/`chdir` prelude before, Ansible's result fields
//! (`rc`, `stdout`, `stdout_lines`, `start`, `end`, `delta`, ...) after.

use std::time::Instant;

use serde_json::{Value, json};

use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{ExecOptions, ExecOutput, shell_quote};

/// Quotes `pattern` for the shell but leaves glob characters active, so
/// `creates: /tmp/afile.*` matches as Ansible's `glob.glob` does.
pub fn glob_quote(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        if c.is_ascii_alphanumeric() || "*?[]/._-".contains(c) {
            out.push(c);
        } else if c == '\n' {
            out.push_str("'\n'");
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

/// Shell text that prints `marker` and exits 0 if a `creates` pattern
/// matches or a `removes` pattern does not.
pub fn skip_checks(creates: Option<&str>, removes: Option<&str>, marker: &str) -> String {
    let mut s = String::new();
    if let Some(c) = creates {
        s.push_str(&format!(
            "for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo {marker}creates; exit 0; fi; done; ",
            glob_quote(c)
        ));
    }
    if let Some(r) = removes {
        s.push_str(&format!(
            "m=; for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then m=1; fi; done; [ -n \"$m\" ] || {{ echo {marker}removes; exit 0; }}; ",
            glob_quote(r)
        ));
    }
    s
}

/// Shell text that changes directory or prints `marker`chdir and fails.
pub fn chdir(dir: Option<&str>, marker: &str) -> String {
    match dir {
        // `-P`: the physical directory, as a process chdir (Ansible's
        // os.chdir) gives; `$PWD` then shows no symlinks.
        Some(d) => format!(
            "cd -P -- {} 2>/dev/null || {{ echo {marker}chdir; exit 1; }}; ",
            shell_quote(d)
        ),
        None => String::new(),
    }
}

/// Shell text that prints `marker`notfound and fails when `program` is not
/// a command: Ansible's `command` execs it directly and reports ENOENT
/// with empty output, not the shell's "not found" and rc 127.
pub fn program_exists(program: &str, marker: &str) -> String {
    format!(
        "command -v -- {} >/dev/null 2>&1 || {{ echo {marker}notfound; exit 2; }}; ",
        shell_quote(program)
    )
}

/// What the prelude decided.
pub enum Prelude {
    Run,
    Creates,
    Removes,
    Chdir,
    NotFound,
}

/// Reads the prelude's marker from a command's output.
pub fn prelude_outcome(out: &ExecOutput, marker: &str) -> Prelude {
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim_end().strip_prefix(marker) {
        Some("creates") if out.success() => Prelude::Creates,
        Some("removes") if out.success() => Prelude::Removes,
        Some("chdir") if out.exit_code == Some(1) => Prelude::Chdir,
        Some("notfound") if out.exit_code == Some(2) => Prelude::NotFound,
        _ => Prelude::Run,
    }
}

/// A unique marker for one command's prelude.
pub fn marker() -> String {
    format!("herd-prelude-{}-", crate::remote::nonce())
}

/// Local time as Ansible prints `start`/`end`.
pub fn timestamp() -> String {
    jiff::Zoned::now()
        .strftime("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// `H:MM:SS.ffffff`, Python's `timedelta` text.
pub fn delta(started: Instant) -> String {
    let d = started.elapsed();
    let secs = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        d.subsec_micros()
    )
}

/// Ansible's `rc` for a finished command: the exit code, or minus the
/// signal number when it was killed.
pub fn rc(out: &ExecOutput) -> i64 {
    if let Some(code) = out.exit_code {
        return code.into();
    }
    let number = match out.signal.as_deref().unwrap_or("") {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "SEGV" => 11,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "USR1" => 10,
        "USR2" => 12,
        other => other.parse().unwrap_or(1),
    };
    -number
}

/// Text of captured output; `strip` removes trailing newlines (Ansible's
/// `strip_empty_ends`).
pub fn text(bytes: &[u8], strip: bool) -> String {
    let s = String::from_utf8_lossy(bytes).to_string();
    if strip {
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        s
    }
}

/// `xxx` and `xxx_lines`.
pub fn put_text(data: &mut Vars, name: &str, text: String) {
    let lines: Vec<Value> = text.lines().map(|l| json!(l)).collect();
    data.insert(name.into(), json!(text));
    data.insert(format!("{name}_lines"), Value::Array(lines));
}

/// The result of a command that ran: failed (with "non-zero return code")
/// unless it exited 0.
pub fn finished(out: &ExecOutput, strip: bool, mut data: Vars) -> ModuleOutput {
    let rc = rc(out);
    data.insert("rc".into(), json!(rc));
    put_text(&mut data, "stdout", text(&out.stdout, strip));
    put_text(&mut data, "stderr", text(&out.stderr, strip));
    if out.stdout_truncated || out.stderr_truncated {
        // Past the capture limit the output was not kept: say so.
        data.insert("truncated".into(), json!(true));
    }
    let failed = rc != 0;
    let msg = if failed {
        "non-zero return code".to_string()
    } else {
        String::new()
    };
    data.insert("msg".into(), json!(msg));
    ModuleOutput {
        changed: true,
        failed,
        msg: failed.then_some(msg),
        data,
        ..ModuleOutput::default()
    }
}

/// Runs a command built by a module, timing it.
pub async fn timed(
    ctx: &ModuleContext<'_>,
    command: &str,
    stdin: Option<Vec<u8>>,
    data: &mut Vars,
) -> Result<ExecOutput, ModuleError> {
    let mut opts = ctx.exec.clone();
    if stdin.is_some() {
        opts.stdin = stdin;
    }
    timed_with(ctx, command, &opts, data).await
}

/// [`timed`] with options of the caller's own.
pub async fn timed_with(
    ctx: &ModuleContext<'_>,
    command: &str,
    opts: &ExecOptions,
    data: &mut Vars,
) -> Result<ExecOutput, ModuleError> {
    let started = Instant::now();
    data.insert("start".into(), json!(timestamp()));
    let out = ctx.transport.exec(command, opts).await?;
    data.insert("end".into(), json!(timestamp()));
    data.insert("delta".into(), json!(delta(started)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_globs() {
        assert_eq!(glob_quote("/tmp/a file.*"), "/tmp/a\\ file.*");
        assert_eq!(glob_quote("$x"), "\\$x");
    }

    #[test]
    fn rc_of_a_signal_is_negative() {
        let out = ExecOutput {
            signal: Some("KILL".into()),
            ..ExecOutput::default()
        };
        assert_eq!(rc(&out), -9);
    }
}
