//! Ansible's INI inventory.
//!
//! - Hosts before any section are ungrouped; `[name]` lists hosts,
//!   `[name:children]` lists child groups, `[name:vars]` sets group vars.
//! - Host lines are `name[:port] key=value ...`, split like a shell line
//!   (quotes group words and are removed, as Python's shlex does).
//! - Values on host lines and in `[name:vars]` are typed as Ansible 2.19
//!   types them: Python literals (`22` is a number, `True` a bool, `[1, 2]`
//!   a list, `'22'` a string; see `literal`), else the text as written
//!   (`true`, `yes`, `web-1`). On a host line the shell quotes are gone
//!   first, so `port="22"` is the number 22 and `v="'22'"` the string.
//! - `#` and `;` start comment lines.
//! - A child group or `:vars` section must name a group defined somewhere
//!   (in this file or an earlier source), else it is an error naming the
//!   line: Ansible does the same, and it catches typos.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use super::model::{Graph, UNGROUPED};
use super::range::{self, RangeBudget};
use super::{InventoryError, words};

enum Section {
    Hosts(usize),
    Children(usize),
    Vars(usize),
}

/// Adds the inventory in `text` (read from `path`) to `graph`.
pub(crate) fn load(text: &str, path: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let error = |line: usize, column: usize, message: String| InventoryError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    let mut declared: HashSet<String> = graph.groups.keys().cloned().collect();
    let mut pending_children: Vec<(usize, usize, String)> = Vec::new();
    let mut pending_vars: Vec<(usize, String)> = Vec::new();
    let mut section = Section::Hosts(UNGROUPED);
    let mut budget = RangeBudget::default();

    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len() + 1;
        if line.starts_with('[') {
            let Some(inner) = line
                .strip_prefix('[')
                .and_then(|l| strip_comment(l).strip_suffix(']'))
            else {
                return Err(error(
                    line_no,
                    indent,
                    "section header is missing its closing `]`".into(),
                ));
            };
            let (name, kind) = match inner.split_once(':') {
                Some((name, kind)) => (name.trim(), kind.trim()),
                None => (inner.trim(), ""),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(error(
                    line_no,
                    indent + 1,
                    format!("`{name}` is not a valid group name (no spaces, not empty)"),
                ));
            }
            let g = graph.group(name);
            section = match kind {
                "" | "hosts" => Section::Hosts(g),
                "children" => Section::Children(g),
                "vars" => Section::Vars(g),
                other => {
                    return Err(error(
                        line_no,
                        indent,
                        format!(
                            "unknown section type `:{other}`; use [{name}], [{name}:children] or [{name}:vars]"
                        ),
                    ));
                }
            };
            match section {
                Section::Vars(_) => pending_vars.push((line_no, name.to_string())),
                _ => {
                    declared.insert(name.to_string());
                }
            }
            continue;
        }
        match section {
            Section::Hosts(g) => host_line(raw, g, graph, &mut budget)
                .map_err(|(col, msg)| error(line_no, col, msg))?,
            Section::Children(g) => {
                let child = strip_comment(line).trim();
                pending_children.push((line_no, g, child.to_string()));
            }
            Section::Vars(g) => {
                let Some((key, value)) = line.split_once('=') else {
                    return Err(error(
                        line_no,
                        indent,
                        format!("expected `name=value` in a :vars section, found `{line}`"),
                    ));
                };
                graph
                    .group_vars_mut(g)
                    .insert(key.trim().to_string(), python_literal(value.trim()));
            }
        }
    }

    for (line, group) in pending_vars {
        if !declared.contains(&group) {
            return Err(InventoryError::VarsForUnknownGroup {
                path: path.to_path_buf(),
                line,
                group,
            });
        }
    }
    for (line, parent, child) in pending_children {
        if !declared.contains(&child) {
            return Err(InventoryError::UnknownChild {
                path: path.to_path_buf(),
                line,
                parent: graph
                    .groups
                    .get_index(parent)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default(),
                child,
            });
        }
        let c = graph.group(&child);
        graph.add_child(parent, c);
    }
    Ok(())
}

/// `host[:port] key=value ...` under a `[group]` (or before any section).
fn host_line(
    raw: &str,
    group: usize,
    graph: &mut Graph,
    budget: &mut RangeBudget,
) -> Result<(), (usize, String)> {
    let mut words = words::split(raw)?.into_iter();
    let Some(first) = words.next() else {
        return Ok(());
    };
    let hosts = range::host_entries(&first.text, budget).map_err(|m| (first.column, m))?;
    let mut vars = Vec::new();
    for word in words {
        let Some((key, value)) = word.text.split_once('=') else {
            return Err((
                word.column,
                format!(
                    "expected `key=value` after the host name, found `{}`; quote values that contain spaces",
                    word.text
                ),
            ));
        };
        vars.push((key.to_string(), python_literal(value)));
    }
    for (host, port) in hosts {
        let h = graph.host(&host);
        graph.add_host_to_group(group, h);
        let host_vars = graph.host_vars_mut(h);
        if let Some(port) = port {
            host_vars.insert("ansible_port".into(), port.into());
        }
        host_vars.extend(vars.iter().cloned());
    }
    Ok(())
}

/// An INI value as Ansible types it: a Python literal, else the text.
pub(crate) fn python_literal(text: &str) -> Value {
    super::literal::eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// Drops a trailing ` # comment` / ` ; comment`.
fn strip_comment(text: &str) -> &str {
    let cut = text
        .char_indices()
        .find(|&(i, c)| {
            (c == '#' || c == ';') && (i == 0 || text[..i].ends_with(char::is_whitespace))
        })
        .map_or(text.len(), |(i, _)| i);
    text[..cut].trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(text: &str) -> Result<Graph, InventoryError> {
        let mut graph = Graph::new();
        load(text, Path::new("hosts"), &mut graph)?;
        Ok(graph)
    }

    #[test]
    fn values_are_typed_as_ansible_2_19_types_them() {
        let g = graph(
            "[web]\nw1 port=22 on=True ratio=0.5 name=\"x y\" quoted='22' str=\"'22'\" list=[1,2] word=yes\n[web:vars]\nretries=3\nmotd=\"hello there\"\nflag=true\nFlag=True\nid='7'\n",
        )
        .unwrap();
        let w1 = &g.hosts["w1"];
        assert_eq!(w1["port"], 22);
        assert_eq!(w1["on"], true);
        assert_eq!(w1["ratio"], 0.5);
        assert_eq!(w1["name"], "x y");
        // Shell quotes go first, then the value is a Python literal.
        assert_eq!(w1["quoted"], 22);
        assert_eq!(w1["str"], "22");
        assert_eq!(w1["list"], serde_json::json!([1, 2]));
        assert_eq!(w1["word"], "yes");
        let vars = &g.groups["web"].vars;
        assert_eq!(vars["retries"], 3);
        assert_eq!(vars["motd"], "hello there");
        assert_eq!(vars["flag"], "true");
        assert_eq!(vars["Flag"], true);
        assert_eq!(vars["id"], "7");
    }

    #[test]
    fn children_may_be_defined_later_in_the_file() {
        let g = graph("[usa:children]\nsoutheast ; comment\n[southeast]\nh1\n").unwrap();
        let se = g.groups.get_index_of("southeast").unwrap();
        assert!(g.groups["usa"].children.contains(&se));
    }

    #[test]
    fn undefined_child_names_file_and_line() {
        let err = graph("[a]\nh1\n\n[usa:children]\na\nnorthwest\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("hosts:6:"), "{err}");
        assert!(err.contains("`northwest`"), "{err}");
    }

    #[test]
    fn malformed_lines_name_line_and_column() {
        let err = graph("[web]\nw1 port 22\n").unwrap_err().to_string();
        assert!(err.starts_with("hosts:2:4:"), "{err}");
        assert!(err.contains("key=value"), "{err}");
        let err = graph("[web\n").unwrap_err().to_string();
        assert!(err.starts_with("hosts:1:1:"), "{err}");
        let err = graph("[web:child]\n").unwrap_err().to_string();
        assert!(err.contains("[web:children]"), "{err}");
        let err = graph("[nope:vars]\nx=1\n").unwrap_err().to_string();
        assert!(err.starts_with("hosts:1:"), "{err}");
    }
}
