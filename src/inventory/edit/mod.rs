//! Edits to an inventory file from the command line (`herd inventory add`,
//! `remove`, `group ...`, `set-var`, and `herd keys rotate`).
//!
//! The file's text is edited surgically: the lines of the node being changed
//! are located (by indentation for YAML, by section for INI) and only those
//! lines are replaced, so the user's comments, blank lines and ordering stay
//! exactly as they were. Anything the editor cannot change safely (a flow
//! mapping, a host written as a range) is refused with a message, never
//! rewritten. Every result is parsed again and must load and show the
//! change before it may be written; writes are atomic and keep the mode.

mod ini;
mod lines;
mod yaml;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Inventory, InventoryError};

/// One change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Adds a host to these groups (none: ungrouped) with these variables.
    AddHost {
        host: String,
        groups: Vec<String>,
        vars: Vec<(String, String)>,
    },
    /// Removes every entry of a host.
    RemoveHost { host: String },
    /// Adds an empty group, under `parent` when given.
    AddGroup {
        group: String,
        parent: Option<String>,
    },
    /// Removes a group; one with hosts, children or vars only with `force`.
    RemoveGroup { group: String, force: bool },
    /// Renames a group everywhere it is defined or listed as a child.
    RenameGroup { from: String, to: String },
    /// Lists an existing host in a group too.
    AddHostToGroup { group: String, host: String },
    /// Sets a variable on a host or a group, as the text `value` (a YAML
    /// scalar, or an INI value) would be read.
    SetVar {
        target: VarTarget,
        key: String,
        value: String,
    },
}

/// Where a variable is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarTarget {
    Host(String),
    Group(String),
}

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    RefusedAt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: the edited inventory would not load, nothing was written: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: Box<InventoryError>,
    },
    #[error("{}: the edited inventory does not show the change ({what}), nothing was written; please report this", path.display())]
    Unverified { path: PathBuf, what: String },
    /// The file to edit cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

/// One step of an edit: done, or refused.
type Step = Result<(), EditError>;

/// One format's edits on a document's text; [`dispatch`] maps an [`Edit`]
/// to them, after the checks both formats share.
trait Editor<'a>: Sized {
    /// The document `text`, read from `path`.
    fn open(path: &'a Path, text: &str) -> Self;
    /// The file, for messages.
    fn path(&self) -> &Path;
    /// The file's line (0-based) of the document's first line: 0 but for
    /// a part cut out of the file.
    fn first_line(&self) -> usize {
        0
    }
    /// The first line that lists `host`; an error when a range lists it.
    fn host_line(&self, host: &str) -> Result<Option<usize>, EditError>;
    fn add_host(&mut self, host: &str, groups: &[String], vars: &[(String, String)]) -> Step;
    fn remove_host(&mut self, host: &str) -> Step;
    fn add_group(&mut self, group: &str, parent: Option<&str>) -> Step;
    /// `group` is not built in.
    fn remove_group(&mut self, group: &str, force: bool) -> Step;
    fn rename_group(&mut self, from: &str, to: &str) -> Step;
    /// `host` is in the document.
    fn add_host_to_group(&mut self, group: &str, host: &str) -> Step;
    fn set_host_var(&mut self, host: &str, key: &str, value: &str) -> Step;
    fn set_group_var(&mut self, group: &str, key: &str, value: &str) -> Step;
    /// Sets variables on many hosts in one pass over the document (`herd
    /// keys rotate` on thousands of hosts): `(host, key, value)`.
    fn set_host_vars(&mut self, sets: &[(&str, &str, &str)]) -> Step;
    /// The document's text now.
    fn text(&self) -> String;

    fn refused(&self, message: String) -> EditError {
        EditError::Refused {
            path: self.path().to_path_buf(),
            message,
        }
    }

    /// `line` is 0-based in the document; messages count from 1 in the file.
    fn at(&self, line: usize, message: String) -> EditError {
        EditError::RefusedAt {
            path: self.path().to_path_buf(),
            line: self.first_line() + line + 1,
            message,
        }
    }

    fn no_host(&self, host: &str) -> EditError {
        self.refused(format!("no host `{host}` in this file"))
    }
}

/// Applies `edit` with `editor`.
fn dispatch<'a>(editor: &mut impl Editor<'a>, edit: &Edit) -> Step {
    match edit {
        Edit::AddHost { host, groups, vars } => {
            if let Some(line) = editor.host_line(host)? {
                return Err(editor.at(
                    line,
                    format!(
                        "host `{host}` is already here; use `herd inventory group add-host` or `set-var`"
                    ),
                ));
            }
            editor.add_host(host, groups, vars)
        }
        Edit::RemoveHost { host } => editor.remove_host(host),
        Edit::AddGroup { group, parent } => editor.add_group(group, parent.as_deref()),
        Edit::RemoveGroup { group, force } => {
            if group == "all" || group == "ungrouped" {
                return Err(editor.refused(format!("`{group}` is built in and cannot be removed")));
            }
            editor.remove_group(group, *force)
        }
        Edit::RenameGroup { from, to } => editor.rename_group(from, to),
        Edit::AddHostToGroup { group, host } => {
            if editor.host_line(host)?.is_none() {
                return Err(editor.no_host(host));
            }
            editor.add_host_to_group(group, host)
        }
        Edit::SetVar { target, key, value } => match target {
            VarTarget::Host(host) => editor.set_host_var(host, key, value),
            VarTarget::Group(group) => editor.set_group_var(group, key, value),
        },
    }
}

/// The text after `edits`, made by the editor `E` on `text` (from `path`).
fn edit_text<'a, E: Editor<'a>>(
    path: &'a Path,
    text: &str,
    edits: &[Edit],
) -> Result<String, EditError> {
    // Host variables alone (a key rotation over many hosts) go in one
    // pass over the file: edit by edit would be quadratic.
    let host_vars: Option<Vec<(&str, &str, &str)>> = edits
        .iter()
        .map(|e| match e {
            Edit::SetVar {
                target: VarTarget::Host(h),
                key,
                value,
            } => Some((h.as_str(), key.as_str(), value.as_str())),
            _ => None,
        })
        .collect();
    match host_vars {
        Some(sets) if sets.len() > 1 => {
            let mut doc = E::open(path, text);
            doc.set_host_vars(&sets)?;
            Ok(doc.text())
        }
        _ => edits.iter().try_fold(text.to_string(), |text, edit| {
            let mut doc = E::open(path, &text);
            dispatch(&mut doc, edit)?;
            Ok(doc.text())
        }),
    }
}

/// The two text formats herd can edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Yaml,
    Ini,
}

/// An inventory file read for editing.
#[derive(Debug)]
pub struct InventoryFile {
    pub path: PathBuf,
    pub format: FileFormat,
    pub text: String,
}

impl InventoryFile {
    /// Reads `path`, refusing directories, scripts and CRLF files.
    pub fn open(path: &Path) -> Result<InventoryFile, EditError> {
        let refused = |message: String| EditError::Refused {
            path: path.to_path_buf(),
            message,
        };
        if path.is_dir() {
            return Err(refused(
                "is a directory: choose the file to edit with --file DIR/FILE".into(),
            ));
        }
        let bytes = std::fs::read(path).map_err(|source| EditError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if super::script::is_script(path, &bytes) {
            return Err(refused(
                "is a dynamic inventory script; edit its data source instead".into(),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|_| refused("is not UTF-8 text".into()))?;
        if text.contains('\r') {
            return Err(refused(
                "has Windows (CRLF) line endings, which herd does not edit; convert it with dos2unix first".into(),
            ));
        }
        let format = if super::source::looks_like_yaml(path, &text) {
            FileFormat::Yaml
        } else {
            FileFormat::Ini
        };
        Ok(InventoryFile {
            path: path.to_path_buf(),
            format,
            text,
        })
    }

    /// The text after `edits`, checked: it loads, and shows every change.
    pub fn apply(&self, edits: &[Edit]) -> Result<String, EditError> {
        let text = match self.format {
            FileFormat::Yaml => edit_text::<yaml::Doc>(&self.path, &self.text, edits)?,
            FileFormat::Ini => edit_text::<ini::Doc>(&self.path, &self.text, edits)?,
        };
        let inventory = self.load(&text)?;
        for edit in edits {
            self.verify(&inventory, edit)?;
        }
        if let Ok(before) = self.load(&self.text) {
            self.verify_rest_unchanged(&before, &inventory, edits)?;
        }
        Ok(text)
    }

    /// Hosts and groups no edit names keep their variables (and, unless
    /// groups were removed or renamed, their groups): a splice in the wrong
    /// place is caught here rather than written.
    fn verify_rest_unchanged(
        &self,
        before: &Inventory,
        after: &Inventory,
        edits: &[Edit],
    ) -> Result<(), EditError> {
        let mut hosts: HashSet<&str> = HashSet::new();
        let mut groups: HashSet<&str> = HashSet::new();
        let mut regrouped = false;
        for edit in edits {
            match edit {
                Edit::AddHost {
                    host, groups: g, ..
                } => {
                    hosts.insert(host);
                    groups.extend(g.iter().map(String::as_str));
                }
                Edit::RemoveHost { host } => {
                    hosts.insert(host);
                }
                Edit::AddGroup { group, parent } => {
                    groups.insert(group);
                    groups.extend(parent.as_deref());
                }
                Edit::RemoveGroup { group, .. } => {
                    groups.insert(group);
                    regrouped = true;
                }
                Edit::RenameGroup { from, to } => {
                    groups.extend([from.as_str(), to.as_str()]);
                    regrouped = true;
                }
                Edit::AddHostToGroup { group, host } => {
                    hosts.insert(host);
                    groups.insert(group);
                }
                Edit::SetVar { target, .. } => match target {
                    VarTarget::Host(h) => {
                        hosts.insert(h);
                    }
                    VarTarget::Group(g) => {
                        groups.insert(g);
                    }
                },
            }
        }
        let changed = |what: String| EditError::Unverified {
            path: self.path.clone(),
            what: format!("{what} would change too"),
        };
        for (host, vars) in &before.hosts {
            // A forced group removal takes the hosts only it listed.
            if hosts.contains(host.as_str()) || (regrouped && !after.contains_host(host)) {
                continue;
            }
            if after.hosts.get(host) != Some(vars) {
                return Err(changed(format!("host {host}")));
            }
            if !regrouped && after.host_groups(host) != before.host_groups(host) {
                return Err(changed(format!("the groups of {host}")));
            }
        }
        for (group, g) in &before.groups {
            if groups.contains(group.as_str()) {
                continue;
            }
            if after.groups.get(group).map(|a| &a.vars) != Some(&g.vars) {
                return Err(changed(format!("group {group}")));
            }
        }
        Ok(())
    }

    /// Loads `text` as this file would load.
    pub fn load(&self, text: &str) -> Result<Inventory, EditError> {
        let loaded = match self.format {
            FileFormat::Yaml => Inventory::from_yaml_str(text, &self.path),
            FileFormat::Ini => Inventory::from_ini_str(text, &self.path),
        };
        loaded.map_err(|source| EditError::Invalid {
            path: self.path.clone(),
            source: Box::new(source),
        })
    }

    fn verify(&self, inv: &Inventory, edit: &Edit) -> Result<(), EditError> {
        let in_group = |host: &str, group: &str| inv.host_groups(host).iter().any(|g| g == group);
        let (ok, what) = match edit {
            Edit::AddHost { host, groups, vars } => (
                inv.contains_host(host)
                    && groups.iter().all(|g| in_group(host, g))
                    && vars
                        .iter()
                        .all(|(k, v)| file_host_var(inv, host, k) == Some(&self.expected(true, v))),
                format!("host {host}"),
            ),
            Edit::RemoveHost { host } => (!inv.contains_host(host), format!("host {host} removed")),
            Edit::AddGroup { group, parent } => (
                inv.contains_group(group)
                    && parent.as_ref().is_none_or(|p| {
                        inv.graph(p)
                            .is_some_and(|t| t.children.iter().any(|c| &c.name == group))
                    }),
                format!("group {group}"),
            ),
            Edit::RemoveGroup { group, .. } => {
                (!inv.contains_group(group), format!("group {group} removed"))
            }
            Edit::RenameGroup { from, to } => (
                inv.contains_group(to) && !inv.contains_group(from),
                format!("group {from} renamed to {to}"),
            ),
            Edit::AddHostToGroup { group, host } => {
                (in_group(host, group), format!("{host} in group {group}"))
            }
            Edit::SetVar { target, key, value } => {
                let (found, name) = match target {
                    VarTarget::Host(h) => (file_host_var(inv, h, key), h),
                    VarTarget::Group(g) => {
                        (inv.groups.get(g.as_str()).and_then(|g| g.vars.get(key)), g)
                    }
                };
                let is_host = matches!(target, VarTarget::Host(_));
                (
                    found == Some(&self.expected(is_host, value)),
                    format!("{key} on {name}"),
                )
            }
        };
        if ok {
            Ok(())
        } else {
            Err(EditError::Unverified {
                path: self.path.clone(),
                what,
            })
        }
    }

    /// The value `text` is read as when written by this editor.
    fn expected(&self, on_host: bool, text: &str) -> Value {
        match self.format {
            FileFormat::Yaml => yaml::scalar_value(text),
            FileFormat::Ini => ini::written_value(on_host, text),
        }
    }

    /// Replaces the file with `text` atomically (temp file + rename),
    /// keeping its permissions.
    pub fn write(&self, text: &str) -> Result<(), EditError> {
        write_atomic(&self.path, text.as_bytes()).map_err(|source| EditError::Io {
            path: self.path.clone(),
            action: "cannot write",
            source,
        })
    }
}

fn file_host_var<'a>(inv: &'a Inventory, host: &str, key: &str) -> Option<&'a Value> {
    inv.hosts.get(host).and_then(|vars| vars.get(key))
}

/// Writes `bytes` to a temp file beside `path`, then renames it over
/// `path`: readers see the old file or the new one, never half of it. The
/// new file gets the old one's mode (0600 for a new file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.herd-tmp-{}", std::process::id()));
    crate::atomic::write_via_temp(&tmp, path, bytes, mode)
}

/// A name the editor accepts for a host, group or variable: no spaces,
/// quotes, `=`, `#`, brackets or other characters that would need quoting
/// in one of the formats.
pub fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with(['-', '@', '!', '&', '~', '*'])
        || name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '"' | '\'' | '=' | '#' | ';' | ',' | '{' | '}' | '[' | ']' | '`' | '\\'
                )
        });
    // Host and group names become file and directory names (fetch's
    // dest/<host>/, backups, group_vars/<group>.yml).
    let path_like = name == "." || name == ".." || name.contains('/');
    if bad || path_like {
        Err(format!(
            "`{name}` is not a valid {kind} name: use letters, digits, `.`, `_`, `-` and `:` (not `/`, and not `.` or `..` alone)"
        ))
    } else {
        Ok(())
    }
}

crate::exit::code!(EditError, |err| match err {
    EditError::Io { .. } => crate::exit::ERROR,
    _ => crate::exit::BAD_INPUT,
});

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Short constructors for the format tests.
    pub(in crate::inventory::edit) mod build {
        use super::super::{Edit, VarTarget};

        pub fn add_host(host: &str, groups: &[&str], vars: &[(&str, &str)]) -> Edit {
            Edit::AddHost {
                host: host.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                vars: vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }
        }
        pub fn remove_host(host: &str) -> Edit {
            Edit::RemoveHost { host: host.into() }
        }
        pub fn add_group(group: &str, parent: Option<&str>) -> Edit {
            Edit::AddGroup {
                group: group.into(),
                parent: parent.map(str::to_string),
            }
        }
        pub fn remove_group(group: &str, force: bool) -> Edit {
            Edit::RemoveGroup {
                group: group.into(),
                force,
            }
        }
        pub fn rename_group(from: &str, to: &str) -> Edit {
            Edit::RenameGroup {
                from: from.into(),
                to: to.into(),
            }
        }
        pub fn set_host(host: &str, key: &str, value: &str) -> Edit {
            Edit::SetVar {
                target: VarTarget::Host(host.into()),
                key: key.into(),
                value: value.into(),
            }
        }
        pub fn set_group(group: &str, key: &str, value: &str) -> Edit {
            Edit::SetVar {
                target: VarTarget::Group(group.into()),
                key: key.into(),
                value: value.into(),
            }
        }
    }

    /// `herd keys rotate` sets a var on every host: one pass, not one per
    /// host (3,000 hosts took 20 s edit by edit in a debug build).
    #[test]
    fn many_host_vars_are_set_in_one_pass_in_both_formats() {
        let n = 3000;
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = String::from("all:\n  children:\n    web:\n      hosts:\n");
        let mut ini = String::from("[web]\n");
        for i in 0..n {
            match i % 3 {
                0 => yaml.push_str(&format!("        w{i}: {{ansible_host: 10.0.0.1}}\n")),
                1 => yaml.push_str(&format!("        w{i}:\n          port: 22   # c{i}\n")),
                _ => yaml.push_str(&format!("        w{i}:\n")),
            }
            ini.push_str(&format!("w{i} a=1   # c{i}\n"));
        }
        let edits: Vec<Edit> = (0..n)
            .map(|i| build::set_host(&format!("w{i}"), "ansible_ssh_private_key_file", "/k/new"))
            .collect();
        for (name, text) in [("inv.yml", yaml), ("hosts", ini)] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let file = InventoryFile::open(&path).unwrap();
            let started = std::time::Instant::now();
            let out = file.apply(&edits).unwrap();
            assert!(
                started.elapsed().as_secs() < 10,
                "{name}: {:?}",
                started.elapsed()
            );
            assert_eq!(out.matches("/k/new").count(), n, "{name}");
            // Comments stay, one per host.
            assert_eq!(
                out.matches("   # c").count(),
                text.matches("   # c").count()
            );
            let inv = file.load(&out).unwrap();
            assert_eq!(inv.host_names().count(), n);
        }
    }

    #[test]
    fn atomic_write_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn names_that_need_quoting_are_refused() {
        assert!(check_name("host", "web01.example.com").is_ok());
        assert!(check_name("host", "[::1]").is_err());
        assert!(check_name("group", "a b").is_err());
        assert!(check_name("group", "").is_err());
        for name in ["../../x", "a/b", "..", "."] {
            assert!(check_name("host", name).is_err(), "{name}");
        }
    }

    #[test]
    fn a_change_that_does_not_load_is_not_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.yml");
        std::fs::write(&path, "all:\n  hosts:\n    a:\n").unwrap();
        let file = InventoryFile::open(&path).unwrap();
        let err = file.load("all:\n  hostz:\n").unwrap_err().to_string();
        assert!(err.contains("would not load"), "{err}");
    }
}
