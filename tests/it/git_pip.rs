//! The `git` and `pip` modules against a real sshd host (tests/it/fleet),
//! offline: git clones a bare repository the test makes on the machine
//! (the loopback fleet shares its filesystem), pip installs wheels the test
//! builds into a `--find-links` directory, in a virtualenv on the host.
//! What changes, idempotence, check mode, diffs, Ansible's result fields
//! and failures.

use crate::fleet;
use crate::support;
use crate::support::module_host::ModuleHost;
use std::ops::Deref;

use std::path::{Path, PathBuf};
use std::process::Command;

use fleet::Fleet;
use herd::modules::ModuleOutput;
use herd::ssh::ExecOptions;
use serde_json::{Value, json};
use support::Herd;

/// One fleet host, driven module by module (with diffs, as these modules
/// report them).
struct Host(ModuleHost);

impl Deref for Host {
    type Target = ModuleHost;
    fn deref(&self) -> &ModuleHost {
        &self.0
    }
}

impl Host {
    async fn start() -> Host {
        Host(ModuleHost::connect(Fleet::builder().hosts(1).start()).await)
    }

    async fn run_env(
        &self,
        name: &str,
        args: Value,
        check: bool,
        env: &[(&str, &str)],
    ) -> ModuleOutput {
        let exec = ExecOptions {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ExecOptions::default()
        };
        self.run_with(exec, name, args, check, true).await
    }

    async fn run(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_env(name, args, false, &[]).await
    }

    async fn check(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_env(name, args, true, &[]).await
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

fn ok(out: &ModuleOutput) -> &ModuleOutput {
    assert!(!out.failed, "{out:?}");
    out
}

fn failed_msg(out: &ModuleOutput) -> String {
    assert!(out.failed, "expected a failure, got {out:?}");
    out.msg.clone().unwrap_or_default()
}

/// Runs a local command, panicking with its output when it fails.
fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository (`origin.git`) with one commit on `main`, and the
/// work tree the test commits from (`work`). Returns the bare path.
fn make_origin(dir: &Path) -> PathBuf {
    sh(
        dir,
        "git init -q -b main work && cd work && echo one > app.txt && git add app.txt \
         && git commit -q -m one && git tag v1 && git tag -a v1a -m annotated \
         && git clone -q --bare . ../origin.git && git remote add origin ../origin.git",
    );
    dir.join("origin.git")
}

/// Commits `text` to app.txt and pushes it; returns the new commit.
fn push(dir: &Path, text: &str) -> String {
    sh(
        &dir.join("work"),
        &format!(
            "echo {text} > app.txt && git commit -q -am {text} && git push -q origin main --tags"
        ),
    );
    sh(&dir.join("work"), "git rev-parse HEAD")
}

#[tokio::test(flavor = "multi_thread")]
async fn git_clones_updates_checks_and_guards_local_changes() {
    let h = Host::start().await;
    let local = tempfile::tempdir().unwrap();
    let origin = make_origin(local.path());
    let repo = origin.display().to_string();
    let first = sh(&local.path().join("work"), "git rev-parse HEAD");
    let dest = h.p("src/app");

    // Check mode asks the remote and creates nothing.
    let plan = h.check("git", json!({"repo": repo, "dest": dest})).await;
    assert!(ok(&plan).changed);
    assert_eq!(plan.data["after"], json!(first));
    assert_eq!(plan.data["before"], Value::Null);
    assert!(!h.path("src").exists());

    // Clone.
    let out = h.run("git", json!({"repo": repo, "dest": dest})).await;
    assert!(ok(&out).changed);
    assert_eq!(out.data["before"], Value::Null);
    assert_eq!(out.data["after"], json!(first));
    assert_eq!(
        out.data["diff"]["prepared"],
        json!(format!(">> Newly checked out {first}"))
    );
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "one\n"
    );

    // Again: nothing to do.
    let out = h.run("git", json!({"repo": repo, "dest": dest})).await;
    assert!(!ok(&out).changed, "{out:?}");
    assert_eq!(out.data["before"], json!(first));
    assert_eq!(out.data["after"], json!(first));
    assert_eq!(out.data["remote_url_changed"], json!(false));

    // A new commit upstream: check mode sees it and leaves the tree alone.
    let second = push(local.path(), "two");
    let plan = h.check("git", json!({"repo": repo, "dest": dest})).await;
    assert!(ok(&plan).changed);
    assert_eq!(plan.data["before"], json!(first));
    assert_eq!(plan.data["after"], json!(second));
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "one\n"
    );
    let out = h.run("git", json!({"repo": repo, "dest": dest})).await;
    assert!(ok(&out).changed);
    assert_eq!(out.data["before"], json!(first));
    assert_eq!(out.data["after"], json!(second));
    let prepared = out.data["diff"]["prepared"].as_str().unwrap();
    assert!(
        prepared.contains("-one") && prepared.contains("+two"),
        "{prepared}"
    );
    assert_eq!(out.diffs.len(), 1);
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "two\n"
    );

    // A tag checks out its commit, idempotently; an annotated tag of the
    // same commit changes nothing.
    for (tag, changed) in [("v1", true), ("v1", false), ("v1a", false)] {
        let out = h
            .run("git", json!({"repo": repo, "dest": dest, "version": tag}))
            .await;
        assert_eq!(ok(&out).changed, changed, "{tag}: {out:?}");
        assert_eq!(out.data["after"], json!(first), "{tag}");
    }
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "one\n"
    );
    // Check mode of a tag resolves it on the remote.
    let plan = h
        .check("git", json!({"repo": repo, "dest": dest, "version": "v1a"}))
        .await;
    assert!(!ok(&plan).changed && plan.data["after"] == json!(first));
    // Back to the branch.
    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": dest, "version": "main"}),
        )
        .await;
    assert!(ok(&out).changed && out.data["after"] == json!(second));

    // Local modifications: a failure without force, discarded with it.
    std::fs::write(h.path("src/app/app.txt"), "edited\n").unwrap();
    let msg = failed_msg(&h.run("git", json!({"repo": repo, "dest": dest})).await);
    assert!(
        msg.starts_with("Local modifications exist in the destination:"),
        "{msg}"
    );
    let plan = h
        .check("git", json!({"repo": repo, "dest": dest, "force": true}))
        .await;
    assert!(ok(&plan).changed);
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "edited\n"
    );
    let out = h
        .run("git", json!({"repo": repo, "dest": dest, "force": true}))
        .await;
    assert!(ok(&out).changed);
    assert_eq!(
        std::fs::read_to_string(h.path("src/app/app.txt")).unwrap(),
        "two\n"
    );
    // Untracked files are not local modifications.
    std::fs::write(h.path("src/app/new.txt"), "x").unwrap();
    let out = h.run("git", json!({"repo": repo, "dest": dest})).await;
    assert!(!ok(&out).changed, "{out:?}");

    // update: no reports where the checkout is and changes nothing.
    let third = push(local.path(), "three");
    let out = h
        .run("git", json!({"repo": repo, "dest": dest, "update": false}))
        .await;
    assert!(!ok(&out).changed);
    assert_eq!(out.data["after"], json!(second));
    assert_ne!(out.data["after"], json!(third));

    // A moved remote: remote_url_changed, and the new URL is kept.
    sh(local.path(), "cp -a origin.git moved.git");
    let moved = local.path().join("moved.git").display().to_string();
    let out = h.run("git", json!({"repo": moved, "dest": dest})).await;
    assert!(ok(&out).changed);
    assert_eq!(out.data["remote_url_changed"], json!(true));
    assert_eq!(out.data["after"], json!(third));
    let url = sh(&h.path("src/app"), "git remote get-url origin");
    assert_eq!(url, format!("file://{moved}"));

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn git_shallow_bare_and_missing_git() {
    let h = Host::start().await;
    let local = tempfile::tempdir().unwrap();
    let origin = make_origin(local.path());
    push(local.path(), "two");
    let repo = origin.display().to_string();

    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": h.p("shallow"), "depth": 1, "umask": "0077"}),
        )
        .await;
    assert!(ok(&out).changed);
    assert_eq!(sh(&h.path("shallow"), "git rev-list --count HEAD"), "1");
    let mode = sh(&h.path("shallow"), "stat -c %a app.txt");
    assert_eq!(mode, "600");
    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": h.p("shallow"), "depth": 1}),
        )
        .await;
    assert!(!ok(&out).changed, "{out:?}");

    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": h.p("mirror.git"), "bare": true}),
        )
        .await;
    assert!(ok(&out).changed);
    assert!(h.path("mirror.git/HEAD").exists() && !h.path("mirror.git/app.txt").exists());
    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": h.p("mirror.git"), "bare": true}),
        )
        .await;
    assert!(!ok(&out).changed, "{out:?}");

    // clone: no on an empty dest only asks the remote.
    let out = h
        .run(
            "git",
            json!({"repo": repo, "dest": h.p("none"), "clone": false}),
        )
        .await;
    assert!(ok(&out).changed && out.data["after"].is_string());
    assert!(!h.path("none").exists());

    // A host without git: the task fails naming the host and the fix.
    let out = h
        .run_env(
            "git",
            json!({"repo": repo, "dest": h.p("x")}),
            false,
            &[("PATH", "/nonexistent")],
        )
        .await;
    let msg = failed_msg(&out);
    assert!(
        msg.contains("git is not installed on host1") && msg.contains("install"),
        "{msg}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn git_checks_out_submodules_and_tracks_them_when_asked() {
    let h = Host::start().await;
    let local = tempfile::tempdir().unwrap();
    let dir = local.path();
    let origin = make_origin(dir);
    let sub = dir.join("sub.git");
    sh(
        dir,
        "git init -q -b main subwork && cd subwork && echo s1 > s.txt && git add s.txt \
         && git commit -q -m s1 && git clone -q --bare . ../sub.git && git remote add origin ../sub.git",
    );
    sh(
        &dir.join("work"),
        &format!(
            "git -c protocol.file.allow=always submodule add -q file://{} lib && git commit -q -m lib && git push -q origin main",
            sub.display()
        ),
    );
    // git >= 2.38.1 refuses file:// submodules unless allowed (as any
    // host's git config could).
    let allow = [
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "protocol.file.allow"),
        ("GIT_CONFIG_VALUE_0", "always"),
    ];
    let repo = origin.display().to_string();
    let args = json!({"repo": repo, "dest": h.p("app")});
    let out = h.run_env("git", args.clone(), false, &allow).await;
    assert!(ok(&out).changed);
    assert_eq!(
        std::fs::read_to_string(h.path("app/lib/s.txt")).unwrap(),
        "s1\n"
    );
    let out = h.run_env("git", args.clone(), false, &allow).await;
    assert!(!ok(&out).changed, "{out:?}");

    // A new submodule commit: only track_submodules follows it.
    sh(
        &dir.join("subwork"),
        "echo s2 > s.txt && git commit -q -am s2 && git push -q origin main",
    );
    let out = h.run_env("git", args.clone(), false, &allow).await;
    assert!(!ok(&out).changed, "{out:?}");
    let tracking = json!({"repo": repo, "dest": h.p("app"), "track_submodules": true});
    let out = h.run_env("git", tracking.clone(), false, &allow).await;
    assert!(ok(&out).changed, "{out:?}");
    assert_eq!(out.data["submodules_changed"], json!(true));
    assert_eq!(
        std::fs::read_to_string(h.path("app/lib/s.txt")).unwrap(),
        "s2\n"
    );
    let out = h.run_env("git", tracking, false, &allow).await;
    assert!(!ok(&out).changed, "{out:?}");
    // recursive: no leaves submodules alone.
    let out = h
        .run_env(
            "git",
            json!({"repo": repo, "dest": h.p("plain"), "recursive": false}),
            false,
            &allow,
        )
        .await;
    assert!(ok(&out).changed);
    assert!(!h.path("plain/lib/s.txt").exists());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn git_over_ssh_uses_the_key_and_the_host_key_policy() {
    let h = Host::start().await;
    let local = tempfile::tempdir().unwrap();
    let origin = make_origin(local.path());
    // The host clones from its own sshd: a loopback address.
    let host = &h.fleet.hosts[0];
    let url = format!(
        "ssh://{}@{}:{}{}",
        h.fleet.user,
        host.addr,
        host.port,
        origin.display()
    );
    let key = h.fleet.client_key.display().to_string();
    let dest = h.p("viassh");

    // Unknown host key, no prompt (BatchMode): the clone fails.
    let out = h
        .run("git", json!({"repo": url, "dest": dest, "key_file": key}))
        .await;
    let msg = failed_msg(&out);
    assert!(msg.contains("Host key verification failed"), "{msg}");
    assert!(!h.path("viassh").exists());

    let out = h
        .run(
            "git",
            json!({"repo": url, "dest": dest, "key_file": key, "accept_hostkey": true}),
        )
        .await;
    assert!(ok(&out).changed);
    assert!(h.path("viassh/app.txt").exists());
    // The host key is known now; ssh_opts reach ssh too.
    let out = h
        .run(
            "git",
            json!({"repo": url, "dest": dest, "key_file": key, "ssh_opts": "-o ConnectTimeout=5"}),
        )
        .await;
    assert!(!ok(&out).changed, "{out:?}");
    h.stop().await;
}

/// The python the hosts run (the loopback fleet's sessions get sshd's
/// default PATH).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Writes a pure-Python wheel `name`-`version` into `dir` (by Python's
/// zipfile: no build backend, no network).
fn wheel(dir: &Path, name: &str, version: &str) {
    let script = r#"
import base64, hashlib, sys, zipfile
name, version, out = sys.argv[1:4]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f"VERSION = {version!r}\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: herd-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
"#;
    let status = Command::new(python())
        .args(["-c", script, name, version])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn pip_installs_upgrades_removes_in_a_virtualenv_offline() {
    let h = Host::start().await;
    let wheels = h.path("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    wheel(&wheels, "herdpkg", "1.0");
    wheel(&wheels, "otherpkg", "2.0");
    let venv = h.p("venv");
    let offline = format!("--no-index --find-links {}", wheels.display());
    // pip reads the same settings from its environment: check mode (which
    // Ansible judges "changed" whenever extra_args are given) uses these.
    let links = wheels.display().to_string();
    let env = [("PIP_NO_INDEX", "1"), ("PIP_FIND_LINKS", links.as_str())];
    let version_in_venv = |pkg: &str| {
        sh(
            &h.path("."),
            &format!(
                "{venv}/bin/python -c 'import {pkg}; print({pkg}.VERSION)' 2>/dev/null || echo none"
            ),
        )
    };

    // Check mode: no virtualenv yet, so it would change; nothing is made.
    let plan = h
        .check("pip", json!({"name": "herdpkg", "virtualenv": venv}))
        .await;
    assert!(ok(&plan).changed);
    assert!(!h.path("venv").exists());

    let out = h
        .run(
            "pip",
            json!({"name": "herdpkg", "virtualenv": venv, "extra_args": offline}),
        )
        .await;
    assert!(ok(&out).changed, "{out:?}");
    assert_eq!(version_in_venv("herdpkg"), "1.0");
    assert_eq!(out.data["name"], json!(["herdpkg"]));
    assert_eq!(out.data["state"], json!("present"));
    assert_eq!(out.data["virtualenv"], json!(venv));
    assert_eq!(out.data["requirements"], Value::Null);
    let cmd: Vec<String> = serde_json::from_value(out.data["cmd"].clone()).unwrap();
    assert_eq!(cmd[0], format!("{venv}/bin/pip3"));
    assert_eq!(cmd[1], "install");
    assert_eq!(cmd.last().unwrap(), "herdpkg");
    assert!(
        out.data["stdout"]
            .as_str()
            .unwrap()
            .contains("Successfully installed herdpkg-1.0")
    );

    // Again: already there.
    let out = h
        .run(
            "pip",
            json!({"name": "herdpkg", "virtualenv": venv, "extra_args": offline}),
        )
        .await;
    assert!(!ok(&out).changed, "{out:?}");

    // Check mode compares the installed versions with what is asked.
    let present =
        |name: &str, state: &str| json!({"name": name, "virtualenv": venv, "state": state});
    for (name, state, changed) in [
        ("herdpkg", "present", false),
        ("HerdPkg>=1.0,<2", "present", false),
        ("herdpkg==1.1", "present", true),
        ("otherpkg", "present", true),
        ("otherpkg", "absent", false),
        ("herdpkg", "absent", true),
    ] {
        let plan = h.run_env("pip", present(name, state), true, &env).await;
        assert_eq!(ok(&plan).changed, changed, "{name} {state}: {plan:?}");
    }
    let plan = h
        .run_env(
            "pip",
            json!({"name": "herdpkg", "version": "1.0", "virtualenv": venv}),
            true,
            &env,
        )
        .await;
    assert!(!ok(&plan).changed, "{plan:?}");

    // latest picks up a newer wheel.
    wheel(&wheels, "herdpkg", "1.1");
    let out = h
        .run_env(
            "pip",
            json!({"name": "herdpkg", "virtualenv": venv, "state": "latest"}),
            false,
            &env,
        )
        .await;
    assert!(ok(&out).changed, "{out:?}");
    assert_eq!(version_in_venv("herdpkg"), "1.1");
    let out = h
        .run_env(
            "pip",
            json!({"name": "herdpkg", "virtualenv": venv, "state": "latest"}),
            false,
            &env,
        )
        .await;
    assert!(!ok(&out).changed, "{out:?}");

    // A pinned version goes back down.
    let out = h
        .run_env(
            "pip",
            json!({"name": "herdpkg", "version": "1.0", "virtualenv": venv}),
            false,
            &env,
        )
        .await;
    assert!(ok(&out).changed, "{out:?}");
    assert_eq!(version_in_venv("herdpkg"), "1.0");
    assert!(
        out.data["cmd"]
            .as_array()
            .unwrap()
            .contains(&json!("herdpkg==1.0"))
    );

    // absent removes, then has nothing to do.
    for changed in [true, false] {
        let out = h
            .run(
                "pip",
                json!({"name": "herdpkg", "virtualenv": venv, "state": "absent"}),
            )
            .await;
        assert_eq!(ok(&out).changed, changed, "{out:?}");
    }
    assert_eq!(version_in_venv("herdpkg"), "none");

    // A requirements file (relative to chdir): judged by the installed set.
    std::fs::write(h.path("requirements.txt"), "herdpkg==1.1\notherpkg\n").unwrap();
    let req = json!({
        "requirements": "requirements.txt",
        "chdir": h.fleet.hosts[0].root.display().to_string(),
        "virtualenv": "venv",
        "extra_args": offline,
    });
    let plan = h.check("pip", req.clone()).await;
    assert!(ok(&plan).changed);
    assert_eq!(version_in_venv("otherpkg"), "none");
    let out = h.run("pip", req.clone()).await;
    assert!(ok(&out).changed, "{out:?}");
    assert_eq!(out.data["requirements"], json!("requirements.txt"));
    assert_eq!(out.data["virtualenv"], json!(venv));
    assert_eq!(version_in_venv("herdpkg"), "1.1");
    assert_eq!(version_in_venv("otherpkg"), "2.0");
    let out = h.run("pip", req).await;
    assert!(!ok(&out).changed, "{out:?}");

    // A second virtualenv with the system's site-packages, made by the
    // python asked for, under a umask.
    let out = h
        .run_env(
            "pip",
            json!({
                "name": "herdpkg",
                "virtualenv": h.p("venv2"),
                "virtualenv_site_packages": true,
                "virtualenv_python": "python3",
                "umask": "0077",
            }),
            false,
            &env,
        )
        .await;
    assert!(ok(&out).changed, "{out:?}");
    let cfg = std::fs::read_to_string(h.path("venv2/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("include-system-site-packages = true"), "{cfg}");
    let init = sh(
        &h.path("."),
        "stat -c %a venv2/lib/python3*/site-packages/herdpkg/__init__.py",
    );
    assert_eq!(init, "600");
    let msg = failed_msg(
        &h.run(
            "pip",
            json!({"name": "herdpkg", "virtualenv": "v", "chdir": h.p("nowhere")}),
        )
        .await,
    );
    assert!(
        msg.starts_with("Unable to change directory to") && msg.ends_with("on host1"),
        "{msg}"
    );

    // Argument conflicts fail as Ansible's do.
    let msg = failed_msg(
        &h.run(
            "pip",
            json!({"name": "herdpkg", "version": "1.0", "state": "latest", "virtualenv": venv}),
        )
        .await,
    );
    assert_eq!(msg, "version is incompatible with state=latest");
    let msg = failed_msg(
        &h.run(
            "pip",
            json!({"name": ["herdpkg", "otherpkg"], "version": "1.0", "virtualenv": venv}),
        )
        .await,
    );
    assert!(msg.contains("ambiguous"), "{msg}");

    // A package pip cannot find: pip's own words.
    let out = h
        .run(
            "pip",
            json!({"name": "nosuchpkg", "virtualenv": venv, "extra_args": offline}),
        )
        .await;
    let msg = failed_msg(&out);
    assert!(msg.contains("nosuchpkg"), "{msg}");

    // No pip: the failure says where and what to install.
    let out = h
        .run(
            "pip",
            json!({"name": "herdpkg", "executable": "no-such-pip"}),
        )
        .await;
    let msg = failed_msg(&out);
    assert!(
        msg.contains("no-such-pip") && msg.contains("host1"),
        "{msg}"
    );
    h.stop().await;
}

#[test]
fn a_playbook_checks_out_on_every_host_once_and_refuses_archive_at_load() {
    let fleet = Fleet::builder().hosts(2).start();
    let origin = make_origin(&fleet.dir);
    let commit = sh(&fleet.dir.join("work"), "git rev-parse HEAD");
    let site = format!(
        "- hosts: all\n  tasks:\n\
         \x20   - ansible.builtin.git:\n        repo: {}\n        dest: \"{}/{{{{ inventory_hostname }}}}\"\n      register: r\n\
         \x20   - debug:\n        msg: \"at={{{{ r.after }}}} was={{{{ r.before }}}}\"\n",
        origin.display(),
        fleet.dir.join("co").display()
    );
    std::fs::write(fleet.dir.join("site.yml"), &site).unwrap();
    let first = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert!(
        first.stdout.contains(&format!("at={commit} was=None")),
        "{}",
        first.stdout
    );
    for host in ["host1", "host2"] {
        assert!(fleet.dir.join("co").join(host).join("app.txt").exists());
    }
    let again = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .success();
    assert!(
        again.stdout.contains(&format!("at={commit} was={commit}")),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .lines()
            .filter(|l| l.contains("ok="))
            .all(|l| l.contains("changed=0")),
        "{}",
        again.stdout
    );

    // archive is not supported: refused before any host is touched.
    std::fs::write(
        fleet.dir.join("archive.yml"),
        "- hosts: all\n  tasks:\n    - git:\n        repo: /x\n        dest: /y\n        archive: /z.tar\n",
    )
    .unwrap();
    Herd::in_dir(&fleet.dir)
        .args(["play", "archive.yml"])
        .run()
        .code(2)
        .stderr_has("archive");
}
