//! `template`: render a Jinja2 file locally with the host's variables,
//! then install it exactly as `copy` installs content.
//!
//! The environment is fixed to Ansible's defaults (`trim_blocks` on,
//! `lstrip_blocks` off); the other settings are emulated on the source
//! text so one shared environment serves every task.

use serde_json::json;

use super::args::Args;
use super::copy::{InstallOptions, install};
use super::file_attrs::Attrs;
use super::files;
use super::{ModuleContext, ModuleError, ModuleOutput, Vars, find_source};

const PARAMS: &[&str] = &[
    "src",
    "dest",
    "mode",
    "owner",
    "group",
    "backup",
    "force",
    "validate",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "follow",
];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new("template", vars, PARAMS)?;
    let src = args.required(&["src"])?;
    let dest = args.required(&["dest"])?;
    let attrs = Attrs::from_args(&args)?;
    let opts = InstallOptions {
        backup: args.bool("backup", false)?,
        force: args.bool("force", true)?,
        validate: args.str("validate")?,
    };
    files::check_validate(&opts.validate).map_err(|e| args.error(e))?;
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

    let path = find_source(&ctx.search.templates, &src).ok_or_else(|| {
        ModuleError::Local(format!(
            "Could not find or access '{src}' (searched: {})",
            ctx.search
                .templates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let source = std::fs::read_to_string(&path)
        .map_err(|e| ModuleError::Local(format!("reading template {}: {e}", path.display())))?;
    let source = adjust_source(&source, trim_blocks, lstrip_blocks);

    let mut tvars = ctx.vars.clone();
    let full = std::fs::canonicalize(&path).unwrap_or(path.clone());
    tvars.insert("template_path".into(), json!(path.display().to_string()));
    tvars.insert(
        "template_fullpath".into(),
        json!(full.display().to_string()),
    );
    tvars.insert("template_host".into(), json!(local_hostname()));
    tvars
        .entry("ansible_managed")
        .or_insert_with(|| json!("Ansible managed"));
    let rendered = match ctx
        .templates
        .render_file(&path.display().to_string(), &source, &tvars)
    {
        Ok(text) => text,
        Err(e) => return Ok(ModuleOutput::failed(e.to_string())),
    };
    let rendered = if newline == "\n" {
        rendered
    } else {
        rendered.replace('\n', newline)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".j2").to_string());
    let mut out = install(
        ctx,
        &dest,
        rendered.as_bytes(),
        name.as_deref(),
        &attrs,
        &opts,
    )
    .await?;
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
    fn block_options_are_emulated() {
        let t = Templates::new();
        let src = "a\n  {% if true %}\nb\n  {% endif %}\nc\n";
        let render = |s: &str| t.render_file("t", s, &Vars::new()).unwrap();
        assert_eq!(render(&adjust_source(src, true, false)), "a\n  b\n  c\n");
        assert_eq!(render(&adjust_source(src, true, true)), "a\nb\nc\n");
        assert_eq!(render(&adjust_source(src, false, true)), "a\n\nb\n\nc\n");
    }
}
