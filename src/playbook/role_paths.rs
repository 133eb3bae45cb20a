//! Where a role named in a playbook is found, as Ansible looks.
//!
//! A name with a `/` is a path (relative to the playbook). A collection
//! role, `namespace.collection.role`, is
//! `<path>/ansible_collections/<namespace>/<collection>/roles/<role>` for
//! each collections path: `collections/` beside the playbook, then
//! `ANSIBLE_COLLECTIONS_PATH`, else ansible.cfg's `collections_path`, else
//! `~/.ansible/collections:/usr/share/ansible/collections`. Any other name
//! is looked up in `roles/` beside the playbook, beside the role that
//! depends on it, then the roles path (`ANSIBLE_ROLES_PATH`, else
//! ansible.cfg's `roles_path`, else Ansible's default
//! `~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles`), then
//! the playbook's own directory. As in Ansible, a configured roles path
//! replaces the default one rather than adding to it.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// ansible.cfg's roles_path and collections_path (empty: not set).
static CONFIGURED: RwLock<(Vec<PathBuf>, Vec<PathBuf>)> = RwLock::new((Vec::new(), Vec::new()));

/// Takes ansible.cfg's `roles_path` and `collections_path` (already
/// resolved against the file's directory).
pub fn set_config_role_paths(roles: Vec<PathBuf>, collections: Vec<PathBuf>) {
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = (roles, collections);
    }
}

/// The role directory, or the places looked in.
pub(crate) fn find(
    name: &str,
    play_dir: &Path,
    dependent_of: Option<&Path>,
) -> Result<PathBuf, Vec<PathBuf>> {
    let mut candidates = Vec::new();
    if name.contains('/') {
        candidates.push(play_dir.join(name));
    } else if let Some((namespace, collection, role)) = collection_role(name) {
        for base in collections_path(play_dir) {
            candidates.push(
                base.join("ansible_collections")
                    .join(namespace)
                    .join(collection)
                    .join("roles")
                    .join(role),
            );
        }
    } else {
        candidates.push(play_dir.join("roles").join(name));
        if let Some(siblings) = dependent_of.and_then(Path::parent) {
            candidates.push(siblings.join(name));
        }
        candidates.extend(roles_path().into_iter().map(|p| p.join(name)));
        candidates.push(play_dir.join(name));
    }
    let mut seen = Vec::new();
    candidates.retain(|c| {
        let new = !seen.contains(c);
        seen.push(c.clone());
        new
    });
    match candidates.iter().find(|c| c.is_dir()) {
        Some(found) => Ok(found.clone()),
        None => Err(candidates),
    }
}

/// `ns.coll.role`: three dot-separated identifiers.
pub(crate) fn collection_role(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.split('.');
    let (ns, coll, role) = (parts.next()?, parts.next()?, parts.next()?);
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    (parts.next().is_none() && ident(ns) && ident(coll) && ident(role)).then_some((ns, coll, role))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn env_paths(var: &str) -> Option<Vec<PathBuf>> {
    let value = std::env::var_os(var).filter(|v| !v.is_empty())?;
    let home = home();
    Some(
        std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| match (p.strip_prefix("~"), &home) {
                (Ok(rest), Some(home)) => home.join(rest),
                _ => p,
            })
            .collect(),
    )
}

/// `ANSIBLE_ROLES_PATH`, else ansible.cfg's roles_path, else the default.
fn roles_path() -> Vec<PathBuf> {
    if let Some(paths) = env_paths("ANSIBLE_ROLES_PATH") {
        return paths;
    }
    let configured = CONFIGURED.read().map(|c| c.0.clone()).unwrap_or_default();
    if !configured.is_empty() {
        return configured;
    }
    let mut paths: Vec<PathBuf> = home()
        .map(|h| h.join(".ansible/roles"))
        .into_iter()
        .collect();
    paths.push("/usr/share/ansible/roles".into());
    paths.push("/etc/ansible/roles".into());
    paths
}

/// `collections/` beside the playbook, then the configured or default
/// collections path. An entry naming an `ansible_collections` directory
/// itself means its parent, as in Ansible.
fn collections_path(play_dir: &Path) -> Vec<PathBuf> {
    let configured = env_paths("ANSIBLE_COLLECTIONS_PATH")
        .or_else(|| env_paths("ANSIBLE_COLLECTIONS_PATHS"))
        .or_else(|| {
            let c = CONFIGURED.read().map(|c| c.1.clone()).unwrap_or_default();
            (!c.is_empty()).then_some(c)
        })
        .unwrap_or_else(|| {
            let mut paths: Vec<PathBuf> = home()
                .map(|h| h.join(".ansible/collections"))
                .into_iter()
                .collect();
            paths.push("/usr/share/ansible/collections".into());
            paths
        });
    std::iter::once(play_dir.join("collections"))
        .chain(configured)
        .map(|p| {
            if p.file_name().is_some_and(|n| n == "ansible_collections") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_three_identifiers() {
        assert_eq!(
            collection_role("community.general.foo"),
            Some(("community", "general", "foo"))
        );
        assert_eq!(collection_role("geerlingguy.docker"), None);
        assert_eq!(collection_role("a.b.c.d"), None);
        assert_eq!(collection_role("a..c"), None);
    }
}
