//! `wait_for`: wait, on the host itself, for a TCP port to open or close
//! or a file to appear, disappear or contain a pattern.
//!
//! The whole wait is one shell loop on the host (one round trip, however
//! long it waits). A port is probed from the host with bash's
//! `/dev/tcp/HOST/PORT` under coreutils `timeout` when bash exists, else
//! with `nc -z` (BSD/OpenBSD/busybox netcat all accept `-z -w`): plain
//! POSIX sh has no way to open a socket.

use std::time::Duration;

use serde_json::json;

use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// wait_for, as a task writes it.
pub const MODULE: Module = Module {
    name: "wait_for",
    params: &[
        p("host"),
        p("port"),
        p("path"),
        p("search_regex"),
        p("state"),
        p("timeout"),
        p("delay"),
        p("sleep"),
        p("msg"),
        p("connect_timeout"),
    ],
    run: async_run!(run),
    ..Module::DEFAULT
};

const STATES: &[&str] = &["started", "stopped", "present", "absent"];
const OK: &str = "herd-wait-ok";
const TIMEOUT: &str = "herd-wait-timeout";
const NO_PROBE: &str = "herd-wait-no-probe";

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let host = args.str("host")?.unwrap_or_else(|| "127.0.0.1".into());
    let port = args.int("port")?;
    let path = args.str("path")?;
    let search = args.str("search_regex")?;
    let state = args
        .choice("state", STATES, Some("started"))?
        .unwrap_or_default();
    let timeout = args.int("timeout")?.unwrap_or(300).max(0);
    let delay = args.int("delay")?.unwrap_or(0).max(0);
    let sleep = args.float("sleep")?.unwrap_or(1.0).max(0.0);
    let connect_timeout = args.int("connect_timeout")?.unwrap_or(5).max(1);
    let msg = args.str("msg")?;
    if port.is_some() && path.is_some() {
        return Err(args.error("port and path parameter can not both be passed to wait_for"));
    }
    if port.is_some() && search.is_some() {
        return Err(args.error("search_regex with port is not supported by herd (use path)"));
    }
    if path.is_some() && state == "stopped" {
        return Err(args.error(
            "state=stopped should only be used for checking a port in the wait_for module",
        ));
    }
    if search.is_some() && state == "absent" {
        return Err(args.error("search_regex with state=absent is not supported"));
    }
    // "present"/"started" wait for the condition to hold, the others for it not to.
    let want = matches!(state.as_str(), "started" | "present");

    let (test, what) = if let Some(port) = port {
        if !(1..=65535).contains(&port) {
            return Err(args.error(format!("port {port} is out of range")));
        }
        let (h, p) = (shell_quote(&host), port);
        (
            format!(
                "probe() {{ if command -v bash >/dev/null 2>&1; then timeout {connect_timeout} bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {h} {p} 2>/dev/null; \
                 elif command -v nc >/dev/null 2>&1; then nc -z -w {connect_timeout} {h} {p} </dev/null >/dev/null 2>&1; \
                 else echo {NO_PROBE}; exit 0; fi; }}; "
            ),
            format!("{host}:{port}"),
        )
    } else if let Some(path) = &path {
        let q = shell_quote(path);
        let test = match &search {
            Some(re) => format!(
                "probe() {{ [ -r {q} ] && grep -Eq -- {} {q} 2>/dev/null; }}; ",
                shell_quote(re)
            ),
            None => format!("probe() {{ [ -e {q} ]; }}; "),
        };
        let what = match &search {
            Some(re) => format!("search string {re} in {path}"),
            None => format!("file {path}"),
        };
        (test, what)
    } else {
        // Neither port nor path: just sleep `timeout` seconds, like Ansible.
        (String::new(), String::new())
    };

    let mut script = format!("sleep {delay}; ");
    if test.is_empty() {
        script.push_str(&format!("sleep {timeout}; echo {OK}"));
    } else {
        let cond = if want { "probe" } else { "! probe" };
        script.push_str(&test);
        script.push_str(&format!(
            "end=$(( $(date +%s) + {timeout} )); while :; do if {cond}; then echo {OK}; exit 0; fi; \
             if [ \"$(date +%s)\" -ge \"$end\" ]; then echo {TIMEOUT}; exit 0; fi; sleep {sleep}; done"
        ));
    }
    let mut opts = ctx.exec.clone();
    opts.timeout = Some(Duration::from_secs(
        (timeout + delay + connect_timeout + 30) as u64,
    ));
    let started = std::time::Instant::now();
    let out = ctx.transport.exec(&script, &opts).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut data = Vars::new();
    data.insert("elapsed".into(), json!(started.elapsed().as_secs()));
    data.insert("state".into(), json!(state));
    if let Some(p) = port {
        data.insert("port".into(), json!(p));
    }
    if let Some(p) = &path {
        data.insert("path".into(), json!(p));
    }
    if stdout.contains(NO_PROBE) {
        return Ok(ModuleOutput::failed(format!(
            "wait_for on {}: neither bash nor nc is available to probe {what}",
            ctx.host
        )));
    }
    if stdout.contains(OK) {
        return Ok(ModuleOutput {
            data,
            ..ModuleOutput::default()
        });
    }
    let text = msg.unwrap_or_else(|| {
        if port.is_some() && !want {
            format!("Timeout when waiting for {what} to stop.")
        } else if path.is_some() && !want {
            format!("Timeout when waiting for {what} to be absent.")
        } else {
            format!("Timeout when waiting for {what}")
        }
    });
    let mut out = ModuleOutput::failed(text);
    out.data.extend(data);
    Ok(out)
}
