//! `herd serve`: arguments and wiring; the server lives in `crate::serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Context;
use crate::serve::{self, App, Settings, Token};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Pages: / (fleet), /hosts/NAME, /runs, /runs/ID, /alerts\n\
                  Data:  /metrics (Prometheus), /api/hosts, /api/hosts/NAME, /api/hosts/NAME/history,\n\
                  \x20      /api/runs, /api/runs/ID, /api/alerts\n\n\
                  Examples:\n  herd serve\n  herd serve --listen 0.0.0.0:8088 --token-file ~/.config/herd/serve.token"
)]
pub struct ServeArgs {
    /// Address and port to listen on. Anything but loopback needs
    /// --token-file.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8088")]
    pub listen: SocketAddr,

    /// File holding a bearer token (at least 16 characters) that every
    /// request must carry as `Authorization: Bearer <token>`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Seconds between live refreshes of the fleet page and running runs.
    #[arg(long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub refresh: u64,
}

pub fn execute(ctx: &Context, args: ServeArgs) -> anyhow::Result<u8> {
    let token = args
        .token_file
        .as_deref()
        .map(Token::from_file)
        .transpose()?;
    serve::check_listen(args.listen, token.as_ref())?;
    // Without an inventory the store's hosts are the fleet.
    let inventory = match ctx.inventory_paths() {
        Ok(sources) => Some(crate::inventory::Inventory::load(&sources)?),
        Err(e)
            if matches!(
                e.downcast_ref(),
                Some(crate::project::ProjectError::NoInventory)
            ) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let app = App::new(Settings {
        state_dir: ctx.project.state_dir.clone(),
        inventory,
        token,
        refresh: args.refresh,
    })?;
    crate::engine::fanout::block_on(serve::run(app, args.listen))??;
    Ok(crate::exit::OK)
}
