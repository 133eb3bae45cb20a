//! `herd alerts` output: the changes an evaluation made and whom they told
//! (or would, with `--test`), what is firing, and the alert log.

use std::io::{self, Write};

use jiff::tz::TimeZone;

use super::hostlist::compress;
use super::json;
use super::text::{self, Paint};
use crate::alerts::{self, Delivery, Evaluation, Outcome, Verdict};
use crate::store::AlertLogEntry;

/// What `herd alerts` did: each change and whom it told (or one JSON
/// object per alert and host), then what is firing.
pub fn write_outcomes(
    out: &mut impl Write,
    evaluations: &[Evaluation],
    outcomes: &[Outcome],
    json: bool,
) -> io::Result<()> {
    if json {
        for e in evaluations {
            let outcome = outcomes
                .iter()
                .find(|o| std::ptr::eq(o.evaluation, e))
                .map(|o| (o.event.as_str(), o.delivery.as_str()));
            json::write_line(out, &evaluation_json(e, outcome))?;
        }
        return Ok(());
    }
    for o in outcomes {
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
    write_summary(out, evaluations)
}

/// `--test`: what a real evaluation would do, from the same decisions.
pub fn write_dry_run(
    out: &mut impl Write,
    evaluations: &[Evaluation],
    json: bool,
) -> io::Result<()> {
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
        if json {
            json::write_line(
                out,
                &evaluation_json(e, change.map(|c| (c.as_str(), notice))),
            )?;
        } else if let Some(event) = change {
            let message = alerts::message(e, event, e.step.transition.is_some());
            writeln!(out, "would {:<8} {message}  [{notice}]", event.as_str())?;
        }
    }
    if !json {
        write_summary(out, evaluations)?;
        writeln!(out, "(dry run: nobody notified, nothing saved)")?;
    }
    Ok(())
}

/// "firing: high_load on web[1-2]; pending: ..." or "nothing firing".
fn write_summary(out: &mut impl Write, evaluations: &[Evaluation]) -> io::Result<()> {
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
            .map(|(name, hosts)| format!("{name} on {}", compress(hosts)))
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

/// The alert log, newest first: a line per entry, or JSON lines.
pub fn write_log(
    out: &mut impl Write,
    entries: &[AlertLogEntry],
    json: bool,
    tz: &TimeZone,
    color: bool,
) -> io::Result<()> {
    for e in entries {
        if json {
            json::write_line(out, e)?;
        } else {
            writeln!(out, "{}", log_line(e, tz, color))?;
        }
    }
    Ok(())
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
