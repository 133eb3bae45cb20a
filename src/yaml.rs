//! The one place herd parses YAML. serde_yaml is deprecated upstream; we use
//! serde-saphyr (no unsafe of its own, line/column in every error) behind
//! this wrapper so the choice can change in one file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A YAML document that could not be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub struct YamlError {
    pub path: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: invalid YAML: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        } else {
            write!(f, "{}: invalid YAML: {}", self.path.display(), self.message)
        }
    }
}

/// The most nodes one YAML document may hold once its aliases are
/// expanded, and how deep it may nest: serde-saphyr's default budget, which
/// every herd YAML file (inventory, vars, playbook, role, `-e`) shares so a
/// few hundred bytes of nested aliases cannot eat all memory.
pub const MAX_NODES: usize = 250_000;
pub const MAX_DEPTH: usize = 64;

/// The message when a document passes `MAX_NODES`.
pub fn too_many_nodes() -> String {
    format!(
        "more than {MAX_NODES} values once aliases (`*name`) are expanded; \
         nested aliases multiply (a YAML \"alias bomb\"): use fewer aliases or split the file"
    )
}

/// The message when a document nests deeper than `MAX_DEPTH`.
pub fn too_deep() -> String {
    format!("lists and mappings nested more than {MAX_DEPTH} deep")
}

/// Parses `text` (read from `path`, used only for messages) into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, YamlError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: MAX_NODES,
            max_depth: MAX_DEPTH,
        },
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = match innermost(&e) {
            serde_saphyr::Error::Budget {
                breach: serde_saphyr::budget::BudgetBreach::Nodes { .. },
                ..
            } => too_many_nodes(),
            serde_saphyr::Error::Budget {
                breach: serde_saphyr::budget::BudgetBreach::Depth { .. },
                ..
            } => too_deep(),
            _ => first_line(&e.to_string()),
        };
        YamlError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

/// The error under serde-saphyr's snippet and alias wrappers.
fn innermost(mut e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = e
    {
        e = error;
    }
    e
}

/// Serialises `value` as a YAML document, ending with a newline.
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    let mut text = serde_saphyr::to_string(value).map_err(|e| e.to_string())?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// serde-saphyr renders a multi-line snippet and prefixes "error: line N
/// column M: "; our messages carry the location themselves, so keep only the
/// explanation.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((location, explanation)) if location.contains("column") => explanation.to_string(),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_file_line_and_column() {
        let err =
            from_str::<serde_json::Value>("a: 1\nb: [1, 2\n", Path::new("inv.yml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("inv.yml:"), "{text}");
        assert!(err.line >= 2, "{text}");
        // The location is said once, by us.
        assert_eq!(text.matches("line").count(), 0, "{text}");
    }

    #[test]
    fn parses_into_json_values() {
        let v: serde_json::Value = from_str("a: [1, two]\n", Path::new("x.yml")).unwrap();
        assert_eq!(v["a"][1], "two");
    }
}
