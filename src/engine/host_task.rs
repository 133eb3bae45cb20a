//! One module task on one host: `when`, loop items, argument templating,
//! the module call with `until`/`retries`, `changed_when`/`failed_when`, and
//! the value `register` stores. Everything here is per host and independent
//! of other hosts, so the play runner runs many of these at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::events::{TaskResult, TaskStatus};
use super::loops;
use crate::modules::file_marks::FileMarks;
use crate::modules::{self, ModuleContext, ModuleOutput, SearchPaths};
use crate::playbook::{Action, Loop, Task, Vars};
use crate::remote::Transport;
use crate::ssh::{ExecOptions, Pool, Target};
use crate::template::{TaskVars, Templates};

/// Where a task runs.
#[derive(Debug, Clone)]
pub enum Via {
    /// Shared: resolved once per host for the whole run.
    Ssh(Arc<Target>),
    /// `delegate_to: localhost` / `connection: local`.
    Local,
    /// The task cannot run on this host (a `delegate_to` that does not
    /// render): it fails with this message.
    Failed(String),
}

/// Everything one host needs to run one task.
pub struct HostTask {
    pub host: String,
    /// `delegate_to`, rendered: where the task runs for `host`.
    pub delegate: Option<String>,
    pub task: Arc<Task>,
    pub vars: TaskVars,
    pub via: Via,
    pub exec: ExecOptions,
    pub check: bool,
    pub diff: bool,
    pub search: Arc<SearchPaths>,
    pub templates: Arc<Templates>,
    pub pool: Arc<Pool>,
    pub marks: Arc<FileMarks>,
}

/// How the task went on the host, and what it leaves behind.
#[derive(Debug)]
pub struct HostTaskOutcome {
    pub result: TaskResult,
    /// The value for `register:` (also set for skipped tasks, as Ansible).
    pub registered: Value,
    /// `ansible_facts` to merge into the host's facts (setup, set_fact).
    pub facts: Vars,
}

impl HostTaskOutcome {
    /// The task's job on `host` panicked (a bug in herd): the host fails
    /// the task with `why` ("internal error: ...").
    pub fn internal_error(host: &str, why: String) -> HostTaskOutcome {
        HostTaskOutcome {
            registered: json!({"failed": true, "changed": false, "msg": why}),
            result: TaskResult {
                host: host.to_string(),
                status: TaskStatus::Failed,
                msg: Some(why),
                diffs: Vec::new(),
                items: Vec::new(),
                delegated_to: None,
                duration_ms: 0,
            },
            facts: Vars::new(),
        }
    }
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// Runs the task; never panics on bad input, every problem becomes a failed
/// result with a message.
pub async fn run(job: HostTask) -> HostTaskOutcome {
    let started = Instant::now();
    let task = job.task.clone();
    let (module, raw_args) = match &task.action {
        Action::Module { name, args } => (name.clone(), args.clone()),
        _ => unreachable!("the play runner handles blocks, includes and meta"),
    };
    if let Via::Failed(why) = &job.via {
        // As for a loop that does not render: no error when the task is
        // skipped anyway.
        if condition(&job, &task.when, &job.vars) == Ok(false) {
            return skipped(&job, started);
        }
        return failed(&job, started, why.clone());
    }
    // A delegated task whose condition is false skips without reaching the
    // delegate, as in Ansible.
    if job.delegate.is_some()
        && task.loop_.is_none()
        && condition(&job, &task.when, &job.vars) == Ok(false)
    {
        return skipped(&job, started);
    }
    let transport = match connect(&job).await {
        Ok(t) => t,
        Err(message) => {
            return finish(
                &job,
                started,
                TaskStatus::Unreachable,
                Some(message),
                json!({"unreachable": true}),
                Vars::new(),
                vec![],
                vec![],
            );
        }
    };

    let Some(spec) = &task.loop_ else {
        // No loop: `when` once.
        match condition(&job, &task.when, &job.vars) {
            Ok(true) => {}
            Ok(false) => return skipped(&job, started),
            Err(msg) => {
                return failed(&job, started, msg);
            }
        }
        let one = run_item(&job, &transport, &module, &raw_args, &job.vars).await;
        return finish(
            &job,
            started,
            one.status,
            one.msg,
            one.registered,
            one.facts,
            one.output.diffs,
            vec![],
        );
    };

    // Boxed: a loop's state would otherwise make every host's task future
    // larger, looped or not.
    Box::pin(run_loop(
        &job, &transport, &module, &raw_args, spec, started,
    ))
    .await
}

/// A task with a loop: the module once per item, then one result.
async fn run_loop(
    job: &HostTask,
    transport: &Transport,
    module: &str,
    raw_args: &Vars,
    spec: &Loop,
    started: Instant,
) -> HostTaskOutcome {
    let task = &job.task;
    let items = match loops::items(spec, &job.templates, &job.vars) {
        Ok(items) => items,
        // As in Ansible, a loop that cannot be rendered is no error when
        // the condition (without the item) is false: the task is skipped.
        Err(_) if condition(job, &task.when, &job.vars) == Ok(false) => {
            return finish(
                job,
                started,
                TaskStatus::Skipped,
                None,
                json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"}),
                Vars::new(),
                vec![],
                vec![],
            );
        }
        Err(msg) => {
            return failed(job, started, msg);
        }
    };
    let control = &task.loop_control;
    let loop_var = loops::loop_var(control, &job.templates, &job.vars);
    let items_are_data = loops::items_are_data(spec, &job.templates, &job.vars);
    let mut results = Vec::new();
    let mut facts = Vars::new();
    let mut diffs = Vec::new();
    let mut labels = Vec::new();
    let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, true);
    let total = items.len();
    let all_items = items.clone();
    for (index, item) in items.into_iter().enumerate() {
        let mut vars = job.vars.clone();
        // Facts set by earlier items (set_fact in a loop) are seen by later ones.
        vars.extend(facts.clone());
        let item_vars = loops::item_vars(control, &loop_var, index, &all_items);
        let loop_info = item_vars.get("ansible_loop").cloned();
        if items_are_data {
            vars.extend(item_vars);
        } else {
            vars.extend_trusted(item_vars);
        }
        // What happened to the item: its registered value, and the message
        // and whether it counts for the task's output.
        let (mut registered, failure, changed) = match condition(job, &task.when, &vars) {
            Ok(false) => (
                json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"}),
                None,
                false,
            ),
            Err(msg) => {
                all_skipped = false;
                (json!({"failed": true, "msg": msg}), Some(Some(msg)), false)
            }
            Ok(true) => {
                let one = run_item(job, transport, module, raw_args, &vars).await;
                all_skipped = false;
                facts.extend(one.facts);
                diffs.extend(one.output.diffs);
                let failed = matches!(one.status, TaskStatus::Failed | TaskStatus::Unreachable);
                let changed = one.status == TaskStatus::Changed;
                (one.registered, failed.then_some(one.msg), changed)
            }
        };
        // As in Ansible, the label is rendered after the item ran, with the
        // register variable holding this item's result; a label that cannot
        // be rendered fails the item.
        let label = match &control.label {
            Some(label) => {
                if let Some(name) = &task.register {
                    vars.insert(name.clone(), registered.clone());
                }
                job.templates
                    .render_text(label, &vars)
                    .map_err(|err| (label.clone(), err.to_string()))
            }
            None => Ok(text(&item)),
        };
        match (label, failure) {
            (Err((label, msg)), _) => {
                all_skipped = false;
                any_failed = true;
                labels.push(format!("{label}: {msg}"));
                registered = json!({"failed": true, "msg": msg});
            }
            (Ok(label), Some(msg)) => {
                any_failed = true;
                labels.push(match msg {
                    Some(m) => format!("{label}: {m}"),
                    None => label,
                });
            }
            (Ok(label), None) if changed => {
                any_changed = true;
                labels.push(label);
            }
            (Ok(_), None) => {}
        }
        if let Value::Object(map) = &mut registered {
            map.insert(loop_var.clone(), item);
            map.insert("ansible_loop_var".into(), json!(loop_var));
            if let Some(index_var) = &control.index_var {
                map.insert(index_var.clone(), json!(index));
            }
            if let Some(info) = loop_info {
                map.insert("ansible_loop".into(), info);
            }
        }
        // `break_when` sees the item's variables and, registered, its result.
        let stop = if control.break_when.is_empty() {
            Ok(false)
        } else {
            if let Some(name) = &task.register {
                vars.insert(name.clone(), registered.clone());
            }
            job.templates
                .eval_all(&control.break_when, &vars)
                .map_err(|e| format!("break_when: {e}"))
        };
        results.push(registered);
        match stop {
            Ok(false) => {}
            Ok(true) => break,
            Err(msg) => {
                all_skipped = false;
                any_failed = true;
                labels.push(msg);
                break;
            }
        }
        if let Some(pause) = control.pause {
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
    }
    let status = if any_failed {
        TaskStatus::Failed
    } else if all_skipped {
        // Every item skipped, or no items at all (Ansible: "No items in
        // the list").
        TaskStatus::Skipped
    } else if any_changed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    };
    let msg = match status {
        TaskStatus::Failed => Some("One or more items failed".to_string()),
        _ => None,
    };
    let mut registered = json!({"changed": any_changed, "results": results, "msg": if any_failed { "One or more items failed" } else { "All items completed" }});
    if any_failed {
        registered["failed"] = json!(true);
    }
    if status == TaskStatus::Skipped {
        registered["skipped"] = json!(true);
        if total == 0 {
            registered["skipped_reason"] = json!("No items in the list");
        }
    }
    finish(job, started, status, msg, registered, facts, diffs, labels)
}

/// The result of one module call (one loop item).
struct ItemOutcome {
    status: TaskStatus,
    msg: Option<String>,
    registered: Value,
    facts: Vars,
    output: ModuleOutput,
}

async fn run_item(
    job: &HostTask,
    transport: &Transport,
    module: &str,
    raw_args: &Vars,
    vars: &TaskVars,
) -> ItemOutcome {
    let task = &job.task;
    let fail = |msg: String| ItemOutcome {
        status: TaskStatus::Failed,
        registered: json!({"failed": true, "changed": false, "msg": msg}),
        msg: Some(msg),
        facts: Vars::new(),
        output: ModuleOutput::default(),
    };
    if let Some(arg) = modules::expression_arg(module)
        && let Some(raw) = raw_args.get(arg)
        && job.templates.uses_data(raw, vars)
    {
        return fail(format!(
            "`{arg}` is evaluated as an expression and must not be built from host data \
             (registered results, facts, loop items of them): write the expression out, \
             e.g. `{arg}: result.stdout` rather than `{arg}: \"{{{{ result.stdout }}}}\"`"
        ));
    }
    let mut to_render = raw_args.clone();
    let conditions =
        modules::conditions_arg(module).and_then(|arg| Some((arg, to_render.remove(arg)?)));
    let mut args = match job.templates.render_value(&Value::Object(to_render), vars) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return fail(format!("arguments rendered to {other}, not a dictionary")),
        Err(e) => return fail(e.to_string()),
    };
    if let Some((arg, raw)) = conditions {
        args.insert(arg.to_string(), raw);
    }
    for arg in modules::controller_path_args(module) {
        if let Some(Value::String(path)) = args.get(*arg)
            && raw_args
                .get(*arg)
                .is_some_and(|raw| job.templates.uses_data(raw, vars))
            && !modules::inside_search(&job.search.vars, path.trim())
        {
            return fail(format!(
                "`{arg}` is built from host data (facts, registered results, loop items of them) \
                 and names `{}`, outside the role, task and play directories",
                path.trim()
            ));
        }
    }
    let ctx = ModuleContext {
        host: &job.host,
        transport,
        exec: job.exec.clone(),
        check_mode: job.check,
        diff: job.diff,
        templates: &job.templates,
        vars,
        search: &job.search,
        marks: &job.marks,
    };
    // `retries` without `until` retries until the task succeeds (Ansible 2.16+).
    let retrying = task.until.is_some() || task.retries.is_some();
    let retries = match (retrying, &task.retries) {
        (false, _) => 0,
        (true, None) => 3,
        (true, Some(text)) => match retries(job, text, vars) {
            Ok(n) => n,
            Err(msg) => return fail(msg),
        },
    };
    let delay = Duration::from_secs(task.delay.unwrap_or(5));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut outcome = match modules::run(module, &ctx, &args).await {
            Ok(mut output) => {
                // changed_when/failed_when may read the attempt number.
                if retrying {
                    output.data.insert("attempts".into(), json!(attempt));
                }
                judge(job, output, vars)
            }
            // As Ansible: a connection lost mid-task makes the host
            // unreachable (no retry can reach it either).
            Err(err) if transport.is_lost().await => {
                let msg = err.to_string();
                return ItemOutcome {
                    status: TaskStatus::Unreachable,
                    registered: json!({"unreachable": true, "changed": false, "msg": msg}),
                    msg: Some(msg),
                    facts: Vars::new(),
                    output: ModuleOutput::default(),
                };
            }
            Err(err) => fail(err.to_string()),
        };
        if !retrying {
            return outcome;
        }
        if let Value::Object(map) = &mut outcome.registered {
            map.insert("attempts".into(), json!(attempt));
        }
        let held = match &task.until {
            Some(until) => {
                let mut with_result = vars.clone();
                if let Some(name) = &task.register {
                    with_result.insert(name.clone(), outcome.registered.clone());
                }
                job.templates.eval_all(until, &with_result)
            }
            None => Ok(outcome.status != TaskStatus::Failed),
        };
        match held {
            Ok(true) => return outcome,
            Ok(false) if attempt <= retries => tokio::time::sleep(delay).await,
            Ok(false) => {
                // As Ansible: after 1 + N runs, `attempts` is N.
                outcome.registered["attempts"] = json!(retries);
                // `failed_when` has the last word on failure, also here.
                if task.failed_when.is_some() {
                    return outcome;
                }
                outcome.status = TaskStatus::Failed;
                outcome.msg = Some(format!(
                    "retries exhausted ({attempt} attempts): `until` never held"
                ));
                outcome.registered["failed"] = json!(true);
                return outcome;
            }
            Err(e) => return fail(e.to_string()),
        }
    }
}

/// `retries:` rendered for this host and item.
fn retries(job: &HostTask, text: &str, vars: &TaskVars) -> Result<u32, String> {
    let value = job
        .templates
        .render_value(&Value::String(text.to_string()), vars)
        .map_err(|e| format!("retries: {e}"))?;
    let n = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("retries: `{}` is not a whole number", text))
}

/// Applies `changed_when` / `failed_when` to a module's output.
fn judge(job: &HostTask, output: ModuleOutput, vars: &TaskVars) -> ItemOutcome {
    let task = &job.task;
    let mut registered = Value::Object(output.data.clone());
    registered["changed"] = json!(output.changed);
    registered["failed"] = json!(output.failed);
    if output.skipped {
        registered["skipped"] = json!(true);
    }
    if let Some(msg) = &output.msg {
        registered["msg"] = json!(msg);
    }
    let mut changed = output.changed;
    let mut failed = output.failed;
    let mut msg = output.msg.clone();
    let with_result = |registered: &Value| {
        let mut v = vars.clone();
        if let Some(name) = &task.register {
            v.insert(name.clone(), registered.clone());
        }
        // Ansible lets these expressions use the result's fields directly too.
        if let Value::Object(map) = registered {
            for (k, val) in map {
                if !v.contains_key(k) {
                    v.insert(k.clone(), val.clone());
                }
            }
        }
        v
    };
    if let Some(exprs) = &task.changed_when {
        match job.templates.eval_all(exprs, &with_result(&registered)) {
            Ok(value) => changed = value,
            Err(e) => {
                // As Ansible: the error text, which names the expression.
                failed = true;
                msg = Some(format!("changed_when: {e}"));
                registered["changed_when_result"] = json!(e.to_string());
            }
        }
        registered["changed"] = json!(changed);
    }
    if let Some(exprs) = &task.failed_when {
        match job.templates.eval_all(exprs, &with_result(&registered)) {
            Ok(value) => {
                failed = value;
                if value && msg.is_none() {
                    msg = Some(format!("failed_when: {}", exprs.join(" and ")));
                }
            }
            Err(e) => {
                failed = true;
                msg = Some(format!("failed_when: {e}"));
                registered["failed_when_result"] = json!(e.to_string());
            }
        }
        registered["failed"] = json!(failed);
        registered
            .as_object_mut()
            .expect("a result is an object")
            .entry("failed_when_result")
            .or_insert(json!(failed));
    }
    registered["failed"] = json!(failed);
    let facts = match output.data.get("ansible_facts") {
        Some(Value::Object(f)) => f.clone(),
        _ => Vars::new(),
    };
    let status = if failed {
        TaskStatus::Failed
    } else if output.skipped {
        TaskStatus::Skipped
    } else if changed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    };
    ItemOutcome {
        status,
        msg,
        registered,
        facts,
        output,
    }
}

fn condition(job: &HostTask, when: &[String], vars: &TaskVars) -> Result<bool, String> {
    if when.is_empty() {
        return Ok(true);
    }
    job.templates
        .eval_all(when, vars)
        .map_err(|e| format!("when: {e}"))
}

async fn connect(job: &HostTask) -> Result<Transport, String> {
    match &job.via {
        Via::Local => Ok(Transport::Local),
        Via::Ssh(target) => job
            .pool
            .connect(target)
            .await
            .map(Transport::Ssh)
            .map_err(|e| e.to_string()),
        Via::Failed(why) => Err(why.clone()),
    }
}

/// The task failed on this host before or instead of running its module.
fn failed(job: &HostTask, started: Instant, msg: String) -> HostTaskOutcome {
    finish(
        job,
        started,
        TaskStatus::Failed,
        Some(msg),
        json!({"failed": true}),
        Vars::new(),
        vec![],
        vec![],
    )
}

fn skipped(job: &HostTask, started: Instant) -> HostTaskOutcome {
    let registered = json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False", "false_condition": job.task.when.join(" and ")});
    finish(
        job,
        started,
        TaskStatus::Skipped,
        None,
        registered,
        Vars::new(),
        vec![],
        vec![],
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    job: &HostTask,
    started: Instant,
    status: TaskStatus,
    msg: Option<String>,
    registered: Value,
    facts: Vars,
    diffs: Vec<crate::modules::FileDiff>,
    items: Vec<String>,
) -> HostTaskOutcome {
    let secret = no_log(job);
    let ignored = status == TaskStatus::Failed && ignore_errors(job);
    let result = TaskResult {
        host: job.host.clone(),
        status: if ignored { TaskStatus::Ignored } else { status },
        msg: if secret && msg.is_some() {
            Some(CENSORED.to_string())
        } else {
            msg
        },
        diffs: if secret { Vec::new() } else { diffs },
        items: if secret { Vec::new() } else { items },
        delegated_to: job.delegate.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    // no_log hides output from every sink; the registered value stays whole
    // for later tasks, as in Ansible.
    HostTaskOutcome {
        result,
        registered,
        facts,
    }
}

/// Whether the task's output is hidden: `no_log` rendered for the host. A
/// template that does not render to a boolean hides it too: better a
/// hidden result than a leaked secret.
pub(crate) fn no_log(job: &HostTask) -> bool {
    let Some(text) = &job.task.no_log else {
        return false;
    };
    match text.as_str() {
        "false" => false,
        "true" => true,
        _ => job
            .templates
            .render_value(&Value::String(text.clone()), &job.vars)
            .ok()
            .and_then(|v| modules::args::to_bool(&v))
            .unwrap_or(true),
    }
}

fn ignore_errors(job: &HostTask) -> bool {
    match &job.task.ignore_errors {
        None => false,
        Some(expr) => job.templates.eval_bool(expr, &job.vars).unwrap_or(false),
    }
}

/// An item or value as one line of text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
