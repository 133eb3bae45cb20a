//! `herd run PATTERN -- CMD ARGS...`: one command on many hosts, in parallel.
//!
//! Output folds hosts whose stdout, stderr and exit code are identical into
//! one block headed by a compact host list (clush -b style); `--per-host`
//! prints each host as it finishes; `--format json` prints one JSON object per
//! host per line. Every run is recorded in the store (`herd runs`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Format};
use crate::engine::command::{Event, HostJob, run_command};
use crate::engine::fanout::Interrupt;
use crate::engine::{HostResult, RunOutcome};
use crate::inventory::Inventory;
use crate::report::run::{RunOutput, RunPrinter};
use crate::report::sink::Sink;
use crate::report::text::TextOptions;
use crate::ssh::{ExecOptions, Pool, SshOptions};
use crate::store::{NewRun, ResultWriter, RunId, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd run web -- systemctl is-active nginx\n  \
herd run 'db:!db3' -m shell -a 'df -h / | tail -1'\n  herd run --rerun-failed"
)]
pub struct RunArgs {
    /// Host pattern: all, a group, a host, globs, `a:b` union, `a:&b`
    /// intersection, `a:!b` exclusion, `~regex`. Optional with
    /// --rerun-failed (then it narrows the hosts being rerun).
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// The command and its arguments, joined by spaces and run by the remote
    /// shell, as `ssh HOST CMD...` does.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,

    /// Ansible-style module: `shell` runs ARGS through the remote shell;
    /// `command` runs it without shell expansion (words are quoted).
    #[arg(short = 'm', long = "module", value_enum, requires = "args")]
    pub module: Option<Module>,

    /// The module's arguments (the command line), with -m.
    #[arg(short = 'a', long = "args", value_name = "ARGS")]
    pub args: Option<String>,

    /// Per-command timeout in seconds; a host that takes longer fails.
    #[arg(short = 'T', long = "timeout", value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Print each host's output separately, as hosts finish.
    #[arg(long = "per-host", visible_alias = "tree")]
    pub per_host: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Rerun on the failed and unreachable hosts of the last run, or of run
    /// ID (`--rerun-failed=ID`). Without CMD, reruns that run's command.
    #[arg(long = "rerun-failed", value_name = "ID", num_args = 0..=1,
          require_equals = true, default_missing_value = "last")]
    pub rerun_failed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Module {
    Shell,
    Command,
}

pub fn execute(ctx: &Context, args: RunArgs) -> anyhow::Result<u8> {
    let state_dir = ctx.project.ensure_state_dir()?;
    let mut store = Store::open(state_dir)?;
    let inventory = ctx.inventory()?;

    let (mut command, rerun) = match &args.rerun_failed {
        Some(id) => {
            let (command, hosts) = rerun_selection(&store, id)?;
            (command, Some(hosts))
        }
        None => (String::new(), None),
    };
    if let Some(given) = command_line(&args)? {
        command = given;
    }
    if command.trim().is_empty() {
        return Err(BadInput(
            "no command given: herd run PATTERN -- CMD ARGS... (or -m shell -a 'CMD')".into(),
        )
        .into());
    }
    let hosts = select_hosts(inventory, &args, rerun)?;
    let pattern_text = args.pattern.clone().unwrap_or_else(|| {
        format!(
            "--rerun-failed={}",
            args.rerun_failed.as_deref().unwrap_or("last")
        )
    });

    let mut options = args.connect.ssh_options(ctx);
    options.scale_to(hosts.len());
    let become_password = args.connect.become_password()?;
    let jobs = host_jobs(
        inventory,
        &hosts,
        &args,
        &options,
        &command,
        become_password.as_deref(),
    )?;
    let forks = args.connect.forks(ctx);
    let run_id = store.begin_run(&NewRun {
        kind: "run",
        command: &command,
        pattern: &pattern_text,
        host_count: hosts.len(),
    })?;
    let writer = ResultWriter::start(store, run_id);

    let started = Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let output = RunOutput {
        json: args.format == Format::Json,
        per_host: args.per_host,
        progress: std::io::stderr().is_terminal(),
        text: TextOptions {
            color: super::color_enabled(terminal),
            per_host: false,
            terminal,
        },
    };
    let mut printer = RunPrinter::new(crate::secrets::redact::live_stdout(), output, hosts.len());
    let (results, interrupted) = drive(options, jobs, forks, &mut printer, &writer)?;
    let outcome = if interrupted {
        RunOutcome::Interrupted
    } else {
        RunOutcome::from_results(&results)
    };
    writer
        .finish(outcome)
        .context("cannot record the run in the store")?;
    printer.summary(&results, hosts.len(), started.elapsed(), outcome, run_id)?;
    Ok(outcome.exit_code())
}

/// The command line from `-- CMD...` or `-m MODULE -a ARGS`.
fn command_line(args: &RunArgs) -> anyhow::Result<Option<String>> {
    match (&args.args, args.command.is_empty()) {
        (Some(_), false) => {
            Err(BadInput("give the command either after `--` or with -a, not both".into()).into())
        }
        (Some(a), true) => match args.module.unwrap_or(Module::Command) {
            Module::Shell => Ok(Some(a.clone())),
            Module::Command => {
                let words = shlex::split(a)
                    .ok_or_else(|| BadInput(format!("-a {a:?}: unbalanced quotes")))?;
                let quoted = shlex::try_join(words.iter().map(String::as_str))
                    .map_err(|e| BadInput(format!("-a {a:?}: {e}")))?;
                Ok(Some(quoted))
            }
        },
        (None, false) => Ok(Some(args.command.join(" "))),
        (None, true) => Ok(None),
    }
}

/// The command and hosts to rerun from an earlier run.
fn rerun_selection(store: &Store, id: &str) -> anyhow::Result<(String, Vec<String>)> {
    let run_id = if id == "last" {
        store.last_run_id(Some("run"))?.ok_or_else(|| {
            BadInput("--rerun-failed: no earlier run recorded in this project".into())
        })?
    } else {
        RunId(id.parse().map_err(|_| {
            BadInput(format!(
                "--rerun-failed={id}: expected a run number or `last`"
            ))
        })?)
    };
    let detail = store.run(run_id)?.ok_or_else(|| {
        BadInput(format!(
            "--rerun-failed: no run {run_id} in the store (see `herd runs`)"
        ))
    })?;
    let hosts = store.hosts_to_rerun(run_id)?;
    if hosts.is_empty() {
        return Err(BadInput(format!(
            "run {run_id} has no failed or unreachable hosts: nothing to rerun"
        ))
        .into());
    }
    Ok((detail.summary.command.clone(), hosts))
}

fn select_hosts(
    inventory: &Inventory,
    args: &RunArgs,
    rerun: Option<Vec<String>>,
) -> anyhow::Result<Vec<String>> {
    match rerun {
        None => {
            let pattern = args.pattern.as_deref().ok_or_else(|| {
                BadInput(
                    "missing PATTERN: herd run PATTERN -- CMD (e.g. `herd run all -- uptime`)"
                        .into(),
                )
            })?;
            Ok(inventory.select(pattern, args.connect.limit.as_deref())?)
        }
        Some(previous) => {
            let narrowing = match (&args.pattern, &args.connect.limit) {
                (None, None) => None,
                (pattern, limit) => {
                    Some(inventory.select(pattern.as_deref().unwrap_or("all"), limit.as_deref())?)
                }
            };
            let mut hosts = Vec::new();
            for host in previous {
                if !inventory.contains_host(&host) {
                    eprintln!(
                        "herd: warning: {host} (from the earlier run) is no longer in the inventory; skipped"
                    );
                } else if narrowing.as_ref().is_none_or(|n| n.contains(&host)) {
                    hosts.push(host);
                }
            }
            if hosts.is_empty() {
                return Err(BadInput(
                    "--rerun-failed: none of the earlier run's failed hosts match".into(),
                )
                .into());
            }
            Ok(hosts)
        }
    }
}

/// Each host's job: its connection target and exec options, plus the
/// command and its timeout.
fn host_jobs(
    inventory: &Inventory,
    hosts: &[String],
    args: &RunArgs,
    options: &SshOptions,
    command: &str,
    become_password: Option<&str>,
) -> anyhow::Result<Vec<HostJob>> {
    let fleet = args
        .connect
        .fleet_hosts(inventory, hosts, options, become_password)?;
    Ok(fleet
        .into_iter()
        .map(|host| HostJob {
            target: host.target,
            options: ExecOptions {
                timeout: args.timeout.map(Duration::from_secs),
                ..host.exec
            },
            command: command.to_string(),
        })
        .collect())
}

/// Runs the engine on a tokio runtime until every host is done or Ctrl-C;
/// results go to the printer and the store as hosts finish. Returns every
/// host's result and whether Ctrl-C stopped the run.
fn drive(
    options: SshOptions,
    jobs: Vec<HostJob>,
    forks: usize,
    printer: &mut RunPrinter<impl std::io::Write>,
    writer: &ResultWriter,
) -> anyhow::Result<(Vec<HostResult>, bool)> {
    crate::engine::fanout::block_on(async move {
        let pool = Pool::new(options);
        let interrupt = Interrupt::ctrl_c();
        let mut shown = Ok(());
        let results = run_command(pool.clone(), jobs, forks, &interrupt, |event| {
            if let Event::Finished(result) = &event {
                writer.send(result.clone());
            }
            if shown.is_ok() {
                shown = printer.event(&event);
            }
        })
        .await;
        let interrupted = interrupt.is_set();
        if interrupted {
            printer.end_progress();
            eprintln!(
                "herd: interrupted: closing connections and recording the run as interrupted"
            );
            // The hosts cut short have no event: record them now.
            for result in &results {
                if result.status == crate::engine::HostStatus::Interrupted {
                    writer.send(result.clone());
                }
            }
        }
        pool.close_all().await;
        shown?;
        Ok((results, interrupted))
    })
    .context("cannot start the async runtime")?
}
