//! A YAML file being loaded: its path (shared by every Location in it),
//! its directory, and helpers that turn a node's Mark into an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{PlaybookError, did_you_mean};
use super::located::{self, Key, Mark, Node};
use super::model::{Location, Vars};

#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub path: Arc<PathBuf>,
    /// The directory the file is in: relative paths in it start here.
    pub dir: PathBuf,
}

impl Source {
    /// Reads and parses `path`. `from` is where it was referenced (an
    /// import), for the "not found" message.
    pub fn read(path: &Path, from: Option<Location>) -> Result<(Source, Node), PlaybookError> {
        let text = std::fs::read_to_string(path).map_err(|source| match from {
            Some(location) if source.kind() == std::io::ErrorKind::NotFound => {
                PlaybookError::Invalid {
                    location,
                    message: format!("file `{}` not found", path.display()),
                }
            }
            _ => PlaybookError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let node = located::parse(&text, path)?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok((
            Source {
                path: Arc::new(path.to_path_buf()),
                dir,
            },
            node,
        ))
    }

    pub fn at(&self, mark: Mark) -> Location {
        Location {
            file: self.path.clone(),
            line: mark.line,
            column: mark.column,
        }
    }

    pub fn error(&self, mark: Mark, message: impl Into<String>) -> PlaybookError {
        PlaybookError::Invalid {
            location: self.at(mark),
            message: message.into(),
        }
    }

    /// An argument error: herd's message, and Ansible's for `msg`.
    pub fn argument_error(
        &self,
        mark: Mark,
        message: impl Into<String>,
        ansible: impl Into<String>,
    ) -> PlaybookError {
        PlaybookError::Argument {
            location: self.at(mark),
            message: message.into(),
            ansible: ansible.into(),
        }
    }

    /// "<what> `name` is not supported by herd (did you mean `x`?)".
    pub fn unsupported(&self, mark: Mark, what: &str, name: &str, known: &[&str]) -> PlaybookError {
        self.error(
            mark,
            format!(
                "{what} `{name}` is not supported by herd{}",
                did_you_mean(name, known.iter().copied())
            ),
        )
    }

    /// "`key` must be X, found Y".
    pub fn expected(&self, key: &Key, value: &Node, what: &str) -> PlaybookError {
        self.error(
            value.mark,
            format!("`{}` must be {what}, found {}", key.name, value.type_name()),
        )
    }

    /// A string (numbers and booleans are spelled out, as Ansible would).
    pub fn string(&self, key: &Key, value: &Node) -> Result<String, PlaybookError> {
        scalar_text(value).ok_or_else(|| self.expected(key, value, "a string"))
    }

    /// A boolean: YAML booleans, or the strings Ansible's `boolean()` takes.
    pub fn boolean(&self, key: &Key, value: &Node) -> Result<bool, PlaybookError> {
        use located::Kind;
        match &value.kind {
            Kind::Bool(b) => Ok(*b),
            Kind::Int(1) => Ok(true),
            Kind::Int(0) => Ok(false),
            Kind::String(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "y" | "1" => Ok(true),
                "no" | "false" | "off" | "n" | "0" => Ok(false),
                _ => Err(self.error(
                    value.mark,
                    format!(
                        "`{}` must be true or false, found `{s}` (templates are not supported here)",
                        key.name
                    ),
                )),
            },
            _ => Err(self.expected(key, value, "true or false")),
        }
    }

    /// A list of strings; a single string is a one-element list.
    pub fn strings(&self, key: &Key, value: &Node) -> Result<Vec<String>, PlaybookError> {
        match value.as_seq() {
            Some(items) => items.iter().map(|item| self.string(key, item)).collect(),
            None if value.is_null() => Ok(Vec::new()),
            None => Ok(vec![self.string(key, value)?]),
        }
    }

    /// A mapping as variables; Ansible also takes a list of mappings.
    pub fn vars(&self, key: &Key, value: &Node) -> Result<Vars, PlaybookError> {
        let mut vars = Vars::new();
        let maps: Vec<&Node> = match &value.kind {
            located::Kind::Null => Vec::new(),
            located::Kind::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        for map in maps {
            let Some(entries) = map.as_map() else {
                return Err(self.expected(key, map, "a mapping"));
            };
            for (k, v) in entries {
                vars.insert(k.name.clone(), v.to_json());
            }
        }
        Ok(vars)
    }

    /// A non-negative integer (also written as a string of digits).
    pub fn integer(&self, key: &Key, value: &Node) -> Result<u64, PlaybookError> {
        let n = match &value.kind {
            located::Kind::Int(i) => u64::try_from(*i).ok(),
            located::Kind::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.ok_or_else(|| self.expected(key, value, "a whole number"))
    }
}

/// The text of a scalar; None for null, lists and mappings.
pub(crate) fn scalar_text(value: &Node) -> Option<String> {
    use located::Kind;
    match &value.kind {
        Kind::String(s) => Some(s.clone()),
        Kind::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Float(f) => Some(f.to_string()),
        Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
    }
}
