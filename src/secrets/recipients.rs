//! The project's recipients file, `<project root>/.herd-recipients`: who
//! may decrypt the project's secrets. One age public key (`age1...`) per
//! line, `#` comments allowed — the format `age -R` reads. It is committed
//! with the project; public keys are not secret.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::SecretsError;

/// The file name, at the project root.
pub const FILE: &str = ".herd-recipients";

/// The recipients file for a project rooted at `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(FILE)
}

/// The nearest recipients file at or above the directory of `file`.
pub fn find_for(file: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(file).ok()?;
    dir.ancestors()
        .skip(1)
        .map(|d| d.join(FILE))
        .find(|candidate| candidate.is_file())
}

/// The keys in the file, in order; a missing file has none.
pub fn read(path: &Path) -> Result<Vec<age::x25519::Recipient>, SecretsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SecretsError::io(path, "cannot read recipients", e)),
    };
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let key = line.split('#').next().unwrap_or_default().trim();
        if key.is_empty() {
            continue;
        }
        let recipient =
            age::x25519::Recipient::from_str(key).map_err(|e| SecretsError::BadRecipient {
                path: path.to_path_buf(),
                line: index + 1,
                key: key.to_string(),
                message: e.to_string(),
            })?;
        keys.push(recipient);
    }
    Ok(keys)
}

/// The keys to encrypt to; none is an error.
pub fn require(path: &Path) -> Result<Vec<age::x25519::Recipient>, SecretsError> {
    let keys = read(path)?;
    if keys.is_empty() {
        return Err(SecretsError::NoRecipients {
            path: path.to_path_buf(),
        });
    }
    Ok(keys)
}

/// Parses a public key given on the command line.
pub fn parse(key: &str) -> Result<age::x25519::Recipient, SecretsError> {
    age::x25519::Recipient::from_str(key.trim()).map_err(|_| SecretsError::BadKey {
        key: key.to_string(),
    })
}

/// Adds `key` unless present. Returns whether the file changed.
pub fn add(path: &Path, key: &age::x25519::Recipient) -> Result<bool, SecretsError> {
    let mut keys = read(path)?;
    if keys.iter().any(|k| k.to_string() == key.to_string()) {
        return Ok(false);
    }
    keys.push(key.clone());
    write(path, &keys)?;
    Ok(true)
}

/// Removes `key`. Returns whether it was there.
pub fn remove(path: &Path, key: &age::x25519::Recipient) -> Result<bool, SecretsError> {
    let mut keys = read(path)?;
    let before = keys.len();
    keys.retain(|k| k.to_string() != key.to_string());
    if keys.len() == before {
        return Ok(false);
    }
    write(path, &keys)?;
    Ok(true)
}

fn write(path: &Path, keys: &[age::x25519::Recipient]) -> Result<(), SecretsError> {
    let mut text = String::from(
        "# Who can decrypt this project's secrets (age public keys, one per line).\n\
         # Managed by `herd secrets add-recipient/remove-recipient`; run `herd secrets rekey` after changes.\n",
    );
    for key in keys {
        text.push_str(&key.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| SecretsError::io(path, "cannot write recipients", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        let a = age::x25519::Identity::generate().to_public();
        let b = age::x25519::Identity::generate().to_public();
        assert!(require(&file).is_err());
        assert!(add(&file, &a).unwrap());
        assert!(!add(&file, &a).unwrap());
        assert!(add(&file, &b).unwrap());
        assert_eq!(read(&file).unwrap().len(), 2);
        assert!(remove(&file, &a).unwrap());
        let left = read(&file).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].to_string(), b.to_string());
        assert!(parse("ssh-ed25519 AAAA").is_err());
    }
}
