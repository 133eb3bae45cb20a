//! One inventory source (an `-i` path): a YAML or INI file, an executable
//! dynamic-inventory script, or a directory of those.
//!
//! Directories are read like Ansible: entries in sorted order, recursing
//! into subdirectories, skipping hidden entries, `group_vars`, `host_vars`,
//! `vars_plugins`, and Ansible's default ignored extensions
//! (`~ .orig .bak .cfg .retry .pyc .pyo .swp .rpm .md .txt .rst`).

use std::path::Path;

use super::model::Graph;
use super::script::ScriptLimits;
use super::{InventoryError, ini, script, yaml};

const IGNORED_SUFFIXES: &[&str] = &[
    "~", ".orig", ".bak", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".rpm", ".md", ".txt", ".rst",
];
const IGNORED_NAMES: &[&str] = &["group_vars", "host_vars", "vars_plugins"];

/// Adds the source at `path` to `graph`.
pub(crate) fn load(
    path: &Path,
    graph: &mut Graph,
    limits: &ScriptLimits,
) -> Result<(), InventoryError> {
    let read_error = |source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => InventoryError::NotFound {
            path: path.to_path_buf(),
        },
        _ => read_error(source),
    })?;
    if meta.is_dir() {
        return load_dir(path, graph, limits);
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    if script::is_script(path, &bytes) {
        // What a script prints is data, like host output: never a template.
        let before = graph.snapshot();
        script::load(path, graph, limits)?;
        graph.mark_data_since(&before);
        return Ok(());
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text (and not an executable script)",
        ))
    })?;
    if looks_like_yaml(path, &text) {
        yaml::load(&text, path, graph)
    } else {
        ini::load(&text, path, graph)
    }
}

fn load_dir(dir: &Path, graph: &mut Graph, limits: &ScriptLimits) -> Result<(), InventoryError> {
    let read_error = |source| InventoryError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ignored = name.starts_with('.')
            || IGNORED_NAMES.contains(&name.as_str())
            || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s));
        if !ignored {
            load(&entry, graph, limits)?;
        }
    }
    Ok(())
}

/// YAML by extension (`.yml`, `.yaml`, `.json`), else by content: the first
/// meaningful line of an INI file is a `[section]` or a host, while a YAML
/// inventory starts with `---`, `{` or a `group:` key.
pub(crate) fn looks_like_yaml(path: &Path, text: &str) -> bool {
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        match ext {
            "yml" | "yaml" | "json" => return true,
            "ini" => return false,
            _ => {}
        }
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    match first {
        None => false,
        Some(line) => line.starts_with("---") || line.starts_with('{') || line.ends_with(':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_detection() {
        assert!(looks_like_yaml(Path::new("hosts"), "# c\nall:\n  hosts:\n"));
        assert!(looks_like_yaml(Path::new("hosts"), "---\nweb:\n"));
        assert!(!looks_like_yaml(
            Path::new("hosts"),
            "mail.example.com\n[web]\n"
        ));
        assert!(!looks_like_yaml(Path::new("hosts"), "[web]\n"));
        assert!(looks_like_yaml(Path::new("h.yml"), "[web]\n"));
    }
}
