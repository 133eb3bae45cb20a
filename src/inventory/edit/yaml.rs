//! Editing a YAML inventory by its block structure.
//!
//! An inventory is mappings of mappings (`all:` / `children:` / `web:` /
//! `hosts:` / `web1:` / `vars:`), so the editor reads the file as a tree of
//! `key:` lines by indentation: a node owns every following line indented
//! deeper than its key (and `- ` items at its own indentation). Edits insert
//! or replace whole lines inside that tree; the rest of the text is never
//! touched. Flow mappings (`{a: 1}`) are edited only on one line, a key at
//! a time; anything else written inline is refused.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::lines::Lines;
use super::{EditError, Editor, Step};

/// One `key:` line and the lines it owns.
#[derive(Debug, Clone)]
struct Node {
    key: String,
    line: usize,
    indent: usize,
    /// Byte offset of the `:` after the key.
    colon: usize,
    /// The value written on the key's line, without its comment.
    value: String,
    /// Whatever follows the value on the line (spaces and a comment).
    after: String,
    /// One past the last line of this node (trailing comments and blank
    /// lines are not part of it).
    end: usize,
    children: Vec<Node>,
}

/// How a host is listed under the `hosts:` of groups.
enum Listed {
    Entries(Vec<Node>),
    Range(Node),
}

#[derive(Clone)]
enum Kind {
    /// Blank, comment, or a document marker.
    Skip,
    Key(Node),
    /// A `- item`, a flow continuation, a multi-line scalar's text...
    Other {
        indent: usize,
        dash: bool,
    },
}

fn classify(line: &str, index: usize) -> Kind {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    if trimmed.is_empty()
        || trimmed.starts_with('#')
        || trimmed == "---"
        || trimmed.starts_with("--- ")
        || trimmed == "..."
    {
        return Kind::Skip;
    }
    let other = Kind::Other {
        indent,
        dash: trimmed == "-" || trimmed.starts_with("- "),
    };
    let (key, colon) = match trimmed.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let Some(close) = closing_quote(trimmed, q) else {
                return other;
            };
            let after = &trimmed[close + 1..];
            let spaces = after.len() - after.trim_start().len();
            if !after.trim_start().starts_with(':') {
                return other;
            }
            let raw = &trimmed[..=close];
            let key = if q == '"' {
                serde_json::from_str(raw).unwrap_or_else(|_| raw[1..close].to_string())
            } else {
                raw[1..close].replace("''", "'")
            };
            (key, indent + close + 1 + spaces)
        }
        Some('-' | '[' | '{' | '?' | '|' | '>' | '&' | '*' | '!') => return other,
        _ => {
            let bytes = trimmed.as_bytes();
            let found = (0..bytes.len()).find(|&i| {
                bytes[i] == b':' && bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace())
            });
            let Some(i) = found else { return other };
            if trimmed[..i].contains(" #") {
                return other;
            }
            (trimmed[..i].trim_end().to_string(), indent + i)
        }
    };
    let rest = &line[colon + 1..];
    let comment = comment_start(rest).unwrap_or(rest.len());
    let value = rest[..comment].trim().to_string();
    let value_end = rest[..comment].trim_end().len();
    Kind::Key(Node {
        key,
        line: index,
        indent,
        colon,
        value,
        after: rest[value_end..].to_string(),
        end: index + 1,
        children: Vec::new(),
    })
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                chars.next();
            } else {
                return Some(i);
            }
        }
    }
    None
}

/// Where a ` # comment` starts in the text after a key's colon.
fn comment_start(rest: &str) -> Option<usize> {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return Some(i),
            None => {}
        }
        prev = c;
    }
    None
}

/// Every line's kind. The text of a literal block (`key: |`) is content
/// even where it looks like a comment or a key.
fn classify_all(lines: &[String]) -> Vec<Kind> {
    let mut kinds = Vec::with_capacity(lines.len());
    let mut literal_indent: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(li) = literal_indent {
            if line.trim().is_empty() {
                kinds.push(Kind::Skip);
                continue;
            }
            if indent > li {
                kinds.push(Kind::Other {
                    indent,
                    dash: false,
                });
                continue;
            }
            literal_indent = None;
        }
        let kind = classify(line, i);
        if let Kind::Key(node) = &kind
            && (node.value.starts_with('|') || node.value.starts_with('>'))
        {
            literal_indent = Some(node.indent);
        }
        kinds.push(kind);
    }
    kinds
}

/// The mapping nodes in `kinds[start..end]`, at the indentation of the
/// first key found there.
fn parse_block(kinds: &[Kind], start: usize, end: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut block_indent = None;
    let mut i = start;
    while i < end {
        let Kind::Key(node) = &kinds[i] else {
            i += 1;
            continue;
        };
        if block_indent.is_some_and(|b| b != node.indent) {
            i += 1;
            continue;
        }
        let mut node = node.clone();
        block_indent = Some(node.indent);
        for (j, kind) in kinds.iter().enumerate().take(end).skip(i + 1) {
            let owned = match kind {
                Kind::Skip => continue,
                Kind::Key(k) => k.indent > node.indent,
                Kind::Other { indent, dash } => {
                    *indent > node.indent || (*indent == node.indent && *dash)
                }
            };
            if !owned {
                break;
            }
            node.end = j + 1;
        }
        if node.value.is_empty() {
            node.children = parse_block(kinds, i + 1, node.end);
        }
        i = node.end.max(i + 1);
        nodes.push(node);
    }
    nodes
}

/// Writes `text` as a YAML scalar: plain when that reads back as the user
/// typed it (`8080`, `true`, `/srv/keys/id`), else double-quoted.
pub(super) fn render_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/+-".contains(c))
        && (!text.starts_with('-') || text[1..].starts_with(|c: char| c.is_ascii_digit()));
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// The value `text` reads back as, once written by [`render_scalar`].
pub(super) fn scalar_value(text: &str) -> Value {
    let doc = format!("v: {}\n", render_scalar(text));
    crate::yaml::from_str::<serde_json::Map<String, Value>>(&doc, Path::new("-"))
        .ok()
        .and_then(|mut m| m.remove("v"))
        .unwrap_or(Value::Null)
}

/// A YAML inventory being edited.
pub(super) struct Doc<'a> {
    path: &'a Path,
    lines: Lines,
    /// Set when the document is one host's entry cut out of a file: the
    /// file's indentation unit and where the entry starts in it.
    unit: Option<usize>,
    offset: usize,
}

impl<'a> Doc<'a> {
    /// `text` from `path`: the whole file, or the part of it that starts
    /// at line `offset` (0-based) and is indented by `unit` per level.
    fn part(path: &'a Path, text: &str, unit: Option<usize>, offset: usize) -> Doc<'a> {
        Doc {
            path,
            lines: Lines::new(text),
            unit,
            offset,
        }
    }

    fn tree(&self) -> Vec<Node> {
        let kinds = classify_all(&self.lines.lines);
        parse_block(&kinds, 0, kinds.len())
    }

    /// Spaces per level, from the file's first nested key (default 2).
    fn unit(&self) -> usize {
        if let Some(unit) = self.unit {
            return unit;
        }
        fn first_step(nodes: &[Node]) -> Option<usize> {
            nodes.iter().find_map(|n| {
                n.children
                    .first()
                    .map(|c| c.indent.saturating_sub(n.indent))
                    .filter(|&s| s > 0)
                    .or_else(|| first_step(&n.children))
            })
        }
        first_step(&self.tree()).unwrap_or(2)
    }

    fn node_at(&self, line: usize) -> Node {
        fn find(nodes: &[Node], line: usize) -> Option<&Node> {
            nodes.iter().find_map(|n| {
                if n.line == line {
                    Some(n)
                } else if n.line < line && line < n.end {
                    find(&n.children, line)
                } else {
                    None
                }
            })
        }
        find(&self.tree(), line)
            .cloned()
            .expect("a node found in this document")
    }

    /// Every definition of `name` as a group: top-level keys and keys
    /// under a group's `children:`, in file order.
    fn groups(&self, name: &str) -> Vec<Node> {
        let mut found = Vec::new();
        fn walk(groups: &[Node], name: &str, found: &mut Vec<Node>) {
            for group in groups {
                if group.key == name {
                    found.push(group.clone());
                }
                for section in group.children.iter().filter(|c| c.key == "children") {
                    walk(&section.children, name, found);
                }
            }
        }
        walk(&self.tree(), name, &mut found);
        found.sort_by_key(|n| n.line);
        found
    }

    /// Every host's entries under a `hosts:`, in file order, from one walk.
    /// A host that (also) comes from a range entry (`web[01:09]`) maps to
    /// that entry instead: editing it means editing the range by hand.
    fn host_index(&self) -> HashMap<String, Listed> {
        use crate::inventory::range::{RangeBudget, host_entries};
        fn walk(groups: &[Node], index: &mut HashMap<String, Listed>, budget: &mut RangeBudget) {
            for group in groups {
                for section in &group.children {
                    match section.key.as_str() {
                        "hosts" => {
                            for entry in &section.children {
                                let expanded = host_entries(&entry.key, budget).unwrap_or_default();
                                for (host, _) in
                                    expanded.into_iter().filter(|(h, _)| *h != entry.key)
                                {
                                    index.insert(host, Listed::Range(entry.clone()));
                                }
                                match index
                                    .entry(entry.key.clone())
                                    .or_insert(Listed::Entries(Vec::new()))
                                {
                                    Listed::Entries(entries) => entries.push(entry.clone()),
                                    Listed::Range(_) => {}
                                }
                            }
                        }
                        "children" => walk(&section.children, index, budget),
                        _ => {}
                    }
                }
            }
        }
        let mut index = HashMap::new();
        walk(&self.tree(), &mut index, &mut RangeBudget::default());
        for listed in index.values_mut() {
            if let Listed::Entries(entries) = listed {
                entries.sort_by_key(|n| n.line);
            }
        }
        index
    }

    /// The entries of one host (see [`Doc::host_index`]).
    fn host_entries(&self, host: &str) -> Result<Vec<Node>, EditError> {
        Self::entries_of(self, &self.host_index(), host)
    }

    fn entries_of(
        &self,
        index: &HashMap<String, Listed>,
        host: &str,
    ) -> Result<Vec<Node>, EditError> {
        match index.get(host) {
            None => Ok(Vec::new()),
            Some(Listed::Entries(entries)) => Ok(entries.clone()),
            Some(Listed::Range(range)) => Err(self.at(
                range.line,
                format!(
                    "`{host}` comes from the host range `{}`; edit that entry by hand",
                    range.key
                ),
            )),
        }
    }

    /// The entry of `host` to set `key` on: one that has it, else the first.
    fn entry_for_var(entries: &[Node], key: &str) -> Option<Node> {
        let has_key = |e: &Node| {
            e.children.iter().any(|c| c.key == key)
                || flow_items(&e.value)
                    .is_some_and(|items| items.iter().any(|i| item_key(i) == key))
        };
        entries
            .iter()
            .find(|e| has_key(e))
            .or(entries.first())
            .cloned()
    }

    fn child_indent(&self, node: &Node) -> usize {
        node.children
            .first()
            .map_or(node.indent + self.unit(), |c| c.indent)
    }

    /// Makes `node` ready to take block children: `key:` with nothing after
    /// it. An empty inline value (`{}`, `~`, `null`) is dropped; anything
    /// else inline is refused.
    fn open_mapping(&mut self, line: usize) -> Step {
        let node = self.node_at(line);
        match node.value.as_str() {
            "" => Ok(()),
            "{}" | "~" | "null" | "Null" | "NULL" => {
                let text = &self.lines.lines[line];
                let new = format!("{}{}", &text[..=node.colon], node.after);
                self.lines.splice(line, line + 1, vec![new]);
                Ok(())
            }
            value => Err(self.at(
                line,
                format!(
                    "`{}: {value}` is written inline; rewrite it in block style (one key per line) so herd can edit it",
                    node.key
                ),
            )),
        }
    }

    /// Inserts `lines` (indentation relative to the children's) as the last
    /// children of the node at `line`; returns the first inserted line.
    fn insert_children(
        &mut self,
        line: usize,
        lines: &[(usize, String)],
    ) -> Result<usize, EditError> {
        self.open_mapping(line)?;
        let node = self.node_at(line);
        let indent = self.child_indent(&node);
        let unit = self.unit();
        let new = lines
            .iter()
            .map(|(level, text)| format!("{}{text}", " ".repeat(indent + level * unit)))
            .collect();
        self.lines.splice(node.end, node.end, new);
        Ok(node.end)
    }

    /// The line of `key:` under the node at `line`, created when missing.
    fn ensure_child(&mut self, line: usize, key: &str) -> Result<usize, EditError> {
        let node = self.node_at(line);
        if let Some(child) = node.children.iter().find(|c| c.key == key) {
            return Ok(child.line);
        }
        self.insert_children(line, &[(0, format!("{key}:"))])
    }

    /// A new group under `parent`, else under the top-level `all:`, else at
    /// the top level. Returns its line.
    fn create_group(&mut self, group: &str, parent: Option<&str>) -> Result<usize, EditError> {
        let parent_def = match parent {
            Some(parent) => Some(
                self.groups(parent)
                    .into_iter()
                    .next()
                    .ok_or_else(|| self.refused(format!("no group `{parent}` in this file")))?,
            ),
            None if group != "all" => self.tree().into_iter().find(|n| n.key == "all"),
            None => None,
        };
        let name = render_scalar(group);
        match parent_def {
            Some(def) => {
                let children = self.ensure_child(def.line, "children")?;
                self.insert_children(children, &[(0, format!("{name}:"))])
            }
            None => {
                self.lines.append_block(vec![format!("{name}:")]);
                Ok(self.lines.lines.len() - 1)
            }
        }
    }

    /// The definition of `group` to add hosts to (one with `hosts:` if
    /// any), created when missing.
    fn group_for_hosts(&mut self, group: &str) -> Result<usize, EditError> {
        let defs = self.groups(group);
        let with_hosts = defs
            .iter()
            .find(|d| d.children.iter().any(|c| c.key == "hosts"));
        match with_hosts.or(defs.first()) {
            Some(def) => Ok(def.line),
            None => self.create_group(group, None),
        }
    }

    fn list_host(&mut self, group: &str, host: &str, vars: &[(String, String)]) -> Step {
        let def = self.group_for_hosts(group)?;
        let hosts = self.ensure_child(def, "hosts")?;
        if let Some(entry) = self.node_at(hosts).children.iter().find(|e| e.key == host) {
            return Err(self.at(
                entry.line,
                format!("`{host}` is already in group `{group}`"),
            ));
        }
        let mut lines = vec![(0, format!("{}:", render_scalar(host)))];
        lines.extend(
            vars.iter()
                .map(|(k, v)| (1, format!("{}: {}", render_scalar(k), render_scalar(v)))),
        );
        self.insert_children(hosts, &lines)?;
        Ok(())
    }
}

impl<'a> Editor<'a> for Doc<'a> {
    fn open(path: &'a Path, text: &str) -> Doc<'a> {
        Doc::part(path, text, None, 0)
    }

    fn path(&self) -> &Path {
        self.path
    }

    fn first_line(&self) -> usize {
        self.offset
    }

    fn host_line(&self, host: &str) -> Result<Option<usize>, EditError> {
        Ok(self.host_entries(host)?.first().map(|e| e.line))
    }

    fn add_host(&mut self, host: &str, groups: &[String], vars: &[(String, String)]) -> Step {
        let all = ["all".to_string()];
        let groups = if groups.is_empty() { &all[..] } else { groups };
        for (i, group) in groups.iter().enumerate() {
            self.list_host(group, host, if i == 0 { vars } else { &[] })?;
        }
        Ok(())
    }

    fn remove_host(&mut self, host: &str) -> Step {
        let entries = self.host_entries(host)?;
        if entries.is_empty() {
            return Err(self.no_host(host));
        }
        for entry in entries.iter().rev() {
            self.lines.splice(entry.line, entry.end, Vec::new());
        }
        Ok(())
    }

    fn remove_group(&mut self, group: &str, force: bool) -> Step {
        let defs = self.groups(group);
        if defs.is_empty() {
            return Err(self.refused(format!("no group `{group}` in this file")));
        }
        let blank = |v: &str| matches!(v, "" | "{}" | "~" | "null");
        let empty = |d: &Node| {
            blank(&d.value)
                && d.children
                    .iter()
                    .all(|c| blank(&c.value) && c.children.is_empty())
        };
        if !force && let Some(def) = defs.iter().find(|d| !empty(d)) {
            return Err(self.at(
                def.line,
                format!(
                    "group `{group}` still has hosts, children or vars; remove them first, or use --force"
                ),
            ));
        }
        for def in defs.iter().rev() {
            self.lines.splice(def.line, def.end, Vec::new());
        }
        Ok(())
    }

    fn rename_group(&mut self, from: &str, to: &str) -> Step {
        if let Some(def) = self.groups(to).first() {
            return Err(self.at(def.line, format!("group `{to}` already exists")));
        }
        let defs = self.groups(from);
        if defs.is_empty() {
            return Err(self.refused(format!("no group `{from}` in this file")));
        }
        for def in defs {
            let text = &self.lines.lines[def.line];
            let new = format!(
                "{}{}{}",
                &text[..def.indent],
                render_scalar(to),
                &text[def.colon..]
            );
            self.lines.splice(def.line, def.line + 1, vec![new]);
        }
        Ok(())
    }

    fn set_host_var(&mut self, host: &str, key: &str, value: &str) -> Step {
        let entries = self.host_entries(host)?;
        let entry = Self::entry_for_var(&entries, key).ok_or_else(|| self.no_host(host))?;
        self.set_in_mapping(entry.line, key, value)
    }

    fn set_group_var(&mut self, group: &str, key: &str, value: &str) -> Step {
        let defs = self.groups(group);
        let def = match defs
            .iter()
            .find(|d| d.children.iter().any(|c| c.key == "vars"))
            .or(defs.first())
        {
            Some(def) => def.line,
            None if group == "all" => self.create_group(group, None)?,
            None => return Err(self.refused(format!("no group `{group}` in this file"))),
        };
        let vars = self.ensure_child(def, "vars")?;
        self.set_in_mapping(vars, key, value)
    }

    fn add_group(&mut self, group: &str, parent: Option<&str>) -> Step {
        if let Some(def) = self.groups(group).first() {
            return Err(self.at(def.line, format!("group `{group}` already exists")));
        }
        self.create_group(group, parent)?;
        Ok(())
    }

    fn add_host_to_group(&mut self, group: &str, host: &str) -> Step {
        self.list_host(group, host, &[])
    }

    /// One parse of the file: each host's entry is cut out, edited on its
    /// own and put back, from the bottom of the file up so that the line
    /// numbers of the entries above stay right.
    fn set_host_vars(&mut self, sets: &[(&str, &str, &str)]) -> Step {
        let unit = self.unit();
        let index = self.host_index();
        let mut by_entry: Vec<(Node, Vec<(&str, &str)>)> = Vec::new();
        for &(host, key, value) in sets {
            let entries = self.entries_of(&index, host)?;
            let entry = Doc::entry_for_var(&entries, key).ok_or_else(|| self.no_host(host))?;
            match by_entry.iter_mut().find(|(e, _)| e.line == entry.line) {
                Some((_, vars)) => vars.push((key, value)),
                None => by_entry.push((entry, vec![(key, value)])),
            }
        }
        by_entry.sort_by_key(|(e, _)| std::cmp::Reverse(e.line));
        for (entry, vars) in by_entry {
            let text = self.lines.lines[entry.line..entry.end].join("\n") + "\n";
            let mut part = Doc::part(self.path, &text, Some(unit), entry.line);
            for (key, value) in vars {
                part.set_in_mapping(0, key, value)?;
            }
            self.lines.splice(entry.line, entry.end, part.lines.lines);
        }
        Ok(())
    }

    fn text(&self) -> String {
        self.lines.text()
    }
}

impl Doc<'_> {
    /// Sets `key: value` in the mapping at `line`: replaces the key's
    /// line(s) when present (keeping a comment on it), else appends it.
    fn set_in_mapping(&mut self, line: usize, key: &str, value: &str) -> Step {
        let node = self.node_at(line);
        let scalar = render_scalar(value);
        if let Some(items) = flow_items(&node.value) {
            let mut items: Vec<String> = items.into_iter().map(str::to_string).collect();
            let item = format!("{}: {scalar}", render_scalar(key));
            match items.iter_mut().find(|i| item_key(i) == key) {
                Some(existing) => *existing = item,
                None => items.push(item),
            }
            let text = &self.lines.lines[line];
            let new = format!(
                "{} {{{}}}{}",
                &text[..=node.colon],
                items.join(", "),
                node.after
            );
            self.lines.splice(line, line + 1, vec![new]);
            return Ok(());
        }
        if let Some(child) = node.children.iter().find(|c| c.key == key) {
            let text = &self.lines.lines[child.line];
            let new = format!("{} {scalar}{}", &text[..=child.colon], child.after);
            self.lines.splice(child.line, child.end, vec![new]);
            return Ok(());
        }
        self.insert_children(line, &[(0, format!("{}: {scalar}", render_scalar(key)))])?;
        Ok(())
    }
}

/// The items of a one-line flow mapping `{a: 1, b: [2, 3]}`; `None` when
/// `value` is not one.
fn flow_items(value: &str) -> Option<Vec<&str>> {
    let inner = value.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (i, c) in inner.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(inner[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    if depth != 0 || quote.is_some() {
        return None;
    }
    items.push(inner[start..].trim());
    items.retain(|i| !i.is_empty());
    Some(items)
}

fn item_key(item: &str) -> String {
    let key = item.split_once(':').map_or(item, |(k, _)| k).trim();
    key.trim_matches(['"', '\'']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::edit::Edit;
    use crate::inventory::edit::tests::build::*;

    const INVENTORY: &str = "\
# Production fleet.  Keep this comment.
all:
  vars:
    ntp: pool.ntp.org   # shared
  children:
    # The web tier
    web:
      hosts:
        web1:
          http_port: 80
        web2: {ansible_host: 10.0.0.2, rack: a1}   # inline
      vars:
        motd: |
          Welcome
          # not a comment: part of the motd

    db:
      hosts:
        db1:

# trailing comment
";

    fn edit(text: &str, edit: Edit) -> Result<String, EditError> {
        super::super::edit_text::<Doc>(Path::new("inv.yml"), text, &[edit])
    }

    fn added(before: &str, after: &str) -> Vec<String> {
        let old: Vec<&str> = before.lines().collect();
        after
            .lines()
            .filter(|l| !old.contains(l))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn add_host_to_an_existing_group_inserts_one_entry() {
        let out = edit(
            INVENTORY,
            add_host("web3", &["web"], &[("http_port", "8080")]),
        )
        .unwrap();
        assert_eq!(
            added(INVENTORY, &out),
            ["        web3:", "          http_port: 8080"]
        );
        // Inserted after web2's entry, before the group's vars.
        let web3 = out.find("web3:").unwrap();
        assert!(
            out.find("web2:").unwrap() < web3
                && web3 < out.find("      vars:\n        motd").unwrap()
        );
        assert_eq!(
            out.replace("        web3:\n          http_port: 8080\n", ""),
            INVENTORY
        );
    }

    #[test]
    fn add_host_to_new_group_and_ungrouped() {
        let out = edit(INVENTORY, add_host("cache1", &["cache"], &[])).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace(
                "        db1:\n",
                "        db1:\n    cache:\n      hosts:\n        cache1:\n"
            )
        );
        let out = edit(INVENTORY, add_host("lone", &[], &[])).unwrap();
        assert_eq!(added(INVENTORY, &out), ["  hosts:", "    lone:"]);
        assert!(
            out.contains("db1:\n  hosts:\n    lone:\n\n# trailing comment\n"),
            "{out}"
        );
    }

    #[test]
    fn remove_host_keeps_comments_around_it() {
        let out = edit(INVENTORY, remove_host("web2")).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace(
                "        web2: {ansible_host: 10.0.0.2, rack: a1}   # inline\n",
                ""
            )
        );
        let out = edit(INVENTORY, remove_host("web1")).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("        web1:\n          http_port: 80\n", "")
        );
    }

    #[test]
    fn set_var_in_block_flow_and_group_vars() {
        let out = edit(INVENTORY, set_host("web1", "http_port", "81")).unwrap();
        assert_eq!(out, INVENTORY.replace("http_port: 80", "http_port: 81"));
        let out = edit(INVENTORY, set_host("web2", "key file", "/k/id ed")).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("rack: a1}", "rack: a1, \"key file\": \"/k/id ed\"}")
        );
        let out = edit(INVENTORY, set_host("web2", "rack", "b2")).unwrap();
        assert_eq!(out, INVENTORY.replace("rack: a1}", "rack: b2}"));
        // The literal block's `# ...` line stays part of motd.
        let out = edit(INVENTORY, set_group("web", "tier", "front")).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace(
                "part of the motd\n",
                "part of the motd\n        tier: front\n"
            )
        );
        let out = edit(INVENTORY, set_host("db1", "ansible_port", "2222")).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("db1:\n", "db1:\n          ansible_port: 2222\n")
        );
    }

    #[test]
    fn groups_add_remove_rename() {
        let out = edit(INVENTORY, add_group("cache", Some("web"))).unwrap();
        assert_eq!(
            added(INVENTORY, &out),
            ["      children:", "        cache:"]
        );
        let out = edit(INVENTORY, rename_group("db", "database")).unwrap();
        assert_eq!(out, INVENTORY.replace("    db:\n", "    database:\n"));
        let err = edit(INVENTORY, remove_group("db", false))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("inv.yml:17:") && err.contains("--force"),
            "{err}"
        );
        let out = edit(INVENTORY, remove_group("db", true)).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("    db:\n      hosts:\n        db1:\n", "")
        );
        let empty = edit(INVENTORY, add_group("spare", None)).unwrap();
        let out = edit(&empty, remove_group("spare", false)).unwrap();
        assert_eq!(out, INVENTORY);
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        let ranged = "web:\n  hosts:\n    web[01:03]:\n";
        let err = edit(ranged, remove_host("web02")).unwrap_err().to_string();
        assert!(
            err.starts_with("inv.yml:3:") && err.contains("range"),
            "{err}"
        );
        let inline = "web:\n  hosts: {w1: null}\n";
        let err = edit(inline, add_host("w2", &["web"], &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inline"), "{err}");
    }

    #[test]
    fn scalars_read_back_as_typed() {
        assert_eq!(scalar_value("8080"), Value::from(8080));
        assert_eq!(scalar_value("/a b/c"), Value::from("/a b/c"));
        assert_eq!(scalar_value("a: b"), Value::from("a: b"));
        assert_eq!(render_scalar("-5"), "-5");
        assert_eq!(render_scalar("-x"), "\"-x\"");
    }
}
