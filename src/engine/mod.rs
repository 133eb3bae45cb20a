//! The engine: drives work over the connection pool and emits results.
//! `fanout` is the one fan-out over hosts every command uses; `rollout`
//! the batch and failure policy of play and deploy; `command` runs one
//! command everywhere (`herd run`); `play` runs playbooks (`herd play`).

pub mod command;
pub mod delegate;
pub mod events;
pub mod fanout;
pub mod host_task;
pub mod loops;
pub mod play;
pub mod result;
pub mod rollout;
pub mod vars;

pub use result::{HostResult, HostStatus, RunOutcome};
