//! `fetch`: copy a file from the host to this machine, under
//! `dest/<host>/<path>` (or exactly `dest` with `flat`). Skipped when the
//! local copy already has the remote SHA-1.
//!
//! The file is the host's data: it streams into a temp file beside the
//! destination (renamed over it once its checksum is right), never whole
//! into memory, and `..` in `src` is resolved inside `dest/<host>/`, never
//! above it (Ansible's CVE-2019-3828).

use std::path::{Path, PathBuf};

use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::args::Args;
use super::remote_file::{self, Want};
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// fetch, as a task writes it.
pub const MODULE: Module = Module {
    name: "fetch",
    params: &[
        p("src"),
        p("dest"),
        p("flat"),
        p("fail_on_missing"),
        p("validate_checksum"),
    ],
    required: &[&["src"], &["dest"]],
    run: async_run!(run),
    action_plugin: true,
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let src = args.required(&["src"])?;
    let dest = args.required(&["dest"])?;
    let flat = args.bool("flat", false)?;
    let fail_on_missing = args.bool("fail_on_missing", true)?;
    let validate = args.bool("validate_checksum", true)?;

    let local = local_path(&dest, &src, ctx.host, flat).map_err(|message| ModuleError::Args {
        module: "fetch".into(),
        message,
    })?;
    let info = remote_file::probe(
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
    let local_sums = file_sums(&local).ok();
    data.insert("dest".into(), json!(local.display().to_string()));
    data.insert("remote_checksum".into(), json!(remote_sum));
    if let Some(sums) = local_sums.filter(|s| remote_sum.as_ref() == Some(&s.sha1)) {
        data.insert("checksum".into(), json!(sums.sha1));
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
    let local_error =
        |e: std::io::Error| ModuleError::Local(format!("writing {}: {e}", local.display()));
    let tmp = TempFile::beside(&local).map_err(local_error)?;
    let mut file = tokio::fs::File::from_std(tmp.file.try_clone().map_err(local_error)?);
    ctx.transport.get_into(&src, &mut file, &ctx.exec).await?;
    file.flush().await.map_err(local_error)?;
    drop(file);
    let sums = file_sums(&tmp.path).map_err(local_error)?;
    if validate && remote_sum.as_deref().is_some_and(|r| r != sums.sha1) {
        let msg = "checksum mismatch";
        data.insert("msg".into(), json!(msg));
        data.insert("checksum".into(), json!(sums.sha1));
        return Ok(ModuleOutput {
            failed: true,
            msg: Some(msg.into()),
            data,
            ..ModuleOutput::default()
        });
    }
    tmp.persist(&local).map_err(local_error)?;
    data.insert("checksum".into(), json!(sums.sha1));
    data.insert("md5sum".into(), json!(sums.md5));
    Ok(ModuleOutput {
        changed: true,
        data,
        ..ModuleOutput::default()
    })
}

/// A local file's SHA-1 (what Ansible compares) and MD5, read in chunks.
struct Sums {
    sha1: String,
    md5: String,
}

fn file_sums(path: &Path) -> std::io::Result<Sums> {
    use sha1::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let (mut sha1, mut md5) = (sha1::Sha1::new(), md5::Context::new());
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
        md5.consume(&buf[..n]);
    }
    Ok(Sums {
        sha1: crate::remote::hex(&sha1.finalize()),
        md5: format!("{:x}", md5.finalize()),
    })
}

/// A download in progress: a hidden file beside the destination, removed
/// unless [`TempFile::persist`] renames it into place (so a failed,
/// mismatched or interrupted fetch leaves nothing behind).
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
    kept: bool,
}

impl TempFile {
    fn beside(dest: &Path) -> std::io::Result<TempFile> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let path = dest.with_file_name(format!(".{name}.herd-tmp-{}", crate::remote::nonce()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TempFile {
            path,
            file,
            kept: false,
        })
    }

    fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, dest)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where the file lands: `dest/host/src` or, with `flat`, `dest` itself
/// (`dest/` + the file's name when `dest` ends with a slash). `src` is
/// resolved lexically inside `dest/host/` (`/a/../b` is `dest/host/b`;
/// `..` stops at the top) and the host name must be one plain word, so
/// the file never lands above `dest/host/`.
fn local_path(dest: &str, src: &str, host: &str, flat: bool) -> Result<PathBuf, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in src.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let Some(name) = parts.last() else {
        return Err(format!("src `{src}` names no file"));
    };
    if flat {
        if dest.ends_with('/') {
            return Ok(Path::new(dest).join(name));
        }
        return Ok(PathBuf::from(dest));
    }
    crate::inventory::check_host_name(host)?;
    Ok(parts
        .iter()
        .fold(Path::new(dest).join(host), |path, part| path.join(part)))
}

/// Temp file + rename, creating parent directories.
pub(crate) fn write_local(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = TempFile::beside(path)?;
    std::io::Write::write_all(&mut tmp.file, bytes)?;
    tmp.persist(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_layout() {
        let path = |dest, src, host, flat| local_path(dest, src, host, flat).unwrap();
        assert_eq!(
            path("/b", "/etc/hosts", "web1", false),
            PathBuf::from("/b/web1/etc/hosts")
        );
        assert_eq!(
            path("/b/", "/etc/hosts", "web1", true),
            PathBuf::from("/b/hosts")
        );
        assert_eq!(
            path("/b/x", "/etc/hosts", "web1", true),
            PathBuf::from("/b/x")
        );
        assert_eq!(
            path("b", "logs/app.log", "web1", false),
            PathBuf::from("b/web1/logs/app.log")
        );
    }

    #[test]
    fn nothing_lands_above_dest_and_host() {
        let path = |dest, src, host, flat| local_path(dest, src, host, flat);
        assert_eq!(
            path("/b", "/../../etc/./passwd", "web1", false).unwrap(),
            PathBuf::from("/b/web1/etc/passwd")
        );
        assert_eq!(
            path("/b", "/var/log/../../../x", "web1", false).unwrap(),
            PathBuf::from("/b/web1/x")
        );
        assert_eq!(
            path("/b/", "/etc/hosts/..", "web1", true).unwrap(),
            PathBuf::from("/b/etc")
        );
        assert!(path("/b/", "/..", "web1", true).is_err());
        assert!(path("/b", "/etc/x", "../../x", false).is_err());
        assert!(path("/b", "/etc/x", "..", false).is_err());
    }
}
