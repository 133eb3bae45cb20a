//! `assemble`: concatenate a directory of fragments into one file, as
//! Ansible's `assemble_from_fragments` does: fragments in sorted name
//! order, a newline added after one that lacks it, an optional delimiter
//! between fragments.
//!
//! The fragments are read on the host (`remote_src: true`, the default) or
//! on the controller; the result is then installed exactly as `copy`
//! installs content (SHA-1 compared first, atomic write, backup, validate,
//! attributes, check and diff).

use std::path::Path;

use fancy_regex::Regex as PyRegex;
use serde_json::json;

use super::args::Args;
use super::copy::{InstallOptions, install};
use super::owner_group_mode::Attrs;
use super::remote_file;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// assemble, as a task writes it.
pub const MODULE: Module = Module {
    name: "assemble",
    params: &[
        p("src"),
        p("dest"),
        p("delimiter"),
        p("regexp"),
        p("ignore_hidden"),
        p("remote_src"),
        p("validate"),
        p("backup"),
        // Vault decryption; herd has no vault, so there is nothing to decrypt.
        p("decrypt"),
        p("mode"),
        p("owner"),
        p("group"),
        p("unsafe_writes"),
    ],
    required: &[&["src"], &["dest"]],
    run: async_run!(run),
    action_plugin: true,
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let src = args.required(&["src"])?;
    let dest = args.required(&["dest"])?;
    let delimiter = args.str("delimiter")?.map(|d| escape_decode(&d));
    let regexp = args
        .str("regexp")?
        .map(|r| {
            PyRegex::new(&r).map_err(|e| args.error(format!("Invalid Regexp ({e}) in \"{r}\"")))
        })
        .transpose()?;
    let ignore_hidden = args.bool("ignore_hidden", false)?;
    let remote_src = args.bool("remote_src", true)?;
    let opts = InstallOptions {
        backup: args.bool("backup", false)?,
        force: true,
        validate: args.str("validate")?,
    };
    remote_file::check_validate(&opts.validate).map_err(|e| args.error(e))?;
    args.bool("decrypt", true)?;
    args.bool("unsafe_writes", false)?;
    let attrs = Attrs::from_args(&args)?;

    let fragments = if remote_src {
        remote_fragments(ctx, &src).await?
    } else {
        let dir = super::locate_source(&ctx.search.files, &src)?;
        local_fragments(&dir)?
    };
    let fragments = match fragments {
        Ok(f) => f,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let wanted = |name: &[u8]| {
        let text = String::from_utf8_lossy(name);
        !(ignore_hidden && text.starts_with('.'))
            && regexp
                .as_ref()
                .is_none_or(|re| re.is_match(text.as_ref()).unwrap_or(false))
    };
    let mut selected = Vec::new();
    for (name, content) in fragments {
        if wanted(&name) {
            selected.push(content.read(ctx).await?);
        }
    }
    let bytes = concatenate(&selected, delimiter.as_deref());
    let mut out = install(ctx, &dest, &bytes, None, &attrs, &opts).await?;
    if !out.failed {
        out.data.insert("msg".into(), json!("OK"));
    }
    // Ansible's assemble registers its one diff as a map, not copy's list.
    if let Some(serde_json::Value::Array(mut diffs)) = out.data.remove("diff")
        && let Some(diff) = diffs.pop()
    {
        out.data.insert("diff".into(), diff);
    }
    Ok(out)
}

/// A fragment's content: read already (controller), or to be read from
/// the host once it is known to be wanted.
enum Fragment {
    Local(Vec<u8>),
    Remote(String),
}

impl Fragment {
    async fn read(self, ctx: &ModuleContext<'_>) -> Result<Vec<u8>, ModuleError> {
        match self {
            Fragment::Local(bytes) => Ok(bytes),
            Fragment::Remote(path) => Ok(ctx.transport.get(&path, &ctx.exec).await?),
        }
    }
}

/// Fragments by name, sorted; `Err` is Ansible's message for a bad `src`.
type Fragments = Result<Vec<(Vec<u8>, Fragment)>, String>;

/// The regular files (symlinks followed) in `dir` on the controller.
fn local_fragments(dir: &Path) -> Result<Fragments, ModuleError> {
    use std::os::unix::ffi::OsStrExt;
    if !dir.is_dir() {
        return Ok(Err(format!(
            "Source ({}) is not a directory",
            dir.display()
        )));
    }
    let error = |e: std::io::Error| ModuleError::Local(format!("reading {}: {e}", dir.display()));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default().as_bytes().to_vec();
            let bytes = std::fs::read(&path).map_err(error)?;
            out.push((name, Fragment::Local(bytes)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Ok(out))
}

/// The regular files (symlinks followed) in `dir` on the host, listed in
/// one round trip; their contents are read only if selected.
async fn remote_fragments(ctx: &ModuleContext<'_>, dir: &str) -> Result<Fragments, ModuleError> {
    let d = shell_quote(dir);
    let script = format!(
        "d={d}; if [ ! -e \"$d\" ]; then echo missing; elif [ ! -d \"$d\" ]; then echo notdir; \
         else echo dir; cd -- \"$d\" && find -L . -mindepth 1 -maxdepth 1 -type f -print0; fi"
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    if !out.success() || out.stdout_truncated {
        return Err(ModuleError::Transport(format!(
            "{}: cannot list {dir}: {}",
            ctx.host,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = &out.stdout[..];
    let (status, list) = match stdout.iter().position(|&b| b == b'\n') {
        Some(i) => (&stdout[..i], &stdout[i + 1..]),
        None => (stdout, &[][..]),
    };
    match status {
        b"missing" => return Ok(Err(format!("Source ({dir}) does not exist"))),
        b"notdir" => return Ok(Err(format!("Source ({dir}) is not a directory"))),
        _ => {}
    }
    let base = dir.trim_end_matches('/');
    let mut names: Vec<Vec<u8>> = list
        .split(|&b| b == 0)
        .filter_map(|n| n.strip_prefix(b"./"))
        .map(<[u8]>::to_vec)
        .collect();
    names.sort();
    Ok(Ok(names
        .into_iter()
        .map(|name| {
            let path = format!("{base}/{}", String::from_utf8_lossy(&name));
            (name, Fragment::Remote(path))
        })
        .collect()))
}

/// Ansible's concatenation: a newline after a fragment that does not end
/// with one, and the delimiter (always followed by a newline: Ansible's
/// check for a final newline compares a byte with a string, so never
/// matches) between fragments.
fn concatenate(fragments: &[Vec<u8>], delimiter: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, fragment) in fragments.iter().enumerate() {
        if i > 0 {
            if !fragments[i - 1].ends_with(b"\n") {
                out.push(b'\n');
            }
            if let Some(d) = delimiter.filter(|d| !d.is_empty()) {
                out.extend_from_slice(d);
                out.push(b'\n');
            }
        }
        out.extend_from_slice(fragment);
    }
    out
}

/// Python's `codecs.escape_decode`: `\n`, `\t`, `\\`, `\xHH`, octal
/// `\ooo`... become the bytes they name; an unknown escape stays as written.
fn escape_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        let simple = match c {
            b'\\' | b'\'' | b'"' => Some(c),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
        } else if c == b'\n' {
            // A backslash-newline is a line continuation.
        } else if (b'0'..=b'7').contains(&c) {
            let mut value = u32::from(c - b'0');
            for _ in 0..2 {
                match bytes.get(i) {
                    Some(&d @ b'0'..=b'7') => {
                        value = value * 8 + u32::from(d - b'0');
                        i += 1;
                    }
                    _ => break,
                }
            }
            out.push(value as u8);
        } else if c == b'x'
            && let Some(v) = text
                .get(i..i + 2)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 2;
        } else {
            out.push(b'\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_join_with_newlines_and_delimiters() {
        let f = |s: &str| s.as_bytes().to_vec();
        let parts = [f("a\n"), f("b"), f("c\n")];
        assert_eq!(concatenate(&parts, None), b"a\nb\nc\n");
        assert_eq!(
            concatenate(&parts, Some(b"--")),
            b"a\n--\nb\n--\nc\n".to_vec()
        );
        // The delimiter gets a newline even when it ends with one.
        assert_eq!(concatenate(&parts[..2], Some(b"--\n")), b"a\n--\n\nb");
        assert_eq!(concatenate(&[], Some(b"--")), b"");
    }

    #[test]
    fn delimiter_escapes_are_decoded_as_python_escape_decode() {
        assert_eq!(escape_decode(r"#\n\t\\x\x41\101\q"), b"#\n\t\\xAA\\q");
        assert_eq!(escape_decode("plain"), b"plain");
    }
}
