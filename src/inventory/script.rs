//! Dynamic inventory: an executable run with `--list` that prints Ansible's
//! JSON: `{"web": {"hosts": [..], "vars": {..}, "children": [..]},
//! "db": ["h1", "h2"], "_meta": {"hostvars": {"h1": {..}}}}`. Without
//! `_meta`, each host's vars come from `SCRIPT --host NAME`, as in Ansible.
//! Children named but not described are created empty (Ansible does too).
//!
//! The script's output is data, and a script can hang or flood: it runs
//! by its path (never a same-named program on PATH), in its own process
//! group that is killed whole after a timeout, with its stdout capped and
//! only the tail of its stderr kept.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::InventoryError;
use super::model::Graph;

/// How dynamic inventory scripts are run.
#[derive(Debug, Clone)]
pub struct ScriptLimits {
    /// How long one run may take (herd.toml `inventory_script_timeout`).
    pub timeout: Duration,
    /// The most stdout kept; past it the script is stopped and refused.
    pub max_stdout: usize,
    /// How much of the end of stderr is kept for the error message.
    pub stderr_tail: usize,
}

impl Default for ScriptLimits {
    fn default() -> ScriptLimits {
        ScriptLimits {
            timeout: Duration::from_secs(60),
            // Generous: 10,000 hosts with 20 KiB of vars each is 200 MB.
            max_stdout: 512 << 20,
            stderr_tail: 16 << 10,
        }
    }
}

/// Runs the script at `path` and adds what it prints to `graph`.
pub(crate) fn load(
    path: &Path,
    graph: &mut Graph,
    limits: &ScriptLimits,
) -> Result<(), InventoryError> {
    let run = |args: &[&str]| run(path, args, limits);
    let list = run(&["--list"])?;
    let Value::Object(top) = list else {
        return Err(script_error(
            path,
            "printed JSON that is not an object of groups".into(),
            "",
        ));
    };
    for (name, data) in &top {
        if name != "_meta" {
            add_group(path, graph, name, data)?;
        }
    }
    match top.get("_meta").and_then(|m| m.get("hostvars")) {
        Some(Value::Object(hostvars)) => {
            for (host, vars) in hostvars {
                if let (Some(h), Value::Object(vars)) = (graph.hosts.get_index_of(host), vars) {
                    graph.host_vars_mut(h).extend(vars.clone());
                }
            }
        }
        Some(_) => {
            return Err(script_error(
                path,
                "printed `_meta.hostvars` that is not an object".into(),
                "",
            ));
        }
        None => {
            let hosts: Vec<String> = graph.hosts.keys().cloned().collect();
            for host in hosts {
                if let Value::Object(vars) = run(&["--host", &host])? {
                    let h = graph.host(&host);
                    graph.host_vars_mut(h).extend(vars);
                }
            }
        }
    }
    Ok(())
}

fn add_group(
    path: &Path,
    graph: &mut Graph,
    name: &str,
    data: &Value,
) -> Result<(), InventoryError> {
    let g = graph.group(name);
    let bad = |what: &str| script_error(path, format!("printed group `{name}` with {what}"), "");
    let (hosts, vars, children) = match data {
        Value::Array(hosts) => (Some(hosts), None, None),
        Value::Object(map) => (
            map.get("hosts")
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| bad("`hosts` that is not a list"))
                })
                .transpose()?,
            map.get("vars")
                .map(|v| {
                    v.as_object()
                        .ok_or_else(|| bad("`vars` that is not an object"))
                })
                .transpose()?,
            map.get("children")
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| bad("`children` that is not a list"))
                })
                .transpose()?,
        ),
        _ => return Err(bad("a value that is neither a list of hosts nor an object")),
    };
    for host in hosts.into_iter().flatten() {
        let host = host
            .as_str()
            .ok_or_else(|| bad("a host name that is not a string"))?;
        super::range::check_host_name(host).map_err(|e| {
            script_error(
                path,
                format!("printed group `{name}` with a bad host: {e}"),
                "",
            )
        })?;
        let h = graph.host(host);
        graph.add_host_to_group(g, h);
    }
    if let Some(vars) = vars {
        graph.group_vars_mut(g).extend(vars.clone());
    }
    for child in children.into_iter().flatten() {
        let child = child
            .as_str()
            .ok_or_else(|| bad("a child name that is not a string"))?;
        let c = graph.group(child);
        graph.add_child(g, c);
    }
    Ok(())
}

/// Starts `command`, retrying for a moment while the file is "busy": a
/// script just written (by a generator, or a test) can still be open for
/// writing in another process that forked meanwhile, and exec then fails
/// with ETXTBSY.
fn spawn_retrying_busy(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The script as a command that runs that file: a bare `myinv.sh` would
/// make exec search PATH for a program of that name.
fn command_path(path: &Path) -> PathBuf {
    if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

/// What a finished (or stopped) script printed.
struct Output {
    /// `None` when it timed out.
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    stdout_overflow: bool,
    stderr: String,
}

/// Runs the script with `args` within `limits`; a failure or non-JSON
/// output is an error carrying (the tail of) its stderr, since that is
/// where scripts explain themselves.
fn run(path: &Path, args: &[&str], limits: &ScriptLimits) -> Result<Value, InventoryError> {
    let command = format!("{} {}", path.display(), args.join(" "));
    let output = execute(path, args, limits).map_err(|e| {
        script_error(
            path,
            format!("could not be started: {e}; check its #! line and permissions"),
            "",
        )
    })?;
    let stderr = output.stderr.as_str();
    let Some(status) = output.status else {
        return Err(script_error(
            path,
            format!(
                "timed out after {}s (`{command}`); it and what it started were stopped. Make it faster, or raise inventory_script_timeout in herd.toml",
                limits.timeout.as_secs()
            ),
            stderr,
        ));
    };
    if output.stdout_overflow {
        return Err(script_error(
            path,
            format!(
                "printed more than {} MiB for `{command}`; it was stopped (an inventory that large is not one herd can use)",
                limits.max_stdout >> 20
            ),
            stderr,
        ));
    }
    if !status.success() {
        return Err(script_error(
            path,
            format!("failed (`{command}` exited with {status})"),
            stderr,
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        script_error(
            path,
            format!(
                "printed invalid JSON for `{command}` at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            stderr,
        )
    })
}

/// Runs the script in its own process group, reading its output as it
/// comes; on timeout or too much stdout the whole group is killed (a
/// `sleep` it started would otherwise keep the pipes open).
fn execute(path: &Path, args: &[&str], limits: &ScriptLimits) -> std::io::Result<Output> {
    use std::os::unix::process::CommandExt;
    let mut child = spawn_retrying_busy(
        Command::new(command_path(path))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0),
    )?;
    let group = child.id() as libc::pid_t;
    let kill_group = move || {
        // SAFETY: signals the process group we created for the script.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    let (max_stdout, tail) = (limits.max_stdout, limits.stderr_tail);
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let stdout = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let overflow = (&mut out_pipe)
            .take(max_stdout as u64 + 1)
            .read_to_end(&mut kept)
            .is_ok()
            && kept.len() > max_stdout;
        if overflow {
            kill_group();
            kept.clear();
        }
        (kept, overflow)
    });
    let stderr = std::thread::spawn(move || read_tail(&mut err_pipe, tail));
    // Done when the script has exited and both pipes are closed; a
    // background process it left holding them counts as still running.
    let deadline = Instant::now() + limits.timeout;
    let mut status = None;
    let timed_out = loop {
        if status.is_none() {
            status = child.try_wait()?;
        }
        if status.is_some() && stdout.is_finished() && stderr.is_finished() {
            break false;
        }
        if Instant::now() >= deadline {
            kill_group();
            if status.is_none() {
                status = child.wait().ok();
            }
            break true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stdout_overflow) = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Output {
        status: status.filter(|_| !timed_out),
        stdout,
        stdout_overflow,
        stderr,
    })
}

/// Reads `pipe` to its end keeping the last `tail` bytes, as text; when
/// more came, the text says how much was cut.
fn read_tail(pipe: &mut impl Read, tail: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n;
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * tail {
            kept.drain(..kept.len() - tail);
        }
    }
    if kept.len() > tail {
        kept.drain(..kept.len() - tail);
    }
    let text = String::from_utf8_lossy(&kept);
    if total > kept.len() {
        format!(
            "[first {} bytes cut, the last {} kept] {text}",
            total - kept.len(),
            kept.len()
        )
    } else {
        text.into_owned()
    }
}

fn script_error(path: &Path, message: String, stderr: &str) -> InventoryError {
    InventoryError::Script {
        path: path.to_path_buf(),
        message,
        stderr: stderr.to_string(),
    }
}

/// Whether `path` should be run rather than read: executable and starting
/// with `#!` (an INI file that happens to be executable is still read).
pub(crate) fn is_script(path: &Path, head: &[u8]) -> bool {
    use std::os::unix::fs::PermissionsExt;
    head.starts_with(b"#!")
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("inv.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn long_and_short_group_forms_with_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            r#"cat <<'J'
{"web": {"hosts": ["w1"], "vars": {"tier": "front"}, "children": ["edge"]},
 "db": ["d1", "d2"],
 "_meta": {"hostvars": {"d1": {"ansible_port": 2222}}}}
J
"#,
        );
        let mut graph = Graph::new();
        load(&path, &mut graph, &ScriptLimits::default()).unwrap();
        assert_eq!(graph.hosts.keys().collect::<Vec<_>>(), ["w1", "d1", "d2"]);
        assert_eq!(graph.hosts["d1"]["ansible_port"], 2222);
        assert!(graph.groups.contains_key("edge"));
        assert_eq!(graph.groups["web"].vars["tier"], "front");
    }

    #[test]
    fn without_meta_asks_each_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            r#"if [ "$1" = --host ]; then echo "{\"me\": \"$2\"}"; else echo '{"g": ["a", "b"]}'; fi
"#,
        );
        let mut graph = Graph::new();
        load(&path, &mut graph, &ScriptLimits::default()).unwrap();
        assert_eq!(graph.hosts["b"]["me"], "b");
    }

    #[test]
    fn failure_and_bad_json_carry_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "echo 'cloud API down' >&2; exit 3\n");
        let err = load(&path, &mut Graph::new(), &ScriptLimits::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exit status: 3") && err.contains("cloud API down"),
            "{err}"
        );
        let path = script(dir.path(), "echo '{not json'; echo warn >&2\n");
        let err = load(&path, &mut Graph::new(), &ScriptLimits::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid JSON") && err.contains("warn"),
            "{err}"
        );
    }

    #[test]
    fn stdout_past_the_cap_is_refused_and_the_script_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            "echo '{\"g\": [\"a\"]}'; yes '                ' | head -c 300000; sleep 30\n",
        );
        let limits = ScriptLimits {
            max_stdout: 100_000,
            ..ScriptLimits::default()
        };
        let started = std::time::Instant::now();
        let err = load(&path, &mut Graph::new(), &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("printed more than"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_background_process_holding_the_pipes_counts_as_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "echo '{}'; sleep 30 &\n");
        let limits = ScriptLimits {
            timeout: Duration::from_secs(1),
            ..ScriptLimits::default()
        };
        let err = load(&path, &mut Graph::new(), &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out after 1s"), "{err}");
        // Detached from the pipes, it may stay.
        let path = script(
            dir.path(),
            "echo '{\"g\": [\"a\"]}'; sleep 2 >/dev/null 2>&1 &\n",
        );
        let mut graph = Graph::new();
        load(&path, &mut graph, &limits).unwrap();
        assert!(graph.hosts.contains_key("a"));
    }

    #[test]
    fn stderr_keeps_its_tail() {
        let text = read_tail(&mut &b"0123456789"[..], 4);
        assert_eq!(text, "[first 6 bytes cut, the last 4 kept] 6789");
        assert_eq!(read_tail(&mut &b"abc"[..], 4), "abc");
    }
}
