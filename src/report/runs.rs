//! `herd runs` output, read back from the store: the table of recent runs,
//! and one run's summary with its task results and hosts' results.

use std::io::Write;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::escape::for_terminal;
use super::text;
use crate::engine::RunOutcome;
use crate::store::{RunDetail, RunSummary, TaskRecord};

/// The run's summary, then its hosts' results as `herd run` prints them.
pub fn write_detail(
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
pub fn write_tasks(
    out: &mut impl Write,
    tasks: &[TaskRecord],
    terminal: bool,
) -> std::io::Result<()> {
    for task in super::tasks::by_task(tasks) {
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
pub fn format_table(
    runs: &[RunSummary],
    tz: &TimeZone,
    width: Option<usize>,
    color: bool,
) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunId;

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
}
