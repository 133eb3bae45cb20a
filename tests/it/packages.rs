//! Package modules (apt, package, apt_repository, deb822_repository) on
//! isolated hosts (own root filesystem, see tests/it/fleet/isolated.rs) whose
//! only apt source is the fleet's offline repository (tests/it/fleet/apt.rs):
//! what changes, idempotence, check mode, diffs, Ansible's result fields,
//! and a failing host that leaves the others alone.
//!
//! Needs root (isolated hosts).

use crate::fleet;
use crate::support;
use crate::support::module_host::ModuleHost;
use std::ops::Deref;

use std::time::{Duration, Instant};

use fleet::Fleet;
use herd::modules::ModuleOutput;
use herd::ssh::ExecOptions;
use serde_json::{Value, json};
use support::Herd;

/// One isolated host with the offline repository, driven module by module.
struct Host(ModuleHost);

impl Deref for Host {
    type Target = ModuleHost;
    fn deref(&self) -> &ModuleHost {
        &self.0
    }
}

impl Host {
    async fn start(packages: &[&str]) -> Host {
        let fleet = Fleet::builder()
            .hosts(1)
            .isolated(true)
            .apt_packages(packages)
            .start();
        Host(ModuleHost::connect(fleet).await)
    }

    async fn run_as(&self, name: &str, args: Value, check: bool, diff: bool) -> ModuleOutput {
        self.run_with(ExecOptions::default(), name, args, check, diff)
            .await
    }

    async fn run(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_as(name, args, false, false).await
    }

    /// `sh -c script` inside the host: (exit code, stdout).
    fn sh(&self, script: &str) -> (i32, String) {
        let out = self.fleet.hosts[0].sh(script);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The installed version of `package`, if installed.
    fn version(&self, package: &str) -> Option<String> {
        let (code, out) = self.sh(&format!(
            "dpkg-query -W -f='${{db:Status-Abbrev}} ${{Version}}' {package} 2>/dev/null"
        ));
        (code == 0 && out.starts_with("ii"))
            .then(|| out.split_whitespace().nth(1).unwrap_or("").to_string())
    }

    /// dpkg's status letters of `package` (`ii`, `rc`, `un`, or empty).
    fn status(&self, package: &str) -> String {
        self.sh(&format!(
            "dpkg-query -W -f='${{db:Status-Abbrev}}' {package} 2>/dev/null"
        ))
        .1
        .trim()
        .to_string()
    }

    /// Adds our own package `name` at `version` to the fleet's repository.
    fn publish(&self, name: &str, version: &str) {
        let repo = self.fleet.apt_repo.as_ref().unwrap();
        fleet::apt::build_deb(repo, name, version);
        fleet::apt::index(repo);
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

fn failed_msg(out: &ModuleOutput) -> String {
    assert!(out.failed, "expected a failure, got {out:?}");
    out.msg.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_installs_once_reports_ok_after_and_removes() {
    let h = Host::start(&["hello", "tree"]).await;

    // Check mode says what apt would do and changes nothing.
    let plan = h
        .run_as(
            "apt",
            json!({"name": "hello", "state": "present"}),
            true,
            true,
        )
        .await;
    assert!(plan.changed && !plan.failed, "{plan:?}");
    let diff = &plan.diffs[0];
    assert_eq!(diff.before.as_deref(), Some(""));
    assert!(
        diff.after.as_deref().unwrap().starts_with("hello 2."),
        "{diff:?}"
    );
    assert!(
        plan.data["diff"]["prepared"]
            .as_str()
            .unwrap()
            .contains("hello"),
        "{:?}",
        plan.data
    );
    assert_eq!(h.version("hello"), None, "check mode installed hello");

    // only_upgrade leaves a package that is not installed alone.
    let out = h
        .run("apt", json!({"name": "hello", "only_upgrade": true}))
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("hello"), None);

    // Two names in one apt-get run.
    let out = h
        .run_as("apt", json!({"name": ["hello", "tree"]}), false, true)
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["cache_updated"], json!(false));
    assert!(out.data["cache_update_time"].as_i64().unwrap() > 0);
    assert!(
        out.data["stdout"]
            .as_str()
            .unwrap()
            .contains("Setting up hello"),
        "{:?}",
        out.data
    );
    let after = out.diffs[0].after.clone().unwrap();
    assert!(
        after.contains("hello ") && after.contains("tree "),
        "{after}"
    );
    assert!(h.version("hello").is_some() && h.version("tree").is_some());
    let (code, greeting) = h.sh("hello");
    assert_eq!((code, greeting.as_str()), (0, "Hello, world!\n"));

    // Again: nothing to do, and apt-get is not even run.
    let again = h.run("apt", json!({"name": "hello,tree"})).await;
    assert!(!again.changed && !again.failed, "{again:?}");
    assert_eq!(again.data["stdout"], json!(""));
    let again = h.run("package", json!({"name": "hello"})).await;
    assert!(!again.changed && !again.failed, "{again:?}");

    // A version that is installed is ok; one that does not exist fails.
    let installed = h.version("hello").unwrap();
    let pinned = h
        .run("apt", json!({"name": format!("hello={installed}")}))
        .await;
    assert!(!pinned.changed && !pinned.failed, "{pinned:?}");
    let wrong = h.run("apt", json!({"name": "tree=0.0-nope"})).await;
    assert!(
        failed_msg(&wrong).contains("no available installation candidate for tree=0.0-nope"),
        "{wrong:?}"
    );

    // Removal: check mode first, then for real, then nothing left to do.
    let plan = h
        .run_as(
            "apt",
            json!({"name": "hello", "state": "absent"}),
            true,
            true,
        )
        .await;
    assert!(plan.changed, "{plan:?}");
    assert_eq!(plan.diffs[0].after.as_deref(), Some(""));
    assert!(h.version("hello").is_some(), "check mode removed hello");
    let out = h
        .run("apt", json!({"name": "hello", "state": "absent"}))
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("hello"), None);
    let out = h
        .run("package", json!({"name": "hello", "state": "absent"}))
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn update_cache_cache_valid_time_latest_and_purge() {
    let h = Host::start(&["hello"]).await;
    h.publish("herd-demo", "1.0");

    // The lists were updated when the host started: within an hour they
    // are fresh, so apt does not see the new package yet.
    let stale = h
        .run(
            "apt",
            json!({"name": "herd-demo", "update_cache": true, "cache_valid_time": 3600}),
        )
        .await;
    assert_eq!(
        failed_msg(&stale),
        "No package matching 'herd-demo' is available"
    );
    assert_eq!(stale.data["cache_updated"], json!(false));

    // update_cache alone updates (changed), and records the time.
    let updated = h.run("apt", json!({"update_cache": true})).await;
    assert!(updated.changed && !updated.failed, "{updated:?}");
    assert_eq!(updated.data["cache_updated"], json!(true));
    let stamp = updated.data["cache_update_time"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - stamp).abs() < 60, "{stamp} vs {now}");
    // ...which cache_valid_time then honours.
    let fresh = h
        .run(
            "apt",
            json!({"update_cache": true, "cache_valid_time": 3600}),
        )
        .await;
    assert!(!fresh.changed && !fresh.failed, "{fresh:?}");
    assert_eq!(fresh.data["cache_updated"], json!(false));
    assert_eq!(fresh.data["cache_update_time"], json!(stamp));

    let out = h.run("apt", json!({"name": "herd-demo"})).await;
    assert!(out.changed, "{out:?}");
    assert_eq!(h.version("herd-demo").as_deref(), Some("1.0"));

    // A newer version: present leaves 1.0; latest without an update does
    // not know 2.0; latest with update_cache installs it.
    h.publish("herd-demo", "2.0");
    let out = h
        .run("apt", json!({"name": "herd-demo", "state": "latest"}))
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    let plan = h
        .run_as(
            "apt",
            json!({"name": "herd-demo", "state": "latest", "update_cache": true}),
            true,
            true,
        )
        .await;
    assert_eq!(h.version("herd-demo").as_deref(), Some("1.0"));
    assert_eq!(plan.data["cache_updated"], json!(true), "{plan:?}");
    let out = h
        .run_as(
            "apt",
            json!({"name": "herd-demo", "state": "latest", "update_cache": true}),
            false,
            true,
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["cache_updated"], json!(true));
    assert_eq!(out.diffs[0].before.as_deref(), Some("herd-demo 1.0\n"));
    assert_eq!(out.diffs[0].after.as_deref(), Some("herd-demo 2.0\n"));
    assert_eq!(h.version("herd-demo").as_deref(), Some("2.0"));
    let out = h
        .run("apt", json!({"name": "herd-demo", "state": "latest"}))
        .await;
    assert!(!out.changed, "{out:?}");

    // A pinned older version is a downgrade apt must be allowed to make.
    let out = h
        .run(
            "apt",
            json!({"name": "herd-demo=1.0", "allow_downgrade": true}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("herd-demo").as_deref(), Some("1.0"));

    // upgrade: check mode plans it, then apt-get upgrade brings 2.0 back.
    let plan = h.run_as("apt", json!({"upgrade": "yes"}), true, true).await;
    assert!(plan.changed && !plan.failed, "{plan:?}");
    assert_eq!(plan.diffs[0].after.as_deref(), Some("herd-demo 2.0\n"));
    assert_eq!(h.version("herd-demo").as_deref(), Some("1.0"));
    let out = h.run("apt", json!({"upgrade": "dist"})).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("herd-demo").as_deref(), Some("2.0"));
    let out = h.run("apt", json!({"upgrade": "safe"})).await;
    assert!(!out.changed && !out.failed, "{out:?}");

    // Removing keeps the config file (dpkg's `rc`); purge removes it.
    let conf = h.fleet.hosts[0].fs_path("/etc/herd-demo.conf");
    let out = h
        .run("apt", json!({"name": "herd-demo", "state": "absent"}))
        .await;
    assert!(out.changed, "{out:?}");
    assert_eq!(h.status("herd-demo"), "rc");
    assert!(conf.exists());
    let out = h
        .run("apt", json!({"name": "herd-demo", "state": "absent"}))
        .await;
    assert!(!out.changed, "removing a removed package: {out:?}");
    let out = h
        .run(
            "apt",
            json!({"name": "herd-demo", "state": "absent", "purge": true}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert!(!conf.exists());
    assert_ne!(h.status("herd-demo"), "rc");
    let out = h
        .run(
            "apt",
            json!({"name": "herd-demo", "state": "absent", "purge": true}),
        )
        .await;
    assert!(!out.changed, "{out:?}");

    // A .deb already on the host, installed while policy-rc.d answers 42
    // (the host's own policy-rc.d, if any, comes back afterwards).
    let deb = fleet::apt::build_deb(h.fleet.apt_repo.as_ref().unwrap(), "herd-local", "3.1");
    let policy = h.fleet.hosts[0].fs_path("/usr/sbin/policy-rc.d");
    let policy_before = std::fs::read(&policy).ok();
    let out = h
        .run(
            "apt",
            json!({"deb": deb.display().to_string(), "policy_rc_d": 42}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("herd-local").as_deref(), Some("3.1"));
    let answered = h.fleet.hosts[0].fs_path("/var/tmp/herd-local.policy-rc.d");
    assert_eq!(std::fs::read_to_string(answered).unwrap(), "42\n");
    assert_eq!(std::fs::read(&policy).ok(), policy_before);
    let out = h
        .run("apt", json!({"deb": deb.display().to_string()}))
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    // A URL is downloaded by the host (curl reads file:// too).
    let newer = fleet::apt::build_deb(h.fleet.apt_repo.as_ref().unwrap(), "herd-local", "3.2");
    let url = format!("file://{}", newer.display());
    let out = h.run("apt", json!({"deb": url})).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(h.version("herd-local").as_deref(), Some("3.2"));
    let out = h.run("apt", json!({"deb": url})).await;
    assert!(!out.changed && !out.failed, "{out:?}");
    let missing = h.run("apt", json!({"deb": "/nonexistent/x.deb"})).await;
    assert!(
        failed_msg(&missing).contains("/nonexistent/x.deb"),
        "{missing:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_dpkg_lock_is_waited_for() {
    let h = Host::start(&["tree"]).await;
    // dpkg's lock is an fcntl lock: hold it from inside the host for 4s.
    let ready = "/tmp/herd-lock-held";
    let hold = format!(
        "nohup python3 -c 'import fcntl,time,os\n\
         f=open(\"/var/lib/dpkg/lock-frontend\",\"w\")\n\
         fcntl.lockf(f,fcntl.LOCK_EX)\nopen(\"{ready}\",\"w\").close()\ntime.sleep(4)' \
         >/dev/null 2>&1 &"
    );
    assert_eq!(h.sh(&hold).0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.fleet.hosts[0].fs_path(ready).exists() {
        assert!(Instant::now() < deadline, "the lock holder did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let busy = h
        .run("apt", json!({"name": "tree", "lock_timeout": 0}))
        .await;
    assert!(failed_msg(&busy).contains("lock"), "{busy:?}");
    let out = h
        .run("apt", json!({"name": "tree", "lock_timeout": 60}))
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "apt did not wait for the lock: {:?}",
        started.elapsed()
    );
    assert!(h.version("tree").is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_repository_and_deb822_repository_write_sources() {
    let h = Host::start(&["hello"]).await;
    let repo = h.fleet.apt_repo.clone().unwrap();
    let fs = |p: &str| h.fleet.hosts[0].fs_path(p);

    // The fleet's own source, written with other spacing: already there.
    let same = format!("deb   [trusted=yes]  file:{}  ./", repo.display());
    let out = h.run("apt_repository", json!({"repo": same})).await;
    assert!(!out.changed && !out.failed, "{out:?}");

    let line = "deb [trusted=yes] file:/opt/herd-other ./";
    let args = json!({"repo": line, "update_cache": false});
    let plan = h.run_as("apt_repository", args.clone(), true, true).await;
    assert!(plan.changed, "{plan:?}");
    let list = "/etc/apt/sources.list.d/file_opt_herd_other.list";
    assert_eq!(plan.diffs[0].path, list);
    assert!(!fs(list).exists(), "check mode wrote {list}");
    let out = h.run("apt_repository", args.clone()).await;
    assert!(out.changed, "{out:?}");
    assert_eq!(out.data["sources_added"], json!([list]));
    assert_eq!(
        std::fs::read_to_string(fs(list)).unwrap(),
        format!("{line}\n")
    );
    let out = h.run("apt_repository", args.clone()).await;
    assert!(!out.changed, "{out:?}");
    let out = h
        .run(
            "apt_repository",
            json!({"repo": line, "state": "absent", "update_cache": false}),
        )
        .await;
    assert!(out.changed, "{out:?}");
    assert_eq!(out.data["sources_removed"], json!([list]));
    assert!(!fs(list).exists());

    // A source apt cannot read: the update fails and the file goes again.
    let broken = h
        .run(
            "apt_repository",
            json!({"repo": "deb [trusted=yes] file:/nonexistent-herd ./"}),
        )
        .await;
    assert!(
        failed_msg(&broken).starts_with("Failed to update apt cache: "),
        "{broken:?}"
    );
    assert!(!fs("/etc/apt/sources.list.d/file_nonexistent_herd.list").exists());

    // deb822: the whole file from the fields, in Ansible's order.
    let args = json!({
        "name": "Herd Local",
        "uris": format!("file:{}", repo.display()),
        "suites": "./",
        "trusted": true,
    });
    let out = h
        .run_as("deb822_repository", args.clone(), false, true)
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    let dest = "/etc/apt/sources.list.d/herd-local.sources";
    assert_eq!(out.data["dest"], json!(dest));
    let text = format!(
        "X-Repolib-Name: Herd Local\nSuites: ./\nTrusted: yes\nTypes: deb\nURIs: file:{}\n",
        repo.display()
    );
    assert_eq!(std::fs::read_to_string(fs(dest)).unwrap(), text);
    assert_eq!(out.data["repo"], json!(text));
    let out = h.run("deb822_repository", args.clone()).await;
    assert!(!out.changed, "{out:?}");
    // apt reads it.
    let (code, _) = h.sh("apt-get update -q >/dev/null 2>&1");
    assert_eq!(code, 0);
    let out = h
        .run(
            "deb822_repository",
            json!({"name": "Herd Local", "state": "absent"}),
        )
        .await;
    assert!(out.changed, "{out:?}");
    assert!(!fs(dest).exists());
    h.stop().await;
}

#[test]
fn a_failing_host_leaves_the_others_alone() {
    let fleet = Fleet::builder()
        .hosts(3)
        .isolated(true)
        .apt_packages(&["hello"])
        .start();
    // host2 is not an apt host: no apt-get, a dnf instead.
    let h2 = &fleet.hosts[1];
    let out = h2.sh("mv /usr/bin/apt-get /usr/bin/apt-get.hidden && \
         printf '#!/bin/sh\\nexit 1\\n' > /usr/local/bin/dnf && chmod 755 /usr/local/bin/dnf");
    assert!(out.status.success(), "{out:?}");
    std::fs::write(
        fleet.path("site.yml"),
        "- hosts: all\n  tasks:\n\
         \x20   - debug:\n        msg: \"mgr={{ ansible_pkg_mgr }} family={{ ansible_os_family }} svc={{ ansible_service_mgr }}\"\n\
         \x20   - package:\n        name: \"{{ 'nosuchpkg' if inventory_hostname == 'host1' else 'hello' }}\"\n\
         \x20   - command: hello\n",
    )
    .unwrap();
    let out = Herd::in_dir(&fleet.dir)
        .args(["play", "site.yml"])
        .run()
        .code(3);
    let stdout = out.stdout;
    assert!(stdout.contains("mgr=apt family=Debian"), "{stdout}");
    assert!(stdout.contains("mgr=dnf"), "{stdout}");
    assert!(
        stdout.contains("No package matching 'nosuchpkg' is available"),
        "{stdout}"
    );
    assert!(
        stdout.contains("this host's package manager is not apt (dnf)"),
        "{stdout}"
    );
    let recap = |host: &str| {
        stdout
            .lines()
            .rev()
            .find(|l| l.starts_with(host) && l.contains("ok="))
            .unwrap_or_else(|| panic!("no recap for {host}: {stdout}"))
            .to_string()
    };
    // The recap folds hosts with the same counts: host1 and host2 failed.
    assert!(recap("host[1-2]").contains("failed=1"), "{stdout}");
    let host3 = recap("host3");
    assert!(
        host3.contains("changed=2") && host3.contains("failed=0"),
        "{stdout}"
    );
}
