//! `herd inventory ...` end to end: the real binary, real files.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/inventory")
        .join(name)
}

/// Runs herd from an empty directory so no herd.toml is picked up.
fn herd(args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(args)
        .current_dir(cwd.path())
        .env_remove("HERD_INVENTORY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn inv(path: &Path, args: &[&str]) -> Output {
    let mut all = vec!["-i", path.to_str().unwrap(), "inventory"];
    all.extend_from_slice(args);
    herd(&all)
}

/// Hosts printed by `inventory list`, space-separated, asserting success.
fn list(path: &Path, args: &[&str]) -> String {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let out = inv(path, &all);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ini_inventory_graphs_like_ansible() {
    let out = inv(&data("ini/hosts"), &["graph"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "@all:
  |--@dbservers:
  |  |--one.example.com
  |  |--three.example.com
  |  |--two.example.com
  |--@ungrouped:
  |  |--mail.example.com
  |--@usa:
  |  |--@northeast:
  |  |  |--host4
  |  |--@southeast:
  |  |  |--@atlanta:
  |  |  |  |--host1
  |  |  |  |--host2
  |  |  |--@raleigh:
  |  |  |  |--host2
  |  |  |  |--host3
  |--@webservers:
  |  |--bar.example.com
  |  |--foo.example.com
"
    );
    let out = inv(&data("ini/hosts"), &["graph", "southeast"]);
    assert!(
        out.stdout.starts_with("@southeast:\n  |--@atlanta:\n"),
        "{}",
        out.stdout
    );
    let out = inv(&data("ini/hosts"), &["graph", "southeest"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `southeast`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_pattern_operator() {
    let ini = data("ini/hosts");
    assert_eq!(
        list(&ini, &[]),
        "mail.example.com foo.example.com bar.example.com one.example.com two.example.com three.example.com host1 host2 host3 host4"
    );
    assert_eq!(list(&ini, &["usa"]), "host1 host2 host3 host4");
    assert_eq!(
        list(&ini, &["webservers:atlanta"]),
        "foo.example.com bar.example.com host1 host2"
    );
    assert_eq!(
        list(&ini, &["webservers,host4"]),
        "foo.example.com bar.example.com host4"
    );
    assert_eq!(list(&ini, &["atlanta:&raleigh"]), "host2");
    assert_eq!(list(&ini, &["usa:!raleigh"]), "host1 host4");
    assert_eq!(
        list(&ini, &["*.example.com:!webservers:!ungrouped"]),
        "one.example.com two.example.com three.example.com"
    );
    assert_eq!(list(&ini, &["~host[13]"]), "host1 host3");
    assert_eq!(list(&ini, &["dbservers[0]"]), "one.example.com");
    assert_eq!(list(&ini, &["dbservers[-1]"]), "three.example.com");
    assert_eq!(
        list(&ini, &["dbservers[1:2]"]),
        "two.example.com three.example.com"
    );
}

#[test]
fn limit_narrows_the_pattern_and_reads_files() {
    let ini = data("ini/hosts");
    assert_eq!(list(&ini, &["usa", "-l", "raleigh"]), "host2 host3");
    assert_eq!(
        list(&ini, &["usa", "--limit", "!host3"]),
        "host1 host2 host4"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "retry", "host3\nfoo.example.com\n\n");
    let limit = format!("@{}", file.display());
    assert_eq!(list(&ini, &["all", "-l", &limit]), "foo.example.com host3");
    let out = inv(&ini, &["list", "webservers", "-l", "dbservers"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("matched no hosts"), "{}", out.stderr);
}

#[test]
fn a_pattern_matching_nothing_is_an_error_listing_groups() {
    let out = inv(&data("ini/hosts"), &["list", "dbx"]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains(
            "pattern `dbx` matched no hosts (groups: webservers, dbservers, atlanta, raleigh, southeast, northeast, usa)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn show_merges_group_vars_host_vars_and_masks_secrets() {
    let out = inv(&data("ini/hosts"), &["show", "host1", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let vars: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(vars["ansible_host"], "192.0.2.50");
    assert_eq!(vars["ansible_port"], 2222);
    assert_eq!(vars["db_password"], "********");
    assert_eq!(vars["http_port"], 80); // INI host values are typed
    assert_eq!(vars["halon_system_timeout"], 30); // [group:vars] values are typed too (2.19)
    assert_eq!(vars["ntp_server"], "default-time.example.com");
    assert_eq!(
        vars["group_names"],
        serde_json::json!(["atlanta", "southeast", "usa"])
    );

    // group_vars/raleigh (no extension) beats group_vars/all.
    let out = inv(&data("ini/hosts"), &["show", "host2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("ntp_server: acme.example.org\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("http_port: 303\n"), "{}", out.stdout);
}

#[test]
fn show_unknown_host_suggests_a_close_name() {
    let out = inv(&data("ini/hosts"), &["show", "hots1"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unknown host `hots1`; did you mean `host1`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn yaml_inventory_with_ranges_and_nested_children() {
    let yaml = data("yaml/hosts.yml");
    assert_eq!(
        list(&yaml, &[]),
        "mail.example.com www01.example.com www02.example.com www03.example.com db-a.example.com db-b.example.com db-c.example.com"
    );
    assert_eq!(
        list(&yaml, &["prod"]),
        "www01.example.com www02.example.com db-a.example.com db-b.example.com"
    );
    assert_eq!(list(&yaml, &["ungrouped"]), "mail.example.com");
    let out = inv(&yaml, &["show", "www02.example.com", "--format", "json"]);
    let vars: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(vars["env"], "production-west"); // group_vars/west.yml
    assert_eq!(vars["http_port"], 8080);
    let out = inv(&yaml, &["show", "www01.example.com", "--format", "json"]);
    let vars: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(vars["env"], "production");
}

#[test]
fn list_json_is_for_scripts() {
    let out = inv(
        &data("ini/hosts"),
        &["list", "raleigh", "--format", "json", "--vars"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hosts: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(hosts[0]["name"], "host2");
    assert_eq!(
        hosts[0]["groups"],
        serde_json::json!(["atlanta", "raleigh", "southeast", "usa"])
    );
    assert_eq!(hosts[1]["vars"]["database_server"], "storage.example.org");
    assert_eq!(hosts.as_array().unwrap().len(), 2);
}

#[test]
fn directory_inventory_loads_files_in_order_and_skips_others() {
    let dir = data("dir");
    assert_eq!(list(&dir, &[]), "web1 web2 web3 db1");
    let out = inv(&dir, &["show", "web3", "--format", "json"]);
    let vars: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(vars["http_port"], 8080); // group_vars/ inside the directory
}

#[test]
fn several_sources_merge() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.ini", "[web]\nw1\n");
    let b = write(
        dir.path(),
        "b.yml",
        "web:\n  hosts:\n    w2:\ndb:\n  hosts:\n    w1:\n",
    );
    let out = herd(&[
        "-i",
        a.to_str().unwrap(),
        "-i",
        b.to_str().unwrap(),
        "inventory",
        "list",
        "web:&db",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "w1\n");
}

#[test]
fn dynamic_inventory_script() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "cloud.sh",
        r#"#!/bin/sh
cat <<'JSON'
{"web": {"hosts": ["w1", "w2"], "vars": {"tier": "front"}},
 "db": ["d1"],
 "_meta": {"hostvars": {"w2": {"ansible_host": "10.0.0.2"}}}}
JSON
"#,
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(list(&script, &[]), "w1 w2 d1");
    let out = inv(&script, &["show", "w2", "--format", "json"]);
    let vars: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (vars["tier"].as_str(), vars["ansible_host"].as_str()),
        (Some("front"), Some("10.0.0.2"))
    );

    let broken = write(
        dir.path(),
        "broken.sh",
        "#!/bin/sh\necho 'token expired' >&2\nexit 1\n",
    );
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = inv(&broken, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("failed") && out.stderr.contains("token expired"),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_inventories_point_at_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(dir.path(), "hosts", "[web]\nweb1 ansible_port 22\n");
    let out = inv(&ini, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!("{}:2:6:", ini.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("key=value"), "{}", out.stderr);

    let yaml = write(
        dir.path(),
        "hosts.yml",
        "all:\n  children:\n    web:\n      hostz:\n        web1:\n",
    );
    let out = inv(&yaml, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!("{}:4:7:", yaml.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hostz"), "{}", out.stderr);

    let vars = write(dir.path(), "v/hosts", "[web]\nweb1\n");
    write(dir.path(), "v/group_vars/web.yml", "port: [80\n");
    let out = inv(&vars, &["list"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("group_vars/web.yml:"), "{}", out.stderr);
}

#[test]
fn structural_mistakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cycle = write(
        dir.path(),
        "cycle.ini",
        "[a:children]\nb\n[b:children]\na\n[a]\nh1\n",
    );
    let out = inv(&cycle, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("group cycle: a -> b -> a"),
        "{}",
        out.stderr
    );

    let child = write(
        dir.path(),
        "child.ini",
        "[atlanta]\nh1\n\n[southeast:children]\natlanta\nraleig\n",
    );
    let out = inv(&child, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!("{}:6:", child.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`raleig`"), "{}", out.stderr);

    let out = herd(&["-i", "/nonexistent/hosts", "inventory", "list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("/nonexistent/hosts: inventory not found"),
        "{}",
        out.stderr
    );
}

#[test]
fn ranges_with_strides_and_letters() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "hosts",
        "[web]\nweb[01:09:4].example.com\n[db]\ndb-[a:c] ansible_user=pg\n",
    );
    assert_eq!(
        list(&ini, &[]),
        "web01.example.com web05.example.com web09.example.com db-a db-b db-c"
    );
    let out = inv(&ini, &["show", "db-b", "--format", "json"]);
    assert!(
        out.stdout.contains("\"ansible_user\": \"pg\""),
        "{}",
        out.stdout
    );
}

/// A host name becomes a directory name (fetch's `dest/<host>/`, backups):
/// one that is a path or holds control characters is refused at load,
/// with the file and line.
#[test]
fn host_names_that_would_be_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(dir.path(), "hosts", "[web]\nweb1\n../../x\n");
    let out = inv(&ini, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("{}:3:1:", ini.display())) && out.stderr.contains("../../x"),
        "{}",
        out.stderr
    );
    let yaml = write(
        dir.path(),
        "hosts.yml",
        "all:\n  hosts:\n    web1:\n    ..:\n",
    );
    let out = inv(&yaml, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!("{}:4:", yaml.display())),
        "{}",
        out.stderr
    );
    let yaml = write(
        dir.path(),
        "tab.yml",
        "all:\n  hosts:\n    \"web\\u0007\":\n",
    );
    let out = inv(&yaml, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("control character"), "{}", out.stderr);

    use std::os::unix::fs::PermissionsExt;
    let script = write(
        dir.path(),
        "cloud.sh",
        "#!/bin/sh\necho '{\"web\": [\"w1\", \"/etc\"]}'\n",
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = inv(&script, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("`/etc`"), "{}", out.stderr);
}

/// `h[1:100000000]` would take gigabytes: ranges in one file expand to at
/// most 100,000 hosts in all, and past that the line is named.
#[test]
fn host_ranges_expand_to_a_bounded_number_of_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(dir.path(), "hosts", "[web]\nw[1:60000]\nv[1:40000]\n");
    let out = inv(&ini, &["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 100_000);

    let ini = write(dir.path(), "more", "[web]\nw[1:60000]\nv[1:40001]\n");
    let out = inv(&ini, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:3:1:", ini.display())) && out.stderr.contains("100000"),
        "{}",
        out.stderr
    );
    let yaml = write(
        dir.path(),
        "huge.yml",
        "all:\n  hosts:\n    h[1:100000000]:\n",
    );
    let out = inv(&yaml, &["list"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:3:", yaml.display()))
            && out.stderr.contains("100000000 hosts"),
        "{}",
        out.stderr
    );
}

fn script_at(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = write(dir, name, &format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `-i myinv.sh` runs that file, not a program of the same name on PATH.
#[test]
fn a_dynamic_inventory_runs_the_given_file_not_one_from_path() {
    let dir = tempfile::tempdir().unwrap();
    script_at(dir.path(), "myinv.sh", "echo '{\"web\": [\"mine\"]}'\n");
    script_at(
        &dir.path().join("bin"),
        "myinv.sh",
        "echo '{\"web\": [\"impostor\"]}'\n",
    );
    let path = format!(
        "{}:{}",
        dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["-i", "myinv.sh", "inventory", "list"])
        .current_dir(dir.path())
        .env_remove("HERD_INVENTORY")
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "mine");
}

/// A script that hangs is stopped (with whatever it started) after
/// herd.toml's `inventory_script_timeout`.
#[test]
fn a_dynamic_inventory_script_that_hangs_is_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    script_at(dir.path(), "slow.sh", "sleep 30\necho '{}'\n");
    write(
        dir.path(),
        "herd.toml",
        "inventory = \"slow.sh\"\ninventory_script_timeout = 1\n",
    );
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["inventory", "list"])
        .current_dir(dir.path())
        .env_remove("HERD_INVENTORY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("timed out after 1s") && stderr.contains("inventory_script_timeout"),
        "{stderr}"
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

/// A flood of stderr from a failing script is cut to its tail (where the
/// reason usually is), and says so.
#[test]
fn a_dynamic_inventory_scripts_stderr_is_cut_to_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = script_at(
        dir.path(),
        "noisy.sh",
        "head -c 20000000 /dev/zero | tr '\\000' x >&2\necho 'the real reason' >&2\nexit 1\n",
    );
    let out = inv(&noisy, &["list"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.len() < 200_000,
        "{} bytes of error",
        out.stderr.len()
    );
    assert!(
        out.stderr.contains("the real reason") && out.stderr.contains("cut"),
        "{}",
        &out.stderr[out.stderr.len().saturating_sub(300)..]
    );
}
