//! `herd alerts [--test] [log]`: evaluate alerts.yml over the stored
//! metrics, notify on changes, and read the alert log back.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use jiff::tz::TimeZone;

use super::{Context, Format};
use crate::alerts::{self, AlertsConfig, Delivery, Evaluation, Notifier, Verdict};
use crate::report::text::{self, Paint};
use crate::report::{hostlist, json};
use crate::store::{AlertLogEntry, Store};

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
        write_dry_run(out, &evaluations, args.format)?;
        return Ok(0);
    }
    let notifier = Notifier::new(&config.notify);
    let (states, log, outcomes) = alerts::deliver(&evaluations, &notifier, now);
    store.save_alerts(&states, &log)?;
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o.delivery, Delivery::Failed(_)))
        .count();
    match args.format {
        Format::Json => {
            for e in &evaluations {
                let outcome = outcomes
                    .iter()
                    .find(|o| std::ptr::eq(o.evaluation, e))
                    .map(|o| (o.event.as_str(), o.delivery.as_str()));
                json::write_line(out, &evaluation_json(e, outcome))?;
            }
        }
        Format::Text => {
            for o in &outcomes {
                let told = match &o.delivery {
                    Delivery::Sent => "notified".to_string(),
                    Delivery::NoNotifier => "no notifier configured".to_string(),
                    Delivery::NotNeeded => "no notification needed".to_string(),
                    Delivery::Cooldown => "not notified: cooldown".to_string(),
                    Delivery::Failed(e) => format!("NOTIFICATION FAILED: {e}"),
                };
                let message = alerts::message(o.evaluation, o.event, o.transition);
                writeln!(out, "{:<8} {message}  [{told}]", o.event.as_str())?;
            }
            write_summary(out, &evaluations)?;
        }
    }
    if failed > 0 {
        eprintln!(
            "herd: {failed} notification(s) failed (recorded in `herd alerts log`); the next `herd alerts` tries again"
        );
        return Ok(crate::exit::ERROR);
    }
    Ok(0)
}

/// `--test`: what a real evaluation would do, from the same decisions.
fn write_dry_run(
    out: &mut impl Write,
    evaluations: &[Evaluation],
    format: Format,
) -> anyhow::Result<()> {
    for e in evaluations {
        let change = e.step.transition.or(match e.step.notice {
            alerts::Notice::Send(event) => Some(event),
            _ => None,
        });
        let notice = match e.step.notice {
            alerts::Notice::Nothing => "nothing",
            alerts::Notice::Send(_) => "would notify",
            alerts::Notice::Cooldown(_) => "cooldown",
        };
        match format {
            Format::Json => json::write_line(
                out,
                &evaluation_json(e, change.map(|c| (c.as_str(), notice))),
            )?,
            Format::Text => {
                if let Some(event) = change {
                    let message = alerts::message(e, event, e.step.transition.is_some());
                    writeln!(out, "would {:<8} {message}  [{notice}]", event.as_str())?;
                }
            }
        }
    }
    if format == Format::Text {
        write_summary(out, evaluations)?;
        writeln!(out, "(dry run: nobody notified, nothing saved)")?;
    }
    Ok(())
}

/// "firing: high_load on web[1-2]; pending: ..." or "nothing firing".
fn write_summary(out: &mut impl Write, evaluations: &[Evaluation]) -> std::io::Result<()> {
    let group = |keep: &dyn Fn(&Evaluation) -> bool| {
        let mut by_rule: Vec<(String, Vec<String>)> = Vec::new();
        for e in evaluations.iter().filter(|e| keep(e)) {
            match by_rule.iter_mut().find(|(name, _)| *name == e.rule.name) {
                Some((_, hosts)) => hosts.push(e.host.clone()),
                None => by_rule.push((e.rule.name.clone(), vec![e.host.clone()])),
            }
        }
        by_rule
            .iter()
            .map(|(name, hosts)| format!("{name} on {}", hostlist::compress(hosts)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let firing = group(&|e| e.step.state.firing);
    let pending = group(&|e| matches!(e.verdict, Verdict::Pending { .. }));
    let no_data = group(&|e| e.verdict == Verdict::NoData);
    if firing.is_empty() {
        writeln!(
            out,
            "nothing firing ({} alert(s) on {} host check(s))",
            evaluations
                .iter()
                .map(|e| &e.rule.name)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            evaluations.len()
        )?;
    } else {
        writeln!(out, "firing: {firing}")?;
    }
    if !pending.is_empty() {
        writeln!(out, "pending: {pending}")?;
    }
    if !no_data.is_empty() {
        writeln!(out, "no recent data: {no_data}")?;
    }
    Ok(())
}

fn evaluation_json(e: &Evaluation, change: Option<(&str, &str)>) -> serde_json::Value {
    let state = match e.verdict {
        Verdict::Firing { .. } => "firing",
        Verdict::Pending { .. } => "pending",
        Verdict::Ok { .. } => "ok",
        Verdict::NoData if e.step.state.firing => "firing",
        Verdict::NoData => "no_data",
    };
    serde_json::json!({
        "alert": e.rule.name,
        "host": e.host,
        "state": state,
        "firing": e.step.state.firing,
        "value": e.verdict.value(),
        "change": change.map(|c| c.0),
        "notification": change.map(|c| c.1),
    })
}

fn show_log(out: &mut impl Write, store: &Store, args: &LogArgs) -> anyhow::Result<u8> {
    let entries = store.alert_log(args.last)?;
    match args.format {
        Format::Json => entries.iter().try_for_each(|e| json::write_line(out, e))?,
        Format::Text if entries.is_empty() => {
            writeln!(out, "no alerts recorded yet in {}", store.path().display())?
        }
        Format::Text => {
            let tz = TimeZone::system();
            let color = super::color_enabled(std::io::stdout().is_terminal());
            for e in &entries {
                writeln!(out, "{}", log_line(e, &tz, color))?;
            }
        }
    }
    Ok(0)
}

/// "2026-01-31 14:00:05  fire     high_load fired on web1: ...  [warning; sent]".
fn log_line(e: &AlertLogEntry, tz: &TimeZone, color: bool) -> String {
    let told = match &e.error {
        Some(err) => format!("{}: {err}", e.notification),
        None => e.notification.clone(),
    };
    let paint = Paint::new(
        color,
        if e.event == "fire" {
            text::RED
        } else {
            text::GREEN
        },
    );
    format!(
        "{}  {} {}  [{}; {told}]",
        text::local_time(e.ts * 1000, tz),
        paint.apply(&format!("{:<8}", e.event)),
        e.message,
        e.severity
    )
}
