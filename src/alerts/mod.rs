//! `herd alerts`: threshold rules from `alerts.yml` evaluated over the
//! metric series `herd collect` stores, with a firing/resolved state per
//! alert and host, notifications on changes (held back by a cooldown so a
//! flapping host does not spam) and a log, all kept in the store.
//!
//! An evaluation is two halves: [`evaluate`] reads the store and decides
//! (it changes nothing, which is all `--test` runs), [`deliver`] sends the
//! notices and returns what to save.

pub mod config;
pub mod evaluate;
pub mod notify;

use std::collections::HashMap;

use serde_json::json;

pub use config::{AlertsConfig, CONFIG_FILE, Condition, Rule, Seconds};
pub use evaluate::{Event, Notice, Point, Step, Verdict};
pub use notify::Notifier;

use crate::inventory::{Inventory, PatternError};
use crate::store::{AlertLogEntry, AlertState, Store, StoreError};

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An alert's `hosts:` pattern is wrong.
    #[error("{path}: alert `{alert}`: hosts: {source}")]
    Hosts {
        path: std::path::PathBuf,
        alert: String,
        source: PatternError,
    },
}

/// One alert on one host, decided.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub rule: &'a Rule,
    pub host: String,
    pub verdict: Verdict,
    pub step: Step,
}

/// Evaluates every rule on every host its pattern selects, as of `now`.
pub fn evaluate<'a>(
    config: &'a AlertsConfig,
    inventory: &Inventory,
    store: &Store,
    now: i64,
) -> Result<Vec<Evaluation<'a>>, EvalError> {
    let previous: HashMap<(String, String), AlertState> = store
        .alert_states()?
        .into_iter()
        .map(|s| ((s.alert.clone(), s.host.clone()), s))
        .collect();
    let mut out = Vec::new();
    for rule in &config.rules {
        let hosts = inventory
            .select(&rule.hosts, None)
            .map_err(|source| EvalError::Hosts {
                path: config.path.clone(),
                alert: rule.name.clone(),
                source,
            })?;
        let since = now - rule.for_.0 - config.stale_after.0;
        // Every host's points, keyed by host: a set lookup per sample keeps
        // this linear on large fleets (`samples` filters by list scan).
        let mut series: HashMap<String, Vec<Point>> = HashMap::new();
        match &rule.condition {
            Condition::Threshold { metric, op, value } => {
                for s in store.samples(&[], metric, since, now)? {
                    series.entry(s.host).or_default().push(Point {
                        ts: s.ts,
                        breach: op.holds(s.value, *value),
                        value: Some(s.value),
                    });
                }
            }
            Condition::Unreachable => {
                for r in store.reach_between(since, now)? {
                    series.entry(r.host).or_default().push(Point {
                        ts: r.ts,
                        breach: !r.reachable,
                        value: None,
                    });
                }
            }
        }
        for host in hosts {
            let points = series.remove(&host).unwrap_or_default();
            let verdict = evaluate::judge(&points, now, rule.for_, config.stale_after);
            let prev = previous.get(&(rule.name.clone(), host.clone()));
            let step = evaluate::step(&rule.name, &host, prev, verdict, rule.cooldown, now);
            out.push(Evaluation {
                rule,
                host,
                verdict,
                step,
            });
        }
    }
    Ok(out)
}

/// What happened to one notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// No notifier configured: recorded as told.
    NoNotifier,
    /// The admin already knows the state (a flap back within a cooldown)
    /// or was never told of it.
    NotNeeded,
    Cooldown,
    Failed(String),
}

impl Delivery {
    pub fn as_str(&self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::NoNotifier => "none",
            Delivery::NotNeeded => "not needed",
            Delivery::Cooldown => "cooldown",
            Delivery::Failed(_) => "failed",
        }
    }
}

/// A change worth a line in the output and the log.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub evaluation: &'a Evaluation<'a>,
    pub event: Event,
    /// False when this is a notice delayed by a cooldown or a failure.
    pub transition: bool,
    pub delivery: Delivery,
}

/// Sends the notices `evaluations` call for and returns the states and log
/// lines to save, and the changes to show. A failed notice leaves the state
/// "not told", so the next evaluation tries again.
pub fn deliver<'a>(
    evaluations: &'a [Evaluation<'a>],
    notifier: &Notifier,
    now: i64,
) -> (Vec<AlertState>, Vec<AlertLogEntry>, Vec<Outcome<'a>>) {
    let mut states = Vec::with_capacity(evaluations.len());
    let mut log = Vec::new();
    let mut outcomes = Vec::new();
    for evaluation in evaluations {
        let step = &evaluation.step;
        let mut state = step.state.clone();
        let delivery = match step.notice {
            Notice::Nothing => None,
            Notice::Cooldown(_) => Some(Delivery::Cooldown),
            Notice::Send(event) => {
                let result = if notifier.is_configured() {
                    notifier
                        .send(&event_json(evaluation, event, now))
                        .map(|()| Delivery::Sent)
                        .unwrap_or_else(Delivery::Failed)
                } else {
                    Delivery::NoNotifier
                };
                if !matches!(result, Delivery::Failed(_)) {
                    state.notified_event = Some(event.as_str().to_string());
                    state.notified_at = Some(now);
                }
                Some(result)
            }
        };
        let event = match (step.transition, step.notice) {
            (Some(event), _) => Some((event, true)),
            (None, Notice::Send(event)) => Some((event, false)),
            _ => None,
        };
        if let Some((event, transition)) = event {
            let delivery = delivery.unwrap_or(Delivery::NotNeeded);
            if let Delivery::Failed(e) = &delivery {
                tracing::warn!(alert = %evaluation.rule.name, host = %evaluation.host, "notification failed: {e}");
            }
            log.push(AlertLogEntry {
                ts: now,
                alert: evaluation.rule.name.clone(),
                host: evaluation.host.clone(),
                event: event.as_str().to_string(),
                severity: evaluation.rule.severity.clone(),
                value: evaluation.verdict.value(),
                message: message(evaluation, event, transition),
                notification: delivery.as_str().to_string(),
                error: match &delivery {
                    Delivery::Failed(e) => Some(e.clone()),
                    _ => None,
                },
            });
            outcomes.push(Outcome {
                evaluation,
                event,
                transition,
                delivery,
            });
        }
        states.push(state);
    }
    (states, log, outcomes)
}

/// "high_load fired on web1: load.1 = 5.2 (rule: load.1 > 4 for 5m)".
pub fn message(evaluation: &Evaluation, event: Event, transition: bool) -> String {
    let rule = evaluation.rule;
    let verb = match event {
        Event::Fire => "fired",
        Event::Resolve => "resolved",
    };
    let value = match (&rule.condition, evaluation.verdict.value()) {
        (Condition::Threshold { metric, .. }, Some(v)) => format!(": {metric} = {v}"),
        _ => String::new(),
    };
    let late = if transition {
        ""
    } else {
        " (delayed notification)"
    };
    format!(
        "{} {verb} on {}{value} (rule: {}){late}",
        rule.name,
        evaluation.host,
        rule.describe()
    )
}

/// The JSON a notifier receives.
pub fn event_json(evaluation: &Evaluation, event: Event, now: i64) -> serde_json::Value {
    let rule = evaluation.rule;
    let (metric, op, threshold) = match &rule.condition {
        Condition::Threshold { metric, op, value } => {
            (Some(metric.as_str()), Some(op.as_str()), Some(*value))
        }
        Condition::Unreachable => (None, None, None),
    };
    let time = jiff::Timestamp::from_second(now)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "alert": rule.name,
        "host": evaluation.host,
        "event": event,
        "severity": rule.severity,
        "condition": rule.describe(),
        "metric": metric,
        "op": op,
        "threshold": threshold,
        "unreachable": matches!(rule.condition, Condition::Unreachable),
        "value": evaluation.verdict.value(),
        "since": evaluation.step.state.since,
        "time": now,
        "time_rfc3339": time,
        "message": message(evaluation, event, evaluation.step.transition.is_some()),
    })
}

crate::exit::code!(EvalError, |err| match err {
    EvalError::Hosts { .. } => crate::exit::BAD_INPUT,
    EvalError::Store(_) => crate::exit::ERROR,
});
