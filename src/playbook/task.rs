//! One task mapping -> Task: which key is the module, the keywords, the
//! arguments. Blocks recurse; `import_tasks` and `import_role` are expanded
//! here (static); `include_tasks` and `include_role` stay tasks for the
//! engine (dynamic) but their files are loaded once now, when their names
//! are not templated, so their mistakes are found before any host is
//! touched too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::actions::{canonical_module, module_names};
use super::args;
use super::error::{PlaybookError, did_you_mean};
use super::inherit::Inherited;
use super::keywords::{
    BLOCK_INHERITED, BLOCK_KEYWORDS, HANDLER_KEYWORDS, LOOP_LOOKUPS, META_ACTIONS, TASK_KEYWORDS,
    TASK_KEYWORDS_UNSUPPORTED,
};
use super::located::{Key, Kind, Node};
use super::model::{Action, Loop, LoopControl, Role, Task};
use super::role_include;
use super::roles::PlayParts;
use super::source::{Source, scalar_text};

/// What the tasks of one file share.
pub(crate) struct Context<'a> {
    pub source: &'a Source,
    pub role: Option<Arc<Role>>,
    /// Parsing a `handlers:` list: `listen` is allowed.
    pub handler: bool,
    /// The play's roles and handlers, where `import_role` adds its own.
    pub parts: &'a PlayParts,
}

/// What a tasks file about to be read inherits from whoever reads it.
pub(crate) struct FileContext<'a> {
    pub role: Option<Arc<Role>>,
    pub handler: bool,
    pub parts: &'a PlayParts,
}

impl Context<'_> {
    fn for_file(&self) -> FileContext<'_> {
        FileContext {
            role: self.role.clone(),
            handler: self.handler,
            parts: self.parts,
        }
    }
}

/// Files being imported or included, outermost first: stops cycles.
pub(crate) type Stack = Vec<PathBuf>;

/// Parses a list of tasks (`tasks:`, `block:`, a tasks file).
pub(crate) fn parse_list(
    list: &Node,
    ctx: &Context,
    parent: &Inherited,
    stack: &mut Stack,
) -> Result<Vec<Task>, PlaybookError> {
    let items = list.list_or_null().ok_or_else(|| {
        ctx.source.error(
            list.mark,
            format!("expected a list of tasks, found {}", list.type_name()),
        )
    })?;
    let mut tasks = Vec::new();
    for item in items {
        parse_task(item, ctx, parent, stack, &mut tasks)?;
    }
    Ok(tasks)
}

/// Keys of one task mapping, sorted by role.
struct Keys<'n> {
    keywords: Vec<(&'n Key, &'n Node)>,
    module: Option<(&'n Key, &'static str, &'n Node)>,
    /// An unsupported module in a dynamically included file (see
    /// `dynamic`): the error a host that reaches the task fails with.
    deferred: Option<(&'n Key, String)>,
}

fn parse_task(
    node: &Node,
    ctx: &Context,
    parent: &Inherited,
    stack: &mut Stack,
    out: &mut Vec<Task>,
) -> Result<(), PlaybookError> {
    let source = ctx.source;
    let Some(entries) = node.as_map() else {
        return Err(source.error(
            node.mark,
            format!(
                "a task must be a mapping (`- name: ...` with a module), found {}",
                node.type_name()
            ),
        ));
    };
    let keys = classify(entries, ctx)?;
    let get = |name: &str| keys.keywords.iter().find(|(k, _)| k.name == name).copied();

    if get("block").is_some() {
        if let Some((module_key, ..)) = keys.module {
            return Err(source.error(
                module_key.mark,
                format!("a block cannot also call a module (`{}`)", module_key.name),
            ));
        }
        for (k, _) in &keys.keywords {
            if !BLOCK_KEYWORDS.contains(&k.name.as_str())
                && !BLOCK_INHERITED.contains(&k.name.as_str())
            {
                return Err(source.error(k.mark, format!("`{}` cannot be used on a block", k.name)));
            }
        }
        return parse_block(node, &keys, ctx, parent, stack, out);
    }
    for name in ["rescue", "always"] {
        if let Some((key, _)) = get(name) {
            return Err(source.error(key.mark, format!("`{name}` without `block`")));
        }
    }

    if let Some((key, message)) = &keys.deferred {
        let mut args = super::model::Vars::new();
        args.insert("msg".into(), Value::String(message.clone()));
        let own = own_inherited(&keys.keywords, source)?;
        let action = Action::Module {
            name: "fail".into(),
            args,
        };
        let mut task = build(node, action, &keys.keywords, &own, ctx, parent)?;
        if get("name").is_none() {
            task.name = Some(key.name.clone());
        }
        out.push(task);
        return Ok(());
    }
    let (module_key, module, module_value) = match (keys.module, get("action")) {
        (Some(_), Some((action, _))) => {
            return Err(source.error(
                action.mark,
                "a task has either `action:` or a module key, not both",
            ));
        }
        (Some((key, module, value)), None) => (key, module, value.clone()),
        (None, Some((key, value))) => args::action(key, value, source)?,
        (None, None) => {
            return Err(source.error(
                node.mark,
                format!(
                    "task has no module; herd's modules: {}",
                    module_names().join(", ")
                ),
            ));
        }
    };
    let extra_args = get("args").map(|(_, v)| v);
    let (module, module_args) =
        match args::parse(module, module_key, &module_value, extra_args, source) {
            Ok(parsed) => (module, parsed),
            Err(err) if expects_failure(&keys) => deferred(err),
            Err(err) => return Err(err),
        };

    let own = own_inherited(&keys.keywords, source)?;
    match module {
        "import_tasks" => {
            static_import_keywords(&keys, source, "import_tasks", "include_tasks")?;
            if module_args.contains_key("apply") {
                return Err(source.error(
                    module_key.mark,
                    "`apply` is for include_tasks; an import's keywords apply to its tasks already",
                ));
            }
            let file = include_file(&module_args, module_key, source)?;
            if file.contains("{{") {
                return Err(source.error(
                    module_key.mark,
                    "import_tasks: the file name cannot be templated (imports are read before any variable exists); use include_tasks",
                ));
            }
            let path = find_tasks_file(&file, &source.dir, ctx.role.as_deref());
            let inherited = parent.with(&own);
            let tasks = load_file(
                &path,
                &ctx.for_file(),
                &inherited,
                stack,
                Some(source.at(module_key.mark)),
            )?;
            out.extend(tasks);
            return Ok(());
        }
        "include_tasks" => {
            let file = include_file(&module_args, module_key, source)?;
            let at = source.at(module_key.mark);
            let when: Vec<String> = parent.when.iter().chain(&own.when).cloned().collect();
            let origin = super::dynamic::describe(&at.to_string(), &when);
            if !file.contains("{{") {
                let path = find_tasks_file(&file, &source.dir, ctx.role.as_deref());
                if !stack.contains(&path) {
                    check_included(&path, ctx, stack, origin, at)?;
                }
            } else {
                // Each file the name could render to, as the tree has them
                // now: a host may include any of them.
                let mut dirs = vec![source.dir.clone()];
                dirs.extend(ctx.role.as_ref().map(|r| r.path.join("tasks")));
                for path in super::dynamic::candidates(&file, &dirs) {
                    if stack.contains(&path) {
                        continue;
                    }
                    if let Err(err) = check_included(&path, ctx, stack, origin.clone(), at.clone())
                    {
                        super::dynamic::warn_once(
                            &path.display().to_string(),
                            &format!(
                                "{err}\n  (a candidate for `{file}` at {at}: a host that includes it fails)"
                            ),
                        );
                    }
                }
            }
            let apply = match module_value
                .get("apply")
                .or_else(|| extra_args.and_then(|e| e.get("apply")))
            {
                Some(node) => role_include::apply(node, source)?,
                None => Inherited::default(),
            };
            let action = Action::IncludeTasks {
                file,
                apply: Box::new(apply),
            };
            out.push(build(node, action, &keys.keywords, &own, ctx, parent)?);
            return Ok(());
        }
        "import_role" | "include_role" => {
            let import = module == "import_role";
            if import {
                static_import_keywords(&keys, source, "import_role", "include_role")?;
            }
            let include = role_include::arguments(
                module,
                &module_args,
                module_key,
                &module_value,
                extra_args,
                source,
            )?;
            let location = source.at(module_key.mark);
            if import {
                let inherited = parent.with(&own);
                out.extend(role_include::import(
                    &include, location, ctx, &inherited, stack,
                )?);
            } else {
                role_include::check(&include, location, ctx, stack)?;
                let action = Action::IncludeRole(Box::new(include));
                out.push(build(node, action, &keys.keywords, &own, ctx, parent)?);
            }
            return Ok(());
        }
        _ => {}
    }
    let action = if module == "meta" {
        let what = module_args
            .get("_raw_params")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !META_ACTIONS.contains(&what.as_str()) {
            return Err(source.error(
                module_value.mark,
                format!(
                    "meta: `{what}` is not supported by herd{}; supported: {}",
                    did_you_mean(&what, META_ACTIONS.iter().copied()),
                    META_ACTIONS.join(", ")
                ),
            ));
        }
        Action::Meta(what)
    } else {
        Action::Module {
            name: module.to_string(),
            args: module_args,
        }
    };
    out.push(build(node, action, &keys.keywords, &own, ctx, parent)?);
    Ok(())
}

/// A task with `ignore_errors` or `failed_when` may be written to fail:
/// Ansible checks module arguments when the task runs, and tests rely on it.
fn expects_failure(keys: &Keys) -> bool {
    keys.keywords
        .iter()
        .any(|(k, _)| matches!(k.name.as_str(), "ignore_errors" | "failed_when"))
}

/// An argument error kept for run time: the task runs `fail` with its
/// message, so it fails (and registers) where Ansible's would.
fn deferred(err: PlaybookError) -> (&'static str, super::model::Vars) {
    let mut args = super::model::Vars::new();
    let msg = match err {
        PlaybookError::Argument { ansible, .. } => ansible,
        other => other.to_string(),
    };
    args.insert("msg".into(), Value::String(msg));
    ("fail", args)
}

/// Sorts the keys of a task into keywords and its module, rejecting the
/// rest with a did-you-mean.
fn classify<'n>(entries: &'n [(Key, Node)], ctx: &Context) -> Result<Keys<'n>, PlaybookError> {
    let source = ctx.source;
    let mut keys = Keys {
        keywords: Vec::new(),
        module: None,
        deferred: None,
    };
    let mut unknown: Vec<&Key> = Vec::new();
    for (key, value) in entries {
        let name = key.name.as_str();
        if TASK_KEYWORDS.contains(&name)
            || BLOCK_KEYWORDS.contains(&name)
            || LOOP_LOOKUPS.contains(&name)
            || (ctx.handler && HANDLER_KEYWORDS.contains(&name))
        {
            keys.keywords.push((key, value));
        } else if let Some(module) = canonical_module(name) {
            if let Some((first, ..)) = keys.module {
                return Err(source.error(
                    key.mark,
                    format!(
                        "a task calls one module, this one has `{}` and `{name}`; split it into two tasks",
                        first.name
                    ),
                ));
            }
            keys.module = Some((key, module, value));
        } else if let Some(message) = unsupported(name, ctx.handler) {
            return Err(source.error(key.mark, message));
        } else {
            unknown.push(key);
        }
    }
    if let Some(key) = unknown.first() {
        let name = key.name.as_str();
        let keywords = TASK_KEYWORDS
            .iter()
            .chain(BLOCK_KEYWORDS)
            .chain(LOOP_LOOKUPS)
            .copied();
        // Without a module, the unknown key is most likely the module.
        let keyword = crate::inventory::did_you_mean(name, keywords);
        let module = crate::inventory::did_you_mean(name, module_names());
        let message = match (keys.module.is_some(), keyword, module) {
            (false, _, Some(m)) | (true, None, Some(m)) => {
                format!("unknown module `{name}` (did you mean `{m}`?)")
            }
            (_, Some(k), _) => format!("unknown task keyword `{name}` (did you mean `{k}`?)"),
            (true, None, None) => format!("unknown task keyword `{name}`"),
            (false, None, None) => format!(
                "module `{name}` is not supported by herd; herd's modules: {}",
                module_names().join(", ")
            ),
        };
        // In a dynamically included file, Ansible meets the module only
        // when a host runs the task.
        if keys.module.is_none()
            && let Some(origin) = super::dynamic::origin()
        {
            let at = source.at(key.mark).to_string();
            super::dynamic::warn_once(
                &at,
                &format!(
                    "{at}: {}\n  (only a host that reaches it fails: {origin})",
                    message
                        .split("; herd's modules:")
                        .next()
                        .unwrap_or(&message)
                ),
            );
            keys.deferred = Some((key, format!("{at}: {message}")));
            return Ok(keys);
        }
        return Err(source.error(key.mark, message));
    }
    Ok(keys)
}

/// A static import (`import_tasks`, `import_role`) takes only the keywords
/// a block passes down; others need the dynamic `include`.
fn static_import_keywords(
    keys: &Keys,
    source: &Source,
    import: &str,
    include: &str,
) -> Result<(), PlaybookError> {
    for (k, _) in &keys.keywords {
        if !BLOCK_INHERITED.contains(&k.name.as_str()) {
            return Err(source.error(
                k.mark,
                format!(
                    "`{}` cannot be used on {import} (a static import); use {include}",
                    k.name
                ),
            ));
        }
    }
    Ok(())
}

/// The message for keys Ansible knows and herd does not run.
fn unsupported(name: &str, handler: bool) -> Option<String> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    Some(match short {
        "listen" if !handler => "`listen` is only for handlers".into(),
        "local_action" => {
            "task keyword `local_action` is not supported by herd; use the module with `delegate_to: localhost`".into()
        }
        "include" => "`include` was removed from Ansible; use import_tasks or include_tasks".into(),
        "import_playbook" => "import_playbook belongs at the top level of a playbook, not in a task list".into(),
        "add_host" | "group_by" => {
            format!("`{short}` is not supported by herd yet")
        }
        _ if TASK_KEYWORDS_UNSUPPORTED.contains(&short) => {
            format!("task keyword `{short}` is not supported by herd")
        }
        _ if short.starts_with("with_") => {
            format!("`{short}` is not supported; use loop with a list")
        }
        _ => return None,
    })
}

/// The file of `import_tasks: x.yml` / `include_tasks: {file: x.yml}`.
fn include_file(
    args: &super::model::Vars,
    key: &Key,
    source: &Source,
) -> Result<String, PlaybookError> {
    let file = args
        .get("file")
        .or_else(|| args.get("_raw_params"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if file.is_empty() {
        return Err(source.error(key.mark, format!("`{}` needs a file name", key.name)));
    }
    Ok(file.to_string())
}

/// Where a tasks file named in a task is: beside the file that names it,
/// else in its role's `tasks/`.
pub fn find_tasks_file(file: &str, dir: &Path, role: Option<&Role>) -> PathBuf {
    let beside = dir.join(file);
    if beside.exists() {
        return beside;
    }
    if let Some(role) = role {
        let in_role = role.path.join("tasks").join(file);
        if in_role.exists() {
            return in_role;
        }
    }
    beside
}

/// Reads a tasks file (a list of tasks) with the keywords its importer
/// passes down.
/// Loads an `include_tasks` file to check it: the engine loads it again
/// when it runs (the roles it imports join the play then), so what it adds
/// to the play goes to a scratch copy.
fn check_included(
    path: &Path,
    ctx: &Context,
    stack: &mut Stack,
    origin: String,
    at: super::model::Location,
) -> Result<Vec<Task>, PlaybookError> {
    let scratch = PlayParts::new(&ctx.parts.dir);
    let file_ctx = FileContext {
        parts: &scratch,
        ..ctx.for_file()
    };
    let _inside = super::dynamic::enter(origin);
    load_file(path, &file_ctx, &Inherited::default(), stack, Some(at))
}

pub(crate) fn load_file(
    path: &Path,
    ctx: &FileContext,
    inherited: &Inherited,
    stack: &mut Stack,
    from: Option<super::model::Location>,
) -> Result<Vec<Task>, PlaybookError> {
    if stack.iter().any(|p| p == path) {
        let location = from.expect("only imports can cycle");
        return Err(PlaybookError::Invalid {
            location,
            message: format!(
                "`{}` imports itself (through {})",
                path.display(),
                chain(stack)
            ),
        });
    }
    let (source, node) = Source::read(path, from)?;
    stack.push(path.to_path_buf());
    let inner = Context {
        source: &source,
        role: ctx.role.clone(),
        handler: ctx.handler,
        parts: ctx.parts,
    };
    let tasks = parse_list(&node, &inner, inherited, stack);
    stack.pop();
    tasks
}

fn chain(stack: &Stack) -> String {
    stack
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn parse_block(
    node: &Node,
    keys: &Keys,
    ctx: &Context,
    parent: &Inherited,
    stack: &mut Stack,
    out: &mut Vec<Task>,
) -> Result<(), PlaybookError> {
    let own = own_inherited(&keys.keywords, ctx.source)?;
    let inherited = parent.with(&own);
    let list = |name: &str, stack: &mut Stack| -> Result<Vec<Task>, PlaybookError> {
        match keys.keywords.iter().find(|(k, _)| k.name == name) {
            Some((_, value)) => parse_list(value, ctx, &inherited, stack),
            None => Ok(Vec::new()),
        }
    };
    let block = list("block", stack)?;
    let rescue = list("rescue", stack)?;
    let always = list("always", stack)?;
    let action = Action::Block {
        block,
        rescue,
        always,
    };
    out.push(build(node, action, &keys.keywords, &own, ctx, parent)?);
    Ok(())
}

/// The keywords of this level that nested tasks inherit.
pub(crate) fn own_inherited(
    keywords: &[(&Key, &Node)],
    source: &Source,
) -> Result<Inherited, PlaybookError> {
    let mut own = Inherited::default();
    for (key, value) in keywords {
        match key.name.as_str() {
            "when" => own.when = conditions(key, value, source)?,
            "tags" => own.tags = tags(key, value, source)?,
            "become" => own.become_ = Some(source.boolean(key, value)?),
            "become_user" => own.become_user = Some(source.string(key, value)?),
            "become_method" => own.become_method = Some(become_method(key, value, source)?),
            "environment" => own.environment = environment(key, value, source)?,
            "ignore_errors" => own.ignore_errors = Some(source.string(key, value)?),
            "run_once" => own.run_once = Some(source.boolean(key, value)?),
            "delegate_to" => own.delegate_to = Some(delegate_to(key, value, source)?),
            "delegate_facts" => own.delegate_facts = Some(source.boolean(key, value)?),
            "no_log" => own.no_log = Some(no_log(key, value, source)?),
            "check_mode" => own.check_mode = Some(source.boolean(key, value)?),
            "diff" => own.diff = Some(source.boolean(key, value)?),
            "vars" => own.vars = source.vars(key, value)?,
            "notify" => own.notify = source.strings(key, value)?,
            _ => {}
        }
    }
    Ok(own)
}

/// A Task from its action, its own keywords and what it inherits.
fn build(
    node: &Node,
    action: Action,
    keywords: &[(&Key, &Node)],
    own: &Inherited,
    ctx: &Context,
    parent: &Inherited,
) -> Result<Task, PlaybookError> {
    let source = ctx.source;
    let all = parent.with(own);
    let mut task = Task {
        name: None,
        location: source.at(node.mark),
        action,
        when: all.when,
        loop_: None,
        loop_control: LoopControl::default(),
        register: None,
        notify: all.notify,
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        ignore_errors: all.ignore_errors,
        tags: all.tags,
        become_: all.become_,
        become_user: all.become_user,
        become_method: all.become_method,
        environment: all.environment,
        retries: None,
        until: None,
        delay: None,
        run_once: all.run_once.unwrap_or(false),
        delegate_to: all.delegate_to,
        delegate_facts: all.delegate_facts.unwrap_or(false),
        no_log: all.no_log,
        check_mode: all.check_mode,
        diff: all.diff,
        vars: all.vars,
        include_items: all.include_items,
        role: ctx.role.clone(),
        dir: source.dir.clone(),
    };
    for (key, value) in keywords {
        match key.name.as_str() {
            "name" => task.name = scalar_text(value),
            "register" => task.register = Some(identifier(key, value, source)?),
            "listen" => task.listen = source.strings(key, value)?,
            "changed_when" => task.changed_when = Some(conditions(key, value, source)?),
            "failed_when" => task.failed_when = Some(conditions(key, value, source)?),
            "until" => task.until = Some(conditions(key, value, source)?),
            "retries" => task.retries = Some(retries(key, value, source)?),
            "delay" => task.delay = Some(seconds(key, value, source)?),
            "loop_control" => task.loop_control = loop_control(key, value, source)?,
            name if name == "loop" || LOOP_LOOKUPS.contains(&name) => {
                if task.loop_.is_some() {
                    return Err(
                        source.error(key.mark, "a task has one loop (`loop:` or one `with_*`)")
                    );
                }
                let value = value.to_json();
                task.loop_ = Some(match name {
                    "loop" | "with_list" => Loop::Items(value),
                    "with_items" => Loop::WithItems(value),
                    "with_dict" => Loop::WithDict(value),
                    "with_sequence" => Loop::WithSequence(value),
                    "with_first_found" => Loop::WithFirstFound(value),
                    "with_subelements" => Loop::WithSubelements(value),
                    "with_flattened" => Loop::WithFlattened(value),
                    _ => Loop::WithTogether(value),
                });
            }
            _ => {}
        }
    }
    // Ansible's defaults for `until`: 3 retries, 5 seconds apart.
    if task.until.is_some() {
        task.retries.get_or_insert_with(|| "3".into());
        task.delay.get_or_insert(5);
    }
    if ctx.handler && task.name.is_none() && task.listen.is_empty() {
        return Err(source.error(
            node.mark,
            "a handler needs a `name` (or `listen`) to be notified by",
        ));
    }
    Ok(task)
}

/// `when:`-like values: a string, a bare boolean, or a list of them.
pub(crate) fn conditions(
    key: &Key,
    value: &Node,
    source: &Source,
) -> Result<Vec<String>, PlaybookError> {
    value
        .one_or_many()
        .into_iter()
        .map(|item| {
            scalar_text(item).ok_or_else(|| source.expected(key, item, "a condition (a string)"))
        })
        .collect()
}

/// `tags: a,b` or `tags: [a, b]`.
pub(crate) fn tags(key: &Key, value: &Node, source: &Source) -> Result<Vec<String>, PlaybookError> {
    let mut tags = Vec::new();
    for item in source.strings(key, value)? {
        for tag in item.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
    }
    Ok(tags)
}

/// herd escalates with sudo, or su where su needs no password.
pub(crate) fn become_method(
    key: &Key,
    value: &Node,
    source: &Source,
) -> Result<String, PlaybookError> {
    let method = source.string(key, value)?;
    if method != "sudo" && method != "su" {
        return Err(source.error(
            value.mark,
            format!("become_method `{method}` is not supported by herd; only sudo and su are"),
        ));
    }
    Ok(method)
}

/// `environment:` as a mapping.
pub(crate) fn environment(
    key: &Key,
    value: &Node,
    source: &Source,
) -> Result<super::model::Vars, PlaybookError> {
    match &value.kind {
        Kind::Map(_) | Kind::Null => source.vars(key, value),
        Kind::String(_) => Err(source.error(
            value.mark,
            "`environment` as a template is not supported by herd yet; write the variables as a mapping",
        )),
        _ => Err(source.expected(key, value, "a mapping")),
    }
}

/// `no_log:` a boolean, or a template the engine renders per host.
pub(crate) fn no_log(key: &Key, value: &Node, source: &Source) -> Result<String, PlaybookError> {
    match value.as_str() {
        Some(text) if text.contains("{{") || text.contains("{%") => Ok(text.to_string()),
        _ => Ok(source.boolean(key, value)?.to_string()),
    }
}

/// `delegate_to:` a host name (inventory or not) or a template rendering
/// to one.
fn delegate_to(key: &Key, value: &Node, source: &Source) -> Result<String, PlaybookError> {
    let target = source.string(key, value)?;
    if target.trim().is_empty() {
        return Err(source.error(value.mark, "delegate_to needs a host name"));
    }
    Ok(target.trim().to_string())
}

fn identifier(key: &Key, value: &Node, source: &Source) -> Result<String, PlaybookError> {
    let name = source.string(key, value)?;
    if !crate::ssh::is_shell_name(&name) {
        return Err(source.error(
            value.mark,
            format!("`{}: {name}` is not a valid variable name", key.name),
        ));
    }
    Ok(name)
}

/// A variable name, or a template that renders to one.
fn variable_name(key: &Key, value: &Node, source: &Source) -> Result<String, PlaybookError> {
    match value.as_str() {
        Some(name) if name.contains("{{") => Ok(name.to_string()),
        _ => identifier(key, value, source),
    }
}

/// `retries:` a whole number, or a template the engine renders.
fn retries(key: &Key, value: &Node, source: &Source) -> Result<String, PlaybookError> {
    match value.as_str() {
        Some(text) if text.contains("{{") => Ok(text.to_string()),
        _ => Ok(source.integer(key, value)?.to_string()),
    }
}

/// `delay:` in whole seconds (the model's unit); Ansible takes fractions,
/// which round to the nearest second.
fn seconds(key: &Key, value: &Node, source: &Source) -> Result<u64, PlaybookError> {
    match &value.kind {
        Kind::Float(f) if *f >= 0.0 => Ok(f.round() as u64),
        _ => source.integer(key, value),
    }
}

fn loop_control(key: &Key, value: &Node, source: &Source) -> Result<LoopControl, PlaybookError> {
    const KEYS: &[&str] = &[
        "loop_var",
        "index_var",
        "label",
        "extended",
        "extended_allitems",
        "pause",
        "break_when",
    ];
    let Some(entries) = value.as_map() else {
        return Err(source.expected(key, value, "a mapping"));
    };
    let mut control = LoopControl::default();
    for (k, v) in entries {
        match k.name.as_str() {
            "loop_var" => control.loop_var = Some(variable_name(k, v, source)?),
            "index_var" => control.index_var = Some(variable_name(k, v, source)?),
            "label" => control.label = Some(source.string(k, v)?),
            "extended" => control.extended = source.boolean(k, v)?,
            "extended_allitems" => control.without_allitems = !source.boolean(k, v)?,
            "break_when" => control.break_when = conditions(k, v, source)?,
            "pause" => {
                control.pause = Some(match &v.kind {
                    Kind::Int(i) if *i >= 0 => *i as f64,
                    Kind::Float(f) if *f >= 0.0 => *f,
                    _ => return Err(source.expected(k, v, "a number of seconds")),
                })
            }
            other => return Err(source.unsupported(k.mark, "loop_control", other, KEYS)),
        }
    }
    Ok(control)
}
