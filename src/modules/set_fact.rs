//! `set_fact`: variables for the rest of the play on this host, returned
//! as `ansible_facts` for the engine to merge. `cacheable` is an option,
//! not a fact. Names may be templates (`"result_{{ item }}": ...`), as
//! Ansible renders them too.

use serde_json::Value;

/// set_fact, as a task writes it: any variable name, and `cacheable`.
pub const MODULE: Module = Module {
    name: "set_fact",
    params: &[p("cacheable")],
    any_names: true,
    run: Run::Sync(run),
    ..Module::DEFAULT
};

use super::spec::{Module, Run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

pub fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let mut facts = Vars::new();
    for (k, v) in vars.iter().filter(|(k, _)| k.as_str() != "cacheable") {
        let name = if k.contains("{{") {
            match ctx
                .templates
                .render_value(&Value::String(k.clone()), ctx.vars)
            {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(e) => {
                    return Err(ModuleError::Args {
                        module: "set_fact".into(),
                        message: e.to_string(),
                    });
                }
            }
        } else {
            k.clone()
        };
        facts.insert(name, v.clone());
    }
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
