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

    /// Runs herd and returns what it printed and how it exited.
    pub fn run(mut self) -> Outcome {
        let output = self.command.output().expect("run herd");
        Outcome::from(output)
    }

    /// Runs herd with at most `memory` bytes of address space, killed
    /// after `timeout`: for inputs that, if herd mishandles them, would
    /// eat the machine's memory or hang. Panics on a timeout.
    pub fn run_bounded(mut self, memory: u64, timeout: std::time::Duration) -> Outcome {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs
        // between fork and exec.
        unsafe {
            self.command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: memory as libc::rlim_t,
                    rlim_max: memory as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run herd");
        let start = std::time::Instant::now();
        while child.try_wait().expect("wait for herd").is_none() {
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("herd still running after {timeout:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Outcome::from(child.wait_with_output().expect("herd output"))
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
