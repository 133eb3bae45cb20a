//! Ansible's rule for what a dynamic `include_tasks` may contain.
//!
//! Ansible fails on an unknown module in the play's own tasks and in a
//! static `import_tasks` when it loads the playbook, but reads a file
//! named by `include_tasks` only when a host reaches that task. Roles
//! rely on it: `include_tasks: setup-RedHat.yml` behind `when:
//! ansible_os_family == 'RedHat'` may call modules that a Debian fleet
//! never needs. herd still reads every such file up front (typos and
//! syntax errors stay errors at load), but an unsupported module in one is
//! a warning at load, naming its file:line and the include's condition;
//! the task becomes a failure for a host that reaches it, with the same
//! message, and other hosts go on.
//!
//! While a dynamically included file is loaded (at load time, or by the
//! engine at run time), [`enter`] marks the thread as inside one.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

thread_local! {
    /// Where the includes being loaded come from, outermost first.
    static ORIGINS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Warnings already given (the engine loads an included file again).
static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Marks the thread as loading a dynamically included file until dropped.
pub(crate) struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        ORIGINS.with(|o| o.borrow_mut().pop());
    }
}

/// `origin` says where the include is and when it applies
/// (`site.yml:12:7, when: ansible_os_family == 'RedHat'`).
pub(crate) fn enter(origin: String) -> Inside {
    ORIGINS.with(|o| o.borrow_mut().push(origin));
    Inside(())
}

/// The include the current file is loaded for, if any.
pub(crate) fn origin() -> Option<String> {
    ORIGINS.with(|o| o.borrow().last().cloned())
}

/// Says `message` (about `location`) once per run.
pub(crate) fn warn_once(location: &str, message: &str) {
    let Ok(mut warned) = WARNED.lock() else {
        return;
    };
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(location.to_string())
    {
        tracing::warn!("{message}");
    }
}

/// The include's description for messages.
pub(crate) fn describe(location: &str, when: &[String]) -> String {
    if when.is_empty() {
        format!("include_tasks at {location}")
    } else {
        format!("include_tasks at {location}, when: {}", when.join(" and "))
    }
}

/// The files a templated include could name, as they exist now:
/// `setup-{{ ansible_os_family }}.yml` matches `setup-*.yml` beside the
/// including file and in its role's `tasks/`.
pub(crate) fn candidates(file: &str, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut pattern = String::new();
    let mut rest = file;
    while let Some(start) = rest.find("{{") {
        pattern.push_str(&glob::Pattern::escape(&rest[..start]));
        pattern.push('*');
        rest = match rest[start..].find("}}") {
            Some(end) => &rest[start + end + 2..],
            None => "",
        };
    }
    pattern.push_str(&glob::Pattern::escape(rest));
    // `{{ x }}/main.yml` must not wander up the tree.
    if pattern.starts_with('*') && pattern.contains('/') {
        return Vec::new();
    }
    let mut found = Vec::new();
    for dir in dirs {
        let full = Path::new(dir).join(&pattern);
        let Ok(paths) = glob::glob(&full.to_string_lossy()) else {
            continue;
        };
        for path in paths.flatten() {
            if path.is_file() && !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_names_match_the_files_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "setup-Debian.yml",
            "setup-RedHat.yml",
            "other.yml",
            "setup-x.yaml",
        ] {
            std::fs::write(dir.path().join(f), "[]").unwrap();
        }
        let found = candidates(
            "setup-{{ ansible_os_family }}.yml",
            &[dir.path().to_path_buf()],
        );
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["setup-Debian.yml", "setup-RedHat.yml"]);
        assert!(candidates("{{ x }}/main.yml", &[dir.path().to_path_buf()]).is_empty());
    }
}
