//! `group_vars/` and `host_vars/` beside an inventory source (beside the
//! file, or inside the directory when the source is a directory).
//!
//! For an entity `web`, Ansible's candidates are `web`, `web.yml`,
//! `web.yaml` and `web.json`, each either a file or a directory whose files
//! (recursively, sorted, skipping hidden and `~` backups, only those
//! extensions or none) are merged in order. Files for groups or hosts the
//! inventory does not have are ignored, as in Ansible.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::model::Finished;
use super::{InventoryError, Vars};

const EXTENSIONS: &[&str] = &["", ".yml", ".yaml", ".json"];

/// Encrypted candidates (`db.yml.age`), decrypted in memory while loading.
const ENCRYPTED: &[&str] = &[".yml.age", ".yaml.age", ".json.age"];

/// The vars files found beside one inventory source, by group/host index.
#[derive(Debug, Default)]
pub(crate) struct VarsLayer {
    pub groups: HashMap<usize, Vars>,
    pub hosts: HashMap<usize, Vars>,
}

/// Reads `base/group_vars` and `base/host_vars` for every known entity.
pub(crate) fn load(base: &Path, inventory: &Finished) -> Result<VarsLayer, InventoryError> {
    Ok(VarsLayer {
        groups: load_kind(&base.join("group_vars"), inventory.groups.keys())?,
        hosts: load_kind(&base.join("host_vars"), inventory.hosts.keys())?,
    })
}

fn load_kind<'a>(
    dir: &Path,
    names: impl Iterator<Item = &'a String>,
) -> Result<HashMap<usize, Vars>, InventoryError> {
    let mut found = HashMap::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    // One directory listing instead of four stats per host: 10,000 hosts
    // would otherwise mean 40,000 system calls.
    let present: HashSet<String> = std::fs::read_dir(dir)
        .map_err(|source| read_error(dir, source))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for (index, name) in names.enumerate() {
        let mut vars = None;
        for ext in EXTENSIONS.iter().chain(ENCRYPTED) {
            let file = format!("{name}{ext}");
            if !present.contains(&file) {
                continue;
            }
            let path = dir.join(&file);
            let merged: &mut Vars = vars.get_or_insert_with(Vars::new);
            if path.is_dir() {
                for file in dir_files(&path)? {
                    merged.extend(read_vars_file(&file)?);
                }
            } else {
                merged.extend(read_vars_file(&path)?);
            }
        }
        if let Some(vars) = vars {
            found.insert(index, vars);
        }
    }
    Ok(found)
}

/// The entries of a vars directory (`group_vars/web/`, a role's
/// `defaults/main/`) that Ansible reads, with their file names: sorted,
/// hidden files and backups (`x~`) left out.
pub fn vars_dir_entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries
        .into_iter()
        .filter_map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let skipped = name.starts_with('.') || name.ends_with('~');
            (!skipped).then_some((path, name))
        })
        .collect())
}

/// Vars files inside a `group_vars/web/` directory, sorted, recursively.
fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let entries = vars_dir_entries(dir).map_err(|source| read_error(dir, source))?;
    let mut files = Vec::new();
    for (path, name) in entries {
        if path.is_dir() {
            files.extend(dir_files(&path)?);
        } else {
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            let encrypted = ENCRYPTED.iter().any(|e| name.ends_with(e));
            if EXTENSIONS.contains(&ext.as_str()) || encrypted {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// A vars file: a YAML (or JSON) mapping of names to values; empty is fine.
/// A `*.age` file is decrypted in memory and its values become secrets.
fn read_vars_file(path: &Path) -> Result<Vars, InventoryError> {
    let (text, encrypted) = crate::secrets::read_vars_text(path)?;
    crate::secrets::parse_vars(&text, path, encrypted).map_err(|source| InventoryError::Yaml {
        source,
        hint: "a group_vars/host_vars file must be a mapping of variable names to values",
    })
}

fn read_error(path: &Path, source: std::io::Error) -> InventoryError {
    InventoryError::Read {
        path: path.to_path_buf(),
        source,
    }
}
