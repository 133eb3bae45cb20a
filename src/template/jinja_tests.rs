//! Ansible's Jinja tests (`x is failed`, `v is version('2.0', '>=')`, ...)
//! that minijinja does not have. minijinja already provides `defined`,
//! `undefined`, `none`, `string`, `number`, `mapping`, `iterable`,
//! `sequence`, `in`, `boolean`, `true`, `false`, `eq`/`ne`/`lt`/...;
//! file-system tests (`exists`, `file`, `directory`) are left out because
//! they would look at the controller, not the managed host.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};

use crate::template::filters::regex::build;
use crate::template::filters::types::to_bool;
use crate::template::value::{as_text, invalid, to_json};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("failed", failed);
    env.add_test("failure", failed);
    env.add_test("succeeded", succeeded);
    env.add_test("success", succeeded);
    env.add_test("successful", succeeded);
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", skipped);
    env.add_test("skip", skipped);
    env.add_test("unreachable", unreachable);
    env.add_test("reachable", |v: &Value| unreachable(v).map(|u| !u));
    env.add_test("match", |v: &Value, p: String, k: Kwargs| {
        regex(v, p, k, Some("match"))
    });
    env.add_test("search", |v: &Value, p: String, k: Kwargs| {
        regex(v, p, k, Some("search"))
    });
    env.add_test("regex", |v: &Value, p: String, k: Kwargs| {
        regex(v, p, k, None)
    });
    env.add_test("version", version);
    env.add_test("version_compare", version);
    env.add_test("subset", subset);
    env.add_test("superset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("contains", contains);
    env.add_test("any", |v: &Value| {
        Ok::<_, Error>(v.try_iter()?.any(|x| x.is_true()))
    });
    env.add_test("all", |v: &Value| {
        Ok::<_, Error>(v.try_iter()?.all(|x| x.is_true()))
    });
    env.add_test("truthy", truthy);
    env.add_test("falsy", |v: &Value, k: Kwargs| truthy(v, k).map(|t| !t));
}

/// The field `key` of a registered task result, which must be a dict.
fn result_field(result: &Value, key: &str, test: &str) -> Result<Value, Error> {
    if result.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "the '{test}' test expects a dictionary (a registered task result)"
        )));
    }
    let field = result.get_attr(key)?;
    Ok(if field.is_undefined() {
        Value::from(false)
    } else {
        field
    })
}

/// `result is failed`: the result's `failed` key is true.
pub fn failed(result: &Value) -> Result<bool, Error> {
    Ok(result_field(result, "failed", "failed")?.is_true())
}

pub fn succeeded(result: &Value) -> Result<bool, Error> {
    Ok(!failed(result)?)
}

/// `result is changed`: its `changed` key, or — for loop results without
/// one — whether any item in `results` changed.
pub fn changed(result: &Value) -> Result<bool, Error> {
    let own = result_field(result, "changed", "changed")?;
    if result.get_attr("changed")?.is_undefined() {
        let items = result.get_attr("results")?;
        if items.kind() == ValueKind::Seq {
            for item in items.try_iter()? {
                if item.kind() == ValueKind::Map && item.get_attr("changed")?.is_true() {
                    return Ok(true);
                }
            }
        }
        return Ok(false);
    }
    Ok(own.is_true())
}

pub fn skipped(result: &Value) -> Result<bool, Error> {
    Ok(result_field(result, "skipped", "skipped")?.is_true())
}

pub fn unreachable(result: &Value) -> Result<bool, Error> {
    Ok(result_field(result, "unreachable", "unreachable")?.is_true())
}

/// `match` anchors at the start (Python `re.match`), `search` finds anywhere;
/// `regex` picks with `match_type` (default search).
fn regex(
    value: &Value,
    pattern: String,
    kwargs: Kwargs,
    kind: Option<&str>,
) -> Result<bool, Error> {
    let text = as_text(value)?;
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let kind = match kind {
        Some(kind) => kind.to_string(),
        None => kwargs
            .get::<Option<String>>("match_type")?
            .unwrap_or_else(|| "search".into()),
    };
    kwargs.assert_all_used()?;
    let pattern = match kind.as_str() {
        "search" => pattern,
        "match" => format!(r"\A(?:{pattern})"),
        "fullmatch" => format!(r"\A(?:{pattern})\z"),
        other => return Err(invalid(format!("regex: unknown match_type {other:?}"))),
    };
    Ok(build(&pattern, ignorecase, multiline)?.is_match(&text))
}

/// `ansible_distribution_version is version('12', '>=')`.
///
/// Operators: `==`/`=`/`eq`, `!=`/`<>`/`ne`, `<`/`lt`, `<=`/`le`, `>`/`gt`,
/// `>=`/`ge`. Comparison is Python's LooseVersion: numbers compare as
/// numbers, letters as text, separators split (`1.10 > 1.9`,
/// `1.0rc1 > 1.0`); comparing a number with letters at the same place is an
/// error. `strict=true` requires `N.N[.N][a|bN]` and orders `1.0a1 < 1.0`.
pub fn version(
    value: &Value,
    other: &Value,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let op = kwargs
        .get::<Option<String>>("operator")?
        .or(op)
        .unwrap_or_else(|| "eq".into());
    let strict = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    let strict = match version_type.as_deref() {
        None | Some("loose") => strict,
        Some("strict") => true,
        Some(other) => {
            return Err(invalid(format!(
                "version: version_type {other:?} is not supported (loose, strict)"
            )));
        }
    };
    let (a, b) = (as_text(value)?, as_text(other)?);
    let ordering = if strict {
        strict_cmp(&a, &b)?
    } else {
        loose_cmp(&a, &b)?
    };
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ordering == Ordering::Equal,
        "!=" | "<>" | "ne" => ordering != Ordering::Equal,
        "<" | "lt" => ordering == Ordering::Less,
        "<=" | "le" => ordering != Ordering::Greater,
        ">" | "gt" => ordering == Ordering::Greater,
        ">=" | "ge" => ordering != Ordering::Less,
        other => return Err(invalid(format!("version: invalid operator {other:?}"))),
    })
}

#[derive(Debug, PartialEq)]
enum Part {
    Num(u64),
    Text(String),
}

/// LooseVersion's pieces: digit runs, lowercase-letter runs, and runs of
/// anything else; dots only separate.
fn loose_parts(v: &str) -> Vec<Part> {
    let class = |c: char| match c {
        '0'..='9' => 0,
        'a'..='z' => 1,
        '.' => 2,
        _ => 3,
    };
    let mut parts = Vec::new();
    let chars: Vec<char> = v.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let kind = class(chars[i]);
        let start = i;
        // A dot is a piece of its own; other classes extend over runs.
        i += 1;
        while kind != 2 && i < chars.len() && class(chars[i]) == kind {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        match kind {
            0 => parts.push(run.parse().map(Part::Num).unwrap_or(Part::Text(run))),
            2 => {}
            _ => parts.push(Part::Text(run)),
        }
    }
    parts
}

fn loose_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (pa, pb) = (loose_parts(a), loose_parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let ord = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
            _ => {
                return Err(invalid(format!(
                    "version: cannot compare {a:?} with {b:?} (a number and letters at the same place)"
                )));
            }
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

/// StrictVersion: `major.minor[.patch][a|bN]`; a pre-release sorts first.
fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let re = build(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$", false, false)?;
    let key = |v: &str| -> Result<(u64, u64, u64, (u8, u64)), Error> {
        let caps = re.captures(v).ok_or_else(|| {
            invalid(format!(
                "version: invalid version number {v:?} for a strict comparison"
            ))
        })?;
        let num = |i: usize| {
            caps.get(i)
                .map_or(Ok(0), |m| m.as_str().parse::<u64>())
                .unwrap_or(u64::MAX)
        };
        let pre = match caps.get(4).map(|m| m.as_str()) {
            Some("a") => (0, num(5)),
            Some(_) => (1, num(5)),
            None => (2, 0),
        };
        Ok((num(1), num(2), num(3), pre))
    };
    Ok(key(a)?.cmp(&key(b)?))
}

/// `[1, 2] is subset([1, 2, 3])`.
pub fn subset(a: &Value, b: &Value) -> Result<bool, Error> {
    let (a, b) = (to_json(a)?, to_json(b)?);
    match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) => Ok(a.iter().all(|x| b.contains(x))),
        _ => Err(invalid("subset/superset compare two lists")),
    }
}

/// `list is contains(item)`: the reverse of `in`, handy with `select`; on
/// a string, a substring test (Python's `in`).
pub fn contains(seq: &Value, item: &Value) -> Result<bool, Error> {
    if let (Some(text), Some(part)) = (seq.as_str(), item.as_str()) {
        return Ok(text.contains(part));
    }
    Ok(seq.try_iter()?.any(|x| &x == item))
}

/// `truthy(convert_bool=False)`: Python truthiness, or Ansible's `bool`
/// words first when asked.
pub fn truthy(value: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    let convert = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    if convert
        && matches!(
            value.kind(),
            ValueKind::String | ValueKind::Number | ValueKind::Bool
        )
    {
        let word = as_text(value)?.to_lowercase();
        if ["yes", "on", "true", "1", "no", "off", "false", "0"].contains(&word.as_str()) {
            return to_bool(value);
        }
    }
    Ok(value.is_true())
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn task_result_tests() {
        let vars = json!({
            "ok": {"rc": 0, "changed": false, "failed": false},
            "bad": {"rc": 1, "failed": true, "changed": false},
            "skip": {"skipped": true, "changed": false},
            "loop": {"results": [{"changed": false}, {"changed": true}]},
        });
        let out = render(
            "{{ ok is succeeded }} {{ ok is failed }} {{ bad is failed }} {{ bad is success }} \
             {{ skip is skipped }} {{ ok is skip }} {{ loop is changed }} {{ ok is change }}",
            vars,
        );
        assert_eq!(out, "True False True False True False True False");
        assert!(render_err("{{ 'x' is failed }}").contains("expects a dictionary"));
    }

    #[test]
    fn regex_tests_match_search() {
        // Ansible docs: url is match("https://example.com/users/.*/resources"), url is search("users/.*/resources/.*")
        let vars = json!({"url": "https://example.com/users/foo/resources/bar"});
        let out = render(
            "{{ url is match('https://example.com/users/.*/resources') }} {{ url is search('users/.*/resources/.*') }} \
             {{ url is match('users') }} {{ url is regex('example\\\\.com/\\\\w+/foo') }} {{ 'ABC' is match('abc', ignorecase=true) }}",
            vars,
        );
        assert_eq!(out, "True True False True True");
    }

    #[test]
    fn version_comparisons() {
        // Ansible docs: ansible_facts['distribution_version'] is version('12.04', '>=')
        let out = render(
            "{{ '12.04' is version('12.04', '>=') }} {{ '1.10' is version('1.9', '>') }} {{ '1.2.3' is version('1.2.3', 'eq') }} \
             {{ '2.0' is version_compare('10.0', 'lt') }} {{ '1.0rc1' is version('1.0', '>') }} \
             {{ '1.0a1' is version('1.0', '<', strict=true) }} {{ '1.0' is version('1.0.0', '==', version_type='strict') }}",
            json!({}),
        );
        assert_eq!(out, "True True True True True True True");
        assert!(render_err("{{ '1.a' is version('1.1', '<') }}").contains("cannot compare"));
        assert!(render_err("{{ '1' is version('1', '~=') }}").contains("invalid operator"));
    }

    #[test]
    fn loose_parts_split_like_python() {
        assert_eq!(
            loose_parts("1.2-RC3b"),
            vec![
                Part::Num(1),
                Part::Num(2),
                Part::Text("-RC".into()),
                Part::Num(3),
                Part::Text("b".into())
            ]
        );
    }

    #[test]
    fn set_and_truth_tests() {
        // Ansible docs: a: [1,2,3,4,5], b: [2,3]; b is subset(a); a is superset(b)
        let vars = json!({"a": [1, 2, 3, 4, 5], "b": [2, 3]});
        let out = render(
            "{{ b is subset(a) }} {{ a is superset(b) }} {{ a is subset(b) }} {{ a is contains(3) }} \
             {{ [0, 1] is any }} {{ [0, 1] is all }} {{ 'no' is truthy }} {{ 'no' is truthy(convert_bool=true) }} {{ '' is falsy }} \
             {{ 3 in a }} {{ 'x' is string }} {{ 1 is number }} {{ a is sequence }} {{ {} is mapping }} {{ none is none }}",
            vars,
        );
        assert_eq!(
            out,
            "True True False True True False True False True True True True True True True"
        );
    }
}
