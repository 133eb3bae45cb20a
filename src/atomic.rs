//! Replacing a local file atomically: the bytes go to a temp file beside
//! it (created 0600, so nothing is readable before its mode is set), which
//! is then renamed over it. Readers see the old file or the new one, never
//! half of it.

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
