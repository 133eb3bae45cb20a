//! Deciding, for one alert on one host: does it fire now (judge), and what
//! changes and who is told (step). Pure functions of the stored series, the
//! previous state and the time, so `--test` and the real run agree.

use serde::Serialize;

use super::config::Seconds;
use crate::store::AlertState;

/// One stored observation: when, whether it breaks the rule, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub breach: bool,
    pub value: Option<f64>,
}

/// What the series says about now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The rule has been broken for at least its `for`, since `since`.
    Firing { since: i64, value: Option<f64> },
    /// Broken since `since`, but not yet for long enough.
    Pending { since: i64, value: Option<f64> },
    /// The latest observation is fine.
    Ok { value: Option<f64> },
    /// Nothing recent enough to say: the state is kept as it was.
    NoData,
}

impl Verdict {
    pub fn value(&self) -> Option<f64> {
        match *self {
            Verdict::Firing { value, .. }
            | Verdict::Pending { value, .. }
            | Verdict::Ok { value } => value,
            Verdict::NoData => None,
        }
    }
}

/// Judges `points` (oldest first, none after `now`): the latest one must be
/// newer than `stale_after`; it fires when every point from the start of
/// the latest unbroken run of breaches to now breaks the rule and that run
/// began at least `for_` ago.
pub fn judge(points: &[Point], now: i64, for_: Seconds, stale_after: Seconds) -> Verdict {
    let Some(latest) = points.last() else {
        return Verdict::NoData;
    };
    if latest.ts < now - stale_after.0 {
        return Verdict::NoData;
    }
    if !latest.breach {
        return Verdict::Ok {
            value: latest.value,
        };
    }
    let run = points.iter().rev().take_while(|p| p.breach).count();
    let since = points[points.len() - run].ts;
    if now - since >= for_.0 {
        Verdict::Firing {
            since,
            value: latest.value,
        }
    } else {
        Verdict::Pending {
            since,
            value: latest.value,
        }
    }
}

/// A change of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Fire,
    Resolve,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fire => "fire",
            Event::Resolve => "resolve",
        }
    }
}

/// Whether the admin is told now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing new to tell.
    Nothing,
    Send(Event),
    /// Owed, but the last notification was less than the cooldown ago; it
    /// is sent by a later evaluation if the state still differs then.
    Cooldown(Event),
}

/// One alert on one host after an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The new state; the caller marks it notified once a notice is sent.
    pub state: AlertState,
    /// Set when the alert started or stopped firing in this evaluation.
    pub transition: Option<Event>,
    pub notice: Notice,
}

/// The next state of `alert` on `host` given the verdict and the previous
/// state. The admin is told about the state itself, not each flap: a
/// notice is owed while the state differs from what they were last told,
/// and waits out the cooldown since the last one, so fire-resolve-fire
/// within a cooldown sends one notification.
pub fn step(
    alert: &str,
    host: &str,
    previous: Option<&AlertState>,
    verdict: Verdict,
    cooldown: Seconds,
    now: i64,
) -> Step {
    let was_firing = previous.is_some_and(|s| s.firing);
    let firing = match verdict {
        Verdict::Firing { .. } => true,
        Verdict::Pending { .. } | Verdict::Ok { .. } => false,
        Verdict::NoData => was_firing,
    };
    let transition = match (was_firing, firing) {
        (false, true) => Some(Event::Fire),
        (true, false) => Some(Event::Resolve),
        _ => None,
    };
    let notified_event = previous.and_then(|s| s.notified_event.clone());
    let notified_at = previous.and_then(|s| s.notified_at);
    let told_firing = notified_event.as_deref() == Some(Event::Fire.as_str());
    let owed = match (firing, told_firing) {
        (true, false) => Some(Event::Fire),
        (false, true) => Some(Event::Resolve),
        _ => None,
    };
    let notice = match owed {
        None => Notice::Nothing,
        Some(event) if notified_at.is_some_and(|at| now - at < cooldown.0) => {
            Notice::Cooldown(event)
        }
        Some(event) => Notice::Send(event),
    };
    let since = match (transition, previous) {
        (None, Some(prev)) => prev.since,
        _ => now,
    };
    Step {
        state: AlertState {
            alert: alert.to_string(),
            host: host.to_string(),
            firing,
            since,
            value: verdict.value().or(previous.and_then(|s| s.value)),
            notified_event,
            notified_at,
        },
        transition,
        notice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(series: &[(i64, bool)]) -> Vec<Point> {
        series
            .iter()
            .map(|&(ts, breach)| Point {
                ts,
                breach,
                value: Some(if breach { 9.0 } else { 1.0 }),
            })
            .collect()
    }

    const HOUR: Seconds = Seconds(3600);

    #[test]
    fn fires_only_after_the_breach_has_lasted_for() {
        let series = points(&[(0, false), (300, true), (600, true)]);
        // Broken since 300: at 700 that is 400s, enough for 5m, not for 10m.
        assert!(matches!(
            judge(&series, 700, Seconds(300), HOUR),
            Verdict::Firing { since: 300, .. }
        ));
        assert!(matches!(
            judge(&series, 700, Seconds(600), HOUR),
            Verdict::Pending { since: 300, .. }
        ));
        // No `for`: the latest sample decides.
        let ok_now = points(&[(0, true), (300, false)]);
        assert!(matches!(
            judge(&ok_now, 310, Seconds(0), HOUR),
            Verdict::Ok { .. }
        ));
        // Stale or missing data says nothing.
        assert_eq!(
            judge(&series, 600 + 3601, Seconds(0), HOUR),
            Verdict::NoData
        );
        assert_eq!(judge(&[], 10, Seconds(0), HOUR), Verdict::NoData);
    }

    fn state(firing: bool, notified: Option<(&str, i64)>) -> AlertState {
        AlertState {
            alert: "a".into(),
            host: "h".into(),
            firing,
            since: 0,
            value: None,
            notified_event: notified.map(|(e, _)| e.to_string()),
            notified_at: notified.map(|(_, at)| at),
        }
    }

    const FIRING: Verdict = Verdict::Firing {
        since: 0,
        value: Some(9.0),
    };
    const OK: Verdict = Verdict::Ok { value: Some(1.0) };

    #[test]
    fn flapping_within_cooldown_is_told_once() {
        let cooldown = Seconds(1800);
        // First breach: fire and tell.
        let s = step("a", "h", None, FIRING, cooldown, 100);
        assert_eq!(
            (s.transition, s.notice),
            (Some(Event::Fire), Notice::Send(Event::Fire))
        );
        // It clears within the cooldown: a transition, the notice waits.
        let told = state(true, Some(("fire", 100)));
        let s = step("a", "h", Some(&told), OK, cooldown, 200);
        assert_eq!(
            (s.transition, s.notice),
            (Some(Event::Resolve), Notice::Cooldown(Event::Resolve))
        );
        // ... and breaks again: nothing is owed, they already know it fires.
        let s = step("a", "h", Some(&s.state), FIRING, cooldown, 300);
        assert_eq!(
            (s.transition, s.notice),
            (Some(Event::Fire), Notice::Nothing)
        );
        // Still ok after the cooldown: the resolve is sent then.
        let resolved = state(false, Some(("fire", 100)));
        let s = step("a", "h", Some(&resolved), OK, cooldown, 100 + 1800);
        assert_eq!(
            (s.transition, s.notice),
            (None, Notice::Send(Event::Resolve))
        );
        // Never told and never fired: nothing to resolve.
        let s = step("a", "h", None, OK, cooldown, 100);
        assert_eq!((s.transition, s.notice), (None, Notice::Nothing));
        // No data keeps the state.
        let s = step("a", "h", Some(&told), Verdict::NoData, cooldown, 5000);
        assert!(s.state.firing);
        assert_eq!((s.transition, s.notice), (None, Notice::Nothing));
    }
}
