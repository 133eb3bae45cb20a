//! `copy: remote_src: true` with a directory source: a tree copied on the
//! host, as Ansible's copy module does it.
//!
//! - `src/` (trailing slash): the directory's contents go into `dest`;
//! - `src` (no slash): the directory itself goes into `dest/NAME`.
//!
//! A missing target is created as a copy of the whole tree (modes kept).
//! An existing one is merged: files whose content differs and entries
//! missing from it are copied (each file through a temp name and a rename),
//! and entries only in the target are left alone. Symlinks are followed
//! unless `local_follow: false`. One shell round trip; it prints a line per
//! change, which is how "changed" is known (and all check mode needs).

use serde_json::json;

use super::owner_group_mode::Attrs;
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// The merge of one existing directory into another, entry by entry, run
/// from inside the source. Arguments: the target dir (absolute, since the
/// shell is in the source), check (1/0), follow (-L/-P); then the entries.
const MERGE: &str = r#"T=$1; CHECK=$2; FOLLOW=$3; shift 3
for p; do
  d="$T/$p"
  if [ -d "$p" ] && { [ "$FOLLOW" = -L ] || [ ! -L "$p" ]; }; then
    [ -d "$d" ] && continue
    echo "changed $p"
    [ "$CHECK" = 1 ] || cp -R "$FOLLOW" -p -- "$p" "$d" || exit 1
  elif [ -L "$p" ] && [ "$FOLLOW" = -P ]; then
    if [ ! -L "$d" ] || [ "$(readlink -- "$p")" != "$(readlink -- "$d")" ]; then
      echo "changed $p"
      [ "$CHECK" = 1 ] || { rm -f -- "$d" && cp -P -p -- "$p" "$d"; } || exit 1
    fi
  elif [ ! -e "$d" ] || ! cmp -s -- "$p" "$d"; then
    echo "changed $p"
    if [ "$CHECK" != 1 ]; then
      cp -L -p -- "$p" "$d.herd-new" && mv -f -- "$d.herd-new" "$d" || exit 1
    fi
  fi
done"#;

pub async fn run(
    ctx: &ModuleContext<'_>,
    src: &str,
    dest: &str,
    attrs: &Attrs,
    follow: bool,
) -> Result<ModuleOutput, ModuleError> {
    let source = src.trim_end_matches('/');
    let target = if src.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        let name = source.rsplit('/').next().unwrap_or(source);
        format!("{}/{name}", dest.trim_end_matches('/'))
    };
    let (s, t) = (shell_quote(source), shell_quote(&target));
    let check = if ctx.check_mode { "1" } else { "0" };
    let follow_flag = if follow { "-L" } else { "-P" };
    let find = if follow { "find -L" } else { "find" };
    let script = format!(
        "if [ ! -e {t} ]; then echo \"changed .\"; [ {check} = 1 ] && exit 0; \
         mkdir -p -- \"$(dirname -- {t})\" && cp -R {follow_flag} -p -- {s} {t} || exit 1; \
         else T=$(cd -- {t} && pwd) && cd -- {s} || exit 1; \
         {find} . -mindepth 1 -exec sh -c {merge} sh \"$T\" {check} {follow_flag} {{}} + || exit 1; fi",
        merge = shell_quote(MERGE),
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "copying {src} to {target} on the host failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut changed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with("changed "));
    // owner/group apply to the whole tree; `-c` prints a line per entry it
    // changed, which is how their "changed" is known.
    if !ctx.check_mode {
        let mut commands = Vec::new();
        let q = shell_quote(&target);
        if let Some(owner) = &attrs.owner {
            commands.push(format!("chown -R -c -- {} {q}", shell_quote(owner)));
        }
        if let Some(group) = &attrs.group {
            commands.push(format!("chgrp -R -c -- {} {q}", shell_quote(group)));
        }
        if !commands.is_empty() {
            let out = ctx
                .transport
                .exec(&commands.join(" && "), &ctx.exec)
                .await?;
            if !out.success() {
                return Ok(ModuleOutput::failed(format!(
                    "setting owner/group of {target} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            changed |= !out.stdout.is_empty();
        }
    }
    let mut data = Vars::new();
    data.insert("dest".into(), json!(dest));
    data.insert("src".into(), json!(src));
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}
