//! What can go wrong reading an inventory or matching a pattern. Every
//! message says where (file:line:col, host or pattern) and what to do; the
//! CLI maps both types to exit code 2 (bad input).

use std::path::PathBuf;

use crate::yaml::YamlError;

/// An inventory that cannot be loaded, or a host whose settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(
        "{}: inventory not found (no such file or directory); check the -i path, HERD_INVENTORY or herd.toml",
        path.display()
    )]
    NotFound { path: PathBuf },

    #[error("{}: cannot read inventory: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),

    #[error("{source}; {hint}")]
    Yaml {
        source: YamlError,
        hint: &'static str,
    },

    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "group cycle: {cycle}; a group cannot contain itself through `children`: remove one of these links"
    )]
    Cycle { cycle: String },

    #[error(
        "{}:{line}: [{parent}:children] lists `{child}`, which is not defined as a group; add a [{child}] section or remove the line",
        path.display()
    )]
    UnknownChild {
        path: PathBuf,
        line: usize,
        parent: String,
        child: String,
    },

    #[error(
        "{}:{line}: [{group}:vars] is for a group that is never defined; add a [{group}] section or fix the name",
        path.display()
    )]
    VarsForUnknownGroup {
        path: PathBuf,
        line: usize,
        group: String,
    },

    #[error("{}: dynamic inventory script {message}{}", path.display(), stderr_suffix(stderr))]
    Script {
        path: PathBuf,
        message: String,
        stderr: String,
    },

    #[error("host `{host}`: variable `{var}` {message}")]
    BadVar {
        host: String,
        var: String,
        message: String,
    },

    #[error("unknown host `{name}`{}", suggestion_suffix(suggestion))]
    UnknownHost {
        name: String,
        suggestion: Option<String>,
    },
}

/// A host pattern or `--limit` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("empty host pattern; use `all` to mean every host")]
    Empty,

    #[error(
        "pattern `{pattern}` matched no hosts (groups: {groups}){}",
        suggestion_suffix(suggestion)
    )]
    NoMatch {
        pattern: String,
        groups: String,
        suggestion: Option<String>,
    },

    #[error(
        "pattern `{pattern}` with --limit `{limit}` matched no hosts; the limit leaves none of the pattern's hosts"
    )]
    LimitNoMatch { pattern: String, limit: String },

    #[error("pattern `{pattern}`: invalid regular expression: {message}")]
    Regex { pattern: String, message: String },

    #[error("pattern `{pattern}`: index {index} is out of range ({len} hosts match `{base}`)")]
    Subscript {
        pattern: String,
        base: String,
        index: i64,
        len: usize,
    },

    #[error("{}: cannot read --limit file: {source}", path.display())]
    LimitFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr: {stderr}")
    }
}

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

crate::exit::bad_input!(InventoryError, PatternError);
