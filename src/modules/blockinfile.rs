//! `blockinfile`: a block of lines between two marker lines, inserted,
//! updated in place or removed, with Ansible's placement rules.

use regex::Regex;

use super::args::Args;
use super::edit::{self, EditedFile, split_lines_keep};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// blockinfile, as a task writes it.
pub const MODULE: Module = Module {
    name: "blockinfile",
    params: &[
        alias("path", &["dest", "destfile", "name"]),
        alias("block", &["content"]),
        p("marker"),
        p("marker_begin"),
        p("marker_end"),
        p("state"),
        p("insertafter"),
        p("insertbefore"),
        p("create"),
        p("backup"),
        p("mode"),
        p("owner"),
        p("group"),
        p("validate"),
        p("append_newline"),
        p("prepend_newline"),
        p("unsafe_writes"),
    ],
    required: &[&["path"]],
    exclusive: &[("insertafter", "insertbefore")],
    run: async_run!(run),
    ..Module::DEFAULT
};

#[derive(Debug)]
pub(crate) struct Params {
    file: EditedFile,
    block: String,
    present: bool,
    begin: String,
    end: String,
    /// Regex and whether it is `insertafter` (else `insertbefore`).
    insert: Option<(Regex, bool)>,
    /// `insertbefore: BOF`.
    bof: bool,
    create: bool,
    append_newline: bool,
    prepend_newline: bool,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path = args.required(&["path", "dest", "destfile", "name"])?;
    let marker = args
        .str("marker")?
        .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
    let begin = args.str("marker_begin")?.unwrap_or_else(|| "BEGIN".into());
    let end = args.str("marker_end")?.unwrap_or_else(|| "END".into());
    let after = args.str("insertafter")?;
    let before = args.str("insertbefore")?;
    if after.is_some() && before.is_some() {
        return Err(args.error("parameters are mutually exclusive: insertbefore, insertafter"));
    }
    let compile = |name: &str, re: &str| {
        Regex::new(re).map_err(|e| args.error(format!("invalid regular expression in {name}: {e}")))
    };
    let insert = match (after.as_deref(), before.as_deref()) {
        (Some(a), _) if a != "EOF" => Some((compile("insertafter", a)?, true)),
        (_, Some(b)) if b != "BOF" => Some((compile("insertbefore", b)?, false)),
        _ => None,
    };
    let file = EditedFile::from_args(&args, path)?;
    // Block and markers in the form the file's text is read in (see
    // edit::decode_exact).
    let exact = |text: String| edit::decode_exact(text.as_bytes());
    Ok(Params {
        file,
        block: exact(args.str_any(&["block", "content"])?.unwrap_or_default()),
        present: args
            .choice("state", &["present", "absent"], Some("present"))?
            .as_deref()
            == Some("present"),
        begin: exact(marker.replace("{mark}", &begin)),
        end: exact(marker.replace("{mark}", &end)),
        insert,
        bof: before.as_deref() == Some("BOF"),
        create: args.bool("create", false)?,
        append_newline: args.bool("append_newline", false)?,
        prepend_newline: args.bool("prepend_newline", false)?,
    })
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    let info = edit::read(ctx, &p.file.path).await?;
    if !info.exists && !p.create {
        let mut out = ModuleOutput::failed(format!("Path {} does not exist !", p.file.path));
        out.data.insert("rc".into(), serde_json::json!(257));
        return Ok(out);
    }
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let before = edit::decode_exact(before_bytes);
    let (after, block_written) = apply(&p, &before);
    let (after, msg) = if info.exists && after == before {
        (None, String::new())
    } else if !info.exists {
        if after.is_empty() && !block_written {
            // Nothing to write and nothing there: stays absent.
            (None, String::new())
        } else {
            (Some(after), "File created".to_string())
        }
    } else if !block_written {
        (Some(after), "Block removed".to_string())
    } else {
        (Some(after), "Block inserted".to_string())
    };
    let after = after.map(|a| edit::encode_exact(&a));
    let mut out = edit::finish(ctx, p.file.edit(&info, before_bytes, after, msg)).await?;
    edit::backup_as_backup_file(&mut out);
    Ok(out)
}

/// The new text, and whether it holds a block (false: removed/none).
pub(crate) fn apply(p: &Params, original: &str) -> (String, bool) {
    let mut lines = split_lines_keep(original);
    let marker0 = format!("{}\n", p.begin);
    let marker1 = format!("{}\n", p.end);
    let mut block_lines: Vec<String> = Vec::new();
    if p.present && !p.block.is_empty() {
        let mut block = p.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        block_lines.push(marker0.clone());
        block_lines.extend(split_lines_keep(&block));
        block_lines.push(marker1.clone());
    }
    // Markers are found whatever the file's line endings.
    let is = |l: &str, m: &str| l.trim_end_matches(['\r', '\n']) == m.trim_end_matches('\n');
    let n0 = lines.iter().rposition(|l| is(l, &marker0));
    let n1 = lines.iter().rposition(|l| is(l, &marker1));
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => match &p.insert {
            Some((re, after)) => {
                let mut found = None;
                if re.as_str().starts_with("(?m)") {
                    if let Some(m) = re.find(original) {
                        let pos = if *after { m.end() } else { m.start() };
                        found = Some(original[..pos].matches('\n').count());
                    }
                } else {
                    for (i, l) in lines.iter().enumerate() {
                        if re.is_match(l.strip_suffix('\n').unwrap_or(l)) {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if *after => i + 1,
                    Some(i) => i,
                }
            }
            None if p.bof => 0,
            None => lines.len(),
        },
    };
    at = at.min(lines.len());
    if at > 0 && !lines[at - 1].ends_with('\n') {
        lines[at - 1].push('\n');
    }
    if !block_lines.is_empty() {
        let blank = |l: &str| l == "\n" || l == "\r\n";
        if p.prepend_newline && at > 0 && !blank(&lines[at - 1]) {
            block_lines.insert(0, "\n".into());
        }
        if p.append_newline && at < lines.len() && !blank(&lines[at]) {
            block_lines.push("\n".into());
        }
    }
    let written = !block_lines.is_empty();
    lines.splice(at..at, block_lines);
    (lines.concat(), written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> Params {
        parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn inserts_updates_and_removes() {
        let p = params(json!({"path": "f", "block": "x=1"}));
        let (text, _) = apply(&p, "a\n");
        assert_eq!(
            text,
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\n"
        );
        assert_eq!(apply(&p, &text).0, text);
        let p2 = params(json!({"path": "f", "block": "x=2"}));
        assert!(apply(&p2, &text).0.contains("x=2\n# END"));
        let gone = params(json!({"path": "f", "state": "absent"}));
        assert_eq!(apply(&gone, &text), ("a\n".into(), false));
    }

    #[test]
    fn placement() {
        let p =
            params(json!({"path": "f", "block": "x", "insertbefore": "BOF", "marker": "#{mark}"}));
        assert_eq!(apply(&p, "a\n").0, "#BEGIN\nx\n#END\na\n");
        let p =
            params(json!({"path": "f", "block": "x", "insertafter": "^a", "marker": "#{mark}"}));
        assert_eq!(apply(&p, "a\nb\n").0, "a\n#BEGIN\nx\n#END\nb\n");
        let p = params(json!({"path": "f", "block": "x", "marker": "#{mark}"}));
        assert_eq!(apply(&p, "a").0, "a\n#BEGIN\nx\n#END\n");
    }
}
