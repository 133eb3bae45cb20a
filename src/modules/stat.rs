//! `stat`: a path's metadata in Ansible's shape (`stat.exists`,
//! `stat.isreg`, `stat.mode` as "0644", `stat.checksum` as SHA-1...), in
//! one round trip. Never changes anything.

use serde_json::{Value, json};

use super::args::Args;
use super::owner_group_mode::stat_mode_string;
use super::remote_file::{self, FileInfo, Want};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// stat, as a task writes it.
pub const MODULE: Module = Module {
    name: "stat",
    params: &[
        alias("path", &["dest", "name"]),
        p("get_checksum"),
        alias("checksum_algorithm", &["checksum_algo", "checksum"]),
        alias("get_mime", &["mime", "mime_type", "mime-type"]),
        alias("get_attributes", &["attr", "attributes"]),
        p("follow"),
        p("get_md5"),
    ],
    required: &[&["path"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path =
        super::remote_file::expand_user(ctx, &args.required(&["path", "dest", "name"])?).await?;
    let get_checksum = args.bool("get_checksum", true)?;
    let algorithm = args
        .str_any(&["checksum_algorithm", "checksum_algo", "checksum"])?
        .unwrap_or_else(|| "sha1".into());
    let tool = match algorithm.as_str() {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => {
            return Err(args.error(format!(
                "value of checksum_algorithm must be one of: md5, sha1, sha224, sha256, sha384, sha512, got: {other}"
            )));
        }
    };
    let get_mime = ["get_mime", "mime", "mime_type", "mime-type"]
        .iter()
        .find(|n| args.has(n))
        .map(|n| args.bool(n, true))
        .transpose()?
        .unwrap_or(true);
    args.bool("get_attributes", true)?;
    args.bool("get_md5", false)?;
    let follow = args.bool("follow", false)?;

    let want = Want {
        follow,
        checksum: get_checksum.then_some(tool),
        mime: get_mime,
        content_up_to: None,
    };
    let info = remote_file::probe(ctx, &path, want).await?;
    let mut data = Vars::new();
    data.insert("stat".into(), stat_value(&path, &info));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

/// The `stat` map Ansible returns.
fn stat_value(path: &str, info: &FileInfo) -> Value {
    if !info.exists {
        return json!({"exists": false});
    }
    let m = info.mode;
    let kind = m & 0o170000;
    let bit = |b: u32| m & b != 0;
    let mut s = json!({
        "exists": true,
        "path": path,
        "mode": stat_mode_string(m),
        "isdir": kind == 0o040000,
        "ischr": kind == 0o020000,
        "isblk": kind == 0o060000,
        "isreg": kind == 0o100000,
        "isfifo": kind == 0o010000,
        "islnk": kind == 0o120000,
        "issock": kind == 0o140000,
        "uid": info.uid,
        "gid": info.gid,
        "pw_name": info.owner,
        "gr_name": info.group,
        "size": info.size,
        "inode": info.inode,
        "dev": info.dev,
        "nlink": info.nlink,
        "atime": info.atime,
        "mtime": info.mtime,
        "ctime": info.ctime,
        "wusr": bit(0o200), "rusr": bit(0o400), "xusr": bit(0o100),
        "wgrp": bit(0o020), "rgrp": bit(0o040), "xgrp": bit(0o010),
        "woth": bit(0o002), "roth": bit(0o004), "xoth": bit(0o001),
        "isuid": bit(0o4000),
        "isgid": bit(0o2000),
        "readable": info.readable,
        "writeable": info.writeable,
        "executable": info.executable,
    });
    let map = s.as_object_mut().expect("object");
    if let Some(target) = &info.link_target {
        map.insert("lnk_source".into(), json!(resolve_link(path, target)));
        map.insert("lnk_target".into(), json!(target));
    }
    if let Some(sum) = &info.checksum {
        map.insert("checksum".into(), json!(sum));
    }
    if let Some(mime) = &info.mime {
        // `file --mime`: "text/plain; charset=us-ascii".
        let (kind, charset) = match mime.split_once(';') {
            Some((k, rest)) => (
                k.trim(),
                rest.trim().strip_prefix("charset=").unwrap_or("unknown"),
            ),
            None => (mime.as_str(), "unknown"),
        };
        map.insert("mimetype".into(), json!(kind));
        map.insert("charset".into(), json!(charset));
    }
    s
}

/// The absolute path a link points to (without touching the host again).
fn resolve_link(path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let (dir, _) = remote_file::split_path(path);
    format!("{dir}/{target}")
}
