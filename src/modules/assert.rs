//! `assert`: conditions that must hold, evaluated like `when:`. The first
//! false one fails the host, named in `assertion` with `evaluated_to`.

use serde_json::{Value, json};

/// assert, as a task writes it.
pub const MODULE: Module = Module {
    name: "assert",
    params: &[
        p("that"),
        p("fail_msg"),
        p("msg"),
        p("success_msg"),
        p("quiet"),
    ],
    required: &[&["that"]],
    conditions_arg: Some("that"),
    run: Run::Sync(run),
    ..Module::DEFAULT
};

use super::args::Args;
use super::spec::{Module, Run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

pub fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let that: Vec<String> = match args.value(&["that"]) {
        None => return Err(args.error("conditional required in \"that\" string")),
        Some((_, Value::Array(items))) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some((_, Value::String(s))) => vec![s.clone()],
        Some((_, other)) => vec![other.to_string()],
    };
    let fail_msg = args.value(&["fail_msg", "msg"]).map(|(_, v)| v.clone());
    let success_msg = args.value(&["success_msg"]).map(|(_, v)| v.clone());
    let quiet = args.bool("quiet", false)?;
    for condition in &that {
        let ok = match ctx.templates.eval_bool(condition, ctx.vars) {
            Ok(b) => b,
            Err(e) => {
                let mut out = ModuleOutput::failed(format!(
                    "The conditional check '{condition}' failed. The error was: {e}"
                ));
                out.data.insert("assertion".into(), json!(condition));
                return Ok(out);
            }
        };
        if !ok {
            let msg = fail_msg
                .clone()
                .unwrap_or_else(|| json!("Assertion failed"));
            let mut out = ModuleOutput::failed(text(&msg));
            out.data.insert("msg".into(), msg);
            out.data.insert("assertion".into(), json!(condition));
            out.data.insert("evaluated_to".into(), json!(false));
            return Ok(out);
        }
    }
    let msg = success_msg.unwrap_or_else(|| json!("All assertions passed"));
    let mut data = Vars::new();
    if !quiet {
        data.insert("msg".into(), msg.clone());
    }
    Ok(ModuleOutput {
        msg: (!quiet).then(|| text(&msg)),
        data,
        ..ModuleOutput::default()
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
