//! `herd backup PATTERN PATH...`: each host's files as a tar.gz streamed
//! over SSH into `.herd/backups/HOST/ID/` with a manifest; `herd backup
//! list [HOST]` shows what is kept. See `crate::backup` for the layout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Format};
use crate::backup::{self, ArchiveWriter, Backups, BlockingWrite, Kind, Summary};
use crate::engine::fanout::{self, FleetHost, Outcome};
use crate::engine::{HostStatus, RunOutcome};
use crate::ssh::Pool;

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  herd backup web /etc/nginx /srv/app/config --keep 7\n  \
herd backup db /etc/postgresql --encrypt\n  herd backup list web1"
)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,

    /// Host pattern (as for `herd run`).
    #[arg(value_name = "PATTERN", required = true)]
    pub pattern: Option<String>,

    /// Absolute paths of files or directories to back up (directories
    /// whole).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,

    /// Keep only the newest N backups of each host (older ones are deleted
    /// after a successful backup).
    #[arg(long = "keep", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,

    /// Encrypt the archive and manifest at rest to the project's age
    /// recipients (.herd-recipients); restore needs your identity.
    #[arg(long = "encrypt")]
    pub encrypt: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// List the backups kept (of HOST, or of every host), oldest first.
    List {
        #[arg(value_name = "HOST")]
        host: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

pub fn execute(ctx: &Context, args: BackupArgs) -> anyhow::Result<u8> {
    if let Some(BackupCommand::List { host, format }) = &args.command {
        return list(ctx, host.as_deref(), *format);
    }
    let pattern = args.pattern.as_deref().unwrap_or("all");
    let paths = check_paths(&args.paths)?;
    let keys = if args.encrypt {
        let root = ctx.project.root.as_deref().ok_or_else(|| {
            BadInput(format!(
                "--encrypt needs a project: a {} with a {} file beside it (`herd secrets init`)",
                crate::project::PROJECT_FILE,
                crate::secrets::recipients::FILE
            ))
        })?;
        Some(crate::secrets::recipients::require(
            &crate::secrets::recipients::path(root),
        )?)
    } else {
        None
    };
    let state_dir = ctx.project.ensure_state_dir()?.to_path_buf();
    let fleet = ctx.fleet(&args.connect, pattern)?;

    let job = Arc::new(Job {
        state_dir,
        id: backup::new_id(),
        paths,
        keys,
        keep: args.keep.map(|k| k as usize),
    });
    let outcomes = fanout::block_on(fanout::for_each_host(
        fleet.pool(),
        &fleet.hosts,
        fleet.forks,
        move |pool, host| {
            let job = job.clone();
            async move { job.run(pool, host).await }
        },
    ))?;

    let mut out = crate::secrets::redact::stdout();
    let mut statuses = Vec::new();
    for (host, outcome) in outcomes {
        let report = match outcome {
            Outcome::Done(report) => report,
            Outcome::Interrupted => HostReport::failed(HostStatus::Interrupted, "interrupted"),
            Outcome::Panicked(why) => HostReport::failed(HostStatus::Failed, why),
        };
        statuses.push(report.status);
        match args.format {
            Format::Json => crate::report::json::write_line(
                &mut out,
                &JsonLine {
                    host: &host,
                    report: &report,
                },
            )?,
            Format::Text => writeln!(out, "{}", report.text(&host))?,
        }
    }
    Ok(RunOutcome::from_statuses(statuses).exit_code())
}

/// Paths must be absolute and plain: the archive is made relative to `/`.
fn check_paths(paths: &[String]) -> Result<Vec<String>, BadInput> {
    paths
        .iter()
        .map(|p| {
            if !p.starts_with('/') || p.split('/').any(|part| part == "..") || p.contains('\n') {
                Err(BadInput(format!(
                    "backup path {p:?}: give an absolute path without `..` (e.g. /etc/nginx)"
                )))
            } else {
                Ok(p.clone())
            }
        })
        .collect()
}

/// What every host's backup shares.
struct Job {
    state_dir: PathBuf,
    id: String,
    paths: Vec<String>,
    keys: Option<Vec<age::x25519::Recipient>>,
    keep: Option<usize>,
}

impl Job {
    async fn run(&self, pool: Arc<Pool>, host: FleetHost) -> HostReport {
        let conn = match pool.connect(&host.target).await {
            Ok(conn) => conn,
            Err(e) => return HostReport::failed(HostStatus::Unreachable, e.to_string()),
        };
        match self.back_up(&conn, &host).await {
            Ok(report) => report,
            Err(e) => HostReport::failed(HostStatus::Failed, e),
        }
    }

    async fn back_up(
        &self,
        conn: &crate::ssh::Connection,
        host: &FleetHost,
    ) -> Result<HostReport, String> {
        let backups = Backups::new(&self.state_dir);
        let pending = backups
            .begin(host.name(), &self.id, self.keys.is_some())
            .map_err(|e| e.to_string())?;
        let writer = ArchiveWriter::create(&pending.archive_path(), self.keys.as_deref())
            .map_err(|e| e.to_string())?;
        let mut sink = BlockingWrite(writer);
        let command = backup::remote::tar_command(&self.paths);
        let out = conn
            .exec_to(&command, &host.exec, &mut sink)
            .await
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let warning = match out.exit_code {
            Some(0) => None,
            Some(backup::remote::TAR_FILE_CHANGED) => Some(stderr),
            _ => {
                let why = if stderr.is_empty() {
                    format!("tar exited with {:?}", out.exit_code)
                } else {
                    stderr
                };
                return Err(format!("{why} (nothing saved)"));
            }
        };
        let (entries, archive_bytes) = sink.0.finish().map_err(|e| e.to_string())?;
        let files: Vec<_> = entries.iter().filter(|e| e.kind == Kind::File).collect();
        let summary = Summary {
            host: host.name().to_string(),
            id: pending.id.clone(),
            created: jiff::Timestamp::now().to_string(),
            paths: self.paths.clone(),
            files: files.len() as u64,
            bytes: files.iter().map(|e| e.size).sum(),
            archive_bytes,
            encrypted: self.keys.is_some(),
        };
        pending
            .commit(&summary, &entries, self.keys.as_deref())
            .map_err(|e| e.to_string())?;
        let pruned = match self.keep {
            Some(keep) => backups
                .prune(host.name(), keep)
                .map_err(|e| format!("backup {} saved, but pruning failed: {e}", summary.id))?,
            None => Vec::new(),
        };
        Ok(HostReport {
            status: HostStatus::Ok,
            summary: Some(summary),
            pruned,
            warning,
            error: None,
        })
    }
}

/// How one host's backup went.
#[derive(Debug, Serialize)]
struct HostReport {
    status: HostStatus,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pruned: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    host: &'a str,
    #[serde(flatten)]
    report: &'a HostReport,
}

impl HostReport {
    fn failed(status: HostStatus, error: impl Into<String>) -> HostReport {
        HostReport {
            status,
            summary: None,
            pruned: Vec::new(),
            warning: None,
            error: Some(error.into()),
        }
    }

    fn text(&self, host: &str) -> String {
        let Some(s) = &self.summary else {
            let status = self.status.as_str().to_uppercase();
            return format!("{host}: {status}: {}", self.error.as_deref().unwrap_or(""));
        };
        let mut line = format!(
            "{host}: backup {}: {} files, {} (archive {}){}",
            s.id,
            s.files,
            human_bytes(s.bytes),
            human_bytes(s.archive_bytes),
            if s.encrypted { ", encrypted" } else { "" }
        );
        if !self.pruned.is_empty() {
            line.push_str(&format!("; deleted older: {}", self.pruned.join(", ")));
        }
        if let Some(w) = &self.warning {
            line.push_str(&format!(
                "\n{host}: warning: files changed while being read: {w}"
            ));
        }
        line
    }
}

fn list(ctx: &Context, host: Option<&str>, format: Format) -> anyhow::Result<u8> {
    let backups = Backups::new(&ctx.project.state_dir).list(host)?;
    let mut out = crate::secrets::redact::stdout();
    if format == Format::Json {
        for b in &backups {
            crate::report::json::write_line(&mut out, b)?;
        }
        return Ok(crate::exit::OK);
    }
    if backups.is_empty() {
        let whose = host.map_or(String::new(), |h| format!(" of {h}"));
        writeln!(
            out,
            "no backups{whose} in {}",
            ctx.project.state_dir.join("backups").display()
        )?;
        return Ok(crate::exit::OK);
    }
    let rows: Vec<[String; 7]> = backups
        .iter()
        .map(|b| {
            [
                b.host.clone(),
                b.id.clone(),
                b.files.to_string(),
                human_bytes(b.bytes),
                human_bytes(b.archive_bytes),
                if b.encrypted { "yes" } else { "no" }.to_string(),
                b.paths.join(" "),
            ]
        })
        .collect();
    let header = [
        "HOST",
        "BACKUP",
        "FILES",
        "BYTES",
        "ARCHIVE",
        "ENCRYPTED",
        "PATHS",
    ];
    let table: Vec<Vec<String>> = std::iter::once(header.map(String::from).to_vec())
        .chain(rows.into_iter().map(Vec::from))
        .collect();
    crate::report::table::write(&mut out, &table, &[2, 3, 4])?;
    Ok(crate::exit::OK)
}

/// `1234567` -> `1.2 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_paths() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert!(check_paths(&["/etc".into()]).is_ok());
        assert!(check_paths(&["etc".into()]).is_err());
        assert!(check_paths(&["/etc/../root".into()]).is_err());
    }
}
