//! `copy`: put a local file (or `content`) on the host.
//!
//! The destination's SHA-1 is compared with the local content first (one
//! round trip); only different content is uploaded, atomically. Then mode,
//! owner and group are fixed if they differ. [`install`] is shared with
//! `template`, which is a copy of rendered text.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;

use super::args::Args;
use super::owner_group_mode::{Attrs, Mode};
use super::remote_file::{self, FileInfo, MAX_DIFF_SIZE, Want, WriteSpec};
use super::spec::{Module, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// copy, as a task writes it.
pub const MODULE: Module = Module {
    name: "copy",
    params: &[
        p("src"),
        p("content"),
        p("dest"),
        p("mode"),
        p("owner"),
        p("group"),
        p("backup"),
        p("force"),
        p("remote_src"),
        p("directory_mode"),
        p("validate"),
        p("follow"),
        p("local_follow"),
        // Vault decryption; herd has no vault, so there is nothing to decrypt.
        p("decrypt"),
    ],
    required: &[&["dest"], &["src", "content"]],
    exclusive: &[("src", "content")],
    run: async_run!(run),
    action_plugin: true,
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    // An empty `src` counts as none (Ansible says "src (or content) is required").
    let src = args.str("src")?.filter(|s| !s.is_empty());
    let content = args.str("content")?;
    let dest = args
        .str("dest")?
        .ok_or_else(|| args.error("dest is required"))?;
    // `~` is the home of the user the task runs as, on the host.
    let dest = remote_file::expand_user(ctx, &dest).await?;
    if src.is_some() && content.is_some() {
        return Err(args.error("parameters are mutually exclusive: src, content"));
    }
    if src.is_none() && content.is_none() {
        return Err(args.error("src (or content) is required"));
    }
    if content.is_some() && dest.ends_with('/') {
        return Err(args.error("can not use content with a dir as dest"));
    }
    let mut attrs = Attrs::from_args(&args)?;
    let opts = InstallOptions::from_args(&args)?;
    let follow = args.bool("follow", false)?;
    let local_follow = args.bool("local_follow", true)?;
    args.bool("decrypt", true)?;
    let directory_mode = match args
        .value(&["directory_mode"])
        .map(|(_, v)| Mode::parse(v))
        .transpose()
        .map_err(|e| args.error(e))?
    {
        Some(Mode::Octal(m)) => Some(m),
        Some(_) => return Err(args.error("directory_mode must be an octal mode like 0755")),
        None => None,
    };

    if args.bool("remote_src", false)? {
        let src = src.ok_or_else(|| args.error("src is required with remote_src"))?;
        // On the host, links are kept unless local_follow is set to true
        // (the module's default is unset, unlike the local copy's).
        let follow = local_follow && args.value(&["local_follow"]).is_some();
        return remote_copy(ctx, &src, &dest, &attrs, &opts, follow).await;
    }

    // follow=yes on a symlink dest: write where it points, keep the link.
    let link_dest = if follow && !dest.ends_with('/') {
        resolve_link(ctx, &dest).await?
    } else {
        None
    };
    let given_dest = dest.clone();
    let dest = link_dest.unwrap_or(dest);
    let (bytes, src_path, basename) = match (&src, content) {
        (_, Some(text)) => (LocalSource::new(text.into_bytes()), None, None),
        (Some(src), None) => {
            let path = super::locate_source(&ctx.search.files, src)?;
            if path.is_dir() {
                let job = super::copy_local_dir::DirCopy {
                    local: &path,
                    src_arg: src,
                    dest: &dest,
                    attrs: &attrs,
                    opts: &opts,
                    directory_mode,
                    follow: local_follow,
                };
                return super::copy_local_dir::run(ctx, job).await;
            }
            let source = local_source(&path)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (source, Some(path), Some(name))
        }
        (None, None) => unreachable!("checked above"),
    };
    if attrs.mode == Some(Mode::Preserve) {
        attrs.mode = src_path.as_deref().and_then(local_mode).map(Mode::Octal);
    }
    let mut out = install_known(ctx, &dest, &bytes, basename.as_deref(), &attrs, &opts).await?;
    if let Some(p) = src_path {
        out.data
            .insert("src".into(), json!(p.display().to_string()));
    }
    if given_dest != dest {
        out.data.insert("dest".into(), json!(given_dest));
    }
    Ok(out)
}

/// Where `path` leads when it is a symlink on the host (fully resolved).
async fn resolve_link(ctx: &ModuleContext<'_>, path: &str) -> Result<Option<String>, ModuleError> {
    let q = shell_quote(path);
    let out = ctx
        .transport
        .exec(&format!("[ -L {q} ] && readlink -f -- {q}"), &ctx.exec)
        .await?;
    let target = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    Ok((out.success() && !target.is_empty()).then_some(target))
}

pub(crate) fn local_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// A local file to upload, read and hashed once per run however many hosts
/// receive it: memory stays one copy, and the controller hashes it once
/// (an MD5 of 5 MiB per host was most of a rerun's controller CPU).
pub struct LocalSource {
    pub bytes: Vec<u8>,
    pub sha1: String,
    md5: OnceLock<String>,
}

impl LocalSource {
    fn new(bytes: Vec<u8>) -> Arc<LocalSource> {
        let sha1 = remote_file::sha1_hex(&bytes);
        Arc::new(LocalSource {
            bytes,
            sha1,
            md5: OnceLock::new(),
        })
    }

    /// Ansible's `md5sum` of the content, computed on first use.
    fn md5(&self) -> &str {
        self.md5.get_or_init(|| remote_file::md5_hex(&self.bytes))
    }
}

/// The cached contents of `path` (re-read if its size or mtime changed).
fn local_source(path: &Path) -> Result<Arc<LocalSource>, ModuleError> {
    type Key = (std::path::PathBuf, u64, Option<std::time::SystemTime>);
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<LocalSource>>>> = OnceLock::new();
    let error = |e: std::io::Error| ModuleError::Local(format!("reading {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(error)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    let source = LocalSource::new(std::fs::read(path).map_err(error)?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, source.clone());
    Ok(source)
}

/// `backup`, `force` and `validate`, shared with `template`.
pub struct InstallOptions {
    pub backup: bool,
    pub force: bool,
    pub validate: Option<String>,
}

impl InstallOptions {
    /// As a task gives them (`validate` checked).
    pub fn from_args(args: &Args<'_>) -> Result<InstallOptions, ModuleError> {
        let opts = InstallOptions {
            backup: args.bool("backup", false)?,
            force: args.bool("force", true)?,
            validate: args.str("validate")?,
        };
        remote_file::check_validate(&opts.validate).map_err(|e| args.error(e))?;
        Ok(opts)
    }
}

/// Makes `dest` hold `bytes` with `attrs`: the shared core of copy and
/// template. `basename` is appended when `dest` is a directory.
pub async fn install(
    ctx: &ModuleContext<'_>,
    dest: &str,
    bytes: &[u8],
    basename: Option<&str>,
    attrs: &Attrs,
    opts: &InstallOptions,
) -> Result<ModuleOutput, ModuleError> {
    let source = LocalSource::new(bytes.to_vec());
    install_known(ctx, dest, &source, basename, attrs, opts).await
}

/// [`install`] with the content's digests known (or cached).
async fn install_known(
    ctx: &ModuleContext<'_>,
    dest: &str,
    source: &LocalSource,
    basename: Option<&str>,
    attrs: &Attrs,
    opts: &InstallOptions,
) -> Result<ModuleOutput, ModuleError> {
    let want = Want {
        follow: true,
        checksum: Some("sha1sum"),
        content_up_to: ctx.diff.then_some(MAX_DIFF_SIZE),
        ..Want::default()
    };
    let mut dest = dest.to_string();
    let mut info = if dest.ends_with('/') {
        FileInfo {
            exists: true,
            mode: 0o040755,
            ..FileInfo::default()
        }
    } else {
        remote_file::probe(ctx, &dest, want).await?
    };
    if info.is_dir() {
        let Some(name) = basename else {
            // Only `content` comes without a name (Ansible's wording).
            return Ok(ModuleOutput::failed(format!(
                "can not use content with a dir as dest ({dest} is a directory)"
            )));
        };
        dest = format!("{}/{name}", dest.trim_end_matches('/'));
        if !ctx.check_mode {
            // `dest/` may not exist yet: Ansible creates it.
            let (dir, _) = remote_file::split_path(&dest);
            remote_file::run_all(ctx, dir, &[format!("mkdir -p -- {}", shell_quote(dir))]).await?;
        }
        info = remote_file::probe(ctx, &dest, want).await?;
    }
    let (bytes, checksum) = (&source.bytes[..], source.sha1.clone());
    let content_changed =
        !info.exists || (opts.force && info.checksum.as_deref() != Some(&checksum));
    let fixes = if content_changed || !info.exists {
        Vec::new()
    } else {
        attrs.fix_commands(&dest, &info, false)
    };
    let changed = content_changed || !fixes.is_empty();

    let mut result = ModuleOutput {
        changed,
        ..ModuleOutput::default()
    };
    if ctx.diff && content_changed {
        result.diffs.push(FileDiff {
            path: dest.clone(),
            before: if info.exists {
                Some(info.text().unwrap_or_default())
            } else {
                None
            },
            after: Some(
                String::from_utf8(bytes.to_vec())
                    .unwrap_or_else(|_| "(binary content)".to_string()),
            ),
        });
    }
    let mut data = Vars::new();
    data.insert("dest".into(), json!(dest));
    data.insert("checksum".into(), json!(checksum));
    data.insert("md5sum".into(), json!(source.md5()));

    let mut final_info = info.clone();
    if changed && !ctx.check_mode {
        if content_changed {
            let spec = WriteSpec {
                path: &dest,
                content: bytes,
                attrs,
                backup: opts.backup,
                validate: opts.validate.as_deref(),
                existing: &info,
                sha1: Some(&checksum),
            };
            match remote_file::write(ctx, &spec).await {
                Ok(backup) => {
                    if let Some(b) = backup {
                        data.insert("backup_file".into(), json!(b));
                    }
                }
                Err(failure) => return remote_file::write_failed(failure, data),
            }
        } else {
            remote_file::run_all(ctx, &dest, &fixes).await?;
        }
        final_info = remote_file::probe(
            ctx,
            &dest,
            Want {
                follow: true,
                ..Want::default()
            },
        )
        .await?;
    } else if changed {
        // Check mode: report what the file would look like.
        let current = info.exists.then_some(info.mode & 0o7777);
        let mode = attrs
            .mode
            .as_ref()
            .and_then(|m| m.resolve(current, 0o644, false))
            .or(current)
            .unwrap_or(0o644);
        final_info.exists = true;
        final_info.mode = 0o100000 | mode;
        final_info.size = bytes.len() as u64;
        final_info.owner = attrs.owner.clone().unwrap_or(final_info.owner);
        final_info.group = attrs.group.clone().unwrap_or(final_info.group);
    }
    final_info.result_fields(&mut data);
    if !result.diffs.is_empty() {
        data.insert("diff".into(), remote_file::diff_value(&result.diffs));
    }
    result.data = data;
    Ok(result)
}

/// `remote_src: true`: the source is on the host; compare SHA-1s there
/// and `cp` only when they differ.
async fn remote_copy(
    ctx: &ModuleContext<'_>,
    src: &str,
    dest: &str,
    attrs: &Attrs,
    opts: &InstallOptions,
    follow: bool,
) -> Result<ModuleOutput, ModuleError> {
    let src_info = remote_file::probe(
        ctx,
        src,
        Want {
            follow: true,
            checksum: Some("sha1sum"),
            content_up_to: ctx.diff.then_some(MAX_DIFF_SIZE),
            ..Want::default()
        },
    )
    .await?;
    if !src_info.exists {
        return Ok(ModuleOutput::failed(format!("Source {src} not found")));
    }
    if src_info.is_dir() {
        return super::copy_remote_dir::run(ctx, src, dest, attrs, follow).await;
    }
    if !src_info.is_file() {
        return Ok(ModuleOutput::failed(format!(
            "Source {src} is not a file (nor a directory)"
        )));
    }
    // mode=preserve: the remote source's mode.
    let preserved;
    let attrs = if attrs.mode == Some(Mode::Preserve) {
        let mut a = attrs.clone();
        a.mode = Some(Mode::Octal(src_info.mode & 0o7777));
        preserved = a;
        &preserved
    } else {
        attrs
    };
    // Small files: reuse install() with the content; large: copy remotely.
    if let Some(content) = &src_info.content {
        let name = src.rsplit('/').next();
        let mut out = install(ctx, dest, content, name, attrs, opts).await?;
        out.data.insert("src".into(), json!(src));
        return Ok(out);
    }
    let want = Want {
        follow: true,
        checksum: Some("sha1sum"),
        ..Want::default()
    };
    let mut dest_info = remote_file::probe(ctx, dest, want).await?;
    // A directory dest (or `dir/`, made if missing) gets the source's name.
    let in_dir;
    let dest = if dest.ends_with('/') || dest_info.is_dir() {
        let dir = dest.trim_end_matches('/');
        if !ctx.check_mode {
            remote_file::run_all(ctx, dir, &[format!("mkdir -p -- {}", shell_quote(dir))]).await?;
        }
        in_dir = format!(
            "{dir}/{}",
            src.trim_end_matches('/').rsplit('/').next().unwrap_or(src)
        );
        dest_info = remote_file::probe(ctx, &in_dir, want).await?;
        in_dir.as_str()
    } else {
        dest
    };
    let content_changed =
        !dest_info.exists || (opts.force && dest_info.checksum != src_info.checksum);
    let fixes = if content_changed {
        Vec::new()
    } else {
        attrs.fix_commands(dest, &dest_info, false)
    };
    let changed = content_changed || !fixes.is_empty();
    if changed && !ctx.check_mode {
        let mut commands = Vec::new();
        if content_changed {
            let (dir, name) = remote_file::split_path(dest);
            let tmp = shell_quote(&format!(
                "{dir}/.{name}.herd-new-{}",
                crate::remote::nonce()
            ));
            let mut c = format!("cp -- {} {tmp}", shell_quote(src));
            if let Some(v) = &opts.validate {
                c.push_str(&format!(
                    " && {{ {} || {{ rm -f {tmp}; exit 1; }}; }}",
                    v.replace("%s", &tmp)
                ));
            }
            c.push_str(&format!(" && mv -f {tmp} {}", shell_quote(dest)));
            commands.push(c);
            // cp gave the new file the source's mode less the umask: compare
            // with an unknown mode so an asked-for mode is always set.
            let copied = FileInfo {
                mode: src_info.mode & !0o7777,
                ..src_info.clone()
            };
            commands.extend(attrs.fix_commands(dest, &copied, false));
        }
        commands.extend(fixes);
        remote_file::run_all(ctx, dest, &commands).await?;
    }
    let mut data = Vars::new();
    data.insert("dest".into(), json!(dest));
    data.insert("src".into(), json!(src));
    data.insert("checksum".into(), json!(src_info.checksum));
    let info = remote_file::probe(
        ctx,
        dest,
        Want {
            follow: true,
            ..Want::default()
        },
    )
    .await?;
    info.result_fields(&mut data);
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}
