//! `fetch`: copy a file from the host to this machine, under
//! `dest/<host>/<path>` (or exactly `dest` with `flat`). Skipped when the
//! local copy already has the remote SHA-1.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::args::Args;
use super::files::{self, Want};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

const PARAMS: &[&str] = &[
    "src",
    "dest",
    "flat",
    "fail_on_missing",
    "validate_checksum",
];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new("fetch", vars, PARAMS)?;
    let src = args.required(&["src"])?;
    let dest = args.required(&["dest"])?;
    let flat = args.bool("flat", false)?;
    let fail_on_missing = args.bool("fail_on_missing", true)?;
    let validate = args.bool("validate_checksum", true)?;

    let local = local_path(&dest, &src, ctx.host, flat);
    let info = files::probe(
        ctx,
        &src,
        Want {
            follow: true,
            checksum: Some("sha1sum"),
            ..Want::default()
        },
    )
    .await?;
    let mut data = Vars::new();
    data.insert("file".into(), json!(src));
    if !info.exists || !info.is_file() {
        let msg = if !info.exists {
            "the remote file does not exist, not transferring, ignored"
        } else if info.is_dir() {
            "remote file is a directory, fetch cannot work on directories"
        } else {
            "remote file is not a regular file, not transferring"
        };
        data.insert("msg".into(), json!(msg));
        return Ok(ModuleOutput {
            failed: fail_on_missing || info.exists,
            msg: Some(msg.into()),
            data,
            ..ModuleOutput::default()
        });
    }
    let remote_sum = info.checksum.clone();
    let local_sum = std::fs::read(&local).ok().map(|b| files::sha1_hex(&b));
    data.insert("dest".into(), json!(local.display().to_string()));
    data.insert("remote_checksum".into(), json!(remote_sum));
    if remote_sum.is_some() && local_sum == remote_sum {
        data.insert("checksum".into(), json!(local_sum));
        return Ok(ModuleOutput {
            data,
            ..ModuleOutput::default()
        });
    }
    if ctx.check_mode {
        return Ok(ModuleOutput {
            changed: true,
            data,
            ..ModuleOutput::default()
        });
    }
    let bytes = ctx.transport.get(&src, &ctx.exec).await?;
    let sum = files::sha1_hex(&bytes);
    if validate && remote_sum.as_deref().is_some_and(|r| r != sum) {
        let msg = "checksum mismatch";
        data.insert("msg".into(), json!(msg));
        data.insert("checksum".into(), json!(sum));
        return Ok(ModuleOutput {
            failed: true,
            msg: Some(msg.into()),
            data,
            ..ModuleOutput::default()
        });
    }
    write_local(&local, &bytes)
        .map_err(|e| ModuleError::Local(format!("writing {}: {e}", local.display())))?;
    data.insert("checksum".into(), json!(sum));
    data.insert("md5sum".into(), json!(files::md5_hex(&bytes)));
    Ok(ModuleOutput {
        changed: true,
        data,
        ..ModuleOutput::default()
    })
}

/// Where the file lands: `dest/host/src` or, with `flat`, `dest` itself
/// (`dest/` + the file's name when `dest` ends with a slash).
fn local_path(dest: &str, src: &str, host: &str, flat: bool) -> PathBuf {
    let name = src.rsplit('/').next().unwrap_or(src);
    if flat {
        if dest.ends_with('/') {
            return Path::new(dest).join(name);
        }
        return PathBuf::from(dest);
    }
    Path::new(dest).join(host).join(src.trim_start_matches('/'))
}

/// Temp file + rename, creating parent directories.
pub(crate) fn write_local(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.herd-tmp-{}", super::transport::nonce()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_layout() {
        assert_eq!(
            local_path("/b", "/etc/hosts", "web1", false),
            PathBuf::from("/b/web1/etc/hosts")
        );
        assert_eq!(
            local_path("/b/", "/etc/hosts", "web1", true),
            PathBuf::from("/b/hosts")
        );
        assert_eq!(
            local_path("/b/x", "/etc/hosts", "web1", true),
            PathBuf::from("/b/x")
        );
    }
}
