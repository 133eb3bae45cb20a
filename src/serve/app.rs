//! What every request shares: where the store is, the inventory (hosts
//! and groups), the page templates, and a few read-only store handles.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use jiff::tz::TimeZone;

use super::Token;
use super::params::BadRequest;
use crate::inventory::Inventory;
use crate::report::fleet::{self, HostStatus};
use crate::store::{Store, StoreError};

/// Read-only store handles kept for reuse (each caches its prepared
/// statements); more are opened when requests overlap.
const POOL: usize = 4;

/// How `herd serve` was asked to run.
pub struct Settings {
    /// The state directory holding herd.db.
    pub state_dir: PathBuf,
    /// Hosts and groups; `None` without an inventory (the store's hosts
    /// are the fleet then).
    pub inventory: Option<Inventory>,
    pub token: Option<Token>,
    /// Seconds between live refreshes of the fleet page and running runs.
    pub refresh: u64,
}

pub struct App {
    pub settings: Settings,
    pub templates: minijinja::Environment<'static>,
    pub tz: TimeZone,
    pool: Mutex<Vec<Store>>,
}

/// The fleet as one page or API answer shows it.
pub struct FleetView {
    pub rows: Vec<HostStatus>,
    pub firing: HashMap<String, Vec<String>>,
    pub releases: HashMap<String, String>,
}

impl App {
    /// Checks that the store can be read, then gets ready to serve.
    pub fn new(settings: Settings) -> Result<App, StoreError> {
        let store = Store::open_read_only(&settings.state_dir)?;
        Ok(App {
            templates: super::pages::templates(),
            tz: TimeZone::system(),
            pool: Mutex::new(vec![store]),
            settings,
        })
    }

    /// Runs `f` with a read-only store handle.
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> Result<T, StoreError> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let store = match pooled {
            Some(store) => store,
            None => Store::open_read_only(&self.settings.state_dir)?,
        };
        let out = f(&store);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(store);
        }
        Ok(out)
    }

    /// The hosts matching `pattern` (all without one): the inventory's, or
    /// the store's when there is no inventory.
    pub fn hosts(&self, store: &Store, pattern: Option<&str>) -> Result<Vec<String>, Failure> {
        let pattern = pattern.unwrap_or("all");
        match &self.settings.inventory {
            Some(inventory) => inventory
                .select(pattern, None)
                .map_err(|e| Failure::Bad(BadRequest(e.to_string()))),
            None => {
                let hosts: Vec<String> =
                    store.latest_reach()?.into_iter().map(|r| r.host).collect();
                if pattern == "all" {
                    return Ok(hosts);
                }
                // No groups without an inventory: a pattern is globs
                // separated by commas or colons (`web*,db1`).
                let globs = pattern
                    .split([',', ':'])
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        glob::Pattern::new(p)
                            .map_err(|e| Failure::Bad(BadRequest(format!("pattern `{p}`: {e}"))))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(hosts
                    .into_iter()
                    .filter(|h| globs.iter().any(|g| g.matches(h)))
                    .collect())
            }
        }
    }

    /// A host's groups (without `all` and `ungrouped`), sorted.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let Some(inventory) = &self.settings.inventory else {
            return Vec::new();
        };
        if !inventory.contains_host(host) {
            return Vec::new();
        }
        let mut groups: Vec<String> = inventory
            .host_groups(host)
            .into_iter()
            .filter(|g| g != "all" && g != "ungrouped")
            .collect();
        groups.sort();
        groups
    }

    /// Every group name worth offering as a filter, sorted.
    pub fn group_names(&self) -> Vec<String> {
        let Some(inventory) = &self.settings.inventory else {
            return Vec::new();
        };
        let mut groups: Vec<String> = inventory
            .group_names()
            .filter(|g| *g != "all" && *g != "ungrouped")
            .map(String::from)
            .collect();
        groups.sort();
        groups
    }

    /// The fleet (hosts matching `pattern`) worst first, with the alerts
    /// firing on each host and its current release.
    pub fn fleet(&self, store: &Store, pattern: Option<&str>) -> Result<FleetView, Failure> {
        let hosts = self.hosts(store, pattern)?;
        Ok(FleetView {
            rows: fleet::fleet_status(store, hosts)?,
            firing: fleet::firing_by_host(store)?,
            releases: store.current_releases()?,
        })
    }

    /// Whether `host` is one this server shows.
    pub fn knows_host(&self, store: &Store, host: &str) -> Result<bool, StoreError> {
        Ok(match &self.settings.inventory {
            Some(inventory) => inventory.contains_host(host),
            None => store.latest_reach()?.iter().any(|r| r.host == host),
        })
    }
}

/// Why a request got no page: the client's mistake (400), nothing there
/// (404), or the store failed (500).
#[derive(Debug)]
pub enum Failure {
    Bad(BadRequest),
    NotFound(String),
    Store(StoreError),
    /// herd's own fault (a template or serialisation bug): 500.
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

impl From<BadRequest> for Failure {
    fn from(e: BadRequest) -> Failure {
        Failure::Bad(e)
    }
}
