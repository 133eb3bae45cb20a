//! The age files of a project on disk: encrypting a file beside itself,
//! writing plaintext privately, and rekeying every file for the current
//! recipients (`herd secrets encrypt|decrypt|rekey`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{SecretsError, identity, recipients, vault};

/// Encrypts `file` to `file.age` for the recipients in `recipients_file`,
/// or with a passphrase; returns the path written.
pub fn encrypt(
    file: &Path,
    recipients_file: &Path,
    passphrase: bool,
    force: bool,
) -> Result<PathBuf, SecretsError> {
    let mut name = file.to_path_buf().into_os_string();
    name.push(".age");
    let out = PathBuf::from(name);
    if out.exists() && !force {
        return Err(SecretsError::Exists { path: out });
    }
    let plain = std::fs::read(file).map_err(|e| SecretsError::io(file, "cannot read", e))?;
    let data = if passphrase {
        vault::encrypt_with_passphrase(&plain, super::passphrase(&out)?)?
    } else {
        vault::encrypt(&plain, &recipients::require(recipients_file)?)?
    };
    replace_file(&out, &data)?;
    Ok(out)
}

/// Writes `data` to `path` through a temporary file and a rename, so a
/// failure never leaves a half-written secret behind.
pub(super) fn replace_file(path: &Path, data: &[u8]) -> Result<(), SecretsError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.herd-tmp-{}", std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| SecretsError::io(&tmp, "cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SecretsError::io(path, "cannot replace", e)
    })
}

/// Plaintext output: mode 0600 from the start.
pub fn write_private(path: &Path, data: &[u8], force: bool) -> Result<(), SecretsError> {
    if path.exists() {
        if !force {
            return Err(SecretsError::Exists {
                path: path.to_path_buf(),
            });
        }
        std::fs::remove_file(path).map_err(|e| SecretsError::local(path, "cannot remove", e))?;
    }
    let mut file = identity::private_file(path)?;
    file.write_all(data)
        .map_err(|e| SecretsError::io(path, "cannot write", e))?;
    Ok(())
}

/// What [`rekey`] does, file by file, as it goes.
pub enum Rekeying<'a> {
    /// Passphrase-encrypted: it has no recipients, and is left alone.
    Skipped(&'a Path),
    Rekeyed(&'a Path),
}

/// Re-encrypts every recipient-encrypted `*.age` file under `root` for the
/// recipients in `recipients_file`; returns how many files, for how many
/// recipients.
pub fn rekey(
    root: &Path,
    recipients_file: &Path,
    mut progress: impl FnMut(Rekeying),
) -> Result<(usize, usize), SecretsError> {
    let keys = recipients::require(recipients_file)?;
    let mut files = Vec::new();
    find_age_files(root, &mut files)?;
    // Decrypt everything first: a file we cannot read stops the rekey
    // before anything was rewritten.
    let mut plain = Vec::new();
    for file in &files {
        let data = std::fs::read(file).map_err(|e| SecretsError::local(file, "cannot read", e))?;
        if vault::is_passphrase_file(&data) {
            progress(Rekeying::Skipped(file));
            continue;
        }
        plain.push((file, vault::decrypt_file(file)?));
    }
    for (file, text) in &plain {
        replace_file(file, &vault::encrypt(text, &keys)?)?;
        progress(Rekeying::Rekeyed(file));
    }
    Ok((plain.len(), keys.len()))
}

/// `*.age` files under `dir`, sorted, skipping hidden directories (.git,
/// .herd) and `target`.
fn find_age_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SecretsError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SecretsError::local(dir, "cannot list", e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                find_age_files(&path, out)?;
            }
        } else if super::is_encrypted(&path) {
            out.push(path);
        }
    }
    Ok(())
}
