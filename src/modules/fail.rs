//! `fail`: stop this host with a message.

use serde_json::Value;

/// fail, as a task writes it.
pub const MODULE: Module = Module {
    name: "fail",
    params: &[p("msg")],
    run: Run::Sync(|_, args| run(args)),
    ..Module::DEFAULT
};

use super::args::Args;
use super::spec::{Module, Run, p};
use super::{ModuleError, ModuleOutput, Vars};

pub fn run(vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let msg = match args.value(&["msg"]) {
        None => "Failed as requested from task".to_string(),
        Some((_, Value::String(s))) => s.clone(),
        Some((_, v)) => v.to_string(),
    };
    Ok(ModuleOutput::failed(msg))
}
