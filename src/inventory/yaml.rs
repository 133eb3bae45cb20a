//! Ansible's YAML inventory: top-level groups (usually `all:`), each with
//! optional `hosts:` (a mapping of host names to their vars, or null),
//! `vars:` and `children:` (nested group definitions). Unknown keys are an
//! error rather than Ansible's warning: a `host:` typo must not silently
//! drop hosts.

use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

use super::model::Graph;
use super::range::{self, RangeBudget};
use super::{InventoryError, Vars};

const HINT: &str = "a YAML inventory maps group names to `hosts:` (host names ending with `:`), `vars:` and `children:`";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    #[serde(default)]
    hosts: Option<IndexMap<String, Option<Vars>>>,
    #[serde(default)]
    vars: Option<Vars>,
    #[serde(default)]
    children: Option<IndexMap<String, Option<GroupDoc>>>,
}

/// Adds the inventory in `text` (read from `path`) to `graph`.
pub(crate) fn load(text: &str, path: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let doc: Option<IndexMap<String, Option<GroupDoc>>> = crate::yaml::from_str(text, path)
        .map_err(|source| InventoryError::Yaml { source, hint: HINT })?;
    let mut budget = RangeBudget::default();
    for (name, group) in doc.unwrap_or_default() {
        add_group(graph, &name, group, None, (text, path), &mut budget)?;
    }
    Ok(())
}

fn add_group(
    graph: &mut Graph,
    name: &str,
    doc: Option<GroupDoc>,
    parent: Option<usize>,
    (text, path): (&str, &Path),
    budget: &mut RangeBudget,
) -> Result<(), InventoryError> {
    let g = graph.group(name);
    if let Some(parent) = parent {
        graph.add_child(parent, g);
    }
    let doc = doc.unwrap_or_default();
    graph.group_vars_mut(g).extend(doc.vars.unwrap_or_default());
    for (entry, vars) in doc.hosts.unwrap_or_default() {
        let hosts = range::host_entries(&entry, budget).map_err(|message| {
            let (line, column) = locate(text, &entry);
            InventoryError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        for (host, port) in hosts {
            let h = graph.host(&host);
            graph.add_host_to_group(g, h);
            let host_vars = graph.host_vars_mut(h);
            if let Some(port) = port {
                host_vars.insert("ansible_port".into(), port.into());
            }
            host_vars.extend(vars.clone().unwrap_or_default());
        }
    }
    for (child, child_doc) in doc.children.unwrap_or_default() {
        add_group(graph, &child, child_doc, Some(g), (text, path), budget)?;
    }
    Ok(())
}

/// Where `needle` first appears in `text`, for errors found after parsing.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    text.find(needle)
        .map(|offset| crate::yaml::line_column(text, offset))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str) -> Result<Graph, InventoryError> {
        let mut graph = Graph::new();
        load(text, Path::new("inv.yml"), &mut graph)?;
        Ok(graph)
    }

    #[test]
    fn nested_groups_null_hosts_and_vars() {
        let g = graph(
            "all:\n  hosts:\n    mail.example.com:\n  children:\n    web:\n      hosts:\n        w[1:2]:\n          http_port: 80\n      vars:\n        tier: front\n",
        )
        .unwrap();
        let names: Vec<&str> = g.hosts.keys().map(String::as_str).collect();
        assert_eq!(names, ["mail.example.com", "w1", "w2"]);
        assert_eq!(g.hosts["w2"]["http_port"], 80);
        assert_eq!(g.groups["web"].vars["tier"], "front");
        assert!(
            g.groups["all"]
                .children
                .contains(&g.groups.get_index_of("web").unwrap())
        );
    }

    #[test]
    fn typo_in_a_group_key_is_an_error_with_location() {
        let err = graph("all:\n  children:\n    web:\n      host:\n        w1:\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inv.yml:4:"), "{err}");
        assert!(err.contains("host"), "{err}");
    }

    #[test]
    fn bad_range_points_at_its_line() {
        let err = graph("web:\n  hosts:\n    w[9:1]:\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("inv.yml:3:5:"), "{err}");
        assert!(err.contains("backwards"), "{err}");
    }
}
