//! `import_role` and `include_role` tasks: their arguments, the static
//! expansion of an `import_role` while loading (like `roles:`, its tasks
//! inherit the import's keywords), and the role an `include_role` loads
//! when it runs (per host, so its name and `*_from` files may be templated).
//!
//! As in Ansible: an imported role is public (its defaults and vars are
//! seen by the whole play), an included one private unless `public: true`;
//! both run again when named again unless `allow_duplicates: false`;
//! `rolespec_validate` is accepted and ignored (herd does not validate
//! `meta/argument_specs.yml`).

use std::path::PathBuf;

use serde_json::Value;

use super::error::PlaybookError;
use super::inherit::Inherited;
use super::keywords::BLOCK_INHERITED;
use super::located::{Key, Node};
use super::model::{Location, Role, RoleFrom, RoleInclude, Task, Vars};
use super::roles::{self, Once, PlayParts, RoleCall};
use super::source::Source;
use super::task::{Context, Stack, own_inherited};

/// The arguments of an `import_role`/`include_role` (`module`) written at
/// `key`: `value` is the module's value, `extra` the task's `args:`.
pub(crate) fn arguments(
    module: &str,
    args: &Vars,
    key: &Key,
    value: &Node,
    extra: Option<&Node>,
    source: &Source,
) -> Result<RoleInclude, PlaybookError> {
    let error = |message: String| source.error(key.mark, format!("{module}: {message}"));
    let name = match args.get("name").or_else(|| args.get("role")) {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
        Some(other) => return Err(error(format!("`name` must be a role name, found {other}"))),
        None => return Err(error("`name` (the role) is required".into())),
    };
    let text = |param: &str| -> Result<Option<String>, PlaybookError> {
        match args.get(param) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(error(format!(
                "`{param}` must be a file name, found {other}"
            ))),
        }
    };
    let from = RoleFrom {
        tasks: text("tasks_from")?,
        vars: text("vars_from")?,
        defaults: text("defaults_from")?,
        handlers: text("handlers_from")?,
    };
    let flag = |param: &str, default: bool| -> Result<bool, PlaybookError> {
        match args.get(param) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "y" | "1" => Ok(true),
                "no" | "false" | "off" | "n" | "0" => Ok(false),
                _ => Err(error(format!(
                    "`{param}` must be true or false, found `{s}`"
                ))),
            },
            Some(other) => Err(error(format!(
                "`{param}` must be true or false, found {other}"
            ))),
        }
    };
    // Checked for its type only: herd does not validate argument_specs.
    flag("rolespec_validate", true)?;
    let apply_node = value
        .get("apply")
        .or_else(|| extra.and_then(|e| e.get("apply")));
    let apply = match apply_node {
        None => Inherited::default(),
        Some(_) if module == "import_role" => {
            return Err(error(
                "`apply` is for include_role; an import's keywords apply to the role's tasks already"
                    .into(),
            ));
        }
        Some(node) => apply(node, source)?,
    };
    Ok(RoleInclude {
        name,
        from,
        public: flag("public", module == "import_role")?,
        allow_duplicates: flag("allow_duplicates", true)?,
        apply,
    })
}

/// `apply:` keywords of `include_role`/`include_tasks`, as a block would
/// pass them down to the included tasks.
pub(crate) fn apply(node: &Node, source: &Source) -> Result<Inherited, PlaybookError> {
    let Some(entries) = node.as_map() else {
        return Err(source.error(
            node.mark,
            format!(
                "`apply` must be a mapping of keywords, found {}",
                node.type_name()
            ),
        ));
    };
    let mut keywords = Vec::new();
    for (key, value) in entries {
        if !BLOCK_INHERITED.contains(&key.name.as_str()) || key.name == "name" {
            return Err(source.error(
                key.mark,
                format!(
                    "`{}` cannot be applied to included tasks; `apply` takes {}",
                    key.name,
                    BLOCK_INHERITED
                        .iter()
                        .filter(|k| **k != "name")
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        keywords.push((key, value));
    }
    own_inherited(&keywords, source)
}

/// The tasks of an `import_role`, expanded now with the keywords the
/// import passes down (`inherited`); its handlers and the role join the
/// play.
pub(crate) fn import(
    include: &RoleInclude,
    location: Location,
    ctx: &Context,
    inherited: &Inherited,
    stack: &mut Stack,
) -> Result<Vec<Task>, PlaybookError> {
    let templated = [Some(&include.name), include.from.tasks.as_ref()]
        .into_iter()
        .chain([include.from.vars.as_ref(), include.from.defaults.as_ref()])
        .chain([include.from.handlers.as_ref()])
        .flatten()
        .find(|s| s.contains("{{"));
    if let Some(text) = templated {
        return Err(PlaybookError::Invalid {
            location,
            message: format!(
                "import_role: `{text}` cannot be templated (imports are read before any variable exists); use include_role"
            ),
        });
    }
    let once = if include.allow_duplicates {
        Once::Never
    } else {
        Once::Always
    };
    let (tasks, _) = load(
        &include.name,
        &include.from,
        ctx.role.as_deref(),
        once,
        include.public,
        ctx.parts,
        inherited,
        &location,
        stack,
    )?;
    Ok(tasks)
}

/// Checks an `include_role` at load time as far as it can without a host:
/// the role must exist when its name is not templated, and its files load
/// when no `*_from` is templated either. What it loads is thrown away; the
/// engine loads the role again when the task runs.
pub(crate) fn check(
    include: &RoleInclude,
    location: Location,
    ctx: &Context,
    stack: &mut Stack,
) -> Result<(), PlaybookError> {
    if include.name.contains("{{") {
        return Ok(());
    }
    let dependent_of = ctx.role.as_ref().map(|r| r.path.as_path());
    let path = roles::find(&include.name, &ctx.parts.dir, dependent_of)
        .map_err(|looked| roles::not_found(&include.name, &looked, location.clone()))?;
    let from = &include.from;
    let templated = [&from.tasks, &from.vars, &from.defaults, &from.handlers]
        .into_iter()
        .flatten()
        .any(|s| s.contains("{{"));
    // A role including itself (under a condition) is fine at run time.
    let tasks_file = roles::role_files(&path, "tasks", from.tasks.as_deref(), false)
        .ok()
        .and_then(|files| files.into_iter().next());
    if templated || tasks_file.is_some_and(|f| stack.contains(&f)) {
        return Ok(());
    }
    let scratch = PlayParts::new(&ctx.parts.dir);
    load(
        &include.name,
        from,
        ctx.role.as_deref(),
        Once::Never,
        include.public,
        &scratch,
        &Inherited::default(),
        &location,
        stack,
    )?;
    Ok(())
}

/// Finds the role `name` (from the play's directory, or beside `parent`'s
/// directory) and loads it into `parts`; returns its tasks and directory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn load(
    name: &str,
    from: &RoleFrom,
    parent: Option<&Role>,
    once: Once,
    public: bool,
    parts: &PlayParts,
    inherited: &Inherited,
    location: &Location,
    stack: &mut Stack,
) -> Result<(Vec<Task>, PathBuf), PlaybookError> {
    let dependent_of = parent.map(|r| r.path.as_path());
    let path = roles::find(name, &parts.dir, dependent_of)
        .map_err(|looked| roles::not_found(name, &looked, location.clone()))?;
    let call = RoleCall {
        name,
        path: path.clone(),
        params: Vars::new(),
        from,
        public,
        parent,
        once,
        location: location.clone(),
    };
    // As in Ansible, the role's handlers inherit the import's keywords too
    // (a handler of a role imported with `delegate_to` is delegated).
    let tasks = roles::load(call, parts, inherited, inherited, stack)?;
    Ok((tasks, path))
}
