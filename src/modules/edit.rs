//! The shared half of `lineinfile` and `blockinfile`: read the file in the
//! same round trip as its metadata, let the module compute the new text,
//! then write it (backup, validate, atomic) and fix attributes.

use serde_json::json;

use super::file_attrs::Attrs;
use super::files::{self, ATTRS_CHANGED, FileInfo, Want, WriteSpec};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};

/// The file as it is: metadata and full content (`None` if missing).
pub async fn read(ctx: &ModuleContext<'_>, path: &str) -> Result<FileInfo, ModuleError> {
    let info = files::probe(
        ctx,
        path,
        Want {
            follow: true,
            content_up_to: Some(u64::MAX / 2),
            ..Want::default()
        },
    )
    .await?;
    if info.exists && !info.is_file() {
        return Err(ModuleError::Transport(format!(
            "{}: {path} is not a regular file",
            ctx.host
        )));
    }
    Ok(info)
}

/// What an edit decided.
pub struct Edit<'a> {
    pub path: &'a str,
    pub info: &'a FileInfo,
    pub before: &'a str,
    /// `None`: content unchanged.
    pub after: Option<String>,
    /// The module's message for a content change ("line added").
    pub msg: String,
    pub attrs: &'a Attrs,
    pub backup: bool,
    pub validate: Option<&'a str>,
}

/// Writes the edit (unless in check mode) and builds the result: `msg`,
/// `backup` (Ansible's key for lineinfile/blockinfile), `diff`.
pub async fn finish(ctx: &ModuleContext<'_>, edit: Edit<'_>) -> Result<ModuleOutput, ModuleError> {
    let mut data = Vars::new();
    let mut out = ModuleOutput::default();
    let content_changed = edit.after.is_some();
    // A new file's attributes are set by the write itself.
    let target = if edit.info.exists {
        edit.info.clone()
    } else {
        FileInfo {
            exists: true,
            mode: 0o100644,
            ..FileInfo::default()
        }
    };
    let fixes = if content_changed && !edit.info.exists {
        Vec::new()
    } else {
        edit.attrs.fix_commands(edit.path, &target, false)
    };
    let mut msg = edit.msg.clone();
    if !fixes.is_empty() {
        msg = if msg.is_empty() {
            ATTRS_CHANGED.to_string()
        } else {
            format!("{msg} and {ATTRS_CHANGED}")
        };
    }
    out.changed = content_changed || !fixes.is_empty();
    if ctx.diff && content_changed {
        out.diffs.push(FileDiff {
            path: edit.path.to_string(),
            before: edit.info.exists.then(|| edit.before.to_string()),
            after: edit.after.clone(),
        });
        data.insert("diff".into(), files::diff_value(&out.diffs));
    }
    let mut backup_file = String::new();
    if out.changed && !ctx.check_mode {
        if let Some(after) = &edit.after {
            // Attributes not asked for keep their current values.
            let spec = WriteSpec {
                path: edit.path,
                content: after.as_bytes(),
                attrs: edit.attrs,
                backup: edit.backup,
                validate: edit.validate,
                existing: edit.info,
            };
            match files::write(ctx, &spec).await {
                Ok(b) => backup_file = b.unwrap_or_default(),
                Err(f) => return files::write_failed(f, data),
            }
        }
        files::run_all(ctx, edit.path, &fixes).await?;
    }
    data.insert("msg".into(), json!(msg));
    data.insert("backup".into(), json!(backup_file));
    out.msg = (!msg.is_empty()).then_some(msg);
    out.data = data;
    Ok(out)
}

/// Splits text into lines that keep their line endings (Python's
/// `splitlines(True)` for `\n` and `\r\n`).
pub fn split_lines_keep(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(String::from).collect()
}

/// A line without its `\r\n` / `\n` ending.
pub fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}
