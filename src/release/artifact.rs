//! The build being released: its bytes, their sha256, the release id, and a
//! gzip copy when compression pays off on the wire (made on first need, so
//! a rerun that sends nothing never pays for it).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

/// Below this ratio (compressed / original) the gzip copy is sent.
const WORTH_IT: f64 = 0.9;

/// A binary ready to ship. Cheap to clone (the bytes are shared).
#[derive(Debug, Clone)]
pub struct Artifact {
    /// File name inside the release directory.
    pub name: String,
    /// Release id: the given version, else the first 12 hex digits of the sha256.
    pub id: String,
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
    /// gzip of `bytes`, when it is clearly smaller; see [`Artifact::gzip`].
    gzip: Arc<OnceLock<Option<Vec<u8>>>>,
}

/// Why an artifact could not be prepared (before any host is touched).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("binary {path}: {source} (give the path of the build to release with --binary)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("binary {0} is empty: refusing to release an empty file")]
    Empty(String),
    #[error(
        "release version {0:?} is not a plain name: use letters, digits, '.', '_', '+' and '-'"
    )]
    BadVersion(String),
}

impl Artifact {
    /// Reads `path`; `version` names the release (default: sha256 prefix).
    pub fn load(path: &Path, version: Option<&str>) -> Result<Artifact, ArtifactError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
            path: shown.clone(),
            source,
        })?;
        if bytes.is_empty() {
            return Err(ArtifactError::Empty(shown));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into());
        Artifact::from_bytes(name, bytes, version)
    }

    pub fn from_bytes(
        name: String,
        bytes: Vec<u8>,
        version: Option<&str>,
    ) -> Result<Artifact, ArtifactError> {
        let sha256 = crate::remote::hex(&Sha256::digest(&bytes));
        let id = match version {
            Some(v) if is_plain_name(v) => v.to_string(),
            Some(v) => return Err(ArtifactError::BadVersion(v.to_string())),
            None => sha256[..12].to_string(),
        };
        Ok(Artifact {
            name,
            id,
            sha256,
            bytes: Arc::new(bytes),
            gzip: Arc::default(),
        })
    }

    /// The gzip copy, when it is clearly smaller than the binary. Made once,
    /// by the first host that needs it (fast level: the wire, not the ratio,
    /// is what it saves).
    pub fn gzip(&self) -> Option<&[u8]> {
        self.gzip
            .get_or_init(|| {
                compress(&self.bytes)
                    .filter(|gz| (gz.len() as f64) < self.bytes.len() as f64 * WORTH_IT)
            })
            .as_deref()
    }
}

/// A release id or file name that is safe as one path component.
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

fn compress(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

crate::exit::bad_input!(ArtifactError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_the_version_or_the_sha_prefix() {
        let a = Artifact::from_bytes("app".into(), b"hello".to_vec(), None).unwrap();
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(a.id, "2cf24dba5fb0");
        let b = Artifact::from_bytes("app".into(), b"hello".to_vec(), Some("1.4.2")).unwrap();
        assert_eq!(b.id, "1.4.2");
        assert!(Artifact::from_bytes("app".into(), b"x".to_vec(), Some("../x")).is_err());
    }

    #[test]
    fn gzip_copy_only_when_it_pays() {
        let text = b"the same line again\n".repeat(500);
        let a = Artifact::from_bytes("app".into(), text, None).unwrap();
        assert!(a.gzip().unwrap().len() < a.bytes.len() / 10);
        // xorshift64: bytes gzip cannot shrink.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let b = Artifact::from_bytes("app".into(), noise, None).unwrap();
        assert!(b.gzip().is_none());
    }
}
