//! What a backup holds: one [`Entry`] per file, directory or symlink, read
//! from the archive itself on the controller, so the manifest describes
//! exactly the bytes that were saved (a manifest computed separately on
//! the host could disagree with a file that changed in between).

use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BackupError;

/// The kind of a backed-up path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, fifos, sockets: listed, never restored.
    Other,
}

/// One path in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Absolute path on the host.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub size: u64,
    /// Permission bits (with setuid/setgid/sticky), e.g. 0o640.
    pub mode: u32,
    pub owner: String,
    pub group: String,
    /// Hex SHA-256 of a regular file's contents.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Where a symlink points.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
}

/// Reads a gzip-compressed tar stream to its end and lists its entries,
/// hashing every regular file's contents. Paths in the archive are relative
/// to `/` (the host ran `tar -C /`).
pub fn index(reader: impl Read) -> Result<Vec<Entry>, BackupError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut entries = Vec::new();
    for item in archive.entries().map_err(BackupError::archive)? {
        let mut item = item.map_err(BackupError::archive)?;
        let header = item.header();
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        let name = |bytes: Option<&[u8]>| {
            bytes
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut entry = Entry {
            path: absolute(&String::from_utf8_lossy(&item.path_bytes())),
            kind,
            size: 0,
            mode: header.mode().map_err(BackupError::archive)? & 0o7777,
            owner: name(header.username_bytes()),
            group: name(header.groupname_bytes()),
            sha256: None,
            target: None,
        };
        match kind {
            Kind::File => {
                let mut hasher = Sha256::new();
                entry.size = std::io::copy(&mut item, &mut HashWriter(&mut hasher))
                    .map_err(BackupError::archive)?;
                entry.sha256 = Some(hex(&hasher.finalize()));
            }
            Kind::Symlink => {
                entry.target = item
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
            }
            Kind::Dir | Kind::Other => {}
        }
        entries.push(entry);
    }
    // GNU tar pads the archive past its end marker: read the rest so the
    // writer feeding us never blocks.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(BackupError::archive)?;
    Ok(entries)
}

/// Calls `found` with the contents of each regular file in the archive
/// whose path `wanted` accepts, reading the archive once.
pub fn read_files(
    reader: impl Read,
    wanted: impl Fn(&str) -> bool,
    mut found: impl FnMut(&str, Vec<u8>),
) -> Result<(), BackupError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    for item in archive.entries().map_err(BackupError::archive)? {
        let mut item = item.map_err(BackupError::archive)?;
        if !matches!(
            item.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let path = absolute(&String::from_utf8_lossy(&item.path_bytes()));
        if wanted(&path) {
            let mut data = Vec::with_capacity(item.size() as usize);
            item.read_to_end(&mut data).map_err(BackupError::archive)?;
            found(&path, data);
        }
    }
    Ok(())
}

/// `etc/app/` -> `/etc/app`.
fn absolute(relative: &str) -> String {
    let trimmed = relative.trim_start_matches("./").trim_end_matches('/');
    format!("/{}", trimmed.trim_start_matches('/'))
}

/// Whether `path` is `prefix` or inside it.
pub fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz like `tar -C / -czf - etc/app` makes.
    fn sample() -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_size(0);
        dir.set_username("root").unwrap();
        dir.set_groupname("adm").unwrap();
        dir.set_cksum();
        b.append_data(&mut dir, "etc/app/", std::io::empty())
            .unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_mode(0o640);
        file.set_size(6);
        file.set_username("app").unwrap();
        file.set_groupname("app").unwrap();
        file.set_cksum();
        b.append_data(&mut file, "etc/app/a.conf", &b"hello\n"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        link.set_size(0);
        link.set_cksum();
        b.append_link(&mut link, "etc/app/current", "a.conf")
            .unwrap();
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn indexes_files_dirs_and_links_with_hashes() {
        let entries = index(&sample()[..]).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, "/etc/app");
        assert_eq!((entries[0].kind, entries[0].mode), (Kind::Dir, 0o750));
        let file = &entries[1];
        assert_eq!(file.path, "/etc/app/a.conf");
        assert_eq!((file.size, file.mode), (6, 0o640));
        assert_eq!((file.owner.as_str(), file.group.as_str()), ("app", "app"));
        assert_eq!(
            file.sha256.as_deref(),
            Some("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
        );
        assert_eq!(entries[2].kind, Kind::Symlink);
        assert_eq!(entries[2].target.as_deref(), Some("a.conf"));

        let mut got = Vec::new();
        read_files(
            &sample()[..],
            |p| p.ends_with(".conf"),
            |p, d| got.push((p.to_string(), d)),
        )
        .unwrap();
        assert_eq!(got, [("/etc/app/a.conf".to_string(), b"hello\n".to_vec())]);
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_under("/etc/app/a", "/etc/app"));
        assert!(is_under("/etc/app", "/etc/app/"));
        assert!(!is_under("/etc/apples", "/etc/app"));
        assert!(is_under("/x", "/"));
    }
}
