//! Packages offline: a local apt repository for isolated hosts.
//!
//! The .deb files are fetched once with `apt-get download` on the test
//! machine (from the machine's configured mirror) into a cache that outlives
//! the fleets ([`cache_dir`]); each fleet then builds a flat repository from
//! them (the .debs and a `Packages` index written here, no dpkg-dev needed)
//! that its isolated hosts use as their only apt source (`deb [trusted=yes]
//! file:DIR ./`). So `apt-get install hello` inside a host never touches the
//! network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Small packages with no dependency the machine lacks (cowsay needs
/// libtext-charwidth-perl, so it is here too).
#[allow(dead_code, reason = "used by examples/fleet.rs")]
pub const DEFAULT_PACKAGES: &[&str] = &["hello", "tree", "cowsay", "libtext-charwidth-perl"];

/// Where downloaded .debs are kept between runs: `$HERD_FLEET_DEB_CACHE`,
/// else `$XDG_CACHE_HOME/herd-fleet/debs`, else `~/.cache/herd-fleet/debs`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HERD_FLEET_DEB_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("herd-fleet").join("debs")
}

/// The cached .deb of `package`, if there is one.
fn cached_deb(cache: &Path, package: &str) -> Option<PathBuf> {
    std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
}

/// Makes sure every package's .deb is in the cache, downloading the missing
/// ones. Panics with apt's message if a download fails.
pub fn ensure_cached(packages: &[&str]) -> Vec<PathBuf> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).expect("create the .deb cache");
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| cached_deb(&cache, p).is_none())
        .collect();
    if !missing.is_empty() {
        // Download into a private dir, then rename: fleets starting at the
        // same time never see half a file.
        let staging = tempfile::Builder::new()
            .prefix(".download-")
            .tempdir_in(&cache)
            .expect("staging dir");
        let out = Command::new("apt-get")
            .arg("download")
            .args(&missing)
            .current_dir(staging.path())
            .output()
            .expect("run apt-get download");
        assert!(
            out.status.success(),
            "apt-get download {} failed (run `apt-get update` first?):\n{}",
            missing.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        for entry in std::fs::read_dir(staging.path())
            .expect("staging")
            .flatten()
        {
            std::fs::rename(entry.path(), cache.join(entry.file_name())).expect("cache .deb");
        }
    }
    packages
        .iter()
        .map(|p| {
            cached_deb(&cache, p)
                .unwrap_or_else(|| panic!("no .deb for {p} in {}", cache.display()))
        })
        .collect()
}

/// Builds a flat apt repository in `dir` from the cached .debs of
/// `packages`: the files and a `Packages` index.
pub fn build_repo(dir: &Path, packages: &[&str]) {
    std::fs::create_dir_all(dir).expect("apt repo dir");
    for deb in ensure_cached(packages) {
        let target = dir.join(deb.file_name().expect("deb name"));
        if std::fs::hard_link(&deb, &target).is_err() {
            std::fs::copy(&deb, &target).expect("copy .deb");
        }
    }
    index(dir);
}

/// (Re)writes the repository's `Packages` index from every .deb in `dir`:
/// after adding a package, hosts see it once their lists are updated.
pub fn index(dir: &Path) {
    use sha2::Digest as _;
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("apt repo dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    let mut index = String::new();
    for deb in debs {
        let control = Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .output()
            .expect("run dpkg-deb");
        assert!(
            control.status.success(),
            "dpkg-deb --field {} failed",
            deb.display()
        );
        let bytes = std::fs::read(&deb).expect("read .deb");
        index.push_str(String::from_utf8_lossy(&control.stdout).trim_end());
        let _ = write!(
            index,
            "\nFilename: ./{}\nSize: {}\nSHA256: {:x}\n\n",
            deb.file_name().expect("deb name").to_string_lossy(),
            bytes.len(),
            sha2::Sha256::digest(&bytes)
        );
    }
    std::fs::write(dir.join("Packages"), index).expect("write Packages");
}

/// Builds a tiny package of our own into `dir` with `dpkg-deb` (no
/// network): `name` at `version`, installing /usr/share/NAME/version and
/// the config file /etc/NAME.conf (so purging differs from removing). Its
/// postinst records what /usr/sbin/policy-rc.d answered (the exit code
/// that allows or denies service starts) in /var/tmp/NAME.policy-rc.d.
/// Call [`index`] after.
pub fn build_deb(dir: &Path, name: &str, version: &str) -> PathBuf {
    let work = tempfile::tempdir().expect("deb work dir");
    let root = work.path();
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join(format!("usr/share/{name}"))).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: herd tests <herd@localhost>\n\
             Description: herd test package\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("DEBIAN/conffiles"), format!("/etc/{name}.conf\n")).unwrap();
    let postinst = root.join("DEBIAN/postinst");
    std::fs::write(
        &postinst,
        format!(
            "#!/bin/sh\nrc=none\nif [ -x /usr/sbin/policy-rc.d ]; then /usr/sbin/policy-rc.d x start; rc=$?; fi\n\
             echo $rc > /var/tmp/{name}.policy-rc.d\nexit 0\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &postinst,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(root.join(format!("etc/{name}.conf")), "setting = 1\n").unwrap();
    std::fs::write(
        root.join(format!("usr/share/{name}/version")),
        format!("{version}\n"),
    )
    .unwrap();
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(root)
        .arg(&deb)
        .output()
        .expect("run dpkg-deb --build");
    assert!(
        out.status.success(),
        "dpkg-deb --build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}
