//! List and dict filters from Ansible (`combine`, set operations, ...).
//!
//! They work on plain data (JSON values): keys and items compare as data, and
//! results keep the order of first appearance, as Ansible's do.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};
use serde_json::{Map, Value as Json};

use crate::template::value::{from_json, invalid, to_json};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("extract", extract);
    env.add_filter("random", random);
}

/// A random number from the OS-seeded hasher std gives every map; with a
/// `seed`, the same number for the same seed (Ansible's `seed=`).
fn random_u64(seed: Option<&str>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    match seed {
        Some(seed) => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            seed.hash(&mut h);
            h.finish()
        }
        None => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    }
}

/// `list | random`: one item; `n | random(start=0, step=1)`: a number in
/// `range(start, n, step)`, as Ansible's.
pub fn random(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let seed = kwargs.get::<Option<Value>>("seed")?.map(|s| s.to_string());
    let start = kwargs.get::<Option<i64>>("start")?.unwrap_or(0);
    let step = kwargs.get::<Option<i64>>("step")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    let r = random_u64(seed.as_deref());
    if let Some(end) = value.as_i64() {
        if step <= 0 || end <= start {
            return Err(invalid(format!(
                "random: empty range from {start} to {end} by {step}"
            )));
        }
        let count = ((end - start) + step - 1) / step;
        return Ok(Value::from(start + (r % count as u64) as i64 * step));
    }
    let items: Vec<Value> = value
        .try_iter()
        .map_err(|_| invalid(format!("random: cannot pick from {value}")))?
        .collect();
    if items.is_empty() {
        return Err(invalid("random: the sequence is empty"));
    }
    Ok(items[(r % items.len() as u64) as usize].clone())
}

/// How `combine` merges two lists found under the same key.
#[derive(Clone, Copy)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

/// `a | combine(b, c, recursive=true, list_merge='append')`: later dicts win;
/// `[a, b] | combine` works too.
pub fn combine(value: &Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = match kwargs
        .get::<Option<String>>("list_merge")?
        .as_deref()
        .unwrap_or("replace")
    {
        "replace" => ListMerge::Replace,
        "keep" => ListMerge::Keep,
        "append" => ListMerge::Append,
        "prepend" => ListMerge::Prepend,
        "append_rp" => ListMerge::AppendRp,
        "prepend_rp" => ListMerge::PrependRp,
        other => {
            return Err(invalid(format!(
                "combine: list_merge {other:?} is not one of replace, keep, append, prepend, append_rp, prepend_rp"
            )));
        }
    };
    kwargs.assert_all_used()?;

    // Arguments are flattened one level, so lists of dicts count as dicts.
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(others.iter()) {
        match to_json(term)? {
            Json::Array(items) => dicts.extend(items),
            other => dicts.push(other),
        }
    }
    let mut result = Map::new();
    for dict in dicts {
        match dict {
            Json::Object(map) => merge(&mut result, map, recursive, list_merge),
            other => return Err(invalid(format!("combine: expected dicts, got {other}"))),
        }
    }
    Ok(from_json(&Json::Object(result)))
}

/// Merges `high` into `low` (Ansible's `merge_hash`).
fn merge(
    low: &mut Map<String, Json>,
    high: Map<String, Json>,
    recursive: bool,
    list_merge: ListMerge,
) {
    for (key, high_value) in high {
        let Some(low_value) = low.get_mut(&key) else {
            low.insert(key, high_value);
            continue;
        };
        match (low_value, high_value) {
            (Json::Object(low_map), Json::Object(high_map)) if recursive => {
                merge(low_map, high_map, recursive, list_merge);
            }
            (Json::Array(low_list), Json::Array(high_list)) => {
                let merged = merge_lists(std::mem::take(low_list), high_list, list_merge);
                *low_list = merged;
            }
            (low_value, high_value) => *low_value = high_value,
        }
    }
}

fn merge_lists(low: Vec<Json>, high: Vec<Json>, how: ListMerge) -> Vec<Json> {
    let without_high = |low: Vec<Json>, high: &[Json]| -> Vec<Json> {
        low.into_iter().filter(|x| !high.contains(x)).collect()
    };
    match how {
        ListMerge::Replace => high,
        ListMerge::Keep => low,
        ListMerge::Append => low.into_iter().chain(high).collect(),
        ListMerge::Prepend => high.into_iter().chain(low).collect(),
        ListMerge::AppendRp => {
            let mut out = without_high(low, &high);
            out.extend(high);
            out
        }
        ListMerge::PrependRp => {
            let rest = without_high(low, &high);
            high.into_iter().chain(rest).collect()
        }
    }
}

fn key_names(kwargs: &Kwargs) -> Result<(String, String), Error> {
    let key = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    Ok((key, value))
}

/// `{'a': 1} | dict2items` gives `[{'key': 'a', 'value': 1}]`.
pub fn dict2items(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let (key_name, value_name) = key_names(&kwargs)?;
    let Json::Object(map) = to_json(value)? else {
        return Err(invalid("dict2items requires a dictionary"));
    };
    let items: Vec<Json> = map
        .into_iter()
        .map(|(k, v)| {
            let mut item = Map::new();
            item.insert(key_name.clone(), Json::String(k));
            item.insert(value_name.clone(), v);
            Json::Object(item)
        })
        .collect();
    Ok(from_json(&Json::Array(items)))
}

/// The reverse of `dict2items`.
pub fn items2dict(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let (key_name, value_name) = key_names(&kwargs)?;
    let Json::Array(items) = to_json(value)? else {
        return Err(invalid("items2dict requires a list"));
    };
    let mut map = Map::new();
    for item in items {
        let (Some(key), Some(v)) = (item.get(&key_name), item.get(&value_name)) else {
            return Err(invalid(format!(
                "items2dict requires each item to have the keys {key_name:?} and {value_name:?}, got {item}"
            )));
        };
        let key = match key {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        map.insert(key, v.clone());
    }
    Ok(from_json(&Json::Object(map)))
}

/// `flatten(levels=None, skip_nulls=True)`: nulls (and the strings "None",
/// "null") are dropped unless `skip_nulls=false`.
pub fn flatten(value: &Value, levels: Option<usize>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = kwargs.get::<Option<usize>>("levels")?.or(levels);
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let Json::Array(items) = to_json(value)? else {
        return Err(invalid("flatten requires a list"));
    };
    let mut out = Vec::new();
    flatten_into(&mut out, items, levels, skip_nulls);
    Ok(from_json(&Json::Array(out)))
}

fn flatten_into(out: &mut Vec<Json>, items: Vec<Json>, levels: Option<usize>, skip_nulls: bool) {
    for item in items {
        match item {
            Json::Null if skip_nulls => {}
            Json::String(s) if skip_nulls && (s == "None" || s == "null") => {}
            Json::Array(inner) if levels != Some(0) => {
                flatten_into(out, inner, levels.map(|l| l - 1), skip_nulls);
            }
            other => out.push(other),
        }
    }
}

fn list(value: &Value, filter: &str) -> Result<Vec<Json>, Error> {
    match to_json(value)? {
        Json::Array(items) => Ok(items),
        other => Err(invalid(format!("{filter} requires lists, got {other}"))),
    }
}

fn unique(items: impl IntoIterator<Item = Json>) -> Vec<Json> {
    let mut out: Vec<Json> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Items of either list, once each.
pub fn union(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (list(a, "union")?, list(b, "union")?);
    Ok(from_json(&Json::Array(unique(a.into_iter().chain(b)))))
}

/// Items of `a` also in `b`.
pub fn intersect(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (list(a, "intersect")?, list(b, "intersect")?);
    Ok(from_json(&Json::Array(unique(
        a.into_iter().filter(|x| b.contains(x)),
    ))))
}

/// Items of `a` not in `b`.
pub fn difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (list(a, "difference")?, list(b, "difference")?);
    Ok(from_json(&Json::Array(unique(
        a.into_iter().filter(|x| !b.contains(x)),
    ))))
}

/// Items in exactly one of the lists.
pub fn symmetric_difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (
        list(a, "symmetric_difference")?,
        list(b, "symmetric_difference")?,
    );
    let both: Vec<Json> = a.iter().filter(|x| b.contains(x)).cloned().collect();
    let all = unique(a.into_iter().chain(b));
    Ok(from_json(&Json::Array(
        all.into_iter().filter(|x| !both.contains(x)).collect(),
    )))
}

/// `key | extract(container, morekeys)`: `container[key][morekeys...]`;
/// typically `groups.web | map('extract', hostvars, 'ansible_host')`.
pub fn extract(key: &Value, container: &Value, more: Option<Value>) -> Result<Value, Error> {
    let mut keys = vec![key.clone()];
    match more {
        Some(more) if more.kind() == minijinja::value::ValueKind::Seq => {
            keys.extend(more.try_iter()?)
        }
        Some(more) => keys.push(more),
        None => {}
    }
    let mut current = container.clone();
    for key in keys {
        current = current.get_item(&key)?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use crate::template::filters::render;
    use serde_json::json;

    #[test]
    fn combine_follows_ansible_docs() {
        // Ansible docs: {'a':1, 'b':2} | combine({'b':3}) -> {'a':1, 'b':3}
        assert_eq!(
            render("{{ {'a': 1, 'b': 2} | combine({'b': 3}) }}", json!({})),
            "{'a': 1, 'b': 3}"
        );
        let vars = json!({
            "default": {"a": {"x": "default", "y": "default"}, "b": "default", "c": "default"},
            "patch": {"a": {"y": "patch", "z": "patch"}, "b": "patch"},
        });
        assert_eq!(
            render("{{ default | combine(patch) | to_json }}", vars.clone()),
            r#"{"a": {"y": "patch", "z": "patch"}, "b": "patch", "c": "default"}"#
        );
        assert_eq!(
            render(
                "{{ default | combine(patch, recursive=True) | to_json }}",
                vars.clone()
            ),
            r#"{"a": {"x": "default", "y": "patch", "z": "patch"}, "b": "patch", "c": "default"}"#
        );
        assert_eq!(
            render("{{ [{'a': 1}, {'b': 2}] | combine | to_json }}", vars),
            r#"{"a": 1, "b": 2}"#
        );
    }

    #[test]
    fn combine_list_merge_modes() {
        // Ansible docs: default: a: [1,1,2,3], patch: a: [3,4,5,5]
        let vars = json!({"default": {"a": [1, 1, 2, 3]}, "patch": {"a": [3, 4, 5, 5]}});
        let run = |mode: &str| {
            render(
                &format!("{{{{ (default | combine(patch, list_merge='{mode}')).a }}}}"),
                vars.clone(),
            )
        };
        assert_eq!(run("replace"), "[3, 4, 5, 5]");
        assert_eq!(run("keep"), "[1, 1, 2, 3]");
        assert_eq!(run("append"), "[1, 1, 2, 3, 3, 4, 5, 5]");
        assert_eq!(run("prepend"), "[3, 4, 5, 5, 1, 1, 2, 3]");
        assert_eq!(run("append_rp"), "[1, 1, 2, 3, 4, 5, 5]");
        assert_eq!(run("prepend_rp"), "[3, 4, 5, 5, 1, 1, 2]");
    }

    #[test]
    fn dict2items_and_back() {
        // Ansible docs: tags: {Application: payment, Environment: dev}
        let vars = json!({"tags": {"Application": "payment", "Environment": "dev"}});
        assert_eq!(
            render("{{ tags | dict2items | to_json }}", vars.clone()),
            r#"[{"key": "Application", "value": "payment"}, {"key": "Environment", "value": "dev"}]"#
        );
        assert_eq!(
            render(
                "{{ tags | dict2items(key_name='k', value_name='v') | items2dict(key_name='k', value_name='v') == tags }}",
                vars
            ),
            "True"
        );
    }

    #[test]
    fn flatten_levels_and_nulls() {
        // Ansible docs: [1, 2, [3, [4, 5]], 6] | flatten -> [1, 2, 3, 4, 5, 6]; flatten(levels=1) -> [1, 2, 3, [4, 5], 6]
        assert_eq!(
            render("{{ [1, 2, [3, [4, 5]], 6] | flatten }}", json!({})),
            "[1, 2, 3, 4, 5, 6]"
        );
        assert_eq!(
            render(
                "{{ [1, 2, [3, [4, 5]], 6] | flatten(levels=1) }}",
                json!({})
            ),
            "[1, 2, 3, [4, 5], 6]"
        );
        assert_eq!(
            render("{{ [1, none, [2, 'null']] | flatten }}", json!({})),
            "[1, 2]"
        );
        assert_eq!(
            render("{{ [1, none] | flatten(skip_nulls=false) }}", json!({})),
            "[1, None]"
        );
    }

    #[test]
    fn set_operations_keep_first_order() {
        // Ansible docs: list1: [1, 2, 5, 1, 3, 4, 10], list2: [1, 2, 3, 4, 5, 11, 99]
        let vars = json!({"list1": [1, 2, 5, 1, 3, 4, 10], "list2": [1, 2, 3, 4, 5, 11, 99]});
        assert_eq!(
            render("{{ list1 | union(list2) }}", vars.clone()),
            "[1, 2, 5, 3, 4, 10, 11, 99]"
        );
        assert_eq!(
            render("{{ list1 | intersect(list2) }}", vars.clone()),
            "[1, 2, 5, 3, 4]"
        );
        assert_eq!(
            render("{{ list1 | difference(list2) }}", vars.clone()),
            "[10]"
        );
        assert_eq!(
            render("{{ list1 | symmetric_difference(list2) }}", vars),
            "[10, 11, 99]"
        );
    }

    #[test]
    fn extract_looks_up_hostvars() {
        let vars = json!({
            "groups": {"web": ["w1", "w2"]},
            "hostvars": {"w1": {"ansible_host": "10.0.0.1"}, "w2": {"ansible_host": "10.0.0.2"}},
        });
        assert_eq!(
            render(
                "{{ groups.web | map('extract', hostvars, 'ansible_host') | join(',') }}",
                vars
            ),
            "10.0.0.1,10.0.0.2"
        );
        assert_eq!(
            render(
                "{{ [0, 2] | map('extract', ['x', 'y', 'z']) | list }}",
                json!({})
            ),
            "['x', 'z']"
        );
    }
}
