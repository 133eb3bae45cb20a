//! `herd play PLAYBOOK.yml`: applies an Ansible playbook.
//!
//! The playbook is loaded and validated whole before any host is touched.
//! Output per task folds hosts with the same result (`changed: web[1-3]`),
//! then a PLAY RECAP folds hosts with the same counts. Every task result per
//! host is recorded in the store (`herd runs show ID`).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::connect::ConnectArgs;
use super::{BadInput, Connection, Context, Format};
use crate::engine::RunOutcome;
use crate::engine::events::{HostStats, PlayEvent};
use crate::engine::fanout::{Interrupt, block_on};
use crate::engine::play::{PlayOptions, Runner};
use crate::playbook::{self, Playbook, Vars};
use crate::report::play::{PlayOutput, PlayPrinter, recap_results, write_task_list};
use crate::report::sink::Sink;
use crate::ssh::{Pool, Resolver};
use crate::store::{NewRun, TaskLog};

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
            playbook.task_count()
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
    let Connection {
        mut options,
        become_password,
        forks,
    } = ctx.connection(&args.connect)?;
    let resolver =
        Resolver::new(&options).map_err(|reason| BadInput(format!("ssh config: {reason}")))?;
    let mut play_options = PlayOptions {
        check: args.check,
        diff: args.diff,
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        limit: args.connect.limit.clone(),
        extra_vars,
        forks,
        become_password,
        start_at_task: args.start_at_task.clone(),
        strategy: ctx.project.file.strategy.unwrap_or_default(),
        file_marks: Default::default(),
    };

    if args.list_hosts || args.list_tasks {
        let (tx, _rx) = mpsc::unbounded_channel();
        let runner = Runner::new(
            inventory.clone(),
            Pool::new(options),
            resolver,
            play_options,
            tx,
            Interrupt::never(),
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
                    write_task_list(&mut out, &section.tasks, 6)?;
                }
            }
        }
        return Ok(crate::exit::OK);
    }

    let mut store = ctx.store()?;
    let command = super::subcommand_words("play").join(" ");
    let pattern = args.connect.limit.clone().unwrap_or_else(|| {
        playbook
            .plays
            .iter()
            .map(|p| p.hosts.as_str())
            .collect::<Vec<_>>()
            .join(";")
    });
    let hosts = inventory
        .select(&pattern.replace(';', ","), None)
        .unwrap_or_default();
    let host_count = hosts.len();
    // Only the marks of the hosts this run may reach are read.
    let file_marks = Arc::new(store.file_marks(&hosts)?);
    play_options.file_marks = file_marks.clone();
    let run_id = store.begin_run(&NewRun {
        kind: "play",
        command: &command,
        pattern: &pattern,
        host_count,
    })?;

    let started = Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let mut printer = PlayPrinter::new(
        crate::secrets::redact::live_stdout(),
        PlayOutput {
            json: args.format == Format::Json,
            diff: args.diff,
            color: super::color_enabled(terminal),
            terminal,
        },
    );
    let mut log = TaskLog::new(store, run_id);
    options.scale_to(host_count);
    let pool = Pool::new(options);
    let (result, interrupted, stats) = block_on(async {
        let interrupt = Interrupt::ctrl_c();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut runner = Runner::new(
            inventory,
            pool.clone(),
            resolver,
            play_options,
            tx,
            interrupt.clone(),
        );
        let mut show = |event: &PlayEvent| -> anyhow::Result<()> {
            log.event(event)?;
            printer.event(event)?;
            Ok(())
        };
        let result = {
            let engine = runner.run(&playbook);
            tokio::pin!(engine);
            loop {
                tokio::select! {
                    Some(event) = rx.recv() => show(&event)?,
                    result = &mut engine => break result,
                }
            }
        };
        // Events sent just before the engine finished.
        while let Ok(event) = rx.try_recv() {
            show(&event)?;
        }
        pool.close_all().await;
        anyhow::Ok((result, interrupt.is_set(), runner.stats.clone()))
    })
    .context("cannot start the async runtime")??;
    // Only a shortcut for the next run: not saving them costs hashes, so
    // it is worth a warning, not a failed run.
    if let Err(e) = log.store().save_file_marks(&file_marks) {
        eprintln!(
            "herd: warning: file marks not saved (the next run hashes those files again): {e:#}"
        );
    }
    let outcome = match result {
        _ if interrupted => {
            eprintln!("herd: interrupted: connections closed, the run is recorded as interrupted");
            RunOutcome::Interrupted
        }
        Err(err) => {
            log.finish(&[], RunOutcome::Failed)?;
            return Err(err.into());
        }
        Ok(completed) => HostStats::outcome(stats.values(), completed),
    };
    printer.recap(&stats, started.elapsed())?;
    log.finish(&recap_results(&stats, interrupted), outcome)?;
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
