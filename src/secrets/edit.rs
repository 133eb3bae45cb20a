//! `herd secrets edit`: a decrypted copy in the user's editor, in a private
//! directory wiped whatever happens, re-encrypted only if the text changed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::files::replace_file;
use super::{SecretsError, identity, recipients, vault};

/// How an edit ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Edited {
    /// The text did not change: the file was not rewritten.
    Unchanged,
    Written,
}

/// Edits `file` (created if missing) in $VISUAL/$EDITOR on a private copy
/// and re-encrypts it, for the recipients in `recipients_file` or with its
/// passphrase, only if the text changed.
pub fn edit(recipients_file: &Path, file: &Path) -> Result<Edited, SecretsError> {
    let existing = file
        .exists()
        .then(|| std::fs::read(file))
        .transpose()
        .map_err(|e| SecretsError::local(file, "cannot read", e))?;
    let passphrase_file = existing.as_deref().is_some_and(vault::is_passphrase_file);
    let before = match &existing {
        Some(_) => vault::decrypt_file(file)?,
        None => vault::Plaintext::default(),
    };
    // Refuse early rather than after the user typed their changes.
    let keys = if passphrase_file {
        Vec::new()
    } else {
        recipients::require(recipients_file)?
    };
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_end_matches(".age")
        .to_string();
    let scratch = Scratch::new(&name, &before)?;
    let status = {
        let _signals = HoldSignals::new();
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&scratch.file)
            .status()
            .map_err(|source| SecretsError::Editor { editor, source })?
    };
    if !status.success() {
        return Err(SecretsError::EditorFailed {
            status,
            path: file.to_path_buf(),
        });
    }
    let after = vault::Plaintext::new(
        std::fs::read(&scratch.file)
            .map_err(|e| SecretsError::local(&scratch.file, "cannot read", e))?,
    );
    drop(scratch);
    if after == before && existing.is_some() {
        return Ok(Edited::Unchanged);
    }
    let data = if passphrase_file {
        vault::encrypt_with_passphrase(&after, super::passphrase(file)?)?
    } else {
        vault::encrypt(&after, &keys)?
    };
    replace_file(file, &data)?;
    Ok(Edited::Written)
}

/// A 0700 directory holding one 0600 plaintext file, in XDG_RUNTIME_DIR
/// (memory-backed) when there is one. Dropping it overwrites the file with
/// zeros and removes both, whatever happened in between.
struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Scratch {
    fn new(name: &str, contents: &[u8]) -> Result<Scratch, SecretsError> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = base.join(format!("herd-edit-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| SecretsError::io(&dir, "cannot create private directory", e))?;
        let scratch = Scratch {
            file: dir.join(name),
            dir,
        };
        identity::private_file(&scratch.file)?
            .write_all(contents)
            .map_err(|e| SecretsError::local(&scratch.file, "cannot write", e))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(len) = std::fs::metadata(&self.file).map(|m| m.len())
            && let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&self.file)
        {
            let _ = f.write_all(&vec![0; len as usize]);
            let _ = f.sync_all();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// While the editor runs, Ctrl-C, SIGTERM and SIGHUP must not kill herd
/// before it wipes the plaintext. A no-op handler (not SIG_IGN, which the
/// editor would inherit) keeps herd alive; the editor still gets them.
struct HoldSignals(Vec<(libc::c_int, libc::sigaction)>);

extern "C" fn ignore_signal(_: libc::c_int) {}

impl HoldSignals {
    fn new() -> HoldSignals {
        let mut saved = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: plain sigaction calls with zero-initialised structs and
            // a handler that does nothing.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = ignore_signal as *const () as usize;
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    saved.push((signal, old));
                }
            }
        }
        HoldSignals(saved)
    }
}

impl Drop for HoldSignals {
    fn drop(&mut self) {
        for (signal, old) in &self.0 {
            // SAFETY: restores the action saved in `new`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}
