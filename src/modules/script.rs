//! `script`: copy a local script to the host, run it there, remove it.
//!
//! `creates`/`removes` are checked first (one round trip), so a skipped
//! script is never uploaded. The script goes to a private temp file under
//! `/tmp` and runs directly (its shebang decides), or with `executable`.

use serde_json::json;

use super::args::Args;
use super::command_run::{self, Prelude};
use super::spec::{Module, StringArgs, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{PutOptions, shell_quote};

/// script, as a task writes it.
pub const MODULE: Module = Module {
    name: "script",
    params: &[
        p("_raw_params"),
        p("cmd"),
        p("chdir"),
        p("creates"),
        p("removes"),
        p("executable"),
    ],
    string_args: StringArgs::FreeForm(&["chdir", "creates", "removes", "executable"]),
    required: &[&["_raw_params", "cmd"]],
    run: async_run!(run),
    action_plugin: true,
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let line = args
        .str_any(&["_raw_params", "cmd"])?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| args.error("one of the following is required: cmd, _raw_params"))?;
    let words = shlex::split(&line)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| args.error(format!("cannot split {line:?} (unbalanced quotes?)")))?;
    let (script, script_args) = words.split_first().expect("not empty");
    let local = super::locate_source(&ctx.search.files, script)?;
    let chdir = args.str("chdir")?;
    let creates = args.str("creates")?;
    let removes = args.str("removes")?;
    let executable = args.str("executable")?;

    if creates.is_some() || removes.is_some() {
        let marker = command_run::marker();
        let prelude = command_run::skip_checks(creates.as_deref(), removes.as_deref(), &marker);
        let out = ctx
            .transport
            .exec(&format!("{prelude}exit 0"), &ctx.exec)
            .await?;
        let msg = match command_run::prelude_outcome(&out, &marker) {
            Prelude::Creates => Some(format!(
                "{} exists, matching creates option",
                creates.unwrap_or_default()
            )),
            Prelude::Removes => Some(format!(
                "{} does not exist, matching removes option",
                removes.unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(msg) = msg {
            let mut data = Vars::new();
            data.insert("msg".into(), json!(msg));
            data.insert("rc".into(), json!(0));
            return Ok(ModuleOutput {
                skipped: true,
                msg: Some(msg),
                data,
                ..ModuleOutput::default()
            });
        }
    }
    if ctx.check_mode {
        return Ok(ModuleOutput {
            skipped: true,
            msg: Some("script is not run in check mode".into()),
            ..ModuleOutput::default()
        });
    }

    let bytes = std::fs::read(&local)
        .map_err(|e| ModuleError::Local(format!("reading {}: {e}", local.display())))?;
    let tmp = format!("/tmp/.herd-script-{}", crate::remote::nonce());
    let put = PutOptions {
        mode: Some(0o700),
        become_: ctx.exec.become_.clone(),
        ..PutOptions::default()
    };
    ctx.transport.put(&bytes, &tmp, &put).await?;
    let q_tmp = shell_quote(&tmp);
    let mut command = match &executable {
        Some(exe) => format!("{} {q_tmp}", shell_quote(exe)),
        None => q_tmp.clone(),
    };
    for a in script_args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    let marker = command_run::marker();
    let full = format!(
        "{}{command}; rc=$?; rm -f {q_tmp}; exit $rc",
        command_run::chdir(chdir.as_deref(), &marker)
            .replace("exit 1;", &format!("rm -f {q_tmp}; exit 1;"))
    );
    let mut data = Vars::new();
    let out = command_run::timed(ctx, &full, None, &mut data).await?;
    if let Prelude::Chdir = command_run::prelude_outcome(&out, &marker) {
        let msg = format!("Unable to change directory: {}", chdir.unwrap_or_default());
        data.insert("msg".into(), json!(msg));
        return Ok(ModuleOutput {
            failed: true,
            msg: Some(msg),
            data,
            ..ModuleOutput::default()
        });
    }
    // script keeps output unstripped, as Ansible's does.
    let mut result = command_run::finished(&out, false, data);
    result.data.remove("start");
    result.data.remove("end");
    result.data.remove("delta");
    if !result.failed {
        result.data.remove("msg");
    }
    Ok(result)
}
