//! `herd restore HOST BACKUP [PATH...]`: puts a backup's files back on its
//! host. What the host has now is probed first (one round trip: type,
//! mode, owner, sha256 of every path); only paths that differ are touched,
//! each file atomically (temp file + rename, by `Connection::put`), with its
//! mode and owner. `--check` stops after reporting what would change.
//! Paths on the host that are not in the backup are left alone.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context as _;

use super::connect::ConnectArgs;
use super::{BadInput, Context};
use crate::backup::remote;
use crate::backup::{Backups, Entry, Kind, manifest};
use crate::engine::RunOutcome;
use crate::engine::fanout;
use crate::ssh::{Connection, ExecOptions, PutOptions};

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

/// A backed-up path that differs from the host, and how.
struct Change<'a> {
    entry: &'a Entry,
    why: Vec<&'static str>,
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
    let entries = select(&all, &args.paths, &summary.id)?;

    let mut fleet = ctx.fleet_of(&args.connect, inventory, vec![args.host.clone()])?;
    let pool = fleet.pool();
    let host = fleet.hosts.remove(0);
    let mut out = crate::secrets::redact::stdout();
    let name = args.host.as_str();

    fanout::block_on(async {
        let result = async {
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(e) => {
                    writeln!(out, "{name}: UNREACHABLE: {e}")?;
                    return Ok(RunOutcome::Unreachable);
                }
            };
            let changes = probe(&conn, &host.exec, &entries)
                .await
                .with_context(|| format!("{name}: cannot read the current state of the files"))?;
            for c in &changes {
                let verb = if args.check {
                    "would restore"
                } else {
                    "to restore"
                };
                writeln!(
                    out,
                    "{name}: {}: {verb} ({})",
                    c.entry.path,
                    c.why.join(", ")
                )?;
            }
            // File contents from the archive, for diffs and for restoring.
            let needs_content = |c: &&Change| {
                let content = c
                    .why
                    .iter()
                    .any(|w| matches!(*w, "missing" | "content" | "type"));
                c.entry.kind == Kind::File && (args.diff || (content && !args.check))
            };
            let needed: HashMap<&str, &Entry> = changes
                .iter()
                .filter(needs_content)
                .map(|c| (c.entry.path.as_str(), c.entry))
                .collect();
            let contents = read_contents(&backups, &summary, &needed)?;
            if args.diff {
                for c in &changes {
                    if let Some(data) = contents.get(c.entry.path.as_str()) {
                        write_diff(&mut out, &conn, &host.exec, c, data).await?;
                    }
                }
            }
            if changes.is_empty() {
                writeln!(
                    out,
                    "{name}: nothing to restore: {} paths match backup {}",
                    entries.len(),
                    summary.id
                )?;
                return Ok(RunOutcome::Ok);
            }
            if args.check {
                writeln!(
                    out,
                    "{name}: {} of {} paths differ from backup {} (check mode: nothing changed)",
                    changes.len(),
                    entries.len(),
                    summary.id
                )?;
                return Ok(RunOutcome::Ok);
            }
            let failed = apply(&mut out, &conn, &host, &changes, &contents).await?;
            writeln!(
                out,
                "{name}: restored {} of {} changed paths from backup {}",
                changes.len() - failed,
                changes.len(),
                summary.id
            )?;
            Ok(if failed == 0 {
                RunOutcome::Ok
            } else if conn.is_lost().await {
                // The connection died under the restore (exit 4, as run).
                RunOutcome::Unreachable
            } else {
                RunOutcome::Failed
            })
        }
        .await;
        pool.close_all().await;
        result.map(RunOutcome::exit_code)
    })?
}

/// The entries to restore: all, or those under the given paths (each of
/// which must be in the backup).
fn select<'a>(all: &'a [Entry], paths: &[String], id: &str) -> Result<Vec<&'a Entry>, BadInput> {
    for path in paths {
        if !all.iter().any(|e| manifest::is_under(&e.path, path)) {
            return Err(BadInput(format!(
                "{path} is not in backup {id} (`herd backup list` shows what each backup holds)"
            )));
        }
    }
    Ok(all
        .iter()
        .filter(|e| paths.is_empty() || paths.iter().any(|p| manifest::is_under(&e.path, p)))
        .filter(|e| {
            let plain = !e.path.contains('\n');
            if !plain {
                tracing::warn!("{:?}: paths with a newline are not restored", e.path);
            }
            plain && e.kind != Kind::Other
        })
        .collect())
}

/// The entries that differ from the host now.
async fn probe<'a>(
    conn: &Connection,
    exec: &ExecOptions,
    entries: &[&'a Entry],
) -> anyhow::Result<Vec<Change<'a>>> {
    let opts = ExecOptions {
        stdin: Some(remote::probe_input(entries)),
        ..exec.clone()
    };
    let out = conn.exec(remote::PROBE, &opts).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if !out.success() || lines.len() != entries.len() {
        anyhow::bail!(
            "the probe answered {} lines for {} paths (exit {:?}): {}",
            lines.len(),
            entries.len(),
            out.exit_code,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut changes = Vec::new();
    for (entry, line) in entries.iter().zip(lines) {
        let remote = remote::parse_probe(line)
            .with_context(|| format!("{}: unexpected probe output {line:?}", entry.path))?;
        let why = remote::differences(entry, &remote);
        if !why.is_empty() {
            changes.push(Change { entry, why });
        }
    }
    Ok(changes)
}

/// The contents of `wanted` files from the archive, checked against the
/// manifest's sha256.
fn read_contents<'a>(
    backups: &Backups,
    summary: &crate::backup::Summary,
    wanted: &HashMap<&'a str, &'a Entry>,
) -> anyhow::Result<HashMap<&'a str, Vec<u8>>> {
    let mut contents = HashMap::new();
    if wanted.is_empty() {
        return Ok(contents);
    }
    let archive = backups.open_archive(summary)?;
    manifest::read_files(
        archive,
        |path| wanted.contains_key(path),
        |path, data| {
            if let Some((key, _)) = wanted.get_key_value(path) {
                contents.insert(*key, data);
            }
        },
    )?;
    for (path, entry) in wanted {
        let data = contents
            .get(path)
            .with_context(|| format!("{path}: listed in the manifest but not in the archive"))?;
        let hash = {
            use sha2::Digest;
            manifest::hex(&sha2::Sha256::digest(data))
        };
        if entry.sha256.as_deref() != Some(hash.as_str()) {
            anyhow::bail!(
                "{path}: the archive's copy does not match the manifest's sha256: {} is damaged",
                backups.archive_path(summary).display()
            );
        }
    }
    Ok(contents)
}

async fn write_diff(
    out: &mut impl Write,
    conn: &Connection,
    exec: &ExecOptions,
    change: &Change<'_>,
    backup: &[u8],
) -> anyhow::Result<()> {
    let path = &change.entry.path;
    let mut current = Vec::new();
    let before = if change.why.contains(&"missing") || change.why.contains(&"type") {
        None
    } else {
        conn.get_with(path, &mut current, exec).await?;
        Some(current)
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    let (before_text, after_text) = (before.as_deref().map(text), text(backup));
    match (before_text, after_text) {
        (Some(None), _) | (_, None) => writeln!(out, "{path}: binary file differs")?,
        (before, Some(after)) => {
            let diff = crate::modules::FileDiff {
                path: path.clone(),
                before: before.flatten(),
                after: Some(after),
            };
            write!(out, "{}", crate::report::diff::unified(&diff))?;
        }
    }
    Ok(())
}

/// Restores every change: directories first (parents before children),
/// then files and symlinks. A path that fails is reported and the rest go
/// on. Returns how many failed.
async fn apply(
    out: &mut impl Write,
    conn: &Connection,
    host: &fanout::FleetHost,
    changes: &[Change<'_>],
    contents: &HashMap<&str, Vec<u8>>,
) -> anyhow::Result<usize> {
    let mut ordered: Vec<&Change> = changes.iter().collect();
    ordered.sort_by_key(|c| (c.entry.kind != Kind::Dir, c.entry.path.clone()));
    let mut failed = 0;
    for change in ordered {
        let entry = change.entry;
        let result = match entry.kind {
            Kind::Dir => run(conn, &host.exec, &remote::dir_command(entry)).await,
            Kind::Symlink => {
                let nonce = crate::ssh::nonce();
                run(conn, &host.exec, &remote::symlink_command(entry, &nonce)).await
            }
            Kind::File => match contents.get(entry.path.as_str()) {
                Some(data) => put(conn, host, entry, data).await,
                // Only mode or owner differ: no need to send the content.
                None => run(conn, &host.exec, &remote::attrs_command(entry)).await,
            },
            Kind::Other => Ok(()),
        };
        match result {
            Ok(()) => writeln!(out, "{}: {}: restored", host.name(), entry.path)?,
            Err(e) => {
                failed += 1;
                writeln!(out, "{}: {}: FAILED: {e}", host.name(), entry.path)?;
            }
        }
    }
    Ok(failed)
}

async fn put(
    conn: &Connection,
    host: &fanout::FleetHost,
    entry: &Entry,
    data: &[u8],
) -> anyhow::Result<()> {
    let named = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let opts = PutOptions {
        mode: Some(entry.mode),
        owner: named(&entry.owner),
        group: named(&entry.group),
        become_: host.exec.become_.clone(),
        timeout: None,
    };
    Ok(conn.put(data, &entry.path, &opts).await?)
}

async fn run(conn: &Connection, exec: &ExecOptions, command: &str) -> anyhow::Result<()> {
    let out = conn.exec(command, exec).await?;
    if !out.success() {
        anyhow::bail!(
            "exit {:?}: {}",
            out.exit_code,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
