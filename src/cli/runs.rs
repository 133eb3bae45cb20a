//! `herd runs [show ID]`: what herd did, read back from the results store.

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::{BadInput, Context, Format};
use crate::report::json;
use crate::report::runs::{format_table, write_detail, write_tasks};
use crate::report::text;
use crate::store::{RunDetail, RunId, Store};

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
