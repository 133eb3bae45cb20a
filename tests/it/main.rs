//! herd's integration tests, one module per subject, in one test binary:
//! the fleet harness and the helpers compile once for all of them.
//! Each module's header says what it covers; run one subject with
//! `cargo test --test it <module>::`.

mod fleet;
mod support;

mod alerts;
mod ansible_parity;
mod ansible_project;
mod audit;
mod backup;
mod cli;
mod collect;
mod conformance;
mod deploy;
mod faults;
mod fleet_harness;
mod git_pip;
mod host_data;
mod http_modules;
mod inventory;
mod inventory_edit;
mod isolated;
mod keys;
mod language;
mod layers;
mod modules;
mod packages;
mod play;
mod playbook_load;
mod realworld;
mod report;
mod role_parity;
mod roles;
mod run;
mod runs;
mod secrets;
mod serve;
mod simfleet;
mod ssh;
mod system_modules;
