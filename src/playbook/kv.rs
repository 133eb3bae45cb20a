//! `key=value` argument strings: `copy: src=a dest=b mode=0644` and the
//! free form of command-like modules (`command: ls -l chdir=/tmp`).
//!
//! Words are split on whitespace outside quotes and outside Jinja
//! (`{{ x | default('a b') }}` is one word), as Ansible's `split_args`
//! does. Free-form text keeps its original spelling, quotes included: the
//! `key=value` words are cut out of it and the rest is `_raw_params`.

use std::ops::Range;

use serde_json::Value;

use super::model::Vars;

/// Arguments read from a string.
#[derive(Debug, Default, PartialEq)]
pub struct KvArgs {
    pub args: Vars,
    /// The words that are not `key=value` (for free-form modules, those
    /// whose key is not one of the free-form keys), as written.
    pub raw: String,
}

/// Splits `text` into `key=value` pairs and the rest. With `free_form_keys`
/// only those keys are split out (Ansible's `check_raw`); without, every
/// `key=value` word is.
pub fn parse(text: &str, free_form_keys: Option<&[&str]>) -> KvArgs {
    let mut args = Vars::new();
    let mut cut: Vec<Range<usize>> = Vec::new();
    for word in split_words(text) {
        let Some((key, value)) = key_value(&text[word.clone()]) else {
            continue;
        };
        if free_form_keys.is_some_and(|keys| !keys.contains(&key)) {
            continue;
        }
        args.insert(key.to_string(), Value::String(unquote(value)));
        cut.push(word);
    }
    KvArgs {
        args,
        raw: without(text, &cut),
    }
}

/// `key=value` when the word starts with an identifier and `=`.
fn key_value(word: &str) -> Option<(&str, &str)> {
    let (key, value) = word.split_once('=')?;
    let identifier = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    identifier.then_some((key, value))
}

/// Byte ranges of the words of `text`.
pub fn split_words(text: &str) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut jinja_depth = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if quote.is_none() && jinja_depth == 0 && c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(s..i);
            }
            continue;
        }
        start.get_or_insert(i);
        match (c, next) {
            ('\\', Some(_)) if quote != Some('\'') => {
                chars.next();
            }
            ('{', Some('{' | '%' | '#')) if quote.is_none() => {
                jinja_depth += 1;
                chars.next();
            }
            ('}' | '%' | '#', Some('}')) if jinja_depth > 0 => {
                jinja_depth -= 1;
                chars.next();
            }
            ('"' | '\'', _) if jinja_depth == 0 => match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            },
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(s..text.len());
    }
    words
}

/// A value as Ansible's `parse_kv` reads it: backslash escapes decoded
/// (`_decode_escapes`, whatever the quoting: `regexp='\\b'` is `\b`, and
/// `'\b'` a backspace), then the surrounding quotes removed.
fn unquote(value: &str) -> String {
    let value = decode_escapes(value);
    let quoted = |q: char| {
        value.len() >= 2
            && value.starts_with(q)
            && value.ends_with(q)
            && !value[..value.len() - 1].ends_with('\\')
    };
    if quoted('\'') || quoted('"') {
        return value[1..value.len() - 1].to_string();
    }
    value
}

/// Python's `unicode-escape` for the escapes Ansible decodes in `key=value`
/// words: `\\ \' \" \a \b \f \n \r \t \v \xHH \uHHHH \UHHHHHHHH`.
/// Anything else (`\d`, `\1`) stays as written.
fn decode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let hex = |n: usize| {
            after
                .get(1..1 + n)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
        };
        let (decoded, len) = match after.chars().next() {
            Some(c @ ('\\' | '\'' | '"')) => (Some(c), 1),
            Some('a') => (Some('\x07'), 1),
            Some('b') => (Some('\x08'), 1),
            Some('f') => (Some('\x0c'), 1),
            Some('n') => (Some('\n'), 1),
            Some('r') => (Some('\r'), 1),
            Some('t') => (Some('\t'), 1),
            Some('v') => (Some('\x0b'), 1),
            Some('x') => (hex(2), 3),
            Some('u') => (hex(4), 5),
            Some('U') => (hex(8), 9),
            _ => (None, 0),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` with the `cut` words removed (and the blanks before each). As in
/// Ansible, a word that ends its line takes the line break with it, and
/// the result keeps its last line break (`shell: |` blocks end with one).
fn without(text: &str, cut: &[Range<usize>]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for range in cut {
        out.push_str(text[at..range.start].trim_end_matches([' ', '\t']));
        at = range.end;
        let rest = &text[at..];
        let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[blanks..].starts_with('\n') {
            at += blanks + 1;
        }
    }
    out.push_str(&text[at..]);
    out.trim_start().trim_end_matches([' ', '\t']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND_KEYS: &[&str] = &["chdir", "creates", "removes"];

    #[test]
    fn splits_plain_key_values() {
        let kv = parse("src=a.conf dest=/etc/a.conf mode=0644", None);
        assert_eq!(kv.args["src"], "a.conf");
        assert_eq!(kv.args["mode"], "0644");
        assert_eq!(kv.raw, "");
    }

    #[test]
    fn quoted_values_lose_their_quotes() {
        let kv = parse(r#"msg="hello world" line='a b' x="1\t2""#, None);
        assert_eq!(kv.args["msg"], "hello world");
        assert_eq!(kv.args["line"], "a b");
        assert_eq!(kv.args["x"], "1\t2");
    }

    #[test]
    fn escapes_are_decoded_whatever_the_quotes() {
        // As Ansible's parse_kv: `\\b` is a regexp's `\b`, `\b` a backspace.
        let kv = parse(
            r#"a='\\b(.+)\\b' b='\b' c=\x41\u00e9 d="\d\1\"" e=C:\\x"#,
            None,
        );
        assert_eq!(kv.args["a"], r"\b(.+)\b");
        assert_eq!(kv.args["b"], "\x08");
        assert_eq!(kv.args["c"], "A\u{e9}");
        assert_eq!(kv.args["d"], "\\d\\1\"");
        assert_eq!(kv.args["e"], r"C:\x");
    }

    #[test]
    fn free_form_keys_on_their_own_lines_take_their_line_break() {
        let kv = parse(
            "executable=\"/bin/bash\"\ncreates=/tmp/a\necho \"test\"\n",
            Some(&["creates", "executable"]),
        );
        assert_eq!(kv.args["creates"], "/tmp/a");
        assert_eq!(kv.args["executable"], "/bin/bash");
        assert_eq!(kv.raw, "echo \"test\"\n");
    }

    #[test]
    fn free_form_keeps_the_command_as_written() {
        let kv = parse(
            r#"echo "a=b  c" {{ x | default('y z') }} chdir=/tmp creates=/x"#,
            Some(COMMAND_KEYS),
        );
        assert_eq!(kv.raw, r#"echo "a=b  c" {{ x | default('y z') }}"#);
        assert_eq!(kv.args["chdir"], "/tmp");
        assert_eq!(kv.args["creates"], "/x");
    }

    #[test]
    fn free_form_leaves_other_key_values_in_the_command() {
        let kv = parse("env FOO=bar make chdir=/src", Some(COMMAND_KEYS));
        assert_eq!(kv.raw, "env FOO=bar make");
        assert_eq!(kv.args.len(), 1);
    }

    #[test]
    fn multi_line_scripts_survive() {
        let script = "set -e\ncd /tmp\necho 'done  twice'\n";
        let kv = parse(script, Some(COMMAND_KEYS));
        // As in Ansible, the last line break stays (`cmd` shows it).
        assert_eq!(kv.raw, script);
    }

    #[test]
    fn words_respect_jinja_and_quotes() {
        let text = "a {{ b c }} 'd e' f\"g h\"";
        let words: Vec<_> = split_words(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(words, ["a", "{{ b c }}", "'d e'", "f\"g h\""]);
    }
}
