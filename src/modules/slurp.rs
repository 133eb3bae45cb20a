//! `slurp`: a file's content from the host, base64-encoded in `content`
//! (with `encoding: base64` and `source`), in one round trip. Never changes
//! anything, so check mode runs it as usual. The file must fit in one
//! command's captured output: larger files are an error that points to
//! `fetch`.

use base64::Engine as _;
use serde_json::json;

use super::args::Args;
use super::spec::{Module, alias, async_run};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// slurp, as a task writes it.
pub const MODULE: Module = Module {
    name: "slurp",
    params: &[alias("src", &["path"])],
    required: &[&["src"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// The largest file slurp reads: its base64 text (4/3 of it) stays under
/// the default 8 MiB of captured output per command.
pub const MAX_BYTES: u64 = 6 << 20;

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let src = args.required(&["src"])?;
    let q = shell_quote(&src);
    // Each refusal has its own exit code; the content is read by `cat` so
    // an unreadable file fails there (as the become user) too.
    let command = format!(
        "if [ -d {q} ]; then exit 11; fi; \
         if [ ! -e {q} ]; then exit 10; fi; \
         if [ ! -r {q} ]; then exit 12; fi; \
         size=$(stat -L -c %s -- {q}) || exit 13; \
         if [ \"$size\" -gt {MAX_BYTES} ]; then echo \"$size\"; exit 14; fi; \
         cat -- {q}"
    );
    let out = ctx.transport.exec(&command, &ctx.exec).await?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let failure = match out.exit_code {
        Some(0) if out.stdout_truncated => Some(format!(
            "Unable to slurp file: {src} is larger than herd's output limit; use fetch for large files"
        )),
        Some(0) => None,
        Some(10) => Some(format!("File not found: {src}")),
        Some(11) => Some(format!("Source is a directory and must be a file: {src}")),
        Some(12) => Some(format!("File is not readable: {src}")),
        Some(14) => Some(format!(
            "Unable to slurp file: {src} is {} bytes, more than slurp's limit of {MAX_BYTES} bytes; use fetch for large files",
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        _ => Some(format!("Unable to slurp file: {src}: {stderr}")),
    };
    if let Some(msg) = failure {
        return Ok(ModuleOutput::failed(msg));
    }
    let mut data = Vars::new();
    data.insert(
        "content".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(&out.stdout)),
    );
    data.insert("encoding".into(), json!("base64"));
    data.insert("source".into(), json!(src));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}
