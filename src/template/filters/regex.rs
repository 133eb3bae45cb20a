//! Regular-expression filters with Python `re` conventions on top of the
//! `regex` crate: `\1` / `\g<name>` back-references in replacements,
//! `ignorecase` / `multiline` options, `findall`'s group rules.
//! Patterns use the regex crate's syntax, which covers Python's except
//! look-around and back-references inside the pattern (a clear error).

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};
use regex::{Regex, RegexBuilder};

use crate::template::value::{as_text, invalid};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
}

/// Compiles `pattern` with the `ignorecase` / `multiline` keyword options.
pub(crate) fn compile(pattern: &str, kwargs: &Kwargs) -> Result<Regex, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    build(pattern, ignorecase, multiline)
}

pub(crate) fn build(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(format!("invalid regular expression {pattern:?}: {e}")))
}

/// `value | regex_replace(pattern, replacement, ignorecase, multiline, count, mandatory_count)`.
pub fn regex_replace(
    value: &Value,
    pattern: String,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let text = as_text(value)?;
    let re = compile(&pattern, &kwargs)?;
    let replacement = python_replacement(&replacement.unwrap_or_default());
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let found = re.find_iter(&text).count();
    let done = if count == 0 { found } else { found.min(count) };
    if mandatory != 0 && mandatory != done {
        return Err(invalid(format!(
            "regex_replace: {pattern:?} should match {mandatory} times, but matches {done} times"
        )));
    }
    Ok(re.replacen(&text, count, replacement.as_str()).into_owned())
}

/// Python's replacement syntax as the regex crate's: `\1` and `\g<name>`
/// become `${1}` / `${name}`, `\n`/`\t`/`\\` become the characters, and a
/// literal `$` is escaped.
fn python_replacement(repl: &str) -> String {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d.to_string();
                    if let Some(d2) = chars.next_if(char::is_ascii_digit) {
                        group.push(d2);
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') if chars.peek() == Some(&'<') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// `value | regex_search(pattern, '\\1', '\\g<name>', ignorecase=..)`: the
/// first match, or the listed groups of it; none when nothing matches.
pub fn regex_search(
    value: &Value,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let text = as_text(value)?;
    let re = compile(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(&caps[0]));
    }
    let mut out = Vec::new();
    for group in groups.iter() {
        let m = if let Some(name) = group.strip_prefix("\\g<").and_then(|g| g.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(i) => caps.get(i),
                Err(_) => caps.name(name),
            }
        } else if let Some(Ok(i)) = group.strip_prefix('\\').map(str::parse::<usize>) {
            caps.get(i)
        } else {
            return Err(invalid(format!(
                "regex_search: unknown group argument {group:?} (use '\\\\1' or '\\\\g<name>')"
            )));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// `value | regex_findall(pattern)`: every match; with one group, that
/// group of every match; with several, a list of groups per match.
pub fn regex_findall(value: &Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let text = as_text(value)?;
    let re = compile(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let groups = re.captures_len() - 1;
    let group =
        |caps: &regex::Captures, i: usize| caps.get(i).map_or("", |m| m.as_str()).to_string();
    let found: Vec<Value> = re
        .captures_iter(&text)
        .map(|caps| match groups {
            0 => Value::from(group(&caps, 0)),
            1 => Value::from(group(&caps, 1)),
            n => Value::from((1..=n).map(|i| group(&caps, i)).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(found))
}

/// Python's `re.escape` (3.7+): a backslash before regex-special characters.
pub fn regex_escape(value: &Value, re_type: Option<String>) -> Result<String, Error> {
    let text = as_text(value)?;
    let special: &str = match re_type.as_deref().unwrap_or("python") {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}",
        "posix_basic" => "].[^$*\\",
        "posix_extended" => "^$.*+?[]|(){}\\",
        other => {
            return Err(invalid(format!(
                "regex_escape: invalid regex type {other:?}"
            )));
        }
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::python_replacement;
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn replacement_translation() {
        assert_eq!(
            python_replacement(r"\1-\g<name>-$5 \\ \n"),
            "${1}-${name}-$$5 \\ \n"
        );
        assert_eq!(python_replacement(r"\12x"), "${12}x");
    }

    #[test]
    fn regex_replace_follows_ansible_docs() {
        let r = |s: &str| render(s, json!({}));
        // Ansible docs examples:
        assert_eq!(
            r("{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\\\1') }}"),
            "able"
        );
        assert_eq!(
            r("{{ 'foobar' | regex_replace('^f.*o(.*)$', '\\\\1') }}"),
            "bar"
        );
        assert_eq!(
            r(
                "{{ 'localhost:80' | regex_replace('^(?P<host>.+):(?P<port>\\\\d+)$', '\\\\g<host>, \\\\g<port>') }}"
            ),
            "localhost, 80"
        );
        assert_eq!(
            r("{{ 'localhost:80' | regex_replace(':80') }}"),
            "localhost"
        );
        assert_eq!(
            r(
                "{{ 'CAR\\ntar\\nfoo\\nbar\\n' | regex_replace('^.ar$', '', multiline=True, ignorecase=True) }}"
            ),
            "\n\nfoo\n\n"
        );
        assert_eq!(r("{{ 'aaa' | regex_replace('a', 'b', count=2) }}"), "bba");
        assert_eq!(r("{{ 'price' | regex_replace('e$', '$1') }}"), "pric$1");
        assert!(
            render_err("{{ 'aaa' | regex_replace('a', 'b', mandatory_count=2) }}")
                .contains("should match 2 times")
        );
        assert!(
            render_err("{{ 'a' | regex_replace('(?<=a)b', '') }}")
                .contains("invalid regular expression")
        );
    }

    #[test]
    fn regex_search_returns_match_or_groups() {
        let r = |s: &str| render(s, json!({}));
        // Ansible docs examples:
        assert_eq!(
            r("{{ 'server1/database42' | regex_search('database[0-9]+') }}"),
            "database42"
        );
        assert_eq!(
            r("{{ 'ansible' | regex_search('(?i)ANSIBLE') }}"),
            "ansible"
        );
        assert_eq!(
            r("{{ 'ansible' | regex_search('ANSIBLE', ignorecase=true) }}"),
            "ansible"
        );
        assert_eq!(
            r(
                "{{ 'server1/database42' | regex_search('server([0-9]+)/database([0-9]+)', '\\\\1', '\\\\2') }}"
            ),
            "['1', '42']"
        );
        assert_eq!(
            r(
                "{{ '21/42' | regex_search('(?P<dividend>[0-9]+)/(?P<divisor>[0-9]+)', '\\\\g<dividend>', '\\\\g<divisor>') }}"
            ),
            "['21', '42']"
        );
        assert_eq!(r("{{ 'foo' | regex_search('bar') is none }}"), "True");
    }

    #[test]
    fn regex_findall_group_rules() {
        let r = |s: &str| render(s, json!({}));
        // Ansible docs examples:
        assert_eq!(
            r(
                "{{ 'Some DNS servers are 8.8.8.8 and 8.8.4.4' | regex_findall('\\\\b(?:[0-9]{1,3}\\\\.){3}[0-9]{1,3}\\\\b') }}"
            ),
            "['8.8.8.8', '8.8.4.4']"
        );
        assert_eq!(
            r(
                "{{ 'CAR\\ntar\\nfoo\\nbar\\n' | regex_findall('^.ar$', multiline=True, ignorecase=True) }}"
            ),
            "['CAR', 'tar', 'bar']"
        );
        assert_eq!(
            r("{{ 'a=1 b=2' | regex_findall('(\\\\w)=(\\\\d)') }}"),
            "[['a', '1'], ['b', '2']]"
        );
        assert_eq!(
            r("{{ 'a=1 b=2' | regex_findall('\\\\w=(\\\\d)') }}"),
            "['1', '2']"
        );
    }

    #[test]
    fn regex_escape_like_python() {
        // Ansible docs: '^f.*o(.*)$' | regex_escape -> \^f\.\*o\(\.\*\)\$
        assert_eq!(
            render("{{ '^f.*o(.*)$ a-b' | regex_escape }}", json!({})),
            "\\^f\\.\\*o\\(\\.\\*\\)\\$\\ a\\-b"
        );
        assert_eq!(
            render(
                "{{ '^f.*o(.*)$' | regex_escape('posix_basic') }}",
                json!({})
            ),
            "\\^f\\.\\*o(\\.\\*)\\$"
        );
    }
}
