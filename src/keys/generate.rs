//! New ed25519 key pairs for `herd keys rotate`, made in-process with
//! russh's ssh-key (no ssh-keygen needed); the seed comes from the system
//! RNG through ring, already our crypto backend.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};

use super::KeyError;

/// A freshly written key pair.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key file (mode 0600); the public key is beside it as
    /// `PATH.pub`.
    pub private: PathBuf,
    pub public: PublicKey,
}

/// Writes a new ed25519 key pair to `path` and `path.pub`. Refuses to
/// overwrite: the private key file is created with O_EXCL and mode 0600.
pub fn ed25519(path: &Path, comment: &str) -> Result<KeyPair, KeyError> {
    let io = |action: &'static str| {
        move |source| KeyError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| KeyError::Generate("the system random generator failed".into()))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    let private_text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let public_text = key
        .public_key()
        .to_openssh()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("cannot create the key directory"))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot create the private key"))?;
    file.write_all(private_text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io("cannot write the private key"))?;
    let public_path = public_path(path);
    std::fs::write(&public_path, format!("{public_text}\n")).map_err(|source| KeyError::Io {
        path: public_path.clone(),
        action: "cannot write the public key",
        source,
    })?;
    Ok(KeyPair {
        private: path.to_path_buf(),
        public: key.public_key().clone(),
    })
}

/// `PATH.pub`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Removes a key pair written by [`ed25519`] (a rotation that was undone).
pub fn discard(pair: &KeyPair) {
    let _ = std::fs::remove_file(&pair.private);
    let _ = std::fs::remove_file(public_path(&pair.private));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_private_0600_key_that_loads_and_matches_its_pub() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/id_new");
        let pair = ed25519(&path, "herd rotate").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = russh::keys::decode_secret_key(&text, None).unwrap();
        assert_eq!(loaded.public_key().key_data(), pair.public.key_data());
        let public = russh::keys::load_public_key(public_path(&path)).unwrap();
        assert_eq!(public.key_data(), pair.public.key_data());
        // Never overwrites.
        assert!(ed25519(&path, "again").is_err());
        // Two keys are different keys.
        let other = ed25519(&dir.path().join("other"), "x").unwrap();
        assert_ne!(other.public.key_data(), pair.public.key_data());
    }
}
