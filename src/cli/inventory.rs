//! `herd inventory ...`

use super::Context;

#[derive(Debug, clap::Subcommand)]
pub enum InventoryCommand {
    /// List hosts matching PATTERN (default: all), one per line.
    List,
}

pub fn execute(ctx: &Context, _cmd: InventoryCommand) -> anyhow::Result<u8> {
    ctx.inventory()?;
    Ok(0)
}
