//! `debug`: show a message or a variable. Never changes anything; with
//! `verbosity` above the run's, it is skipped.

use serde_json::{Value, json};

/// debug, as a task writes it.
pub const MODULE: Module = Module {
    name: "debug",
    params: &[p("msg"), p("var"), p("verbosity")],
    exclusive: &[("msg", "var")],
    expression_arg: Some("var"),
    run: Run::Sync(run),
    ..Module::DEFAULT
};

use super::args::Args;
use super::spec::{Module, Run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

pub fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    if args.has("msg") && args.has("var") {
        return Err(args.error("parameters are mutually exclusive: msg, var"));
    }
    let verbosity = args.int("verbosity")?.unwrap_or(0);
    let current = ctx
        .vars
        .get("ansible_verbosity")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if verbosity > current {
        let mut out = ModuleOutput {
            skipped: true,
            msg: Some("verbosity threshold not met".into()),
            ..ModuleOutput::default()
        };
        out.data.insert(
            "skipped_reason".into(),
            json!("Verbosity threshold not met."),
        );
        return Ok(out);
    }
    let mut data = Vars::new();
    let msg = if let Some((_, v)) = args.value(&["var"]) {
        let name = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // `var` names a variable or an expression; undefined is reported
        // as Ansible does, not as an error.
        let value = ctx
            .templates
            .eval(&name, ctx.vars)
            .unwrap_or_else(|_| json!("VARIABLE IS NOT DEFINED!"));
        data.insert(name.clone(), value.clone());
        format!("{name}: {}", display(&value))
    } else {
        let msg = args
            .value(&["msg"])
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| json!("Hello world!"));
        let text = display(&msg);
        data.insert("msg".into(), msg);
        text
    };
    Ok(ModuleOutput {
        msg: Some(msg),
        data,
        ..ModuleOutput::default()
    })
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}
