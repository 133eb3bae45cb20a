//! The shared half of `lineinfile`, `blockinfile` and `replace`: read the file in the
//! same round trip as its metadata, let the module compute the new text,
//! then write it (backup, validate, atomic) and fix attributes.
//!
//! The modules edit text but must give back every byte they did not
//! change, even in a file that is not UTF-8 (a Latin-1 comment, a stray
//! byte). [`decode_exact`] reads bytes as a string the way Python's
//! `surrogateescape` does (Ansible's own choice for these modules): each
//! byte that is not valid UTF-8 becomes one private-use character, so
//! regexps still see the rest of the line and `.` still matches one byte,
//! and [`encode_exact`] turns them back into the same bytes.

use serde_json::json;

use super::args::Args;
use super::owner_group_mode::Attrs;
use super::remote_file::{self, ATTRS_CHANGED, FileInfo, Want, WriteSpec};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};

/// The file as it is: metadata and full content (`None` if missing). A
/// file that exists but cannot be read is an error: editing what was not
/// read would replace the whole file with the new line.
pub async fn read(ctx: &ModuleContext<'_>, path: &str) -> Result<FileInfo, ModuleError> {
    let info = remote_file::probe(
        ctx,
        path,
        Want {
            follow: true,
            content_up_to: Some(remote_file::ANY_SIZE),
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
    if info.exists && info.content.is_none() {
        let user = match &ctx.exec.become_ {
            Some(b) => format!("user {}", b.user),
            None => "the login user".to_string(),
        };
        return Err(ModuleError::Transport(format!(
            "{}: {path} exists but cannot be read by {user}; not editing a file herd cannot read \
             (check its mode, or become a user who can read it)",
            ctx.host,
        )));
    }
    Ok(info)
}

/// The arguments of an editing module that say which file it edits and
/// how the new text is written: `path`, `backup`, `validate`, the file's
/// attributes. `unsafe_writes` is accepted and ignored: writes are always
/// atomic.
#[derive(Debug)]
pub struct EditedFile {
    pub path: String,
    pub backup: bool,
    pub validate: Option<String>,
    pub attrs: Attrs,
}

impl EditedFile {
    /// Reads (and checks) the arguments besides `path`, which the module
    /// reads first under its own names.
    pub fn from_args(args: &Args<'_>, path: String) -> Result<EditedFile, ModuleError> {
        let validate = args.str("validate")?;
        remote_file::check_validate(&validate).map_err(|e| args.error(e))?;
        args.bool("unsafe_writes", false)?;
        Ok(EditedFile {
            path,
            backup: args.bool("backup", false)?,
            validate,
            attrs: Attrs::from_args(args)?,
        })
    }

    /// The edit of this file from `before` (read as `info`) to `after`
    /// (`None`: content unchanged), for [`finish`].
    pub fn edit<'a>(
        &'a self,
        info: &'a FileInfo,
        before: &'a [u8],
        after: Option<Vec<u8>>,
        msg: String,
    ) -> Edit<'a> {
        Edit {
            path: &self.path,
            info,
            before,
            after,
            msg,
            attrs: &self.attrs,
            backup: self.backup,
            validate: self.validate.as_deref(),
        }
    }
}

/// What an edit decided.
pub struct Edit<'a> {
    pub path: &'a str,
    pub info: &'a FileInfo,
    pub before: &'a [u8],
    /// `None`: content unchanged.
    pub after: Option<Vec<u8>>,
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
            before: edit
                .info
                .exists
                .then(|| String::from_utf8_lossy(edit.before).into_owned()),
            after: edit
                .after
                .as_ref()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
        });
        data.insert("diff".into(), remote_file::diff_value(&out.diffs));
    }
    let mut backup_file = String::new();
    if out.changed && !ctx.check_mode {
        if let Some(after) = &edit.after {
            // Attributes not asked for keep their current values.
            let spec = WriteSpec {
                path: edit.path,
                content: after,
                attrs: edit.attrs,
                backup: edit.backup,
                validate: edit.validate,
                existing: edit.info,
                sha1: None,
            };
            match remote_file::write(ctx, &spec).await {
                Ok(b) => backup_file = b.unwrap_or_default(),
                Err(f) => return remote_file::write_failed(f, data),
            }
        }
        remote_file::run_all(ctx, edit.path, &fixes).await?;
    }
    data.insert("msg".into(), json!(msg));
    data.insert("backup".into(), json!(backup_file));
    out.msg = (!msg.is_empty()).then_some(msg);
    out.data = data;
    Ok(out)
}

/// Renames `finish`'s `backup` result to `backup_file`, present only when a
/// backup was made: how Ansible's blockinfile and replace report it
/// (lineinfile says `backup`, always).
pub fn backup_as_backup_file(out: &mut ModuleOutput) {
    if let Some(backup) = out.data.remove("backup")
        && backup.as_str().is_some_and(|b| !b.is_empty())
    {
        out.data.insert("backup_file".into(), backup);
    }
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

/// Where the characters standing for undecodable bytes start: byte `b` is
/// `ESCAPE + b`, in plane 16's private use area.
const ESCAPE: u32 = 0x10_FE00;

fn is_escape(c: char) -> bool {
    (ESCAPE..=ESCAPE + 0xFF).contains(&(c as u32))
}

fn escape(byte: u8) -> char {
    char::from_u32(ESCAPE + u32::from(byte)).expect("a valid private-use character")
}

/// `bytes` as a string that [`encode_exact`] turns back into the same
/// bytes: invalid UTF-8 bytes (and the UTF-8 bytes of a character that is
/// itself in the escape range, so the mapping stays one-to-one) become
/// escape characters.
pub fn decode_exact(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0; 4];
                text.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                text.push(c);
            }
        }
        text.extend(chunk.invalid().iter().copied().map(escape));
    }
    text
}

/// The bytes [`decode_exact`] read.
pub fn encode_exact(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        if is_escape(c) {
            bytes.push((c as u32 - ESCAPE) as u8);
        } else {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_bytes_round_trip() {
        let bytes = b"caf\xe9 ok\n\xff\xfe\nna\xc3\xafve \xf4\x8f\xb8\x81 end".to_vec();
        let text = decode_exact(&bytes);
        assert!(text.starts_with("caf"));
        assert!(text.contains("na\u{ef}ve"));
        assert_eq!(encode_exact(&text), bytes);
        // One escape character per undecodable byte: `.` matches a byte.
        assert_eq!(text.lines().nth(1).unwrap().chars().count(), 2);
        assert_eq!(encode_exact("plain ✓"), "plain ✓".as_bytes());
    }
}
