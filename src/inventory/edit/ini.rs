//! Editing an INI inventory by sections and lines.
//!
//! Each `[group]`, `[group:children]` and `[group:vars]` section runs from
//! its header to its last non-comment line; host lines are found by their
//! first word. Edits add, replace or delete whole lines, or one
//! `key=value` word of a host line; comments and blank lines stay.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::lines::Lines;
use super::{EditError, Editor, Step};
use crate::inventory::ini::python_literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hosts,
    Children,
    Vars,
}

/// How a host is listed in the hosts sections.
enum Listed {
    Lines(Vec<usize>),
    Range(usize),
}

#[derive(Debug, Clone)]
struct Section {
    name: String,
    kind: Kind,
    /// `None` for the hosts before the first header (ungrouped).
    header: Option<usize>,
    /// One past the last content line (or the header).
    end: usize,
    /// Lines that are neither blank nor comments.
    content: Vec<usize>,
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty() || t.starts_with('#') || t.starts_with(';'))
}

/// `(name, kind)` of a `[name:kind]` header line.
fn header(line: &str) -> Option<(String, Kind)> {
    let inner = line.trim().strip_prefix('[')?;
    let inner = &inner[..inner.find(']')?];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n.trim(), k.trim()),
        None => (inner.trim(), ""),
    };
    let kind = match kind {
        "" | "hosts" => Kind::Hosts,
        "children" => Kind::Children,
        "vars" => Kind::Vars,
        _ => return None,
    };
    Some((name.to_string(), kind))
}

fn sections(lines: &[String]) -> Vec<Section> {
    let mut sections = vec![Section {
        name: "ungrouped".into(),
        kind: Kind::Hosts,
        header: None,
        end: 0,
        content: Vec::new(),
    }];
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with('[')
            && let Some((name, kind)) = header(line)
        {
            sections.push(Section {
                name,
                kind,
                header: Some(i),
                end: i + 1,
                content: Vec::new(),
            });
        } else if is_content(line) {
            let current = sections.last_mut().expect("at least the ungrouped section");
            current.content.push(i);
            current.end = i + 1;
        }
    }
    sections
}

/// Byte spans of a line's words (quotes kept inside a word), and where a
/// `# comment` starts (the line's length when there is none).
fn word_spans(line: &str) -> (Vec<(usize, usize)>, usize) {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => escaped = true,
            Some(_) => {}
            None if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    spans.push((s, i));
                }
            }
            None if c == '#' && start.is_none() => return (spans, i),
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '\\' {
                    escaped = true;
                }
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    (spans, line.len())
}

fn first_word(line: &str) -> &str {
    let (spans, _) = word_spans(line);
    spans.first().map_or("", |&(s, e)| &line[s..e])
}

/// A host-line value as written: bare, or double-quoted when it holds
/// spaces, quotes, `#` or backslashes.
fn render_host_value(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '#' | '\\'));
    if needs_quotes {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_string()
    }
}

/// What a value written by this editor reads back as.
/// On a host line the shell quotes [`render_host_value`] adds are gone
/// before the value is typed, so both places type the text the same way.
pub(super) fn written_value(on_host: bool, value: &str) -> Value {
    if on_host {
        python_literal(value)
    } else {
        python_literal(value.trim())
    }
}

/// An INI inventory being edited.
pub(super) struct Doc<'a> {
    path: &'a Path,
    lines: Lines,
}

impl Doc<'_> {
    fn sections(&self) -> Vec<Section> {
        sections(&self.lines.lines)
    }

    fn section(&self, name: &str, kind: Kind) -> Option<Section> {
        self.sections()
            .into_iter()
            .find(|s| s.name == name && s.kind == kind)
    }

    /// Whether `group` is defined by a section or listed as a child.
    fn group_exists(&self, group: &str) -> bool {
        self.sections().iter().any(|s| {
            s.name == group
                || (s.kind == Kind::Children
                    && s.content
                        .iter()
                        .any(|&l| first_word(&self.lines.lines[l]) == group))
        })
    }

    /// Every host's lines in the hosts sections, from one pass. A host
    /// that (also) comes from a range line maps to that line instead.
    fn host_index(&self) -> HashMap<String, Listed> {
        let mut index = HashMap::new();
        let mut budget = crate::inventory::range::RangeBudget::default();
        for section in self.sections().iter().filter(|s| s.kind == Kind::Hosts) {
            for &line in &section.content {
                let word = first_word(&self.lines.lines[line]);
                let expanded =
                    crate::inventory::range::host_entries(word, &mut budget).unwrap_or_default();
                for (host, _) in expanded.into_iter().filter(|(h, _)| h != word) {
                    index.insert(host, Listed::Range(line));
                }
                match index
                    .entry(word.to_string())
                    .or_insert(Listed::Lines(Vec::new()))
                {
                    Listed::Lines(lines) => lines.push(line),
                    Listed::Range(_) => {}
                }
            }
        }
        index
    }

    /// The lines naming `host` (see [`Doc::host_index`]).
    fn host_lines(&self, host: &str) -> Result<Vec<usize>, EditError> {
        self.lines_of(&self.host_index(), host)
    }

    fn lines_of(
        &self,
        index: &HashMap<String, Listed>,
        host: &str,
    ) -> Result<Vec<usize>, EditError> {
        match index.get(host) {
            None => Ok(Vec::new()),
            Some(Listed::Lines(lines)) => Ok(lines.clone()),
            Some(Listed::Range(line)) => Err(self.at(
                *line,
                format!(
                    "`{host}` comes from the host line `{}`; edit that line by hand",
                    first_word(&self.lines.lines[*line])
                ),
            )),
        }
    }

    /// Appends `line` (a host line) to `[group]`, created when missing.
    fn list_host(&mut self, group: &str, line: String) -> Step {
        let host = first_word(&line).to_string();
        match self.section(group, Kind::Hosts) {
            Some(section) => {
                if let Some(&l) = section
                    .content
                    .iter()
                    .find(|&&l| first_word(&self.lines.lines[l]) == host)
                {
                    return Err(self.at(l, format!("`{host}` is already in group `{group}`")));
                }
                self.lines.splice(section.end, section.end, vec![line]);
            }
            None => self.lines.append_block(vec![format!("[{group}]"), line]),
        }
        Ok(())
    }

    /// Sets `key=value` on the one of `found` (a host's lines) that has
    /// the key, else the first: the word is replaced, or appended before a
    /// trailing comment.
    fn set_on_line(&mut self, found: &[usize], host: &str, key: &str, value: &str) -> Step {
        let prefix = format!("{key}=");
        let existing = |text: &str| {
            let (spans, _) = word_spans(text);
            spans
                .iter()
                .skip(1)
                .find(|&&(a, b)| text[a..b].starts_with(&prefix))
                .copied()
        };
        let line = found
            .iter()
            .copied()
            .find(|&l| existing(&self.lines.lines[l]).is_some())
            .or(found.first().copied())
            .ok_or_else(|| self.no_host(host))?;
        let text = &self.lines.lines[line];
        let word = format!("{key}={}", render_host_value(value));
        let new = match existing(text) {
            Some((a, b)) => format!("{}{word}{}", &text[..a], &text[b..]),
            None => {
                let last = word_spans(text).0.last().map_or(0, |&(_, b)| b);
                format!("{} {word}{}", &text[..last], &text[last..])
            }
        };
        self.lines.splice(line, line + 1, vec![new]);
        Ok(())
    }
}

impl<'a> Editor<'a> for Doc<'a> {
    fn open(path: &'a Path, text: &str) -> Doc<'a> {
        Doc {
            path,
            lines: Lines::new(text),
        }
    }

    fn path(&self) -> &Path {
        self.path
    }

    fn host_line(&self, host: &str) -> Result<Option<usize>, EditError> {
        Ok(self.host_lines(host)?.first().copied())
    }

    fn add_host(&mut self, host: &str, groups: &[String], vars: &[(String, String)]) -> Step {
        let mut line = host.to_string();
        for (k, v) in vars {
            line.push_str(&format!(" {k}={}", render_host_value(v)));
        }
        if groups.is_empty() {
            let sections = self.sections();
            let ungrouped = &sections[0];
            match sections.get(1).and_then(|s| s.header) {
                _ if !ungrouped.content.is_empty() => {
                    self.lines.splice(ungrouped.end, ungrouped.end, vec![line])
                }
                Some(first_header) => {
                    self.lines
                        .splice(first_header, first_header, vec![line, String::new()])
                }
                None => self.lines.append_block(vec![line]),
            }
            return Ok(());
        }
        for (i, group) in groups.iter().enumerate() {
            self.list_host(group, if i == 0 { line.clone() } else { host.into() })?;
        }
        Ok(())
    }

    fn add_group(&mut self, group: &str, parent: Option<&str>) -> Step {
        if self.group_exists(group) {
            return Err(self.refused(format!("group `{group}` already exists")));
        }
        if let Some(parent) = parent {
            if parent != "all" && !self.group_exists(parent) {
                return Err(self.refused(format!("no group `{parent}` in this file")));
            }
            match self.section(parent, Kind::Children) {
                Some(s) => self.lines.splice(s.end, s.end, vec![group.to_string()]),
                None => self
                    .lines
                    .append_block(vec![format!("[{parent}:children]"), group.to_string()]),
            }
        }
        self.lines.append_block(vec![format!("[{group}]")]);
        Ok(())
    }

    fn remove_group(&mut self, group: &str, force: bool) -> Step {
        if !self.group_exists(group) {
            return Err(self.refused(format!("no group `{group}` in this file")));
        }
        let sections = self.sections();
        if !force
            && let Some(s) = sections
                .iter()
                .find(|s| s.name == group && !s.content.is_empty())
        {
            return Err(self.at(
                s.header.unwrap_or(0),
                format!(
                    "group `{group}` still has hosts, children or vars; remove them first, or use --force"
                ),
            ));
        }
        // Whole sections of the group, and its lines in others' children.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for s in &sections {
            if s.name == group
                && let Some(h) = s.header
            {
                ranges.push((h, s.end));
            } else if s.kind == Kind::Children {
                ranges.extend(
                    s.content
                        .iter()
                        .filter(|&&l| first_word(&self.lines.lines[l]) == group)
                        .map(|&l| (l, l + 1)),
                );
            }
        }
        ranges.sort();
        for (start, end) in ranges.into_iter().rev() {
            self.lines.splice(start, end, Vec::new());
            // No doubled blank line where the section was.
            let lines = &self.lines.lines;
            if start > 0
                && start < lines.len()
                && lines[start].trim().is_empty()
                && lines[start - 1].trim().is_empty()
            {
                self.lines.splice(start, start + 1, Vec::new());
            }
        }
        Ok(())
    }

    fn rename_group(&mut self, from: &str, to: &str) -> Step {
        if self.group_exists(to) {
            return Err(self.refused(format!("group `{to}` already exists")));
        }
        if !self.group_exists(from) {
            return Err(self.refused(format!("no group `{from}` in this file")));
        }
        for s in self.sections() {
            if s.name == from
                && let Some(h) = s.header
            {
                let text = &self.lines.lines[h];
                let open = text.find('[').expect("a header") + 1;
                let name_at = open + text[open..].find(from).expect("the header's name");
                let new = format!("{}{to}{}", &text[..name_at], &text[name_at + from.len()..]);
                self.lines.splice(h, h + 1, vec![new]);
            } else if s.kind == Kind::Children {
                for l in s.content {
                    let text = &self.lines.lines[l];
                    let (spans, _) = word_spans(text);
                    if let Some(&(a, b)) = spans.first()
                        && &text[a..b] == from
                    {
                        let new = format!("{}{to}{}", &text[..a], &text[b..]);
                        self.lines.splice(l, l + 1, vec![new]);
                    }
                }
            }
        }
        Ok(())
    }

    fn set_host_var(&mut self, host: &str, key: &str, value: &str) -> Step {
        let found = self.host_lines(host)?;
        self.set_on_line(&found, host, key, value)
    }

    fn set_group_var(&mut self, group: &str, key: &str, value: &str) -> Step {
        let line = format!("{key}={value}");
        match self.section(group, Kind::Vars) {
            Some(s) => {
                let existing = s.content.iter().copied().find(|&l| {
                    self.lines.lines[l]
                        .split_once('=')
                        .is_some_and(|(k, _)| k.trim() == key)
                });
                match existing {
                    Some(l) => self.lines.splice(l, l + 1, vec![line]),
                    None => self.lines.splice(s.end, s.end, vec![line]),
                }
            }
            None if group == "all" || self.group_exists(group) => self
                .lines
                .append_block(vec![format!("[{group}:vars]"), line]),
            None => return Err(self.refused(format!("no group `{group}` in this file"))),
        }
        Ok(())
    }

    fn remove_host(&mut self, host: &str) -> Step {
        let found = self.host_lines(host)?;
        if found.is_empty() {
            return Err(self.no_host(host));
        }
        for line in found.into_iter().rev() {
            self.lines.splice(line, line + 1, Vec::new());
        }
        Ok(())
    }

    fn add_host_to_group(&mut self, group: &str, host: &str) -> Step {
        self.list_host(group, host.to_string())
    }

    /// Each edit changes one line in place.
    fn set_host_vars(&mut self, sets: &[(&str, &str, &str)]) -> Step {
        let index = self.host_index();
        for &(host, key, value) in sets {
            let found = self.lines_of(&index, host)?;
            self.set_on_line(&found, host, key, value)?;
        }
        Ok(())
    }

    fn text(&self) -> String {
        self.lines.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::edit::Edit;
    use crate::inventory::edit::tests::build::*;

    const INVENTORY: &str = "\
; Office hosts.  Keep this comment.
mail.example.com

[web]
# front ends
web1 http_port=80   # the old one
web2

[db]
db1 ansible_port=2222

[prod:children]
web
db

[web:vars]
tier=front
";

    fn edit(text: &str, edit: Edit) -> Result<String, EditError> {
        super::super::edit_text::<Doc>(Path::new("hosts"), text, &[edit])
    }

    #[test]
    fn add_host_to_group_new_group_and_ungrouped() {
        let out = edit(
            INVENTORY,
            add_host("web3", &["web", "cache"], &[("motd", "hello there")]),
        )
        .unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("web2\n", "web2\nweb3 motd=\"hello there\"\n") + "\n[cache]\nweb3\n"
        );
        let out = edit(INVENTORY, add_host("lone", &[], &[])).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("mail.example.com\n", "mail.example.com\nlone\n")
        );
    }

    #[test]
    fn remove_host_and_set_vars_keep_comments() {
        // (edit, text replaced, by what)
        let cases = [
            (
                remove_host("web1"),
                "web1 http_port=80   # the old one\n",
                "",
            ),
            (
                set_host("web1", "http_port", "81"),
                "http_port=80",
                "http_port=81",
            ),
            (
                set_host("web1", "rack", "a1"),
                "http_port=80",
                "http_port=80 rack=a1",
            ),
            (set_group("web", "tier", "edge"), "tier=front", "tier=edge"),
        ];
        for (change, from, to) in cases {
            let out = edit(INVENTORY, change.clone()).unwrap();
            assert_eq!(out, INVENTORY.replace(from, to), "{change:?}");
        }
        let out = edit(INVENTORY, set_group("db", "backup", "yes")).unwrap();
        assert_eq!(out, INVENTORY.to_string() + "\n[db:vars]\nbackup=yes\n");
    }

    #[test]
    fn groups_add_remove_rename() {
        let out = edit(INVENTORY, add_group("cache", Some("prod"))).unwrap();
        assert_eq!(
            out,
            INVENTORY.replace("web\ndb\n", "web\ndb\ncache\n") + "\n[cache]\n"
        );
        let out = edit(INVENTORY, rename_group("web", "front")).unwrap();
        assert_eq!(
            out,
            INVENTORY
                .replace("[web]", "[front]")
                .replace("\nweb\ndb", "\nfront\ndb")
                .replace("[web:vars]", "[front:vars]")
        );
        let err = edit(INVENTORY, remove_group("db", false))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("hosts:9:") && err.contains("--force"),
            "{err}"
        );
        let out = edit(INVENTORY, remove_group("db", true)).unwrap();
        assert_eq!(
            out,
            INVENTORY
                .replace("[db]\ndb1 ansible_port=2222\n\n", "")
                .replace("web\ndb\n", "web\n")
        );
    }

    #[test]
    fn ranges_are_refused() {
        let err = edit("[web]\nweb[1:3]\n", remove_host("web2"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("hosts:2:") && err.contains("by hand"),
            "{err}"
        );
    }

    #[test]
    fn values_read_back_as_written() {
        assert_eq!(written_value(true, "22"), Value::from(22));
        assert_eq!(written_value(true, "a b"), Value::from("a b"));
        assert_eq!(written_value(false, "22"), Value::from(22));
        assert_eq!(written_value(false, "true"), Value::from("true"));
    }
}
