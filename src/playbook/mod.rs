//! Ansible playbooks, loaded and validated before any host is touched.
//!
//! herd runs a subset of Ansible's playbook language (`keywords.rs` lists
//! it). Anything outside the subset — an unknown module, keyword, loop
//! lookup or parameter — fails here with the file:line:col of the key, so
//! a typo never becomes a silently skipped task halfway through a rollout.
//!
//! Static constructs (`import_playbook`, `import_tasks`, `roles:` and role
//! dependencies, blocks) are expanded and their keywords pushed down into
//! each task (`inherit.rs`); `include_tasks` stays a task for the engine,
//! which calls `load_tasks_file` when it runs. Values stay JSON with their
//! templates unrendered: the engine renders them per host.

pub mod actions;
mod args;
mod dynamic;
mod error;
mod extra_vars;
mod inherit;
pub mod keywords;
mod kv;
mod listing;
mod load;
pub mod located;
pub mod model;
mod role_paths;
mod roles;
mod source;
mod task;

pub use actions::module_names;
pub use error::PlaybookError;
pub use extra_vars::parse_extra_vars;
pub use inherit::Inherited;
pub use listing::TaskEntry;
pub use load::{load_playbook, load_tasks_file};
pub use model::*;
pub use role_paths::set_config_role_paths;
pub use task::find_tasks_file;
