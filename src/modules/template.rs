//! `template`: render a Jinja2 file locally with the host's variables,
//! then install it exactly as `copy` installs content.
//!
//! The environment is fixed to Ansible's defaults (`trim_blocks` on,
//! `lstrip_blocks` off); the other settings are emulated on the source
//! text so one shared environment serves every task.

use serde_json::json;

use super::args::Args;
use super::copy::{InstallOptions, install, local_mode};
use super::owner_group_mode::{Attrs, Mode};
use super::remote_file;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::template::FileOptions;

/// template, as a task writes it.
pub const MODULE: Module = Module {
    name: "template",
    params: &[
        p("src"),
        p("dest"),
        p("mode"),
        p("owner"),
        p("group"),
        p("backup"),
        p("force"),
        p("validate"),
        p("trim_blocks"),
        p("lstrip_blocks"),
        p("newline_sequence"),
        p("follow"),
        p("output_encoding"),
        p("block_start_string"),
        p("block_end_string"),
        p("variable_start_string"),
        p("variable_end_string"),
        p("comment_start_string"),
        p("comment_end_string"),
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
    // `~` is the home of the user the task runs as, on the host.
    let dest = remote_file::expand_user(ctx, &dest).await?;
    let path = super::locate_source(&ctx.search.templates, &src)?;
    let source = std::fs::read_to_string(&path)
        .map_err(|e| ModuleError::Local(format!("reading template {}: {e}", path.display())))?;
    // A `#jinja2:` first line overrides the task's settings for this file.
    let header = match super::jinja_header::parse(&source) {
        Ok(header) => header,
        Err(msg) => return Ok(ModuleOutput::failed(format!("{}: {msg}", path.display()))),
    };
    let mut merged = vars.clone();
    let mut line_prefixes = (None, None);
    let mut keep_trailing_newline = true;
    for (key, value) in header.settings {
        match key.as_str() {
            "line_statement_prefix" => line_prefixes.0 = value.as_str().map(str::to_string),
            "line_comment_prefix" => line_prefixes.1 = value.as_str().map(str::to_string),
            "keep_trailing_newline" => keep_trailing_newline = value.as_bool().unwrap_or(true),
            _ => {
                merged.insert(key, value);
            }
        }
    }
    let args = Args::new(&MODULE, &merged)?;
    let source = header.body;
    let mut attrs = Attrs::from_args(&args)?;
    let opts = InstallOptions::from_args(&args)?;
    args.bool("follow", false)?;
    let trim_blocks = args.bool("trim_blocks", true)?;
    let lstrip_blocks = args.bool("lstrip_blocks", false)?;
    let newline = match args
        .choice(
            "newline_sequence",
            &["\\n", "\\r", "\\r\\n", "\n", "\r", "\r\n"],
            Some("\\n"),
        )?
        .as_deref()
    {
        Some("\\r") | Some("\r") => "\r",
        Some("\\r\\n") | Some("\r\n") => "\r\n",
        _ => "\n",
    };

    if attrs.mode == Some(Mode::Preserve) {
        attrs.mode = local_mode(&path).map(Mode::Octal);
    }
    let source_newlines = trailing_newlines(source);
    let source = adjust_source(source, trim_blocks, lstrip_blocks);

    let mut tvars = ctx.vars.clone();
    let full = std::fs::canonicalize(&path).unwrap_or(path.clone());
    tvars.insert("template_path".into(), json!(path.display().to_string()));
    tvars.insert(
        "template_fullpath".into(),
        json!(full.display().to_string()),
    );
    tvars.insert("template_host".into(), json!(local_hostname()));
    // Ansible gives templates their destination too.
    tvars.insert("template_destpath".into(), json!(dest));
    if !tvars.contains_key("ansible_managed") {
        tvars.insert("ansible_managed".into(), json!("Ansible managed"));
    }
    let delimiters = |what: &str, start: &str, end: &str| -> Result<_, ModuleError> {
        let s = args.str(&format!("{what}_start_string"))?;
        let e = args.str(&format!("{what}_end_string"))?;
        Ok((s.is_some() || e.is_some()).then(|| {
            (
                s.unwrap_or_else(|| start.into()),
                e.unwrap_or_else(|| end.into()),
            )
        }))
    };
    // Other templates are found next to this one first, then like it.
    let mut search_dirs: Vec<_> = path.parent().map(|d| d.to_path_buf()).into_iter().collect();
    search_dirs.extend(ctx.search.templates.iter().cloned());
    let file_opts = FileOptions {
        search_dirs,
        block: delimiters("block", "{%", "%}")?,
        variable: delimiters("variable", "{{", "}}")?,
        comment: delimiters("comment", "{#", "#}")?,
        line_statement_prefix: line_prefixes.0,
        line_comment_prefix: line_prefixes.1,
    };
    let encoding = args.str("output_encoding")?.unwrap_or_default();
    let rendered = match ctx.templates.render_file_with(
        &path.display().to_string(),
        &source,
        &tvars,
        &file_opts,
    ) {
        Ok(text) => text,
        Err(e) => return Ok(ModuleOutput::failed(e.to_string())),
    };
    // Like Ansible, newlines the source ends with and the result lost (to
    // trim_blocks after a last block tag) are put back.
    let mut rendered = rendered;
    for _ in trailing_newlines(&rendered)..source_newlines {
        rendered.push('\n');
    }
    if !keep_trailing_newline && rendered.ends_with('\n') {
        rendered.pop();
    }
    let rendered = if newline == "\n" {
        rendered
    } else {
        rendered.replace('\n', newline)
    };
    let bytes = encode(&rendered, &encoding).map_err(|e| args.error(e))?;
    let name = path
        .file_name()
        // A directory dest gets the source's own name, `.j2` and all (as Ansible).
        .map(|n| n.to_string_lossy().to_string());
    let mut out = install(ctx, &dest, &bytes, name.as_deref(), &attrs, &opts).await?;
    out.data
        .insert("src".into(), json!(path.display().to_string()));
    Ok(out)
}

/// Emulates `trim_blocks: false` and `lstrip_blocks: true` on the source
/// for an environment that has trim on and lstrip off.
fn adjust_source(source: &str, trim_blocks: bool, lstrip_blocks: bool) -> String {
    let mut text = source.to_string();
    if lstrip_blocks {
        // Whitespace before a block tag that starts its line goes away.
        let re = regex::Regex::new(r"(?m)^[ \t]+(\{%[^+])").expect("valid regex");
        text = re.replace_all(&text, "$1").into_owned();
    }
    if !trim_blocks {
        // The environment eats one newline after `%}`: give it one to eat.
        let re = regex::Regex::new(r"([^-])%\}(\r?\n)").expect("valid regex");
        text = re.replace_all(&text, "$1%}$2$2").into_owned();
    }
    text
}

/// How many line ends `text` finishes with (CRLF counts once).
fn trailing_newlines(text: &str) -> usize {
    text.replace("\r\n", "\n")
        .chars()
        .rev()
        .take_while(|&c| c == '\n' || c == '\r')
        .count()
}

/// `output_encoding`: the rendered text in the named encoding. Covers the
/// UTF-8 default and the single-byte Western encodings (latin-1,
/// windows-1252); others are refused by name.
fn encode(text: &str, encoding: &str) -> Result<Vec<u8>, String> {
    let name = encoding.to_ascii_lowercase().replace('_', "-");
    let latin1 = matches!(name.as_str(), "latin-1" | "latin1" | "iso-8859-1");
    let single_byte = |c: char| -> Option<u8> {
        let n = c as u32;
        if n < 0x80 || (0xa0..0x100).contains(&n) || (latin1 && n < 0x100) {
            return Some(n as u8);
        }
        if latin1 {
            return None;
        }
        CP1252_HIGH
            .iter()
            .position(|&h| h == c)
            .map(|i| 0x80 + i as u8)
    };
    match name.as_str() {
        "" | "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
        "latin-1" | "latin1" | "iso-8859-1" | "windows-1252" | "cp1252" => text
            .chars()
            .map(|c| {
                single_byte(c)
                    .ok_or_else(|| format!("'{encoding}' codec can't encode character {c:?}"))
            })
            .collect(),
        _ => Err(format!(
            "output_encoding '{encoding}' is not supported by herd (utf-8, latin-1, windows-1252)"
        )),
    }
}

/// windows-1252 bytes 0x80..0x9f ('\0' where the code page has no character).
const CP1252_HIGH: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘',
    '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templates;

    #[test]
    fn output_encodings() {
        assert_eq!(encode("é€", "").unwrap(), "é€".as_bytes());
        assert_eq!(encode("é€", "windows-1252").unwrap(), [0xe9, 0x80]);
        assert_eq!(encode("é", "ISO-8859-1").unwrap(), [0xe9]);
        assert!(encode("€", "latin-1").is_err());
        assert!(encode("x", "utf-16").is_err());
        assert_eq!(trailing_newlines("a\r\n\n"), 2);
    }

    #[test]
    fn block_options_are_emulated() {
        let t = Templates::new();
        let src = "a\n  {% if true %}\nb\n  {% endif %}\nc\n";
        let render = |s: &str| t.render_file("t", s, &Vars::new()).unwrap();
        assert_eq!(render(&adjust_source(src, true, false)), "a\n  b\n  c\n");
        assert_eq!(render(&adjust_source(src, true, true)), "a\nb\nc\n");
        assert_eq!(render(&adjust_source(src, false, true)), "a\n\nb\n\nc\n");
    }
}
