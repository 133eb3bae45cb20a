//! Runs the real `herd` binary the way a user would and checks what they
//! see. Shared by several test binaries, so not every item is used by each.

pub mod ansible;
pub mod module_host;

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
            // ANSIBLE_CONFIG, ANSIBLE_ROLES_PATH...: herd reads them too.
            let key_text = key.to_string_lossy();
            if key_text.starts_with("HERD_") || key_text.starts_with("ANSIBLE_") {
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
    pub fn spawn(self) -> std::process::Child {
        self.start(std::process::Stdio::piped())
    }

    /// Starts herd without waiting for it (a server): stderr piped, stdout
    /// discarded, so nothing blocks on an unread pipe.
    pub fn spawn_server(self) -> std::process::Child {
        self.start(std::process::Stdio::null())
    }

    fn start(mut self, stdout: std::process::Stdio) -> std::process::Child {
        self.command
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start herd")
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

/// Chromium's rendered DOM of `url` (extra flags in `flags`), or None
/// (said loudly) when there is no Chromium to render with.
pub fn chromium_dom(url: &str, flags: &[&str]) -> Option<String> {
    let browser = ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(browser) = browser else {
        eprintln!(
            "\n\n*** SKIPPED: no chromium on PATH; run scripts/ensure-deps.sh to render pages ***\n"
        );
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
        ])
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
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

impl Herd {
    /// Runs herd and also returns its peak memory (maximum resident set
    /// size, KiB) as the kernel counted it for this one process.
    // The child is reaped by wait4 (for its rusage), not by Child::wait.
    #[allow(clippy::zombie_processes)]
    pub fn run_with_peak_memory(mut self) -> (Outcome, u64) {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run herd");
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                pipe.read_to_end(&mut bytes).unwrap();
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let pid = child.id() as libc::pid_t;
        // VmHWM is the high-water mark of herd's own memory. (wait4's
        // ru_maxrss would not do: exec keeps the forking test process's
        // resident size in it, and one test binary runs many tests.) It is
        // read until the process exits; a high-water mark only grows.
        let peak = std::thread::spawn(move || {
            let mut peak = 0;
            while let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                else {
                    break; // exited (a zombie has no memory lines)
                };
                peak = peak.max(kib);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        });
        let mut status = 0;
        // SAFETY: a plain out-parameter; the child is ours and not yet reaped.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(reaped, pid, "waitpid: {}", std::io::Error::last_os_error());
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let outcome = Outcome {
            code,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        (outcome, peak.join().unwrap())
    }
}

/// Writes `content` over `path` and puts its mtime back, as a careless (or
/// sly) tool would: only the ctime tells the change.
pub fn rewrite_keeping_mtime(path: &Path, content: &[u8]) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}
