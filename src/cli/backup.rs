//! `herd backup PATTERN PATH...`: each host's files as a tar.gz streamed
//! over SSH into `.herd/backups/HOST/ID/` with a manifest; `herd backup
//! list [HOST]` shows what is kept. See `crate::backup` for the layout.

use std::io::Write;
use std::sync::Arc;

use super::connect::ConnectArgs;
use super::{BadInput, Context, Format};
use crate::backup::job::{HostReport, Job, JsonLine, human_bytes};
use crate::backup::{self, Backups};
use crate::engine::fanout::{self, Outcome};
use crate::engine::{HostStatus, RunOutcome};

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
