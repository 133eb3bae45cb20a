//! Local files written safely. Replacing a file atomically: the bytes go
//! to a temp file beside it (created 0600, so nothing is readable before
//! its mode is set), which is then renamed over it; readers see the old
//! file or the new one, never half of it. Directories that hold results,
//! keys or secrets are created private (0700).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to `tmp` (which must not exist), gives it `mode`, and
/// renames it to `path`. On error `tmp` is removed.
pub fn write_via_temp(tmp: &Path, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Creates `dir` and its parents; the leaf gets mode 0700 because it holds
/// results and learned keys.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
