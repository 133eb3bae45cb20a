//! `herd backup` on one host: connect, stream `tar czf -` into a new
//! backup directory while reading its manifest, commit it, prune old ones;
//! and how it went, for people or as JSON.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::{ArchiveWriter, Backups, BlockingWrite, Kind, Summary};
use crate::engine::HostStatus;
use crate::engine::fanout::FleetHost;
use crate::ssh::Pool;

/// What every host's backup shares.
pub struct Job {
    pub state_dir: PathBuf,
    pub id: String,
    pub paths: Vec<String>,
    /// Encrypt the archive and manifest to these recipients.
    pub keys: Option<Vec<age::x25519::Recipient>>,
    /// Backups kept per host (older ones are deleted).
    pub keep: Option<usize>,
}

impl Job {
    /// Backs up one host; every failure is in the report.
    pub async fn run(&self, pool: Arc<Pool>, host: FleetHost) -> HostReport {
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
        let command = super::remote::tar_command(&self.paths);
        let out = conn
            .exec_to(&command, &host.exec, &mut sink)
            .await
            .map_err(|e| e.to_string())?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let warning = match out.exit_code {
            Some(0) => None,
            Some(super::remote::TAR_FILE_CHANGED) => Some(stderr),
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
pub struct HostReport {
    pub status: HostStatus,
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
/// One host's report as a JSON line.
pub struct JsonLine<'a> {
    pub host: &'a str,
    #[serde(flatten)]
    pub report: &'a HostReport,
}

impl HostReport {
    pub fn failed(status: HostStatus, error: impl Into<String>) -> HostReport {
        HostReport {
            status,
            summary: None,
            pruned: Vec::new(),
            warning: None,
            error: Some(error.into()),
        }
    }

    /// The report's line(s) for people.
    pub fn text(&self, host: &str) -> String {
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

/// `1234567` -> `1.2 MiB`.
pub fn human_bytes(n: u64) -> String {
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
