//! `fail`: stop this host with a message.

use serde_json::Value;

use super::args::Args;
use super::{ModuleError, ModuleOutput, Vars};

pub fn run(vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new("fail", vars, &["msg"])?;
    let msg = match args.value(&["msg"]) {
        None => "Failed as requested from task".to_string(),
        Some((_, Value::String(s))) => s.clone(),
        Some((_, v)) => v.to_string(),
    };
    Ok(ModuleOutput::failed(msg))
}
