//! `file`: a path's kind (file, directory, link, hard link, absent,
//! touched) and its mode/owner/group.
//!
//! One probe says what is there; the commands that would bring it to the
//! wanted state are collected, and run (joined into one shell command)
//! unless in check mode.

use serde_json::json;

use super::args::Args;
use super::owner_group_mode::{Attrs, Mode};
use super::remote_file::{self, FileInfo, Want};
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// file, as a task writes it.
pub const MODULE: Module = Module {
    name: "file",
    params: &[
        alias("path", &["dest", "name"]),
        p("state"),
        p("mode"),
        p("owner"),
        p("group"),
        p("src"),
        p("recurse"),
        p("force"),
        p("follow"),
        p("access_time"),
        p("modification_time"),
        p("access_time_format"),
        p("modification_time_format"),
        alias("attributes", &["attr"]),
        // SELinux contexts: accepted and ignored (herd sets none; see
        // docs/ansible-differences.md).
        p("setype"),
        p("seuser"),
        p("serole"),
        p("selevel"),
        // Asked by Ansible's diff machinery: is the file binary?
        p("_diff_peek"),
    ],
    required: &[&["path"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const STATES: &[&str] = &["file", "directory", "link", "hard", "absent", "touch"];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let mut out = ensure(ctx, vars).await?;
    if ctx.check_mode {
        let warnings = missing_owner_warnings(ctx, &Args::new(&MODULE, vars)?).await?;
        if !warnings.is_empty() {
            out.data.insert("warnings".into(), json!(warnings));
        }
    }
    Ok(out)
}

/// In check mode, Ansible warns about an owner or group the host does not
/// have yet (an earlier task of the real run would create it).
async fn missing_owner_warnings(
    ctx: &ModuleContext<'_>,
    args: &Args<'_>,
) -> Result<Vec<String>, ModuleError> {
    if args.str("state")?.as_deref() == Some("absent") {
        return Ok(Vec::new());
    }
    let mut probes = Vec::new();
    for (name, db, what, id) in [
        ("owner", "passwd", "user", "uid"),
        ("group", "group", "group", "gid"),
    ] {
        if let Some(value) = args.str(name)? {
            let numeric = value.parse::<u32>().is_ok();
            let warning = if numeric {
                format!(
                    "failed to look up {what} with {id} {value}. Create {what} up to this point in real play"
                )
            } else {
                format!(
                    "failed to look up {what} {value}. Create {what} up to this point in real play"
                )
            };
            probes.push((
                format!("getent {db} -- {} >/dev/null", shell_quote(&value)),
                warning,
            ));
        }
    }
    let mut warnings = Vec::new();
    for (probe, warning) in probes {
        let out = ctx.transport.exec(&probe, &ctx.exec).await?;
        if !out.success() {
            warnings.push(warning);
        }
    }
    Ok(warnings)
}

async fn ensure(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let path = remote_file::expand_user(ctx, &args.required(&["path", "dest", "name"])?).await?;
    let state = args.choice("state", STATES, None)?;
    let attrs = Attrs::from_args(&args)?;
    let src = args.str("src")?;
    let recurse = args.bool("recurse", false)?;
    let force = args.bool("force", false)?;
    let follow = args.bool("follow", true)?;
    let atime = args.str("access_time")?;
    let mtime = args.str("modification_time")?;
    let format = |name| -> Result<String, ModuleError> {
        Ok(args.str(name)?.unwrap_or_else(|| "%Y%m%d%H%M.%S".into()))
    };
    let formats = [
        format("access_time_format")?,
        format("modification_time_format")?,
    ];
    if let Some(Mode::Preserve) = attrs.mode {
        return Err(args.error("mode=preserve is only valid for copy and template"));
    }
    if args.has("_diff_peek") {
        return diff_peek(ctx, &path).await;
    }
    let attributes = args.str("attributes")?;

    let link_like = matches!(
        state.as_deref(),
        Some("link") | Some("hard") | Some("absent")
    );
    // The same view of the path before and after the change.
    let want = Want {
        follow: follow && !link_like,
        ..Want::default()
    };
    let info = remote_file::probe(ctx, &path, want).await?;
    // As Ansible: the state is the path's own when not given.
    let state = state.unwrap_or_else(|| {
        if info.exists {
            info.state().to_string()
        } else if recurse {
            "directory".to_string()
        } else {
            "file".to_string()
        }
    });
    if recurse && state != "directory" {
        return Err(args.error("recurse option requires state to be 'directory'"));
    }
    if src.is_some() && !matches!(state.as_str(), "link" | "hard") {
        return Ok(ModuleOutput::failed(
            "src option requires state to be 'link' or 'hard'",
        ));
    }
    // A hard link asked for at a directory goes inside it, named after
    // its source, as Ansible does.
    let (path, info) = match &src {
        Some(src) if state == "hard" && info.is_dir() => {
            let name = src.rsplit('/').find(|p| !p.is_empty()).unwrap_or(src);
            let inside = format!("{}/{name}", path.trim_end_matches('/'));
            let info = remote_file::probe(ctx, &inside, Want::default()).await?;
            (inside, info)
        }
        _ => (path, info),
    };
    let q = shell_quote(&path);
    let mut commands: Vec<String> = Vec::new();
    // Attributes are applied to what will be there afterwards.
    let mut target = info.clone();
    // The link target a `link` task ends with.
    let mut src_used = src.clone().unwrap_or_default();

    match state.as_str() {
        "absent" => {
            if info.exists {
                commands.push(format!("rm -rf -- {q}"));
            }
            target = FileInfo::default();
        }
        "file" => {
            if !info.exists {
                let mut failed =
                    ModuleOutput::failed(format!("file ({path}) is absent, cannot continue"));
                failed.data.insert("path".into(), json!(path));
                failed.data.insert("state".into(), json!("absent"));
                return Ok(failed);
            }
            if info.is_dir() {
                return Ok(ModuleOutput::failed(format!(
                    "file ({path}) is a directory, cannot continue (use state=directory)"
                )));
            }
        }
        "touch" => {
            // Times are set below (`now` by default for touch).
            if !info.exists {
                commands.push(format!("touch -- {q}"));
                target = new_info(0o100000 | 0o644);
            }
        }
        "directory" => {
            if !info.exists {
                commands.push(format!("mkdir -p -- {q}"));
                target = new_info(0o040000 | 0o755);
            } else if !info.is_dir() {
                return Ok(ModuleOutput::failed(format!(
                    "{path} already exists as a {}",
                    info.state()
                )));
            }
        }
        "link" | "hard" => {
            // Without src, an existing symlink keeps its target and an
            // existing hard link stays as it is (only its attributes change).
            let hard = state == "hard";
            let src = match (&src, info.link_target.as_ref()) {
                (Some(src), _) => src.clone(),
                (None, Some(link)) if !hard && info.is_link() => link.clone(),
                (None, _) if hard && info.state() == "hard" => path.clone(),
                (None, _) => {
                    return Ok(ModuleOutput::failed(format!(
                        "src is required for creating new {}",
                        if hard { "hardlinks" } else { "symlinks" }
                    )));
                }
            };
            src_used = src.clone();
            let same = if src == path && hard {
                true
            } else if hard {
                info.exists && same_file(ctx, &path, &src).await?
            } else {
                info.is_link() && info.link_target.as_deref() == Some(src.as_str())
            };
            // A hard link's src is taken as written (relative to the
            // module's working directory), as Ansible's os.path.exists.
            if !same && hard && !remote_file::probe(ctx, &src, Want::default()).await?.exists {
                let mut failed = ModuleOutput::failed("src does not exist");
                failed.data.insert("dest".into(), json!(path));
                failed.data.insert("src".into(), json!(src));
                return Ok(failed);
            }
            if !same && !hard && !force && !link_source_exists(ctx, &path, &src).await? {
                return Ok(ModuleOutput::failed(format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {src}"
                )));
            }
            if !same {
                if info.exists && !info.is_link() && !force && !hard {
                    return Ok(ModuleOutput::failed(format!(
                        "refusing to convert from {} to symlink for {path}",
                        info.state()
                    )));
                }
                if info.is_dir() && !info.is_link() {
                    if hard || !force {
                        return Ok(ModuleOutput::failed(format!(
                            "{path} is a directory; remove it first to make a link there"
                        )));
                    }
                    // force: an empty directory gives way to the link.
                    commands.push(format!(
                        "rmdir -- {q} 2>/dev/null || {{ echo 'the directory {} is not empty, refusing to convert it' >&2; exit 1; }}",
                        path.replace('\'', "")
                    ));
                }
                let flag = if hard { "-f" } else { "-sfn" };
                commands.push(format!("ln {flag} -- {} {q}", shell_quote(&src)));
                target = new_info(if hard { 0o100000 | 0o644 } else { 0o120777 });
            }
        }
        _ => unreachable!("choices checked"),
    }

    if state != "absent" {
        if recurse {
            if recurse_check(ctx, &path, &attrs, follow).await? {
                commands.extend(recurse_commands(&attrs, &path, follow));
            }
        } else if state == "link" {
            // Ownership of the link itself; a mode goes to the file it
            // points at when following links (chmod follows them), as
            // Ansible does.
            let owner_only = Attrs {
                mode: None,
                ..attrs.clone()
            };
            commands.extend(owner_only.fix_commands(&path, &target, false));
            if follow && attrs.mode.is_some() {
                let pointed = remote_file::probe(
                    ctx,
                    &link_target_path(&path, &src_used),
                    Want {
                        follow: true,
                        ..Want::default()
                    },
                )
                .await?;
                if pointed.exists {
                    let mode_only = Attrs {
                        mode: attrs.mode.clone(),
                        ..Attrs::default()
                    };
                    let mut as_target = pointed.clone();
                    as_target.link_target = None;
                    for chmod in mode_only.fix_commands(&path, &as_target, false) {
                        commands.push(chmod);
                    }
                }
            }
        } else {
            commands.extend(attrs.fix_commands(&path, &target, false));
        }
        commands.extend(
            time_commands(
                ctx,
                &q,
                [
                    (atime.as_deref(), info.atime),
                    (mtime.as_deref(), info.mtime),
                ],
                &formats,
                &state,
                info.exists,
            )
            .await?,
        );
        if let Some(wanted) = &attributes {
            commands.extend(chattr_command(ctx, &path, wanted).await?);
        }
    }
    let changed = !commands.is_empty();

    let mut out = ModuleOutput {
        changed,
        ..ModuleOutput::default()
    };
    if ctx.diff && changed {
        out.diffs.push(FileDiff {
            path: path.clone(),
            before: Some(format!("path: {path}\nstate: {}\n", info.state())),
            after: Some(format!("path: {path}\nstate: {state}\n")),
        });
    }
    if ctx.diff {
        out.data
            .insert("diff".into(), diff_value(ctx, &path, &info, &state).await?);
    }
    let mut final_info = info.clone();
    if changed && !ctx.check_mode {
        if state == "touch" && !info.exists && commands.len() > 1 {
            // As Ansible: a file touch created is removed again when
            // setting its owner, mode or times fails.
            commands = vec![format!(
                "{{ {}; }} || {{ rc=$?; rm -f -- {q}; exit $rc; }}",
                commands.join(" && ")
            )];
        }
        remote_file::run_all(ctx, &path, &commands).await?;
        if state != "absent" {
            final_info = remote_file::probe(ctx, &path, want).await?;
        } else {
            final_info = FileInfo::default();
        }
    } else if changed {
        final_info = target;
        final_info.exists = state != "absent";
        if let Some(m) = attrs
            .mode
            .as_ref()
            .and_then(|m| m.resolve(Some(final_info.mode & 0o7777), 0o644, final_info.is_dir()))
        {
            final_info.mode = (final_info.mode & 0o170000) | m;
        }
        final_info.owner = attrs.owner.clone().unwrap_or(final_info.owner);
        final_info.group = attrs.group.clone().unwrap_or(final_info.group);
    }
    out.data.insert("path".into(), json!(path));
    final_info.result_fields(&mut out.data);
    if state == "hard" && final_info.exists {
        out.data.insert("state".into(), json!("hard"));
    }
    if let Some(src) = src {
        out.data.insert("src".into(), json!(src));
    }
    Ok(out)
}

/// `chattr` for `attributes` (`+A`, `-A`, `=A` or `A`), when Ansible
/// would run it: the flags differ from `lsattr`'s, or they are removed.
async fn chattr_command(
    ctx: &ModuleContext<'_>,
    path: &str,
    wanted: &str,
) -> Result<Option<String>, ModuleError> {
    let (op, flags) = match wanted.strip_prefix(['+', '-']) {
        Some(flags) => (&wanted[..1], flags),
        None => ("=", wanted),
    };
    if flags.is_empty() {
        return Ok(None);
    }
    let probe = format!("lsattr -d -- {} 2>/dev/null", shell_quote(path));
    let out = ctx.transport.exec(&probe, &ctx.exec).await?;
    let listed = String::from_utf8_lossy(&out.stdout);
    let existing = listed
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .replace('-', "");
    if existing == flags && op != "-" {
        return Ok(None);
    }
    Ok(Some(format!(
        "chattr {} -- {}",
        shell_quote(&format!("{op}{flags}")),
        shell_quote(path)
    )))
}

/// Where a symlink at `path` to `src` points (relative to its directory).
fn link_target_path(path: &str, src: &str) -> String {
    if src.starts_with('/') {
        return src.to_string();
    }
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{src}"),
        None => src.to_string(),
    }
}

/// Whether a symlink's `src` exists, relative to the link's directory.
async fn link_source_exists(
    ctx: &ModuleContext<'_>,
    path: &str,
    src: &str,
) -> Result<bool, ModuleError> {
    let dir = match path.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((dir, _)) => dir,
        None => ".",
    };
    let check = format!(
        "cd -- {} 2>/dev/null && [ -e {} ]",
        shell_quote(dir),
        shell_quote(src)
    );
    let out = ctx.transport.exec(&check, &ctx.exec).await?;
    Ok(out.exit_code == Some(0))
}

/// `_diff_peek`: whether the file looks binary (a NUL in its first 8 KiB).
async fn diff_peek(ctx: &ModuleContext<'_>, path: &str) -> Result<ModuleOutput, ModuleError> {
    let probe = format!(
        "head -c 8192 -- {} 2>/dev/null | tr -dc '\\000' | wc -c",
        shell_quote(path)
    );
    let out = ctx.transport.exec(&probe, &ctx.exec).await?;
    let nuls: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let mut data = Vars::new();
    data.insert("path".into(), json!(path));
    data.insert("appears_binary".into(), json!(nuls > 0));
    Ok(ModuleOutput {
        data,
        ..ModuleOutput::default()
    })
}

fn new_info(mode: u32) -> FileInfo {
    FileInfo {
        exists: true,
        mode,
        uid: u32::MAX,
        gid: u32::MAX,
        ..FileInfo::default()
    }
}

/// `touch` commands for `access_time`/`modification_time`, each given
/// with the file's current value and its format: `now` (the default for
/// state `touch`) always changes the file, as Ansible's; a given time only
/// when the file's differs (to the nanosecond, as Ansible compares
/// `st_mtime` floats), judged in the host's time zone as `touch -t` reads
/// it; `preserve` (the default otherwise) never. A file `touch` has just
/// created already has both times `now`.
async fn time_commands(
    ctx: &ModuleContext<'_>,
    q: &str,
    times: [(Option<&str>, f64); 2],
    formats: &[String; 2],
    state: &str,
    existed: bool,
) -> Result<Vec<String>, ModuleError> {
    let default = if state == "touch" { "now" } else { "preserve" };
    let wanted = times.map(|(value, current)| (value.unwrap_or(default), current));
    let mut out = Vec::new();
    if wanted.iter().all(|(value, _)| *value == "now") {
        if existed {
            out.push(format!("touch -c -- {q}"));
        }
        return Ok(out);
    }
    for (((value, current), format), flag) in wanted.into_iter().zip(formats).zip(["-a", "-m"]) {
        match value {
            "preserve" => {}
            "now" if !existed => {}
            "now" => out.push(format!("touch -c {flag} -- {q}")),
            t => {
                let Ok(when) = jiff::civil::DateTime::strptime(format, t) else {
                    return Err(ModuleError::Args {
                        module: "file".into(),
                        message: format!("time {t:?} does not match the format {format:?}"),
                    });
                };
                let probe = format!(
                    "date -d {} +%s",
                    shell_quote(&when.strftime("%Y-%m-%d %H:%M:%S").to_string())
                );
                let epoch = ctx.transport.exec(&probe, &ctx.exec).await?;
                let epoch: Option<f64> = String::from_utf8_lossy(&epoch.stdout).trim().parse().ok();
                if epoch != Some(current) {
                    let stamp = when.strftime("%Y%m%d%H%M.%S").to_string();
                    out.push(format!("touch -c {flag} -t {} -- {q}", shell_quote(&stamp)));
                }
            }
        }
    }
    Ok(out)
}

/// Ansible's `diff` result: the path and, when the state changes, the
/// state before and after; removing a directory lists what it holds
/// (`path_content`), as `os.walk` would.
async fn diff_value(
    ctx: &ModuleContext<'_>,
    path: &str,
    info: &FileInfo,
    state: &str,
) -> Result<serde_json::Value, ModuleError> {
    let mut diff = json!({"before": {"path": path}, "after": {"path": path}});
    let before = info.state();
    if before == state {
        return Ok(diff);
    }
    diff["before"]["state"] = json!(before);
    diff["after"]["state"] = json!(state);
    if state == "absent" && info.is_dir() {
        // Bounded: host output is data.
        let listing = format!(
            "find {} -mindepth 1 \\( -type d -o -xtype d \\) -printf 'd%p\\0' -o -printf 'f%p\\0' 2>/dev/null | head -c 4194304",
            shell_quote(path)
        );
        let out = ctx.transport.exec(&listing, &ctx.exec).await?;
        let (mut directories, mut files) = (Vec::new(), Vec::new());
        for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let name = String::from_utf8_lossy(&entry[1..]).into_owned();
            if entry[0] == b'd' {
                directories.push(name);
            } else {
                files.push(name);
            }
        }
        diff["before"]["path_content"] = json!({"directories": directories, "files": files});
    }
    Ok(diff)
}

/// Whether two paths are the same file (hard links).
async fn same_file(ctx: &ModuleContext<'_>, a: &str, b: &str) -> Result<bool, ModuleError> {
    let out = ctx
        .transport
        .exec(
            &format!(
                "[ {} -ef {} ] && echo same; exit 0",
                shell_quote(a),
                shell_quote(b)
            ),
            &ctx.exec,
        )
        .await?;
    Ok(out.stdout.starts_with(b"same"))
}

/// `chown`/`chmod` of `path` and all below for `recurse`: a symbolic mode
/// goes to chmod as given, so each file's own bits count (as in Ansible);
/// with `follow`, links are followed into what they point at (`find -L`,
/// broken links skipped), else a link itself is chowned and its target
/// left alone.
fn recurse_commands(attrs: &Attrs, path: &str, follow: bool) -> Vec<String> {
    let q = shell_quote(path);
    let owner = match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    let mode = match &attrs.mode {
        Some(Mode::Octal(m)) => Some(format!("{m:04o}")),
        Some(Mode::Symbolic(spec)) => Some(shell_quote(spec)),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(owner) = owner {
        let owner = shell_quote(&owner);
        out.push(if follow {
            format!("find -L {q} ! -type l -exec chown -- {owner} {{}} +")
        } else {
            format!("chown -R -h -- {owner} {q}")
        });
    }
    if let Some(mode) = mode {
        out.push(if follow {
            format!("find -L {q} ! -type l -exec chmod -- {mode} {{}} +")
        } else {
            format!("chmod -R -- {mode} {q}")
        });
    }
    out
}

/// With `recurse`, whether anything below `path` differs from `attrs`.
/// With `follow`, links below `path` are followed into what they point at.
async fn recurse_check(
    ctx: &ModuleContext<'_>,
    path: &str,
    attrs: &Attrs,
    follow: bool,
) -> Result<bool, ModuleError> {
    let mut tests = Vec::new();
    if let Some(o) = &attrs.owner {
        tests.push(format!("! -user {}", shell_quote(o)));
    }
    if let Some(g) = &attrs.group {
        tests.push(format!("! -group {}", shell_quote(g)));
    }
    match &attrs.mode {
        Some(Mode::Octal(m)) => tests.push(format!("! -perm {m:04o}")),
        Some(_) => return Ok(true),
        None => {}
    }
    if tests.is_empty() {
        return Ok(false);
    }
    let out = ctx
        .transport
        .exec(
            &format!(
                "find {}{} \\( {} \\) -print 2>/dev/null | head -n 1",
                if follow { "-L " } else { "" },
                shell_quote(path),
                tests.join(" -o ")
            ),
            &ctx.exec,
        )
        .await?;
    Ok(!out.stdout.is_empty())
}
