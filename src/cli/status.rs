//! `herd status [PATTERN]`: the fleet at a glance from the latest
//! collection: reachable or not, load, CPU, memory, fullest disk, last
//! seen; the hosts that need a look first. Exits 4 when a host was
//! unreachable at its latest collection.

use super::{Context, Format};
use crate::exit;
use crate::report::fleet::{self, fleet_status};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Host pattern [default: all].
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// Output format: a table, or one JSON object per host per line.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn execute(ctx: &Context, args: StatusArgs) -> anyhow::Result<u8> {
    let store = ctx.store()?;
    let hosts = ctx
        .inventory()?
        .select(args.pattern.as_deref().unwrap_or("all"), None)?;
    let rows = fleet_status(&store, hosts)?;

    let mut out = crate::secrets::redact::stdout();
    match args.format {
        Format::Json => {
            for row in &rows {
                crate::report::json::write_line(&mut out, row)?;
            }
        }
        Format::Text => fleet::write_table(&mut out, &rows, jiff::Timestamp::now().as_second())?,
    }
    Ok(if rows.iter().any(|r| r.state == "down") {
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}
