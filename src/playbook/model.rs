//! The playbook as herd runs it: plays, tasks and roles, each carrying the
//! file:line:col it came from so every error can point at the source.
//!
//! The loader builds this from YAML; static constructs (`import_playbook`,
//! `import_tasks`, `roles:`) are already expanded here, dynamic ones
//! (`include_tasks`, `include_role`) stay as tasks the engine expands at
//! run time.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

/// Variables: the same shape as inventory variables.
pub type Vars = serde_json::Map<String, Value>;

pub use crate::strategy::Strategy;

/// Where something was written: `site.yml:14:7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A whole playbook, `import_playbook` already expanded.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

impl Playbook {
    /// Every task of every play, a block counting its own tasks (as
    /// `--syntax-check` reports them).
    pub fn task_count(&self) -> usize {
        fn count(tasks: &[Task]) -> usize {
            tasks
                .iter()
                .map(|t| match &t.action {
                    Action::Block {
                        block,
                        rescue,
                        always,
                    } => count(block) + count(rescue) + count(always),
                    _ => 1,
                })
                .sum()
        }
        self.plays
            .iter()
            .map(|p| p.sections.iter().map(|s| count(&s.tasks)).sum::<usize>())
            .sum()
    }
}

/// `serial:` entries: a batch size as a count or a percentage of the play's hosts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

impl Serial {
    /// `"3"` or `"30%"` (more than 0, a percentage at most 100).
    pub fn parse(text: &str) -> Option<Serial> {
        match text.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .map(Serial::Percent),
            None => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .map(Serial::Count),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Play {
    /// `name:`, or the hosts pattern when unnamed (as Ansible prints it).
    pub name: String,
    pub location: Location,
    /// Directory of the file the play is in: relative paths (vars_files,
    /// `files/`, `templates/`) start here.
    pub dir: PathBuf,
    /// Host pattern (may contain `{{ }}`, rendered with extra vars).
    pub hosts: String,
    pub vars: Vars,
    /// Paths as written (may be templated), relative to `dir`.
    pub vars_files: Vec<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `sudo` (default) or `su`.
    pub become_method: Option<String>,
    /// Default true, as Ansible.
    pub gather_facts: bool,
    /// The play's `gather_subset`, passed to the facts gathering (empty:
    /// setup's default, `all`).
    pub gather_subset: Vec<String>,
    /// Empty: one batch of all hosts. The last entry repeats.
    pub serial: Vec<Serial>,
    /// None: the project's default (linear unless configured).
    pub strategy: Option<Strategy>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub ignore_errors: bool,
    pub check_mode: Option<bool>,
    pub environment: Vars,
    pub tags: Vec<String>,
    /// `connection: local` runs every task on the control machine; `ssh`
    /// (or absent, None) is the normal case.
    pub connection: Option<String>,
    /// In run order: pre_tasks, then every role's tasks, then tasks, then
    /// post_tasks. Handlers are flushed after each section as Ansible does.
    pub sections: Vec<Section>,
    /// Handlers of the play and of its roles.
    pub handlers: Vec<Task>,
    /// Roles in order, for their defaults and vars.
    pub roles: Vec<Arc<Role>>,
}

/// One of pre_tasks / roles / tasks / post_tasks: handlers notified in it
/// run when it ends.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    PreTasks,
    Roles,
    Tasks,
    PostTasks,
}

/// A role as loaded from its directory.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub path: PathBuf,
    /// defaults/main.yml: the lowest precedence of all variables.
    pub defaults: Vars,
    /// vars/main.yml: above play vars.
    pub vars: Vars,
    /// `roles: - role: x\n  vars: {..}` / params: like role vars.
    pub params: Vars,
    /// Tags of the role and its enclosing levels: they apply to every task
    /// of the role, also to tasks it includes at run time.
    pub tags: Vec<String>,
    /// Its defaults and vars are seen by every task of the play, not only
    /// its own: roles of `roles:` and `import_role` are public, those of
    /// `include_role` private unless `public: true` (as in Ansible).
    pub public: bool,
}

impl Role {
    /// Where `template:` sources are looked up for this role's tasks.
    pub fn templates_dir(&self) -> PathBuf {
        self.path.join("templates")
    }
    /// Where `copy: src=` files are looked up for this role's tasks.
    pub fn files_dir(&self) -> PathBuf {
        self.path.join("files")
    }
}

/// A task (or handler, or block).
#[derive(Debug, Clone)]
pub struct Task {
    /// `name:`; unnamed tasks are shown as their module (`command`).
    pub name: Option<String>,
    pub location: Location,
    pub action: Action,
    /// Conditions, ANDed (`when: x` is a one-element list). Inherited
    /// conditions of an enclosing block or import come first.
    pub when: Vec<String>,
    pub loop_: Option<Loop>,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    /// Handler names or `listen` topics.
    pub notify: Vec<String>,
    /// Handlers only: extra topics this handler answers to.
    pub listen: Vec<String>,
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    /// `ignore_errors: true` (or a template evaluated per host).
    pub ignore_errors: Option<String>,
    /// Own and inherited tags.
    pub tags: Vec<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    /// `sudo` (default) or `su`.
    pub become_method: Option<String>,
    pub environment: Vars,
    /// A number or a template rendered per host and item (`"{{ n + 2 }}"`).
    pub retries: Option<String>,
    pub until: Option<Vec<String>>,
    pub delay: Option<u64>,
    pub run_once: bool,
    /// The host the task runs on instead (a name or a template), with the
    /// current host's variables (see `engine::delegate`).
    pub delegate_to: Option<String>,
    /// `delegate_facts: true`: facts the task sets go to the delegate.
    pub delegate_facts: bool,
    /// `no_log`: `true`/`false`, or a template rendered per host (`"{{ hide }}"`).
    pub no_log: Option<String>,
    pub check_mode: Option<bool>,
    pub diff: Option<bool>,
    /// Task `vars:` (with those of enclosing blocks and imports): above
    /// play and role vars, below set_fact and extra vars.
    pub vars: Vars,
    /// The item variables (`item`, `ansible_loop`...) of the `include_tasks`
    /// loop that loaded this task: rendered already, so data (see
    /// `engine::vars`).
    pub include_items: Vars,
    /// The role this task came from (search paths, role vars).
    pub role: Option<Arc<Role>>,
    /// Directory of the file the task is in.
    pub dir: PathBuf,
}

impl Task {
    /// The name shown in output: `name:`, else `role : module`.
    pub fn display_name(&self) -> String {
        let base = match (&self.name, &self.action) {
            (Some(n), _) => n.clone(),
            (None, Action::Module { name, .. }) => name.clone(),
            (None, Action::Block { .. }) => "block".into(),
            (None, Action::IncludeTasks { .. }) => "include_tasks".into(),
            (None, Action::IncludeRole(include)) => format!("include_role : {}", include.name),
            (None, Action::Meta(m)) => format!("meta: {m}"),
        };
        match &self.role {
            Some(role) => format!("{} : {base}", role.name),
            None => base,
        }
    }

    /// Directories to search for `src:` files of copy/template/script, most
    /// specific first (Ansible's order: role's templates/ or files/, the
    /// role dir, the task file's dir, then the play's dir).
    pub fn search_paths(&self, play_dir: &Path, subdir: &str) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(role) = &self.role {
            paths.push(role.path.join(subdir));
            paths.push(role.path.clone());
        }
        paths.push(self.dir.join(subdir));
        paths.push(self.dir.clone());
        paths.push(play_dir.join(subdir));
        paths.push(play_dir.to_path_buf());
        paths.dedup();
        paths
    }
}

/// What a task does.
#[derive(Debug, Clone)]
pub enum Action {
    /// A module call. `name` is canonical (`copy`, never
    /// `ansible.builtin.copy`); `args` is a map, where free-form arguments
    /// (`command: ls -l`) are under `_raw_params` and `key=value` words of
    /// free-form args are split into keys, as Ansible does.
    Module { name: String, args: Vars },
    Block {
        block: Vec<Task>,
        rescue: Vec<Task>,
        always: Vec<Task>,
    },
    /// Dynamic include, loaded when the task runs (path may be templated,
    /// relative to the task's `dir`).
    /// `apply` holds the keywords given to every included task.
    IncludeTasks {
        file: String,
        apply: Box<crate::playbook::Inherited>,
    },
    /// `include_role`: a role loaded when the task runs, per host (its
    /// name and `*_from` files may be templated).
    IncludeRole(Box<RoleInclude>),
    /// `meta: flush_handlers`, `meta: end_play`, `meta: noop`, ...
    Meta(String),
}

/// The arguments of an `include_role` (an `import_role` is expanded at
/// load time and leaves none).
#[derive(Debug, Clone)]
pub struct RoleInclude {
    /// As written (may be templated): a role name or a path.
    pub name: String,
    /// `tasks_from`, `vars_from`, `defaults_from`, `handlers_from`.
    pub from: RoleFrom,
    /// `public: true`: the role's defaults and vars are seen by the rest
    /// of the play once it was included.
    pub public: bool,
    /// `allow_duplicates: false`: not run again on a host it ran on.
    pub allow_duplicates: bool,
    /// `apply:` keywords given to the role's tasks (tags, when, become...).
    pub apply: crate::playbook::Inherited,
}

/// Which files of a role to read instead of `main` (`tasks_from: x.yml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RoleFrom {
    pub tasks: Option<String>,
    pub vars: Option<String>,
    pub defaults: Option<String>,
    pub handlers: Option<String>,
}

/// `loop:` and the `with_*` lookups we support.
#[derive(Debug, Clone, PartialEq)]
pub enum Loop {
    /// `loop:` — a list, or a template string evaluating to one.
    Items(Value),
    /// `with_items:` — like loop, but nested lists are flattened one level.
    WithItems(Value),
    /// `with_dict:` — items are `{key, value}`.
    WithDict(Value),
    /// `with_sequence:` — `start=1 end=5 format=x%02d` or a map.
    WithSequence(Value),
    /// `with_together:` — zips lists.
    WithTogether(Value),
    /// `with_first_found:` — the first file found (see the `first_found`
    /// lookup) as the one item.
    WithFirstFound(Value),
    /// `with_subelements: [list, 'key.path', {skip_missing: true}]` — pairs
    /// of each element and each item of its sub-list.
    WithSubelements(Value),
    /// `with_flattened:` — nested lists flattened all the way.
    WithFlattened(Value),
}

/// `loop_control:`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoopControl {
    /// Default `item`.
    pub loop_var: Option<String>,
    pub index_var: Option<String>,
    /// Template shown instead of the whole item.
    pub label: Option<String>,
    /// `ansible_loop` with index, first, last, length...
    pub extended: bool,
    /// `extended_allitems: false` leaves `ansible_loop.allitems` out.
    pub without_allitems: bool,
    /// `break_when`: conditions checked after each item; the loop stops
    /// at the first item for which they all hold.
    pub break_when: Vec<String>,
    /// Seconds to pause between items.
    pub pause: Option<f64>,
}
