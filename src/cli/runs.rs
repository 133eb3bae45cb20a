//! `herd runs [show ID]`

use super::Context;

#[derive(Debug, clap::Args)]
pub struct RunsArgs {}

pub fn execute(_ctx: &Context, _args: RunsArgs) -> anyhow::Result<u8> {
    Ok(0)
}
