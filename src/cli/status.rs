//! `herd status [PATTERN]`: the fleet at a glance from the latest
//! collection: reachable or not, load, CPU, memory, fullest disk, last
//! seen; the hosts that need a look first. Exits 4 when a host was
//! unreachable at its latest collection.

use std::io::Write;

use super::{Context, Format};
use crate::collect::when::format_age;
use crate::exit;
use crate::report::fleet::{HostStatus, fleet_status};
use crate::report::table;

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
        Format::Text => write_table(&mut out, &rows, jiff::Timestamp::now().as_second())?,
    }
    Ok(if rows.iter().any(|r| r.state == "down") {
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}

fn write_table(out: &mut impl Write, rows: &[HostStatus], now: i64) -> std::io::Result<()> {
    if rows.iter().all(|r| r.state == "unknown") {
        writeln!(out, "no collection yet: run `herd collect` first")?;
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}%"));
    let mut table = vec![
        [
            "HOST",
            "STATE",
            "LOAD",
            "CPU",
            "MEM",
            "DISK",
            "LAST SEEN",
            "NOTE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        table.push(vec![
            r.host.clone(),
            r.state.to_uppercase(),
            r.load1.map_or("-".into(), |v| format!("{v:.2}")),
            pct(r.cpu_pct),
            pct(r.mem_pct),
            match (&r.disk_pct, &r.disk_mount) {
                (Some(p), Some(m)) => format!("{p:.0}% {m}"),
                _ => "-".into(),
            },
            r.last_seen
                .map_or("never".into(), |t| format!("{} ago", format_age(now - t))),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    table::write(out, &table, &[2, 3, 4])?;
    Ok(())
}
