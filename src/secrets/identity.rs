//! The user's own age identity (private key): where it lives, creating it,
//! loading it for decryption.
//!
//! Lookup order: `--identity PATH`, then `HERD_IDENTITY` (clap fills both
//! into [`set_path`]), then `$XDG_CONFIG_HOME/herd/identity.txt` or
//! `~/.config/herd/identity.txt`. The file is a standard age identity file,
//! so `age -d -i` accepts it too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;

use super::SecretsError;

static OVERRIDE: OnceLock<PathBuf> = OnceLock::new();

/// Sets the identity file for this process (from `--identity`/`HERD_IDENTITY`).
pub fn set_path(path: PathBuf) {
    let _ = OVERRIDE.set(path);
}

/// The identity file in use.
pub fn path() -> PathBuf {
    if let Some(path) = OVERRIDE.get() {
        return path.clone();
    }
    default_path()
}

/// `$XDG_CONFIG_HOME/herd/identity.txt` or `~/.config/herd/identity.txt`.
pub fn default_path() -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".config")
        });
    config.join("herd/identity.txt")
}

/// Loads the identity file at `path`, or creates one (mode 0600) if there is
/// none. Returns the public key and whether it was created.
pub fn ensure(path: &Path) -> Result<(age::x25519::Recipient, bool), SecretsError> {
    if path.exists() {
        return Ok((public_key(path)?, false));
    }
    if let Some(dir) = path.parent() {
        crate::atomic::create_private_dir(dir)
            .map_err(|e| SecretsError::io(dir, "cannot create directory", e))?;
    }
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public();
    let text = format!(
        "# created by herd: {}\n# public key: {public}\n{}\n",
        jiff::Timestamp::now(),
        identity.to_string().expose_secret()
    );
    let mut file = private_file(path)?;
    file.write_all(text.as_bytes())
        .map_err(|e| SecretsError::io(path, "cannot write identity", e))?;
    Ok((public, true))
}

/// Creates `path` for writing with mode 0600 (refuses to follow an existing file).
pub(crate) fn private_file(path: &Path) -> Result<std::fs::File, SecretsError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SecretsError::io(path, "cannot create file", e))
}

/// The x25519 identities in the file at `path` (only x25519 lines matter
/// for herd: it is what `herd secrets init` and `age-keygen` write).
pub fn load(path: &Path) -> Result<Vec<age::x25519::Identity>, SecretsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SecretsError::NoIdentity {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(SecretsError::io(path, "cannot read identity", e)),
    };
    let mut identities = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity =
            age::x25519::Identity::from_str(line).map_err(|e| SecretsError::BadIdentity {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(SecretsError::BadIdentity {
            path: path.to_path_buf(),
            message: "no AGE-SECRET-KEY-1... line".into(),
        });
    }
    Ok(identities)
}

/// The public key of the first identity in the file.
pub fn public_key(path: &Path) -> Result<age::x25519::Recipient, SecretsError> {
    Ok(load(path)?[0].to_public())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_identity_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herd/identity.txt");
        let (public, created) = ensure(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = ensure(&path).unwrap();
        assert!(!created);
        assert_eq!(public.to_string(), again.to_string());
    }
}
