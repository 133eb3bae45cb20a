//! `herd alerts [--test] [log]`: evaluate alerts.yml over the stored
//! metrics, notify on changes, and read the alert log back.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::{Context, Format};
use crate::alerts::{self, AlertsConfig, Delivery, Notifier};
use crate::report;
use crate::store::Store;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    /// Alert rules [default: alerts.yml beside herd.toml, else in the current directory].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dry run: print what would fire or resolve; notify nobody, save nothing.
    #[arg(long)]
    pub test: bool,
    /// Evaluate as of TIME (RFC 3339 or unix seconds) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<i64>,
    /// Output format: lines for people, or one JSON object per alert and host.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Show the alert log (fired, resolved, who was told), newest first.
    Log(LogArgs),
}

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// How many entries to show.
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = 50)]
    pub last: usize,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            format!("`{text}` is not a time: give unix seconds or e.g. 2026-01-31T14:00:00Z")
        })
}

pub fn execute(ctx: &Context, args: AlertsArgs) -> anyhow::Result<u8> {
    let store = ctx.store()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = match args.command {
        Some(AlertsCommand::Log(log)) => show_log(&mut out, &store, &log),
        None => evaluate(ctx, store, &args, &mut out),
    };
    let code = result.and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match code {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(0)
        }
        other => other,
    }
}

fn evaluate(
    ctx: &Context,
    mut store: Store,
    args: &AlertsArgs,
    out: &mut impl Write,
) -> anyhow::Result<u8> {
    let path = match &args.config {
        Some(path) => path.clone(),
        None => match &ctx.project.root {
            Some(root) => root.join(alerts::CONFIG_FILE),
            None => std::env::current_dir()
                .context("cannot read the current directory")?
                .join(alerts::CONFIG_FILE),
        },
    };
    let config = AlertsConfig::load(&path)?;
    let now = args
        .at
        .unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let evaluations = alerts::evaluate(&config, ctx.inventory()?, &store, now)?;
    if args.test {
        report::alerts::write_dry_run(out, &evaluations, args.format == Format::Json)?;
        return Ok(0);
    }
    let notifier = Notifier::new(&config.notify);
    let (states, log, outcomes) = alerts::deliver(&evaluations, &notifier, now);
    store.save_alerts(&states, &log)?;
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o.delivery, Delivery::Failed(_)))
        .count();
    report::alerts::write_outcomes(out, &evaluations, &outcomes, args.format == Format::Json)?;
    if failed > 0 {
        eprintln!(
            "herd: {failed} notification(s) failed (recorded in `herd alerts log`); the next `herd alerts` tries again"
        );
        return Ok(crate::exit::ERROR);
    }
    Ok(0)
}

fn show_log(out: &mut impl Write, store: &Store, args: &LogArgs) -> anyhow::Result<u8> {
    let entries = store.alert_log(args.last)?;
    if entries.is_empty() && args.format == Format::Text {
        writeln!(out, "no alerts recorded yet in {}", store.path().display())?;
    } else {
        let color = super::color_enabled(std::io::stdout().is_terminal());
        let json = args.format == Format::Json;
        report::alerts::write_log(out, &entries, json, &TimeZone::system(), color)?;
    }
    Ok(0)
}
