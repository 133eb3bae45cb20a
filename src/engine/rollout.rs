//! The rollout policy shared by `herd play` (`serial`,
//! `max_fail_percentage`) and `herd deploy` (`--serial`, `--canary`,
//! `--max-fail-percentage`): which hosts go in which batch, and when
//! failures stop the rollout before the next batch.

use crate::playbook::Serial;

/// How hosts are rolled out: in batches, and when to stop.
#[derive(Debug, Clone, Default)]
pub struct Rollout {
    /// Batch sizes, counts or percentages of the hosts; the last repeats.
    /// Empty: one batch of every host.
    pub serial: Vec<Serial>,
    /// One host alone first, then the batches.
    pub canary: bool,
    /// Stop when more than this percentage of a batch failed. `None`:
    /// stop only when every host of the batch failed (Ansible's rule for a
    /// play without `max_fail_percentage`).
    pub max_fail_percentage: Option<f64>,
}

/// Failures that stop the rollout, for the caller's message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub failed: usize,
    pub batch: usize,
    /// `failed` as a percentage of `batch`.
    pub percent: f64,
}

impl Rollout {
    /// The batches, in order: with `canary`, the first host alone, then
    /// the rest in `serial` batches (a percentage is of the rest).
    pub fn batches<T: Clone>(&self, hosts: &[T]) -> Vec<Vec<T>> {
        if self.canary && hosts.len() > 1 {
            let mut out = vec![vec![hosts[0].clone()]];
            out.extend(serial_batches(&hosts[1..], &self.serial));
            return out;
        }
        serial_batches(hosts, &self.serial)
    }

    /// Whether `failed` of a batch of `batch` hosts stop the rollout: above
    /// `max_fail_percentage` when it is set, else when every host failed.
    pub fn stops(&self, failed: usize, batch: usize) -> Option<Stop> {
        let percent = failed as f64 * 100.0 / batch.max(1) as f64;
        let stop = match self.max_fail_percentage {
            Some(limit) => failed > 0 && percent > limit,
            None => batch > 0 && failed == batch,
        };
        stop.then_some(Stop {
            failed,
            batch,
            percent,
        })
    }
}

/// Splits hosts into `serial` batches (the last size repeats).
fn serial_batches<T: Clone>(hosts: &[T], serial: &[Serial]) -> Vec<Vec<T>> {
    if serial.is_empty() || hosts.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut out = Vec::new();
    let mut rest = hosts;
    let mut i = 0;
    while !rest.is_empty() {
        let size = match serial[i.min(serial.len() - 1)] {
            Serial::Count(n) => n,
            Serial::Percent(p) => ((hosts.len() as f64 * p / 100.0).floor() as usize).max(1),
        }
        .max(1)
        .min(rest.len());
        out.push(rest[..size].to_vec());
        rest = &rest[size..];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn sizes(rollout: &Rollout, n: usize) -> Vec<usize> {
        rollout.batches(&names(n)).iter().map(Vec::len).collect()
    }

    #[test]
    fn serial_batches_repeat_the_last_size() {
        let serial = vec![Serial::Count(1), Serial::Count(2)];
        let rollout = Rollout {
            serial,
            ..Rollout::default()
        };
        assert_eq!(sizes(&rollout, 7), [1, 2, 2, 2]);
        let rollout = Rollout {
            serial: vec![Serial::Percent(30.0)],
            ..Rollout::default()
        };
        assert_eq!(sizes(&rollout, 10), [3, 3, 3, 1]);
        assert_eq!(sizes(&Rollout::default(), 3), [3]);
        assert_eq!(sizes(&Rollout::default(), 0), [0]);
    }

    #[test]
    fn a_canary_goes_alone_first_and_percentages_are_of_the_rest() {
        let rollout = Rollout {
            serial: vec![Serial::Percent(50.0)],
            canary: true,
            ..Rollout::default()
        };
        assert_eq!(rollout.batches(&names(5))[0], ["h1"]);
        assert_eq!(sizes(&rollout, 5), [1, 2, 2]);
        // One host: the canary is the whole rollout.
        assert_eq!(sizes(&rollout, 1), [1]);
        let all_at_once = Rollout {
            canary: true,
            ..Rollout::default()
        };
        assert_eq!(sizes(&all_at_once, 4), [1, 3]);
    }

    #[test]
    fn failures_stop_above_the_percentage_not_at_it() {
        let rollout = Rollout {
            max_fail_percentage: Some(50.0),
            ..Rollout::default()
        };
        assert_eq!(rollout.stops(2, 4), None);
        assert_eq!(
            rollout.stops(3, 4),
            Some(Stop {
                failed: 3,
                batch: 4,
                percent: 75.0
            })
        );
        // 0%: the first failure stops it; no failure never does.
        let strict = Rollout {
            max_fail_percentage: Some(0.0),
            ..Rollout::default()
        };
        assert!(strict.stops(1, 10).is_some());
        assert!(strict.stops(0, 10).is_none());
        // 100%: nothing stops it.
        let lenient = Rollout {
            max_fail_percentage: Some(100.0),
            ..Rollout::default()
        };
        assert!(lenient.stops(4, 4).is_none());
    }

    #[test]
    fn without_a_percentage_only_a_wholly_failed_batch_stops() {
        let rollout = Rollout::default();
        assert!(rollout.stops(3, 4).is_none());
        assert!(rollout.stops(4, 4).is_some());
        assert!(rollout.stops(0, 0).is_none());
    }
}
