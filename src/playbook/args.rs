//! Module arguments: a mapping, a `key=value` string or a free-form
//! command line, merged with `args:`, aliases renamed to the canonical
//! parameter names, and checked against the module's parameter table so a
//! typo fails at load time, at the key that has it.

use serde_json::Value;

use super::actions::{canonical_module, lookup, module_names};
use super::error::{PlaybookError, did_you_mean};
use super::kv;
use super::located::{Key, Kind, Mark, Node};
use super::model::Vars;
use super::source::{Source, scalar_text};
use crate::modules::spec::{Module, StringArgs};

/// `action: copy src=a dest=b` or `action: {module: copy, src: a}`: the
/// module and its arguments as if written `copy: ...`.
pub(crate) fn action<'k>(
    key: &'k Key,
    value: &Node,
    source: &Source,
) -> Result<(&'k Key, &'static str, Node), PlaybookError> {
    let (name, rest) = match &value.kind {
        Kind::String(text) => {
            let text = text.trim_start();
            let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
            let rest = Node {
                kind: Kind::String(rest.trim().to_string()),
                mark: value.mark,
            };
            (name.to_string(), rest)
        }
        Kind::Map(entries) => {
            let name = value
                .get("module")
                .and_then(scalar_text)
                .ok_or_else(|| source.error(value.mark, "`action:` mapping needs `module:`"))?;
            let rest: Vec<_> = entries
                .iter()
                .filter(|(k, _)| k.name != "module")
                .cloned()
                .collect();
            (
                name,
                Node {
                    kind: Kind::Map(rest),
                    mark: value.mark,
                },
            )
        }
        _ => return Err(source.expected(key, value, "a module name and its arguments")),
    };
    let module = canonical_module(&name).ok_or_else(|| {
        source.error(
            value.mark,
            format!(
                "unknown module `{name}`{}",
                did_you_mean(&name, module_names())
            ),
        )
    })?;
    Ok((key, module, rest))
}

/// One argument and where it was written.
struct Arg {
    name: String,
    mark: Mark,
    value: Value,
}

/// The validated arguments of `module` (written at `key`, value `value`),
/// with `args:` (`extra`) underneath.
pub(crate) fn parse(
    module: &str,
    key: &Key,
    value: &Node,
    extra: Option<&Node>,
    source: &Source,
) -> Result<Vars, PlaybookError> {
    let module: &Module = lookup(module).expect("the caller names a declared module");
    let mut args: Vec<Arg> = Vec::new();
    if let Some(extra) = extra {
        match &extra.kind {
            Kind::Map(entries) => add_map(&mut args, entries),
            Kind::Null => {}
            _ => {
                return Err(source.error(
                    extra.mark,
                    format!("`args` must be a mapping, found {}", extra.type_name()),
                ));
            }
        }
    }
    match &value.kind {
        Kind::Null => {}
        Kind::Map(entries) => add_map(&mut args, entries),
        Kind::Seq(_) => {
            return Err(source.error(
                value.mark,
                format!(
                    "{}: arguments must be a mapping or a string, found a list",
                    module.name
                ),
            ));
        }
        _ => {
            let text = scalar_text(value).unwrap_or_default();
            add_string(&mut args, module, &text, value.mark, source)?;
        }
    }
    rename_aliases(&mut args, module, source)?;
    check(&args, module, key, source)?;
    Ok(args.into_iter().map(|a| (a.name, a.value)).collect())
}

/// Later entries replace earlier ones of the same name.
fn upsert(args: &mut Vec<Arg>, arg: Arg) {
    match args.iter_mut().find(|a| a.name == arg.name) {
        Some(slot) => *slot = arg,
        None => args.push(arg),
    }
}

fn add_map(args: &mut Vec<Arg>, entries: &[(Key, Node)]) {
    for (k, v) in entries {
        upsert(
            args,
            Arg {
                name: k.name.clone(),
                mark: k.mark,
                value: v.to_json(),
            },
        );
    }
}

/// A string argument: the whole text for meta/include/import, a command
/// line for free-form modules, `key=value` words for the others.
fn add_string(
    args: &mut Vec<Arg>,
    spec: &Module,
    text: &str,
    mark: Mark,
    source: &Source,
) -> Result<(), PlaybookError> {
    let whole = |args: &mut Vec<Arg>, text: &str| {
        upsert(
            args,
            Arg {
                name: "_raw_params".into(),
                mark,
                value: Value::String(text.trim().to_string()),
            },
        )
    };
    let module = spec.name;
    let free_form_keys = match spec.string_args {
        StringArgs::FreeForm(keys) => Some(keys),
        StringArgs::KeyValue => None,
        StringArgs::Whole => {
            // `include_tasks: x.yml` or the key=value form `file=x.yml`;
            // include_vars: a path, or a template giving one (first_found).
            let file = text.trim().strip_prefix("file=");
            match file.filter(|_| spec.param("file").is_some()) {
                Some(file) => upsert(
                    args,
                    Arg {
                        name: "file".into(),
                        mark,
                        value: Value::String(file.trim().to_string()),
                    },
                ),
                None => whole(args, text),
            }
            return Ok(());
        }
    };
    if text.trim_start().starts_with("{{") && free_form_keys.is_none() {
        return Err(source.error(
            mark,
            format!(
                "{module}: arguments as one template are not supported; write them as a mapping"
            ),
        ));
    }
    let parsed = kv::parse(text, free_form_keys);
    for (name, value) in parsed.args {
        upsert(args, Arg { name, mark, value });
    }
    if !parsed.raw.is_empty() {
        if free_form_keys.is_none() {
            return Err(source.error(
                mark,
                format!(
                    "{module}: `{}` is not a key=value argument; {module} takes named parameters",
                    parsed.raw
                ),
            ));
        }
        // Already trimmed by kv::parse, keeping a `shell: |` block's last
        // line break as Ansible does.
        upsert(
            args,
            Arg {
                name: "_raw_params".into(),
                mark,
                value: Value::String(parsed.raw),
            },
        );
    }
    Ok(())
}

fn rename_aliases(args: &mut [Arg], module: &Module, source: &Source) -> Result<(), PlaybookError> {
    let aliases = module
        .params
        .iter()
        .flat_map(|p| p.aliases.iter().map(move |a| (*a, p.name)));
    for (alias, canonical) in aliases {
        if let Some(i) = args.iter().position(|a| a.name == alias) {
            if args.iter().any(|a| a.name == *canonical) {
                return Err(source.error(
                    args[i].mark,
                    format!(
                        "{}: `{alias}` and `{canonical}` are the same parameter; keep one",
                        module.name
                    ),
                ));
            }
            args[i].name = canonical.to_string();
        }
    }
    Ok(())
}

/// Unknown, missing and conflicting parameters.
fn check(args: &[Arg], spec: &Module, key: &Key, source: &Source) -> Result<(), PlaybookError> {
    let module = spec.name;
    let has = |name: &str| args.iter().any(|a| a.name == name);
    for arg in args {
        if spec.param(&arg.name).is_some() {
            continue;
        }
        if spec.any_names {
            // Names may be templated (`result_{{ item }}`), checked when set.
            if !valid_name(&arg.name) && !arg.name.contains("{{") {
                return Err(source.error(
                    arg.mark,
                    format!("set_fact: `{}` is not a valid variable name", arg.name),
                ));
            }
            continue;
        }
        if arg.name == "_raw_params" {
            return Err(source.error(
                arg.mark,
                format!("{module} takes no free-form argument; write key: value parameters"),
            ));
        }
        let names = spec.all_param_names().filter(|n| *n != "_raw_params");
        return Err(source.error(
            arg.mark,
            format!(
                "{module}: unknown parameter `{}`{}",
                arg.name,
                did_you_mean(&arg.name, names)
            ),
        ));
    }
    for group in spec.required {
        if group.iter().any(|name| has(name)) {
            continue;
        }
        let (message, ansible) = if group.contains(&"_raw_params") {
            let mut ways = vec!["a command line".to_string()];
            ways.extend(group.iter().skip(1).map(|n| format!("`{n}`")));
            let names: Vec<_> = group
                .iter()
                .map(|n| if *n == "_raw_params" { "free_form" } else { n })
                .collect();
            let ansible = format!("one of the following is required: {}", names.join(", "));
            (
                format!(
                    "{module}: nothing to run; give {} ({ansible})",
                    ways.join(" or ")
                ),
                ansible,
            )
        } else {
            let names: Vec<_> = group.iter().map(|n| format!("`{n}`")).collect();
            let ansible = match *group {
                // Action plugins' own wording (copy, template, fetch...).
                ["src", "content"] => "src (or content) is required".to_string(),
                [one] if spec.action_plugin => format!("{one} is required"),
                // AnsibleModule's.
                [one] => format!("missing required arguments: {one}"),
                _ => format!("one of the following is required: {}", group.join(", ")),
            };
            (
                format!(
                    "{module}: missing required parameter {} ({ansible})",
                    names.join(" or ")
                ),
                ansible,
            )
        };
        // Ansible's wording goes with it: playbooks and tests match on it.
        return Err(source.argument_error(key.mark, message, ansible));
    }
    for (a, b) in spec.exclusive {
        if has(a)
            && let Some(second) = args.iter().find(|arg| arg.name == *b)
        {
            let ansible = format!("parameters are mutually exclusive: {a}|{b}");
            return Err(source.argument_error(
                second.mark,
                format!("{module}: `{a}` and `{b}` cannot be used together ({ansible})"),
                ansible,
            ));
        }
    }
    if module == "set_fact" && args.iter().all(|a| a.name == "cacheable") {
        return Err(source.error(key.mark, "set_fact: no variables to set"));
    }
    if module == "pause" && has("prompt") && !has("seconds") && !has("minutes") {
        return Err(source.error(
            key.mark,
            "pause: `prompt` without `seconds` or `minutes` waits for a keyboard; herd runs non-interactively",
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::REGISTRY;

    /// Loads `{module: args}` from a file, as a task's module key.
    fn load(module: &str, args: &serde_json::Map<String, Value>) -> Result<Vars, PlaybookError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.yml");
        let text = serde_json::to_string(&serde_json::json!({ module: args })).unwrap();
        std::fs::write(&path, text).unwrap();
        let (source, node) = Source::read(&path, None).unwrap();
        let Kind::Map(entries) = &node.kind else {
            panic!("a mapping")
        };
        let (key, value) = &entries[0];
        parse(module, key, value, None, &source)
    }

    #[test]
    fn the_loader_accepts_exactly_what_each_module_declares() {
        for module in REGISTRY {
            // The first parameter of each required group.
            let mut base = serde_json::Map::new();
            for group in module.required {
                base.insert(group[0].into(), Value::String("x".into()));
            }
            if module.any_names {
                base.insert("some_variable".into(), Value::from(1));
            }
            for name in module.all_param_names() {
                let canonical = module.canonical_param(name).unwrap();
                let mut args = base.clone();
                // A parameter excluding a required one stands in for it
                // (`argv` for `_raw_params`).
                args.retain(|k, _| {
                    !module
                        .exclusive
                        .iter()
                        .any(|(a, b)| (a == k && *b == canonical) || (b == k && *a == canonical))
                });
                if module.name == "pause" && canonical == "prompt" {
                    args.insert("seconds".into(), Value::from(1));
                }
                args.remove(canonical);
                args.insert(name.into(), Value::String("x".into()));
                let parsed = load(module.name, &args)
                    .unwrap_or_else(|e| panic!("{}: `{name}` refused: {e}", module.name));
                assert!(parsed.contains_key(canonical), "{}: {name}", module.name);
            }
            if !module.any_names {
                let mut args = base.clone();
                args.insert("no_such_parameter".into(), Value::Bool(true));
                let err = load(module.name, &args).unwrap_err().to_string();
                assert!(err.contains("unknown parameter"), "{}: {err}", module.name);
            }
        }
    }
}
