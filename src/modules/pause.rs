//! `pause`: wait a while (no interactive prompt: herd runs unattended).

use std::time::{Duration, Instant};

use serde_json::json;

/// pause, as a task writes it.
pub const MODULE: Module = Module {
    name: "pause",
    params: &[p("seconds"), p("minutes"), p("prompt"), p("echo")],
    exclusive: &[("seconds", "minutes")],
    run: async_run!(run),
    ..Module::DEFAULT
};

use super::args::Args;
use super::command_run::timestamp;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    if args.has("prompt") {
        return Err(args.error("prompt is not supported (herd does not read from the terminal during a run); use seconds or minutes"));
    }
    let seconds =
        args.float("seconds")?.unwrap_or(0.0) + args.float("minutes")?.unwrap_or(0.0) * 60.0;
    if seconds < 0.0 {
        return Err(args.error("seconds/minutes must not be negative"));
    }
    if !args.has("seconds") && !args.has("minutes") {
        return Err(args.error("one of seconds or minutes is required (prompts are not supported)"));
    }
    let start = timestamp();
    let started = Instant::now();
    if !ctx.check_mode {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    }
    let mut data = Vars::new();
    data.insert("start".into(), json!(start));
    data.insert("stop".into(), json!(timestamp()));
    data.insert("delta".into(), json!(started.elapsed().as_secs()));
    data.insert("echo".into(), json!(true));
    data.insert("user_input".into(), json!(""));
    Ok(ModuleOutput {
        msg: Some(format!("Paused for {seconds} seconds")),
        data,
        ..ModuleOutput::default()
    })
}
