//! Dynamic inventory: an executable run with `--list` that prints Ansible's
//! JSON: `{"web": {"hosts": [..], "vars": {..}, "children": [..]},
//! "db": ["h1", "h2"], "_meta": {"hostvars": {"h1": {..}}}}`. Without
//! `_meta`, each host's vars come from `SCRIPT --host NAME`, as in Ansible.
//! Children named but not described are created empty (Ansible does too).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::InventoryError;
use super::model::Graph;

/// Runs the script at `path` and adds what it prints to `graph`.
pub(crate) fn load(path: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let list = run(path, &["--list"])?;
    let Value::Object(top) = list else {
        return Err(script_error(
            path,
            "printed JSON that is not an object of groups".into(),
            "",
        ));
    };
    for (name, data) in &top {
        if name != "_meta" {
            add_group(path, graph, name, data)?;
        }
    }
    match top.get("_meta").and_then(|m| m.get("hostvars")) {
        Some(Value::Object(hostvars)) => {
            for (host, vars) in hostvars {
                if let (Some(h), Value::Object(vars)) = (graph.hosts.get_index_of(host), vars) {
                    graph.host_vars_mut(h).extend(vars.clone());
                }
            }
        }
        Some(_) => {
            return Err(script_error(
                path,
                "printed `_meta.hostvars` that is not an object".into(),
                "",
            ));
        }
        None => {
            let hosts: Vec<String> = graph.hosts.keys().cloned().collect();
            for host in hosts {
                if let Value::Object(vars) = run(path, &["--host", &host])? {
                    let h = graph.host(&host);
                    graph.host_vars_mut(h).extend(vars);
                }
            }
        }
    }
    Ok(())
}

fn add_group(
    path: &Path,
    graph: &mut Graph,
    name: &str,
    data: &Value,
) -> Result<(), InventoryError> {
    let g = graph.group(name);
    let bad = |what: &str| script_error(path, format!("printed group `{name}` with {what}"), "");
    let (hosts, vars, children) = match data {
        Value::Array(hosts) => (Some(hosts), None, None),
        Value::Object(map) => (
            map.get("hosts")
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| bad("`hosts` that is not a list"))
                })
                .transpose()?,
            map.get("vars")
                .map(|v| {
                    v.as_object()
                        .ok_or_else(|| bad("`vars` that is not an object"))
                })
                .transpose()?,
            map.get("children")
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| bad("`children` that is not a list"))
                })
                .transpose()?,
        ),
        _ => return Err(bad("a value that is neither a list of hosts nor an object")),
    };
    for host in hosts.into_iter().flatten() {
        let host = host
            .as_str()
            .ok_or_else(|| bad("a host name that is not a string"))?;
        super::range::check_host_name(host).map_err(|e| {
            script_error(
                path,
                format!("printed group `{name}` with a bad host: {e}"),
                "",
            )
        })?;
        let h = graph.host(host);
        graph.add_host_to_group(g, h);
    }
    if let Some(vars) = vars {
        graph.group_vars_mut(g).extend(vars.clone());
    }
    for child in children.into_iter().flatten() {
        let child = child
            .as_str()
            .ok_or_else(|| bad("a child name that is not a string"))?;
        let c = graph.group(child);
        graph.add_child(g, c);
    }
    Ok(())
}

/// Runs `command`, retrying for a moment while the file is "busy": a script
/// just written (by a generator, or a test) can still be open for writing in
/// another process that forked meanwhile, and exec then fails with ETXTBSY.
fn output_retrying_busy(command: &mut Command) -> std::io::Result<std::process::Output> {
    let mut attempts = 0;
    loop {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Runs the script with `args`; a failure or non-JSON output is an error
/// carrying its stderr, since that is where scripts explain themselves.
fn run(path: &Path, args: &[&str]) -> Result<Value, InventoryError> {
    let output = output_retrying_busy(Command::new(path).args(args)).map_err(|e| {
        script_error(
            path,
            format!("could not be started: {e}; check its #! line and permissions"),
            "",
        )
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let command = format!("{} {}", path.display(), args.join(" "));
    if !output.status.success() {
        return Err(script_error(
            path,
            format!("failed (`{command}` exited with {})", output.status),
            &stderr,
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        script_error(
            path,
            format!(
                "printed invalid JSON for `{command}` at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            &stderr,
        )
    })
}

fn script_error(path: &Path, message: String, stderr: &str) -> InventoryError {
    InventoryError::Script {
        path: path.to_path_buf(),
        message,
        stderr: stderr.to_string(),
    }
}

/// Whether `path` should be run rather than read: executable and starting
/// with `#!` (an INI file that happens to be executable is still read).
pub(crate) fn is_script(path: &Path, head: &[u8]) -> bool {
    use std::os::unix::fs::PermissionsExt;
    head.starts_with(b"#!")
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("inv.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn long_and_short_group_forms_with_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            r#"cat <<'J'
{"web": {"hosts": ["w1"], "vars": {"tier": "front"}, "children": ["edge"]},
 "db": ["d1", "d2"],
 "_meta": {"hostvars": {"d1": {"ansible_port": 2222}}}}
J
"#,
        );
        let mut graph = Graph::new();
        load(&path, &mut graph).unwrap();
        assert_eq!(graph.hosts.keys().collect::<Vec<_>>(), ["w1", "d1", "d2"]);
        assert_eq!(graph.hosts["d1"]["ansible_port"], 2222);
        assert!(graph.groups.contains_key("edge"));
        assert_eq!(graph.groups["web"].vars["tier"], "front");
    }

    #[test]
    fn without_meta_asks_each_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            r#"if [ "$1" = --host ]; then echo "{\"me\": \"$2\"}"; else echo '{"g": ["a", "b"]}'; fi
"#,
        );
        let mut graph = Graph::new();
        load(&path, &mut graph).unwrap();
        assert_eq!(graph.hosts["b"]["me"], "b");
    }

    #[test]
    fn failure_and_bad_json_carry_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "echo 'cloud API down' >&2; exit 3\n");
        let err = load(&path, &mut Graph::new()).unwrap_err().to_string();
        assert!(
            err.contains("exit status: 3") && err.contains("cloud API down"),
            "{err}"
        );
        let path = script(dir.path(), "echo '{not json'; echo warn >&2\n");
        let err = load(&path, &mut Graph::new()).unwrap_err().to_string();
        assert!(
            err.contains("invalid JSON") && err.contains("warn"),
            "{err}"
        );
    }
}
