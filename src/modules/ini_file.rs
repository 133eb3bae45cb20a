//! `ini_file` (community.general.ini_file): one option of one section of
//! an INI-style file, present (with one or several values) or absent, or a
//! whole section. The file is read with its metadata in one round trip,
//! edited here with Ansible's placement rules (a commented-out option is
//! replaced where it stands, a new option goes after the section's last
//! setting, a new section at the end) and written atomically only when its
//! text changes.
//!
//! Lines the edit does not touch keep their bytes, line endings included.

use regex::Regex;
use serde_json::{Value, json};

use super::args::Args;
use super::edit::{self, Edit, split_lines_keep, strip_eol};
use super::owner_group_mode::Attrs;
use super::remote_file::{self, Want};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// ini_file, as a task writes it (`community.general.ini_file`).
pub const MODULE: Module = Module {
    name: "ini_file",
    aliases: &["community.general.ini_file"],
    params: &[
        alias("path", &["dest"]),
        p("section"),
        p("section_has_values"),
        p("option"),
        p("value"),
        p("values"),
        p("state"),
        p("exclusive"),
        p("backup"),
        p("no_extra_spaces"),
        p("ignore_spaces"),
        p("allow_no_value"),
        p("modify_inactive_option"),
        p("create"),
        p("follow"),
        p("mode"),
        p("owner"),
        p("group"),
        p("unsafe_writes"),
    ],
    required: &[&["path"]],
    exclusive: &[("value", "values")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// A `section_has_values` entry: the section must set `option` (to one of
/// `values`, when any are given).
#[derive(Debug, Clone)]
struct Condition {
    option: String,
    values: Vec<String>,
}

#[derive(Debug)]
struct Params {
    path: String,
    /// `None`: the options before the first section.
    section: Option<String>,
    section_has_values: Vec<Condition>,
    option: Option<String>,
    values: Vec<String>,
    present: bool,
    exclusive: bool,
    backup: bool,
    no_extra_spaces: bool,
    ignore_spaces: bool,
    allow_no_value: bool,
    modify_inactive_option: bool,
    create: bool,
    follow: bool,
    attrs: Attrs,
}

/// Python's `str()` of a scalar, as Ansible's `type='str'` gives it.
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        other => Some(other.to_string()),
    }
}

/// A list of strings (a single scalar is a one-item list).
fn str_list(args: &Args<'_>, v: &Value, what: &str) -> Result<Vec<String>, ModuleError> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .map(|i| match i {
                Value::Array(_) | Value::Object(_) => {
                    Err(args.error(format!("{what} must be a list of strings")))
                }
                _ => Ok(py_str(i).unwrap_or_default()),
            })
            .collect(),
        Value::Object(_) => Err(args.error(format!("{what} must be a list of strings"))),
        other => Ok(py_str(other).into_iter().collect()),
    }
}

fn parse_conditions(args: &Args<'_>) -> Result<Vec<Condition>, ModuleError> {
    let Some((_, v)) = args.value(&["section_has_values"]) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(args.error("section_has_values must be a list of {option, value(s)} mappings"));
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(map) = item else {
                return Err(args.error(
                    "each section_has_values entry must be a mapping with option and value(s)",
                ));
            };
            if let Some(k) = map
                .keys()
                .find(|k| !["option", "value", "values"].contains(&k.as_str()))
            {
                return Err(args.error(format!(
                    "section_has_values: unsupported key {k} (supported: option, value, values)"
                )));
            }
            let option = map
                .get("option")
                .and_then(py_str)
                .ok_or_else(|| args.error("section_has_values: each entry needs an option"))?;
            let value = map.get("value").filter(|v| !v.is_null());
            let values = map.get("values").filter(|v| !v.is_null());
            let values = match (value, values) {
                (Some(_), Some(_)) => {
                    return Err(args.error(
                        "section_has_values: parameters are mutually exclusive: value|values",
                    ));
                }
                (Some(v), None) => py_str(v).into_iter().collect(),
                (None, Some(vs)) => str_list(args, vs, "section_has_values values")?,
                (None, None) => Vec::new(),
            };
            Ok(Condition { option, values })
        })
        .collect()
}

/// The parameters, or Ansible's failure message for a task it runs and
/// fails (value missing with state=present).
fn parse(vars: &Vars) -> Result<Result<Params, String>, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path = args.required(&["path"])?;
    let present = args
        .choice("state", &["absent", "present"], Some("present"))?
        .as_deref()
        == Some("present");
    let allow_no_value = args.bool("allow_no_value", false)?;
    let value = args.value(&["value"]).and_then(|(_, v)| py_str(v));
    let values = match args.value(&["values"]) {
        Some((_, v)) => Some(str_list(&args, v, "values")?),
        None => None,
    };
    if value.is_some() && values.is_some() {
        return Err(args.error("parameters are mutually exclusive: value|values"));
    }
    args.bool("unsafe_writes", false)?;
    let params = Params {
        path,
        section: args.str("section")?.filter(|s| !s.is_empty()),
        section_has_values: parse_conditions(&args)?,
        option: args.str("option")?,
        values: Vec::new(),
        present,
        exclusive: args.bool("exclusive", true)?,
        backup: args.bool("backup", false)?,
        no_extra_spaces: args.bool("no_extra_spaces", false)?,
        ignore_spaces: args.bool("ignore_spaces", false)?,
        allow_no_value,
        modify_inactive_option: args.bool("modify_inactive_option", true)?,
        create: args.bool("create", true)?,
        follow: args.bool("follow", false)?,
        attrs: Attrs::from_args(&args)?,
    };
    let no_values = values.as_ref().is_none_or(Vec::is_empty);
    if present && !allow_no_value && value.is_none() && no_values {
        return Ok(Err(
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False."
                .into(),
        ));
    }
    // Duplicates are dropped, order kept.
    let mut unique: Vec<String> = Vec::new();
    for v in value.into_iter().chain(values.unwrap_or_default()) {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    Ok(Ok(Params {
        values: unique,
        ..params
    }))
}

/// How lines naming an option are recognised: `[#;]? option [= value]`,
/// commented out or not (`any`), or only active ones.
struct OptionMatch {
    any: Regex,
    active: Regex,
}

/// One line's match: whether it is commented out, whether it has `=`, and
/// its value.
struct Found {
    commented: bool,
    has_sep: bool,
    value: String,
}

impl OptionMatch {
    fn new(option: &str) -> OptionMatch {
        let o = regex::escape(option);
        let build = |comment: &str| {
            Regex::new(&format!(
                r"^[ \t]*(?P<comment>{comment})[ \t]*{o}[ \t]*(?P<sep>=|$)[ \t]*(?P<value>.*)"
            ))
            .expect("an escaped option makes a valid regex")
        };
        OptionMatch {
            any: build("[#;]?"),
            active: build(""),
        }
    }

    fn find(&self, line: &str, active_only: bool) -> Option<Found> {
        let re = if active_only { &self.active } else { &self.any };
        let c = re.captures(strip_eol(line))?;
        Some(Found {
            commented: !c["comment"].is_empty(),
            has_sep: !c["sep"].is_empty(),
            value: c["value"].to_string(),
        })
    }
}

/// Stands for the options before the first section; never in a real file
/// (Ansible's own choice of name, so both place global options alike).
const GLOBAL: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// A blank line or a comment (where a new option is not placed after).
fn blank_or_comment(line: &str) -> bool {
    let t = strip_eol(line).trim_start_matches([' ', '\t']);
    t.is_empty() || t.starts_with(['#', ';'])
}

fn section_satisfies(conditions: &[Condition], lines: &[String]) -> bool {
    conditions.iter().all(|c| {
        let m = OptionMatch::new(&c.option);
        lines.iter().any(|l| {
            m.find(l, false)
                .is_some_and(|f| c.values.is_empty() || c.values.contains(&f.value))
        })
    })
}

/// What an edit did: the new text, whether it differs, Ansible's message.
#[derive(Debug, PartialEq)]
struct Outcome {
    text: String,
    changed: bool,
    msg: &'static str,
}

/// Replaces `lines[i]` with `new` (keeping the old line ending) unless they
/// already agree; with `ignore_spaces`, an active line whose value is the
/// same counts as agreeing.
fn update_line(lines: &mut [String], i: usize, new: &str, p: &Params, m: &OptionMatch) -> bool {
    let old = &lines[i];
    let differs = match (p.ignore_spaces, m.find(old, false)) {
        (true, Some(f)) if !f.commented => m.find(new, false).is_none_or(|n| n.value != f.value),
        _ => strip_eol(old) != strip_eol(new),
    };
    if differs {
        let eol = &old[strip_eol(old).len()..];
        let eol = if eol.is_empty() { "\n" } else { eol };
        lines[i] = format!("{}{eol}", strip_eol(new));
    }
    differs
}

/// The edit, as Ansible's ini_file makes it.
fn apply(text: &str, p: &Params) -> Outcome {
    let (bom, text) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let mut lines = split_lines_keep(text);
    let mut changed = false;
    if lines.is_empty() {
        lines.push("\n".into());
    }
    let last = lines.last_mut().expect("at least one line");
    if !last.ends_with('\n') {
        last.push('\n');
        changed = true;
    }
    // A header for the options before the first section, and an end mark
    // so every section ends at a line starting with `[`.
    lines.insert(0, format!("[{GLOBAL}]"));
    lines.push("[".into());

    let section = p.section.clone().unwrap_or_else(|| GLOBAL.to_string());
    let header = Regex::new(&format!(r"^\[\s*{}\s*]", regex::escape(section.trim())))
        .expect("an escaped section makes a valid regex");
    let (mut within, mut start, mut end) = (false, 0, 0);
    for (i, line) in lines.iter().enumerate() {
        if within && line.starts_with('[') {
            if section_satisfies(&p.section_has_values, &lines[start..i]) {
                end = i;
                break;
            }
            (within, start, end) = (false, 0, 0);
        }
        if header.is_match(line) {
            within = true;
            start = i;
        }
    }
    let after = lines.split_off(end);
    let mut section_lines = lines.split_off(start);
    let before = lines;

    let mut msg = "OK";
    let sep = if p.no_extra_spaces { "=" } else { " = " };
    let mut values = p.values.clone();
    let option = p.option.as_deref().unwrap_or_default();
    let m = OptionMatch::new(option);
    let active_only = !p.modify_inactive_option;
    let mut touched = vec![false; section_lines.len()];
    let mut no_value_present = false;

    if p.present && p.option.is_some() {
        // Lines already holding one of the values are kept (and activated).
        for i in 0..section_lines.len() {
            let Some(f) = m.find(&section_lines[i], active_only) else {
                continue;
            };
            let mut last = false;
            let new = if !values.is_empty() && values.contains(&f.value) {
                values.retain(|v| *v != f.value);
                if f.value.is_empty() && p.allow_no_value {
                    no_value_present = true;
                    format!("{option}\n")
                } else {
                    format!("{option}{sep}{}\n", f.value)
                }
            } else if values.is_empty() && p.allow_no_value {
                // An option without a value: the first line naming it is it.
                no_value_present = true;
                last = true;
                format!("{option}\n")
            } else {
                continue;
            };
            if update_line(&mut section_lines, i, &new, p, &m) {
                changed = true;
                msg = "option changed";
            }
            touched[i] = true;
            if last {
                break;
            }
        }
    }

    if p.present && p.exclusive && !p.allow_no_value && p.option.is_some() {
        // Other lines of the option take the remaining values, in order...
        // A comment that only names the option ("; output_buffering") stays.
        let setting = |f: &Found| !f.commented || f.has_sep;
        for i in 0..section_lines.len() {
            if values.is_empty() {
                break;
            }
            if touched[i]
                || !m
                    .find(&section_lines[i], active_only)
                    .is_some_and(|f| setting(&f))
            {
                continue;
            }
            let new = format!("{option}{sep}{}\n", values.remove(0));
            if update_line(&mut section_lines, i, &new, p, &m) {
                changed = true;
                msg = "option changed";
            }
            touched[i] = true;
        }
        // ...and those left over go.
        for i in (1..section_lines.len()).rev() {
            if !touched[i]
                && m.find(&section_lines[i], active_only)
                    .is_some_and(|f| setting(&f))
            {
                section_lines.remove(i);
                touched.remove(i);
                changed = true;
                msg = "option changed";
            }
        }
    }

    if p.present {
        // Missing values go after the section's last setting.
        if let Some(i) = (1..=section_lines.len())
            .rev()
            .find(|&i| !blank_or_comment(&section_lines[i - 1]))
            && p.option.is_some()
        {
            if !values.is_empty() {
                for v in values.iter().rev() {
                    section_lines.insert(i, format!("{option}{sep}{v}\n"));
                }
                msg = "option added";
                changed = true;
            } else if p.allow_no_value && !no_value_present {
                section_lines.insert(i, format!("{option}\n"));
                msg = "option added";
                changed = true;
            }
        }
    } else if p.option.is_some() {
        let keep = |l: &String| match m.find(l, true) {
            None => true,
            Some(f) => !p.exclusive && !values.contains(&f.value),
        };
        if p.exclusive || !values.is_empty() {
            let kept: Vec<String> = section_lines.iter().filter(|l| keep(l)).cloned().collect();
            if kept != section_lines {
                section_lines = kept;
                changed = true;
                msg = "option changed";
            }
        }
    } else if !section_lines.is_empty() {
        // The whole section goes (for the global one, its options: the
        // header is our own).
        let keep = usize::from(p.section.is_none());
        if section_lines.len() > keep {
            section_lines.truncate(keep);
            msg = "section removed";
            changed = true;
        }
    }

    let mut lines = before;
    lines.extend(section_lines);
    lines.extend(after);
    lines.remove(0);
    lines.pop();

    if !within && p.present {
        lines.push(format!("[{section}]\n"));
        msg = "section and option added";
        for c in &p.section_has_values {
            if Some(c.option.as_str()) != p.option.as_deref() {
                if !c.values.is_empty() {
                    for v in &c.values {
                        lines.push(format!("{}{sep}{v}\n", c.option));
                    }
                } else if p.allow_no_value {
                    lines.push(format!("{}\n", c.option));
                }
            } else if !p.exclusive {
                for v in &c.values {
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
            }
        }
        if p.option.is_some() && !values.is_empty() {
            for v in &values {
                lines.push(format!("{option}{sep}{v}\n"));
            }
        } else if p.option.is_some() && p.allow_no_value {
            lines.push(format!("{option}\n"));
        } else {
            msg = "only section added";
        }
        changed = true;
    }
    Outcome {
        text: format!("{bom}{}", lines.concat()),
        changed,
        msg,
    }
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = match parse(vars)? {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    // follow: edit the file a link points to, not replace the link.
    let mut target = p.path.clone();
    if p.follow {
        let q = shell_quote(&p.path);
        let out = ctx
            .transport
            .exec(
                &format!("if [ -L {q} ]; then readlink -m -- {q}; fi"),
                &ctx.exec,
            )
            .await?;
        let resolved = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        if out.success() && !resolved.is_empty() {
            target = resolved;
        }
    }
    let info = edit::read(ctx, &target).await?;
    if !info.exists {
        if !p.create {
            let mut out = ModuleOutput::failed(format!("Destination {target} does not exist!"));
            out.data.insert("rc".into(), json!(257));
            return Ok(out);
        }
        if let Some(parent) = std::path::Path::new(&target).parent()
            && !ctx.check_mode
            && !parent.as_os_str().is_empty()
        {
            let mkdir = format!("mkdir -p -- {}", shell_quote(&parent.to_string_lossy()));
            let out = ctx.transport.exec(&mkdir, &ctx.exec).await?;
            if !out.success() {
                return Ok(ModuleOutput::failed(format!(
                    "could not create the directory of {target}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
    }
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let outcome = apply(&edit::decode_exact(before_bytes), &p);
    let after = outcome
        .changed
        .then(|| edit::encode_exact(&outcome.text))
        .filter(|a| a != before_bytes || !info.exists);
    let mut out = edit::finish(
        ctx,
        Edit {
            path: &target,
            info: &info,
            before: before_bytes,
            after,
            msg: String::new(),
            attrs: &p.attrs,
            backup: p.backup,
            validate: None,
        },
    )
    .await?;
    // Ansible's fields: path, msg, backup_file when one was made, and the
    // file's attributes as they are now.
    edit::backup_as_backup_file(&mut out);
    out.msg = Some(outcome.msg.to_string());
    out.data.insert("msg".into(), json!(outcome.msg));
    out.data.insert("path".into(), json!(p.path));
    let now = if out.changed && !ctx.check_mode {
        remote_file::probe(
            ctx,
            &target,
            Want {
                follow: true,
                ..Want::default()
            },
        )
        .await?
    } else {
        info
    };
    now.result_fields(&mut out.data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(section: Option<&str>, option: Option<&str>, values: &[&str]) -> Params {
        Params {
            path: "/etc/x.ini".into(),
            section: section.map(String::from),
            section_has_values: Vec::new(),
            option: option.map(String::from),
            values: values.iter().map(|v| v.to_string()).collect(),
            present: true,
            exclusive: true,
            backup: false,
            no_extra_spaces: false,
            ignore_spaces: false,
            allow_no_value: false,
            modify_inactive_option: true,
            create: true,
            follow: false,
            attrs: Attrs::default(),
        }
    }

    fn text(before: &str, p: &Params) -> (String, bool, &'static str) {
        let o = apply(before, p);
        (o.text, o.changed, o.msg)
    }

    #[test]
    fn a_new_file_gets_the_section_after_a_blank_line_as_ansible_writes_it() {
        let p = params(Some("drinks"), Some("fav"), &["lemonade"]);
        assert_eq!(
            text("", &p),
            (
                "\n[drinks]\nfav = lemonade\n".into(),
                true,
                "section and option added"
            )
        );
        assert_eq!(
            text("\n[drinks]\nfav = lemonade\n", &p),
            ("\n[drinks]\nfav = lemonade\n".into(), false, "OK")
        );
    }

    #[test]
    fn an_option_is_changed_in_place_and_added_after_the_last_setting() {
        let before = "[a]\nx = 1\n; note\n\n[b]\ny=2\n";
        let p = params(Some("a"), Some("x"), &["5"]);
        assert_eq!(
            text(before, &p).0,
            "[a]\nx = 5\n; note\n\n[b]\ny=2\n".to_string()
        );
        let p = params(Some("a"), Some("z"), &["3"]);
        assert_eq!(
            text(before, &p),
            (
                "[a]\nx = 1\nz = 3\n; note\n\n[b]\ny=2\n".into(),
                true,
                "option added"
            )
        );
    }

    #[test]
    fn a_commented_option_is_activated_unless_told_not_to() {
        let before = "[s]\n# port = 80\n";
        let p = params(Some("s"), Some("port"), &["8080"]);
        assert_eq!(text(before, &p).0, "[s]\nport = 8080\n");
        let mut p = params(Some("s"), Some("port"), &["8080"]);
        p.modify_inactive_option = false;
        // Ansible places it after the last setting: before the comment.
        assert_eq!(text(before, &p).0, "[s]\nport = 8080\n# port = 80\n");
    }

    #[test]
    fn global_options_go_before_the_first_section() {
        let p = params(None, Some("user"), &["bob"]);
        assert_eq!(text("[s]\na = 1\n", &p).0, "user = bob\n[s]\na = 1\n");
        assert_eq!(text("# top\n\n[s]\n", &p).0, "user = bob\n# top\n\n[s]\n");
    }

    #[test]
    fn several_values_replace_the_option_lines_exactly() {
        let before = "[d]\nb = coke\nb = fanta\nb = water\n";
        let p = params(Some("d"), Some("b"), &["coke", "pepsi"]);
        assert_eq!(text(before, &p).0, "[d]\nb = coke\nb = pepsi\n");
        let mut p = params(Some("d"), Some("b"), &["pepsi"]);
        p.exclusive = false;
        assert_eq!(text(before, &p).0, format!("{before}b = pepsi\n"));
    }

    #[test]
    fn absent_removes_the_option_or_the_section() {
        let before = "[a]\nx = 1\nx = 2\n[b]\ny = 2\n";
        let mut p = params(Some("a"), Some("x"), &[]);
        p.present = false;
        assert_eq!(
            text(before, &p),
            ("[a]\n[b]\ny = 2\n".into(), true, "option changed")
        );
        p.option = None;
        assert_eq!(
            text(before, &p),
            ("[b]\ny = 2\n".into(), true, "section removed")
        );
        let mut p = params(Some("a"), Some("x"), &["2"]);
        p.present = false;
        p.exclusive = false;
        assert_eq!(text(before, &p).0, "[a]\nx = 1\n[b]\ny = 2\n");
        p.section = Some("zzz".into());
        assert_eq!(text(before, &p), (before.into(), false, "OK"));
    }

    #[test]
    fn spacing_and_no_value_options() {
        let mut p = params(Some("a"), Some("x"), &["1"]);
        p.no_extra_spaces = true;
        assert_eq!(text("[a]\n", &p).0, "[a]\nx=1\n");
        p.no_extra_spaces = false;
        p.ignore_spaces = true;
        assert_eq!(text("[a]\nx=1\n", &p), ("[a]\nx=1\n".into(), false, "OK"));
        let mut p = params(Some("mysqld"), Some("skip-name-resolve"), &[]);
        p.allow_no_value = true;
        assert_eq!(text("[mysqld]\n", &p).0, "[mysqld]\nskip-name-resolve\n");
        assert!(!text("[mysqld]\nskip-name-resolve\n", &p).1);
    }

    #[test]
    fn untouched_bytes_and_line_endings_stay() {
        let before = "\u{feff}[a]\r\nx = 1\r\ny = caf\u{10FEE9}\r\n";
        let p = params(Some("a"), Some("x"), &["2"]);
        assert_eq!(
            text(before, &p).0,
            "\u{feff}[a]\r\nx = 2\r\ny = caf\u{10FEE9}\r\n"
        );
        // A missing final newline is added, as Ansible does.
        let p = params(Some("a"), Some("x"), &["1"]);
        assert_eq!(text("[a]\nx = 1", &p), ("[a]\nx = 1\n".into(), true, "OK"));
    }

    #[test]
    fn section_has_values_picks_among_sections_of_the_same_name() {
        let before = "[Peer]\nAllowedIps = 10.0.0.1/32\nPublicKey = a\n\n[Peer]\nAllowedIps = 10.0.0.2/32\nPublicKey = b\n";
        let mut p = params(Some("Peer"), Some("PublicKey"), &["c"]);
        p.section_has_values = vec![Condition {
            option: "AllowedIps".into(),
            values: vec!["10.0.0.2/32".into()],
        }];
        assert_eq!(
            text(before, &p).0,
            before.replace("PublicKey = b", "PublicKey = c")
        );
        p.section_has_values[0].values = vec!["10.0.0.3/32".into()];
        assert_eq!(
            text(before, &p).0,
            format!("{before}[Peer]\nAllowedIps = 10.0.0.3/32\nPublicKey = c\n")
        );
    }
}
