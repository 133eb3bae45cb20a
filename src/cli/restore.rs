//! `herd restore HOST BACKUP [PATH...]`: puts a backup's files back on its
//! host; the workflow is `crate::backup::restore`.

use super::connect::ConnectArgs;
use super::{BadInput, Context};
use crate::backup::Backups;
use crate::backup::restore::{self, Restore};
use crate::engine::RunOutcome;
use crate::engine::fanout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd restore web1 latest --check --diff\n  \
herd restore web1 20260101T120000Z /etc/nginx/nginx.conf"
)]
pub struct RestoreArgs {
    /// The host whose backup to restore (an inventory host name).
    #[arg(value_name = "HOST")]
    pub host: String,

    /// The backup ID (see `herd backup list HOST`), or `latest`.
    #[arg(value_name = "BACKUP")]
    pub backup: String,

    /// Restore only these paths (files, or directories with everything
    /// under them); default: everything in the backup.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// Report what would change; change nothing.
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Show a unified diff of each changed text file.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn execute(ctx: &Context, args: RestoreArgs) -> anyhow::Result<u8> {
    let inventory = ctx.inventory()?;
    if !inventory.contains_host(&args.host) {
        return Err(BadInput(format!(
            "{}: not a host in the inventory (restore takes one host name, not a pattern)",
            args.host
        ))
        .into());
    }
    let backups = Backups::new(&ctx.project.state_dir);
    let summary = backups.find(&args.host, &args.backup)?;
    let all = backups.manifest(&summary)?;
    let restore = Restore {
        backups: &backups,
        summary: &summary,
        entries: restore::select(&all, &args.paths, &summary.id)?,
        check: args.check,
        diff: args.diff,
    };

    let mut fleet = ctx.fleet_of(&args.connect, inventory, vec![args.host.clone()])?;
    let pool = fleet.pool();
    let host = fleet.hosts.remove(0);
    let mut out = crate::secrets::redact::stdout();

    fanout::block_on(async {
        let result = async {
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(e) => {
                    use std::io::Write as _;
                    writeln!(out, "{}: UNREACHABLE: {e}", host.name())?;
                    return Ok(RunOutcome::Unreachable);
                }
            };
            anyhow::Ok(restore.run(&conn, &host, &mut out).await?)
        }
        .await;
        pool.close_all().await;
        result.map(RunOutcome::exit_code)
    })?
}
