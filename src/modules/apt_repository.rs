//! `apt_repository`: one-line apt sources (`deb [opts] URI suite comps`)
//! in /etc/apt/sources.list and /etc/apt/sources.list.d/*.list. A source
//! matches whatever its spacing and trailing comment; `present` enables a
//! commented-out copy or adds the line to its own file, `absent` removes
//! every enabled copy (and a file left with no line). Lines herd does not
//! change keep their bytes. After a change the package lists are updated
//! (`update_cache`, default yes); if that fails the files are put back.

use serde_json::json;

use super::args::Args;
use super::edit::{self, Edit};
use super::owner_group_mode::{Attrs, Mode};
use super::remote_file::FileInfo;
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// apt_repository, as a task writes it.
pub const MODULE: Module = Module {
    name: "apt_repository",
    params: &[
        p("repo"),
        p("state"),
        p("mode"),
        alias("update_cache", &["update-cache"]),
        p("update_cache_retries"),
        p("update_cache_retry_max_delay"),
        p("filename"),
        p("install_python_apt"),
        p("validate_certs"),
        p("codename"),
    ],
    required: &[&["repo"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
const MARK: &str = "@@herd-apt-source";

/// One line of a sources file, as apt reads it.
#[derive(Debug, PartialEq)]
struct Line {
    enabled: bool,
    /// The source with single spaces, without `#` and trailing comment.
    source: String,
    comment: Option<String>,
}

/// A `deb`/`deb-src` line (possibly commented out), or `None` for
/// anything else (comments, blank lines).
fn parse_line(line: &str) -> Option<Line> {
    let mut text = line.trim();
    let mut enabled = true;
    while let Some(rest) = text.strip_prefix('#') {
        enabled = false;
        text = rest.trim_start();
    }
    let (source, comment) = match text.find('#') {
        Some(i) => (&text[..i], Some(text[i + 1..].trim().to_string())),
        None => (text, None),
    };
    let source = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let kind = source.split(' ').next()?;
    if !matches!(kind, "deb" | "deb-src") || source.split(' ').count() < 3 {
        return None;
    }
    Some(Line {
        enabled,
        source,
        comment: comment.filter(|c| !c.is_empty()),
    })
}

/// Ansible's file name for a new source: the URI's host and path, every
/// other character an underscore (`deb http://dl.example.com/apt stable`
/// -> `dl_example_com_apt.list`).
fn suggest_filename(source: &str) -> String {
    let mut uri = None;
    let mut in_options = false;
    for word in source.split(' ').skip(1) {
        if word.starts_with('[') {
            in_options = true;
        }
        if in_options {
            in_options = !word.ends_with(']');
            continue;
        }
        uri = Some(word);
        break;
    }
    let uri = uri.unwrap_or("");
    let uri = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    // user:password@host
    let uri = uri.rsplit_once('@').map_or(uri, |(_, rest)| rest);
    let words: Vec<&str> = uri
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{}.list", words.join("_"))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let repo = args.required(&["repo"])?;
    let state = args
        .choice("state", &["present", "absent"], Some("present"))?
        .unwrap_or_default();
    let update_cache = args.bool("update_cache", true)?;
    let filename = args.str("filename")?;
    let mode = match args.value(&["mode"]) {
        Some((_, v)) => Some(Mode::parse(v).map_err(|e| args.error(e))?),
        None => None,
    };
    for ignored in ["update_cache_retries", "update_cache_retry_max_delay"] {
        args.int(ignored)?;
    }
    args.bool("install_python_apt", true)?;
    args.bool("validate_certs", true)?;
    args.str("codename")?;
    if repo.trim().starts_with("ppa:") {
        return Err(args.error(format!(
            "{repo}: herd does not fetch PPA signing keys from Launchpad; \
             write the PPA's deb line with [signed-by=KEYFILE] (or use deb822_repository)"
        )));
    }
    let wanted = match parse_line(&repo) {
        Some(l) if l.enabled => l.source,
        _ => return Err(args.error(format!("Invalid repository string: {repo}"))),
    };
    if let Some(f) = &filename
        && (f.contains('/') || f.is_empty())
    {
        return Err(args.error(format!("filename must be a plain name, got {f:?}")));
    }

    let files = list_sources(ctx).await?;
    // path -> new lines of that file (`None`: delete the file).
    let mut edits: Vec<(String, Option<Vec<String>>)> = Vec::new();
    let mut sources_added = Vec::new();
    let mut sources_removed = Vec::new();
    let matches = |l: &str| parse_line(l).filter(|p| p.source == wanted);
    if state == "present" {
        let enabled = files
            .iter()
            .any(|(_, lines)| lines.iter().any(|l| matches(l).is_some_and(|p| p.enabled)));
        if !enabled {
            // Reuse a commented-out copy if there is one.
            for (path, lines) in &files {
                if lines.iter().any(|l| matches(l).is_some()) {
                    let new = lines
                        .iter()
                        .map(|l| match matches(l) {
                            Some(p) => match p.comment {
                                Some(c) => format!("{} # {c}", p.source),
                                None => p.source,
                            },
                            None => l.clone(),
                        })
                        .collect();
                    edits.push((path.clone(), Some(new)));
                }
            }
            if edits.is_empty() {
                let name = match &filename {
                    Some(f) => format!("{f}.list"),
                    None => suggest_filename(&wanted),
                };
                let path = format!("{SOURCES_DIR}/{name}");
                let mut lines = files
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default();
                if lines.is_empty() {
                    sources_added.push(path.clone());
                }
                lines.push(wanted.clone());
                edits.push((path, Some(lines)));
            }
        }
    } else {
        for (path, lines) in &files {
            if lines.iter().any(|l| matches(l).is_some_and(|p| p.enabled)) {
                let kept: Vec<String> = lines
                    .iter()
                    .filter(|l| !matches(l).is_some_and(|p| p.enabled))
                    .cloned()
                    .collect();
                if kept.iter().all(|l| l.trim().is_empty()) && path != SOURCES_LIST {
                    sources_removed.push(path.clone());
                    edits.push((path.clone(), None));
                } else {
                    edits.push((path.clone(), Some(kept)));
                }
            }
        }
    }

    let attrs = Attrs {
        mode,
        owner: None,
        group: None,
    };
    let mut out = ModuleOutput::default();
    let mut undo: Vec<(String, FileInfo)> = Vec::new();
    for (path, lines) in &edits {
        let info = edit::read(ctx, path).await?;
        let before = info.content.clone().unwrap_or_default();
        match lines {
            Some(lines) => {
                let mut after = lines.join("\n").into_bytes();
                after.push(b'\n');
                let new_attrs = if info.exists {
                    Attrs {
                        mode: None,
                        owner: None,
                        group: None,
                    }
                } else {
                    attrs.clone()
                };
                let done = edit::finish(
                    ctx,
                    Edit {
                        path,
                        info: &info,
                        before: &before,
                        after: Some(after),
                        msg: String::new(),
                        attrs: &new_attrs,
                        backup: false,
                        validate: None,
                    },
                )
                .await?;
                if done.failed {
                    return Ok(done);
                }
                out.changed |= done.changed;
                out.diffs.extend(done.diffs);
            }
            None => {
                out.changed = true;
                if ctx.diff {
                    out.diffs.push(FileDiff {
                        path: path.clone(),
                        before: Some(String::from_utf8_lossy(&before).into_owned()),
                        after: None,
                    });
                }
                if !ctx.check_mode {
                    super::remote_file::run_all(
                        ctx,
                        path,
                        &[format!("rm -f {}", shell_quote(path))],
                    )
                    .await?;
                }
            }
        }
        undo.push((path.clone(), info));
    }

    if out.changed && update_cache && !ctx.check_mode {
        let update = ctx
            .transport
            .exec(
                "export DEBIAN_FRONTEND=noninteractive LC_ALL=C; apt-get update -q </dev/null",
                &ctx.exec,
            )
            .await?;
        if !update.success() {
            revert(ctx, &undo).await?;
            return Ok(ModuleOutput::failed(format!(
                "Failed to update apt cache: {}",
                String::from_utf8_lossy(&update.stderr).trim()
            )));
        }
    }
    let mut data = Vars::new();
    data.insert("repo".into(), json!(repo));
    data.insert("state".into(), json!(state));
    data.insert("sources_added".into(), json!(sources_added));
    data.insert("sources_removed".into(), json!(sources_removed));
    if ctx.diff {
        data.insert("diff".into(), super::remote_file::diff_value(&out.diffs));
    }
    out.data = data;
    Ok(out)
}

/// Every one-line sources file with its lines (host data: only parsed).
async fn list_sources(ctx: &ModuleContext<'_>) -> Result<Vec<(String, Vec<String>)>, ModuleError> {
    let script = format!(
        "for f in {SOURCES_LIST} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue; \
         echo \"{MARK} $f\"; head -c 1048576 \"$f\"; echo; done; exit 0"
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(path) = line.strip_prefix(MARK).map(str::trim) {
            files.push((path.to_string(), Vec::new()));
        } else if let Some((_, lines)) = files.last_mut() {
            lines.push(line.to_string());
        }
    }
    // The `echo` after each file adds one line break of ours.
    for (_, lines) in &mut files {
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
    }
    Ok(files)
}

/// Puts the files back as they were before a failed cache update.
async fn revert(ctx: &ModuleContext<'_>, undo: &[(String, FileInfo)]) -> Result<(), ModuleError> {
    let keep = Attrs {
        mode: None,
        owner: None,
        group: None,
    };
    for (path, info) in undo {
        if info.exists {
            let now = edit::read(ctx, path).await?;
            edit::finish(
                ctx,
                Edit {
                    path,
                    info: &now,
                    before: now.content.as_deref().unwrap_or_default(),
                    after: info.content.clone(),
                    msg: String::new(),
                    attrs: &keep,
                    backup: false,
                    validate: None,
                },
            )
            .await?;
        } else {
            super::remote_file::run_all(ctx, path, &[format!("rm -f {}", shell_quote(path))])
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_whatever_their_spacing_and_comment() {
        let a = parse_line("deb  http://x/debian   stable main # mirror").unwrap();
        assert!(a.enabled);
        assert_eq!(a.source, "deb http://x/debian stable main");
        assert_eq!(a.comment.as_deref(), Some("mirror"));
        let b = parse_line("# deb http://x/debian stable main").unwrap();
        assert!(!b.enabled);
        assert_eq!(b.source, a.source);
        assert!(parse_line("# a comment").is_none());
        assert!(parse_line("").is_none());
    }

    #[test]
    fn file_names_as_ansible_suggests() {
        assert_eq!(
            suggest_filename("deb http://dl.google.com/linux/chrome/deb/ stable main"),
            "dl_google_com_linux_chrome_deb.list"
        );
        assert_eq!(
            suggest_filename(
                "deb [arch=amd64 signed-by=/k.gpg] https://u:p@repo.example.com/apt noble main"
            ),
            "repo_example_com_apt.list"
        );
    }
}
