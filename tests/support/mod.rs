//! Runs the real `herd` binary the way a user would and checks what they
//! see. Shared by several test binaries, so not every item is used by each.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `herd` invocation: hermetic environment (own HOME, no inherited
/// HERD_* variables), run in `dir`.
pub struct Herd {
    command: Command,
}

impl Herd {
    /// `herd` run in `dir` (usually a fleet's project directory).
    pub fn in_dir(dir: &Path) -> Herd {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herd"));
        command.current_dir(dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HERD_") {
                command.env_remove(&key);
            }
        }
        // The user's own ~/.ssh must not leak into tests.
        let home = dir.join(".test-home");
        let _ = std::fs::create_dir_all(&home);
        command
            .env("HOME", &home)
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("RUST_LOG");
        Herd { command }
    }

    pub fn args<I, S>(mut self, args: I) -> Herd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Herd {
        self.command.env(key, value);
        self
    }

    /// Starts herd without waiting (stdout and stderr piped), for tests that
    /// act while it runs: signal it, or start several at once.
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start herd")
    }

    /// Runs herd and returns what it printed and how it exited.
    pub fn run(mut self) -> Outcome {
        let output = self.command.output().expect("run herd");
        Outcome::from(output)
    }
}

/// What a herd invocation printed and its exit code.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Outcome {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Asserts the exit code, showing the output when it differs.
    pub fn code(self, expected: i32) -> Outcome {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn success(self) -> Outcome {
        self.code(0)
    }

    pub fn stdout_has(self, text: &str) -> Outcome {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn stderr_has(self, text: &str) -> Outcome {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// stdout parsed as one JSON value per line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }
}

/// Waits for a spawned herd to exit, at most `limit`: a herd still running
/// then is killed and the test fails ("herd never hangs").
pub fn finish_within(child: std::process::Child, limit: std::time::Duration) -> Outcome {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => Outcome::from(output.expect("wait for herd")),
        Err(_) => {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("herd was still running after {limit:?}: it hung");
        }
    }
}

/// A scratch directory for a test.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().canonicalize().expect("canonical tempdir");
    (dir, path)
}

/// Copies a fixture directory tree (e.g. a playbook with its roles) into a
/// fleet's directory.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
