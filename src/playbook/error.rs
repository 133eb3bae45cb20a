//! What can be wrong with a playbook. Every variant is bad input (the CLI
//! exits with code 2) and says where: file:line:col of the offending key
//! whenever there is one.

use std::path::PathBuf;

use super::model::Location;
use crate::yaml::YamlError;

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{0}")]
    Yaml(#[from] YamlError),

    /// Valid YAML that herd cannot run: an unknown module or keyword, a
    /// missing file, a wrong type.
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },

    /// A task's arguments break its module's declaration (a required one
    /// missing, two exclusive ones). `ansible` is Ansible's own wording,
    /// which a task that expects the failure registers as its `msg`.
    #[error("{location}: {message}")]
    Argument {
        location: Location,
        message: String,
        ansible: String,
    },

    /// A `-e` argument that cannot be read.
    #[error("-e {arg}: {message}")]
    ExtraVars { arg: String, message: String },
}

impl PlaybookError {
    /// The exit code the CLI uses: always 2, bad input.
    pub fn exit_code(&self) -> u8 {
        crate::exit::BAD_INPUT
    }

    /// Where the problem is, when it has a place in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            PlaybookError::Invalid { location, .. } | PlaybookError::Argument { location, .. } => {
                Some(location)
            }
            _ => None,
        }
    }
}

/// `" (did you mean `x`?)"`, or nothing.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match crate::inventory::did_you_mean(name, candidates) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

crate::exit::bad_input!(PlaybookError);
