//! The fleet at a glance from the latest collection: each host's state,
//! load, CPU, memory, fullest disk and last contact, worst first. `herd
//! status`, `herd report` and `herd serve` all show these rows.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use super::hostlist::natural_cmp;
use crate::collect::when::format_age;
use crate::store::{Store, StoreError};

/// One host's line (also the fleet table of `herd report`).
#[derive(Debug, serde::Serialize)]
pub struct HostStatus {
    pub host: String,
    /// `up`, `down` (unreachable at its latest collection) or `unknown`
    /// (never collected).
    pub state: &'static str,
    /// When its latest collection was.
    pub checked_at: Option<i64>,
    /// When it last answered.
    pub last_seen: Option<i64>,
    pub error: Option<String>,
    pub load1: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    /// The fullest disk's use and mount point.
    pub disk_pct: Option<f64>,
    pub disk_mount: Option<String>,
    /// Every metric's newest value.
    pub metrics: BTreeMap<String, f64>,
}

impl HostStatus {
    /// How bad it looks: the highest of CPU, memory and disk use.
    fn pressure(&self) -> f64 {
        [self.cpu_pct, self.mem_pct, self.disk_pct]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max)
    }

    fn rank(&self) -> u8 {
        match self.state {
            "down" => 0,
            "unknown" => 1,
            _ => 2,
        }
    }
}

/// Down first, then never collected, then by pressure; then by name.
fn worst_first(a: &HostStatus, b: &HostStatus) -> Ordering {
    a.rank()
        .cmp(&b.rank())
        .then(
            b.pressure()
                .partial_cmp(&a.pressure())
                .unwrap_or(Ordering::Equal),
        )
        .then_with(|| natural_cmp(&a.host, &b.host))
}

/// `hosts`' status from the latest collection, worst first.
pub fn fleet_status(store: &Store, hosts: Vec<String>) -> Result<Vec<HostStatus>, StoreError> {
    let reach: HashMap<String, _> = store
        .latest_reach()?
        .into_iter()
        .map(|r| (r.host.clone(), r))
        .collect();
    let mut metrics: HashMap<String, BTreeMap<String, f64>> = HashMap::new();
    for s in store.latest_samples()? {
        metrics.entry(s.host).or_default().insert(s.metric, s.value);
    }
    let last_seen = store.last_seen_all()?;
    let mut rows = Vec::with_capacity(hosts.len());
    for host in hosts {
        let r = reach.get(&host);
        let m = metrics.remove(&host).unwrap_or_default();
        let disk = m
            .iter()
            .filter_map(|(k, v)| {
                let mount = k.strip_prefix("disk.")?.strip_suffix(".used_pct")?;
                Some((mount.to_string(), *v))
            })
            .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal));
        rows.push(HostStatus {
            state: match r {
                None => "unknown",
                Some(r) if r.reachable => "up",
                Some(_) => "down",
            },
            checked_at: r.map(|r| r.ts),
            last_seen: last_seen.get(&host).copied(),
            error: r.and_then(|r| r.error.clone()),
            load1: m.get("load.1").copied(),
            cpu_pct: m.get("cpu.used_pct").copied(),
            mem_pct: m.get("mem.used_pct").copied(),
            disk_pct: disk.as_ref().map(|d| d.1),
            disk_mount: disk.map(|d| d.0),
            metrics: m,
            host,
        });
    }
    rows.sort_by(worst_first);
    Ok(rows)
}

/// The alerts firing now on each host, by host.
pub fn firing_by_host(store: &Store) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut firing: HashMap<String, Vec<String>> = HashMap::new();
    for state in store.alert_states()?.into_iter().filter(|s| s.firing) {
        firing.entry(state.host).or_default().push(state.alert);
    }
    Ok(firing)
}

/// `herd status`'s table: a row per host, `now` for the LAST SEEN ages.
pub fn write_table(out: &mut impl Write, rows: &[HostStatus], now: i64) -> io::Result<()> {
    if rows.iter().all(|r| r.state == "unknown") {
        writeln!(out, "no collection yet: run `herd collect` first")?;
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}%"));
    let mut table = vec![
        [
            "HOST",
            "STATE",
            "LOAD",
            "CPU",
            "MEM",
            "DISK",
            "LAST SEEN",
            "NOTE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        table.push(vec![
            r.host.clone(),
            r.state.to_uppercase(),
            r.load1.map_or("-".into(), |v| format!("{v:.2}")),
            pct(r.cpu_pct),
            pct(r.mem_pct),
            match (&r.disk_pct, &r.disk_mount) {
                (Some(p), Some(m)) => format!("{p:.0}% {m}"),
                _ => "-".into(),
            },
            r.last_seen
                .map_or("never".into(), |t| format!("{} ago", format_age(now - t))),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    super::table::write(out, &table, &[2, 3, 4])
}
