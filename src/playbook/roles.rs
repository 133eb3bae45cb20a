//! `roles:` of a play: find each role's directory, read its defaults,
//! vars, meta dependencies, tasks and handlers, and expand dependencies
//! first. As in Ansible, a role runs once per play unless it is listed
//! again with different parameters or its meta says `allow_duplicates`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{PlaybookError, did_you_mean};
use super::inherit::Inherited;
use super::located::{Key, Kind, Node};
use super::model::{Location, Role, Task, Vars};
use super::source::{Source, scalar_text};
use super::task::{self, Context, Stack};

/// Keywords of a `roles:` entry; other keys are role parameters.
const ENTRY_KEYWORDS: &[&str] = &[
    "role",
    "name",
    "vars",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "environment",
    "ignore_errors",
    "no_log",
    "check_mode",
    "diff",
    "delegate_to",
    "run_once",
];

/// Keys of `meta/main.yml` herd reads or knowingly ignores.
const META_KEYS: &[&str] = &[
    "dependencies",
    "allow_duplicates",
    "galaxy_info",
    "argument_specs",
];

/// The roles of one play, expanded.
#[derive(Default)]
pub(crate) struct Roles {
    /// In run order, dependencies first.
    pub roles: Vec<Arc<Role>>,
    pub tasks: Vec<Task>,
    pub handlers: Vec<Task>,
    /// (role dir, params) already run in this play.
    seen: Vec<(PathBuf, Vars)>,
}

impl Roles {
    /// Adds every entry of a `roles:` list.
    pub fn load_list(
        &mut self,
        list: &Node,
        source: &Source,
        play_dir: &Path,
        dependent_of: Option<&Path>,
        parent: &Inherited,
        stack: &mut Stack,
    ) -> Result<(), PlaybookError> {
        let items = match &list.kind {
            Kind::Null => return Ok(()),
            Kind::Seq(items) => items,
            _ => {
                return Err(source.error(
                    list.mark,
                    format!("`roles` must be a list, found {}", list.type_name()),
                ));
            }
        };
        for entry in items {
            self.load_entry(entry, source, play_dir, dependent_of, parent, stack)?;
        }
        Ok(())
    }

    fn load_entry(
        &mut self,
        entry: &Node,
        source: &Source,
        play_dir: &Path,
        dependent_of: Option<&Path>,
        parent: &Inherited,
        stack: &mut Stack,
    ) -> Result<(), PlaybookError> {
        let (name, own, params) = parse_entry(entry, source)?;
        let path = find(&name, play_dir, dependent_of)
            .map_err(|looked| not_found(&name, &looked, source.at(entry.mark)))?;
        let inherited = parent.with(&own);
        let meta = read_vars_file(&path, "meta")?;
        let allow_duplicates = match &meta {
            Some((meta_source, node)) => check_meta(node, meta_source)?,
            None => false,
        };
        if !allow_duplicates && self.seen.iter().any(|(p, v)| *p == path && *v == params) {
            return Ok(());
        }
        self.seen.push((path.clone(), params.clone()));
        if let Some((meta_source, node)) = &meta
            && let Some(deps) = node.get("dependencies")
        {
            if stack.contains(&path) {
                return Err(
                    meta_source.error(deps.mark, format!("role `{name}` depends on itself"))
                );
            }
            stack.push(path.clone());
            let result =
                self.load_list(deps, meta_source, play_dir, Some(&path), &inherited, stack);
            stack.pop();
            result?;
        }
        let role = Arc::new(Role {
            name: role_name(&name),
            defaults: vars_of(&path, "defaults")?,
            vars: vars_of(&path, "vars")?,
            params,
            path: path.clone(),
            tags: inherited.tags.clone(),
        });
        self.roles.push(role.clone());
        if let Some(file) = main_file(&path, "tasks") {
            let ctx = Context {
                source,
                role: Some(role.clone()),
                handler: false,
            };
            let tasks = task::load_file(&file, &ctx, &inherited, stack, None)?;
            self.tasks.extend(tasks);
        }
        let handlers_known = self.roles[..self.roles.len() - 1]
            .iter()
            .any(|r| r.path == path);
        if !handlers_known && let Some(file) = main_file(&path, "handlers") {
            let ctx = Context {
                source,
                role: Some(role),
                handler: true,
            };
            let handlers = task::load_file(&file, &ctx, &Inherited::default(), stack, None)?;
            self.handlers.extend(handlers);
        }
        Ok(())
    }
}

/// `- nginx` or `- {role: nginx, vars: {...}, when: ..., port: 80}`: the
/// name, the keywords its tasks inherit, and its parameters.
fn parse_entry(entry: &Node, source: &Source) -> Result<(String, Inherited, Vars), PlaybookError> {
    if let Some(name) = entry.as_str() {
        return Ok((name.to_string(), Inherited::default(), Vars::new()));
    }
    let Some(entries) = entry.as_map() else {
        return Err(source.error(
            entry.mark,
            format!(
                "a role is a name or a mapping with `role:`, found {}",
                entry.type_name()
            ),
        ));
    };
    let name = entry
        .get("role")
        .or_else(|| entry.get("name"))
        .and_then(scalar_text)
        .ok_or_else(|| source.error(entry.mark, "a role entry needs `role: <name>`"))?;
    let mut own = Inherited::default();
    let mut params = Vars::new();
    for (key, value) in entries {
        match key.name.as_str() {
            "role" | "name" => {}
            "vars" => params.extend(source.vars(key, value)?),
            "when" => own.when = task::conditions(key, value, source)?,
            "tags" => own.tags = task::tags(key, value, source)?,
            "become" => own.become_ = Some(source.boolean(key, value)?),
            "become_user" => own.become_user = Some(source.string(key, value)?),
            "become_method" => own.become_method = Some(task::become_method(key, value, source)?),
            "environment" => own.environment = task::environment(key, value, source)?,
            "ignore_errors" => own.ignore_errors = Some(source.string(key, value)?),
            "no_log" => own.no_log = Some(source.boolean(key, value)?),
            "check_mode" => own.check_mode = Some(source.boolean(key, value)?),
            "diff" => own.diff = Some(source.boolean(key, value)?),
            "run_once" => own.run_once = Some(source.boolean(key, value)?),
            "delegate_to" | "connection" | "remote_user" | "async" | "collections" => {
                return Err(source.error(
                    key.mark,
                    format!("role keyword `{}` is not supported by herd", key.name),
                ));
            }
            other => {
                // Ansible passes unknown keys as role parameters; a near
                // miss of a keyword is more likely a typo.
                if let Some(k) =
                    crate::inventory::did_you_mean(other, ENTRY_KEYWORDS.iter().copied())
                {
                    return Err(source.error(
                        key.mark,
                        format!("unknown role keyword `{other}` (did you mean `{k}`?)"),
                    ));
                }
                params.insert(other.to_string(), value.to_json());
            }
        }
    }
    Ok((name, own, params))
}

/// The role directory (see `role_paths`). Err: the places looked in.
fn find(name: &str, play_dir: &Path, dependent_of: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    super::role_paths::find(name, play_dir, dependent_of)
}

fn not_found(name: &str, looked: &[PathBuf], location: Location) -> PlaybookError {
    let looked: Vec<String> = looked
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.display().to_string())
        .collect();
    let hint = if super::role_paths::collection_role(name).is_some() {
        " (a collection role: install its collection with ansible-galaxy, or set collections_path)"
    } else {
        " (install it there, or set roles_path in ansible.cfg or ANSIBLE_ROLES_PATH)"
    };
    PlaybookError::Invalid {
        location,
        message: format!(
            "role `{name}` not found; looked in {}{hint}",
            looked.join(", ")
        ),
    }
}

/// The name shown in output: the last part of a path-like role name.
fn role_name(name: &str) -> String {
    name.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_string()
}

/// `<role>/<dir>/main.yml` (or `.yaml`, `.json`, no extension).
fn main_file(role: &Path, dir: &str) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main.json", "main"]
        .iter()
        .map(|f| role.join(dir).join(f))
        .find(|p| p.is_file())
}

fn read_vars_file(role: &Path, dir: &str) -> Result<Option<(Source, Node)>, PlaybookError> {
    match main_file(role, dir) {
        Some(path) => Source::read(&path, None).map(Some),
        None => Ok(None),
    }
}

/// defaults/main.yml or vars/main.yml as variables.
fn vars_of(role: &Path, dir: &str) -> Result<Vars, PlaybookError> {
    let Some((source, node)) = read_vars_file(role, dir)? else {
        return Ok(Vars::new());
    };
    if !matches!(node.kind, Kind::Map(_) | Kind::Null) {
        return Err(source.error(
            node.mark,
            format!(
                "{dir}/main.yml must be a mapping of variables, found {}",
                node.type_name()
            ),
        ));
    }
    let key = Key {
        name: dir.to_string(),
        mark: node.mark,
    };
    source.vars(&key, &node)
}

/// Validates meta/main.yml; returns `allow_duplicates`.
fn check_meta(node: &Node, source: &Source) -> Result<bool, PlaybookError> {
    let entries = match &node.kind {
        Kind::Null => return Ok(false),
        Kind::Map(entries) => entries,
        _ => {
            return Err(source.error(
                node.mark,
                format!(
                    "meta/main.yml must be a mapping, found {}",
                    node.type_name()
                ),
            ));
        }
    };
    let mut allow = false;
    for (key, value) in entries {
        match key.name.as_str() {
            "allow_duplicates" => allow = source.boolean(key, value)?,
            "dependencies" | "galaxy_info" | "argument_specs" => {}
            other => {
                return Err(source.error(
                    key.mark,
                    format!(
                        "role meta `{other}` is not supported by herd{}",
                        did_you_mean(other, META_KEYS.iter().copied())
                    ),
                ));
            }
        }
    }
    Ok(allow)
}
