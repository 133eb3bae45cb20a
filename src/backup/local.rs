//! The backups on the controller: one directory per host and backup,
//! created under a hidden `.ID.partial` name and renamed into place only
//! when complete, so a failed or interrupted backup never shows up as one.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BackupError, Entry};
use crate::report::hostlist::natural_cmp;

const SUMMARY: &str = "backup.json";
const MANIFEST: &str = "manifest.json";
const ARCHIVE: &str = "archive.tar.gz";
const AGE: &str = ".age";

/// What `herd backup list` shows about a backup (`backup.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub host: String,
    pub id: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// The paths asked for.
    pub paths: Vec<String>,
    /// Regular files in the backup.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Size of the compressed archive (before encryption).
    pub archive_bytes: u64,
    pub encrypted: bool,
}

/// A new backup ID from the current time: `20260101T120000Z`. IDs sort
/// in time order (a second backup in the same second gets `-2`).
pub fn new_id() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// `<state dir>/backups`.
pub struct Backups {
    root: PathBuf,
}

impl Backups {
    pub fn new(state_dir: &Path) -> Backups {
        Backups {
            root: state_dir.join("backups"),
        }
    }

    /// The backups of `host` (all hosts if `None`), oldest first.
    pub fn list(&self, host: Option<&str>) -> Result<Vec<Summary>, BackupError> {
        let hosts = match host {
            Some(h) => vec![h.to_string()],
            None => visible_children(&self.root)?,
        };
        let mut all = Vec::new();
        for host in hosts {
            let dir = self.root.join(&host);
            let mut ids = visible_children(&dir)?;
            ids.sort_by(|a, b| natural_cmp(a, b));
            for id in ids {
                let path = dir.join(&id).join(SUMMARY);
                if path.is_file() {
                    all.push(read_json::<Summary>(&path)?);
                }
            }
        }
        Ok(all)
    }

    /// The backup `id` of `host`; `latest` is the newest.
    pub fn find(&self, host: &str, id: &str) -> Result<Summary, BackupError> {
        let backups = self.list(Some(host))?;
        let found = if id == "latest" {
            backups.last()
        } else {
            backups.iter().find(|b| b.id == id)
        };
        found.cloned().ok_or_else(|| BackupError::NotFound {
            host: host.to_string(),
            id: id.to_string(),
        })
    }

    /// Deletes all but the newest `keep` backups of `host`; returns the IDs
    /// deleted.
    pub fn prune(&self, host: &str, keep: usize) -> Result<Vec<String>, BackupError> {
        let backups = self.list(Some(host))?;
        let excess = backups.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for old in &backups[..excess] {
            let dir = self.dir(host, &old.id);
            std::fs::remove_dir_all(&dir).map_err(BackupError::io(&dir, "delete old backup"))?;
            removed.push(old.id.clone());
        }
        Ok(removed)
    }

    fn dir(&self, host: &str, id: &str) -> PathBuf {
        self.root.join(host).join(id)
    }

    /// Starts backup `id` of `host` in a hidden directory; the ID gets a
    /// `-N` suffix if that backup exists already.
    pub fn begin(&self, host: &str, id: &str, encrypted: bool) -> Result<Pending, BackupError> {
        if host.is_empty() || host.starts_with('.') || host.contains('/') {
            return Err(BackupError::Io {
                path: self.root.join(host),
                action: "use this host name as a directory name",
                source: std::io::Error::other("it is empty, starts with `.` or contains `/`"),
            });
        }
        let host_dir = self.root.join(host);
        crate::atomic::create_private_dir(&host_dir)
            .map_err(BackupError::io(&host_dir, "create backup directory"))?;
        // IDs must keep sorting in time order, also after pruning: a new
        // ID sorts after the newest kept one (same second: `-N`; a clock
        // that went back: the newest one's time).
        let newest = visible_children(&host_dir)?
            .into_iter()
            .max_by(|a, b| natural_cmp(a, b));
        let mut base = id.to_string();
        if let Some(newest_base) = newest.as_deref().and_then(|n| n.split('-').next())
            && natural_cmp(newest_base, id).is_gt()
        {
            base = newest_base.to_string();
        }
        let mut final_id = base.clone();
        let mut n = 1;
        while newest
            .as_deref()
            .is_some_and(|max| natural_cmp(&final_id, max).is_le())
        {
            n += 1;
            final_id = format!("{base}-{n}");
        }
        let partial = host_dir.join(format!(".{final_id}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .map_err(BackupError::io(&partial, "remove an unfinished backup"))?;
        }
        crate::atomic::create_private_dir(&partial)
            .map_err(BackupError::io(&partial, "create backup directory"))?;
        Ok(Pending {
            id: final_id.clone(),
            host: host.to_string(),
            partial,
            dir: host_dir.join(final_id),
            encrypted,
            committed: false,
        })
    }

    /// The manifest of a backup, decrypted with the identity if needed.
    pub fn manifest(&self, backup: &Summary) -> Result<Vec<Entry>, BackupError> {
        let dir = self.dir(&backup.host, &backup.id);
        if backup.encrypted {
            let path = dir.join(format!("{MANIFEST}{AGE}"));
            let plain = crate::secrets::vault::decrypt_file(&path)?;
            parse_json(&path, &plain)
        } else {
            read_json(&dir.join(MANIFEST))
        }
    }

    /// A reader of the backup's tar.gz archive, decrypted if needed.
    pub fn open_archive(&self, backup: &Summary) -> Result<Box<dyn Read>, BackupError> {
        let dir = self.dir(&backup.host, &backup.id);
        if backup.encrypted {
            let path = dir.join(format!("{ARCHIVE}{AGE}"));
            Ok(Box::new(crate::secrets::vault::open_decrypted(&path)?))
        } else {
            let path = dir.join(ARCHIVE);
            let file =
                std::fs::File::open(&path).map_err(BackupError::io(&path, "open the archive"))?;
            Ok(Box::new(std::io::BufReader::new(file)))
        }
    }

    /// Where a backup's archive file is.
    pub fn archive_path(&self, backup: &Summary) -> PathBuf {
        let name = if backup.encrypted {
            format!("{ARCHIVE}{AGE}")
        } else {
            ARCHIVE.to_string()
        };
        self.dir(&backup.host, &backup.id).join(name)
    }
}

/// A backup being written. Dropped without [`commit`](Pending::commit),
/// its directory is removed.
pub struct Pending {
    pub id: String,
    pub host: String,
    partial: PathBuf,
    dir: PathBuf,
    encrypted: bool,
    committed: bool,
}

impl Pending {
    /// Where to write the archive.
    pub fn archive_path(&self) -> PathBuf {
        let name = if self.encrypted {
            format!("{ARCHIVE}{AGE}")
        } else {
            ARCHIVE.to_string()
        };
        self.partial.join(name)
    }

    /// Writes the manifest (encrypted to `keys` when the backup is) and
    /// the summary, then moves the backup into place.
    pub fn commit(
        mut self,
        summary: &Summary,
        entries: &[Entry],
        keys: Option<&[age::x25519::Recipient]>,
    ) -> Result<PathBuf, BackupError> {
        let manifest = serde_json::to_vec_pretty(entries).map_err(|e| BackupError::Corrupt {
            path: self.partial.join(MANIFEST),
            message: e.to_string(),
        })?;
        match keys {
            Some(keys) => write_private(
                &self.partial.join(format!("{MANIFEST}{AGE}")),
                &crate::secrets::vault::encrypt(&manifest, keys)?,
            )?,
            None => write_private(&self.partial.join(MANIFEST), &manifest)?,
        }
        let summary = serde_json::to_vec_pretty(summary).expect("summary serializes");
        write_private(&self.partial.join(SUMMARY), &summary)?;
        std::fs::rename(&self.partial, &self.dir).map_err(BackupError::io(
            &self.dir,
            "move the finished backup into place",
        ))?;
        self.committed = true;
        Ok(self.dir.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    let mut file = crate::secrets::identity::private_file(path)?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(BackupError::io(path, "write"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BackupError> {
    let data = std::fs::read(path).map_err(BackupError::io(path, "read"))?;
    parse_json(path, &data)
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, data: &[u8]) -> Result<T, BackupError> {
    serde_json::from_slice(data).map_err(|e| BackupError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Names in `dir` not starting with `.`; none if `dir` does not exist.
fn visible_children(dir: &Path) -> Result<Vec<String>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io(dir, "list backups")(e)),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(host: &str, id: &str) -> Summary {
        Summary {
            host: host.into(),
            id: id.into(),
            created: "2026-01-01T00:00:00Z".into(),
            paths: vec!["/etc".into()],
            files: 0,
            bytes: 0,
            archive_bytes: 0,
            encrypted: false,
        }
    }

    #[test]
    fn ids_get_suffixes_and_prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let backups = Backups::new(dir.path());
        let mut ids = Vec::new();
        for _ in 0..3 {
            let pending = backups.begin("web1", "20260101T000000Z", false).unwrap();
            let id = pending.id.clone();
            pending.commit(&summary("web1", &id), &[], None).unwrap();
            ids.push(id);
        }
        assert_eq!(
            ids,
            [
                "20260101T000000Z",
                "20260101T000000Z-2",
                "20260101T000000Z-3"
            ]
        );
        // An abandoned backup leaves nothing behind.
        drop(backups.begin("web1", "20260102T000000Z", false).unwrap());
        assert_eq!(backups.list(None).unwrap().len(), 3);
        assert_eq!(backups.find("web1", "latest").unwrap().id, ids[2]);
        assert_eq!(backups.prune("web1", 1).unwrap(), ids[..2]);
        // After pruning, a backup in the same second still sorts last.
        let next = backups.begin("web1", "20260101T000000Z", false).unwrap();
        assert_eq!(next.id, "20260101T000000Z-4");
        drop(next);
        // A clock that went back does not make the new backup the oldest.
        let next = backups.begin("web1", "20250101T000000Z", false).unwrap();
        assert_eq!(next.id, "20260101T000000Z-4");
        drop(next);
        let left: Vec<_> = backups.list(Some("web1")).unwrap();
        assert_eq!(left.len(), 1);
        assert!(backups.find("web1", &ids[0]).is_err());
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join("backups/web1").join(&ids[2])).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    }
}
