//! herd's python3 workers (find.py, unarchive.py): run on the host by
//! `python3 -c`, parameters as JSON on stdin, one JSON object back on
//! stdout. What a host without python3, a worker that failed or an answer
//! that is not an object becomes is the same for every worker.

use serde_json::Value;

use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::{ExecOptions, shell_quote};

/// Runs `script` for `module` with `params`. `Ok(Err(..))` is the task's
/// failed result (no python3, the worker failed, its answer was cut);
/// `remove_if_no_python` are files herd put there for the worker, removed
/// when it cannot run.
pub async fn run(
    ctx: &ModuleContext<'_>,
    module: &str,
    script: &str,
    params: &Value,
    remove_if_no_python: &[String],
) -> Result<Result<Vars, ModuleOutput>, ModuleError> {
    let opts = ExecOptions {
        stdin: Some(params.to_string().into_bytes()),
        ..ctx.exec.clone()
    };
    let no_python = if remove_if_no_python.is_empty() {
        "exit 127".to_string()
    } else {
        let files: Vec<String> = remove_if_no_python.iter().map(|f| shell_quote(f)).collect();
        format!("{{ rm -f {}; exit 127; }}", files.join(" "))
    };
    let command = format!(
        "command -v python3 >/dev/null 2>&1 || {no_python}; exec python3 -c {}",
        shell_quote(script)
    );
    let out = ctx.transport.exec(&command, &opts).await?;
    if out.exit_code == Some(127) {
        return Ok(Err(ModuleOutput::failed(format!(
            "{module} needs python3 on the host (Ansible's {module} runs on python3 too); install python3"
        ))));
    }
    if !out.success() || out.stdout_truncated {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = match stderr.trim().lines().last() {
            Some(last) => last.to_string(),
            None => "its answer was cut at the output limit".to_string(),
        };
        return Ok(Err(ModuleOutput::failed(format!(
            "{module} failed on the host: {why}"
        ))));
    }
    let answer: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        ModuleError::Transport(format!("{module}: unreadable answer from host: {e}"))
    })?;
    match answer {
        Value::Object(data) => Ok(Ok(data)),
        _ => Err(ModuleError::Transport(format!(
            "{module}: the host's answer is not an object"
        ))),
    }
}
