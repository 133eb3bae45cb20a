//! `roles:` of a play: find each role's directory, read its defaults,
//! vars, meta dependencies, tasks and handlers, and expand dependencies
//! first. As in Ansible, a role of `roles:` runs once per play unless it
//! is listed again with different parameters or its meta says
//! `allow_duplicates`. `import_role` and `include_role` load roles through
//! `load` too (`role_include.rs`).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::PlaybookError;
use super::inherit::Inherited;
use super::located::{Key, Kind, Node};
use super::model::{Location, Role, RoleFrom, Task, Vars};
use super::source::{Source, scalar_text};
use super::task::{self, FileContext, Stack};

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

/// What loading a play's task lists finds besides tasks: its roles (for
/// their defaults and vars) and their handlers. Every tasks file of the play
/// adds to it (`roles:`, `import_role` anywhere, `include_role` at run
/// time), so it is shared behind `RefCell`s, each borrowed only briefly.
#[derive(Debug, Default)]
pub(crate) struct PlayParts {
    /// The playbook's directory: role names are looked up from here.
    pub dir: PathBuf,
    /// In load order, dependencies first.
    pub roles: RefCell<Vec<Arc<Role>>>,
    pub handlers: RefCell<Vec<Task>>,
    /// (role dir, params) already loaded by a run-once load (`roles:`,
    /// dependencies, `allow_duplicates: false`).
    seen: RefCell<Vec<(PathBuf, Vars)>>,
    /// Role handler files already added: a role's handlers are added once.
    handler_files: RefCell<Vec<PathBuf>>,
}

impl PlayParts {
    pub fn new(dir: &Path) -> PlayParts {
        PlayParts {
            dir: dir.to_path_buf(),
            ..PlayParts::default()
        }
    }
}

/// One role to load, however it was asked for.
pub(crate) struct RoleCall<'a> {
    /// As written: the name shown in output is its last part.
    pub name: &'a str,
    /// The role's directory (see `find`).
    pub path: PathBuf,
    pub params: Vars,
    pub from: &'a RoleFrom,
    pub public: bool,
    /// The role whose task imports or includes this one: its defaults,
    /// vars and params are seen underneath this role's own (Ansible's
    /// dependency chain).
    pub parent: Option<&'a Role>,
    /// Run once per play for the same parameters unless the role's meta
    /// says `allow_duplicates` (`roles:` and dependencies), or at most once
    /// whatever the meta says (`allow_duplicates: false` on an import).
    pub once: Once,
    /// Where the role was named, for errors about its files.
    pub location: Location,
}

/// When a role already loaded in this play is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Once {
    /// Never (`import_role`/`include_role` by default).
    Never,
    /// Unless its meta has `allow_duplicates: true` (`roles:`).
    UnlessMetaAllows,
    /// Always (`allow_duplicates: false`).
    Always,
}

/// Adds every entry of a `roles:` list (or of a role's meta
/// dependencies); returns their tasks in run order.
pub(crate) fn load_list(
    list: &Node,
    source: &Source,
    parts: &PlayParts,
    dependent_of: Option<&Path>,
    parent: &Inherited,
    stack: &mut Stack,
) -> Result<Vec<Task>, PlaybookError> {
    let items = list.list_or_null().ok_or_else(|| {
        source.error(
            list.mark,
            format!("`roles` must be a list, found {}", list.type_name()),
        )
    })?;
    let mut tasks = Vec::new();
    for entry in items {
        let (name, own, params) = parse_entry(entry, source)?;
        let path = find(&name, &parts.dir, dependent_of)
            .map_err(|looked| not_found(&name, &looked, source.at(entry.mark)))?;
        let inherited = parent.with(&own);
        let call = RoleCall {
            name: &name,
            path,
            params,
            from: &RoleFrom::default(),
            public: true,
            parent: None,
            once: Once::UnlessMetaAllows,
            location: source.at(entry.mark),
        };
        tasks.extend(load(call, parts, &inherited, &Inherited::default(), stack)?);
    }
    Ok(tasks)
}

/// Loads one role: its meta dependencies first, then its defaults, vars,
/// tasks and handlers. Returns the tasks (dependencies' first); the role
/// and its handlers go to `parts`.
pub(crate) fn load(
    call: RoleCall,
    parts: &PlayParts,
    inherited: &Inherited,
    handler_inherited: &Inherited,
    stack: &mut Stack,
) -> Result<Vec<Task>, PlaybookError> {
    let path = call.path.clone();
    let meta = read_vars_file(&path, "meta")?;
    let allow_duplicates = match &meta {
        Some((meta_source, node)) => check_meta(node, meta_source)?,
        None => false,
    };
    let skip_seen = match call.once {
        Once::Never => false,
        Once::UnlessMetaAllows => !allow_duplicates,
        Once::Always => true,
    };
    let key = (path.clone(), call.params.clone());
    if skip_seen && parts.seen.borrow().contains(&key) {
        return Ok(Vec::new());
    }
    parts.seen.borrow_mut().push(key);
    let mut tasks = Vec::new();
    if let Some((meta_source, node)) = &meta
        && let Some(deps) = node.get("dependencies")
    {
        if stack.contains(&path) {
            return Err(
                meta_source.error(deps.mark, format!("role `{}` depends on itself", call.name))
            );
        }
        stack.push(path.clone());
        let result = load_list(deps, meta_source, parts, Some(&path), inherited, stack);
        stack.pop();
        tasks.extend(result?);
    }
    let files = |dir: &str, from: &Option<String>| {
        role_files(
            &path,
            dir,
            from.as_deref(),
            dir != "tasks" && dir != "handlers",
        )
        .map_err(|message| PlaybookError::Invalid {
            location: call.location.clone(),
            message: format!("role `{}`: {message}", call.name),
        })
    };
    let mut defaults = call.parent.map(|p| p.defaults.clone()).unwrap_or_default();
    defaults.extend(vars_of(
        &files("defaults", &call.from.defaults)?,
        "defaults",
    )?);
    let mut vars = call.parent.map(|p| p.vars.clone()).unwrap_or_default();
    vars.extend(vars_of(&files("vars", &call.from.vars)?, "vars")?);
    let mut params = call.parent.map(|p| p.params.clone()).unwrap_or_default();
    params.extend(call.params);
    if let Some(parent) = call.parent {
        // Ansible's chain of including roles, nearest first.
        let absolute = std::path::absolute(&parent.path).unwrap_or_else(|_| parent.path.clone());
        let path = serde_json::Value::String(absolute.display().to_string());
        for (key, value) in [
            ("ansible_parent_role_names", parent.name.clone().into()),
            ("ansible_parent_role_paths", path),
        ] {
            let mut chain = vec![value];
            if let Some(serde_json::Value::Array(outer)) = params.get(key) {
                chain.extend(outer.iter().cloned());
            }
            params.insert(key.to_string(), serde_json::Value::Array(chain));
        }
    }
    let role = Arc::new(Role {
        name: role_name(call.name),
        defaults,
        vars,
        params,
        path: path.clone(),
        tags: inherited.tags.clone(),
        public: call.public,
    });
    parts.roles.borrow_mut().push(role.clone());
    if let Some(file) = files("tasks", &call.from.tasks)?.first() {
        let file_ctx = FileContext {
            role: Some(role.clone()),
            handler: false,
            parts,
        };
        tasks.extend(task::load_file(file, &file_ctx, inherited, stack, None)?);
    }
    if let Some(file) = files("handlers", &call.from.handlers)?.first()
        && !parts.handler_files.borrow().contains(file)
    {
        parts.handler_files.borrow_mut().push(file.clone());
        let file_ctx = FileContext {
            role: Some(role),
            handler: true,
            parts,
        };
        let handlers = task::load_file(file, &file_ctx, handler_inherited, stack, None)?;
        parts.handlers.borrow_mut().extend(handlers);
    }
    Ok(tasks)
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
            "no_log" => own.no_log = Some(task::no_log(key, value, source)?),
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
pub(crate) fn find(
    name: &str,
    play_dir: &Path,
    dependent_of: Option<&Path>,
) -> Result<PathBuf, Vec<PathBuf>> {
    super::role_paths::find(name, play_dir, dependent_of)
}

pub(crate) fn not_found(name: &str, looked: &[PathBuf], location: Location) -> PlaybookError {
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
pub(crate) fn role_name(name: &str) -> String {
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

/// The files of `<role>/<dir>/` to read, as Ansible finds them: `main`
/// with `.yml`, `.yaml`, `.json` or no extension, or the `*_from` name as
/// written, then with those extensions. A directory of that name (vars and
/// defaults only, `allow_dir`) gives its files, sorted, recursively. Err: a
/// `*_from` file that is missing or outside `<role>/<dir>/`.
pub(crate) fn role_files(
    role: &Path,
    dir: &str,
    from: Option<&str>,
    allow_dir: bool,
) -> Result<Vec<PathBuf>, String> {
    const EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];
    let base = role.join(dir);
    let (name, extensions): (&str, Vec<&str>) = match from {
        None => ("main", EXTENSIONS.iter().copied().chain([""]).collect()),
        Some(from) => {
            if escapes(from) {
                return Err(format!(
                    "`{dir}_from: {from}` is outside the role's {dir}/ directory"
                ));
            }
            (from, [""].into_iter().chain(EXTENSIONS).collect())
        }
    };
    if base.is_dir() {
        for ext in &extensions {
            let candidate = base.join(format!("{name}{ext}"));
            if candidate.is_dir() {
                if allow_dir {
                    let mut found = Vec::new();
                    dir_files(&candidate, &mut found);
                    return Ok(found);
                }
                continue;
            }
            if candidate.is_file() {
                return Ok(vec![candidate]);
            }
        }
    }
    match from {
        Some(from) => Err(format!(
            "`{dir}_from: {from}` not found; looked for {} (with .yml, .yaml, .json)",
            base.join(from).display()
        )),
        None => Ok(Vec::new()),
    }
}

/// Whether a relative name climbs out of its directory (`../x`, `/etc/x`).
fn escapes(name: &str) -> bool {
    let mut depth = 0i32;
    for part in Path::new(name).components() {
        match part {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => return true,
        }
    }
    false
}

/// The vars files of a `defaults/main/` directory: sorted, recursively,
/// hidden files, backups (`x~`) and other extensions left out.
fn dir_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = crate::inventory::vars_dir_entries(dir) else {
        return;
    };
    for (path, _) in entries {
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
        match ext {
            None if path.is_dir() => dir_files(&path, out),
            None => out.push(path),
            Some(ext) if path.is_file() && ["yml", "yaml", "json"].contains(&ext.as_str()) => {
                out.push(path)
            }
            Some(_) => {}
        }
    }
}

/// Variables of defaults/ or vars/ files, later files winning.
fn vars_of(files: &[PathBuf], dir: &str) -> Result<Vars, PlaybookError> {
    let mut vars = Vars::new();
    for file in files {
        let (source, node) = Source::read(file, None)?;
        if !matches!(node.kind, Kind::Map(_) | Kind::Null) {
            return Err(source.error(
                node.mark,
                format!(
                    "{} must be a mapping of variables, found {}",
                    file.display(),
                    node.type_name()
                ),
            ));
        }
        let key = Key {
            name: dir.to_string(),
            mark: node.mark,
        };
        vars.extend(source.vars(&key, &node)?);
    }
    Ok(vars)
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
            other => return Err(source.unsupported(key.mark, "role meta", other, META_KEYS)),
        }
    }
    Ok(allow)
}
