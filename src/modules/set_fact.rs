//! `set_fact`: variables for the rest of the play on this host, returned
//! as `ansible_facts` for the engine to merge. `cacheable` is an option,
//! not a fact.

use serde_json::Value;

use super::{ModuleError, ModuleOutput, Vars};

pub fn run(vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let facts: Vars = vars
        .iter()
        .filter(|(k, _)| k.as_str() != "cacheable")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if facts.is_empty() {
        return Err(ModuleError::Args {
            module: "set_fact".into(),
            message:
                "no key/value pairs provided, at least one is required for this action to succeed"
                    .into(),
        });
    }
    if let Some(bad) = facts.keys().find(|k| !valid_name(k)) {
        return Err(ModuleError::Args {
            module: "set_fact".into(),
            message: format!("the variable name '{bad}' is not valid"),
        });
    }
    let mut data = Vars::new();
    data.insert("ansible_facts".into(), Value::Object(facts));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}
