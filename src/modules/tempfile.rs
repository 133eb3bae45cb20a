//! `tempfile`: create a uniquely named file or directory on the host (by
//! `mktemp`, so the name is chosen and created in one atomic step) and
//! return its `path`. Always changed; not run in check mode, as Ansible.

use serde_json::json;

use super::args::Args;
use super::remote_file::{self, Want};
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// tempfile, as a task writes it.
pub const MODULE: Module = Module {
    name: "tempfile",
    params: &[p("state"), p("path"), p("prefix"), p("suffix")],
    run: async_run!(run),
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let directory = args
        .choice("state", &["file", "directory"], Some("file"))?
        .as_deref()
        == Some("directory");
    let dir = args.str("path")?;
    let prefix = args.str("prefix")?.unwrap_or_else(|| "ansible.".into());
    let suffix = args.str("suffix")?.unwrap_or_default();
    // mktemp takes a name, not a path, with --tmpdir.
    if prefix.contains('/') || suffix.contains('/') {
        return Err(args.error("prefix and suffix must not contain '/'"));
    }
    if ctx.check_mode {
        return Ok(ModuleOutput {
            skipped: true,
            msg: Some("remote module (tempfile) does not support check mode".into()),
            ..ModuleOutput::default()
        });
    }
    let mut command = String::from("mktemp");
    if directory {
        command.push_str(" -d");
    }
    match &dir {
        // Otherwise $TMPDIR or /tmp, as Python's tempfile.gettempdir().
        Some(d) => command.push_str(&format!(" --tmpdir={}", shell_quote(d))),
        None => command.push_str(" --tmpdir"),
    }
    if !suffix.is_empty() {
        command.push_str(&format!(" --suffix={}", shell_quote(&suffix)));
    }
    command.push_str(&format!(
        " -- {}",
        shell_quote(&format!("{prefix}XXXXXXXX"))
    ));
    let out = ctx.transport.exec(&command, &ctx.exec).await?;
    if !out.success() {
        let mut failed = ModuleOutput::failed(String::from_utf8_lossy(&out.stderr).trim());
        failed
            .data
            .insert("rc".into(), json!(out.exit_code.unwrap_or(-1)));
        return Ok(failed);
    }
    let path = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    // Ansible returns the new path's attributes beside it.
    let info = remote_file::probe(ctx, &path, Want::default()).await?;
    let mut data = Vars::new();
    data.insert("path".into(), json!(path));
    info.result_fields(&mut data);
    Ok(ModuleOutput {
        changed: true,
        data,
        ..ModuleOutput::default()
    })
}
