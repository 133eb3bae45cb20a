//! The engine: drives work over the connection pool and emits results.
//! `command` runs one command everywhere (`herd run`); `play` runs
//! playbooks (`herd play`).

pub mod command;
pub mod delegate;
pub mod events;
pub mod fanout;
pub mod host_task;
pub mod loops;
pub mod play;
pub mod result;
pub mod vars;

pub use result::{HostResult, HostStatus, RunOutcome};
