//! Modules: what a task does on a host. Each module answers "what would
//! change" before changing anything, so check mode (`--check`) and diff
//! mode (`--diff`) fall out of the same code path.
//!
//! Modules never touch SSH directly: they go through [`Transport`], which is
//! either a pooled SSH connection or the local machine (`delegate_to:
//! localhost`). Remote writes are atomic (temp file + rename).
//!
//! One file per module; this file holds the contract and the registry.

use std::path::PathBuf;

use serde_json::Value;

use crate::ssh::ExecOptions;
use crate::template::Templates;

pub mod transport;

pub use transport::Transport;

/// Variables, as everywhere in herd.
pub type Vars = serde_json::Map<String, Value>;

/// Everything a module may use while it runs on one host.
pub struct ModuleContext<'a> {
    /// Inventory name of the host (messages).
    pub host: &'a str,
    pub transport: &'a Transport,
    /// become and environment for every command the module runs.
    pub exec: ExecOptions,
    /// `--check`: report what would change, change nothing.
    pub check_mode: bool,
    /// `--diff`: return before/after of changed files.
    pub diff: bool,
    pub templates: &'a Templates,
    /// The host's variables for this task (facts, registered, loop item).
    pub vars: &'a Vars,
    /// Where relative `src:` paths are found, most specific first.
    pub search: &'a SearchPaths,
}

/// Directories for `src:` lookups (see `playbook::Task::search_paths`).
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    /// For copy/script/fetch sources: role files/, task dir, play dir...
    pub files: Vec<PathBuf>,
    /// For template sources: role templates/, task dir, play dir...
    pub templates: Vec<PathBuf>,
}

/// What a module did (or, in check mode, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleOutput {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    /// One line for the admin ("file would change", "rc=2").
    pub msg: Option<String>,
    /// Before/after of files, for `--diff`.
    pub diffs: Vec<FileDiff>,
    /// The registered result's module-specific fields, with Ansible's names
    /// and meanings: `rc`, `stdout`, `stdout_lines`, `stderr`,
    /// `stderr_lines`, `cmd`, `dest`, `checksum`, `md5sum`, `mode`, `stat`,
    /// `backup_file`, ... `ansible_facts` (set_fact, setup) is merged into
    /// the host's facts by the engine.
    pub data: Vars,
}

/// One file's change for `--diff`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FileDiff {
    pub path: String,
    /// `None`: the file did not exist / will not exist.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A module could not run at all (bad arguments, lost connection). A module
/// that ran and failed returns `ModuleOutput { failed: true, .. }` instead.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{module}: {message}")]
    Args { module: String, message: String },
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Local(String),
}

/// STUB for engine development.
pub async fn run(
    _name: &str,
    _ctx: &ModuleContext<'_>,
    _args: &Vars,
) -> Result<ModuleOutput, ModuleError> {
    Err(ModuleError::Local("stub".into()))
}
