//! Runs a playbook: plays in order, hosts in `serial` batches, tasks with the
//! linear strategy (every host of the batch finishes a task before the next
//! starts), blocks with rescue/always, handlers at the end of each section,
//! and the failure rules (`max_fail_percentage`, `any_errors_fatal`).
//!
//! Per-host work runs concurrently (bounded by `forks`) through the shared
//! fan-out; everything that changes shared state (facts, registered vars,
//! stats, notifications) is applied here, between tasks, so no locks are
//! needed. On Ctrl-C the hosts that finished the task are applied and the
//! run stops before the next task.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::delegate;
use super::events::{HostStats, PlayEvent, TaskResult, TaskStatus};
use super::fanout::{Interrupt, Outcome, fan_out};
use super::host_task::{self, HostTask, HostTaskOutcome, Via};
use super::loops;
use super::rollout::Rollout;
use super::vars::{Layers, compose};
use crate::inventory::Inventory;
use crate::modules::SearchPaths;
use crate::modules::file_marks::FileMarks;
use crate::playbook::{
    self, Action, Inherited, Location, Play, Playbook, Role, RoleFrom, SectionKind, Strategy, Task,
    Vars,
};
use crate::ssh::{Become, ExecOptions, HostSpec, Pool, Resolver, Secret, Target};
use crate::template::{Scope, TaskVars, Templates};

/// Problems that stop the whole run (not one host's failure).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Playbook(#[from] playbook::PlaybookError),
    #[error("{location}: {message}")]
    Play { location: Location, message: String },
    #[error("{0}")]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("{0}")]
    Pattern(#[from] crate::inventory::PatternError),
    /// A host whose connection settings cannot be used (the error names
    /// the host).
    #[error("{0}")]
    Host(crate::ssh::ConnectError),
}

crate::exit::bad_input!(EngineError);

/// What the admin asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    pub check: bool,
    pub diff: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub limit: Option<String>,
    /// `-e`: the highest precedence of all.
    pub extra_vars: Vars,
    pub forks: usize,
    pub become_password: Option<String>,
    pub start_at_task: Option<String>,
    /// The strategy of plays that do not name one.
    pub strategy: Strategy,
    /// What herd last saw of the files it hashed, by host (from the store).
    pub file_marks: Arc<FileMarks>,
}

/// What survives from one play to the next for a host.
#[derive(Debug, Default)]
struct HostState {
    /// Gathered facts and `set_fact` values (ansible_facts).
    facts: Vars,
    /// `set_fact` and `register` values, as top-level variables.
    host_vars: Vars,
    /// `include_vars` values: the admin's files, so trusted (templates in
    /// them are rendered when used), just below `host_vars`.
    included: Vars,
    unreachable: bool,
    /// The last failed task's result and task (name, action), for
    /// `ansible_failed_result` / `ansible_failed_task` in a rescue.
    last_failure: Option<(Value, Value)>,
}

impl HostState {
    /// Adds what a free play's host runner learnt (its own host's state,
    /// moved out to it, or facts it delegated to another host).
    fn absorb(&mut self, other: HostState) {
        self.facts.extend(other.facts);
        self.host_vars.extend(other.host_vars);
        self.included.extend(other.included);
        self.unreachable |= other.unreachable;
        if other.last_failure.is_some() {
            self.last_failure = other.last_failure;
        }
    }
}

/// State of the play being run.
struct PlayScope<'p> {
    play: &'p Play,
    vars_files: Vars,
    /// Shared with each host's own scope in a free play (10,000 hosts
    /// would otherwise copy the list 10,000 times).
    play_hosts: Arc<Vec<String>>,
    batch: Arc<Vec<String>>,
    /// Hosts that failed (and were not rescued) in this play.
    failed: HashSet<String>,
    /// Hosts removed by `meta: end_host`.
    ended: HashSet<String>,
    /// host -> handler names/topics notified and not yet run.
    notified: HashMap<String, Vec<String>>,
    /// Set when the play must stop (reason for the output).
    abort: Option<String>,
    /// Defaults and vars of the play's public roles, in load order: every
    /// task sees them (below its own role's).
    public_defaults: Vars,
    public_vars: Vars,
    /// Handlers of roles included at run time, after the play's.
    included_handlers: Vec<Task>,
    /// (host, role dir) of the roles `include_role` ran, for a later
    /// `allow_duplicates: false`.
    roles_run: HashSet<(String, PathBuf)>,
}

impl<'p> PlayScope<'p> {
    /// The scope one host of a free play runs in.
    fn for_host(&self, host: &str) -> PlayScope<'p> {
        PlayScope {
            play: self.play,
            vars_files: self.vars_files.clone(),
            play_hosts: self.play_hosts.clone(),
            batch: self.batch.clone(),
            failed: HashSet::new(),
            ended: HashSet::new(),
            notified: HashMap::new(),
            abort: None,
            public_defaults: self.public_defaults.clone(),
            public_vars: self.public_vars.clone(),
            included_handlers: self.included_handlers.clone(),
            roles_run: self
                .roles_run
                .iter()
                .filter(|(h, _)| h == host)
                .cloned()
                .collect(),
        }
    }

    /// Takes back what one host's scope recorded.
    fn fold(&mut self, own: PlayScope<'p>) {
        self.failed.extend(own.failed);
        self.ended.extend(own.ended);
        for (host, names) in own.notified {
            self.notified.entry(host).or_default().extend(names);
        }
        if self.abort.is_none() {
            self.abort = own.abort;
        }
        for handler in own.included_handlers {
            self.add_handler(handler);
        }
        self.roles_run.extend(own.roles_run);
    }
}

impl PlayScope<'_> {
    /// A public role's defaults and vars join the play's.
    fn add_public(&mut self, role: &Role) {
        if role.public {
            self.public_defaults.extend(role.defaults.clone());
            self.public_vars.extend(role.vars.clone());
        }
    }

    /// What a run-time include brought: public roles and role handlers
    /// (each handler once, however often its role is included).
    fn add_roles(&mut self, loaded: &playbook::Loaded) {
        for role in &loaded.roles {
            self.add_public(role);
        }
        for handler in &loaded.handlers {
            self.add_handler(handler.clone());
        }
    }

    /// A handler included at run time, unless the play has it already.
    fn add_handler(&mut self, handler: Task) {
        let known = self
            .play
            .handlers
            .iter()
            .chain(&self.included_handlers)
            .any(|h| h.location == handler.location);
        if !known {
            self.included_handlers.push(handler);
        }
    }
}

pub struct Runner {
    inventory: Arc<Inventory>,
    pool: Arc<Pool>,
    resolver: Arc<Resolver>,
    templates: Arc<Templates>,
    opts: PlayOptions,
    events: mpsc::UnboundedSender<PlayEvent>,
    /// Ctrl-C: the run stops between tasks.
    interrupt: Interrupt,
    hosts: HashMap<String, HostState>,
    /// Resolved once per host and shared by every task's job.
    targets: HashMap<String, Arc<Target>>,
    /// `delegate_to` targets by rendered name.
    delegates: HashMap<String, delegate::Delegate>,
    /// Per-host totals, in the order hosts were first seen.
    pub stats: IndexMap<String, HostStats>,
    groups: Arc<Value>,
    /// Whether any inventory variable mentions a fleet-sized magic variable
    /// (see [`FLEET_SIZED`]); computed on first use.
    inventory_mentions_fleet: std::sync::OnceLock<bool>,
    started_at_task: bool,
    playbook_dir: String,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

impl Runner {
    pub fn new(
        inventory: Arc<Inventory>,
        pool: Arc<Pool>,
        resolver: Resolver,
        opts: PlayOptions,
        events: mpsc::UnboundedSender<PlayEvent>,
        interrupt: Interrupt,
    ) -> Runner {
        let groups = group_map(&inventory);
        let started_at_task = opts.start_at_task.is_none();
        Runner {
            inventory,
            pool,
            resolver: Arc::new(resolver),
            templates: Arc::new(Templates::new()),
            opts,
            events,
            interrupt,
            hosts: HashMap::new(),
            targets: HashMap::new(),
            delegates: HashMap::new(),
            stats: IndexMap::new(),
            groups: Arc::new(groups),
            inventory_mentions_fleet: std::sync::OnceLock::new(),
            started_at_task,
            playbook_dir: String::new(),
        }
    }

    /// The hosts each play of `playbook` would run on (for --list-hosts and
    /// for the store's host count).
    pub fn play_hosts(&self, play: &Play) -> Result<Vec<String>, EngineError> {
        let pattern = self
            .templates
            .render_text(&play.hosts, &self.opts.extra_vars)
            .map_err(|e| EngineError::Play {
                location: play.location.clone(),
                message: format!("hosts: {e}"),
            })?;
        Ok(self
            .inventory
            .select(&pattern, self.opts.limit.as_deref())?)
    }

    /// Runs every play. Returns false when a play was aborted (the exit code
    /// then says failed) or Ctrl-C stopped the run.
    pub async fn run(&mut self, playbook: &Playbook) -> Result<bool, EngineError> {
        self.playbook_dir = absolute(playbook.path.parent().unwrap_or(Path::new("")));
        let mut completed = true;
        for play in &playbook.plays {
            if !self.run_play(play).await? {
                completed = false;
                break;
            }
        }
        Ok(completed)
    }

    async fn run_play(&mut self, play: &Play) -> Result<bool, EngineError> {
        let hosts: Vec<String> = self
            .play_hosts(play)?
            .into_iter()
            .filter(|h| !self.hosts.get(h).is_some_and(|s| s.unreachable))
            .collect();
        for host in &hosts {
            self.hosts.entry(host.clone()).or_default();
            self.stats.entry(host.clone()).or_default();
        }
        let _ = self.events.send(PlayEvent::PlayStart {
            name: play.name.clone(),
            hosts: hosts.clone(),
        });
        let vars_files = self.load_vars_files(play)?;
        let mut scope = PlayScope {
            play,
            vars_files,
            play_hosts: Arc::new(hosts.clone()),
            batch: Arc::default(),
            failed: HashSet::new(),
            ended: HashSet::new(),
            notified: HashMap::new(),
            abort: None,
            public_defaults: Vars::new(),
            public_vars: Vars::new(),
            included_handlers: Vec::new(),
            roles_run: HashSet::new(),
        };
        for role in &play.roles {
            scope.add_public(role);
        }
        for batch in rollout(play).batches(&hosts) {
            scope.batch = Arc::new(batch.clone());
            match play.strategy.unwrap_or(self.opts.strategy) {
                Strategy::Linear => self.run_batch(&mut scope, batch.clone()).await?,
                Strategy::Free => self.run_batch_free(&mut scope, &batch).await?,
            }
            if self.interrupt.is_set() {
                return Ok(false);
            }
            if let Some(reason) = &scope.abort {
                let _ = self.events.send(PlayEvent::PlayAborted {
                    name: play.name.clone(),
                    reason: reason.clone(),
                });
                return Ok(false);
            }
            let failed_in_batch = batch.iter().filter(|h| scope.failed.contains(*h)).count();
            if play.max_fail_percentage.is_none()
                && rollout(play).stops(failed_in_batch, batch.len()).is_some()
            {
                // Ansible stops the play when a whole batch failed, unless
                // max_fail_percentage allows it.
                let _ = self.events.send(PlayEvent::PlayAborted {
                    name: play.name.clone(),
                    reason: "every host of the batch failed".into(),
                });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One batch through the play: facts, each section, handlers.
    async fn run_batch(
        &mut self,
        scope: &mut PlayScope<'_>,
        mut active: Vec<String>,
    ) -> Result<(), EngineError> {
        let play = scope.play;
        if play.gather_facts {
            let mut gather = synthetic_task("Gathering Facts", "setup", play);
            if let (Action::Module { args, .. }, false) =
                (&mut gather.action, play.gather_subset.is_empty())
            {
                args.insert("gather_subset".into(), json!(play.gather_subset));
            }
            active = self
                .run_tasks(scope, std::slice::from_ref(&gather), active)
                .await?;
        }
        let sections = &play.sections;
        for (i, section) in sections.iter().enumerate() {
            if scope.abort.is_some() {
                break;
            }
            active = self.run_tasks(scope, &section.tasks, active).await?;
            // Handlers run after pre_tasks, after roles+tasks, after post_tasks.
            let next_is_tasks = sections
                .get(i + 1)
                .is_some_and(|s| s.kind == SectionKind::Tasks);
            if !(section.kind == SectionKind::Roles && next_is_tasks) && scope.abort.is_none() {
                active = self.flush_handlers(scope, active).await?;
            }
        }
        Ok(())
    }

    /// `strategy: free`: each host of the batch runs the play on its own
    /// (at most `forks` hosts at once), so no host waits for the slowest
    /// at every task. Each host gets its own runner and scope, built from
    /// this one and folded back when it is done: nothing is shared while
    /// they run, so no locks are needed. A host sees the facts other hosts
    /// had when the batch started, and the failure rules
    /// (`any_errors_fatal`, `max_fail_percentage`) apply once the batch is
    /// done (docs/ansible-differences.md).
    async fn run_batch_free(
        &mut self,
        scope: &mut PlayScope<'_>,
        batch: &[String],
    ) -> Result<(), EngineError> {
        let forks = Arc::new(tokio::sync::Semaphore::new(self.opts.forks.max(1)));
        let mut work = Vec::new();
        for host in batch {
            let mut runner = self.runner_for(host);
            let mut own = scope.for_host(host);
            let forks = forks.clone();
            let host = host.clone();
            work.push(async move {
                // The semaphore is never closed.
                let _fork = forks.acquire_owned().await.ok();
                let result = runner.run_batch(&mut own, vec![host]).await;
                (runner, own, result)
            });
        }
        let mut first_error = None;
        let mut failed_any = false;
        for (runner, own, result) in futures::future::join_all(work).await {
            failed_any |= !own.failed.is_empty();
            scope.fold(own);
            self.fold(runner);
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if scope.abort.is_none() {
            self.check_failure_limits(scope, failed_any);
        }
        Ok(())
    }

    /// A runner for one host of a free play: the shared parts, this host's
    /// state (moved out until [`Runner::fold`] brings it back).
    fn runner_for(&mut self, host: &str) -> Runner {
        let mut hosts = HashMap::new();
        if let Some(state) = self.hosts.get_mut(host) {
            hosts.insert(host.to_string(), std::mem::take(state));
        }
        let mut stats = IndexMap::new();
        if let Some(s) = self.stats.get_mut(host) {
            stats.insert(host.to_string(), std::mem::take(s));
        }
        Runner {
            inventory: self.inventory.clone(),
            pool: self.pool.clone(),
            resolver: self.resolver.clone(),
            templates: self.templates.clone(),
            opts: self.opts.clone(),
            events: self.events.clone(),
            interrupt: self.interrupt.clone(),
            hosts,
            targets: self
                .targets
                .get(host)
                .map(|t| (host.to_string(), t.clone()))
                .into_iter()
                .collect(),
            delegates: HashMap::new(),
            stats,
            groups: self.groups.clone(),
            inventory_mentions_fleet: self.inventory_mentions_fleet.clone(),
            started_at_task: self.started_at_task,
            playbook_dir: self.playbook_dir.clone(),
        }
    }

    /// Takes back what a host's runner learnt: its state (and facts it
    /// delegated to other hosts), its counts and its connection target.
    fn fold(&mut self, runner: Runner) {
        for (host, state) in runner.hosts {
            self.hosts.entry(host).or_default().absorb(state);
        }
        for (host, s) in runner.stats {
            let mine = self.stats.entry(host).or_default();
            mine.add(&s);
        }
        self.targets.extend(runner.targets);
        self.delegates.extend(runner.delegates);
        self.started_at_task |= runner.started_at_task;
    }

    /// Runs `tasks` on `hosts` in order; returns the hosts still going.
    fn run_tasks<'a>(
        &'a mut self,
        scope: &'a mut PlayScope<'_>,
        tasks: &'a [Task],
        hosts: Vec<String>,
    ) -> Boxed<'a, Result<Vec<String>, EngineError>> {
        Box::pin(async move {
            let mut active = hosts;
            for task in tasks {
                if active.is_empty() || scope.abort.is_some() || self.interrupt.is_set() {
                    break;
                }
                if !self.selected(task, scope.play) {
                    continue;
                }
                active = match &task.action {
                    Action::Block {
                        block,
                        rescue,
                        always,
                    } => self.run_block(scope, block, rescue, always, active).await?,
                    Action::IncludeTasks { .. } | Action::IncludeRole(_) => {
                        self.run_include(scope, task, active).await?
                    }
                    Action::Meta(what) => self.run_meta(scope, task, what, active).await?,
                    Action::Module { .. } => {
                        let results = self.run_module_task(scope, task, &active, false).await?;
                        let gone: HashSet<String> = results
                            .iter()
                            .filter(|r| {
                                matches!(r.status, TaskStatus::Failed | TaskStatus::Unreachable)
                            })
                            .map(|r| r.host.clone())
                            .collect();
                        active.retain(|h| !gone.contains(h));
                        self.check_failure_limits(scope, !gone.is_empty());
                        active
                    }
                };
            }
            Ok(active)
        })
    }

    async fn run_block(
        &mut self,
        scope: &mut PlayScope<'_>,
        block: &[Task],
        rescue: &[Task],
        always: &[Task],
        hosts: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        let survivors = self.run_tasks(scope, block, hosts.clone()).await?;
        let failed: Vec<String> = hosts
            .iter()
            .filter(|h| !survivors.contains(h) && scope.failed.contains(*h))
            .cloned()
            .collect();
        let mut going = survivors;
        if !rescue.is_empty() && !failed.is_empty() {
            // Rescue gets the hosts that failed in the block; their failure is
            // forgiven if rescue succeeds.
            // Like Ansible, rescue sees the failure as ansible_failed_result
            // and ansible_failed_task (host variables from then on).
            for host in &failed {
                scope.failed.remove(host);
                let state = self.hosts.entry(host.clone()).or_default();
                if let Some((result, task)) = state.last_failure.clone() {
                    state
                        .host_vars
                        .insert("ansible_failed_result".into(), result);
                    state.host_vars.insert("ansible_failed_task".into(), task);
                }
            }
            let rescued = self.run_tasks(scope, rescue, failed.clone()).await?;
            for host in &rescued {
                let stats = self.stats.entry(host.clone()).or_default();
                stats.failed = stats.failed.saturating_sub(1);
                stats.rescued += 1;
            }
            going.extend(rescued);
        }
        if !always.is_empty() {
            // always runs for every host that entered the block and is still
            // reachable, failed or not; it does not revive failed hosts.
            let reachable: Vec<String> = hosts
                .iter()
                .filter(|h| {
                    !self.hosts.get(*h).is_some_and(|s| s.unreachable) && !scope.ended.contains(*h)
                })
                .cloned()
                .collect();
            let after = self.run_tasks(scope, always, reachable).await?;
            going.retain(|h| after.contains(h));
        }
        // Keep inventory order.
        Ok(hosts.into_iter().filter(|h| going.contains(h)).collect())
    }

    /// `include_tasks` and `include_role`: per host (and loop item), render
    /// what to load, then load and run it for each group of hosts that
    /// rendered the same.
    async fn run_include(
        &mut self,
        scope: &mut PlayScope<'_>,
        task: &Task,
        hosts: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        // The templated names: the file, or the role and its `*_from` files.
        let (what, names): (&str, Vec<Option<String>>) = match &task.action {
            Action::IncludeTasks { file, .. } => ("include_tasks", vec![Some(file.clone())]),
            Action::IncludeRole(include) => (
                "include_role",
                vec![
                    Some(include.name.clone()),
                    include.from.tasks.clone(),
                    include.from.vars.clone(),
                    include.from.defaults.clone(),
                    include.from.handlers.clone(),
                ],
            ),
            _ => unreachable!("run_include runs includes"),
        };
        // The names (and, with a loop, the item) may differ per host: group
        // hosts by what the names render to and the item's variables.
        type Group = (Vars, Vec<Option<String>>, Vec<String>);
        let mut groups: IndexMap<(String, String, bool), Group> = IndexMap::new();
        let mut skipped = Vec::new();
        for host in &hosts {
            let vars = self.vars_for(scope, task, host);
            let mut items_are_data = false;
            let iterations: Vec<Vars> = match &task.loop_ {
                None => vec![Vars::new()],
                Some(spec) => {
                    items_are_data = loops::items_are_data(spec, &self.templates, &vars);
                    let items = loops::items(spec, &self.templates, &vars).map_err(|e| {
                        EngineError::Play {
                            location: task.location.clone(),
                            message: format!("{what} loop: {e}"),
                        }
                    })?;
                    let name = loops::loop_var(&task.loop_control, &self.templates, &vars);
                    (0..items.len())
                        .map(|i| loops::item_vars(&task.loop_control, &name, i, &items))
                        .collect()
                }
            };
            let mut included = false;
            for extra in iterations {
                let mut vars = vars.clone();
                if items_are_data {
                    vars.extend(extra.clone());
                } else {
                    vars.extend_trusted(extra.clone());
                }
                if !task.when.is_empty()
                    && !self.templates.eval_all(&task.when, &vars).unwrap_or(false)
                {
                    continue;
                }
                let mut rendered = Vec::new();
                for name in &names {
                    let Some(name) = name else {
                        rendered.push(None);
                        continue;
                    };
                    let text =
                        self.templates
                            .render_text(name, &vars)
                            .map_err(|e| EngineError::Play {
                                location: task.location.clone(),
                                message: format!("{what}: {e}"),
                            })?;
                    rendered.push(Some(text));
                }
                let key = (
                    json!(rendered).to_string(),
                    Value::Object(extra.clone()).to_string(),
                    items_are_data,
                );
                groups
                    .entry(key)
                    .or_insert_with(|| (extra, rendered, Vec::new()))
                    .2
                    .push(host.clone());
                included = true;
            }
            if !included {
                skipped.push(host.clone());
            }
        }
        // Ansible's recap counts the include itself as a task: ok for each
        // host that includes a file, skipped for one its `when` leaves out.
        for host in &hosts {
            let stats = self.stats.entry(host.clone()).or_default();
            stats.count(if skipped.contains(host) {
                TaskStatus::Skipped
            } else {
                TaskStatus::Ok
            });
        }
        // A host that fails in one inclusion takes no part in the next.
        let mut dropped: HashSet<String> = HashSet::new();
        let mut entered: HashSet<String> = HashSet::new();
        for ((_, _, items_are_data), (extra, rendered, group)) in groups {
            let mut group: Vec<String> =
                group.into_iter().filter(|h| !dropped.contains(h)).collect();
            if group.is_empty() {
                continue;
            }
            let mut inherited = Inherited::for_include(task);
            if items_are_data {
                inherited.include_items.extend(extra);
            } else {
                // An outer include's data items must not hide these.
                inherited
                    .include_items
                    .retain(|k, _| !extra.contains_key(k));
                inherited.vars.extend(extra);
            }
            let name = rendered[0].clone().unwrap_or_default();
            let loaded = match &task.action {
                Action::IncludeRole(include) => {
                    let from = RoleFrom {
                        tasks: rendered[1].clone(),
                        vars: rendered[2].clone(),
                        defaults: rendered[3].clone(),
                        handlers: rendered[4].clone(),
                    };
                    let inherited = inherited.with(&include.apply);
                    let loaded = playbook::load_role_include(
                        &name,
                        &from,
                        include.public,
                        &scope.play.dir,
                        task.role.as_deref(),
                        &inherited,
                        &task.location,
                    )?;
                    if let Some(path) = &loaded.role_path {
                        // `allow_duplicates: false`: not again on a host
                        // where it ran (Ansible's has_run).
                        let ran: Vec<String> = group
                            .iter()
                            .filter(|h| !scope.roles_run.insert(((*h).clone(), path.clone())))
                            .cloned()
                            .collect();
                        if !include.allow_duplicates {
                            group.retain(|h| !ran.contains(h));
                            entered.extend(ran);
                        }
                    }
                    loaded
                }
                Action::IncludeTasks { apply, .. } => {
                    let path = playbook::find_tasks_file(&name, &task.dir, task.role.as_deref());
                    playbook::load_tasks_file(
                        &path,
                        &scope.play.dir,
                        task.role.clone(),
                        &inherited.with(apply),
                    )?
                }
                _ => unreachable!("run_include runs includes"),
            };
            scope.add_roles(&loaded);
            let survivors = self.run_tasks(scope, &loaded.tasks, group.clone()).await?;
            for host in group {
                if !survivors.contains(&host) {
                    dropped.insert(host.clone());
                }
                entered.insert(host);
            }
        }
        Ok(hosts
            .into_iter()
            .filter(|h| skipped.contains(h) || (entered.contains(h) && !dropped.contains(h)))
            .collect())
    }

    async fn run_meta(
        &mut self,
        scope: &mut PlayScope<'_>,
        task: &Task,
        what: &str,
        hosts: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        match what {
            "flush_handlers" => self.flush_handlers(scope, hosts).await,
            "end_play" => {
                scope.abort = Some(format!("meta: end_play at {}", task.location));
                Ok(Vec::new())
            }
            "end_host" => {
                let mut going = Vec::new();
                for host in hosts {
                    let vars = self.vars_for(scope, task, &host);
                    if task.when.is_empty()
                        || self.templates.eval_all(&task.when, &vars).unwrap_or(false)
                    {
                        scope.ended.insert(host);
                    } else {
                        going.push(host);
                    }
                }
                Ok(going)
            }
            "reset_connection" => {
                // The next task on the host logs in afresh (a group added
                // to the login user takes effect, as in Ansible).
                for host in &hosts {
                    let vars = self.vars_for(scope, task, host);
                    let wanted = task.when.is_empty()
                        || self.templates.eval_all(&task.when, &vars).unwrap_or(false);
                    if let (true, Some(target)) = (wanted, self.targets.get(host)) {
                        self.pool.reset(target).await;
                    }
                }
                Ok(hosts)
            }
            "clear_facts" => {
                for host in &hosts {
                    if let Some(state) = self.hosts.get_mut(host) {
                        state.facts.clear();
                    }
                }
                Ok(hosts)
            }
            _ => Ok(hosts), // noop, refresh_inventory, ...: nothing to do here
        }
    }

    /// Runs notified handlers (in the order they are defined) on the hosts
    /// that notified them.
    async fn flush_handlers(
        &mut self,
        scope: &mut PlayScope<'_>,
        hosts: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        if scope.notified.is_empty() {
            return Ok(hosts);
        }
        let notified = std::mem::take(&mut scope.notified);
        let mut going = hosts.clone();
        let included = scope.included_handlers.clone();
        for handler in scope.play.handlers.iter().chain(&included) {
            let names: Vec<&str> = handler
                .name
                .iter()
                .map(String::as_str)
                .chain(handler.listen.iter().map(String::as_str))
                .collect();
            let targets: Vec<String> = going
                .iter()
                .filter(|h| {
                    notified
                        .get(*h)
                        .is_some_and(|n| n.iter().any(|x| names.contains(&x.as_str())))
                })
                .cloned()
                .collect();
            if targets.is_empty() {
                continue;
            }
            let results = self.run_module_or_other(scope, handler, targets).await?;
            let _ = results;
            going.retain(|h| !scope.failed.contains(h));
        }
        Ok(going)
    }

    /// A handler may be any task (a block, a module).
    async fn run_module_or_other(
        &mut self,
        scope: &mut PlayScope<'_>,
        handler: &Task,
        hosts: Vec<String>,
    ) -> Result<Vec<String>, EngineError> {
        match &handler.action {
            Action::Module { .. } => {
                let results = self.run_module_task(scope, handler, &hosts, true).await?;
                Ok(results
                    .into_iter()
                    .filter(|r| !matches!(r.status, TaskStatus::Failed | TaskStatus::Unreachable))
                    .map(|r| r.host)
                    .collect())
            }
            _ => {
                self.run_tasks(scope, std::slice::from_ref(handler), hosts)
                    .await
            }
        }
    }

    /// Runs one module task on every host at once (at most `forks`), then
    /// applies what it left: stats, registered vars, facts, notifications.
    async fn run_module_task(
        &mut self,
        scope: &mut PlayScope<'_>,
        task: &Task,
        hosts: &[String],
        handler: bool,
    ) -> Result<Vec<TaskResult>, EngineError> {
        if self.interrupt.is_set() {
            return Ok(Vec::new());
        }
        let name = task.display_name();
        let _ = self.events.send(PlayEvent::TaskStart {
            name: name.clone(),
            location: task.location.to_string(),
            module: match &task.action {
                Action::Module { name, .. } => name.clone(),
                _ => String::new(),
            },
            handler,
        });
        let run_on: Vec<String> = if task.run_once {
            hosts.iter().take(1).cloned().collect()
        } else {
            hosts.to_vec()
        };
        let shared = Arc::new(task.clone());
        let play_dir = &scope.play.dir;
        let search = Arc::new(SearchPaths {
            files: task.search_paths(play_dir, "files"),
            templates: task.search_paths(play_dir, "templates"),
            vars: task.search_paths(play_dir, "vars"),
        });
        let mut jobs = Vec::with_capacity(run_on.len());
        for host in &run_on {
            jobs.push(self.host_task(scope, &shared, &search, host)?);
        }
        // Each host's future is made as it is spawned, not all up front.
        let work = jobs
            .into_iter()
            .map(|job| (job.host.clone(), host_task::run(job)));
        let outcomes = fan_out(work, self.opts.forks, &self.interrupt, |_| {}).await;
        let mut results = Vec::new();
        for (host, outcome) in run_on.iter().zip(outcomes) {
            // A panicked host task is that host's failure, never a missing
            // host; an interrupted one has no result.
            let outcome = match outcome {
                Outcome::Done(outcome) => outcome,
                Outcome::Panicked(why) => HostTaskOutcome::internal_error(host, why),
                Outcome::Interrupted => continue,
            };
            // run_once: the one result applies to every host of the batch.
            let apply_to: Vec<&String> = if task.run_once {
                hosts.iter().collect()
            } else {
                vec![host]
            };
            for target in apply_to {
                self.apply(scope, task, target, &outcome);
            }
            self.stats
                .entry(host.clone())
                .or_default()
                .count(outcome.result.status);
            results.push(outcome.result);
        }
        let _ = self.events.send(PlayEvent::TaskDone {
            name,
            location: task.location.to_string(),
            handler,
            results: results.clone(),
        });
        Ok(results)
    }

    fn apply(
        &mut self,
        scope: &mut PlayScope<'_>,
        task: &Task,
        host: &str,
        outcome: &HostTaskOutcome,
    ) {
        let state = self.hosts.entry(host.to_string()).or_default();
        if let Some(name) = &task.register {
            state
                .host_vars
                .insert(name.clone(), outcome.registered.clone());
        }
        let include_vars =
            matches!(&task.action, Action::Module { name, .. } if name == "include_vars");
        // `delegate_facts: true`: the facts are the delegate's.
        let facts_host = match &outcome.result.delegated_to {
            Some(delegate) if task.delegate_facts => delegate.clone(),
            _ => host.to_string(),
        };
        let state = self.hosts.entry(facts_host).or_default();
        for (k, v) in &outcome.facts {
            if include_vars {
                // Variables, not facts: they stay out of `ansible_facts`.
                state.included.insert(k.clone(), v.clone());
                continue;
            }
            state.facts.insert(k.clone(), v.clone());
            // set_fact values are plain variables too.
            state.host_vars.insert(k.clone(), v.clone());
        }
        let state = self.hosts.entry(host.to_string()).or_default();
        match outcome.result.status {
            TaskStatus::Changed if !task.notify.is_empty() => {
                scope
                    .notified
                    .entry(host.to_string())
                    .or_default()
                    .extend(task.notify.iter().cloned());
            }
            TaskStatus::Failed => {
                scope.failed.insert(host.to_string());
                state.last_failure = Some((outcome.registered.clone(), failed_task_value(task)));
            }
            TaskStatus::Unreachable => {
                state.unreachable = true;
                scope.failed.insert(host.to_string());
            }
            _ => {}
        }
    }

    fn check_failure_limits(&mut self, scope: &mut PlayScope<'_>, something_failed: bool) {
        if !something_failed {
            return;
        }
        if scope.play.any_errors_fatal {
            scope.abort = Some("a host failed and any_errors_fatal is set".into());
            return;
        }
        if let Some(limit) = scope.play.max_fail_percentage {
            let failed = scope
                .batch
                .iter()
                .filter(|h| scope.failed.contains(*h))
                .count();
            if let Some(stop) = rollout(scope.play).stops(failed, scope.batch.len()) {
                scope.abort = Some(format!(
                    "{failed} of {} hosts failed ({:.0}%), above max_fail_percentage {limit}",
                    stop.batch, stop.percent
                ));
            }
        }
    }

    /// Everything `host_task::run` needs for one host.
    fn host_task(
        &mut self,
        scope: &PlayScope<'_>,
        task: &Arc<Task>,
        search: &Arc<SearchPaths>,
        host: &str,
    ) -> Result<HostTask, EngineError> {
        let mut vars = self.vars_for(scope, task, host);
        let delegate = match &task.delegate_to {
            None => None,
            Some(expr) => {
                match delegate::render_name(&self.templates, expr, &vars, task.loop_.is_some()) {
                    Ok(name) => Some(self.delegate(&name)?),
                    Err(why) => return Ok(self.host_task_failing(scope, task, host, vars, why)),
                }
            }
        };
        let conn = match &delegate {
            Some(d) => {
                let facts = self.hosts.get(&d.connection.name).map(|s| &s.facts);
                let delegated = delegate::delegated_vars(&self.inventory, d, facts, host);
                vars.insert("ansible_delegated_vars".into(), delegated);
                d.connection.clone()
            }
            None => self.inventory.connection(host)?,
        };
        let local = scope.play.connection.as_deref() == Some("local")
            || conn.connection == crate::inventory::ConnectionKind::Local;
        let via = if local {
            Via::Local
        } else {
            Via::Ssh(self.target(&conn.name, &conn)?)
        };
        // `ansible_become`/`ansible_become_user` in a task's `vars:` beat
        // the keywords, as Ansible's connection variables do.
        let from_task_vars = |name: &str| {
            task.vars.get(name).map(|v| {
                self.templates
                    .render_value(v, &vars)
                    .unwrap_or_else(|_| v.clone())
            })
        };
        let var_become = from_task_vars("ansible_become")
            .as_ref()
            .and_then(crate::modules::args::to_bool);
        let var_become_user =
            from_task_vars("ansible_become_user").and_then(|v| v.as_str().map(String::from));
        let become_enabled = var_become
            .or(task.become_)
            .or(scope.play.become_)
            .unwrap_or(conn.become_.enabled);
        let become_ = become_enabled.then(|| Become {
            su: task
                .become_method
                .as_deref()
                .or(scope.play.become_method.as_deref())
                == Some("su"),
            user: var_become_user
                .clone()
                .or(task.become_user.clone())
                .or(scope.play.become_user.clone())
                .map(|user| render_text(&self.templates, &user, &vars))
                .or(conn.become_.user.clone())
                .unwrap_or_else(|| "root".into()),
            password: self
                .opts
                .become_password
                .clone()
                .or(conn.become_.password.clone())
                .map(Secret::new),
        });
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in scope.play.environment.iter().chain(task.environment.iter()) {
            let rendered = self
                .templates
                .render_value(v, &vars)
                .unwrap_or_else(|_| v.clone());
            let text = match rendered {
                Value::String(s) => s,
                other => other.to_string(),
            };
            env.retain(|(key, _)| key != k);
            env.push((k.clone(), text));
        }
        Ok(HostTask {
            host: host.to_string(),
            // The inventory name when the delegate is an inventory host.
            delegate: delegate.map(|d| d.connection.name),
            task: task.clone(),
            vars,
            via,
            exec: ExecOptions {
                become_,
                env,
                ..ExecOptions::default()
            },
            check: task
                .check_mode
                .or(scope.play.check_mode)
                .unwrap_or(self.opts.check),
            diff: task.diff.unwrap_or(self.opts.diff),
            search: search.clone(),
            templates: self.templates.clone(),
            pool: self.pool.clone(),
            marks: self.opts.file_marks.clone(),
        })
    }

    /// The delegate `name` (looked up once per run: an unknown name
    /// scans the inventory's addresses).
    fn delegate(&mut self, name: &str) -> Result<delegate::Delegate, EngineError> {
        if let Some(d) = self.delegates.get(name) {
            return Ok(d.clone());
        }
        let d = delegate::resolve(&self.inventory, name)?;
        self.delegates.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// A job that fails at once with `why` (a `delegate_to` that does not
    /// render for this host).
    fn host_task_failing(
        &self,
        scope: &PlayScope<'_>,
        task: &Arc<Task>,
        host: &str,
        vars: TaskVars,
        why: String,
    ) -> HostTask {
        HostTask {
            host: host.to_string(),
            delegate: None,
            task: task.clone(),
            vars,
            via: Via::Failed(why),
            exec: ExecOptions::default(),
            check: self.opts.check,
            diff: self.opts.diff,
            search: Arc::new(SearchPaths {
                files: task.search_paths(&scope.play.dir, "files"),
                templates: Vec::new(),
                vars: Vec::new(),
            }),
            templates: self.templates.clone(),
            pool: self.pool.clone(),
            marks: self.opts.file_marks.clone(),
        }
    }

    fn target(
        &mut self,
        host: &str,
        conn: &crate::inventory::HostConnection,
    ) -> Result<Arc<Target>, EngineError> {
        if let Some(t) = self.targets.get(host) {
            return Ok(t.clone());
        }
        let spec = HostSpec::from(conn);
        let target = Arc::new(
            self.resolver
                .resolve(host, &spec)
                .map_err(EngineError::Host)?,
        );
        self.targets.insert(host.to_string(), target.clone());
        Ok(target)
    }

    /// The variables a task sees on a host, in Ansible's precedence order.
    /// The magic variables added after `compose` are data, like all it adds.
    fn vars_for(&self, scope: &PlayScope<'_>, task: &Task, host: &str) -> TaskVars {
        let state = self.hosts.get(host);
        let empty = Vars::new();
        let inventory = self.inventory.host_scope(host).unwrap_or_default();
        let role = task.role.as_deref();
        let mut vars = compose(&Layers {
            public_defaults: &scope.public_defaults,
            public_vars: &scope.public_vars,
            role_defaults: role.map(|r| &r.defaults),
            inventory: &inventory,
            facts: state.map_or(&empty, |s| &s.facts),
            play: &scope.play.vars,
            vars_files: &scope.vars_files,
            role_vars: role.map(|r| &r.vars),
            role_params: role.map(|r| &r.params),
            task: &task.vars,
            include_items: &task.include_items,
            included: state.map_or(&empty, |s| &s.included),
            host: state.map_or(&empty, |s| &s.host_vars),
            extra: &self.opts.extra_vars,
        });
        // Each of these lists every host: copied into every host's vars on
        // a 10,000-host play they would take gigabytes. Added where the
        // task or a variable it may expand can name them.
        if self.fleet_vars_wanted(scope, task, state) {
            vars.insert("groups".into(), (*self.groups).clone());
            vars.insert("play_hosts".into(), json!(*scope.play_hosts));
            vars.insert("ansible_play_hosts".into(), json!(*scope.play_hosts));
            vars.insert("ansible_play_hosts_all".into(), json!(*scope.play_hosts));
            vars.insert("ansible_play_batch".into(), json!(*scope.batch));
        }
        vars.insert("ansible_check_mode".into(), json!(self.opts.check));
        vars.insert("ansible_diff_mode".into(), json!(self.opts.diff));
        vars.insert("playbook_dir".into(), json!(self.playbook_dir));
        vars.insert("omit".into(), json!(crate::template::OMIT));
        vars.insert("ansible_version".into(), ansible_version());
        let mut role_names: Vec<&str> = Vec::new();
        for r in &scope.play.roles {
            if !role_names.contains(&r.name.as_str()) {
                role_names.push(&r.name);
            }
        }
        vars.insert("ansible_play_role_names".into(), json!(role_names));
        vars.insert("ansible_role_names".into(), json!(role_names));
        if let Some(role) = role {
            vars.insert("role_name".into(), json!(role.name));
            vars.insert("ansible_role_name".into(), json!(role.name));
            vars.insert("role_path".into(), json!(absolute(&role.path)));
        }
        // Ansible's magic variable; the file/template lookups search it.
        let mut search = Vec::new();
        if let Some(role) = role {
            search.push(absolute(&role.path));
        }
        search.push(absolute(&task.dir));
        search.push(scope.play.dir.display().to_string());
        search.dedup();
        vars.insert("ansible_search_path".into(), json!(search));
        let subdir = match &task.action {
            Action::Module { name, .. } if name == "include_vars" => "vars",
            _ => "files",
        };
        vars.insert(crate::template::LOOKUP_SUBDIR_KEY.into(), json!(subdir));
        if mentions(task, "hostvars") {
            vars.insert("hostvars".into(), self.hostvars());
        }
        vars.compact();
        vars
    }

    /// Whether a task may read `groups`, `play_hosts` and the like: the
    /// task's own text, or any variable it could expand (play, vars files,
    /// role, extra, included and inventory variables) names them. Small
    /// plays always get them: the test only saves memory on big ones.
    fn fleet_vars_wanted(
        &self,
        scope: &PlayScope<'_>,
        task: &Task,
        state: Option<&HostState>,
    ) -> bool {
        if scope.play_hosts.len() <= 200 || FLEET_SIZED.iter().any(|w| mentions(task, w)) {
            return true;
        }
        let named = |vars: &Vars| {
            vars.values().any(|v| {
                let text = v.to_string();
                FLEET_SIZED.iter().any(|w| text.contains(w))
            })
        };
        let role = task.role.as_deref();
        named(&scope.play.vars)
            || named(&scope.vars_files)
            || named(&self.opts.extra_vars)
            || role.is_some_and(|r| named(&r.defaults) || named(&r.vars) || named(&r.params))
            || state.is_some_and(|s| named(&s.included) || named(&s.host_vars))
            || *self.inventory_mentions_fleet.get_or_init(|| {
                self.inventory.host_names().any(|h| {
                    self.inventory
                        .host_scope(h)
                        .is_some_and(|v| named(v.as_map()))
                })
            })
    }

    /// `hostvars`: every host's inventory vars, facts and registered vars.
    /// Built only for tasks that mention it: it is O(hosts) per host. It is
    /// data as a whole, so each host's templated inventory vars are
    /// rendered here, in that host's own context (as Ansible's `hostvars`
    /// does); one that fails to render is kept as written.
    fn hostvars(&self) -> Value {
        let mut all = serde_json::Map::new();
        let empty = Vars::new();
        for host in self.inventory.host_names() {
            let inventory = self.inventory.host_scope(host).unwrap_or_default();
            let state = self.hosts.get(host);
            let own = compose(&Layers {
                public_defaults: &empty,
                public_vars: &empty,
                role_defaults: None,
                inventory: &inventory,
                facts: state.map_or(&empty, |s| &s.facts),
                play: &empty,
                vars_files: &empty,
                role_vars: None,
                role_params: None,
                task: &empty,
                include_items: &empty,
                included: state.map_or(&empty, |s| &s.included),
                host: state.map_or(&empty, |s| &s.host_vars),
                extra: &empty,
            });
            let mut vars = own.as_map().clone();
            for (name, value) in vars.iter_mut() {
                if !own.is_data(name)
                    && crate::template::contains_template(value)
                    && let Ok(rendered) = self.templates.render_value(value, &own)
                {
                    *value = rendered;
                }
            }
            all.insert(host.to_string(), Value::Object(vars));
        }
        Value::Object(all)
    }

    fn load_vars_files(&self, play: &Play) -> Result<Vars, EngineError> {
        let mut out = Vars::new();
        let mut context = play.vars.clone();
        context.extend(self.opts.extra_vars.clone());
        for file in &play.vars_files {
            let rendered =
                self.templates
                    .render_text(file, &context)
                    .map_err(|e| EngineError::Play {
                        location: play.location.clone(),
                        message: format!("vars_files: {e}"),
                    })?;
            let path = play.dir.join(&rendered);
            let (text, encrypted) =
                crate::secrets::read_vars_text(&path).map_err(|e| EngineError::Play {
                    location: play.location.clone(),
                    message: format!("vars_files: {e}"),
                })?;
            let vars = crate::secrets::parse_vars(&text, &path, encrypted).map_err(|e| {
                EngineError::Play {
                    location: play.location.clone(),
                    message: e.to_string(),
                }
            })?;
            out.extend(vars);
        }
        Ok(out)
    }

    /// Whether `--tags`, `--skip-tags` and `--start-at-task` let a task run.
    fn selected(&mut self, task: &Task, play: &Play) -> bool {
        if !self.started_at_task {
            let wanted = self.opts.start_at_task.as_deref().unwrap_or_default();
            if task.name.as_deref() == Some(wanted) || task.display_name() == wanted {
                self.started_at_task = true;
            } else if !matches!(task.action, Action::Block { .. }) {
                return false;
            }
        }
        // Blocks are containers: their children decide.
        if matches!(task.action, Action::Block { .. }) {
            return true;
        }
        let tags: Vec<&str> = task
            .tags
            .iter()
            .chain(play.tags.iter())
            .map(String::as_str)
            .collect();
        if tags
            .iter()
            .any(|t| self.opts.skip_tags.iter().any(|s| s == t))
        {
            return false;
        }
        if tags.contains(&"never") && !tags.iter().any(|t| self.opts.tags.iter().any(|w| w == t)) {
            return false;
        }
        let wanted = &self.opts.tags;
        let wants = |t: &str| wanted.iter().any(|w| w == t);
        if wanted.is_empty() || wants("all") || tags.contains(&"always") {
            return true;
        }
        (wants("tagged") && !tags.is_empty())
            || (wants("untagged") && tags.is_empty())
            || tags.iter().any(|t| wants(t))
    }
}

/// Magic variables whose value lists every host of the play or inventory
/// (`ansible_play_hosts` and the like contain `play_hosts`).
const FLEET_SIZED: &[&str] = &["groups", "play_hosts", "play_batch"];

/// Does the task's text mention `word` (cheap test before building big magic vars)?
fn mentions(task: &Task, word: &str) -> bool {
    let in_value = |v: &Value| v.to_string().contains(word);
    match &task.action {
        Action::Module { args, .. } => {
            args.values().any(in_value)
                || task.when.iter().any(|w| w.contains(word))
                || task
                    .loop_
                    .as_ref()
                    .is_some_and(|l| format!("{l:?}").contains(word))
                || task.vars.values().any(in_value)
                || [&task.delegate_to, &task.no_log]
                    .iter()
                    .any(|k| k.as_ref().is_some_and(|t| t.contains(word)))
                || matches!(&task.action, Action::Module { name, .. } if name == "template")
        }
        _ => task.when.iter().any(|w| w.contains(word)),
    }
}

/// A playbook-side path as Ansible shows it in `playbook_dir`, `role_path`
/// and `ansible_search_path`: absolute (from the current directory, without
/// resolving symlinks), also when the playbook was given relative.
fn absolute(path: &Path) -> String {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // `absolute("." )` keeps a trailing "/.": drop it like Python's abspath.
    let text = absolute.display().to_string();
    match text.strip_suffix("/.") {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_string(),
        _ => text,
    }
}

/// The ansible-core release whose behaviour herd follows (its conformance
/// suite passes on it); roles test `ansible_version.full is version(...)`.
pub const ANSIBLE_COMPAT_VERSION: (u64, u64, u64) = (2, 19, 14);

/// `ansible_version`, shaped as Ansible's.
fn ansible_version() -> Value {
    let (major, minor, revision) = ANSIBLE_COMPAT_VERSION;
    let full = format!("{major}.{minor}.{revision}");
    json!({"full": full, "string": full, "major": major, "minor": minor, "revision": revision})
}

/// `groups`: every group's hosts, as Ansible's magic variable.
fn group_map(inventory: &Inventory) -> Value {
    let mut map = serde_json::Map::new();
    for group in inventory.group_names() {
        let hosts = inventory.select(group, None).unwrap_or_default();
        map.insert(group.to_string(), json!(hosts));
    }
    Value::Object(map)
}

/// The play's rollout policy: `serial` batches, `max_fail_percentage`.
fn rollout(play: &Play) -> Rollout {
    Rollout {
        serial: play.serial.clone(),
        canary: false,
        max_fail_percentage: play.max_fail_percentage,
    }
}

/// A task the engine adds itself (fact gathering).
fn synthetic_task(name: &str, module: &str, play: &Play) -> Task {
    Task {
        name: Some(name.to_string()),
        location: play.location.clone(),
        action: Action::Module {
            name: module.to_string(),
            args: Vars::new(),
        },
        when: Vec::new(),
        loop_: None,
        loop_control: Default::default(),
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        ignore_errors: None,
        tags: vec!["always".into()],
        become_: None,
        become_user: None,
        become_method: None,
        environment: Vars::new(),
        retries: None,
        until: None,
        delay: None,
        run_once: false,
        delegate_to: None,
        delegate_facts: false,
        no_log: None,
        check_mode: Some(false),
        diff: None,
        vars: Vars::new(),
        include_items: Vars::new(),
        role: None,
        dir: play.dir.clone(),
    }
}

/// `ansible_failed_task`: the parts of the failed task a rescue looks at.
fn failed_task_value(task: &Task) -> Value {
    let action = match &task.action {
        Action::Module { name, .. } => name.clone(),
        Action::Block { .. } => "block".into(),
        Action::IncludeTasks { .. } => "include_tasks".into(),
        Action::IncludeRole(_) => "include_role".into(),
        Action::Meta(_) => "meta".into(),
    };
    json!({
        "name": task.name.clone().unwrap_or_else(|| action.clone()),
        "action": action,
    })
}

/// A keyword's text rendered for the host (`become_user: "{{ name }}"`);
/// left as written when it does not render.
fn render_text(templates: &Templates, text: &str, vars: &TaskVars) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    templates
        .render_text(text, vars)
        .unwrap_or_else(|_| text.to_string())
}
