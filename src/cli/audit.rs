//! `herd audit PATTERN`: security checks on every host (see `crate::audit`),
//! one round trip each, shown as a table or JSON lines and recorded in
//! the store. Exits 3 when any check fails, 4 when a host is unreachable.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Format};
use crate::audit::{self, Finding, Status};
use crate::engine::fanout::{self, Outcome};
use crate::engine::{HostStatus, RunOutcome};
use crate::store::AuditRow;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  herd audit all\n  \
herd audit web --paths /etc,/srv/www --allow-ports 22,80,443\n  herd audit db --format json")]
pub struct AuditArgs {
    /// Host pattern (as for `herd run`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// Directories to search for world-writable files (comma-separated or
    /// repeated).
    #[arg(long = "paths", value_name = "DIR,...", value_delimiter = ',')]
    pub paths: Vec<String>,

    /// Listening TCP ports that are expected; any other fails the `ports`
    /// check. Without it, ports are listed but not judged.
    #[arg(long = "allow-ports", value_name = "PORT,...", value_delimiter = ',')]
    pub allow_ports: Option<Vec<u16>>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// One row of the report: a host's check.
#[derive(Debug, Serialize)]
struct Row {
    host: String,
    check: &'static str,
    status: Status,
    detail: String,
}

pub fn execute(ctx: &Context, args: AuditArgs) -> anyhow::Result<u8> {
    if let Some(bad) = args.paths.iter().find(|p| !p.starts_with('/')) {
        return Err(BadInput(format!(
            "--paths {bad:?}: give absolute directories, e.g. /etc"
        ))
        .into());
    }
    let options = audit::Options {
        paths: args.paths.clone(),
        allow_ports: args
            .allow_ports
            .clone()
            .map(|ports| ports.into_iter().collect::<BTreeSet<u16>>()),
    };
    let mut store = ctx.store()?;
    let fleet = ctx.fleet(&args.connect, &args.pattern)?;

    let script = Arc::new(audit::script(&options));
    let options = Arc::new(options);
    let outcomes = fanout::block_on(fanout::for_each_host(
        fleet.pool(),
        &fleet.hosts,
        fleet.forks,
        move |pool, host| {
            let (script, options) = (script.clone(), options.clone());
            async move {
                let conn = match pool.connect(&host.target).await {
                    Ok(conn) => conn,
                    Err(e) => return Err((HostStatus::Unreachable, e.to_string())),
                };
                let out = conn
                    .exec(&script, &host.exec)
                    .await
                    .map_err(|e| (HostStatus::Failed, e.to_string()))?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                tracing::debug!(host = host.name(), "audit script output:\n{stdout}");
                Ok(audit::evaluate(&stdout, &options))
            }
        },
    ))?;

    let mut rows = Vec::new();
    let mut statuses = Vec::new();
    for (host, outcome) in outcomes {
        let findings: Result<Vec<Finding>, (HostStatus, String)> = match outcome {
            Outcome::Done(result) => result,
            Outcome::Interrupted => Err((HostStatus::Interrupted, "interrupted".into())),
            Outcome::Panicked(why) => Err((HostStatus::Failed, why)),
        };
        match findings {
            Ok(findings) => {
                let failed = findings.iter().any(|f| f.status == Status::Fail);
                statuses.push(if failed {
                    HostStatus::Failed
                } else {
                    HostStatus::Ok
                });
                rows.extend(findings.into_iter().map(|f| Row {
                    host: host.clone(),
                    check: f.check,
                    status: f.status,
                    detail: f.detail,
                }));
            }
            Err((status, error)) => {
                statuses.push(status);
                rows.push(Row {
                    host: host.clone(),
                    check: "connect",
                    status: Status::Fail,
                    detail: format!("{}: {error}", status.as_str()),
                });
            }
        }
    }

    let stored: Vec<AuditRow> = rows
        .iter()
        .map(|r| AuditRow {
            host: r.host.clone(),
            check: r.check.to_string(),
            status: r.status.as_str().to_string(),
            detail: r.detail.clone(),
        })
        .collect();
    let id = store.record_audit(&args.pattern, fleet.names.len(), &stored)?;

    let mut out = crate::secrets::redact::stdout();
    match args.format {
        Format::Json => {
            for row in &rows {
                crate::report::json::write_line(&mut out, row)?;
            }
        }
        Format::Text => {
            let header = ["HOST", "CHECK", "STATUS", "DETAIL"]
                .map(String::from)
                .to_vec();
            let table: Vec<Vec<String>> = std::iter::once(header)
                .chain(rows.iter().map(|r| {
                    vec![
                        r.host.clone(),
                        r.check.to_string(),
                        r.status.as_str().to_string(),
                        r.detail.clone(),
                    ]
                }))
                .collect();
            crate::report::table::write(&mut out, &table, &[])?;
            let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
            writeln!(
                out,
                "audit {}: {} hosts, {} pass, {} warn, {} fail, {} info",
                id.0,
                fleet.names.len(),
                count(Status::Pass),
                count(Status::Warn),
                count(Status::Fail),
                count(Status::Info)
            )?;
        }
    }
    Ok(RunOutcome::from_statuses(statuses).exit_code())
}
