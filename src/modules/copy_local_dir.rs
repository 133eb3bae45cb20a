//! `copy` with a local directory source: the tree goes to the host as
//! Ansible's copy action sends it.
//!
//! - `src/` copies the directory's contents into `dest`; `src` copies the
//!   directory itself to `dest/NAME`.
//! - Directories are created (empty ones too) with `directory_mode` when
//!   given; files are installed one by one (atomic, with `mode`/owner/group);
//!   symlinks are recreated as symlinks with the same target.
//! - `local_follow: true` (the default) copies what a symlink points to
//!   when that is a file or a directory (a link back into its own parents is
//!   kept as a link, or the walk would not end); a dangling link stays a link.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::copy::InstallOptions;
use super::owner_group_mode::{Attrs, Mode};
use super::{ModuleContext, ModuleError, ModuleOutput};
use crate::ssh::shell_quote;

/// One thing to create below the target, by its path relative to the source.
#[derive(Debug, PartialEq)]
enum Entry {
    Dir(PathBuf),
    /// The relative path and the local file whose bytes go there.
    File(PathBuf, PathBuf),
    /// The relative path and the link's target, as written.
    Link(PathBuf, PathBuf),
}

/// The tree below `root`, parents before children, names sorted.
fn walk(root: &Path, follow: bool) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut parents = HashSet::new();
    let meta = std::fs::metadata(root)?;
    parents.insert((meta.dev(), meta.ino()));
    walk_dir(root, PathBuf::new(), follow, &mut parents, &mut out)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: PathBuf,
    follow: bool,
    parents: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Entry>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let r = rel.join(e.file_name());
        let link = e.file_type()?.is_symlink();
        // What the entry is once followed (None: dangling link).
        let target_meta = std::fs::metadata(&path).ok();
        match (link, &target_meta) {
            (true, Some(m)) if follow && m.is_file() => out.push(Entry::File(r, path)),
            (true, Some(m)) if follow && m.is_dir() && !parents.contains(&(m.dev(), m.ino())) => {
                descend(&path, r, m, follow, parents, out)?;
            }
            (true, _) => out.push(Entry::Link(r, std::fs::read_link(&path)?)),
            (false, Some(m)) if m.is_dir() => descend(&path, r, m, follow, parents, out)?,
            (false, _) => out.push(Entry::File(r, path)),
        }
    }
    Ok(())
}

fn descend(
    path: &Path,
    rel: PathBuf,
    meta: &std::fs::Metadata,
    follow: bool,
    parents: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Entry>,
) -> std::io::Result<()> {
    out.push(Entry::Dir(rel.clone()));
    let key = (meta.dev(), meta.ino());
    parents.insert(key);
    let result = walk_dir(path, rel, follow, parents, out);
    parents.remove(&key);
    result
}

pub struct DirCopy<'a> {
    pub local: &'a Path,
    pub src_arg: &'a str,
    pub dest: &'a str,
    pub attrs: &'a Attrs,
    pub opts: &'a InstallOptions,
    pub directory_mode: Option<u32>,
    pub follow: bool,
}

pub async fn run(ctx: &ModuleContext<'_>, job: DirCopy<'_>) -> Result<ModuleOutput, ModuleError> {
    let mut base = job.dest.trim_end_matches('/').to_string();
    let mut entries = walk(job.local, job.follow)
        .map_err(|e| ModuleError::Local(format!("reading {}: {e}", job.local.display())))?;
    if !job.src_arg.ends_with('/') {
        let name = job
            .local
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        base = format!("{base}/{name}");
        entries.insert(0, Entry::Dir(PathBuf::new()));
    }
    let at = |rel: &Path| {
        if rel.as_os_str().is_empty() {
            base.clone()
        } else {
            format!("{base}/{}", rel.display())
        }
    };
    // Directories and links: one script that prints a line per change.
    let check = ctx.check_mode;
    // When `wrong` holds: `fix` it (not in check mode) and say so.
    let change = |wrong: String, fix: String| {
        let fix = if check { String::new() } else { fix + " && " };
        format!("if {wrong}; then {fix}echo changed; fi")
    };
    let mut script = vec![format!("mkdir -p -- {}", shell_quote(job.dest))];
    for entry in &entries {
        match entry {
            Entry::Dir(rel) => {
                let q = shell_quote(&at(rel));
                script.push(change(format!("[ ! -d {q} ]"), format!("mkdir -p -- {q}")));
                if let Some(mode) = job.directory_mode {
                    script.push(change(
                        format!("[ \"$(stat -c %a {q} 2>/dev/null)\" != {mode:o} ]"),
                        format!("chmod {mode:o} {q}"),
                    ));
                }
            }
            Entry::Link(rel, target) => {
                let q = shell_quote(&at(rel));
                let t = shell_quote(&target.to_string_lossy());
                script.push(change(
                    format!("[ ! -L {q} ] || [ \"$(readlink -- {q})\" != {t} ]"),
                    format!("rm -f -- {q} && ln -s -- {t} {q}"),
                ));
            }
            Entry::File(..) => {}
        }
    }
    if check {
        // Nothing is created: a failing mkdir of dest must not fail the check.
        script.remove(0);
    }
    let out = ctx.transport.exec(&script.join("\n"), &ctx.exec).await?;
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "creating directories and links below {base} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut total = ModuleOutput {
        changed: !out.stdout.is_empty(),
        ..ModuleOutput::default()
    };
    for entry in &entries {
        let Entry::File(rel, local) = entry else {
            continue;
        };
        let bytes = std::fs::read(local)
            .map_err(|e| ModuleError::Local(format!("reading {}: {e}", local.display())))?;
        let mut attrs = job.attrs.clone();
        if attrs.mode == Some(Mode::Preserve) {
            attrs.mode = super::copy::local_mode(local).map(Mode::Octal);
        }
        let one = super::copy::install(ctx, &at(rel), &bytes, None, &attrs, job.opts).await?;
        total.changed |= one.changed;
        if one.failed {
            return Ok(one);
        }
        total.diffs.extend(one.diffs);
    }
    total.data.insert("dest".into(), json!(format!("{base}/")));
    total
        .data
        .insert("src".into(), json!(job.local.display().to_string()));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_or_followed_and_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("sub/to_a")).unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("sub/dangling")).unwrap();
        let rel = |p: &str| PathBuf::from(p);

        let kept = walk(&root, false).unwrap();
        assert!(kept.contains(&Entry::Link(rel("sub/to_a"), rel("../a.txt"))));
        assert!(kept.contains(&Entry::Link(rel("sub/up"), rel(".."))));
        assert!(kept.contains(&Entry::Dir(rel("sub/deep"))));

        let followed = walk(&root, true).unwrap();
        assert!(followed.contains(&Entry::File(rel("sub/to_a"), root.join("sub/to_a"))));
        // A link to its own parent stays a link; a dangling one too.
        assert!(followed.contains(&Entry::Link(rel("sub/up"), rel(".."))));
        assert!(followed.contains(&Entry::Link(rel("sub/dangling"), rel("nowhere"))));
    }
}
