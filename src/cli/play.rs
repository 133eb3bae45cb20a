//! `herd play PLAYBOOK.yml`: applies an Ansible playbook.
//!
//! The playbook is loaded and validated whole before any host is touched.
//! Output per task folds hosts with the same result (`changed: web[1-3]`),
//! then a PLAY RECAP folds hosts with the same counts. Every task result per
//! host is recorded in the store (`herd runs show ID`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indexmap::IndexMap;
use tokio::sync::mpsc;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Format};
use crate::engine::events::{HostStats, PlayEvent, TaskResult, TaskStatus};
use crate::engine::play::{PlayOptions, Runner};
use crate::engine::{HostResult, HostStatus, RunOutcome};
use crate::playbook::{self, Action, Playbook, Task, Vars};
use crate::report::escape::for_terminal;
use crate::report::hostlist::compress;
use crate::ssh::{Pool, Resolver};
use crate::store::{NewRun, RunId, Store, TaskRecord};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd play site.yml --limit db --check --diff\n  \
herd play deploy.yml -e version=1.4.2\n  herd play site.yml --list-tasks"
)]
pub struct PlayArgs {
    /// The playbook (Ansible's YAML).
    #[arg(value_name = "PLAYBOOK")]
    pub playbook: std::path::PathBuf,

    /// Extra variables, highest precedence: `key=value ...`, JSON, or `@file.yml`
    /// (repeatable).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    /// Change nothing; report what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Show a unified diff of changed files.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,

    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags", value_delimiter = ',', value_name = "TAGS")]
    pub tags: Vec<String>,

    /// Skip tasks with these tags.
    #[arg(long = "skip-tags", value_delimiter = ',', value_name = "TAGS")]
    pub skip_tags: Vec<String>,

    /// Start at the task with this name.
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,

    /// Load and validate the playbook, touch no host.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,

    /// List every task (with tags) and exit.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,

    /// List each play's hosts and exit.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format: text, or JSON lines (one event per line).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn execute(ctx: &Context, args: PlayArgs) -> anyhow::Result<u8> {
    let mut playbook = playbook::load_playbook(&args.playbook)?;
    if args.syntax_check {
        println!(
            "playbook: {} ({} plays, {} tasks): syntax OK",
            args.playbook.display(),
            playbook.plays.len(),
            count_tasks(&playbook)
        );
        return Ok(crate::exit::OK);
    }
    apply_become_flags(&mut playbook, &args);
    let inventory = ctx.inventory_or_empty()?.clone();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut extra_vars = Vars::new();
    for arg in &args.extra_vars {
        extra_vars.extend(playbook::parse_extra_vars(arg, &cwd)?);
    }
    let mut options = args.connect.ssh_options(ctx);
    let resolver =
        Resolver::new(&options).map_err(|reason| BadInput(format!("ssh config: {reason}")))?;
    let become_password = args.connect.become_password()?;
    let play_options = PlayOptions {
        check: args.check,
        diff: args.diff,
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        limit: args.connect.limit.clone(),
        extra_vars,
        forks: args.connect.forks(ctx),
        become_password,
        start_at_task: args.start_at_task.clone(),
    };

    if args.list_hosts || args.list_tasks {
        let (tx, _rx) = mpsc::unbounded_channel();
        let runner = Runner::new(
            inventory.clone(),
            Pool::new(options),
            resolver,
            play_options,
            tx,
        );
        let mut out = crate::secrets::redact::stdout();
        writeln!(out, "playbook: {}", args.playbook.display())?;
        for play in &playbook.plays {
            writeln!(out, "\n  play: {}", play.name)?;
            if args.list_hosts {
                let hosts = runner.play_hosts(play)?;
                writeln!(out, "    hosts ({}):", hosts.len())?;
                for host in hosts {
                    writeln!(out, "      {host}")?;
                }
            }
            if args.list_tasks {
                writeln!(out, "    tasks:")?;
                for section in &play.sections {
                    list_tasks(&mut out, &section.tasks, 6)?;
                }
            }
        }
        return Ok(crate::exit::OK);
    }

    let state_dir = ctx.project.ensure_state_dir()?;
    let mut store = Store::open(state_dir)?;
    let command = super::subcommand_words("play").join(" ");
    let pattern = args.connect.limit.clone().unwrap_or_else(|| {
        playbook
            .plays
            .iter()
            .map(|p| p.hosts.as_str())
            .collect::<Vec<_>>()
            .join(";")
    });
    let host_count = inventory
        .select(&pattern.replace(';', ","), None)
        .map(|h| h.len())
        .unwrap_or(0);
    let run_id = store.begin_run(&NewRun {
        kind: "play",
        command: &command,
        pattern: &pattern,
        host_count,
    })?;

    let started = Instant::now();
    let mut sink = PlaySink::new(args.format, args.diff, store, run_id);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    options.scale_to(host_count);
    let pool = Pool::new(options);
    let outcome = runtime.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut runner = Runner::new(inventory, pool.clone(), resolver, play_options, tx);
        let result = {
            let engine = runner.run(&playbook);
            tokio::pin!(engine);
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            loop {
                tokio::select! {
                    Some(event) = rx.recv() => sink.event(&event)?,
                    result = &mut engine => break Some(result),
                    _ = &mut ctrl_c => break None,
                }
            }
        };
        // Events sent just before the engine finished.
        while let Ok(event) = rx.try_recv() {
            sink.event(&event)?;
        }
        pool.close_all().await;
        anyhow::Ok((result, runner.stats.clone()))
    })?;
    let (result, stats) = outcome;
    let outcome = match result {
        None => {
            eprintln!("herd: interrupted: connections closed, the run is recorded as interrupted");
            RunOutcome::Interrupted
        }
        Some(Err(err)) => {
            sink.store.finish_run(run_id, RunOutcome::Failed)?;
            return Err(err.into());
        }
        Some(Ok(completed)) => play_outcome(&stats, completed),
    };
    sink.recap(&stats, started.elapsed())?;
    let interrupted = outcome == RunOutcome::Interrupted;
    sink.store
        .record_results(run_id, &host_results(&stats, interrupted))?;
    sink.store.finish_run(run_id, outcome)?;
    Ok(outcome.exit_code())
}

/// `-b` / `--become-user` apply to every play (as ansible-playbook's flags).
fn apply_become_flags(playbook: &mut Playbook, args: &PlayArgs) {
    for play in &mut playbook.plays {
        if args.connect.become_ {
            play.become_ = Some(true);
        }
        if let Some(user) = &args.connect.become_user {
            play.become_user = Some(user.clone());
        }
    }
}

fn play_outcome(stats: &IndexMap<String, HostStats>, completed: bool) -> RunOutcome {
    if stats.values().any(|s| s.unreachable > 0) {
        RunOutcome::Unreachable
    } else if !completed || stats.values().any(|s| s.failed > 0) {
        RunOutcome::Failed
    } else {
        RunOutcome::Ok
    }
}

/// One row per host for the store's host_results: the recap counts. After
/// Ctrl-C, a host that had not failed is recorded as interrupted (its play
/// did not finish), as `herd run` and the other commands do.
fn host_results(stats: &IndexMap<String, HostStats>, interrupted: bool) -> Vec<HostResult> {
    stats
        .iter()
        .map(|(host, s)| HostResult {
            host: host.clone(),
            status: if s.unreachable > 0 {
                HostStatus::Unreachable
            } else if s.failed > 0 {
                HostStatus::Failed
            } else if interrupted {
                HostStatus::Interrupted
            } else {
                HostStatus::Ok
            },
            exit_code: None,
            stdout: recap_counts(s),
            stderr: String::new(),
            truncated: false,
            error: None,
            duration: Duration::ZERO,
        })
        .collect()
}

fn count_tasks(playbook: &Playbook) -> usize {
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
    playbook
        .plays
        .iter()
        .map(|p| p.sections.iter().map(|s| count(&s.tasks)).sum::<usize>())
        .sum()
}

fn list_tasks(out: &mut impl Write, tasks: &[Task], indent: usize) -> std::io::Result<()> {
    for task in tasks {
        match &task.action {
            Action::Block {
                block,
                rescue,
                always,
            } => {
                list_tasks(out, block, indent)?;
                list_tasks(out, rescue, indent)?;
                list_tasks(out, always, indent)?;
            }
            _ => {
                let tags = if task.tags.is_empty() {
                    String::new()
                } else {
                    format!("\tTAGS: [{}]", task.tags.join(", "))
                };
                writeln!(out, "{:indent$}{}{tags}", "", task.display_name())?;
            }
        }
    }
    Ok(())
}

fn recap_counts(s: &HostStats) -> String {
    format!(
        "ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}",
        s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
    )
}

/// Prints events (text or JSON lines) and records task results.
struct PlaySink {
    format: Format,
    diff: bool,
    color: bool,
    /// stdout is a terminal: host text (messages, items, diffs) is
    /// escaped (see `report::escape`).
    terminal: bool,
    store: Store,
    run_id: RunId,
    play: String,
    seq: u32,
    locations: Vec<String>,
}

impl PlaySink {
    fn new(format: Format, diff: bool, store: Store, run_id: RunId) -> PlaySink {
        PlaySink {
            format,
            diff,
            color: super::color_enabled(std::io::stdout().is_terminal()),
            terminal: std::io::stdout().is_terminal(),
            store,
            run_id,
            play: String::new(),
            seq: 0,
            locations: Vec::new(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn event(&mut self, event: &PlayEvent) -> anyhow::Result<()> {
        if let PlayEvent::TaskStart { location, .. } = event {
            self.locations.push(location.clone());
        }
        if let PlayEvent::TaskDone { name, results } = event {
            self.record(name, results)?;
        }
        if let PlayEvent::PlayStart { name, .. } = event {
            self.play = name.clone();
        }
        let mut out = crate::secrets::redact::stdout();
        if self.format == Format::Json {
            serde_json::to_writer(&mut out, event)?;
            writeln!(out)?;
            return Ok(());
        }
        match event {
            PlayEvent::PlayStart { name, hosts } => writeln!(
                out,
                "\n{}",
                banner(&format!("PLAY [{name}] ({} hosts)", hosts.len()))
            )?,
            PlayEvent::TaskStart { name, handler, .. } => {
                let kind = if *handler { "RUNNING HANDLER" } else { "TASK" };
                writeln!(out, "\n{}", banner(&format!("{kind} [{name}]")))?;
            }
            PlayEvent::TaskDone { results, .. } => self.write_results(&mut out, results)?,
            PlayEvent::PlayAborted { reason, .. } => writeln!(
                out,
                "\n{}",
                self.paint("31", &format!("PLAY ABORTED: {reason}"))
            )?,
        }
        Ok(())
    }

    /// Hosts with the same status, message and items share one line.
    fn write_results(&self, out: &mut impl Write, results: &[TaskResult]) -> std::io::Result<()> {
        let mut groups: BTreeMap<(TaskStatus, Option<String>, Vec<String>), Vec<String>> =
            BTreeMap::new();
        for r in results {
            groups
                .entry((r.status, r.msg.clone(), r.items.clone()))
                .or_default()
                .push(match &r.delegated_to {
                    // Ansible's `host -> delegate`.
                    Some(delegate) => format!("{} -> {delegate}", r.host),
                    None => r.host.clone(),
                });
        }
        for ((status, msg, items), hosts) in groups {
            let color = match status {
                TaskStatus::Ok => "32",
                TaskStatus::Changed => "33",
                TaskStatus::Skipped => "36",
                TaskStatus::Failed | TaskStatus::Unreachable => "31",
                TaskStatus::Ignored => "35",
            };
            let mut line = format!("{}: {}", status.as_str(), compress(&hosts));
            if !items.is_empty() {
                line.push_str(&format!(" (items: {})", items.join(", ")));
            }
            if let Some(msg) = msg {
                line.push_str(&format!(" => {msg}"));
            }
            let line = for_terminal(&line, self.terminal);
            writeln!(out, "{}", self.paint(color, &line))?;
        }
        if self.diff {
            // Identical diffs (same file, same change) are printed once.
            let mut diffs: IndexMap<String, Vec<String>> = IndexMap::new();
            for r in results {
                for d in &r.diffs {
                    diffs
                        .entry(crate::report::diff::unified(d))
                        .or_default()
                        .push(r.host.clone());
                }
            }
            for (text, hosts) in diffs {
                writeln!(out, "--- {} ---", compress(&hosts))?;
                write!(out, "{}", for_terminal(&text, self.terminal))?;
            }
        }
        Ok(())
    }

    fn record(&mut self, task: &str, results: &[TaskResult]) -> anyhow::Result<()> {
        let location = self.locations.last().cloned().unwrap_or_default();
        let records: Vec<TaskRecord> = results
            .iter()
            .map(|r| TaskRecord {
                seq: self.seq,
                play: self.play.clone(),
                task: task.to_string(),
                location: location.clone(),
                host: r.host.clone(),
                status: r.status.as_str().to_string(),
                msg: r.msg.clone(),
                diff: (!r.diffs.is_empty())
                    .then(|| r.diffs.iter().map(crate::report::diff::unified).collect()),
                duration_ms: r.duration_ms,
            })
            .collect();
        self.seq += 1;
        self.store.record_task_results(self.run_id, &records)?;
        Ok(())
    }

    fn recap(&self, stats: &IndexMap<String, HostStats>, elapsed: Duration) -> anyhow::Result<()> {
        let mut out = crate::secrets::redact::stdout();
        if self.format == Format::Json {
            let hosts: serde_json::Map<String, serde_json::Value> = stats
                .iter()
                .map(|(h, s)| (h.clone(), serde_json::to_value(s).unwrap_or_default()))
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"event": "recap", "hosts": hosts, "elapsed": elapsed.as_secs_f64()})
            )?;
            return Ok(());
        }
        writeln!(out, "\n{}", banner("PLAY RECAP"))?;
        let mut same: IndexMap<HostStats, Vec<String>> = IndexMap::new();
        for (host, s) in stats {
            same.entry(*s).or_default().push(host.clone());
        }
        for (s, hosts) in same {
            let color = if s.failed > 0 || s.unreachable > 0 {
                "31"
            } else if s.changed > 0 {
                "33"
            } else {
                "32"
            };
            writeln!(
                out,
                "{} : {}",
                self.paint(color, &format!("{:<24}", compress(&hosts))),
                recap_counts(&s)
            )?;
        }
        writeln!(
            out,
            "({} hosts, {})",
            stats.len(),
            crate::report::text::format_duration(elapsed)
        )?;
        Ok(())
    }
}

/// `TASK [name] ******` padded to 79 columns, as Ansible prints.
fn banner(title: &str) -> String {
    let stars = 79usize.saturating_sub(title.len() + 1).max(3);
    format!("{title} {}", "*".repeat(stars))
}
