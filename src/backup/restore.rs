//! Putting a backup's files back on its host. What the host has now is
//! probed first (one round trip: type, mode, owner, sha256 of every path);
//! only paths that differ are touched, each file atomically (temp file +
//! rename, by `Connection::put`), with its mode and owner. Check mode stops
//! after reporting what would change. Paths on the host that are not in
//! the backup are left alone.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use super::{BackupError, Backups, Entry, Kind, Summary, manifest, remote};
use crate::engine::RunOutcome;
use crate::engine::fanout::FleetHost;
use crate::ssh::{Connection, ExecError, ExecOptions, PutOptions, TransferError};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{path} is not in backup {id} (`herd backup list` shows what each backup holds)")]
    NotInBackup { path: String, id: String },
    #[error("{host}: cannot read the current state of the files: {reason}")]
    Probe { host: String, reason: String },
    #[error("{path}: listed in the manifest but not in the archive")]
    NotInArchive { path: String },
    #[error("{path}: the archive's copy does not match the manifest's sha256: {} is damaged", archive.display())]
    Damaged { path: String, archive: PathBuf },
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

crate::exit::code!(RestoreError, |err| match err {
    RestoreError::NotInBackup { .. } => crate::exit::BAD_INPUT,
    RestoreError::Backup(e) => e.exit_code(),
    _ => crate::exit::ERROR,
});

/// One restore of one backup on its host.
pub struct Restore<'a> {
    pub backups: &'a Backups,
    pub summary: &'a Summary,
    /// The entries to restore (see [`select`]).
    pub entries: Vec<&'a Entry>,
    /// Report what would change; change nothing.
    pub check: bool,
    /// Show a unified diff of each changed text file.
    pub diff: bool,
}

/// A backed-up path that differs from the host, and how.
struct Change<'a> {
    entry: &'a Entry,
    why: Vec<&'static str>,
}

/// The entries to restore: all, or those under the given paths (each of
/// which must be in the backup).
pub fn select<'a>(
    all: &'a [Entry],
    paths: &[String],
    id: &str,
) -> Result<Vec<&'a Entry>, RestoreError> {
    if let Some(path) = paths
        .iter()
        .find(|path| !all.iter().any(|e| manifest::is_under(&e.path, path)))
    {
        return Err(RestoreError::NotInBackup {
            path: path.clone(),
            id: id.to_string(),
        });
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

impl Restore<'_> {
    /// Probes, reports, diffs and restores on `conn`, writing one line per
    /// path to `out`. Returns how the host ended.
    pub async fn run(
        &self,
        conn: &Connection,
        host: &FleetHost,
        out: &mut impl Write,
    ) -> Result<RunOutcome, RestoreError> {
        let name = host.name();
        let (id, total) = (&self.summary.id, self.entries.len());
        let changes = probe(conn, &host.exec, &self.entries)
            .await
            .map_err(|reason| RestoreError::Probe {
                host: name.to_string(),
                reason,
            })?;
        let verb = if self.check {
            "would restore"
        } else {
            "to restore"
        };
        for c in &changes {
            writeln!(
                out,
                "{name}: {}: {verb} ({})",
                c.entry.path,
                c.why.join(", ")
            )?;
        }
        let contents = self.contents_needed(&changes)?;
        if self.diff {
            for c in &changes {
                if let Some(data) = contents.get(c.entry.path.as_str()) {
                    write_diff(out, conn, &host.exec, c, data).await?;
                }
            }
        }
        if changes.is_empty() {
            writeln!(
                out,
                "{name}: nothing to restore: {total} paths match backup {id}"
            )?;
            return Ok(RunOutcome::Ok);
        }
        if self.check {
            writeln!(
                out,
                "{name}: {} of {total} paths differ from backup {id} (check mode: nothing changed)",
                changes.len(),
            )?;
            return Ok(RunOutcome::Ok);
        }
        let failed = apply(out, conn, host, &changes, &contents).await?;
        writeln!(
            out,
            "{name}: restored {} of {} changed paths from backup {id}",
            changes.len() - failed,
            changes.len(),
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

    /// File contents from the archive, for diffs and for restoring.
    fn contents_needed<'c>(
        &self,
        changes: &[Change<'c>],
    ) -> Result<HashMap<&'c str, Vec<u8>>, RestoreError> {
        let needs_content = |c: &&Change| {
            let content = c
                .why
                .iter()
                .any(|w| matches!(*w, "missing" | "content" | "type"));
            c.entry.kind == Kind::File && (self.diff || (content && !self.check))
        };
        let needed: HashMap<&str, &Entry> = changes
            .iter()
            .filter(needs_content)
            .map(|c| (c.entry.path.as_str(), c.entry))
            .collect();
        read_contents(self.backups, self.summary, &needed)
    }
}

/// The entries that differ from the host now.
async fn probe<'a>(
    conn: &Connection,
    exec: &ExecOptions,
    entries: &[&'a Entry],
) -> Result<Vec<Change<'a>>, String> {
    let opts = ExecOptions {
        stdin: Some(remote::probe_input(entries)),
        ..exec.clone()
    };
    let out = conn
        .exec(remote::PROBE, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if !out.success() || lines.len() != entries.len() {
        return Err(format!(
            "the probe answered {} lines for {} paths (exit {:?}): {}",
            lines.len(),
            entries.len(),
            out.exit_code,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut changes = Vec::new();
    for (entry, line) in entries.iter().zip(lines) {
        let remote = remote::parse_probe(line)
            .ok_or_else(|| format!("{}: unexpected probe output {line:?}", entry.path))?;
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
    summary: &Summary,
    wanted: &HashMap<&'a str, &'a Entry>,
) -> Result<HashMap<&'a str, Vec<u8>>, RestoreError> {
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
            .ok_or_else(|| RestoreError::NotInArchive {
                path: path.to_string(),
            })?;
        let hash = {
            use sha2::Digest;
            manifest::hex(&sha2::Sha256::digest(data))
        };
        if entry.sha256.as_deref() != Some(hash.as_str()) {
            return Err(RestoreError::Damaged {
                path: path.to_string(),
                archive: backups.archive_path(summary),
            });
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
) -> Result<(), RestoreError> {
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
            write!(out, "{}", crate::modules::diff::unified(&diff))?;
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
    host: &FleetHost,
    changes: &[Change<'_>],
    contents: &HashMap<&str, Vec<u8>>,
) -> std::io::Result<usize> {
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

/// Why one path could not be restored (shown on its line).
#[derive(Debug, thiserror::Error)]
enum PathError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("exit {code:?}: {stderr}")]
    Failed { code: Option<i32>, stderr: String },
}

async fn put(
    conn: &Connection,
    host: &FleetHost,
    entry: &Entry,
    data: &[u8],
) -> Result<(), PathError> {
    let named = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let opts = PutOptions {
        mode: Some(entry.mode),
        owner: named(&entry.owner),
        group: named(&entry.group),
        become_: host.exec.become_.clone(),
        timeout: None,
    };
    conn.put(data, &entry.path, &opts).await?;
    Ok(())
}

async fn run(conn: &Connection, exec: &ExecOptions, command: &str) -> Result<(), PathError> {
    let out = conn.exec(command, exec).await?;
    if !out.success() {
        return Err(PathError::Failed {
            code: out.exit_code,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
