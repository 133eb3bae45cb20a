//! `herd run PATTERN -- CMD...`

use super::Context;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Host pattern.
    pub pattern: String,
}

pub fn execute(ctx: &Context, _args: RunArgs) -> anyhow::Result<u8> {
    ctx.inventory()?;
    Ok(0)
}
