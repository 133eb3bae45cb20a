//! `raw`: the command line as it is, to the login shell (or `executable`).
//! No quoting, no prelude: the escape hatch for hosts where nothing else
//! works. Not run in check mode (it cannot say what it would change).

/// raw, as a task writes it.
pub const MODULE: Module = Module {
    name: "raw",
    params: &[p("_raw_params"), p("executable")],
    string_args: StringArgs::FreeForm(&["executable"]),
    required: &[&["_raw_params"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

use super::args::Args;
use super::command_run;
use super::spec::{Module, StringArgs, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{ExecOptions, shell_quote};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let line = args
        .str("_raw_params")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| args.error("no command given"))?;
    let command = match args.str("executable")? {
        Some(exe) => format!("{} -c {}", shell_quote(&exe), shell_quote(&line)),
        None => line,
    };
    if ctx.check_mode {
        return Ok(ModuleOutput {
            skipped: true,
            msg: Some("raw does not support check mode".into()),
            ..ModuleOutput::default()
        });
    }
    let mut data = Vars::new();
    // The login shell in a channel of its own, as `ssh host 'line'` does.
    let opts = ExecOptions {
        own_channel: true,
        ..ctx.exec.clone()
    };
    let out = command_run::timed_with(ctx, &command, &opts, &mut data).await?;
    // raw keeps output as it came (no stripping), like Ansible.
    let mut result = command_run::finished(&out, false, data);
    if !result.failed {
        result.data.remove("msg");
    }
    result.data.remove("start");
    result.data.remove("end");
    result.data.remove("delta");
    Ok(result)
}
