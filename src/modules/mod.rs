//! Modules: what a task does on a host. Each module answers "what would
//! change" before changing anything, so check mode (`--check`) and diff
//! mode (`--diff`) fall out of the same code path.
//!
//! Modules never touch SSH directly: they go through [`Transport`], which is
//! either a pooled SSH connection or the local machine (`delegate_to:
//! localhost`). Remote writes are atomic (temp file + rename).
//!
//! One file per module; this file holds the contract and the registry.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::remote::{Transport, TransportError};
use crate::ssh::ExecOptions;
use crate::template::{TaskVars, Templates};

pub mod accounts;
pub mod args;
pub mod command_run;
pub mod diff;
pub mod edit;
pub mod file_marks;
pub mod owner_group_mode;
pub mod remote_file;
pub mod spec;

mod apt;
mod apt_repository;
mod assemble;
mod assert;
mod blockinfile;
mod command;
mod copy;
mod copy_local_dir;
mod copy_remote_dir;
mod cron;
mod deb822_repository;
mod debug;
mod fail;
mod fetch;
mod file;
mod find;
mod get_url;
mod getent;
mod git;
mod group;
mod http;
mod include_vars;
mod ini_file;
mod jinja_header;
mod known_hosts;
mod lineinfile;
mod locale_gen;
mod mount;
mod package;
mod package_facts;
mod pam_limits;
mod pause;
mod pip;
mod pip_requirement;
mod python_worker;
mod raw;
mod release;
mod replace;
mod script;
mod service_facts;
mod set_fact;
mod setup;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod tempfile;
mod template;
mod timezone;
mod unarchive;
mod uri;
mod user;
mod wait_for;

pub(crate) use fetch::write_local;

use spec::{Module, Run};

/// Every module herd runs, one line each: a module declares itself in its
/// own file (see [`spec`]).
pub const REGISTRY: &[&Module] = &[
    &command::COMMAND,
    &command::SHELL,
    &raw::MODULE,
    &script::MODULE,
    &copy::MODULE,
    &template::MODULE,
    &file::MODULE,
    &lineinfile::MODULE,
    &blockinfile::MODULE,
    &replace::MODULE,
    &assemble::MODULE,
    &tempfile::MODULE,
    &known_hosts::MODULE,
    &cron::MODULE,
    &user::MODULE,
    &group::MODULE,
    &getent::MODULE,
    &git::MODULE,
    &pip::MODULE,
    &apt::MODULE,
    &package::MODULE,
    &apt_repository::MODULE,
    &deb822_repository::MODULE,
    &fetch::MODULE,
    &get_url::MODULE,
    &uri::MODULE,
    &stat::MODULE,
    &sysctl::MODULE,
    &ini_file::MODULE,
    &pam_limits::MODULE,
    &timezone::MODULE,
    &locale_gen::MODULE,
    &mount::MODULE,
    &find::MODULE,
    &slurp::MODULE,
    &unarchive::MODULE,
    &systemd::SYSTEMD,
    &systemd::SERVICE,
    &debug::MODULE,
    &set_fact::MODULE,
    &include_vars::MODULE,
    &assert::MODULE,
    &fail::MODULE,
    &wait_for::MODULE,
    &pause::MODULE,
    &setup::MODULE,
    &package_facts::MODULE,
    &service_facts::MODULE,
    &release::MODULE,
];

/// The module `name` names (`copy`, `ansible.builtin.copy`,
/// `systemd_service`), if herd has it.
pub fn lookup(name: &str) -> Option<&'static Module> {
    REGISTRY.iter().copied().find(|m| m.answers_to(name))
}

/// The argument module `name` evaluates as an expression after the engine
/// rendered it (`debug`'s `var`). Such an argument must not be rendered
/// from data (see `template::scope`): host output would be evaluated as
/// code on the controller.
pub fn expression_arg(name: &str) -> Option<&'static str> {
    lookup(name)?.expression_arg
}

/// The argument module `name` reads as conditions, which reach it
/// unrendered (`assert`'s `that`): they are rendered the way `when:` is
/// (`Templates::eval_bool`), so host data in them stays a value.
pub fn conditions_arg(name: &str) -> Option<&'static str> {
    lookup(name)?.conditions_arg
}

/// The arguments of module `name` that name files on the controller
/// (`include_vars`' `file`/`dir`). Built from host data, they must stay
/// inside the task's search dirs: see [`inside_search`].
pub fn controller_path_args(name: &str) -> &'static [&'static str] {
    lookup(name).map_or(&[], |m| m.controller_paths)
}

/// Whether `rel`, where found in `dirs`, lies inside one of them once
/// symlinks and `..` are resolved (a path that is found nowhere is left
/// to the module to report).
pub fn inside_search(dirs: &[PathBuf], rel: &str) -> bool {
    let Some(found) = find_source(dirs, rel).and_then(|p| p.canonicalize().ok()) else {
        return true;
    };
    // An empty dir (a playbook given as `site.yml`) is the working dir.
    dirs.iter()
        .filter_map(|d| {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            d.canonicalize().ok()
        })
        .any(|d| found.starts_with(d))
}

/// Runs module `name` (`copy`, `ansible.builtin.copy`, ...) with its
/// already-templated arguments.
pub async fn run(
    name: &str,
    ctx: &ModuleContext<'_>,
    args: &Vars,
) -> Result<ModuleOutput, ModuleError> {
    match lookup(name).map(|m| m.run) {
        Some(Run::Async(run)) => run(ctx, args).await,
        Some(Run::Sync(run)) => run(ctx, args),
        Some(Run::Engine) | None => Err(ModuleError::Unknown(name.to_string())),
    }
}

/// The first of `dirs` holding `rel` (or `rel` itself when absolute).
pub fn find_source(dirs: &[PathBuf], rel: &str) -> Option<PathBuf> {
    let path = Path::new(rel);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    dirs.iter()
        .map(|d| d.join(rel))
        .find(|p| p.exists())
        .or_else(|| {
            // Relative to the working directory as a last resort, like Ansible.
            path.exists().then(|| path.to_path_buf())
        })
}

/// [`find_source`], or Ansible's error naming the directories searched.
pub fn locate_source(dirs: &[PathBuf], rel: &str) -> Result<PathBuf, ModuleError> {
    find_source(dirs, rel).ok_or_else(|| {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        ModuleError::Local(format!(
            "Could not find or access '{rel}' (searched: {})",
            searched.join(", ")
        ))
    })
}

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
    /// The host's variables for this task (facts, registered, loop item),
    /// with those that are data marked (see `template::scope`).
    pub vars: &'a TaskVars,
    /// Where relative `src:` paths are found, most specific first.
    pub search: &'a SearchPaths,
    /// What herd last saw of the files it hashed (skips unchanged ones).
    pub marks: &'a file_marks::FileMarks,
}

/// Directories for `src:` lookups (see `playbook::Task::search_paths`).
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    /// For copy/script/fetch sources: role files/, task dir, play dir...
    pub files: Vec<PathBuf>,
    /// For template sources: role templates/, task dir, play dir...
    pub templates: Vec<PathBuf>,
    /// For include_vars files: role vars/, role dir, task dir, play dir...
    pub vars: Vec<PathBuf>,
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
    #[error("unknown module `{0}` (herd supports: {modules})", modules = module_names())]
    Unknown(String),
}

impl From<TransportError> for ModuleError {
    fn from(e: TransportError) -> ModuleError {
        match e {
            TransportError::Ssh(message) => ModuleError::Transport(message),
            TransportError::Local(message) => ModuleError::Local(message),
        }
    }
}

/// Every module's name, for messages.
fn module_names() -> String {
    REGISTRY
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ModuleOutput {
    /// A failed result with `msg`.
    pub fn failed(msg: impl Into<String>) -> ModuleOutput {
        let msg = msg.into();
        let mut data = Vars::new();
        data.insert("msg".into(), Value::String(msg.clone()));
        ModuleOutput {
            failed: true,
            msg: Some(msg),
            data,
            ..ModuleOutput::default()
        }
    }
}
