//! Turns a task's `loop:` / `with_*:` into the list of items to run, the way
//! Ansible's lookups do.

use serde_json::{Value, json};

use crate::playbook::{Loop, LoopControl, Vars};
use crate::template::{Scope, Templates};

/// The name of the loop variable (`loop_var`, which may be a template;
/// default `item`).
pub fn loop_var(control: &LoopControl, templates: &Templates, vars: &impl Scope) -> String {
    match &control.loop_var {
        None => "item".into(),
        Some(name) => match templates.render_value(&Value::String(name.clone()), vars) {
            Ok(Value::String(s)) => s,
            _ => name.clone(),
        },
    }
}

/// The variables iteration `index` of `items` adds: the loop var (`item`),
/// the `index_var` and, with `extended`, `ansible_loop` (with `allitems`
/// unless `extended_allitems: false`, and `previtem`/`nextitem` where there
/// is one).
pub fn item_vars(control: &LoopControl, loop_var: &str, index: usize, items: &[Value]) -> Vars {
    let mut vars = Vars::new();
    vars.insert(loop_var.to_string(), items[index].clone());
    vars.insert("ansible_loop_var".into(), json!(loop_var));
    if let Some(index_var) = &control.index_var {
        vars.insert(index_var.clone(), json!(index));
        vars.insert("ansible_index_var".into(), json!(index_var));
    }
    if control.extended {
        let total = items.len();
        let mut info = json!({"index": index + 1, "index0": index,
            "first": index == 0, "last": index + 1 == total, "length": total,
            "revindex": total - index, "revindex0": total - index - 1});
        if !control.without_allitems {
            info["allitems"] = json!(items);
        }
        if index > 0 {
            info["previtem"] = items[index - 1].clone();
        }
        if index + 1 < total {
            info["nextitem"] = items[index + 1].clone();
        }
        vars.insert("ansible_loop".into(), info);
    }
    vars
}

/// Whether the items are rendered from data (`loop: "{{ reg.stdout_lines }}"`):
/// then the loop variables are data too. Items of a list the admin wrote
/// are trusted, so `debug: var="{{ item }}"` still names a variable.
pub fn items_are_data(spec: &Loop, templates: &Templates, vars: &impl Scope) -> bool {
    let (Loop::Items(v)
    | Loop::WithItems(v)
    | Loop::WithDict(v)
    | Loop::WithSequence(v)
    | Loop::WithTogether(v)
    | Loop::WithFirstFound(v)
    | Loop::WithSubelements(v)
    | Loop::WithFlattened(v)) = spec;
    templates.uses_data(v, vars)
}

/// The items of `spec`, rendered with `vars`. Errors are messages for the
/// task's result.
pub fn items(spec: &Loop, templates: &Templates, vars: &impl Scope) -> Result<Vec<Value>, String> {
    let render = |v: &Value| templates.render_value(v, vars).map_err(|e| e.to_string());
    match spec {
        Loop::Items(v) => as_list(render(v)?, "loop"),
        Loop::WithItems(v) => {
            // with_items flattens one level: [[a, b], c] -> [a, b, c].
            let mut out = Vec::new();
            for item in as_list(render(v)?, "with_items")? {
                match item {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Ok(out)
        }
        Loop::WithDict(v) => match render(v)? {
            Value::Object(map) => Ok(map
                .into_iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect()),
            other => Err(format!(
                "with_dict expects a dictionary, got {}",
                kind(&other)
            )),
        },
        Loop::WithSequence(v) => sequence(&render(v)?),
        Loop::WithFirstFound(v) => crate::template::first_found_items(&render(v)?, vars.vars()),
        Loop::WithSubelements(v) => subelements(render(v)?),
        Loop::WithFlattened(v) => {
            let mut out = Vec::new();
            flatten_into(as_list(render(v)?, "with_flattened")?, &mut out);
            Ok(out)
        }
        Loop::WithTogether(v) => {
            let lists: Vec<Vec<Value>> = as_list(render(v)?, "with_together")?
                .into_iter()
                .map(|l| as_list(l, "with_together"))
                .collect::<Result<_, _>>()?;
            let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..longest)
                .map(|i| {
                    Value::Array(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                            .collect(),
                    )
                })
                .collect())
        }
    }
}

/// `with_subelements: [elements, 'key.path', {skip_missing: bool}]`: one
/// `[element, sub-item]` pair per item of each element's sub-list. As in
/// Ansible, the sub-list is taken out of the element (`item.0` lacks it),
/// a dictionary of elements (a registered loop result) gives its values,
/// and elements marked `skipped` are left out.
fn subelements(terms: Value) -> Result<Vec<Value>, String> {
    const USAGE: &str = "with_subelements expects a list of two or three items: a list (or dictionary) of elements, the sub-key as a string, optionally {skip_missing: true}";
    let Value::Array(terms) = terms else {
        return Err(USAGE.into());
    };
    if !(2..=3).contains(&terms.len()) {
        return Err(USAGE.into());
    }
    let Some(path) = terms[1].as_str() else {
        return Err(USAGE.into());
    };
    let keys: Vec<&str> = path.split('.').collect();
    let skip_missing = match terms.get(2) {
        None => false,
        Some(Value::Object(flags)) => {
            if let Some(other) = flags.keys().find(|k| *k != "skip_missing") {
                return Err(format!(
                    "with_subelements: unknown flag `{other}` (the only flag is skip_missing)"
                ));
            }
            flags
                .get("skip_missing")
                .and_then(crate::modules::args::to_bool)
                .unwrap_or(false)
        }
        Some(_) => return Err(USAGE.into()),
    };
    let elements = match &terms[0] {
        Value::Array(items) => items.clone(),
        Value::Object(map) if map.get("skipped").is_some_and(|s| s != &Value::Bool(false)) => {
            return Ok(Vec::new());
        }
        Value::Object(map) => map.values().cloned().collect(),
        _ => return Err(USAGE.into()),
    };
    let mut out = Vec::new();
    for mut element in elements {
        let Value::Object(map) = &element else {
            return Err(format!(
                "with_subelements expects each element to be a dictionary, got {element}"
            ));
        };
        if map.get("skipped").is_some_and(|s| s != &Value::Bool(false)) {
            continue;
        }
        let sublist = match take_sublist(&mut element, &keys, skip_missing)? {
            Some(list) => list,
            None => continue,
        };
        for sub in sublist {
            out.push(Value::Array(vec![element.clone(), sub]));
        }
    }
    Ok(out)
}

/// Removes the list at `keys` from `element` and returns it; `None` when
/// a key is missing (or not a dictionary on the way) and `skip_missing`.
fn take_sublist(
    element: &mut Value,
    keys: &[&str],
    skip_missing: bool,
) -> Result<Option<Vec<Value>>, String> {
    let mut at = element;
    for (i, key) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        let Some(map) = at.as_object_mut() else {
            unreachable!("checked to be a dictionary before descending");
        };
        let Some(next) = map.get(*key) else {
            if skip_missing {
                return Ok(None);
            }
            return Err(format!(
                "with_subelements: could not find '{key}' key in iterated item {}",
                Value::Object(map.clone())
            ));
        };
        if last {
            return match next {
                Value::Array(_) => match map.remove(*key) {
                    Some(Value::Array(list)) => Ok(Some(list)),
                    _ => Ok(Some(Vec::new())),
                },
                other => Err(format!(
                    "with_subelements: the key {key} should point to a list, got {other}"
                )),
            };
        }
        if !next.is_object() {
            if skip_missing {
                return Ok(None);
            }
            return Err(format!(
                "with_subelements: the key {key} should point to a dictionary, got {next}"
            ));
        }
        at = map.get_mut(*key).expect("present");
    }
    Ok(Some(Vec::new()))
}

/// `with_flattened`: lists inside lists, all the way down; a `None` (or
/// null) ends its list, as in Ansible's lookup.
fn flatten_into(items: Vec<Value>, out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Null => break,
            Value::String(s) if s == "None" || s == "null" => break,
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other),
        }
    }
}

fn as_list(value: Value, what: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        // A lone string is one item for with_items (Ansible's listify).
        Value::String(s) if what == "with_items" => Ok(vec![Value::String(s)]),
        Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "{what} expects a list, got {}: {other}",
            kind(&other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dictionary",
    }
}

/// `with_sequence: start=1 end=5 stride=1 format=web%02d` (or `count=N`), or
/// the same as a map.
fn sequence(spec: &Value) -> Result<Vec<Value>, String> {
    let mut params = serde_json::Map::new();
    match spec {
        Value::String(s) => {
            for word in s.split_whitespace() {
                match word.split_once('=') {
                    Some((k, v)) => {
                        params.insert(k.to_string(), Value::String(v.to_string()));
                    }
                    // Shortcut form: "4" or "1-4" or "1-10/2".
                    None => {
                        let (range, stride) = word.split_once('/').unwrap_or((word, "1"));
                        let (start, end) = range.split_once('-').unwrap_or(("1", range));
                        params.insert("start".into(), Value::String(start.into()));
                        params.insert("end".into(), Value::String(end.into()));
                        params.insert("stride".into(), Value::String(stride.into()));
                    }
                }
            }
        }
        Value::Object(map) => params = map.clone(),
        other => {
            return Err(format!(
                "with_sequence expects `start=.. end=..`, got {other}"
            ));
        }
    }
    let number = |key: &str, default: i64| -> Result<i64, String> {
        match params.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| format!("with_sequence: {key} must be an integer")),
            Some(Value::String(s)) => {
                parse_int(s).ok_or_else(|| format!("with_sequence: {key}={s} is not an integer"))
            }
            Some(other) => Err(format!("with_sequence: {key}={other} is not an integer")),
        }
    };
    let start = number("start", 1)?;
    let stride = number("stride", 1)?;
    let end = match params.get("count") {
        Some(_) => start + (number("count", 0)? - 1) * stride,
        None => number("end", start)?,
    };
    if stride == 0 {
        return Err("with_sequence: stride must not be 0".into());
    }
    let format = params
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("%d")
        .to_string();
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::String(printf_int(&format, i)));
        i += stride;
    }
    Ok(out)
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    s.parse().ok()
}

/// The one printf conversion with_sequence needs: `%d`, `%02d`, `%x`, `%o`.
fn printf_int(format: &str, n: i64) -> String {
    let Some(pos) = format.find('%') else {
        return format.to_string();
    };
    let rest = &format[pos + 1..];
    let spec_len = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or(rest.len(), |i| i + 1);
    let spec = &rest[..spec_len];
    let (flags, conv) = spec.split_at(spec.len().saturating_sub(1));
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv {
        "x" => format!("{n:x}"),
        "X" => format!("{n:X}"),
        "o" => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!("{}{}{}", &format[..pos], padded, &rest[spec_len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: Loop) -> Vec<Value> {
        items(&spec, &Templates::new(), &Vars::new()).unwrap()
    }

    #[test]
    fn item_vars_with_extended_info() {
        let control = LoopControl {
            index_var: Some("i".into()),
            extended: true,
            ..Default::default()
        };
        let items = [json!("a"), json!("b"), json!("c")];
        let v = item_vars(&control, "it", 1, &items);
        assert_eq!(v["it"], "b");
        assert_eq!(v["i"], 1);
        assert_eq!(v["ansible_loop_var"], "it");
        assert_eq!(v["ansible_loop"]["previtem"], "a");
        assert_eq!(v["ansible_loop"]["nextitem"], "c");
        assert_eq!(v["ansible_loop"]["revindex"], 2);
        let v = item_vars(&control, "it", 0, &items);
        assert!(v["ansible_loop"].get("previtem").is_none());
        assert_eq!(v["ansible_loop"]["allitems"], json!(items));
        let control = LoopControl {
            without_allitems: true,
            ..control
        };
        let v = item_vars(&control, "it", 0, &items);
        assert!(v["ansible_loop"].get("allitems").is_none());
    }

    #[test]
    fn with_items_flattens_one_level() {
        assert_eq!(
            run(Loop::WithItems(json!([["a", "b"], "c", [["d"]]]))),
            vec![json!("a"), json!("b"), json!("c"), json!(["d"])]
        );
    }

    #[test]
    fn with_dict_gives_key_value_items() {
        assert_eq!(
            run(Loop::WithDict(json!({"x": 1}))),
            vec![json!({"key": "x", "value": 1})]
        );
    }

    #[test]
    fn with_sequence_formats_and_strides() {
        assert_eq!(
            run(Loop::WithSequence(json!(
                "start=1 end=5 stride=2 format=web%02d"
            ))),
            vec![json!("web01"), json!("web03"), json!("web05")]
        );
        assert_eq!(
            run(Loop::WithSequence(json!("count=3"))),
            vec![json!("1"), json!("2"), json!("3")]
        );
    }

    #[test]
    fn with_together_zips_and_pads() {
        assert_eq!(
            run(Loop::WithTogether(json!([[1, 2], ["a"]]))),
            vec![json!([1, "a"]), json!([2, null])]
        );
    }

    #[test]
    fn with_subelements_pairs_each_element_with_its_sub_items() {
        let users = json!([
            {"name": "alice", "keys": ["k1", "k2"]},
            {"name": "bob", "keys": []},
            {"name": "carol"},
        ]);
        let err = items(
            &Loop::WithSubelements(json!([users.clone(), "keys"])),
            &Templates::new(),
            &Vars::new(),
        )
        .unwrap_err();
        assert!(err.contains("could not find 'keys'"), "{err}");
        assert_eq!(
            run(Loop::WithSubelements(
                json!([users, "keys", {"skip_missing": true}])
            )),
            vec![
                json!([{"name": "alice"}, "k1"]),
                json!([{"name": "alice"}, "k2"]),
            ]
        );
        // A nested key path, and a dictionary of elements.
        let nested = json!({"a": {"n": 1, "x": {"l": [1, 2]}}});
        assert_eq!(
            run(Loop::WithSubelements(json!([nested, "x.l"]))),
            vec![json!([{"n": 1, "x": {}}, 1]), json!([{"n": 1, "x": {}}, 2])]
        );
    }

    #[test]
    fn with_flattened_flattens_every_level() {
        assert_eq!(
            run(Loop::WithFlattened(json!([1, [2, [3, [4]]], "a"]))),
            vec![json!(1), json!(2), json!(3), json!(4), json!("a")]
        );
    }

    #[test]
    fn loop_over_a_templated_list() {
        let mut vars = Vars::new();
        vars.insert("pkgs".into(), json!(["a", "b"]));
        let got = items(&Loop::Items(json!("{{ pkgs }}")), &Templates::new(), &vars).unwrap();
        assert_eq!(got, vec![json!("a"), json!("b")]);
        let err = items(&Loop::Items(json!(5)), &Templates::new(), &vars).unwrap_err();
        assert!(err.contains("expects a list"), "{err}");
    }
}
