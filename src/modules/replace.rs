//! `replace`: replace every match of a regular expression in a file (or in
//! the part of it between `after` and `before`), with Python's `re.subn`
//! semantics: multiline `^`/`$`, backreferences `\1` and `\g<name>` in the
//! replacement.
//!
//! The file is read and stat'ed in one round trip; the new text is written
//! atomically only if it differs (see `edit`).

use fancy_regex::{Captures, Regex as PyRegex};
use serde_json::json;

use super::args::Args;
use super::edit::{self, EditedFile};
use super::remote_file::{self, Want};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// replace, as a task writes it.
pub const MODULE: Module = Module {
    name: "replace",
    params: &[
        alias("path", &["dest", "destfile", "name"]),
        p("regexp"),
        p("replace"),
        p("after"),
        p("before"),
        p("backup"),
        p("encoding"),
        p("validate"),
        p("mode"),
        p("owner"),
        p("group"),
        p("unsafe_writes"),
    ],
    required: &[&["path"], &["regexp"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// How the file's bytes are read as text and written back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    /// UTF-8, undecodable bytes kept as they are (Ansible's surrogateescape).
    Utf8,
    /// One character per byte.
    Latin1,
}

impl Encoding {
    fn parse(name: &str) -> Option<Encoding> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" | "u8" => Some(Encoding::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Some(Encoding::Latin1),
            _ => None,
        }
    }

    fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => edit::decode_exact(bytes),
            Encoding::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
        }
    }

    fn encode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Utf8 => Ok(edit::encode_exact(text)),
            Encoding::Latin1 => text
                .chars()
                .map(|c| {
                    u8::try_from(u32::from(c))
                        .map_err(|_| format!("'latin-1' codec can't encode character {c:?}"))
                })
                .collect(),
        }
    }
}

#[derive(Debug)]
struct Params {
    file: EditedFile,
    regexp: PyRegex,
    replace: String,
    /// The section pattern built from `after`/`before`, as Ansible writes it.
    section: Option<(String, PyRegex)>,
    encoding: Encoding,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path = args.required(&["path", "dest", "destfile", "name"])?;
    let regexp = args.required(&["regexp"])?;
    let encoding_name = args.str("encoding")?.unwrap_or_else(|| "utf-8".into());
    let encoding = Encoding::parse(&encoding_name).ok_or_else(|| {
        args.error(format!(
            "encoding {encoding_name} is not supported (herd reads utf-8 and latin-1)"
        ))
    })?;
    // Ansible tests these for truth: an empty `after` is no `after`.
    let after = args.str("after")?.filter(|s| !s.is_empty());
    let before = args.str("before")?.filter(|s| !s.is_empty());
    let section = match (after, before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let section = section
        .map(|s| {
            PyRegex::new(&format!("(?s){s}"))
                .map(|re| (s, re))
                .map_err(|e| args.error(format!("invalid regular expression in after/before: {e}")))
        })
        .transpose()?;
    let regexp = PyRegex::new(&format!("(?m){regexp}"))
        .map_err(|e| args.error(format!("invalid regular expression in regexp: {e}")))?;
    let file = EditedFile::from_args(&args, path)?;
    let replace = args.str("replace")?.unwrap_or_default();
    Ok(Params {
        file,
        regexp,
        // In the form the file's text is read in.
        replace: match encoding {
            Encoding::Utf8 => edit::decode_exact(replace.as_bytes()),
            Encoding::Latin1 => replace,
        },
        section,
        encoding,
    })
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    // Metadata and content in one round trip, as `edit::read`.
    let info = remote_file::probe(
        ctx,
        &p.file.path,
        Want {
            follow: true,
            content_up_to: Some(remote_file::ANY_SIZE),
            ..Want::default()
        },
    )
    .await?;
    if info.is_dir() {
        return Ok(failed_rc(
            format!("Path {} is a directory !", p.file.path),
            256,
        ));
    }
    if !info.exists {
        return Ok(failed_rc(
            format!("Path {} does not exist !", p.file.path),
            257,
        ));
    }
    if !info.is_file() {
        // A device or a pipe: Python would read it, herd edits only files.
        // A bad replacement still fails first, as in Ansible.
        if let Err(e) = Template::parse(&p.replace, &p.regexp) {
            return Ok(unable(e));
        }
        return Ok(ModuleOutput::failed(format!(
            "Path {} is not a regular file; herd replaces only in regular files",
            p.file.path
        )));
    }
    let info = match info.content {
        Some(_) => info,
        // Not readable: `edit::read` says why.
        None => edit::read(ctx, &p.file.path).await?,
    };
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let contents = p.encoding.decode(before_bytes);
    let after = match substitute(&p, &contents) {
        Ok(Outcome::NoSection(pattern)) => {
            let msg =
                format!("Pattern for before/after params did not match the given file: {pattern}");
            let mut data = Vars::new();
            data.insert("rc".into(), json!(0));
            data.insert("msg".into(), json!(msg));
            return Ok(ModuleOutput {
                msg: Some(msg),
                data,
                ..ModuleOutput::default()
            });
        }
        Ok(Outcome::Replaced(text, n)) => Some((text, n)),
        Ok(Outcome::Unchanged) => None,
        Err(e) => return Ok(unable(e)),
    };
    let (after, msg) = match after {
        Some((text, n)) => match p.encoding.encode(&text) {
            Ok(bytes) => (Some(bytes), format!("{n} replacements made")),
            Err(e) => return Ok(ModuleOutput::failed(e)),
        },
        None => (None, String::new()),
    };
    let mut out = edit::finish(ctx, p.file.edit(&info, before_bytes, after, msg)).await?;
    edit::backup_as_backup_file(&mut out);
    if !out.failed {
        out.data.insert("rc".into(), json!(0));
    }
    Ok(out)
}

fn failed_rc(msg: String, rc: i32) -> ModuleOutput {
    let mut out = ModuleOutput::failed(msg);
    out.data.insert("rc".into(), json!(rc));
    out
}

fn unable(error: String) -> ModuleOutput {
    ModuleOutput::failed(format!("Unable to process replace due to error: {error}"))
}

enum Outcome {
    /// `after`/`before` did not match: the section pattern.
    NoSection(String),
    /// The new text and the number of replacements.
    Replaced(String, usize),
    Unchanged,
}

/// Ansible's replace on `contents`: find the section, substitute in it.
fn substitute(p: &Params, contents: &str) -> Result<Outcome, String> {
    let (start, end) = match &p.section {
        None => (0, contents.len()),
        Some((pattern, re)) => match re.captures(contents).map_err(|e| e.to_string())? {
            Some(c) => {
                let m = c.name("subsection").expect("the pattern has the group");
                (m.start(), m.end())
            }
            None => return Ok(Outcome::NoSection(pattern.clone())),
        },
    };
    let section = &contents[start..end];
    let template = Template::parse(&p.replace, &p.regexp)?;
    let (new, n) = subn(&p.regexp, &template, section)?;
    if n == 0 || new == section {
        return Ok(Outcome::Unchanged);
    }
    Ok(Outcome::Replaced(
        format!("{}{new}{}", &contents[..start], &contents[end..]),
        n,
    ))
}

/// Python's `re.subn`: every match replaced, an empty match allowed right
/// after a non-empty one but not twice at the same place.
fn subn(re: &PyRegex, template: &Template, text: &str) -> Result<(String, usize), String> {
    let mut out = String::with_capacity(text.len());
    let mut n = 0;
    let mut copied = 0;
    let mut pos = 0;
    let mut must_advance = false;
    while pos <= text.len() {
        let Some(caps) = re.captures_from_pos(text, pos).map_err(|e| e.to_string())? else {
            break;
        };
        let m = caps.get(0).expect("group 0 is the match");
        if must_advance && m.start() == pos && m.end() == pos {
            // Python would look for a longer match here; the next
            // character is the nearest place that can differ.
            match text[pos..].chars().next() {
                Some(c) => pos += c.len_utf8(),
                None => break,
            }
            must_advance = false;
            continue;
        }
        out.push_str(&text[copied..m.start()]);
        template.expand(&caps, &mut out);
        n += 1;
        copied = m.end();
        must_advance = m.start() == m.end();
        pos = m.end();
    }
    out.push_str(&text[copied..]);
    Ok((out, n))
}

/// A parsed Python replacement string.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
}

#[derive(Debug)]
struct Template(Vec<Piece>);

impl Template {
    /// Parses `source` as Python's `re` parses a replacement template
    /// (`sre_parse.parse_template`), with its error messages.
    fn parse(source: &str, re: &PyRegex) -> Result<Template, String> {
        let groups = re.captures_len() - 1;
        let names: Vec<Option<&str>> = re.capture_names().collect();
        let chars: Vec<char> = source.chars().collect();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        let group = |index: usize, at: usize, pieces: &mut Vec<Piece>, text: &mut String| {
            if index > groups {
                return Err(format!("invalid group reference {index} at position {at}"));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
            pieces.push(Piece::Group(index));
            Ok(())
        };
        while i < chars.len() {
            let c = chars[i];
            if c != '\\' {
                text.push(c);
                i += 1;
                continue;
            }
            let at = i;
            let Some(&e) = chars.get(i + 1) else {
                return Err(format!("bad escape (end of pattern) at position {at}"));
            };
            i += 2;
            match e {
                'g' => {
                    if chars.get(i) != Some(&'<') {
                        return Err(format!("missing < at position {i}"));
                    }
                    let close = chars[i + 1..].iter().position(|&c| c == '>');
                    let Some(close) = close else {
                        return Err(format!(
                            "missing >, unterminated name at position {}",
                            i + 1
                        ));
                    };
                    let name: String = chars[i + 1..i + 1 + close].iter().collect();
                    i += close + 2;
                    let index = if name.chars().all(|c| c.is_ascii_digit()) && !name.is_empty() {
                        name.parse::<usize>().map_err(|_| {
                            format!("invalid group reference {name} at position {}", at + 3)
                        })?
                    } else if !name.is_empty()
                        && !name.starts_with(|c: char| c.is_ascii_digit())
                        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    {
                        names
                            .iter()
                            .position(|n| *n == Some(name.as_str()))
                            .ok_or_else(|| format!("unknown group name '{name}'"))?
                    } else {
                        return Err(format!(
                            "bad character in group name '{name}' at position {}",
                            at + 3
                        ));
                    };
                    group(index, at + 3, &mut pieces, &mut text)?;
                }
                '0' => {
                    let mut value = 0;
                    for _ in 0..2 {
                        match chars.get(i).and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                value = value * 8 + d;
                                i += 1;
                            }
                            None => break,
                        }
                    }
                    text.push(char::from((value & 0xff) as u8));
                }
                '1'..='9' => {
                    let mut digits = String::from(e);
                    if let Some(&d2) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                        let d3 = chars.get(i + 1).filter(|c| c.is_digit(8));
                        if let Some(&d3) = d3.filter(|_| e.is_digit(8) && d2.is_digit(8)) {
                            let octal: String = [e, d2, d3].iter().collect();
                            let value = u32::from_str_radix(&octal, 8).expect("octal digits");
                            if value > 0o377 {
                                return Err(format!(
                                    "octal escape value \\{octal} outside of range 0-0o377 at position {at}"
                                ));
                            }
                            text.push(char::from(value as u8));
                            i += 2;
                            continue;
                        }
                        digits.push(d2);
                        i += 1;
                    }
                    let index = digits.parse().expect("digits");
                    group(index, at + 1, &mut pieces, &mut text)?;
                }
                'a' => text.push('\x07'),
                'b' => text.push('\x08'),
                'f' => text.push('\x0c'),
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'v' => text.push('\x0b'),
                '\\' => text.push('\\'),
                e if e.is_ascii_alphabetic() => {
                    return Err(format!("bad escape \\{e} at position {at}"));
                }
                e => {
                    text.push('\\');
                    text.push(e);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// The replacement for one match; a group that did not take part is
    /// empty (Python 3.5+).
    fn expand(&self, caps: &Captures<'_, str>, out: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(i) => out.push_str(caps.get(*i).map_or("", |m| m.as_str())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: serde_json::Value) -> Params {
        parse(v.as_object().unwrap()).unwrap()
    }

    fn sub(v: serde_json::Value, text: &str) -> String {
        match substitute(&params(v), text).unwrap() {
            Outcome::Replaced(t, _) => t,
            Outcome::Unchanged => text.to_string(),
            Outcome::NoSection(p) => format!("no section: {p}"),
        }
    }

    #[test]
    fn multiline_and_backreferences() {
        let v = json!({"path": "f", "regexp": "^(.+)$", "replace": "\"\\1\""});
        assert_eq!(sub(v, "a\nb\n"), "\"a\"\n\"b\"\n");
        let v =
            json!({"path": "f", "regexp": "^(?P<k>\\w+)=(\\d+)", "replace": "\\2=\\g<k>\\g<0>"});
        assert_eq!(sub(v, "port=22\n"), "22=portport=22\n");
        // `$` and `\` that are not escapes stay as they are.
        let v = json!({"path": "f", "regexp": "x", "replace": "$1 \\. \\\\"});
        assert_eq!(sub(v, "x"), "$1 \\. \\");
    }

    #[test]
    fn empty_matches_as_python() {
        let v = json!({"path": "f", "regexp": "x*", "replace": "-"});
        assert_eq!(sub(v, "abxd"), "-a-b--d-");
    }

    #[test]
    fn sections_and_counts() {
        let v =
            json!({"path": "f", "regexp": "0", "replace": "9", "after": "start", "before": "end"});
        let text = "0 start 0 end 0 start 0 end";
        assert_eq!(sub(v.clone(), text), "0 start 9 end 0 start 0 end");
        assert_eq!(sub(v, "nothing"), "no section: start(?P<subsection>.*?)end");
        let p = params(json!({"path": "f", "regexp": "a", "replace": "b"}));
        assert!(matches!(
            substitute(&p, "aXa").unwrap(),
            Outcome::Replaced(_, 2)
        ));
        // Replaced by the same text: no change.
        let p = params(json!({"path": "f", "regexp": "a", "replace": "a"}));
        assert!(matches!(substitute(&p, "aXa").unwrap(), Outcome::Unchanged));
    }

    #[test]
    fn python_template_errors() {
        let re = PyRegex::new("(a)").unwrap();
        assert_eq!(
            Template::parse("\\D", &re).unwrap_err(),
            "bad escape \\D at position 0"
        );
        assert!(
            Template::parse("\\2", &re)
                .unwrap_err()
                .contains("invalid group reference 2")
        );
        assert!(
            Template::parse("\\g<x>", &re)
                .unwrap_err()
                .contains("unknown group name")
        );
        assert_eq!(
            Template::parse("\\101\\n", &re).unwrap().0,
            vec![Piece::Text("A\n".into())]
        );
    }

    #[test]
    fn latin1_round_trips() {
        let e = Encoding::parse("ISO-8859-1").unwrap();
        let bytes = b"caf\xe9\n";
        assert_eq!(e.encode(&e.decode(bytes)).unwrap(), bytes);
        assert!(e.encode("\u{263a}").is_err());
        assert!(Encoding::parse("utf-16").is_none());
    }
}
