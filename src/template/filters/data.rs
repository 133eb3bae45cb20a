//! JSON and YAML in and out.
//!
//! `to_json`/`to_nice_json` reproduce Python's `json.dumps` layout byte for
//! byte (", " and ": " separators, `\uXXXX` escapes for non-ASCII, sorted
//! keys and 4-space indent for the nice form), because rendered config files
//! are compared with what Ansible wrote. `to_yaml`/`to_nice_yaml` go through
//! herd's YAML wrapper: keys are sorted as PyYAML does, but the layout (2
//! space indent, block style, quoting) is serde-saphyr's, not PyYAML's.

use std::path::Path;

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value};
use serde_json::Value as Json;

use crate::template::value::{as_text, from_json, invalid, to_json};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("to_json", to_json_filter);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json_filter);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
}

/// How `json.dumps` lays out its output.
struct JsonStyle {
    indent: Option<usize>,
    sort_keys: bool,
    ensure_ascii: bool,
}

/// `to_json(indent=None, sort_keys=false, ensure_ascii=true)`.
pub fn to_json_filter(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let style = JsonStyle {
        indent: kwargs.get("indent")?,
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true),
    };
    kwargs.assert_all_used()?;
    Ok(dumps(&to_json(value)?, &style))
}

/// `to_nice_json(indent=4, sort_keys=true)`.
pub fn to_nice_json(value: &Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let style = JsonStyle {
        indent: Some(
            kwargs
                .get::<Option<usize>>("indent")?
                .or(indent)
                .unwrap_or(4),
        ),
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true),
    };
    kwargs.assert_all_used()?;
    Ok(dumps(&to_json(value)?, &style))
}

pub fn from_json_filter(value: &Value) -> Result<Value, Error> {
    let text = as_text(value)?;
    let json: Json = serde_json::from_str(&text).map_err(|e| invalid(format!("from_json: {e}")))?;
    Ok(from_json(&json))
}

/// `to_yaml`: YAML text with sorted keys (PyYAML's default).
pub fn to_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    yaml_text(value, kwargs)
}

/// `to_nice_yaml`: like `to_yaml`; always block style here.
pub fn to_nice_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    yaml_text(value, kwargs)
}

fn yaml_text(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    // Layout options PyYAML knows; our emitter has its own layout, so they
    // are accepted and have no effect (the YAML means the same).
    for name in [
        "indent",
        "width",
        "default_flow_style",
        "allow_unicode",
        "explicit_start",
    ] {
        let _: Option<Value> = kwargs.get(name)?;
    }
    kwargs.assert_all_used()?;
    let mut json = to_json(value)?;
    if sort_keys {
        sort_json_keys(&mut json);
    }
    crate::yaml::to_string(&json).map_err(|e| invalid(format!("to_yaml: {e}")))
}

/// `from_yaml`: parses YAML text; none stays none.
pub fn from_yaml(value: &Value) -> Result<Value, Error> {
    if value.is_none() {
        return Ok(Value::from(()));
    }
    let text = as_text(value)?;
    let json: Json = crate::yaml::from_str(&text, Path::new("<from_yaml input>"))
        .map_err(|e| invalid(format!("from_yaml: {e}")))?;
    Ok(from_json(&json))
}

fn sort_json_keys(json: &mut Json) {
    match json {
        Json::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_json_keys);
        }
        Json::Array(items) => items.iter_mut().for_each(sort_json_keys),
        _ => {}
    }
}

/// Python's `json.dumps` output for `json`.
fn dumps(json: &Json, style: &JsonStyle) -> String {
    let mut out = String::new();
    write_json(&mut out, json, style, 0);
    out
}

fn write_json(out: &mut String, json: &Json, style: &JsonStyle, depth: usize) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&python_number(n)),
        Json::String(s) => write_string(out, s, style.ensure_ascii),
        Json::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(out, style, depth, i == 0);
                write_json(out, item, style, depth + 1);
            }
            closing(out, style, depth);
            out.push(']');
        }
        Json::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<_> = map.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                separator(out, style, depth, i == 0);
                write_string(out, key, style.ensure_ascii);
                out.push_str(": ");
                write_json(out, item, style, depth + 1);
            }
            closing(out, style, depth);
            out.push('}');
        }
    }
}

/// Between items: ", " on one line, or ",\n" plus indentation.
fn separator(out: &mut String, style: &JsonStyle, depth: usize, first: bool) {
    match style.indent {
        Some(width) => {
            if !first {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&" ".repeat(width * (depth + 1)));
        }
        None if !first => out.push_str(", "),
        None => {}
    }
}

fn closing(out: &mut String, style: &JsonStyle, depth: usize) {
    if let Some(width) = style.indent {
        out.push('\n');
        out.push_str(&" ".repeat(width * depth));
    }
}

/// Python writes floats with `repr`: `1.0`, `1e+16`, `1.5e-07`.
fn python_number(n: &serde_json::Number) -> String {
    let s = n.to_string();
    match s.split_once('e') {
        Some((mantissa, exp)) if n.is_f64() => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp.trim_start_matches('+')),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        _ => s,
    }
}

/// `s | to_json` (Python's `json.dumps`, `ensure_ascii` on): the form the
/// secret masker must also recognise.
pub fn json_string(s: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, s, true);
    out
}

fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && !(' '..='~').contains(&c)) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    fn config() -> serde_json::Value {
        json!({"config": {"name": "web", "ports": [80, 443], "tls": true, "ratio": 0.5, "owner": null, "note": "café \"x\""}})
    }

    #[test]
    fn to_json_uses_python_separators_and_ascii_escapes() {
        assert_eq!(
            render("{{ config | to_json }}", config()),
            r#"{"name": "web", "ports": [80, 443], "tls": true, "ratio": 0.5, "owner": null, "note": "caf\u00e9 \"x\""}"#
        );
        assert_eq!(
            render(
                "{{ {'b': 1, 'a': []} | to_json(sort_keys=true) }}",
                json!({})
            ),
            r#"{"a": [], "b": 1}"#
        );
        assert_eq!(
            render("{{ 'é' | to_json(ensure_ascii=false) }}", json!({})),
            "\"é\""
        );
        assert_eq!(
            render("{{ [1e16, 1.5e-7, 2.0] | to_json }}", json!({})),
            "[1e+16, 1.5e-07, 2.0]"
        );
    }

    #[test]
    fn to_nice_json_indents_four_and_sorts_keys() {
        let expected = r#"{
    "name": "web",
    "note": "caf\u00e9 \"x\"",
    "owner": null,
    "ports": [
        80,
        443
    ],
    "ratio": 0.5,
    "tls": true
}"#;
        assert_eq!(render("{{ config | to_nice_json }}", config()), expected);
        assert_eq!(
            render("{{ [1, {}] | to_nice_json(indent=2) }}", json!({})),
            "[\n  1,\n  {}\n]"
        );
    }

    #[test]
    fn from_json_and_from_yaml_give_data() {
        let vars = json!({"j": "{\"a\": [1, 2]}", "y": "a: 1\nb: [x, z]\n"});
        assert_eq!(render("{{ (j | from_json).a[1] }}", vars.clone()), "2");
        assert_eq!(render("{{ (y | from_yaml).b | join(',') }}", vars), "x,z");
        assert!(render_err("{{ '{' | from_json }}").contains("from_json"));
    }

    #[test]
    fn to_yaml_sorts_keys_and_round_trips() {
        let out = render("{{ {'b': [1, 2], 'a': 'x'} | to_nice_yaml }}", json!({}));
        assert!(out.starts_with("a: x\nb:"), "{out}");
        let back = render("{{ (config | to_yaml | from_yaml) == config }}", config());
        assert_eq!(back, "True");
    }
}
