//! `lineinfile`: make sure one line is in a file (or is not), by exact
//! text, `regexp` or `search_string`, with Ansible's placement rules
//! (`insertafter`/`insertbefore`, `firstmatch`, `backrefs`).
//!
//! The file is read and stat'ed in one round trip; the edit is computed
//! here and written atomically only if the text changes.

use fancy_regex::Regex as PyRegex;
use regex::Regex;
use serde_json::json;

use super::args::Args;
use super::edit::{self, EditedFile, split_lines_keep, strip_eol};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// lineinfile, as a task writes it.
pub const MODULE: Module = Module {
    name: "lineinfile",
    params: &[
        alias("path", &["dest", "destfile", "name"]),
        alias("line", &["value"]),
        alias("regexp", &["regex"]),
        p("search_string"),
        p("state"),
        p("insertafter"),
        p("insertbefore"),
        p("create"),
        p("backup"),
        p("backrefs"),
        p("mode"),
        p("owner"),
        p("group"),
        p("firstmatch"),
        p("validate"),
        p("unsafe_writes"),
    ],
    required: &[&["path"]],
    exclusive: &[("insertafter", "insertbefore")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Where to insert a line that is not there yet.
#[derive(Debug, Clone)]
enum Anchor {
    Bof,
    Eof,
    After(PyRegex),
    Before(PyRegex),
}

/// How to find the line.
#[derive(Debug, Clone)]
enum Search {
    Exact,
    Regexp(PyRegex),
    Text(String),
}

#[derive(Debug)]
pub(crate) struct Params {
    file: EditedFile,
    line: Option<String>,
    search: Search,
    present: bool,
    anchor: Anchor,
    create: bool,
    backrefs: bool,
    firstmatch: bool,
    /// Ansible's warnings, returned as `warnings`.
    warnings: Vec<String>,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path = args.required(&["path", "dest", "destfile", "name"])?;
    let present = args
        .choice("state", &["present", "absent"], Some("present"))?
        .as_deref()
        == Some("present");
    let line = args.str_any(&["line", "value"])?;
    let regexp = args.str_any(&["regexp", "regex"])?;
    let search_string = args.str("search_string")?;
    if regexp.is_some() && search_string.is_some() {
        return Err(args.error("parameters are mutually exclusive: regexp, search_string"));
    }
    let insertafter = args.str("insertafter")?;
    let insertbefore = args.str("insertbefore")?;
    if insertafter.is_some() && insertbefore.is_some() {
        return Err(args.error("parameters are mutually exclusive: insertbefore, insertafter"));
    }
    let backrefs = args.bool("backrefs", false)?;
    if present && line.is_none() {
        return Err(args.error("line is required with state=present"));
    }
    if backrefs && regexp.is_none() {
        return Err(args.error("regexp is required with backrefs=true"));
    }
    if !present && line.is_none() && regexp.is_none() && search_string.is_none() {
        return Err(
            args.error("one of line, search_string, or regexp is required with state=absent")
        );
    }
    let compile = |name: &str, re: &str| {
        PyRegex::new(re)
            .map_err(|e| args.error(format!("invalid regular expression in {name}: {e}")))
    };
    // Ansible's wording: playbooks test for it.
    let mut warnings = Vec::new();
    const CONSEQUENCES: &str = "This may have unintended consequences, such as replacing the last line in the file rather than appending.";
    if regexp.as_deref() == Some("") {
        warnings.push(format!("The regular expression is an empty string, which will match every line in the file. {CONSEQUENCES} If this is desired, use '^' to match every line in the file and avoid this warning."));
    }
    if search_string.as_deref() == Some("") {
        warnings.push(format!("The search string is an empty string, which will match every line in the file. {CONSEQUENCES}"));
    }
    let search = match (regexp, search_string) {
        (Some(r), _) => Search::Regexp(compile("regexp", &r)?),
        (None, Some(s)) => Search::Text(s),
        (None, None) => Search::Exact,
    };
    let anchor = match (insertafter.as_deref(), insertbefore.as_deref()) {
        (Some("EOF"), _) | (None, None) => Anchor::Eof,
        (_, Some("BOF")) | (Some("BOF"), _) => Anchor::Bof,
        (Some(a), _) => Anchor::After(compile("insertafter", a)?),
        (None, Some(b)) => Anchor::Before(compile("insertbefore", b)?),
    };
    let file = EditedFile::from_args(&args, path)?;
    Ok(Params {
        file,
        // In the form the file's text is read in (see edit::decode_exact).
        line: line.map(|l| edit::decode_exact(l.as_bytes())),
        search,
        present,
        anchor,
        create: args.bool("create", false)?,
        backrefs,
        firstmatch: args.bool("firstmatch", false)?,
        warnings,
    })
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    let info = edit::read(ctx, &p.file.path).await?;
    if !info.exists {
        if !p.present {
            let mut data = Vars::new();
            data.insert("found".into(), json!(0));
            data.insert("msg".into(), json!("file not present"));
            data.insert("backup".into(), json!(""));
            return Ok(ModuleOutput {
                data,
                ..ModuleOutput::default()
            });
        }
        if !p.create {
            let mut out =
                ModuleOutput::failed(format!("Destination {} does not exist !", p.file.path));
            out.data.insert("rc".into(), json!(257));
            return Ok(out);
        }
        // `create: yes` makes the missing parent directories too, as Ansible.
        if let Some(parent) = std::path::Path::new(&p.file.path).parent()
            && !ctx.check_mode
            && !parent.as_os_str().is_empty()
        {
            let mkdir = format!(
                "mkdir -p -- {}",
                crate::ssh::shell_quote(&parent.to_string_lossy())
            );
            ctx.transport.exec(&mkdir, &ctx.exec).await?;
        }
    }
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let before = edit::decode_exact(before_bytes);
    let (after, msg, found) = if p.present {
        let (after, msg) = present(&p, &before);
        (after, msg, None)
    } else {
        let (after, n) = absent(&p, &before);
        (after, format!("{n} line(s) removed"), Some(n))
    };
    let changed_text = (after != before || !info.exists).then(|| edit::encode_exact(&after));
    let msg = if changed_text.is_some() {
        msg
    } else {
        String::new()
    };
    let mut out = edit::finish(ctx, p.file.edit(&info, before_bytes, changed_text, msg)).await?;
    if let Some(n) = found {
        out.data.insert("found".into(), json!(n));
    }
    if !p.warnings.is_empty() {
        out.data.insert("warnings".into(), json!(p.warnings));
    }
    Ok(out)
}

fn matches(search: &Search, line: &str, wanted: &str) -> bool {
    match search {
        Search::Exact => strip_eol(line) == wanted,
        Search::Regexp(re) => re.is_match(py_line(line)).unwrap_or(false),
        Search::Text(s) => line.contains(s.as_str()),
    }
}

/// A line as Python's `re.search` sees it for `$`: `$` also matches before
/// a final newline, which the regex crate's `$` does not.
fn py_line(line: &str) -> &str {
    line.strip_suffix('\n').unwrap_or(line)
}

/// state=present: the new text and Ansible's message.
pub(crate) fn present(p: &Params, before: &str) -> (String, String) {
    let line = p.line.clone().unwrap_or_default();
    let mut lines = split_lines_keep(before);
    let mut found: Option<usize> = None;
    for (i, l) in lines.iter().enumerate() {
        if matches(&p.search, l, &line) {
            found = Some(i);
            if p.firstmatch {
                break;
            }
        }
    }
    // A regexp or search string that matches nothing: the exact line
    // already being there still counts as present.
    let mut exact = false;
    if found.is_none() && !p.backrefs && !matches!(p.search, Search::Exact) {
        found = lines.iter().position(|l| strip_eol(l) == line);
        exact = found.is_some();
    }
    let mut insert_at: Option<usize> = None;
    if let Anchor::After(re) | Anchor::Before(re) = &p.anchor {
        for (i, l) in lines.iter().enumerate() {
            if re.is_match(py_line(l)).unwrap_or(false) {
                insert_at = Some(if matches!(p.anchor, Anchor::After(_)) {
                    i + 1
                } else {
                    i
                });
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    let added = |lines: Vec<String>| (lines.concat(), "line added".to_string());
    if let Some(i) = found {
        let mut new_line = match (&p.search, p.backrefs, exact) {
            (Search::Regexp(re), true, false) => {
                let caps = re
                    .captures(py_line(&lines[i]))
                    .ok()
                    .flatten()
                    .expect("matched above");
                let mut out = String::new();
                caps.expand(&python_template(&line), &mut out);
                out
            }
            _ => line.clone(),
        };
        let eol = if lines[i].ends_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        if !new_line.ends_with('\n') {
            new_line.push_str(eol);
        }
        if lines[i] != new_line {
            lines[i] = new_line;
            return (lines.concat(), "line replaced".to_string());
        }
        return (lines.concat(), String::new());
    }
    if p.backrefs {
        return (before.to_string(), String::new());
    }
    match (&p.anchor, insert_at) {
        (Anchor::Bof, _) => {
            lines.insert(0, format!("{line}\n"));
            added(lines)
        }
        (Anchor::Eof, _) | (_, None) => {
            if lines.last().is_some_and(|l| !l.ends_with('\n')) {
                lines.last_mut().expect("not empty").push('\n');
            }
            lines.push(format!("{line}\n"));
            added(lines)
        }
        (Anchor::After(_), Some(i)) => {
            // Already right after the anchor: nothing to do.
            if i > 0 && i == lines.len() {
                if strip_eol(&lines[i - 1]) != line {
                    if !lines[i - 1].ends_with('\n') {
                        lines[i - 1].push('\n');
                    }
                    lines.push(format!("{line}\n"));
                    return added(lines);
                }
                return (lines.concat(), String::new());
            }
            if i < lines.len() && strip_eol(&lines[i]) == line {
                return (lines.concat(), String::new());
            }
            lines.insert(i, format!("{line}\n"));
            added(lines)
        }
        (Anchor::Before(_), Some(i)) => {
            if i > 0 && strip_eol(&lines[i - 1]) == line {
                return (lines.concat(), String::new());
            }
            lines.insert(i, format!("{line}\n"));
            added(lines)
        }
    }
}

/// state=absent: the new text and how many lines went.
fn absent(p: &Params, before: &str) -> (String, usize) {
    let line = p.line.clone().unwrap_or_default();
    let lines = split_lines_keep(before);
    let kept: Vec<String> = lines
        .iter()
        .filter(|l| !matches(&p.search, l, &line))
        .cloned()
        .collect();
    let removed = lines.len() - kept.len();
    (kept.concat(), removed)
}

/// Python's `\1`, `\g<1>`, `\g<name>` backreferences in regex-crate syntax.
fn python_template(line: &str) -> String {
    let re = Regex::new(r"\\(?:g<(\w+)>|(\d+))").expect("valid regex");
    let escaped = line.replace('$', "$$");
    re.replace_all(&escaped, |c: &regex::Captures<'_>| {
        let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
        format!("${{{name}}}")
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: serde_json::Value) -> Params {
        parse(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn adds_replaces_and_keeps() {
        let p = params(json!({"path": "f", "line": "b=2"}));
        assert_eq!(
            present(&p, "a=1\n"),
            ("a=1\nb=2\n".into(), "line added".into())
        );
        assert_eq!(
            present(&p, "a=1"),
            ("a=1\nb=2\n".into(), "line added".into())
        );
        assert_eq!(present(&p, "b=2\n").1, "");
        let p = params(json!({"path": "f", "line": "b=3", "regexp": "^b="}));
        assert_eq!(
            present(&p, "a\nb=2\nc\n"),
            ("a\nb=3\nc\n".into(), "line replaced".into())
        );
        let p = params(json!({"path": "f", "line": "x", "insertbefore": "BOF"}));
        assert_eq!(present(&p, "a\n").0, "x\na\n");
        let p = params(json!({"path": "f", "line": "x", "insertafter": "^a"}));
        assert_eq!(present(&p, "a\nb\n").0, "a\nx\nb\n");
        assert_eq!(present(&p, "a\nx\nb\n").1, "");
        // `$` matches before the line's newline, as in Python.
        let p = params(json!({"path": "f", "line": "x", "insertafter": "^a$"}));
        assert_eq!(present(&p, "a\nb\n").0, "a\nx\nb\n");
        let p = params(json!({"path": "f", "line": "b=3", "regexp": "^b=2$"}));
        assert_eq!(present(&p, "a\nb=2\n").0, "a\nb=3\n");
    }

    #[test]
    fn backrefs_use_python_syntax() {
        let p = params(
            json!({"path": "f", "line": "port=\\1 $HOME", "regexp": "^#port=(\\d+)", "backrefs": true}),
        );
        assert_eq!(present(&p, "#port=22\n").0, "port=22 $HOME\n");
        // No match: nothing changes with backrefs.
        assert_eq!(present(&p, "x\n"), ("x\n".into(), String::new()));
    }

    #[test]
    fn absent_counts() {
        let p = params(json!({"path": "f", "regexp": "^#", "state": "absent"}));
        assert_eq!(absent(&p, "#a\nb\n#c\n"), ("b\n".into(), 2));
    }

    #[test]
    fn bad_arguments() {
        let v = json!({"path": "f", "line": "x", "regexp": "(", "bogus": 1});
        assert!(parse(v.as_object().unwrap()).is_err());
        let v = json!({"path": "f", "regexp": "("});
        assert!(
            parse(v.as_object().unwrap())
                .unwrap_err()
                .to_string()
                .contains("line is required")
        );
    }
}
