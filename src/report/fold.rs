//! Folding identical results, like `clush -b` / `dshbak -c`: on a hundred
//! hosts the interesting thing is how many different answers there were.
//!
//! Groups come in this order: ok, failed, unreachable, interrupted, so the
//! problems are printed last, nearest the prompt and the recap; within one
//! status, by the natural order of the group's first host. Hosts inside a
//! group are in natural order too.

use std::collections::HashMap;

use super::hostlist::natural_cmp;
use crate::engine::{HostResult, HostStatus};

/// Hosts that produced exactly the same result.
#[derive(Debug, Clone, PartialEq)]
pub struct Group<'a> {
    pub hosts: Vec<&'a str>,
    pub status: HostStatus,
    pub exit_code: Option<i32>,
    pub stdout: &'a str,
    pub stderr: &'a str,
    pub error: Option<&'a str>,
}

impl<'a> Group<'a> {
    /// A group of one host.
    pub fn of(r: &'a HostResult) -> Group<'a> {
        Group {
            hosts: vec![&r.host],
            status: r.status,
            exit_code: r.exit_code,
            stdout: &r.stdout,
            stderr: &r.stderr,
            error: r.error.as_deref(),
        }
    }
}

type Key<'a> = (HostStatus, Option<i32>, &'a str, &'a str, Option<&'a str>);

/// Groups hosts whose status, exit code, stdout, stderr and error are all
/// identical.
pub fn fold(results: &[HostResult]) -> Vec<Group<'_>> {
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for r in results {
        let key = (
            r.status,
            r.exit_code,
            r.stdout.as_str(),
            r.stderr.as_str(),
            r.error.as_deref(),
        );
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Group {
                hosts: Vec::new(),
                status: r.status,
                exit_code: r.exit_code,
                stdout: &r.stdout,
                stderr: &r.stderr,
                error: r.error.as_deref(),
            });
            groups.len() - 1
        });
        groups[i].hosts.push(&r.host);
    }
    for g in &mut groups {
        g.hosts.sort_by(|a, b| natural_cmp(a, b));
    }
    groups.sort_by(|a, b| {
        status_rank(a.status)
            .cmp(&status_rank(b.status))
            .then_with(|| natural_cmp(a.hosts[0], b.hosts[0]))
    });
    groups
}

/// Problems last: they are what the admin reads next.
pub fn status_rank(status: HostStatus) -> u8 {
    match status {
        HostStatus::Ok => 0,
        HostStatus::Failed => 1,
        HostStatus::Unreachable => 2,
        HostStatus::Interrupted => 3,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn r(host: &str, status: HostStatus, code: Option<i32>, out: &str) -> HostResult {
        let error = (status == HostStatus::Unreachable).then(|| "connection refused".into());
        let duration = Duration::from_millis(10 * host.len() as u64);
        HostResult {
            exit_code: code,
            stdout: out.into(),
            ..HostResult::without_output(host, status, error, duration)
        }
    }

    #[test]
    fn identical_results_fold_and_problems_come_last() {
        let results = vec![
            r("web10", HostStatus::Ok, Some(0), "active\n"),
            r("db1", HostStatus::Unreachable, None, ""),
            r("web2", HostStatus::Failed, Some(3), "inactive\n"),
            r("web1", HostStatus::Ok, Some(0), "active\n"),
            r("web3", HostStatus::Ok, Some(0), "activating\n"),
            r("web4", HostStatus::Failed, Some(3), "inactive\n"),
        ];
        let groups = fold(&results);
        let summary: Vec<(Vec<&str>, HostStatus, &str)> = groups
            .iter()
            .map(|g| (g.hosts.clone(), g.status, g.stdout))
            .collect();
        assert_eq!(
            summary,
            vec![
                (vec!["web1", "web10"], HostStatus::Ok, "active\n"),
                (vec!["web3"], HostStatus::Ok, "activating\n"),
                (vec!["web2", "web4"], HostStatus::Failed, "inactive\n"),
                (vec!["db1"], HostStatus::Unreachable, ""),
            ]
        );
        assert_eq!(groups[3].error, Some("connection refused"));
    }

    #[test]
    fn same_output_with_different_exit_codes_or_stderr_stays_apart() {
        let mut other_stderr = r("c", HostStatus::Failed, Some(1), "x\n");
        other_stderr.stderr = "warning\n".into();
        let results = vec![
            r("a", HostStatus::Failed, Some(1), "x\n"),
            r("b", HostStatus::Failed, Some(2), "x\n"),
            other_stderr,
            r("d", HostStatus::Failed, Some(1), "x\n"),
        ];
        let hosts: Vec<Vec<&str>> = fold(&results).into_iter().map(|g| g.hosts).collect();
        assert_eq!(hosts, vec![vec!["a", "d"], vec!["b"], vec!["c"]]);
    }
}
