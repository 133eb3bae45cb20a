//! Playbook files -> Playbook: the list of plays (with `import_playbook`
//! expanded in place), each play's keywords, roles and task sections.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::actions::{canonical_module, module_names};
use super::error::{PlaybookError, did_you_mean};
use super::inherit::Inherited;
use super::keywords::{PLAY_KEYWORDS, PLAY_KEYWORDS_UNSUPPORTED, TASK_KEYWORDS};
use super::located::{Key, Kind, Node};
use super::model::{
    Location, Play, Playbook, Role, RoleFrom, Section, SectionKind, Serial, Strategy, Task, Vars,
};
use super::roles::{Once, PlayParts};
use super::source::{Source, scalar_text};
use super::task::{self, Context, Stack};

/// Loads the playbook at `path`, imports expanded, everything validated.
pub fn load_playbook(path: &Path) -> Result<Playbook, PlaybookError> {
    let mut plays = Vec::new();
    load_plays(
        path,
        None,
        &Imported::default(),
        &mut Vec::new(),
        &mut plays,
    )?;
    Ok(Playbook {
        path: path.to_path_buf(),
        plays,
    })
}

/// What a run-time include loaded: its tasks, and the roles and role
/// handlers the play gains with them (from `import_role`s inside).
#[derive(Debug, Default)]
pub struct Loaded {
    pub tasks: Vec<Task>,
    pub roles: Vec<Arc<Role>>,
    pub handlers: Vec<Task>,
    /// The directory of the role an `include_role` loaded.
    pub role_path: Option<PathBuf>,
}

impl Loaded {
    fn from_parts(tasks: Vec<Task>, parts: PlayParts) -> Loaded {
        Loaded {
            tasks,
            roles: parts.roles.into_inner(),
            handlers: parts.handlers.into_inner(),
            role_path: None,
        }
    }
}

/// Loads a tasks file for the engine's `include_tasks` at run time (with
/// `Inherited::for_include`); `play_dir` is where roles are looked up. See
/// `dynamic` for what an included file may contain.
pub fn load_tasks_file(
    path: &Path,
    play_dir: &Path,
    role: Option<Arc<Role>>,
    inherited: &super::Inherited,
) -> Result<Loaded, PlaybookError> {
    let (source, node) = Source::read(path, None)?;
    let parts = PlayParts::new(play_dir);
    let ctx = Context {
        source: &source,
        role,
        handler: false,
        parts: &parts,
    };
    let mut stack = vec![path.to_path_buf()];
    // Only the engine's include_tasks reads files through here.
    let _inside = super::dynamic::enter(format!("include_tasks of {}", path.display()));
    let tasks = task::parse_list(&node, &ctx, inherited, &mut stack)?;
    Ok(Loaded::from_parts(tasks, parts))
}

/// Loads the role of an `include_role` for the engine at run time, its
/// name and `*_from` files rendered for the host; `public` is the
/// include's. `parent` is the role of the include task, `inherited` what
/// the include gives the role's tasks (`Inherited::for_include` with
/// `apply`).
pub fn load_role_include(
    name: &str,
    from: &RoleFrom,
    public: bool,
    play_dir: &Path,
    parent: Option<&Role>,
    inherited: &super::Inherited,
    location: &Location,
) -> Result<Loaded, PlaybookError> {
    let parts = PlayParts::new(play_dir);
    let _inside = super::dynamic::enter(format!("include_role of {name}"));
    let (tasks, path) = super::role_include::load(
        name,
        from,
        parent,
        Once::Never,
        public,
        &parts,
        inherited,
        location,
        &mut Vec::new(),
    )?;
    Ok(Loaded {
        role_path: Some(path),
        ..Loaded::from_parts(tasks, parts)
    })
}

/// What an `import_playbook` entry passes to the plays it imports.
#[derive(Default, Clone)]
struct Imported {
    vars: Vars,
    tags: Vec<String>,
}

fn load_plays(
    path: &Path,
    from: Option<Location>,
    imported: &Imported,
    stack: &mut Vec<PathBuf>,
    plays: &mut Vec<Play>,
) -> Result<(), PlaybookError> {
    let (source, node) = Source::read(path, from.clone())?;
    if stack.iter().any(|p| p == path) {
        return Err(PlaybookError::Invalid {
            location: from.expect("only imports can cycle"),
            message: format!("`{}` imports itself", path.display()),
        });
    }
    let Some(entries) = node.as_seq() else {
        let found = if node.is_null() {
            "nothing"
        } else {
            node.type_name()
        };
        return Err(source.error(
            node.mark,
            format!("a playbook is a list of plays (`- hosts: ...`), found {found}"),
        ));
    };
    stack.push(path.to_path_buf());
    for entry in entries {
        let Some(map) = entry.as_map() else {
            return Err(source.error(
                entry.mark,
                format!(
                    "a play must be a mapping with `hosts:`, found {}",
                    entry.type_name()
                ),
            ));
        };
        let import = map.iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "import_playbook" | "ansible.builtin.import_playbook"
            )
        });
        match import {
            Some((key, value)) => {
                let (file, inner) = parse_import(map, key, value, &source, imported)?;
                let target = source.dir.join(file);
                load_plays(&target, Some(source.at(key.mark)), &inner, stack, plays)?;
            }
            None => plays.push(parse_play(entry, map, &source, imported, stack)?),
        }
    }
    stack.pop();
    Ok(())
}

/// `- import_playbook: x.yml` with optional `name`, `vars` and `tags`.
fn parse_import(
    map: &[(Key, Node)],
    key: &Key,
    value: &Node,
    source: &Source,
    outer: &Imported,
) -> Result<(String, Imported), PlaybookError> {
    let file = source.string(key, value)?;
    if file.contains("{{") {
        return Err(source.error(
            value.mark,
            "import_playbook: the file name cannot be templated",
        ));
    }
    let mut inner = outer.clone();
    for (k, v) in map {
        match k.name.as_str() {
            "import_playbook" | "ansible.builtin.import_playbook" | "name" => {}
            "vars" => inner.vars.extend(source.vars(k, v)?),
            "tags" => inner.tags.extend(task::tags(k, v, source)?),
            other => {
                return Err(source.error(
                    k.mark,
                    format!("`{other}` on import_playbook is not supported by herd (only name, vars, tags)"),
                ));
            }
        }
    }
    Ok((file, inner))
}

fn parse_play(
    node: &Node,
    map: &[(Key, Node)],
    source: &Source,
    imported: &Imported,
    stack: &mut Stack,
) -> Result<Play, PlaybookError> {
    check_play_keys(map, source)?;
    let Some(hosts_node) = node.get("hosts") else {
        return Err(source.error(
            node.mark,
            "a play needs `hosts:` (a host pattern such as `all` or `web`)",
        ));
    };
    let hosts_key = key_of(map, "hosts");
    let hosts = match hosts_node.as_seq() {
        Some(_) => source.strings(hosts_key, hosts_node)?.join(","),
        None => source.string(hosts_key, hosts_node)?,
    };
    if hosts.trim().is_empty() {
        return Err(source.error(
            hosts_node.mark,
            "`hosts` is empty; use `all` to mean every host",
        ));
    }
    let mut play = Play {
        name: hosts.clone(),
        location: source.at(node.mark),
        dir: source.dir.clone(),
        hosts,
        vars: imported.vars.clone(),
        vars_files: Vec::new(),
        become_: None,
        become_user: None,
        become_method: None,
        gather_facts: true,
        gather_subset: Vec::new(),
        serial: Vec::new(),
        strategy: None,
        max_fail_percentage: None,
        any_errors_fatal: false,
        ignore_errors: false,
        check_mode: None,
        environment: Vars::new(),
        tags: imported.tags.clone(),
        connection: None,
        sections: Vec::new(),
        handlers: Vec::new(),
        roles: Vec::new(),
    };
    for (key, value) in map {
        match key.name.as_str() {
            "name" => {
                if let Some(name) = scalar_text(value) {
                    play.name = name;
                }
            }
            "vars" => play.vars.extend(source.vars(key, value)?),
            "vars_files" => play.vars_files = vars_files(key, value, source)?,
            "become" => play.become_ = Some(source.boolean(key, value)?),
            "become_user" => play.become_user = Some(source.string(key, value)?),
            "become_method" => play.become_method = Some(task::become_method(key, value, source)?),
            "gather_facts" => play.gather_facts = source.boolean(key, value)?,
            // A list or a comma-separated string, like tags.
            "gather_subset" => play.gather_subset = task::tags(key, value, source)?,
            "serial" => play.serial = serial(key, value, source)?,
            "max_fail_percentage" => {
                play.max_fail_percentage = Some(percentage(key, value, source)?)
            }
            "any_errors_fatal" => play.any_errors_fatal = source.boolean(key, value)?,
            "ignore_errors" => play.ignore_errors = source.boolean(key, value)?,
            "check_mode" => play.check_mode = Some(source.boolean(key, value)?),
            "environment" => play.environment = task::environment(key, value, source)?,
            "tags" => {
                for tag in task::tags(key, value, source)? {
                    if !play.tags.contains(&tag) {
                        play.tags.push(tag);
                    }
                }
            }
            "connection" => play.connection = connection(key, value, source)?,
            "strategy" => {
                let name = source.string(key, value)?;
                play.strategy = Some(Strategy::parse(&name).ok_or_else(|| {
                    source.error(
                        key.mark,
                        format!(
                            "play keyword `strategy: {name}`: herd runs {}",
                            Strategy::NAMES
                        ),
                    )
                })?);
            }
            _ => {}
        }
    }

    // Play tags apply to every task of the play.
    let inherited = Inherited {
        tags: play.tags.clone(),
        ..Inherited::default()
    };
    let parts = PlayParts::new(&source.dir);
    let ctx = Context {
        source,
        role: None,
        handler: false,
        parts: &parts,
    };
    let role_tasks = match node.get("roles") {
        Some(list) => super::roles::load_list(list, source, &parts, None, &inherited, stack)?,
        None => Vec::new(),
    };
    let section = |kind, name: &str, stack: &mut Stack| -> Result<Option<Section>, PlaybookError> {
        let tasks = match node.get(name) {
            Some(list) => task::parse_list(list, &ctx, &inherited, stack)?,
            None => Vec::new(),
        };
        Ok((!tasks.is_empty()).then_some(Section { kind, tasks }))
    };
    let pre_tasks = section(SectionKind::PreTasks, "pre_tasks", stack)?;
    let tasks = section(SectionKind::Tasks, "tasks", stack)?;
    let post_tasks = section(SectionKind::PostTasks, "post_tasks", stack)?;
    let roles_section = (!role_tasks.is_empty()).then_some(Section {
        kind: SectionKind::Roles,
        tasks: role_tasks,
    });
    play.sections = [pre_tasks, roles_section, tasks, post_tasks]
        .into_iter()
        .flatten()
        .collect();

    // Role handlers come first, as in Ansible.
    play.handlers = parts.handlers.take();
    if let Some(list) = node.get("handlers") {
        let handler_ctx = Context {
            source,
            role: None,
            handler: true,
            parts: &parts,
        };
        play.handlers.extend(task::parse_list(
            list,
            &handler_ctx,
            &Inherited::default(),
            stack,
        )?);
    }
    // Handlers of roles imported by a handler (rare) join the others.
    play.handlers.extend(parts.handlers.take());
    play.roles = parts.roles.take();
    Ok(play)
}

fn key_of<'m>(map: &'m [(Key, Node)], name: &str) -> &'m Key {
    &map.iter()
        .find(|(k, _)| k.name == name)
        .expect("key present")
        .0
}

/// Rejects keys that are not play keywords, naming what they look like.
fn check_play_keys(map: &[(Key, Node)], source: &Source) -> Result<(), PlaybookError> {
    for (key, _) in map {
        let name = key.name.as_str();
        if PLAY_KEYWORDS.contains(&name) {
            continue;
        }
        let message = if PLAY_KEYWORDS_UNSUPPORTED.contains(&name) {
            format!("play keyword `{name}` is not supported by herd")
        } else if canonical_module(name).is_some() || TASK_KEYWORDS.contains(&name) {
            format!("`{name}` is a task keyword, not a play keyword; tasks go under `tasks:`")
        } else {
            let close = did_you_mean(name, PLAY_KEYWORDS.iter().copied());
            if close.is_empty() && crate::inventory::did_you_mean(name, module_names()).is_some() {
                format!("unknown play keyword `{name}`; tasks go under `tasks:`")
            } else {
                format!("unknown play keyword `{name}`{close}")
            }
        };
        return Err(source.error(key.mark, message));
    }
    Ok(())
}

fn vars_files(key: &Key, value: &Node, source: &Source) -> Result<Vec<String>, PlaybookError> {
    if let Some(items) = value.as_seq()
        && let Some(nested) = items.iter().find(|i| i.as_seq().is_some())
    {
        return Err(source.error(
            nested.mark,
            "vars_files: a list of alternatives (first found) is not supported by herd",
        ));
    }
    source.strings(key, value)
}

/// `serial: 2`, `serial: "30%"` or a list of them.
fn serial(_key: &Key, value: &Node, source: &Source) -> Result<Vec<Serial>, PlaybookError> {
    value
        .one_or_many()
        .into_iter()
        .map(|item| {
            let bad = || {
                source.error(
                    item.mark,
                    "`serial` is a number of hosts or a percentage like \"30%\"",
                )
            };
            match &item.kind {
                Kind::Int(n) if *n > 0 => Ok(Serial::Count(*n as usize)),
                Kind::String(s) => Serial::parse(s).ok_or_else(bad),
                _ => Err(bad()),
            }
        })
        .collect()
}

fn percentage(key: &Key, value: &Node, source: &Source) -> Result<f64, PlaybookError> {
    let n = match &value.kind {
        Kind::Int(i) => Some(*i as f64),
        Kind::Float(f) => Some(*f),
        Kind::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (0.0..=100.0).contains(n))
        .ok_or_else(|| source.expected(key, value, "a percentage from 0 to 100"))
}

/// `connection: ssh` (the default) or `local`.
fn connection(key: &Key, value: &Node, source: &Source) -> Result<Option<String>, PlaybookError> {
    let connection = source.string(key, value)?;
    match connection.as_str() {
        "ssh" | "smart" | "paramiko" => Ok(None),
        "local" => Ok(Some(connection)),
        _ => Err(source.error(
            value.mark,
            format!("connection `{connection}` is not supported by herd; use ssh or local"),
        )),
    }
}
