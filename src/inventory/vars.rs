//! Variable precedence: which of a host's many variable sources wins.
//!
//! Lowest to highest, following Ansible's (`ansible-core` VARIABLE_PRECEDENCE
//! defaults) for what an inventory can hold:
//!
//! 1. group vars from the inventory sources themselves (`vars:` in YAML,
//!    `[group:vars]` in INI, `vars` from a script), for every group of the
//!    host, `all` first;
//! 2. group vars from `group_vars/` files beside the sources, same group
//!    order, `group_vars/all` first (so `group_vars/all.yml` beats a group
//!    var written inside the inventory file, as in Ansible);
//! 3. host vars from the inventory sources;
//! 4. `host_vars/` files.
//!
//! Group order is by depth from `all` (parents before children), then
//! `ansible_group_priority` (default 1, higher wins; read from the
//! inventory source, not group_vars, as in Ansible), then name. Across
//! several sources, a later source's `group_vars/` wins. A later value
//! replaces an earlier one wholesale, dicts included (Ansible's default
//! `hash_behaviour = replace`).
//!
//! Magic vars are added last: `inventory_hostname`,
//! `inventory_hostname_short` and `group_names` (sorted, without `all` and
//! `ungrouped`).

use serde_json::Value;

use std::collections::BTreeSet;

use super::model::{ALL, UNGROUPED};
use super::{Inventory, Vars};
use crate::template::TaskVars;

/// The merged variables of host number `h`, with those an inventory script
/// set (and no file overrode) marked as data.
pub(crate) fn merged(inventory: &Inventory, h: usize) -> TaskVars {
    let groups = &inventory.host_groups[h];
    let no_data = BTreeSet::new();
    let mut vars = TaskVars::default();
    for &g in groups {
        let data = inventory.data.groups.get(&g).unwrap_or(&no_data);
        extend(&mut vars, &inventory.groups[g].vars, data);
    }
    for layer in &inventory.layers {
        for g in groups {
            if let Some(file_vars) = layer.groups.get(g) {
                extend(&mut vars, file_vars, &no_data);
            }
        }
    }
    let data = inventory.data.hosts.get(&h).unwrap_or(&no_data);
    extend(&mut vars, &inventory.hosts[h], data);
    for layer in &inventory.layers {
        if let Some(file_vars) = layer.hosts.get(&h) {
            extend(&mut vars, file_vars, &no_data);
        }
    }

    // Names are data whoever wrote them: a script may name hosts and groups.
    let name = inventory.hosts.get_index(h).map_or("", |(n, _)| n.as_str());
    vars.insert("inventory_hostname".into(), name.into());
    let short = name.split('.').next().unwrap_or(name);
    vars.insert("inventory_hostname_short".into(), short.into());
    let mut names: Vec<&str> = groups
        .iter()
        .filter(|&&g| g != ALL && g != UNGROUPED)
        .filter_map(|&g| inventory.groups.get_index(g).map(|(n, _)| n.as_str()))
        .collect();
    names.sort_unstable();
    vars.insert("group_names".into(), Value::from(names));
    vars
}

/// The implicit localhost (see `implicit`): the `all` group's vars (the
/// inventory's, then group_vars/all) and a local connection. It is in no
/// group, so `group_names` is empty.
pub(crate) fn implicit_localhost(inventory: &Inventory, name: &str) -> TaskVars {
    let mut vars = unlisted(inventory, name);
    vars.set_trusted("ansible_connection".into(), "local".into());
    vars
}

/// A host that is not in the inventory (a `delegate_to` target, as
/// Ansible's `Host(name)`): the `all` group's vars, in no group.
pub(crate) fn unlisted(inventory: &Inventory, name: &str) -> TaskVars {
    let no_data = BTreeSet::new();
    let mut vars = TaskVars::default();
    let data = inventory.data.groups.get(&ALL).unwrap_or(&no_data);
    extend(&mut vars, &inventory.groups[ALL].vars, data);
    for layer in &inventory.layers {
        if let Some(file_vars) = layer.groups.get(&ALL) {
            extend(&mut vars, file_vars, &no_data);
        }
    }
    vars.insert("inventory_hostname".into(), name.into());
    vars.insert("inventory_hostname_short".into(), name.into());
    vars.insert("group_names".into(), Value::Array(Vec::new()));
    vars
}

/// Replace, never deep-merge: Ansible's default `hash_behaviour`. The names
/// in `data` are data.
fn extend(into: &mut TaskVars, from: &Vars, data: &BTreeSet<String>) {
    for (k, v) in from {
        if data.contains(k) {
            into.insert(k.clone(), v.clone());
        } else {
            into.set_trusted(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Inventory;
    use serde_json::json;
    use std::path::Path;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn precedence_follows_ansible() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Each var is set at two adjacent levels; the higher one must win.
        write(
            d,
            "hosts.yml",
            "all:\n  vars:\n    a: all-inv\n    b: all-inv\n  children:\n    usa:\n      vars:\n        c: usa-inv\n      children:\n        east:\n          vars:\n            c: east-inv\n            d: east-inv\n          hosts:\n            h1:\n              e: host-inv\n              f: host-inv\n",
        );
        write(d, "group_vars/all.yml", "a: all-file\nd: all-file\n");
        write(d, "group_vars/east/main.yml", "g: east-file-1\n");
        write(d, "group_vars/east/more.yml", "g: east-file-2\n");
        write(d, "group_vars/usa", "c: usa-file\n");
        write(d, "host_vars/h1.yaml", "f: host-file\n");
        let inv = Inventory::load(&[d.join("hosts.yml")]).unwrap();
        let v = inv.host_vars("h1").unwrap();
        assert_eq!(v["a"], "all-file"); // group_vars/all > inventory all vars
        assert_eq!(v["b"], "all-inv");
        assert_eq!(v["c"], "usa-file"); // any group_vars file > any inventory group var
        assert_eq!(v["d"], "all-file"); // ... even group_vars/all, as in Ansible
        assert_eq!(v["e"], "host-inv");
        assert_eq!(v["f"], "host-file"); // host_vars/ > inventory host vars
        assert_eq!(v["g"], "east-file-2"); // files in a group_vars dir merge in sorted order
        assert_eq!(v["group_names"], json!(["east", "usa"]));
        assert_eq!(v["inventory_hostname"], "h1");
    }

    #[test]
    fn what_a_script_set_is_data_unless_a_file_overrides_it() {
        use crate::template::Scope;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "hosts.yml",
            "all:\n  hosts:\n    h1:\n      same: '{{ x }}'\n",
        );
        let output = r#"{"web": {"hosts": ["h1"], "vars": {"g": "{{ x }}", "kept": "{{ x }}"}},
            "_meta": {"hostvars": {"h1": {"h": "{{ x }}", "same": "{{ x }}"}}}}"#;
        write(
            d,
            "cmdb.sh",
            &format!("#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n"),
        );
        std::fs::set_permissions(d.join("cmdb.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        write(d, "group_vars/web.yml", "kept: '{{ y }}'\n");
        let inv = Inventory::load(&[d.join("hosts.yml"), d.join("cmdb.sh")]).unwrap();
        let v = inv.host_scope("h1").unwrap();
        assert!(v.is_data("g") && v.is_data("h"));
        // A file's value wins and is the admin's; so is one the script only repeated.
        assert!(!v.is_data("kept") && !v.is_data("same"));
        assert!(v.is_data("inventory_hostname") && v.is_data("group_names"));
    }

    #[test]
    fn children_beat_parents_and_siblings_go_by_name_then_priority() {
        let text = "[web]\nh1\n[prod]\nh1\n[a_parent:children]\nweb\n[web:vars]\nx=web\ny=web\n[prod:vars]\ny=prod\n[a_parent:vars]\nx=parent\n";
        let inv = Inventory::from_ini_str(text, Path::new("hosts")).unwrap();
        let v = inv.host_vars("h1").unwrap();
        assert_eq!(v["x"], "web"); // child (depth 2) beats parent (depth 1)
        assert_eq!(v["y"], "web"); // web (depth 2) beats prod (depth 1)
        let text = "[b]\nh1\n[a]\nh1\n[a:vars]\nz=a\n[b:vars]\nz=b\n";
        let inv = Inventory::from_ini_str(text, Path::new("hosts")).unwrap();
        assert_eq!(inv.host_vars("h1").unwrap()["z"], "b"); // same depth: later name wins
        let text = format!("{text}ansible_group_priority=0\n");
        let inv = Inventory::from_ini_str(&text, Path::new("hosts")).unwrap();
        assert_eq!(inv.host_vars("h1").unwrap()["z"], "a"); // lower priority merges first
    }

    #[test]
    fn dicts_are_replaced_not_merged() {
        let text = "all:\n  vars:\n    cfg: {a: 1, b: 2}\n  hosts:\n    h1:\n      cfg: {a: 9}\n";
        let inv = Inventory::from_yaml_str(text, Path::new("inv.yml")).unwrap();
        assert_eq!(inv.host_vars("h1").unwrap()["cfg"], json!({"a": 9}));
    }
}
