//! A YAML tree where every node and every mapping key knows its line and
//! column, so validation after parsing can still say `site.yml:14:7`.
//!
//! Built from the parser events of granit-parser (re-exported by
//! serde-saphyr) rather than through serde, because Ansible reads YAML 1.1
//! the way PyYAML does and that needs the scalar's quoting style: plain
//! `yes`/`no`/`on`/`off` are booleans but `y`/`n` and quoted `"yes"` are
//! strings. Differences from PyYAML, on purpose:
//! - plain integers with a leading zero (`mode: 0644`) stay the string
//!   `"0644"` instead of becoming octal 420: modules read modes as octal
//!   strings, and the value survives templating unchanged;
//! - sexagesimal numbers (`1:30`) are strings;
//! - a key written twice in one mapping is an error, not "last one wins".

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle, Span};

use crate::yaml::{self, YamlError};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: u32,
    pub column: u32,
}

impl Mark {
    fn of(marker: &Marker) -> Mark {
        Mark {
            line: marker.line() as u32,
            column: marker.col() as u32 + 1,
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub mark: Mark,
}

/// A mapping key and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub mark: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// In source order; keys are unique.
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The value as JSON, keeping mapping order.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => Value::from(*f),
            Kind::String(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The items of a list; none for null (an empty `tasks:`).
    pub fn list_or_null(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Null => Some(&[]),
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The items of a list, or the node itself as the only item (Ansible
    /// takes `x` where it takes `[x]`).
    pub fn one_or_many(&self) -> Vec<&Node> {
        match &self.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![self],
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// What the node is, for "expected a list, found a mapping" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document (`path` is for messages). An empty file is
/// `Null`.
pub fn parse(text: &str, path: &Path) -> Result<Node, YamlError> {
    let mut builder = Builder {
        path,
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        documents: 0,
        nodes: 0,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            path: path.to_path_buf(),
            line: e.marker().line() as u64,
            column: e.marker().col() as u64 + 1,
            message: e.info(),
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node {
        kind: Kind::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

/// An `!unsafe` string as herd keeps it: rendering it gives back `text`.
fn unsafe_text(text: &str) -> String {
    let templated = ["{{", "{%", "{#"].iter().any(|d| text.contains(d));
    if templated && !text.contains("endraw") {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_string()
    }
}

/// A collection being built, with the anchor to register when it closes
/// and how many nodes it holds so far (itself included).
enum Open {
    Seq {
        mark: Mark,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        mark: Mark,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        size: usize,
    },
}

struct Builder<'a> {
    path: &'a Path,
    /// Anchored nodes and their size in nodes: an alias copies the whole
    /// node, so it costs that many.
    anchors: HashMap<usize, (Node, usize)>,
    stack: Vec<Open>,
    root: Option<Node>,
    documents: usize,
    /// Nodes built so far, aliases counted at their expanded size. Capped
    /// at `yaml::MAX_NODES` so nested aliases (a "billion laughs" file)
    /// fail early instead of eating all memory.
    nodes: usize,
}

impl Builder<'_> {
    fn error(&self, mark: Mark, message: impl Into<String>) -> YamlError {
        YamlError {
            path: self.path.to_path_buf(),
            line: mark.line.into(),
            column: mark.column.into(),
            message: message.into(),
        }
    }

    /// Counts `size` more nodes against the budget.
    fn spend(&mut self, size: usize, mark: Mark) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > yaml::MAX_NODES {
            return Err(self.error(mark, yaml::too_many_nodes()));
        }
        if self.stack.len() > yaml::MAX_DEPTH {
            return Err(self.error(mark, yaml::too_deep()));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let mark = Mark::of(&span.start);
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.error(
                        mark,
                        "a second YAML document (`---`); a playbook file holds one document",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| (t.handle().to_string(), t.suffix().to_string()));
                self.spend(1, mark)?;
                let kind = self.scalar(&text, style, tag, mark)?;
                let node = Node { kind, mark };
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.push(node, 1)?;
            }
            Event::SequenceStart(_, anchor, _) => {
                self.spend(1, mark)?;
                self.stack.push(Open::Seq {
                    mark,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                })
            }
            Event::MappingStart(_, anchor, _) => {
                self.spend(1, mark)?;
                self.stack.push(Open::Map {
                    mark,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    size: 1,
                })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, size) = match self.stack.pop() {
                    Some(Open::Seq {
                        mark,
                        anchor,
                        items,
                        size,
                    }) => (
                        Node {
                            kind: Kind::Seq(items),
                            mark,
                        },
                        anchor,
                        size,
                    ),
                    Some(Open::Map {
                        mark,
                        anchor,
                        entries,
                        size,
                        ..
                    }) => (
                        Node {
                            kind: Kind::Map(self.mapping(entries)?),
                            mark,
                        },
                        anchor,
                        size,
                    ),
                    None => return Ok(()),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                self.push(node, size)?;
            }
            Event::Alias(id) => {
                let size = match self.anchors.get(&id) {
                    Some((_, size)) => *size,
                    None => return Err(self.error(mark, "alias to an unknown anchor")),
                };
                // Check before copying: the copy is what would eat memory.
                self.spend(size, mark)?;
                let node = self.anchors[&id].0.clone();
                self.push(node, size)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds a finished node of `size` nodes to the open collection, or
    /// makes it the root.
    fn push(&mut self, node: Node, size: usize) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, size: s, .. }) => {
                *s += size;
                items.push(node)
            }
            Some(Open::Map {
                entries,
                key,
                size: s,
                ..
            }) => {
                *s += size;
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
        }
        Ok(())
    }

    /// Resolves a scalar as PyYAML's YAML 1.1 resolver does (see module doc).
    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<(String, String)>,
        mark: Mark,
    ) -> Result<Kind, YamlError> {
        if let Some((handle, suffix)) = tag {
            return match (handle.as_str(), suffix.as_str()) {
                ("tag:yaml.org,2002:", "str") => Ok(Kind::String(text.to_string())),
                ("tag:yaml.org,2002:", "int" | "float" | "bool" | "null") => {
                    Ok(resolve_plain(text))
                }
                // Ansible's marker for "never template this": text with
                // template syntax is wrapped in a raw block, so rendering
                // it yields the text itself.
                ("!", "unsafe") => Ok(Kind::String(unsafe_text(text))),
                ("!", "vault") => Err(self.error(
                    mark,
                    "`!vault` encrypted values are not supported; keep secrets in a herd secrets file",
                )),
                _ => Err(self.error(mark, format!("unsupported YAML tag `{handle}{suffix}`"))),
            };
        }
        Ok(match style {
            ScalarStyle::Plain => resolve_plain(text),
            _ => Kind::String(text.to_string()),
        })
    }

    /// Turns collected key/value pairs into a mapping: string keys, merge
    /// keys (`<<`) expanded, duplicates rejected.
    /// Names are looked up through indexes, so a mapping of many keys
    /// costs linear time, not quadratic.
    fn mapping(&self, entries: Vec<(Node, Node)>) -> Result<Vec<(Key, Node)>, YamlError> {
        let mut merged: Vec<(Key, Node)> = Vec::new();
        let mut merged_at: HashMap<String, usize> = HashMap::new();
        let mut own: Vec<(Key, Node)> = Vec::new();
        let mut own_at: HashMap<String, usize> = HashMap::new();
        for (key, value) in entries {
            let name = match &key.kind {
                Kind::String(s) => s.clone(),
                Kind::Null => "null".into(),
                Kind::Bool(b) => if *b { "True" } else { "False" }.into(),
                Kind::Int(i) => i.to_string(),
                Kind::Float(f) => f.to_string(),
                Kind::Seq(_) | Kind::Map(_) => {
                    return Err(self.error(key.mark, "a mapping key must be a plain value"));
                }
            };
            if name == "<<" {
                self.merge_into(&mut merged, &mut merged_at, &value)?;
                continue;
            }
            if let Some(&first) = own_at.get(&name) {
                return Err(self.error(
                    key.mark,
                    format!(
                        "duplicate key `{name}` (first at line {}); remove one",
                        own[first].0.mark.line
                    ),
                ));
            }
            own_at.insert(name.clone(), own.len());
            own.push((
                Key {
                    name,
                    mark: key.mark,
                },
                value,
            ));
        }
        // Explicit keys win over merged ones, keeping the merged position.
        for (key, value) in own {
            match merged_at.get(&key.name) {
                Some(&i) => merged[i] = (key, value),
                None => merged.push((key, value)),
            }
        }
        Ok(merged)
    }

    /// `<<: *a` or `<<: [*a, *b]`: earlier sources win over later ones.
    fn merge_into(
        &self,
        merged: &mut Vec<(Key, Node)>,
        merged_at: &mut HashMap<String, usize>,
        value: &Node,
    ) -> Result<(), YamlError> {
        let sources: Vec<&Node> = match &value.kind {
            Kind::Map(_) => vec![value],
            Kind::Seq(items) => items.iter().collect(),
            _ => {
                return Err(self.error(value.mark, "`<<` merges a mapping or a list of mappings"));
            }
        };
        for source in sources {
            let Some(entries) = source.as_map() else {
                return Err(self.error(source.mark, "`<<` merges only mappings"));
            };
            for (k, v) in entries {
                if !merged_at.contains_key(&k.name) {
                    merged_at.insert(k.name.clone(), merged.len());
                    merged.push((k.clone(), v.clone()));
                }
            }
        }
        Ok(())
    }
}

/// YAML 1.1 implicit types of a plain scalar, as PyYAML resolves them.
fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Kind::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Kind::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Kind::Int(i);
    }
    if is_float(text)
        && let Ok(f) = text.replace('_', "").parse::<f64>()
    {
        return Kind::Float(f);
    }
    Kind::String(text.to_string())
}

/// Decimal, `0x` hex and `0b` binary integers (underscores allowed after
/// the first digit). A leading zero keeps the text a string (module doc).
fn parse_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = body.strip_prefix("0x") {
        (16, hex)
    } else if let Some(bin) = body.strip_prefix("0b") {
        (2, bin)
    } else if body.len() > 1 && body.starts_with('0') {
        return None;
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with('_') {
        return None;
    }
    let value = i64::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if negative { -value } else { value })
}

/// PyYAML's float: digits, a dot, optional digits and a signed exponent
/// (`1.5`, `-2.`, `1.0e+3`, `.5`); `1e3` is a string in YAML 1.1.
fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let Some((int, frac)) = mantissa.split_once('.') else {
        return false;
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let int_ok = digits(int) && !int.starts_with('_');
    let frac_ok = digits(frac);
    let has_digit = int.chars().chain(frac.chars()).any(|c| c.is_ascii_digit());
    let exp_ok = match exponent {
        None => true,
        Some(e) => {
            e.len() > 1 && e.starts_with(['+', '-']) && e[1..].chars().all(|c| c.is_ascii_digit())
        }
    };
    int_ok && frac_ok && has_digit && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        parse(text, Path::new("t.yml")).unwrap()
    }

    #[test]
    fn keys_and_values_carry_line_and_column() {
        let doc = tree("- name: x\n  copy:\n    dest: /tmp\n");
        let task = &doc.as_seq().unwrap()[0];
        let (key, value) = &task.as_map().unwrap()[1];
        assert_eq!(key.name, "copy");
        assert_eq!(key.mark, Mark { line: 2, column: 3 });
        let (dest, path) = &value.as_map().unwrap()[0];
        assert_eq!(dest.mark, Mark { line: 3, column: 5 });
        assert_eq!(
            path.mark,
            Mark {
                line: 3,
                column: 11
            }
        );
    }

    #[test]
    fn scalars_resolve_as_yaml_1_1() {
        let doc = tree(
            "a: yes\nb: 'yes'\nc: y\nd: Off\ne: 0644\nf: 12\ng: 1.5\nh: 1e3\ni: ~\nj: 0x1f\nk: -3\nl: True\n",
        );
        let json = doc.to_json();
        assert_eq!(json["a"], true);
        assert_eq!(json["b"], "yes");
        assert_eq!(json["c"], "y");
        assert_eq!(json["d"], false);
        assert_eq!(json["e"], "0644");
        assert_eq!(json["f"], 12);
        assert_eq!(json["g"], 1.5);
        assert_eq!(json["h"], "1e3");
        assert_eq!(json["i"], Value::Null);
        assert_eq!(json["j"], 31);
        assert_eq!(json["k"], -3);
        assert_eq!(json["l"], true);
    }

    #[test]
    fn unsafe_strings_render_to_themselves() {
        let json = tree("a: !unsafe '{{ x }}'\nb: !unsafe plain\n").to_json();
        assert_eq!(json["a"], "{% raw %}{{ x }}{% endraw %}");
        assert_eq!(json["b"], "plain");
        let t = crate::template::Templates::new();
        let out = t
            .render_value(&json["a"], &crate::template::Vars::new())
            .unwrap();
        assert_eq!(out, "{{ x }}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc =
            tree("base: &b {user: web, port: 80}\nother: *b\nmerged:\n  <<: *b\n  port: 8080\n");
        let json = doc.to_json();
        assert_eq!(json["other"]["user"], "web");
        assert_eq!(json["merged"]["user"], "web");
        assert_eq!(json["merged"]["port"], 8080);
        let keys: Vec<_> = json["merged"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["user", "port"]);
    }

    #[test]
    fn nested_aliases_stop_at_the_node_budget() {
        let mut text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text, Path::new("b.yml")).unwrap_err();
        // a5 holds a million strings: the first past the budget.
        assert_eq!(err.line, 6, "{err}");
        assert!(err.message.contains("alias bomb"), "{err}");
        // A few aliases of a small anchor are fine.
        assert!(parse("a: &a [1, 2]\nb: [*a, *a, *a]\n", Path::new("ok.yml")).is_ok());
    }

    #[test]
    fn a_mapping_of_many_keys_loads_in_linear_time() {
        // Quadratic duplicate checks took minutes here; linear takes ~1 s
        // in a debug build.
        let text: String = (0..120_000).map(|i| format!("k{i}: {i}\n")).collect();
        let started = std::time::Instant::now();
        let doc = parse(&text, Path::new("big.yml")).unwrap();
        assert_eq!(doc.as_map().unwrap().len(), 120_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let err = parse(&deep, Path::new("d.yml")).unwrap_err();
        assert!(err.message.contains("nested"), "{err}");
    }

    #[test]
    fn map_order_is_kept() {
        let json = tree("z: 1\na: 2\nm: 3\n").to_json();
        let keys: Vec<_> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: 3\n", Path::new("bad.yml")).unwrap_err();
        assert!(err.line >= 1, "{err}");
        assert!(err.to_string().starts_with("bad.yml:"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n", Path::new("d.yml")).unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.message.contains("duplicate key `a`"), "{err}");
    }

    #[test]
    fn empty_document_is_null() {
        assert!(tree("").is_null());
        assert!(tree("# only a comment\n").is_null());
    }

    #[test]
    fn vault_tag_is_rejected() {
        let err = parse("pw: !vault |\n  $ANSIBLE_VAULT;1.1\n", Path::new("v.yml")).unwrap_err();
        assert!(err.message.contains("vault"), "{err}");
    }
}
