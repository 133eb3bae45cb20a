//! The engine: drives work over the connection pool and emits results.

pub mod command;
pub mod result;

pub use result::{HostResult, HostStatus, RunOutcome};
