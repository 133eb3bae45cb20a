//! `herd runs [show ID]`: what herd did, read back from the results store.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::{BadInput, Context, Format};
use crate::report::{json, text};
use crate::store::{RunDetail, RunId, RunSummary, Store, TaskRecord};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// How many recent runs to list.
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = 20)]
    pub last: usize,
    /// Output format: a table, or one JSON object per run per line.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum RunsCommand {
    /// Show one run: its summary, then every host's result.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Run ID as listed by `herd runs`, or `last` for the newest run.
    #[arg(value_name = "ID", value_parser = parse_run_ref)]
    pub id: RunRef,
    /// Output format: text, or the run with its hosts as one JSON object.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Print each host on its own instead of folding identical results.
    #[arg(long)]
    pub per_host: bool,
}

/// Which run `herd runs show` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRef {
    Last,
    Id(RunId),
}

fn parse_run_ref(text: &str) -> Result<RunRef, String> {
    if text == "last" {
        return Ok(RunRef::Last);
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(RunRef::Id(RunId(id))),
        _ => Err(format!(
            "`{text}` is not a run ID: give a number from `herd runs`, or `last`"
        )),
    }
}

pub fn execute(ctx: &Context, args: RunsArgs) -> anyhow::Result<u8> {
    let store = ctx.store()?;
    let color = super::color_enabled(std::io::stdout().is_terminal());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.command {
        Some(RunsCommand::Show(show)) => {
            let detail = find_run(&store, show.id)?;
            let tasks = store.task_results(detail.summary.id)?;
            match show.format {
                Format::Json if tasks.is_empty() => json::write_line(&mut out, &detail),
                Format::Json => {
                    let mut value = serde_json::to_value(&detail)?;
                    value["tasks"] = serde_json::to_value(&tasks)?;
                    json::write_line(&mut out, &value)
                }
                Format::Text => {
                    let terminal = std::io::stdout().is_terminal();
                    let opts = text::TextOptions {
                        color,
                        per_host: show.per_host,
                        terminal,
                    };
                    write_tasks(&mut out, &tasks, terminal)
                        .and_then(|()| write_detail(&mut out, &detail, &TimeZone::system(), opts))
                }
            }
        }
        None => {
            let runs = store.recent_runs(args.last)?;
            match args.format {
                Format::Json => runs.iter().try_for_each(|r| json::write_line(&mut out, r)),
                Format::Text if runs.is_empty() => {
                    writeln!(out, "no runs recorded yet in {}", store.path().display())
                }
                Format::Text => out.write_all(
                    format_table(&runs, &TimeZone::system(), terminal_width(), color).as_bytes(),
                ),
            }
        }
    };
    match written.and_then(|()| out.flush()) {
        // `herd runs | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => {
            other.context("cannot write to standard output")?;
            Ok(0)
        }
    }
}

fn find_run(store: &Store, which: RunRef) -> anyhow::Result<RunDetail> {
    let path = store.path().display();
    let id = match which {
        RunRef::Id(id) => id,
        RunRef::Last => store
            .last_run_id(None)?
            .ok_or_else(|| BadInput(format!("no runs recorded yet in {path}")))?,
    };
    Ok(store.run(id)?.ok_or_else(|| {
        BadInput(format!(
            "no run {id} in {path}; `herd runs` lists the recorded runs"
        ))
    })?)
}

/// The run's summary, then its hosts' results as `herd run` prints them.
fn write_detail(
    out: &mut impl Write,
    detail: &RunDetail,
    tz: &TimeZone,
    opts: text::TextOptions,
) -> std::io::Result<()> {
    let s = &detail.summary;
    let paint = text::Paint::new(opts.color, outcome_color(s));
    writeln!(out, "run {}: {}", s.id, s.command)?;
    writeln!(out, "  kind:     {}", s.kind)?;
    writeln!(out, "  pattern:  {}", s.pattern)?;
    writeln!(out, "  user:     {} (pid {})", s.user, s.pid)?;
    writeln!(out, "  started:  {}", text::local_time(s.started_at, tz))?;
    writeln!(out, "  duration: {}", duration_text(s))?;
    writeln!(out, "  outcome:  {}", paint.apply(s.outcome.as_str()))?;
    if detail
        .hosts
        .iter()
        .any(|h| h.stdout_truncated || h.stderr_truncated)
    {
        writeln!(
            out,
            "  note:     some outputs were cut at {} KiB when stored",
            crate::store::OUTPUT_CAP / 1024
        )?;
    }
    writeln!(out)?;
    // A run still going has taken as long as it has been running.
    let ms = s
        .duration_ms
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond() - s.started_at);
    let elapsed = Duration::from_millis(ms.max(0) as u64);
    text::write_run(out, &detail.results(), s.host_count, elapsed, opts)
}

/// A playbook run's tasks: each task once, its hosts folded by outcome,
/// and any diff it recorded.
/// Host text (messages, diffs) is escaped on a `terminal`.
fn write_tasks(out: &mut impl Write, tasks: &[TaskRecord], terminal: bool) -> std::io::Result<()> {
    use crate::report::escape::for_terminal;
    for task in crate::report::tasks::by_task(tasks) {
        writeln!(
            out,
            "TASK [{}] ({}) {}",
            task.task, task.play, task.location
        )?;
        for o in &task.outcomes {
            let msg = o
                .msg
                .map(|m| format!(" => {}", for_terminal(m, terminal)))
                .unwrap_or_default();
            writeln!(out, "  {}: {}{msg}", o.status, o.hosts)?;
        }
        for (host, diff) in &task.diffs {
            writeln!(out, "  diff on {host}:")?;
            write!(out, "{}", for_terminal(diff, terminal))?;
        }
    }
    if !tasks.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

/// The `herd runs` table; COMMAND is cut to fit `width` when known.
fn format_table(runs: &[RunSummary], tz: &TimeZone, width: Option<usize>, color: bool) -> String {
    let header = [
        "ID", "STARTED", "DURATION", "OUTCOME", "KIND", "OK", "FAIL", "UNREACH", "PATTERN",
    ];
    let rows: Vec<[String; 9]> = runs
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                text::local_time(r.started_at, tz),
                duration_text(r),
                r.outcome.as_str().to_string(),
                r.kind.clone(),
                r.ok.to_string(),
                r.failed.to_string(),
                r.unreachable.to_string(),
                fit(&r.pattern, 24),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Numbers right-aligned, text left-aligned, two spaces between columns.
    let right = [true, false, true, false, false, true, true, true, false];
    let used: usize = widths.iter().map(|w| w + 2).sum();
    let command_width = width.map(|w| w.saturating_sub(used).max(10));
    let line = |cells: &[String], command: &str, paint: Option<text::Paint>| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            let cell = match (i, paint) {
                (3, Some(p)) => p.apply(cell),
                _ => cell.clone(),
            };
            if right[i] {
                line.push_str(&format!("{pad}{cell}  "));
            } else {
                line.push_str(&format!("{cell}{pad}  "));
            }
        }
        let command = match command_width {
            Some(w) => fit(command, w),
            None => fit(command, usize::MAX),
        };
        line.push_str(&command);
        line.push('\n');
        line
    };
    let mut table = line(&header.map(String::from), "COMMAND", None);
    for (run, cells) in runs.iter().zip(&rows) {
        let paint = text::Paint::new(color, outcome_color(run));
        table.push_str(&line(cells, &run.command, Some(paint)));
    }
    table
}

fn outcome_color(run: &RunSummary) -> &'static str {
    use crate::engine::RunOutcome;
    match run.outcome {
        RunOutcome::Ok => text::GREEN,
        RunOutcome::Failed => text::RED,
        RunOutcome::Unreachable => text::YELLOW,
        RunOutcome::Interrupted | RunOutcome::Running => text::MAGENTA,
    }
}

fn duration_text(run: &RunSummary) -> String {
    match run.duration_ms {
        Some(ms) => text::format_duration(Duration::from_millis(ms.max(0) as u64)),
        None => "-".to_string(),
    }
}

/// One line of at most `max` characters: control characters become spaces
/// and a cut is marked with "…".
fn fit(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Columns of the terminal on stdout, if it is one.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return Some(size.ws_col.into());
    }
    std::env::var("COLUMNS").ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RunOutcome;

    fn summary(id: i64, outcome: RunOutcome, command: &str) -> RunSummary {
        RunSummary {
            id: RunId(id),
            kind: "run".into(),
            command: command.into(),
            pattern: "web:&prod".into(),
            user: "alice".into(),
            pid: 4242,
            host_count: 5,
            // 2025-01-02 03:04:05.678 UTC
            started_at: 1_735_787_045_678,
            finished_at: Some(1_735_787_047_988),
            duration_ms: Some(2310),
            outcome,
            ok: 3,
            failed: 1,
            unreachable: 1,
            interrupted: 0,
        }
    }

    #[test]
    fn table_aligns_columns_and_cuts_the_command_to_the_width() {
        let mut running = summary(9, RunOutcome::Running, "sleep 100");
        running.duration_ms = None;
        let runs = [
            running,
            summary(10, RunOutcome::Failed, "systemctl is-active nginx\nuptime"),
        ];
        let table = format_table(&runs, &TimeZone::UTC, Some(100), false);
        assert_eq!(
            table,
            "ID  STARTED              DURATION  OUTCOME  KIND  OK  FAIL  UNREACH  PATTERN    COMMAND\n\
             \x209  2025-01-02 03:04:05         -  running  run    3     1        1  web:&prod  sleep 100\n\
             10  2025-01-02 03:04:05     2.31s  failed   run    3     1        1  web:&prod  systemctl is-active…\n"
        );
    }

    #[test]
    fn run_ids_are_numbers_or_last() {
        assert_eq!(parse_run_ref("last"), Ok(RunRef::Last));
        assert_eq!(parse_run_ref("42"), Ok(RunRef::Id(RunId(42))));
        assert!(parse_run_ref("0").is_err());
        assert!(
            parse_run_ref("latest")
                .unwrap_err()
                .contains("`latest` is not a run ID")
        );
    }
}
