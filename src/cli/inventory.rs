//! `herd inventory list|show|graph`: look at the inventory as herd sees it,
//! to check a migration from Ansible or feed scripts.

use std::io::Write;

use serde_json::{Value, json};

use super::{BadInput, Context, Format, inventory_edit};
use crate::exit;
use crate::inventory::{Inventory, did_you_mean};
use crate::secrets::names::mask_secret_vars;

#[derive(Debug, clap::Subcommand)]
pub enum InventoryCommand {
    /// List hosts matching PATTERN (default: all), one per line.
    ///
    /// With `--format json`, prints one JSON array with an object per host:
    /// `{"name": "web1", "groups": ["prod", "web"]}` (groups sorted, without
    /// `all`/`ungrouped`), plus `"vars"` (merged, secrets masked) with --vars.
    List(ListArgs),
    /// Show a host's merged variables, secrets masked as ********.
    Show(ShowArgs),
    /// Print the group tree, like `ansible-inventory --graph`.
    Graph(GraphArgs),
    /// Add a host to the inventory file (comments and layout are kept).
    Add(inventory_edit::AddArgs),
    /// Remove a host from the inventory file.
    Remove(inventory_edit::RemoveArgs),
    /// Add, remove or rename groups; put hosts in groups.
    #[command(subcommand)]
    Group(inventory_edit::GroupCommand),
    /// Set variables on a host (or a group with --group) in the inventory file.
    SetVar(inventory_edit::SetVarArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Ansible host pattern, e.g. `web:&prod:!web3`.
    #[arg(default_value = "all")]
    pub pattern: String,
    /// Further limit the hosts (same syntax, or @FILE with one host per line).
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// With --format json, include each host's merged variables.
    #[arg(long)]
    pub vars: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Inventory host name.
    pub host: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: ShowFormat,
}

/// `show` prints a document, so YAML (the inventory's own language) is the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Start from this group instead of `all`.
    #[arg(default_value = "all")]
    pub group: String,
}

pub fn execute(ctx: &Context, cmd: InventoryCommand) -> anyhow::Result<u8> {
    let text = match cmd {
        InventoryCommand::List(args) => list(ctx.inventory()?, &args)?,
        InventoryCommand::Show(args) => show(ctx.inventory()?, &args)?,
        InventoryCommand::Graph(args) => graph(ctx.inventory()?, &args.group)?,
        InventoryCommand::Add(args) => return inventory_edit::add(ctx, args),
        InventoryCommand::Remove(args) => return inventory_edit::remove(ctx, args),
        InventoryCommand::Group(cmd) => return inventory_edit::group(ctx, cmd),
        InventoryCommand::SetVar(args) => return inventory_edit::set_var(ctx, args),
    };
    let mut out = crate::secrets::redact::stdout();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes());
    Ok(exit::OK)
}

fn list(inventory: &Inventory, args: &ListArgs) -> anyhow::Result<String> {
    let hosts = inventory.select(&args.pattern, args.limit.as_deref())?;
    if args.format == Format::Text {
        return Ok(hosts.iter().map(|h| format!("{h}\n")).collect());
    }
    let entries: Vec<Value> = hosts
        .iter()
        .map(|host| {
            let vars = inventory.host_vars(host).unwrap_or_default();
            let mut entry = json!({ "name": host, "groups": vars["group_names"] });
            if args.vars {
                entry["vars"] = Value::Object(mask_secret_vars(vars));
            }
            entry
        })
        .collect();
    Ok(serde_json::to_string_pretty(&entries)? + "\n")
}

fn show(inventory: &Inventory, args: &ShowArgs) -> anyhow::Result<String> {
    let vars = inventory
        .host_vars(&args.host)
        .ok_or_else(|| inventory.unknown_host(&args.host))?;
    let vars = mask_secret_vars(vars);
    Ok(match args.format {
        ShowFormat::Json => serde_json::to_string_pretty(&vars)? + "\n",
        ShowFormat::Yaml => crate::yaml::to_string(&vars).map_err(anyhow::Error::msg)?,
    })
}

fn graph(inventory: &Inventory, group: &str) -> anyhow::Result<String> {
    let tree = inventory.graph(group).ok_or_else(|| {
        let hint = did_you_mean(group, inventory.group_names())
            .map(|g| format!("; did you mean `{g}`?"))
            .unwrap_or_default();
        BadInput(format!("unknown group `{group}`{hint}"))
    })?;
    Ok(crate::report::inventory::graph(&tree))
}
