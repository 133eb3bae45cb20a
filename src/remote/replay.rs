//! Module tests without a server: a fixture gives a module its arguments
//! and the host's recorded answers, and says which commands the module
//! must send and what it must report (pyinfra's operation tests are the
//! model). The sshd tests stay the end-to-end proof; these pin a module's
//! decisions (what it probes, what it changes, "changed" or not) and run
//! in milliseconds.
//!
//! A fixture is `tests/data/module_fixtures/<module>/<case>.json`:
//!
//! ```json
//! {
//!   "about": "what the case shows",
//!   "args": {"name": "vm.swappiness", "value": "10"},
//!   "check_mode": false,
//!   "host": [
//!     {"sends": ["sysctl -n", "vm.swappiness"], "stdout": "60\n", "rc": 0}
//!   ],
//!   "expect": {"changed": true, "failed": false, "msg": "...",
//!              "data": {"name": "vm.swappiness"}}
//! }
//! ```
//!
//! `host` lists the commands in the order the module sends them: each
//! must contain every string of `sends`, and gets `stdout`, `stderr` and
//! `rc` back. A command not listed, or a listed one never sent, fails the
//! fixture. The transport's other calls are exchanges too: an upload is
//! `put PATH` with the bytes as its stdin, a download `get PATH` (stdout is
//! the content), `stat PATH` answers `SIZE MODE OWNER GROUP MTIME f|d` (rc
//! 1: missing) and `sha256 PATH` the hex digest. `expect.data` is matched
//! as a subset of the registered result; `expect.msg` as a substring.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use super::TransportError;
use crate::ssh::{ExecOptions, ExecOutput, RemoteStat};

/// One recorded exchange: what the command must contain, what came back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub sends: Vec<String>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub rc: i32,
}

/// A host that answers from a script of exchanges and keeps what it was
/// sent.
#[derive(Debug, Default)]
pub struct Replay {
    script: Mutex<VecDeque<Exchange>>,
    sent: Mutex<Vec<String>>,
}

impl Replay {
    pub fn new(script: Vec<Exchange>) -> Replay {
        Replay {
            script: Mutex::new(script.into()),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Answers `command` with the next exchange, if it is the one expected.
    pub fn exec(&self, command: &str, opts: &ExecOptions) -> Result<ExecOutput, TransportError> {
        let mut sent = command.to_string();
        if let Some(stdin) = &opts.stdin {
            sent.push_str("\n<stdin>\n");
            sent.push_str(&String::from_utf8_lossy(stdin));
        }
        self.sent.lock().unwrap().push(sent.clone());
        let next = self.script.lock().unwrap().pop_front();
        let Some(exchange) = next else {
            return Err(TransportError::Ssh(format!(
                "fixture: unexpected command (the script is over):\n{sent}"
            )));
        };
        if let Some(missing) = exchange.sends.iter().find(|s| !sent.contains(s.as_str())) {
            return Err(TransportError::Ssh(format!(
                "fixture: the command lacks {missing:?}:\n{sent}"
            )));
        }
        Ok(ExecOutput {
            exit_code: Some(exchange.rc),
            stdout: exchange.stdout.into_bytes(),
            stderr: exchange.stderr.into_bytes(),
            ..ExecOutput::default()
        })
    }

    /// `stat PATH`, answered `SIZE MODE(octal) OWNER GROUP MTIME f|d`, or
    /// a non-zero rc for a missing file.
    pub fn stat(&self, path: &str) -> Result<Option<RemoteStat>, TransportError> {
        let out = self.exec(&format!("stat {path}"), &ExecOptions::default())?;
        if !out.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let bad = || TransportError::Ssh(format!("fixture: bad stat answer {text:?}"));
        let f: Vec<&str> = text.split_whitespace().collect();
        let [size, mode, owner, group, mtime, kind] = f[..] else {
            return Err(bad());
        };
        Ok(Some(RemoteStat {
            size: size.parse().map_err(|_| bad())?,
            mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
            owner: owner.into(),
            group: group.into(),
            mtime: mtime.parse().map_err(|_| bad())?,
            is_dir: kind == "d",
            is_file: kind == "f",
        }))
    }

    /// The exchanges never asked for.
    pub fn unused(&self) -> Vec<Exchange> {
        self.script.lock().unwrap().iter().cloned().collect()
    }

    /// Every command sent, in order (stdin after a `<stdin>` line).
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::modules::spec::Run;
    use crate::modules::{ModuleContext, SearchPaths, Vars};
    use crate::remote::Transport;
    use crate::template::{TaskVars, Templates};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fixture {
        #[allow(dead_code, reason = "read by people, not by the runner")]
        about: String,
        args: Vars,
        #[serde(default)]
        check_mode: bool,
        #[serde(default)]
        diff: bool,
        #[serde(default)]
        host: Vec<Exchange>,
        expect: Expect,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Expect {
        changed: bool,
        #[serde(default)]
        failed: bool,
        msg: Option<String>,
        #[serde(default)]
        data: Vars,
    }

    fn fixtures() -> Vec<(String, PathBuf)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/module_fixtures");
        let mut found = Vec::new();
        for module in std::fs::read_dir(&root).unwrap().flatten() {
            let name = module.file_name().to_string_lossy().into_owned();
            for case in std::fs::read_dir(module.path()).unwrap().flatten() {
                if case.path().extension().is_some_and(|e| e == "json") {
                    found.push((name.clone(), case.path()));
                }
            }
        }
        found.sort();
        found
    }

    /// `want` is found in `got`: objects by their keys, the rest equal.
    fn subset(want: &Value, got: &Value) -> bool {
        match (want, got) {
            (Value::Object(w), Value::Object(g)) => w
                .iter()
                .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
            _ => want == got,
        }
    }

    async fn run_fixture(module_name: &str, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let fixture: Fixture =
            serde_json::from_str(&text).map_err(|e| format!("bad fixture: {e}"))?;
        let module = crate::modules::lookup(module_name)
            .ok_or_else(|| format!("no module `{module_name}`"))?;
        let Run::Async(run) = module.run else {
            return Err(format!("`{module_name}` does not talk to a host"));
        };
        let replay = Arc::new(Replay::new(fixture.host));
        let transport = Transport::Replay(replay.clone());
        let templates = Templates::new();
        let vars = TaskVars::default();
        let search = SearchPaths::default();
        let ctx = ModuleContext {
            host: "fixture-host",
            transport: &transport,
            exec: ExecOptions::default(),
            check_mode: fixture.check_mode,
            diff: fixture.diff,
            templates: &templates,
            vars: &vars,
            search: &search,
            marks: &crate::modules::file_marks::FileMarks::default(),
        };
        let out = run(&ctx, &fixture.args)
            .await
            .map_err(|e| format!("module error: {e}\nsent: {:#?}", replay.sent()))?;
        let expect = fixture.expect;
        let mut problems = Vec::new();
        if out.changed != expect.changed {
            problems.push(format!(
                "changed: {} (want {})",
                out.changed, expect.changed
            ));
        }
        if out.failed != expect.failed {
            problems.push(format!("failed: {} (want {})", out.failed, expect.failed));
        }
        if let Some(msg) = &expect.msg
            && !out
                .msg
                .as_deref()
                .unwrap_or_default()
                .contains(msg.as_str())
        {
            problems.push(format!("msg: {:?} (want it to contain {msg:?})", out.msg));
        }
        let data = Value::Object(out.data.clone());
        if !subset(&Value::Object(expect.data), &data) {
            problems.push(format!("data: {data:#}"));
        }
        let unused = replay.unused();
        if !unused.is_empty() {
            problems.push(format!("never sent: {unused:#?}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}\nsent: {:#?}",
                problems.join("\n"),
                replay.sent()
            ))
        }
    }

    #[tokio::test]
    async fn every_module_fixture_holds() {
        let fixtures = fixtures();
        assert!(fixtures.len() >= 10, "the fixtures are missing");
        let mut failures = Vec::new();
        for (module, path) in &fixtures {
            if let Err(e) = run_fixture(module, path).await {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[tokio::test]
    async fn a_command_the_fixture_does_not_list_fails_it() {
        let replay = Replay::new(vec![Exchange {
            sends: vec!["sysctl".into()],
            stdout: String::new(),
            stderr: String::new(),
            rc: 0,
        }]);
        let opts = ExecOptions::default();
        assert!(replay.exec("rm -rf /", &opts).is_err());
        assert!(
            replay.exec("sysctl -n x", &opts).is_err(),
            "the script is over"
        );
    }
}
