//! Ansible-compatible inventory: which hosts exist, how they are grouped,
//! what variables each one has, and how to reach it.
//!
//! Sources (each `-i` path) may be YAML or INI files, executable
//! dynamic-inventory scripts, or directories of those (see `source.rs`);
//! several sources merge into one inventory. `group_vars/` and `host_vars/`
//! beside a source are read too. Like Ansible, every host is in `all`, and
//! hosts in no other group are also in `ungrouped`.
//!
//! Variable precedence (lowest first; `vars.rs` has the details):
//! inventory-file group vars (by group depth, `ansible_group_priority`,
//! name; `all` first) < `group_vars/` files (same order) < inventory-file
//! host vars < `host_vars/` files. Later values replace earlier ones
//! wholesale, dicts included.
//!
//! Everything expensive (host -> groups in merge order, group -> hosts) is
//! computed once at load so that 10,000-host inventories stay fast.

mod connection;
pub mod edit;
mod error;
mod implicit;
mod ini;
mod literal;
mod model;
mod pattern;
mod range;
mod script;
mod source;
mod suggest;
mod vars;
mod vars_files;
mod words;
mod yaml;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

pub use connection::{
    BecomeSettings, ConnectionDefaults, ConnectionKind, HostConnection, split_ssh_args,
};
pub use error::{InventoryError, PatternError};
pub(crate) use range::check_host_name;
pub use script::ScriptLimits;
pub use suggest::did_you_mean;
pub use vars_files::vars_dir_entries;

use crate::template::TaskVars;
use model::{ALL, Graph, Group};
use vars_files::VarsLayer;

/// Variables of a host or group. JSON values because inventories are
/// YAML/INI/JSON and templates and modules consume them as such.
pub type Vars = serde_json::Map<String, serde_json::Value>;

/// A loaded inventory, ready for pattern matching and variable lookups.
#[derive(Debug)]
pub struct Inventory {
    /// Hosts in the order first defined, with their inventory-file vars.
    hosts: IndexMap<String, Vars>,
    groups: IndexMap<String, Group>,
    /// Per host, its groups in merge order (see `model::Finished`).
    host_groups: Vec<Vec<usize>>,
    /// group_vars/host_vars per source directory, in source order.
    layers: Vec<VarsLayer>,
    /// The variables inventory scripts set: data, never templates.
    data: model::DataVars,
    /// Connection settings for hosts that set none (ansible.cfg).
    defaults: ConnectionDefaults,
}

/// One group in the tree printed by `herd inventory graph`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTree {
    /// The group's name (`all` at the root).
    pub name: String,
    /// Child groups, sorted by name (as `ansible-inventory --graph`).
    pub children: Vec<GroupTree>,
    /// Hosts listed directly in this group, sorted by name.
    pub hosts: Vec<String>,
}

impl Inventory {
    /// Loads and merges `sources` in order.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        Inventory::load_with(sources, &ScriptLimits::default())
    }

    /// [`Inventory::load`] running dynamic inventory scripts within `limits`.
    pub fn load_with(
        sources: &[PathBuf],
        limits: &ScriptLimits,
    ) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        let mut bases: Vec<PathBuf> = Vec::new();
        for path in sources {
            source::load(path, &mut graph, limits)?;
            let base = if path.is_dir() {
                path.clone()
            } else {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            let base = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base
            };
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        Inventory::build(graph, &bases)
    }

    /// No hosts at all: Ansible's "only implicit localhost is available".
    pub fn empty() -> Inventory {
        Inventory::build(Graph::new(), &[]).expect("an empty inventory is valid")
    }

    /// A YAML inventory from text, with `group_vars/`/`host_vars/` beside
    /// `path` if they exist (`path` also names the file in errors).
    pub fn from_yaml_str(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        yaml::load(text, path, &mut graph)?;
        Inventory::build(graph, &Self::base_of(path))
    }

    /// An INI inventory from text; see [`Inventory::from_yaml_str`].
    pub fn from_ini_str(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        ini::load(text, path, &mut graph)?;
        Inventory::build(graph, &Self::base_of(path))
    }

    fn base_of(path: &Path) -> Vec<PathBuf> {
        path.parent()
            .filter(|p| p.is_dir())
            .map(Path::to_path_buf)
            .into_iter()
            .collect()
    }

    fn build(graph: Graph, bases: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let finished = graph.finish()?;
        let layers = bases
            .iter()
            .map(|base| vars_files::load(base, &finished))
            .collect::<Result<_, _>>()?;
        Ok(Inventory {
            hosts: finished.hosts,
            groups: finished.groups,
            host_groups: finished.host_groups,
            layers,
            data: finished.data,
            defaults: ConnectionDefaults::default(),
        })
    }

    /// Host names in inventory order (the order they were first defined).
    pub fn host_names(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    /// Whether `name` is an inventory host (callers validate user input).
    pub fn contains_host(&self, name: &str) -> bool {
        self.hosts.contains_key(name)
    }

    /// Group names in the order first defined, starting with `all` and
    /// `ungrouped`.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Connection settings for every host whose vars do not set them.
    pub fn set_connection_defaults(&mut self, defaults: ConnectionDefaults) {
        self.defaults = defaults;
    }

    /// Hosts matching an Ansible host pattern, narrowed by `--limit`, in
    /// inventory order. See the `pattern` module for the syntax.
    ///
    /// As in Ansible, a pattern that is just `localhost` (or 127.0.0.1,
    /// ::1) when the inventory has no such host selects the implicit
    /// localhost: this machine, reached without ssh, in no group.
    pub fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, PatternError> {
        let name = pattern.trim();
        if implicit::is_localhost(name) && !self.contains_host(name) {
            let limited = match limit {
                None => true,
                Some(limit) => limit
                    .split([',', ':'])
                    .any(|term| term.trim() == name || term.trim() == "all"),
            };
            if limited {
                implicit::warn_once(name);
                return Ok(vec![name.to_string()]);
            }
        }
        pattern::select(self, pattern, limit)
    }

    /// The host's variables merged by precedence, plus the magic vars
    /// `inventory_hostname`, `inventory_hostname_short` and `group_names`.
    /// `None` for an unknown host.
    pub fn host_vars(&self, host: &str) -> Option<Vars> {
        self.host_scope(host).map(|v| v.as_map().clone())
    }

    /// [`Inventory::host_vars`] with the names whose values an inventory
    /// script set marked as data (see `template::scope`): what templates
    /// should render with.
    pub fn host_scope(&self, host: &str) -> Option<TaskVars> {
        match self.hosts.get_index_of(host) {
            Some(h) => Some(vars::merged(self, h)),
            None if implicit::is_localhost(host) => Some(vars::implicit_localhost(self, host)),
            None => None,
        }
    }

    /// Every group the host is in, ancestors, `all` and `ungrouped`
    /// included, in variable-merge order (depth, priority, name).
    pub fn host_groups(&self, host: &str) -> Vec<String> {
        let Some(h) = self.hosts.get_index_of(host) else {
            return Vec::new();
        };
        self.host_groups[h]
            .iter()
            .map(|&g| self.group_name(g).to_string())
            .collect()
    }

    /// How to reach `host`, from its merged vars.
    pub fn connection(&self, host: &str) -> Result<HostConnection, InventoryError> {
        let vars = self
            .host_vars(host)
            .ok_or_else(|| self.unknown_host(host))?;
        connection::from_vars(host, &vars, &self.defaults)
    }

    /// The inventory host a task delegated to `name` runs on, as Ansible
    /// picks it: the host of that name, else the first whose address
    /// (`ansible_host`) is `name`. `None` for a name the inventory does
    /// not know (see [`Inventory::delegate_connection`]).
    pub fn delegate_host(&self, name: &str) -> Option<String> {
        if self.contains_host(name) {
            return Some(name.to_string());
        }
        self.host_names()
            .find(|h| self.connection(h).is_ok_and(|c| c.address == name))
            .map(str::to_string)
    }

    /// The variables of a `delegate_to` target: its own for an inventory
    /// host (see [`Inventory::delegate_host`]), else those the `all`
    /// group gives every host (a local connection for localhost).
    pub fn delegate_scope(&self, name: &str) -> TaskVars {
        match self.delegate_host(name) {
            Some(host) => self.host_scope(&host).unwrap_or_default(),
            None if implicit::is_localhost(name) => vars::implicit_localhost(self, name),
            None => vars::unlisted(self, name),
        }
    }

    /// How to reach a `delegate_to` target: an inventory host by its
    /// settings; a name the inventory does not know by that name, with the
    /// `all` group's settings and the defaults, as Ansible does.
    pub fn delegate_connection(&self, name: &str) -> Result<HostConnection, InventoryError> {
        match self.delegate_host(name) {
            Some(host) => self.connection(&host),
            None => connection::from_vars(name, self.delegate_scope(name).as_map(), &self.defaults),
        }
    }

    /// The error for a host name that is not in the inventory, with a
    /// suggestion when one is close.
    pub fn unknown_host(&self, name: &str) -> InventoryError {
        InventoryError::UnknownHost {
            name: name.to_string(),
            suggestion: did_you_mean(name, self.host_names()).map(str::to_string),
        }
    }

    /// The group tree under `group` (normally `all`), `None` if unknown.
    /// Like `ansible-inventory --graph`, `all` shows no hosts of its own.
    pub fn graph(&self, group: &str) -> Option<GroupTree> {
        self.groups.get_index_of(group).map(|g| self.tree(g))
    }

    fn tree(&self, g: usize) -> GroupTree {
        let group = &self.groups[g];
        let mut children: Vec<GroupTree> = group.children.iter().map(|&c| self.tree(c)).collect();
        children.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hosts: Vec<String> = if g == ALL {
            Vec::new()
        } else {
            group
                .hosts
                .iter()
                .map(|&h| self.host_name(h).to_string())
                .collect()
        };
        hosts.sort();
        GroupTree {
            name: self.group_name(g).to_string(),
            children,
            hosts,
        }
    }

    fn group_name(&self, g: usize) -> &str {
        self.groups.get_index(g).map_or("", |(n, _)| n.as_str())
    }

    fn host_name(&self, h: usize) -> &str {
        self.hosts.get_index(h).map_or("", |(n, _)| n.as_str())
    }

    /// Whether `name` is a group, `all` and `ungrouped` included.
    pub fn contains_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }
}
