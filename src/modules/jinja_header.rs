//! The `#jinja2:` first line a template may start with, overriding the
//! template module's settings for that file, as Ansible reads it:
//!
//! ```text
//! #jinja2: trim_blocks: False, variable_start_string: '[%', variable_end_string: '%]'
//! ```
//!
//! Pairs are separated by commas, each `key: value` with a Python literal
//! value (a quoted string, True/False or a number). The line is removed
//! from the template.

use serde_json::{Value, json};

/// The settings a header gives, by the template module's argument names,
/// and the template without its header line.
pub struct Header<'a> {
    pub settings: serde_json::Map<String, Value>,
    pub body: &'a str,
}

const PREFIX: &str = "#jinja2:";

const KEYS: &[&str] = &[
    "trim_blocks",
    "lstrip_blocks",
    "keep_trailing_newline",
    "newline_sequence",
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
];

/// Splits off and reads the header; a template without one gives no settings.
pub fn parse(source: &str) -> Result<Header<'_>, String> {
    let Some(rest) = source.strip_prefix(PREFIX) else {
        return Ok(Header {
            settings: serde_json::Map::new(),
            body: source,
        });
    };
    let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut settings = serde_json::Map::new();
    for pair in line.trim_end_matches('\r').split(',') {
        let Some((key, value)) = pair.split_once(':') else {
            return Err(format!(
                "Missing key-value separator `:` in '{PREFIX}' override pair {:?}: write `key: value`, pairs separated by commas",
                pair.trim()
            ));
        };
        let key = key.trim();
        if !KEYS.contains(&key) {
            return Err(format!(
                "unknown '{PREFIX}' override `{key}` (known: {})",
                KEYS.join(", ")
            ));
        }
        let value = literal(value.trim()).ok_or_else(|| {
            format!(
                "'{PREFIX}' override `{key}`: {value:?} is not a Python literal (quote strings)"
            )
        })?;
        settings.insert(key.to_string(), value);
    }
    Ok(Header { settings, body })
}

/// A Python literal as `ast.literal_eval` reads the simple ones.
fn literal(text: &str) -> Option<Value> {
    match text {
        "True" => return Some(json!(true)),
        "False" => return Some(json!(false)),
        "None" => return Some(Value::Null),
        _ => {}
    }
    for quote in ['\'', '"'] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return Some(json!(unescape(inner)));
        }
    }
    text.parse::<i64>().ok().map(|n| json!(n))
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t")
        .replace("\\'", "'")
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_settings_are_read_and_the_line_removed() {
        let h = parse("#jinja2: trim_blocks: False, variable_start_string:'[%'\nbody [% x %]\n")
            .unwrap();
        assert_eq!(h.settings["trim_blocks"], json!(false));
        assert_eq!(h.settings["variable_start_string"], json!("[%"));
        assert_eq!(h.body, "body [% x %]\n");
        // A colon inside the value belongs to the value.
        let h = parse("#jinja2: line_statement_prefix:\":\"\n: if true\n").unwrap();
        assert_eq!(h.settings["line_statement_prefix"], json!(":"));
        assert!(parse("plain").unwrap().settings.is_empty());
    }

    #[test]
    fn a_pair_without_a_colon_is_an_error_naming_the_override() {
        let err = parse("#jinja2: lstrip_blocks=True\n").err().unwrap();
        assert!(
            err.contains("override") && err.contains("lstrip_blocks=True"),
            "{err}"
        );
    }
}
