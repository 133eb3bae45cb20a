//! `herd run PATTERN -- CMD ARGS...`: one command on many hosts, in parallel.
//!
//! Output folds hosts whose stdout, stderr and exit code are identical into
//! one block headed by a compact host list (clush -b style); `--per-host`
//! prints each host as it finishes; `--format json` prints one JSON object per
//! host per line. Every run is recorded in the store (`herd runs`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::mpsc;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Fleet, Format};
use crate::engine::command::{Event, HostJob, run_command};
use crate::engine::fanout::FleetHost;
use crate::engine::{HostResult, HostStatus, RunOutcome};
use crate::inventory::Inventory;
use crate::report;
use crate::report::text::{Recap, TextOptions};
use crate::ssh::{ExecOptions, Pool, SshOptions};
use crate::store::{NewRun, RunId, Store};

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
    let mut store = ctx.store()?;
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

    let Fleet {
        hosts: fleet,
        options,
        forks,
        ..
    } = ctx.fleet_of(&args.connect, inventory, hosts.clone())?;
    let jobs = host_jobs(fleet, &args, &command);
    let run_id = store.begin_run(&NewRun {
        kind: "run",
        command: &command,
        pattern: &pattern_text,
        host_count: hosts.len(),
    })?;
    let writer = StoreWriter::start(store, run_id);

    let started = Instant::now();
    let sink = Sink::new(&args, hosts.len());
    let (results, interrupted) = drive(options, jobs, forks, sink, &writer)?;
    let mut results = results;
    if interrupted {
        let finished: std::collections::HashSet<&str> =
            results.iter().map(|r| r.host.as_str()).collect();
        let missing: Vec<HostResult> = hosts
            .iter()
            .filter(|h| !finished.contains(h.as_str()))
            .map(|h| HostResult {
                host: h.clone(),
                status: HostStatus::Interrupted,
                exit_code: None,
                stdout: String::new(),
                stderr: String::new(),
                truncated: false,
                error: Some("interrupted before this host finished".into()),
                duration: started.elapsed(),
            })
            .collect();
        for r in &missing {
            writer.send(r.clone());
        }
        results.extend(missing);
    }
    let outcome = if interrupted {
        RunOutcome::Interrupted
    } else {
        RunOutcome::from_results(&results)
    };
    writer.finish(outcome)?;

    // Folded output needs every result; JSON and per-host streamed already.
    let mut out = crate::secrets::redact::stdout();
    if args.format == Format::Text {
        let opts = TextOptions {
            color: color(),
            per_host: false,
            terminal: std::io::stdout().is_terminal(),
        };
        if !args.per_host {
            report::text::write_results(&mut out, &results, opts)?;
        }
        report::text::write_recap(
            &mut out,
            &Recap::new(&results, hosts.len(), started.elapsed()),
            opts.color,
        )?;
        if outcome != RunOutcome::Ok {
            writeln!(
                out,
                "run {run_id}: `herd runs show {run_id}` for details, `herd run --rerun-failed` to retry failed hosts"
            )?;
        }
    }
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
fn host_jobs(fleet: Vec<FleetHost>, args: &RunArgs, command: &str) -> Vec<HostJob> {
    fleet
        .into_iter()
        .map(|host| HostJob {
            target: host.target,
            options: ExecOptions {
                timeout: args.timeout.map(Duration::from_secs),
                ..host.exec
            },
            command: command.to_string(),
        })
        .collect()
}

/// Runs the engine on a tokio runtime until every host is done or Ctrl-C.
/// Returns the results in the order hosts finished, and whether it was
/// interrupted.
fn drive(
    options: SshOptions,
    jobs: Vec<HostJob>,
    forks: usize,
    mut sink: Sink,
    writer: &StoreWriter,
) -> anyhow::Result<(Vec<HostResult>, bool)> {
    crate::engine::fanout::block_on(async move {
        let pool = Pool::new(options);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let engine = run_command(pool.clone(), jobs, forks, tx);
        tokio::pin!(engine);
        // Created once, before the loop, so a Ctrl-C between two events is not lost.
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut results = Vec::new();
        let mut engine_done = false;
        let interrupted = loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(Event::Started { host }) => sink.started(&host),
                    Some(Event::Finished(result)) => {
                        writer.send(result.clone());
                        sink.finished(&result)?;
                        results.push(result);
                    }
                    None => break false,
                },
                () = &mut engine, if !engine_done => engine_done = true,
                _ = &mut ctrl_c => break true,
            }
        };
        sink.done();
        if interrupted {
            eprintln!(
                "herd: interrupted: closing connections and recording the run as interrupted"
            );
        }
        pool.close_all().await;
        Ok((results, interrupted))
    })
    .context("cannot start the async runtime")?
}

/// Where results go while the run is in progress: a progress bar (text on a
/// terminal), per-host blocks (--per-host) or JSON lines.
struct Sink {
    format: Format,
    per_host: bool,
    bar: Option<indicatif::ProgressBar>,
    counts: HashMap<HostStatus, usize>,
}

impl Sink {
    fn new(args: &RunArgs, hosts: usize) -> Sink {
        let bar = (args.format == Format::Text && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(hosts as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Sink {
            format: args.format,
            per_host: args.per_host,
            bar,
            counts: HashMap::new(),
        }
    }

    fn started(&mut self, host: &str) {
        tracing::debug!(host, "started");
    }

    fn finished(&mut self, result: &HostResult) -> anyhow::Result<()> {
        *self.counts.entry(result.status).or_default() += 1;
        let mut block = Vec::new();
        match self.format {
            Format::Json => report::json::write_line(&mut block, result)?,
            Format::Text if self.per_host => {
                let opts = TextOptions {
                    color: color(),
                    per_host: true,
                    terminal: std::io::stdout().is_terminal(),
                };
                report::text::write_results(&mut block, std::slice::from_ref(result), opts)?
            }
            Format::Text => {}
        }
        if !block.is_empty() {
            let text = String::from_utf8_lossy(&block);
            let block = crate::secrets::redact::redact(&text)
                .into_owned()
                .into_bytes();
            match &self.bar {
                Some(bar) => bar.suspend(|| std::io::stdout().write_all(&block))?,
                None => std::io::stdout().write_all(&block)?,
            }
        }
        if let Some(bar) = &self.bar {
            let count = |s| self.counts.get(&s).copied().unwrap_or(0);
            bar.set_message(format!(
                "{} ok, {} failed, {} unreachable",
                count(HostStatus::Ok),
                count(HostStatus::Failed),
                count(HostStatus::Unreachable)
            ));
            bar.inc(1);
        }
        Ok(())
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn color() -> bool {
    super::color_enabled(std::io::stdout().is_terminal())
}

/// Writes results to the store from its own thread, in batches, so a slow
/// disk never stalls the network side and a crash loses at most a moment.
struct StoreWriter {
    tx: std::sync::mpsc::Sender<WriterMsg>,
    handle: std::thread::JoinHandle<anyhow::Result<()>>,
}

enum WriterMsg {
    Result(Box<HostResult>),
    Finish(RunOutcome),
}

impl StoreWriter {
    fn start(mut store: Store, run: RunId) -> StoreWriter {
        let (tx, rx) = std::sync::mpsc::channel::<WriterMsg>();
        let handle = std::thread::spawn(move || -> anyhow::Result<()> {
            let mut batch = Vec::new();
            let mut finish = None;
            while finish.is_none() {
                // Wait briefly for a message, then take whatever else is queued,
                // so results land in the store in batches, soon after they come.
                let mut messages = Vec::new();
                match rx.recv_timeout(Duration::from_millis(250)) {
                    Ok(msg) => messages.push(msg),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    // The run went away without saying how it ended.
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        finish = Some(RunOutcome::Interrupted)
                    }
                }
                messages.extend(rx.try_iter());
                for msg in messages {
                    match msg {
                        WriterMsg::Result(r) => batch.push(*r),
                        WriterMsg::Finish(outcome) => finish = Some(outcome),
                    }
                }
                if !batch.is_empty() {
                    store.record_results(run, &batch)?;
                    batch.clear();
                }
            }
            if let Some(outcome) = finish {
                store.finish_run(run, outcome)?;
            }
            Ok(())
        });
        StoreWriter { tx, handle }
    }

    fn send(&self, result: HostResult) {
        let _ = self.tx.send(WriterMsg::Result(Box::new(result)));
    }

    fn finish(self, outcome: RunOutcome) -> anyhow::Result<()> {
        let _ = self.tx.send(WriterMsg::Finish(outcome));
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the store writer thread panicked"))?
            .context("cannot record the run in the store")
    }
}
