//! herd: an agentless SSH fleet orchestrator.
//!
//! Data flows one way: the CLI loads the project (inventory, settings), plans
//! which hosts to touch, the engine drives work over pooled SSH connections,
//! and results flow to sinks (terminal, JSON, the SQLite store).

pub mod alerts;
pub mod ansible_cfg;
pub mod atomic;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod collect;
pub mod deploy;
pub mod engine;
pub mod exit;
pub mod inventory;
pub mod keys;
pub mod modules;
pub mod playbook;
pub mod project;
pub mod release;
pub mod remote;
pub mod report;
pub mod secrets;
pub mod serve;
pub mod ssh;
pub mod store;
pub mod strategy;
pub mod template;
pub mod yaml;
