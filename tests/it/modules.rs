//! Modules against real sshd hosts (see tests/it/fleet): each change, its
//! idempotence, check mode, diffs, Ansible's result fields and argument
//! errors.

use crate::fleet;
use crate::support::module_host::ModuleHost;
use std::ops::{Deref, DerefMut};

use std::path::{Path, PathBuf};

use fleet::Fleet;
use herd::modules::file_marks::FileMark;
use herd::modules::{ModuleError, ModuleOutput, SearchPaths};
use herd::remote::Transport;
use herd::ssh::ExecOptions;
use serde_json::{Value, json};

/// One fleet host and everything a module needs to run on it.
struct Host {
    host: ModuleHost,
    /// Local files/ and templates/ for `src:` lookups.
    local: tempfile::TempDir,
}

impl Deref for Host {
    type Target = ModuleHost;
    fn deref(&self) -> &ModuleHost {
        &self.host
    }
}

impl DerefMut for Host {
    fn deref_mut(&mut self) -> &mut ModuleHost {
        &mut self.host
    }
}

impl Host {
    async fn start() -> Host {
        let mut host = ModuleHost::connect(Fleet::builder().hosts(1).start()).await;
        let local = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(local.path().join("files")).unwrap();
        std::fs::create_dir_all(local.path().join("templates")).unwrap();
        host.search = SearchPaths {
            files: vec![local.path().join("files")],
            templates: vec![local.path().join("templates")],
            vars: vec![local.path().join("vars")],
        };
        Host { host, local }
    }

    fn local_file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.local.path().join(rel);
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn run(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_with(ExecOptions::default(), name, args, false, false)
            .await
    }

    async fn check(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_with(ExecOptions::default(), name, args, true, true)
            .await
    }

    async fn diff(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_with(ExecOptions::default(), name, args, false, true)
            .await
    }

    async fn error(&self, name: &str, args: Value) -> String {
        match self
            .try_run_on(
                &self.transport,
                ExecOptions::default(),
                name,
                args,
                false,
                false,
            )
            .await
        {
            Err(e) => e.to_string(),
            Ok(out) => panic!("{name}: expected an argument error, got {out:?}"),
        }
    }

    async fn stop(self) {
        self.host.stop().await;
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn command_shell_raw_results_creates_removes_and_check_mode() {
    let h = Host::start().await;
    let out = h
        .run("command", json!({"_raw_params": "echo 'a  b' $HOME"}))
        .await;
    assert!(out.changed && !out.failed);
    // As Ansible (expand_argument_vars, default true): variables expand,
    // nothing else of the shell does.
    let stdout = out.data["stdout"].as_str().unwrap();
    assert!(
        stdout.starts_with("a  b /") && stdout.ends_with("/home"),
        "{stdout}"
    );
    assert_eq!(out.data["rc"], 0);
    assert_eq!(out.data["cmd"], json!(["echo", "a  b", "$HOME"]));
    for key in [
        "start",
        "end",
        "delta",
        "stderr",
        "stdout_lines",
        "stderr_lines",
    ] {
        assert!(out.data.contains_key(key), "{key}");
    }

    let out = h
        .run("shell", json!({"cmd": "echo one; echo two >&2; exit 3"}))
        .await;
    assert!(out.failed);
    assert_eq!(out.data["rc"], 3);
    assert_eq!(out.data["stdout_lines"], json!(["one"]));
    assert_eq!(out.data["stderr"], "two");
    assert_eq!(out.msg.as_deref(), Some("non-zero return code"));

    let out = h
        .run(
            "shell",
            json!({"_raw_params": "pwd; cat", "chdir": h.p("."), "stdin": "in"}),
        )
        .await;
    let root = h.fleet.hosts[0].root.display().to_string();
    assert_eq!(out.data["stdout_lines"], json!([root, "in"]));
    let out = h
        .run("command", json!({"argv": ["printf", "%s", "x y"]}))
        .await;
    assert_eq!(out.data["stdout"], "x y");
    let out = h
        .run("command", json!({"cmd": "true", "chdir": "/nonexistent"}))
        .await;
    assert!(out.failed && out.msg.unwrap().contains("Unable to change directory"));

    // creates: runs once, then is skipped (also with a glob).
    let marker = h.p("made.txt");
    let args = json!({"_raw_params": format!("touch {marker}"), "creates": h.p("made.*")});
    let out = h.check("command", args.clone()).await;
    assert!(out.changed && !out.skipped);
    assert!(!h.path("made.txt").exists(), "check mode ran the command");
    assert!(h.run("command", args.clone()).await.changed);
    let out = h.run("command", args.clone()).await;
    assert!(!out.changed);
    assert_eq!(
        out.data["stdout"],
        format!("skipped, since {} exists", h.p("made.*"))
    );
    let out = h
        .run(
            "command",
            json!({"_raw_params": "rm made.txt", "chdir": h.p("."), "removes": "made.txt"}),
        )
        .await;
    assert!(out.changed && !h.path("made.txt").exists());
    let out = h
        .run(
            "command",
            json!({"_raw_params": "false", "removes": marker}),
        )
        .await;
    assert!(!out.changed && !out.failed);

    let out = h.check("shell", json!({"_raw_params": "touch x"})).await;
    assert!(out.skipped && !out.changed);
    assert!(!h.path("x").exists());

    let out = h
        .run("raw", json!({"_raw_params": "echo raw; exit 2"}))
        .await;
    assert!(out.failed);
    assert_eq!(
        (out.data["rc"].clone(), out.data["stdout"].clone()),
        (json!(2), json!("raw\n"))
    );

    assert!(
        h.error("command", json!({"_raw_params": "ls", "bogus": 1}))
            .await
            .contains("bogus")
    );
    assert!(
        h.error("command", json!({"_raw_params": "ls", "argv": ["ls"]}))
            .await
            .contains("mutually exclusive")
    );
    assert!(
        h.error("shell", json!({"argv": ["ls"]}))
            .await
            .contains("argv")
    );
    h.stop().await;
}

#[tokio::test]
async fn copy_changes_once_reports_sha1_and_respects_check_mode() {
    let h = Host::start().await;
    let dest = h.p("foo.txt");
    let args = json!({"content": "hello world", "dest": dest, "mode": "0640"});

    let out = h.check("copy", args.clone()).await;
    assert!(out.changed);
    assert!(!h.path("foo.txt").exists(), "check mode wrote the file");
    assert_eq!(out.diffs[0].before, None);
    assert_eq!(out.diffs[0].after.as_deref(), Some("hello world"));

    let out = h.run("copy", args.clone()).await;
    assert!(out.changed && !out.failed);
    assert_eq!(read(&h.path("foo.txt")), "hello world");
    assert_eq!(mode_of(&h.path("foo.txt")), 0o640);
    assert_eq!(
        out.data["checksum"],
        "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"
    );
    assert_eq!(out.data["md5sum"], "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(out.data["dest"], json!(dest));
    assert_eq!(out.data["mode"], "0640");
    assert_eq!(out.data["size"], 11);
    assert_eq!(out.data["state"], "file");
    assert_eq!(out.data["owner"], json!(h.fleet.user));
    assert!(out.data["uid"].is_number() && out.data["gid"].is_number());
    assert!(
        !out.msg.unwrap_or_default().contains("hello"),
        "content leaked into msg"
    );

    let again = h.run("copy", args.clone()).await;
    assert!(!again.changed, "second copy changed: {again:?}");

    // Only the mode differs: changed, content untouched.
    let out = h
        .run(
            "copy",
            json!({"content": "hello world", "dest": dest, "mode": "u=rw,go=r"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(mode_of(&h.path("foo.txt")), 0o644);

    // New content with diff and backup.
    let out = h
        .diff(
            "copy",
            json!({"content": "hello there\n", "dest": dest, "backup": true}),
        )
        .await;
    assert!(out.changed);
    let diff = herd::modules::diff::unified(&out.diffs[0]);
    assert!(diff.contains(&format!("--- before: {dest}")), "{diff}");
    assert!(
        diff.contains("-hello world") && diff.contains("+hello there"),
        "{diff}"
    );
    let backup = out.data["backup_file"].as_str().unwrap();
    assert_eq!(read(Path::new(backup)), "hello world");
    assert_eq!(mode_of(&h.path("foo.txt")), 0o644, "mode kept on rewrite");

    // src from the files/ search path, into a directory dest.
    h.local_file("files/src.txt", "from src\n");
    std::fs::create_dir(h.path("dir")).unwrap();
    let out = h
        .run("copy", json!({"src": "src.txt", "dest": h.p("dir")}))
        .await;
    assert!(out.changed);
    assert_eq!(read(&h.path("dir/src.txt")), "from src\n");
    assert_eq!(out.data["dest"], json!(h.p("dir/src.txt")));
    assert!(
        !h.run("copy", json!({"src": "src.txt", "dest": h.p("dir/")}))
            .await
            .changed
    );

    // force: no leaves an existing file alone.
    let out = h
        .run(
            "copy",
            json!({"content": "other", "dest": dest, "force": false}),
        )
        .await;
    assert!(!out.changed);

    // remote_src copies on the host.
    let out = h
        .run(
            "copy",
            json!({"src": dest, "dest": h.p("remote.txt"), "remote_src": true}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(read(&h.path("remote.txt")), "hello there\n");

    assert!(
        h.error("copy", json!({"dest": dest}))
            .await
            .contains("src (or content) is required")
    );
    assert!(
        h.error("copy", json!({"content": "x", "dest": dest, "mod": "0644"}))
            .await
            .contains("mod")
    );
    assert!(
        h.error("copy", json!({"content": "x", "dest": dest, "mode": "rwx"}))
            .await
            .contains("mode")
    );
    assert!(
        h.error("copy", json!({"content": "x", "dest": h.p("d/")}))
            .await
            .contains("can not use content with a dir")
    );
    h.stop().await;
}

#[tokio::test]
async fn copy_trusts_a_file_mark_only_while_the_file_is_untouched() {
    let h = Host::start().await;
    let dest = h.p("app.bin");
    let args = json!({"content": "hello world", "dest": dest});
    assert!(h.run("copy", args.clone()).await.changed);
    // The rerun hashes the file on the host and marks it.
    assert!(!h.run("copy", args.clone()).await.changed);
    let mark = h
        .marks
        .get("host1", &dest)
        .expect("the rerun marked the file");
    assert_eq!(mark.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");

    // While the file is untouched the host answers with the mark instead
    // of hashing: a mark with a wrong SHA-1 makes copy write again.
    let wrong = FileMark::new(mark.identity.clone(), "0".repeat(40)).unwrap();
    h.marks.record("host1", &dest, wrong);
    assert!(
        h.run("copy", args.clone()).await.changed,
        "the mark was not used"
    );
    // The write moved the file's identity: hashed, right, marked again.
    assert!(!h.run("copy", args.clone()).await.changed);
    assert_eq!(h.marks.get("host1", &dest).unwrap().sha1, mark.sha1);

    // Same size, mtime put back: the ctime moved, so it is hashed and put
    // right.
    crate::support::rewrite_keeping_mtime(&h.path("app.bin"), b"HELLO WORLD");
    let out = h.run("copy", args.clone()).await;
    assert!(out.changed, "a changed file was taken as unchanged");
    assert_eq!(read(&h.path("app.bin")), "hello world");
    h.stop().await;
}

#[tokio::test]
async fn copy_with_failing_validate_leaves_the_old_file() {
    let h = Host::start().await;
    let dest = h.p("app.conf");
    std::fs::write(h.path("app.conf"), "good\n").unwrap();
    let out = h
        .run(
            "copy",
            json!({"content": "bad\n", "dest": dest, "validate": "grep -q good %s"}),
        )
        .await;
    assert!(out.failed, "{out:?}");
    assert!(out.msg.unwrap().contains("failed to validate"));
    assert_eq!(read(&h.path("app.conf")), "good\n");
    let leftovers: Vec<_> = std::fs::read_dir(h.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(leftovers, ["app.conf"], "temp files left behind");

    let out = h
        .run(
            "copy",
            json!({"content": "good too\n", "dest": dest, "validate": "grep -q good %s"}),
        )
        .await;
    assert!(out.changed && !out.failed);
    assert_eq!(read(&h.path("app.conf")), "good too\n");
    assert!(
        h.error(
            "copy",
            json!({"content": "x", "dest": dest, "validate": "true"})
        )
        .await
        .contains("%s")
    );
    h.stop().await;
}

#[tokio::test]
async fn copy_to_the_local_machine_with_delegate_to() {
    let h = Host::start().await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("local.txt").display().to_string();
    let args = json!({"content": "here\n", "dest": dest, "mode": "0600"});
    let out = h
        .try_run_on(
            &Transport::Local,
            ExecOptions::default(),
            "copy",
            args.clone(),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(out.changed);
    assert_eq!(read(Path::new(&dest)), "here\n");
    assert_eq!(mode_of(Path::new(&dest)), 0o600);
    let out = h
        .try_run_on(
            &Transport::Local,
            ExecOptions::default(),
            "copy",
            args,
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!out.changed);
    let out = h
        .try_run_on(
            &Transport::Local,
            ExecOptions::default(),
            "stat",
            json!({"path": dest}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(out.data["stat"]["mode"], "0600");
    h.stop().await;
}

#[tokio::test]
async fn template_renders_with_host_vars_and_is_idempotent() {
    let mut h = Host::start().await;
    h.vars.insert("port".into(), json!(8080));
    h.vars.insert("names".into(), json!(["a", "b"]));
    h.local_file(
        "templates/app.conf.j2",
        "port={{ port }}\n{% for n in names %}\nname={{ n }}\n{% endfor %}\n",
    );
    let dest = h.p("app.conf");
    let args = json!({"src": "app.conf.j2", "dest": dest, "mode": "0600"});
    let out = h.check("template", args.clone()).await;
    assert!(out.changed && !h.path("app.conf").exists());
    let out = h.diff("template", args.clone()).await;
    assert!(out.changed);
    let expected = "port=8080\nname=a\nname=b\n";
    assert_eq!(read(&h.path("app.conf")), expected);
    assert_eq!(out.diffs[0].after.as_deref(), Some(expected));
    assert_eq!(out.data["checksum"], json!(sha1_of(expected)));
    assert_eq!(out.data["mode"], "0600");
    assert!(!h.run("template", args.clone()).await.changed);

    h.vars.insert("port".into(), json!(9090));
    let out = h.diff("template", args.clone()).await;
    let diff = herd::modules::diff::unified(&out.diffs[0]);
    assert!(
        diff.contains("-port=8080") && diff.contains("+port=9090"),
        "{diff}"
    );

    h.local_file("templates/broken.j2", "{{ missing_var }}\n");
    let out = h
        .run("template", json!({"src": "broken.j2", "dest": dest}))
        .await;
    assert!(out.failed && out.msg.unwrap().contains("missing_var"));
    assert!(
        h.error("template", json!({"src": "x", "dest": dest, "foo": 1}))
            .await
            .contains("foo")
    );
    h.stop().await;
}

fn sha1_of(text: &str) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn stat_reports_ansible_fields() {
    let h = Host::start().await;
    std::fs::write(h.path("foo.txt"), "hello world").unwrap();
    let out = h.run("stat", json!({"path": h.p("foo.txt")})).await;
    assert!(!out.changed);
    let s = &out.data["stat"];
    assert_eq!(s["exists"], true);
    assert_eq!(s["isreg"], true);
    assert_eq!(s["isdir"], false);
    assert_eq!(s["mode"], "0644");
    assert_eq!(s["checksum"], "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    assert_eq!(s["size"], 11);
    assert_eq!(s["pw_name"], json!(h.fleet.user));
    for key in [
        "atime", "ctime", "mtime", "dev", "inode", "nlink", "uid", "gid", "gr_name", "rusr",
        "wusr", "xusr", "rgrp", "woth", "isuid", "isgid", "islnk", "isblk", "ischr", "isfifo",
        "issock", "path",
    ] {
        assert!(s.get(key).is_some(), "stat.{key} missing");
    }
    std::os::unix::fs::symlink(h.path("foo.txt"), h.path("link")).unwrap();
    let s = h.run("stat", json!({"path": h.p("link")})).await.data["stat"].clone();
    assert_eq!(
        (s["islnk"].clone(), s["lnk_source"].clone()),
        (json!(true), json!(h.p("foo.txt")))
    );
    let s = h
        .run("stat", json!({"path": h.p("link"), "follow": true}))
        .await
        .data["stat"]
        .clone();
    assert_eq!(s["isreg"], true);
    let s = h
        .run(
            "stat",
            json!({"path": h.p("foo.txt"), "checksum_algorithm": "sha256"}),
        )
        .await
        .data["stat"]
        .clone();
    assert_eq!(
        s["checksum"],
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    let s = h.run("stat", json!({"path": h.p("nope")})).await.data["stat"].clone();
    assert_eq!(s, json!({"exists": false}));
    assert!(
        h.error("stat", json!({"path": "/", "get_checksums": true}))
            .await
            .contains("get_checksums")
    );
    h.stop().await;
}

#[tokio::test]
async fn file_states_modes_links_and_check_mode() {
    let h = Host::start().await;
    let dir = h.p("d/e");
    let out = h
        .check("file", json!({"path": dir, "state": "directory"}))
        .await;
    assert!(out.changed && !h.path("d").exists());
    let out = h
        .run(
            "file",
            json!({"path": dir, "state": "directory", "mode": "0750"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(out.data["state"], "directory");
    assert_eq!(out.data["mode"], "0750");
    assert_eq!(mode_of(&h.path("d/e")), 0o750);
    assert!(
        !h.run(
            "file",
            json!({"path": dir, "state": "directory", "mode": "0750"})
        )
        .await
        .changed
    );

    let f = h.p("d/f");
    assert!(
        h.run("file", json!({"path": f, "state": "file"}))
            .await
            .failed,
        "state=file does not create"
    );
    assert!(
        h.run("file", json!({"path": f, "state": "touch", "mode": "0600"}))
            .await
            .changed
    );
    assert_eq!(mode_of(&h.path("d/f")), 0o600);
    let out = h.run("file", json!({"path": f, "mode": "g+r"})).await;
    assert!(out.changed);
    assert_eq!(out.data["mode"], "0640");
    assert!(
        !h.run("file", json!({"path": f, "mode": "g+r"}))
            .await
            .changed
    );

    let link = h.p("d/l");
    let out = h
        .run("file", json!({"path": link, "src": f, "state": "link"}))
        .await;
    assert!(out.changed);
    assert_eq!(std::fs::read_link(h.path("d/l")).unwrap(), h.path("d/f"));
    assert!(
        !h.run("file", json!({"path": link, "src": f, "state": "link"}))
            .await
            .changed
    );
    let out = h
        .run("file", json!({"path": f, "src": dir, "state": "link"}))
        .await;
    assert!(out.failed, "file -> link needs force");
    assert!(
        h.run(
            "file",
            json!({"path": h.p("d/hard"), "src": f, "state": "hard"})
        )
        .await
        .changed
    );
    assert!(
        !h.run(
            "file",
            json!({"path": h.p("d/hard"), "src": f, "state": "hard"})
        )
        .await
        .changed
    );

    let out = h
        .check("file", json!({"path": h.p("d"), "state": "absent"}))
        .await;
    assert!(out.changed && h.path("d").exists());
    assert!(
        h.run("file", json!({"path": h.p("d"), "state": "absent"}))
            .await
            .changed
    );
    assert!(!h.path("d").exists());
    assert!(
        !h.run("file", json!({"path": h.p("d"), "state": "absent"}))
            .await
            .changed
    );

    assert!(
        h.error("file", json!({"path": f, "state": "present"}))
            .await
            .contains("state")
    );
    // As in Ansible, a link without src fails the task (an existing link
    // would keep its target).
    let no_src = h.run("file", json!({"path": f, "state": "link"})).await;
    assert!(no_src.failed, "{no_src:?}");
    assert!(
        no_src
            .msg
            .as_deref()
            .unwrap_or_default()
            .contains("src is required"),
        "{no_src:?}"
    );
    h.stop().await;
}

/// Seconds since the epoch of a local time, as the host (this machine) reads it.
fn local_epoch(time: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-d", time, "+%s"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn file_sets_access_and_modification_times_like_ansible() {
    use std::os::unix::fs::MetadataExt;
    let h = Host::start().await;
    let t = h.p("t");
    let times = |h: &Host| {
        let m = std::fs::metadata(h.path("t")).unwrap();
        (m.atime(), m.mtime())
    };
    // Explicit times, each in its own format; set once, then unchanged.
    let explicit = json!({
        "path": t, "state": "touch",
        "access_time": "2020-01-01 12:00:00", "access_time_format": "%Y-%m-%d %H:%M:%S",
        "modification_time": "202101011200.00",
    });
    assert!(h.run("file", explicit.clone()).await.changed);
    let (old_a, old_m) = (
        local_epoch("2020-01-01 12:00:00"),
        local_epoch("2021-01-01 12:00:00"),
    );
    assert_eq!(times(&h), (old_a, old_m));
    assert!(!h.run("file", explicit).await.changed);

    // `now` on one time changes that one only, and always reports a change.
    let out = h
        .run("file", json!({"path": t, "access_time": "now"}))
        .await;
    assert!(out.changed);
    let (a, m) = times(&h);
    assert!(a > old_a && m == old_m, "{a} {m}");
    assert!(
        h.run("file", json!({"path": t, "access_time": "now"}))
            .await
            .changed
    );

    // touch: `now` by default, `preserve` keeps a time.
    h.run("file", json!({"path": t, "state": "touch", "access_time": "202001011200.00", "modification_time": "preserve"}))
        .await;
    assert_eq!(times(&h), (old_a, old_m));
    let out = h.check("file", json!({"path": t, "state": "touch"})).await;
    assert!(out.changed);
    assert_eq!(times(&h), (old_a, old_m), "check mode changes nothing");
    assert!(
        h.run(
            "file",
            json!({"path": t, "state": "touch", "modification_time": "preserve"})
        )
        .await
        .changed
    );
    let (a, m) = times(&h);
    assert!(a > old_a && m == old_m, "{a} {m}");
    h.run("file", json!({"path": t, "state": "touch"})).await;
    let (a, m) = times(&h);
    assert!(a > old_a && m > old_m, "{a} {m}");

    // Check mode warns about an owner or group the host lacks, as Ansible.
    let out = h
        .check(
            "file",
            json!({"path": t, "owner": "herd-no-such-user", "group": "0"}),
        )
        .await;
    assert_eq!(
        out.data["warnings"],
        json!([
            "failed to look up user herd-no-such-user. Create user up to this point in real play"
        ])
    );

    // recurse with a symbolic mode changes each file's own bits; with
    // follow, what links point at too.
    std::fs::create_dir_all(h.path("r/sub")).unwrap();
    for (rel, mode) in [("r/x", 0o755), ("r/sub/y", 0o644), ("outside", 0o700)] {
        std::fs::write(h.path(rel), "").unwrap();
        std::fs::set_permissions(
            h.path(rel),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink(h.path("outside"), h.path("r/link")).unwrap();
    let recurse = json!({"path": h.p("r"), "recurse": true, "mode": "go-rwx", "follow": false});
    assert!(h.run("file", recurse.clone()).await.changed);
    assert_eq!(mode_of(&h.path("r/x")) & 0o777, 0o700);
    assert_eq!(mode_of(&h.path("r/sub/y")) & 0o777, 0o600);
    assert_eq!(mode_of(&h.path("outside")) & 0o777, 0o700);
    let mut follow = recurse;
    follow["mode"] = json!("g+w");
    follow["follow"] = json!(true);
    assert!(h.run("file", follow).await.changed);
    assert_eq!(mode_of(&h.path("r/x")) & 0o777, 0o720);
    assert_eq!(mode_of(&h.path("outside")) & 0o777, 0o720);

    // Without `now`, state=file leaves times alone; a bad time is an error.
    assert!(
        !h.run("file", json!({"path": t, "state": "file"}))
            .await
            .changed
    );
    let err = h
        .error("file", json!({"path": t, "modification_time": "yesterday"}))
        .await;
    assert!(err.contains("does not match the format"), "{err}");
    h.stop().await;
}

#[tokio::test]
async fn lineinfile_adds_replaces_removes_with_diffs() {
    let h = Host::start().await;
    let path = h.p("sshd_config");
    std::fs::write(h.path("sshd_config"), "Port 22\n#PermitRootLogin yes\n").unwrap();
    let set = json!({"path": path, "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"});

    let out = h.check("lineinfile", set.clone()).await;
    assert!(out.changed);
    assert_eq!(
        read(&h.path("sshd_config")),
        "Port 22\n#PermitRootLogin yes\n"
    );
    assert_eq!(
        out.diffs[0].after.as_deref(),
        Some("Port 22\nPermitRootLogin no\n")
    );

    let out = h.diff("lineinfile", set.clone()).await;
    assert!(out.changed);
    assert_eq!(out.data["msg"], "line replaced");
    assert_eq!(
        read(&h.path("sshd_config")),
        "Port 22\nPermitRootLogin no\n"
    );
    let diff = herd::modules::diff::unified(&out.diffs[0]);
    assert!(
        diff.contains("-#PermitRootLogin yes\n+PermitRootLogin no"),
        "{diff}"
    );
    assert!(!h.run("lineinfile", set.clone()).await.changed);

    let out = h
        .run(
            "lineinfile",
            json!({"path": path, "line": "UseDNS no", "insertafter": "^Port"}),
        )
        .await;
    assert_eq!(out.data["msg"], "line added");
    assert_eq!(
        read(&h.path("sshd_config")),
        "Port 22\nUseDNS no\nPermitRootLogin no\n"
    );

    let out = h
        .run(
            "lineinfile",
            json!({"path": path, "regexp": "^UseDNS", "state": "absent", "backup": true}),
        )
        .await;
    assert_eq!(out.data["msg"], "1 line(s) removed");
    assert_eq!(out.data["found"], 1);
    let backup = out.data["backup"].as_str().unwrap();
    assert!(read(Path::new(backup)).contains("UseDNS"));
    // A second backup within the same second keeps the first one.
    let again = h
        .run(
            "lineinfile",
            json!({"path": path, "line": "UseDNS yes", "backup": true}),
        )
        .await;
    let second = again.data["backup"].as_str().unwrap();
    assert_ne!(second, backup);
    assert!(read(Path::new(backup)).contains("UseDNS"));
    assert!(!read(Path::new(second)).contains("UseDNS"));

    let missing = h.p("new.conf");
    let out = h
        .run("lineinfile", json!({"path": missing, "line": "a=1"}))
        .await;
    assert!(out.failed && out.msg.unwrap().contains("does not exist"));
    let out = h
        .run(
            "lineinfile",
            json!({"path": missing, "line": "a=1", "create": true, "mode": "0600"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(read(&h.path("new.conf")), "a=1\n");
    assert_eq!(mode_of(&h.path("new.conf")), 0o600);

    let out = h
        .run(
            "lineinfile",
            json!({"path": path, "line": "x", "validate": "false %s"}),
        )
        .await;
    assert!(out.failed);
    assert!(!read(&h.path("sshd_config")).contains('x'));

    assert!(
        h.error(
            "lineinfile",
            json!({"path": path, "line": "x", "regex": "(", "foo": 1})
        )
        .await
        .contains("foo")
    );
    assert!(
        h.error("lineinfile", json!({"path": path, "regexp": "("}))
            .await
            .contains("line")
    );
    h.stop().await;
}

#[tokio::test]
async fn replace_substitutes_with_python_templates_check_and_diff() {
    let h = Host::start().await;
    let path = h.p("app.conf");
    let original = "port=22\n# port=23\nhost=a\n";
    std::fs::write(h.path("app.conf"), original).unwrap();
    let args =
        json!({"path": path, "regexp": "^port=(\\d+)$", "replace": "port=\\g<1>0 # was \\1"});

    let out = h.check("replace", args.clone()).await;
    assert!(out.changed);
    assert_eq!(read(&h.path("app.conf")), original);
    assert_eq!(
        out.diffs[0].after.as_deref(),
        Some("port=220 # was 22\n# port=23\nhost=a\n")
    );

    let out = h.diff("replace", args.clone()).await;
    assert!(out.changed);
    assert_eq!(out.data["msg"], "1 replacements made");
    assert_eq!(
        read(&h.path("app.conf")),
        "port=220 # was 22\n# port=23\nhost=a\n"
    );
    assert!(!out.diffs.is_empty());
    // The new text no longer matches `^port=\d+$`: nothing to do.
    assert!(!h.run("replace", args).await.changed);

    // Only between `after` and `before`; a backup only when asked.
    let out = h
        .run(
            "replace",
            json!({"path": path, "regexp": "port", "replace": "PORT", "after": "was", "before": "host", "backup": true}),
        )
        .await;
    assert_eq!(out.data["msg"], "1 replacements made");
    assert_eq!(
        read(&h.path("app.conf")),
        "port=220 # was 22\n# PORT=23\nhost=a\n"
    );
    let backup = out.data["backup_file"].as_str().unwrap();
    assert!(read(Path::new(backup)).contains("# port=23"));

    let out = h
        .run(
            "replace",
            json!({"path": path, "regexp": "x", "after": "nowhere"}),
        )
        .await;
    assert!(!out.changed && !out.failed);
    assert!(
        out.data["msg"]
            .as_str()
            .unwrap()
            .starts_with("Pattern for before/after params did not match")
    );

    let out = h
        .run(
            "replace",
            json!({"path": path, "regexp": "a", "replace": "\\D"}),
        )
        .await;
    assert!(out.failed);
    assert_eq!(
        out.data["msg"],
        "Unable to process replace due to error: bad escape \\D at position 0"
    );

    let missing = h.p("missing.conf");
    let out = h
        .run("replace", json!({"path": missing, "regexp": "a"}))
        .await;
    assert!(out.failed);
    assert_eq!(out.data["msg"], format!("Path {missing} does not exist !"));
    assert!(
        h.error("replace", json!({"path": path}))
            .await
            .contains("regexp")
    );
    h.stop().await;
}

#[tokio::test]
async fn assemble_joins_fragments_on_host_or_controller_with_check_and_diff() {
    let h = Host::start().await;
    let frags = h.path("frags");
    std::fs::create_dir_all(frags.join("sub")).unwrap();
    // Sorted by name; a fragment without a final newline gets one before
    // the next; directories and
    // hidden files (when asked) are left out.
    std::fs::write(frags.join("b.conf"), "two").unwrap();
    std::fs::write(frags.join("a.conf"), "one\n").unwrap();
    std::fs::write(frags.join("c.txt"), "three\n").unwrap();
    std::fs::write(frags.join(".hidden"), "secret\n").unwrap();
    let dest = h.p("joined");
    let args = json!({"src": h.p("frags"), "dest": dest, "ignore_hidden": true});

    let out = h.check("assemble", args.clone()).await;
    assert!(out.changed);
    assert!(!h.path("joined").exists());

    let out = h.diff("assemble", args.clone()).await;
    assert!(out.changed);
    let want = "one\ntwo\nthree\n";
    assert_eq!(read(&h.path("joined")), want);
    assert_eq!(out.data["checksum"], json!(sha1_of(want)));
    assert_eq!(out.data["state"], "file");
    assert_eq!(out.data["msg"], "OK");
    // One diff, registered as a map (Ansible's shape for assemble).
    assert_eq!(out.data["diff"]["after"], want);
    assert!(!h.run("assemble", args).await.changed);

    // regexp picks fragments; the delimiter's escapes are decoded and a
    // newline always follows it; the last fragment is kept as it is; a
    // backup of the old file when asked.
    let out = h
        .run(
            "assemble",
            json!({"src": h.p("frags"), "dest": dest, "regexp": "\\.conf$",
                   "delimiter": "# --\\t--", "backup": true, "mode": "0600"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(read(&h.path("joined")), "one\n# --\t--\ntwo");
    assert_eq!(out.data["mode"], "0600");
    let backup = out.data["backup_file"].as_str().unwrap();
    assert_eq!(read(Path::new(backup)), want);

    // remote_src: false reads the fragments on the controller.
    let local = h.local.path().join("files/parts");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("2"), "second\n").unwrap();
    std::fs::write(local.join("1"), "first").unwrap();
    let out = h
        .run(
            "assemble",
            json!({"src": "parts", "dest": dest, "remote_src": false}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(read(&h.path("joined")), "first\nsecond\n");

    let missing = h.p("nowhere");
    let out = h
        .run("assemble", json!({"src": missing, "dest": dest}))
        .await;
    assert!(out.failed);
    assert_eq!(
        out.data["msg"],
        format!("Source ({missing}) does not exist")
    );
    let out = h
        .run("assemble", json!({"src": dest, "dest": h.p("other")}))
        .await;
    assert_eq!(
        out.data["msg"],
        format!("Source ({dest}) is not a directory")
    );
    assert!(
        h.error(
            "assemble",
            json!({"src": h.p("frags"), "dest": dest, "validate": "true"})
        )
        .await
        .contains("%s")
    );
    h.stop().await;
}

#[tokio::test]
async fn known_hosts_adds_replaces_hashes_and_removes_keeping_other_lines() {
    let h = Host::start().await;
    let path = h.p("kh");
    let original =
        "# fleet\n@cert-authority *.example.org ssh-ed25519 CAKEY\nother.org ssh-rsa OTHER\n";
    std::fs::write(h.path("kh"), original).unwrap();
    let rsa = "example.org ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQOLD";
    let args = json!({"name": "example.org", "key": rsa, "path": path});

    // Check mode: changed, the diff says what would be, the file is untouched.
    let out = h.check("known_hosts", args.clone()).await;
    assert!(out.changed);
    assert_eq!(read(&h.path("kh")), original);
    assert_eq!(out.data["diff"]["before"], original);
    assert_eq!(out.data["diff"]["after"], format!("{original}{rsa}\n"));
    assert_eq!(out.data["diff"]["before_header"], path.as_str());

    assert!(h.run("known_hosts", args.clone()).await.changed);
    assert_eq!(read(&h.path("kh")), format!("{original}{rsa}\n"));
    let again = h.run("known_hosts", args.clone()).await;
    assert!(!again.changed);
    assert_eq!(again.data["diff"]["before"], again.data["diff"]["after"]);

    // A new key of the same type replaces the old one; the CA line stays.
    let newer = "example.org ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQNEW";
    let out = h
        .run(
            "known_hosts",
            json!({"name": "example.org", "key": newer, "path": path, "hash_host": true}),
        )
        .await;
    assert!(out.changed);
    let text = read(&h.path("kh"));
    let last = text.lines().last().unwrap();
    assert!(text.starts_with(original), "{text}");
    assert!(
        last.starts_with("|1|") && last.ends_with(" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQNEW"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    // herd's own known_hosts reader recognises the hashed name.
    assert!(
        !h.run(
            "known_hosts",
            json!({"name": "example.org", "key": newer, "path": path, "hash_host": true})
        )
        .await
        .changed
    );

    // Removing another key changes nothing; removing this one restores the file.
    let absent =
        |key: &str| json!({"name": "example.org", "key": key, "path": path, "state": "absent"});
    assert!(!h.run("known_hosts", absent(rsa)).await.changed);
    assert!(h.run("known_hosts", absent(newer)).await.changed);
    assert_eq!(read(&h.path("kh")), original);

    // Ansible's argument errors, as results.
    let out = h
        .run(
            "known_hosts",
            json!({"name": "example.com", "key": rsa, "path": path}),
        )
        .await;
    assert!(out.failed);
    assert_eq!(
        out.data["msg"],
        "Host parameter does not match hashed host field in supplied key"
    );
    let out = h
        .run(
            "known_hosts",
            json!({"name": "a.org,b.org", "key": rsa, "path": path}),
        )
        .await;
    assert!(
        out.failed
            && out.data["msg"]
                .as_str()
                .unwrap()
                .starts_with("Comma separated")
    );
    let out = h
        .run("known_hosts", json!({"name": "example.org", "path": path}))
        .await;
    assert_eq!(out.data["msg"], "No key specified when adding a host");

    // A missing file is created.
    let fresh = h.p("fresh_kh");
    let out = h
        .run("known_hosts", json!({"name": "[example.org]:2222", "key": rsa.replace("example.org", "[example.org]:2222"), "path": fresh}))
        .await;
    assert!(out.changed);
    assert_eq!(out.data["diff"]["before_header"], "/dev/null");
    assert_eq!(
        read(&h.path("fresh_kh")),
        format!("{}\n", rsa.replace("example.org", "[example.org]:2222"))
    );
    assert_eq!(read(&h.path("kh")), original);
    h.stop().await;
}

#[tokio::test]
async fn tempfile_creates_files_and_directories_but_not_in_check_mode() {
    let h = Host::start().await;
    let dir = h.p("");
    let out = h
        .run(
            "tempfile",
            json!({"path": dir, "prefix": "hello.", "suffix": ".bye"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(out.data["state"], "file");
    let path = out.data["path"].as_str().unwrap();
    let name = Path::new(path).file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("hello.") && name.ends_with(".bye"),
        "{name}"
    );
    assert!(Path::new(path).is_file());

    let out = h
        .run("tempfile", json!({"path": dir, "state": "directory"}))
        .await;
    assert_eq!(out.data["state"], "directory");
    let path = out.data["path"].as_str().unwrap();
    assert!(Path::new(path).is_dir());
    assert!(
        Path::new(path)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("ansible.")
    );

    let before = std::fs::read_dir(h.path("")).unwrap().count();
    let out = h.check("tempfile", json!({"path": dir})).await;
    assert!(out.skipped && !out.changed);
    assert_eq!(std::fs::read_dir(h.path("")).unwrap().count(), before);

    let out = h.run("tempfile", json!({"path": h.p("no/such/dir")})).await;
    assert!(out.failed);
    h.stop().await;
}

#[tokio::test]
async fn blockinfile_inserts_updates_removes() {
    let h = Host::start().await;
    let path = h.p("hosts");
    std::fs::write(h.path("hosts"), "127.0.0.1 localhost\n").unwrap();
    let args = json!({"path": path, "block": "10.0.0.1 a\n10.0.0.2 b"});
    let out = h.check("blockinfile", args.clone()).await;
    assert!(out.changed);
    assert_eq!(read(&h.path("hosts")), "127.0.0.1 localhost\n");
    let out = h.diff("blockinfile", args.clone()).await;
    assert_eq!(out.data["msg"], "Block inserted");
    let text = "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 a\n10.0.0.2 b\n# END ANSIBLE MANAGED BLOCK\n";
    assert_eq!(read(&h.path("hosts")), text);
    assert!(herd::modules::diff::unified(&out.diffs[0]).contains("+10.0.0.2 b"));
    assert!(!h.run("blockinfile", args).await.changed);

    let out = h
        .run(
            "blockinfile",
            json!({"path": path, "block": "10.0.0.3 c", "insertbefore": "BOF"}),
        )
        .await;
    assert!(out.changed, "an existing block is updated in place");
    assert!(read(&h.path("hosts")).starts_with("127.0.0.1 localhost\n# BEGIN"));
    let out = h
        .run("blockinfile", json!({"path": path, "state": "absent"}))
        .await;
    assert_eq!(out.data["msg"], "Block removed");
    assert_eq!(read(&h.path("hosts")), "127.0.0.1 localhost\n");

    let out = h
        .run(
            "blockinfile",
            json!({"path": h.p("new"), "block": "x", "create": true}),
        )
        .await;
    assert_eq!(out.data["msg"], "File created");
    assert!(
        h.error("blockinfile", json!({"path": path, "blok": "x"}))
            .await
            .contains("blok")
    );
    h.stop().await;
}

#[tokio::test]
async fn lineinfile_and_blockinfile_keep_bytes_they_do_not_change() {
    let h = Host::start().await;
    let path = h.p("latin1.conf");
    let original = b"# caf\xe9 Latin-1\nPort 22\n\xff\xfe raw\n".to_vec();
    std::fs::write(h.path("latin1.conf"), &original).unwrap();
    let bytes = || std::fs::read(h.path("latin1.conf")).unwrap();

    let out = h
        .run(
            "lineinfile",
            json!({"path": path, "regexp": "^Port ", "line": "Port 2222"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(bytes(), b"# caf\xe9 Latin-1\nPort 2222\n\xff\xfe raw\n");
    // A regexp sees a non-UTF-8 byte as one character, and a backreference
    // gives it back as the same byte.
    h.run(
        "lineinfile",
        json!({"path": path, "regexp": "^# (caf.) Latin-1$", "line": "# \\1 ISO-8859-1", "backrefs": true}),
    )
    .await;
    assert_eq!(bytes(), b"# caf\xe9 ISO-8859-1\nPort 2222\n\xff\xfe raw\n");
    let out = h
        .run(
            "lineinfile",
            json!({"path": path, "regexp": "^Port ", "state": "absent"}),
        )
        .await;
    assert_eq!(out.data["found"], 1);
    assert_eq!(bytes(), b"# caf\xe9 ISO-8859-1\n\xff\xfe raw\n");

    let out = h
        .run(
            "blockinfile",
            json!({"path": path, "block": "Port 2200", "insertafter": "^# caf", "marker": "# {mark}"}),
        )
        .await;
    assert!(out.changed);
    assert_eq!(
        bytes(),
        b"# caf\xe9 ISO-8859-1\n# BEGIN\nPort 2200\n# END\n\xff\xfe raw\n"
    );
    h.run(
        "blockinfile",
        json!({"path": path, "state": "absent", "marker": "# {mark}"}),
    )
    .await;
    assert_eq!(bytes(), b"# caf\xe9 ISO-8859-1\n\xff\xfe raw\n");
    h.stop().await;
}

/// A sudo that runs the command as `nobody` (for a root test run).
const SUDO_AS_NOBODY: &str = "#!/bin/sh\n\
while [ $# -gt 0 ]; do case \"$1\" in -u) shift 2;; --) shift; break;; -*) shift;; *) break;; esac; done\n\
exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \"$@\"\n";

#[tokio::test]
async fn lineinfile_and_blockinfile_refuse_a_file_they_cannot_read() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::start().await;
    // A directory the editing user may write, holding a file it may write
    // but not read (mode 0200).
    let dir = h.path("private");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.conf");
    std::fs::write(&file, "keep=me\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o200)).unwrap();
    // The login user is root here, who reads everything: become `nobody`
    // through a sudo that drops privileges, and let nobody reach the file.
    let mut exec = ExecOptions::default();
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        let bin = h.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("sudo"), SUDO_AS_NOBODY).unwrap();
        std::fs::set_permissions(bin.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        for ancestor in dir.ancestors().skip(1) {
            if !ancestor.starts_with(&h.fleet.dir) {
                break;
            }
            let mode = mode_of(ancestor) | 0o711;
            std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        exec = ExecOptions {
            become_: Some(herd::ssh::Become {
                user: "nobody".into(),
                ..herd::ssh::Become::default()
            }),
            env: vec![("PATH".into(), format!("{}:/usr/bin:/bin", bin.display()))],
            ..ExecOptions::default()
        };
    }
    let path = file.display().to_string();
    for (module, args) in [
        ("lineinfile", json!({"path": path, "line": "new=1"})),
        ("blockinfile", json!({"path": path, "block": "new=1"})),
    ] {
        let result = h
            .try_run_on(&h.transport, exec.clone(), module, args, false, false)
            .await;
        let message = match result {
            Err(e) => e.to_string(),
            Ok(out) => panic!("{module}: edited a file it could not read: {out:?}"),
        };
        assert!(message.contains("cannot be read"), "{module}: {message}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&file), "keep=me\n", "{module}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o200)).unwrap();
    }
    h.stop().await;
}

#[tokio::test]
async fn fetch_script_setup_wait_for_and_local_modules() {
    let h = Host::start().await;
    // fetch
    std::fs::write(h.path("remote.log"), "log line\n").unwrap();
    let dest = tempfile::tempdir().unwrap();
    let args = json!({"src": h.p("remote.log"), "dest": format!("{}/", dest.path().display()), "flat": true});
    let out = h.run("fetch", args.clone()).await;
    assert!(out.changed);
    assert_eq!(read(&dest.path().join("remote.log")), "log line\n");
    assert_eq!(out.data["checksum"], json!(sha1_of("log line\n")));
    assert!(!h.run("fetch", args).await.changed);
    let out = h
        .run("fetch", json!({"src": h.p("nope"), "dest": dest.path()}))
        .await;
    assert!(out.failed);
    let out = h
        .run(
            "fetch",
            json!({"src": h.p("nope"), "dest": dest.path(), "fail_on_missing": false}),
        )
        .await;
    assert!(!out.failed && !out.changed);

    // script
    h.local_file("files/hello.sh", "#!/bin/sh\necho \"hello $1\"\n");
    let out = h
        .run("script", json!({"_raw_params": "hello.sh 'big world'"}))
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["stdout"], "hello big world\n");
    let out = h
        .run(
            "script",
            json!({"_raw_params": "hello.sh", "creates": h.p("remote.log")}),
        )
        .await;
    assert!(out.skipped);
    assert_eq!(
        out.msg.unwrap(),
        format!("{} exists, matching creates option", h.p("remote.log"))
    );
    assert!(h.check("script", json!({"cmd": "hello.sh"})).await.skipped);

    // setup
    let out = h.run("setup", json!({})).await;
    let facts = &out.data["ansible_facts"];
    let hostname = std::process::Command::new("hostname").output().unwrap();
    let hostname = String::from_utf8_lossy(&hostname.stdout).trim().to_string();
    assert_eq!(
        facts["ansible_hostname"],
        json!(hostname.split('.').next().unwrap())
    );
    assert!(facts["ansible_memtotal_mb"].as_i64().unwrap() > 0);
    assert!(facts["ansible_processor_vcpus"].as_i64().unwrap() >= 1);
    assert_eq!(facts["ansible_system"], "Linux");
    assert_eq!(facts["ansible_user_id"], json!(h.fleet.user));
    assert!(
        facts["ansible_date_time"]["epoch"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(
        facts["ansible_os_family"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    // wait_for: a port the fleet's sshd listens on, a closed one, a file.
    let host = &h.fleet.hosts[0];
    let out = h
        .run(
            "wait_for",
            json!({"host": host.addr.to_string(), "port": host.port, "timeout": 5}),
        )
        .await;
    assert!(!out.failed, "{out:?}");
    let out = h
        .run(
            "wait_for",
            json!({"host": "127.0.0.1", "port": 1, "timeout": 1, "sleep": 0.2}),
        )
        .await;
    assert!(
        out.failed
            && out
                .msg
                .unwrap()
                .contains("Timeout when waiting for 127.0.0.1:1")
    );
    let out = h
        .run(
            "wait_for",
            json!({"path": h.p("remote.log"), "search_regex": "log l.ne", "timeout": 2}),
        )
        .await;
    assert!(!out.failed);
    let out = h
        .run(
            "wait_for",
            json!({"path": h.p("gone"), "state": "absent", "timeout": 2}),
        )
        .await;
    assert!(!out.failed);

    // systemd: argument checks, and a clear failure without systemctl.
    assert!(
        h.error("systemd", json!({"name": "nginx", "state": "running"}))
            .await
            .contains("state")
    );
    assert!(
        h.error("service", json!({"name": "nginx", "masked": true}))
            .await
            .contains("masked")
    );
    let has_systemctl = h
        .run("shell", json!({"_raw_params": "command -v systemctl"}))
        .await
        .data["rc"]
        == 0;
    if !has_systemctl {
        let out = h
            .run("systemd", json!({"name": "nginx", "state": "started"}))
            .await;
        assert!(out.failed && out.msg.unwrap().contains("systemctl not found"));
    }

    // Modules that never touch the host.
    let mut h = h;
    h.vars.insert("x".into(), json!(3));
    let out = h.run("debug", json!({"msg": "hi"})).await;
    assert_eq!(out.data["msg"], "hi");
    let out = h.run("debug", json!({"var": "x"})).await;
    assert_eq!(out.data["x"], 3);
    let out = h.run("assert", json!({"that": ["x > 1", "x < 5"]})).await;
    assert!(!out.failed);
    assert_eq!(out.data["msg"], "All assertions passed");
    let out = h
        .run(
            "assert",
            json!({"that": ["x > 1", "x > 5"], "fail_msg": "too small"}),
        )
        .await;
    assert!(out.failed);
    assert_eq!(
        (
            out.data["assertion"].clone(),
            out.data["evaluated_to"].clone()
        ),
        (json!("x > 5"), json!(false))
    );
    assert_eq!(out.msg.as_deref(), Some("too small"));
    let out = h.run("fail", json!({})).await;
    assert_eq!(out.msg.as_deref(), Some("Failed as requested from task"));
    let out = h.run("set_fact", json!({"a": 1, "cacheable": true})).await;
    assert_eq!(out.data["ansible_facts"], json!({"a": 1}));
    let out = h.run("pause", json!({"seconds": 0})).await;
    assert!(!out.failed);
    assert!(
        h.error("pause", json!({"prompt": "continue?"}))
            .await
            .contains("prompt")
    );
    assert!(matches!(
        h.try_run_on(
            &h.transport,
            ExecOptions::default(),
            "copyy",
            json!({}),
            false,
            false
        )
        .await,
        Err(ModuleError::Unknown(_))
    ));
    h.stop().await;
}

/// `..` in `src` cannot climb out of `dest/<host>/` (Ansible's
/// CVE-2019-3828): the path is resolved inside it.
#[tokio::test]
async fn fetch_keeps_dotdot_in_src_inside_dest() {
    let h = Host::start().await;
    std::fs::write(h.path("remote.log"), "log line\n").unwrap();
    let dest = tempfile::tempdir().unwrap();
    let src = format!("/../../../../../../../../..{}", h.p("remote.log"));
    let out = h
        .run("fetch", json!({"src": src, "dest": dest.path()}))
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    let inside = dest
        .path()
        .join("host1")
        .join(h.p("remote.log").trim_start_matches('/'));
    assert_eq!(out.data["dest"], json!(inside.display().to_string()));
    assert_eq!(read(&inside), "log line\n");
    h.stop().await;
}

#[tokio::test]
async fn slurp_returns_base64_and_fails_on_missing_files_and_directories() {
    let h = Host::start().await;
    std::fs::write(h.path("café.txt"), "We are at the café").unwrap();
    std::fs::write(h.path("bin"), [0u8, 159, 146, 150, 255]).unwrap();
    let out = h.run("slurp", json!({"src": h.p("café.txt")})).await;
    assert!(!out.changed && !out.failed);
    assert_eq!(out.data["encoding"], "base64");
    assert_eq!(out.data["source"], h.p("café.txt"));
    assert_eq!(out.data["content"], "V2UgYXJlIGF0IHRoZSBjYWbDqQ==");
    // `path` is an alias; binary content survives.
    let out = h.check("slurp", json!({"path": h.p("bin")})).await;
    assert_eq!(out.data["content"], "AJ+Slv8=");

    let out = h.run("slurp", json!({"src": h.p("missing")})).await;
    assert!(out.failed && !out.changed);
    assert_eq!(
        out.data["msg"],
        format!("File not found: {}", h.p("missing"))
    );
    let out = h.run("slurp", json!({"src": h.p("")})).await;
    assert!(out.failed);
    assert!(
        out.data["msg"].as_str().unwrap().contains("is a directory"),
        "{out:?}"
    );
    let out = h.run("slurp", json!({"src": h.p("bin/below")})).await;
    assert!(out.failed);
    h.stop().await;
}

#[tokio::test]
async fn find_matches_names_contents_age_size_mode_and_depth() {
    let h = Host::start().await;
    let root = h.path("t");
    for dir in ["a/b/c", "e/f"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (file, text) in [
        ("a/1.txt", "data"),
        ("a/b/2.jpg", "data"),
        ("a/b/c/3.xml", "data"),
        ("e/5.json", "hello\nworld OK"),
        ("e/.hidden", "x"),
        ("e/f/big.log", "0123456789"),
    ] {
        std::fs::write(root.join(file), text).unwrap();
    }
    let t = h.p("t");
    let paths = |out: &ModuleOutput| -> Vec<String> {
        let mut v: Vec<String> = out.data["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["path"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(&t)
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };

    // Directories, recursively; `examined` counts every entry seen.
    let out = h
        .run(
            "find",
            json!({"paths": t, "file_type": "directory", "recurse": true}),
        )
        .await;
    assert!(!out.changed);
    assert_eq!(paths(&out), ["/a", "/a/b", "/a/b/c", "/e", "/e/f"]);
    assert_eq!(out.data["matched"], 5);
    assert_eq!(out.data["examined"], 11);
    assert_eq!(out.data["msg"], "All paths examined");
    assert_eq!(out.data["files"][0]["isdir"], true);
    assert!(out.data["files"][0]["pw_name"].is_string());

    // Globs, a comma list, hidden files, excludes and regexes.
    let out = h
        .run(
            "find",
            json!({"paths": t, "patterns": "*.xml,*.jpg", "recurse": true}),
        )
        .await;
    assert_eq!(paths(&out), ["/a/b/2.jpg", "/a/b/c/3.xml"]);
    let out = h
        .run("find", json!({"paths": h.p("t/e"), "hidden": true}))
        .await;
    assert_eq!(paths(&out), ["/e/.hidden", "/e/5.json"]);
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "use_regex": true, "excludes": [r".*\.(txt|jpg|xml)"]}),
        )
        .await;
    assert_eq!(paths(&out), ["/e/5.json", "/e/f/big.log"]);

    // Contents, line by line or whole; sizes; depth; mode.
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "contains": "OK$", "read_whole_file": true}),
        )
        .await;
    assert_eq!(paths(&out), ["/e/5.json"]);
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "contains": "hello\nworld"}),
        )
        .await;
    assert_eq!(out.data["matched"], 0);
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "size": "10", "get_checksum": true}),
        )
        .await;
    assert_eq!(paths(&out), ["/e/5.json", "/e/f/big.log"]);
    assert_eq!(
        out.data["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["size"] == 10)
            .unwrap()["checksum"],
        sha1_of("0123456789")
    );
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "depth": 2, "file_type": "any"}),
        )
        .await;
    assert_eq!(
        paths(&out),
        ["/a", "/a/1.txt", "/a/b", "/e", "/e/5.json", "/e/f"]
    );
    std::fs::set_permissions(
        root.join("a/1.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = h
        .run(
            "find",
            json!({"paths": t, "recurse": true, "mode": "u=rw", "exact_mode": true}),
        )
        .await;
    assert_eq!(paths(&out), ["/a/1.txt"]);
    let out = h
        .run("find", json!({"paths": t, "recurse": true, "age": "1d"}))
        .await;
    assert_eq!(out.data["matched"], 0);

    // A missing path is skipped and said so; bad arguments are errors.
    let out = h.run("find", json!({"paths": [h.p("nope"), t]})).await;
    assert!(!out.failed);
    assert_eq!(
        out.data["msg"],
        "Not all paths examined, check warnings for details"
    );
    assert_eq!(
        out.data["skipped_paths"][h.p("nope")],
        format!("'{}' is not a directory", h.p("nope"))
    );
    let err = h.error("find", json!({"paths": t, "age": "3y"})).await;
    assert!(err.contains("failed to process age"), "{err}");
    h.stop().await;
}

/// Makes `name` in `dir` with `tar`/`zip` on this machine (the hosts are
/// this machine too).
fn archive(dir: &Path, command: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
}

#[tokio::test]
async fn unarchive_tar_and_zip_idempotent_with_check_mode_and_attributes() {
    let h = Host::start().await;
    let work = h.path("work");
    std::fs::create_dir_all(work.join("tree/sub")).unwrap();
    std::fs::write(work.join("tree/a.txt"), "alpha\n").unwrap();
    std::fs::write(work.join("tree/sub/b.txt"), "beta\n").unwrap();
    archive(
        &work,
        "tar czf t.tar.gz -C tree . && tar cJf t.tar.xz -C tree a.txt",
    );
    archive(&work.join("tree"), "zip -qr ../t.zip a.txt sub");
    std::fs::create_dir_all(h.path("out")).unwrap();
    let out_dir = h.p("out");

    // tar.gz on the host: changed, then not; check mode is skipped as
    // Ansible's (gtar has no check mode).
    let args = json!({"src": h.p("work/t.tar.gz"), "dest": out_dir, "remote_src": true, "list_files": true});
    let out = h.run("unarchive", args.clone()).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["handler"], "TgzArchive");
    assert!(
        out.data["files"]
            .as_array()
            .unwrap()
            .contains(&json!("./sub/b.txt"))
    );
    assert_eq!(read(&h.path("out/sub/b.txt")), "beta\n");
    let out = h.run("unarchive", args.clone()).await;
    assert!(!out.changed && !out.failed, "{out:?}");
    let out = h.check("unarchive", args.clone()).await;
    assert!(out.skipped && !out.changed);
    // A changed file is put back.
    std::fs::write(h.path("out/a.txt"), "changed\n").unwrap();
    let out = h.run("unarchive", args.clone()).await;
    assert!(out.changed);
    assert_eq!(read(&h.path("out/a.txt")), "alpha\n");

    // creates: nothing to do.
    let out = h
        .run(
            "unarchive",
            json!({"src": h.p("work/t.tar.xz"), "dest": out_dir, "remote_src": true, "creates": h.p("out/a.txt")}),
        )
        .await;
    assert!(out.skipped && !out.changed, "{out:?}");

    // zip from the controller: check mode first (zip has one), then the
    // mode on every file, then no change.
    std::fs::copy(work.join("t.zip"), h.local.path().join("files/t.zip")).unwrap();
    std::fs::create_dir_all(h.path("zout")).unwrap();
    let args =
        json!({"src": "t.zip", "dest": h.p("zout"), "mode": "u=rw,g=r,o=", "list_files": true});
    let out = h.check("unarchive", args.clone()).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert!(!h.path("zout/a.txt").exists());
    let out = h.run("unarchive", args.clone()).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["handler"], "ZipArchive");
    assert_eq!(mode_of(&h.path("zout/sub/b.txt")), 0o640);
    let out = h.run("unarchive", args.clone()).await;
    assert!(!out.changed, "{out:?}");
    // The upload was cleaned up.
    assert!(
        !std::fs::read_dir("/tmp").unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with("-t.zip"))
    );

    // Failures with Ansible's messages.
    let out = h
        .run(
            "unarchive",
            json!({"src": h.p("work/none.tgz"), "dest": out_dir, "remote_src": true}),
        )
        .await;
    assert!(out.failed);
    assert_eq!(
        out.data["msg"],
        format!("Source '{}' does not exist", h.p("work/none.tgz"))
    );
    let out = h
        .run(
            "unarchive",
            json!({"src": h.p("work/t.zip"), "dest": h.p("work/t.zip"), "remote_src": true}),
        )
        .await;
    assert_eq!(
        out.data["msg"],
        format!("Destination '{}' is not a directory", h.p("work/t.zip"))
    );
    let out = h
        .run(
            "unarchive",
            json!({"src": h.p("work/t.zip"), "dest": out_dir, "remote_src": true, "mode": "ao=r"}),
        )
        .await;
    assert!(out.failed);
    assert_eq!(
        out.data["details"],
        "bad symbolic permission for mode: ao=r"
    );
    h.stop().await;
}
