//! Each host's release plan: `herd deploy`'s and `herd releases`' options
//! as typed (`--root`, `--restart`, the health probe), rendered with the
//! host's inventory variables.

use std::collections::HashMap;

use crate::inventory::Inventory;
use crate::release::health::parse_tcp;
use crate::release::{Health, Layout, Plan, Probe};
use crate::template::Templates;

/// An option that does not render (or parse) for a host.
#[derive(Debug, thiserror::Error)]
#[error("{option} for host {host}: {message}")]
pub struct PlanError {
    pub option: &'static str,
    pub host: String,
    pub message: String,
}

crate::exit::bad_input!(PlanError);

/// The per-host settings as typed, before templating.
pub struct PlanTemplate<'a> {
    pub root: Option<&'a str>,
    pub service: Option<&'a str>,
    pub binary: String,
    pub restart: Option<&'a str>,
    /// The gate; a TCP probe comes from `health_tcp` once rendered.
    pub health: Health,
    pub health_tcp: Option<&'a str>,
    pub keep: usize,
}

impl PlanTemplate<'_> {
    /// Each host's plan, its templated options rendered with its inventory
    /// variables. A template error names the host and the option.
    pub fn render(
        &self,
        inventory: &Inventory,
        hosts: &[String],
    ) -> Result<HashMap<String, Plan>, PlanError> {
        let templates = Templates::new();
        let mut plans = HashMap::new();
        for host in hosts {
            let vars = inventory.host_scope(host).unwrap_or_default();
            let error = |option: &'static str, message: String| PlanError {
                option,
                host: host.clone(),
                message,
            };
            let render = |option: &'static str, text: &str| -> Result<String, PlanError> {
                if !text.contains("{{") && !text.contains("{%") {
                    return Ok(text.to_string());
                }
                templates
                    .render_file(option, text, &vars)
                    .map_err(|e| error(option, e.to_string()))
            };
            let root = match (self.root, self.service) {
                (Some(root), _) => render("--root", root)?,
                (None, Some(service)) => format!("/opt/{service}"),
                (None, None) => unreachable!("checked by the caller"),
            };
            let restart = self.restart.map(|r| render("--restart", r)).transpose()?;
            let mut health = self.health.clone();
            health.probe = match health.probe {
                Some(Probe::Command(c)) => Some(Probe::Command(render("--health-cmd", &c)?)),
                Some(Probe::Http(u)) => Some(Probe::Http(render("--health-http", &u)?)),
                other => other,
            };
            if let Some(tcp) = self.health_tcp {
                let target = render("--health-tcp", tcp)?;
                let probe = parse_tcp(&target).map_err(|e| error("--health-tcp", e))?;
                health.probe = Some(probe);
            }
            health.expect = health
                .expect
                .map(|e| render("--health-expect", &e))
                .transpose()?;
            plans.insert(
                host.clone(),
                Plan {
                    layout: Layout::new(root),
                    binary: self.binary.clone(),
                    service: self.service.map(str::to_string),
                    restart,
                    health,
                    keep: self.keep,
                },
            );
        }
        Ok(plans)
    }
}
