//! What every subcommand needs: the project, and the inventory loaded once
//! on first use.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

use crate::inventory::{Inventory, ScriptLimits};
use crate::project::Project;

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
