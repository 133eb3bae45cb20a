//! What every subcommand needs, turned from command-line options into
//! ready parts once: the project, the inventory (loaded on first use), the
//! results store, and the fleet a command reaches.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

use super::connect::ConnectArgs;
use crate::engine::fanout::FleetHost;
use crate::inventory::{Inventory, ScriptLimits};
use crate::project::Project;
use crate::ssh::{Pool, SshOptions};
use crate::store::Store;

pub struct Context {
    pub project: Project,
    inventory_sources: Vec<PathBuf>,
    inventory: OnceLock<Arc<Inventory>>,
}

impl Context {
    pub fn new(cli_inventory: Vec<PathBuf>) -> anyhow::Result<Context> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let project = Project::discover(&cwd)?;
        if let Some(line) = project.describe() {
            tracing::info!("{line}");
        }
        if let Some(cfg) = &project.ansible_cfg {
            for warning in &cfg.warnings {
                tracing::warn!("{warning}");
            }
            for note in &cfg.notes {
                tracing::info!("{}: {note}", cfg.path.display());
            }
            crate::playbook::set_config_role_paths(
                cfg.roles_path.clone(),
                cfg.collections_path.clone(),
            );
        }
        Ok(Context {
            project,
            inventory_sources: cli_inventory,
            inventory: OnceLock::new(),
        })
    }

    /// The inventory sources given with `-i` or HERD_INVENTORY (empty: the
    /// project file's).
    pub fn cli_inventory(&self) -> &[PathBuf] {
        &self.inventory_sources
    }

    /// The inventory paths: `-i`, else HERD_INVENTORY, else herd.toml.
    pub fn inventory_paths(&self) -> anyhow::Result<Vec<PathBuf>> {
        Ok(self.project.inventory_sources(&self.inventory_sources)?)
    }

    /// [`Context::inventory`], or, when none is given anywhere, an empty
    /// one (with a warning): as in Ansible, a play on `localhost` then
    /// still runs, on the implicit localhost.
    pub fn inventory_or_empty(&self) -> anyhow::Result<&Arc<Inventory>> {
        match self.inventory() {
            Err(err)
                if matches!(
                    err.downcast_ref::<crate::project::ProjectError>(),
                    Some(crate::project::ProjectError::NoInventory)
                ) =>
            {
                tracing::warn!("no inventory given: only the implicit localhost is available");
                let mut inv = Inventory::empty();
                inv.set_connection_defaults(self.project.connection_defaults());
                Ok(self.inventory.get_or_init(|| Arc::new(inv)))
            }
            other => other,
        }
    }

    /// The inventory, loaded on first call (shared: the engine keeps a
    /// handle for the whole run).
    pub fn inventory(&self) -> anyhow::Result<&Arc<Inventory>> {
        if let Some(inv) = self.inventory.get() {
            return Ok(inv);
        }
        let sources = self.project.inventory_sources(&self.inventory_sources)?;
        let mut limits = ScriptLimits::default();
        if let Some(secs) = self.project.file.inventory_script_timeout {
            limits.timeout = std::time::Duration::from_secs(secs);
        }
        let mut inv = Inventory::load_with(&sources, &limits)?;
        inv.set_connection_defaults(self.project.connection_defaults());
        Ok(self.inventory.get_or_init(|| Arc::new(inv)))
    }
}

/// How to reach hosts, from `ConnectArgs` and herd.toml.
pub struct Connection {
    pub options: SshOptions,
    /// Asked once on the terminal with `-K`.
    pub become_password: Option<String>,
    pub forks: usize,
}

/// The hosts a command reaches, resolved once from the command line, the
/// inventory and herd.toml: who, how to connect, how many at once.
pub struct Fleet {
    /// The selected host names, in inventory order.
    pub names: Vec<String>,
    /// Each host's connection target and exec options (become).
    pub hosts: Vec<FleetHost>,
    /// SSH settings, scaled to the fleet's size.
    pub options: SshOptions,
    pub forks: usize,
}

impl Fleet {
    /// A connection pool for this fleet.
    pub fn pool(&self) -> Arc<Pool> {
        Pool::new(self.options.clone())
    }
}

impl Context {
    /// The results store in the project's state directory (created on
    /// first use).
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(self.project.ensure_state_dir()?)?)
    }

    /// The hosts PATTERN (narrowed by `--limit`) selects, ready to reach.
    pub fn fleet(&self, connect: &ConnectArgs, pattern: &str) -> anyhow::Result<Fleet> {
        let inventory = self.inventory()?;
        let names = connect.select(inventory, pattern)?;
        self.fleet_of(connect, inventory, names)
    }

    /// The hosts `names` of `inventory` (already selected), ready to reach:
    /// SSH options, the sudo password (asked once with `-K`), each host's
    /// target, and forks.
    pub fn fleet_of(
        &self,
        connect: &ConnectArgs,
        inventory: &Inventory,
        names: Vec<String>,
    ) -> anyhow::Result<Fleet> {
        let Connection {
            mut options,
            become_password,
            forks,
        } = self.connection(connect)?;
        options.scale_to(names.len());
        let hosts = connect.fleet_hosts(inventory, &names, &options, become_password.as_deref())?;
        Ok(Fleet {
            names,
            hosts,
            options,
            forks,
        })
    }

    /// SSH settings (defaults < herd.toml < command line), the sudo
    /// password and forks.
    pub fn connection(&self, connect: &ConnectArgs) -> anyhow::Result<Connection> {
        Ok(Connection {
            options: connect.ssh_options(self),
            become_password: connect.become_password()?,
            forks: connect.forks(self),
        })
    }
}
