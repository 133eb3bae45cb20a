//! `mount` (ansible.posix.mount): a mount point's line in fstab and its
//! state in the running system, on Linux hosts.
//!
//! One round trip reads the fstab and whether the path is mounted
//! (`mountpoint -q`, which sees bind mounts too); the fstab line is
//! computed here as Ansible's module writes it ([`set_line`]), the file is
//! written atomically, then `mount`/`umount` run in a second round trip.
//! A mount that fails puts the old fstab back.

use serde_json::{Value, json};

use super::args::Args;
use super::edit::{self, decode_exact, encode_exact};
use super::owner_group_mode::Attrs;
use super::remote_file::{self, WriteFailure, WriteSpec};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// mount, as a task writes it (`ansible.posix.mount`).
pub const MODULE: Module = Module {
    name: "mount",
    aliases: &["ansible.posix.mount"],
    params: &[
        alias("path", &["name"]),
        p("src"),
        p("fstype"),
        p("opts"),
        p("opts_no_log"),
        p("dump"),
        p("passno"),
        p("fstab"),
        p("boot"),
        p("backup"),
        p("state"),
    ],
    required: &[&["path"], &["state"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const STATES: &[&str] = &[
    "absent",
    "absent_from_fstab",
    "mounted",
    "present",
    "unmounted",
    "remounted",
    "ephemeral",
];

/// An fstab entry's fields, escaped as fstab writes them.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    src: Option<String>,
    name: String,
    fstype: Option<String>,
    opts: String,
    dump: String,
    passno: String,
}

#[derive(Debug)]
struct Params {
    state: String,
    /// The path as given (for commands and results).
    path: String,
    entry: Entry,
    fstab: String,
    backup: bool,
    boot: bool,
}

fn parse(vars: &Vars) -> Result<Result<Params, String>, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let state = args
        .choice("state", STATES, None)?
        .unwrap_or_else(|| "mounted".into());
    let path = args.required(&["path"])?;
    let src = args.str("src")?;
    let fstype = args.str("fstype")?;
    if matches!(state.as_str(), "mounted" | "present" | "ephemeral")
        && (src.is_none() || fstype.is_none())
    {
        let missing: Vec<&str> = [("src", &src), ("fstype", &fstype)]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        return Ok(Err(format!(
            "state is {state} but all of the following are missing: {}",
            missing.join(", ")
        )));
    }
    let boot = args.bool("boot", true)?;
    let mut opts: Vec<String> = args
        .str("opts")?
        .unwrap_or_else(|| "defaults".into())
        .split(',')
        .map(String::from)
        .collect();
    if !boot && !opts.iter().any(|o| o == "noauto") {
        opts.push("noauto".into());
    }
    Ok(Ok(Params {
        entry: Entry {
            src: src.map(|s| escape(&s)),
            name: escape(&path),
            fstype: fstype.map(|s| escape(&s)),
            opts: escape(&opts.join(",")),
            dump: args.str("dump")?.unwrap_or_else(|| "0".into()),
            passno: args.str("passno")?.unwrap_or_else(|| "0".into()),
        },
        path,
        fstab: args.str("fstab")?.unwrap_or_else(|| "/etc/fstab".into()),
        backup: args.bool("backup", false)?,
        boot,
        state,
    }))
}

/// fstab's escapes for the characters that would split a field (and `&`,
/// as Ansible's module escapes it).
fn escape(field: &str) -> String {
    field
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

fn render(e: &Entry) -> String {
    format!(
        "{} {} {} {} {} {}\n",
        e.src.as_deref().unwrap_or_default(),
        e.name,
        e.fstype.as_deref().unwrap_or_default(),
        e.opts,
        e.dump,
        e.passno
    )
}

/// An fstab line's fields, when it is an entry (4 to 6 fields).
fn fields(line: &str) -> Option<Entry> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let f: Vec<&str> = line.split('#').next()?.split_whitespace().collect();
    if !(4..=6).contains(&f.len()) {
        return None;
    }
    Some(Entry {
        src: Some(f[0].into()),
        name: f[1].into(),
        fstype: Some(f[2].into()),
        opts: f[3].into(),
        dump: f.get(4).unwrap_or(&"0").to_string(),
        passno: f.get(5).unwrap_or(&"0").to_string(),
    })
}

/// Whether `line`'s entry is the one for `want` (swap entries, all named
/// `none`, also by their source).
fn is_ours(line: &Entry, want: &Entry) -> bool {
    line.name == want.name
        && !(line.name == "none"
            && line.fstype.as_deref() == Some("swap")
            && want.src.is_some()
            && line.src != want.src)
}

/// The fstab with `want`'s entry set: changed fields rewritten, a missing
/// entry appended. Returns the new text and whether it changed.
fn set_line(text: &str, want: &Entry) -> (String, bool) {
    let mut out = String::new();
    let mut exists = false;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let line = if line.ends_with('\n') {
            line.to_string()
        } else {
            format!("{line}\n")
        };
        let Some(mut entry) = fields(&line).filter(|e| is_ours(e, want)) else {
            out.push_str(&line);
            continue;
        };
        exists = true;
        let mut line_changed = false;
        if let Some(src) = &want.src
            && entry.src.as_ref() != Some(src)
        {
            entry.src = Some(src.clone());
            line_changed = true;
        }
        if let Some(fstype) = &want.fstype
            && entry.fstype.as_ref() != Some(fstype)
        {
            entry.fstype = Some(fstype.clone());
            line_changed = true;
        }
        for (have, wanted) in [
            (&mut entry.opts, &want.opts),
            (&mut entry.dump, &want.dump),
            (&mut entry.passno, &want.passno),
        ] {
            if have != wanted {
                *have = wanted.clone();
                line_changed = true;
            }
        }
        if line_changed {
            changed = true;
            out.push_str(&render(&entry));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&render(want));
        changed = true;
    }
    (out, changed)
}

/// The fstab without `want`'s entry (only 6-field lines, as Ansible).
fn unset_line(text: &str, want: &Entry) -> (String, bool) {
    let mut out = String::new();
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let six = line.split_whitespace().count() == 6;
        match fields(line).filter(|e| six && is_ours(e, want)) {
            Some(_) => changed = true,
            None => out.push_str(line),
        }
    }
    (out, changed)
}

/// `-T <fstab>` when the fstab is not the system's.
fn fstab_flag(p: &Params) -> String {
    if p.fstab == "/etc/fstab" {
        String::new()
    } else {
        format!("-T {} ", shell_quote(&p.fstab))
    }
}

/// `mount -o remount` (with the options), falling back to unmount and
/// mount where a filesystem cannot change them in place.
fn remount_script(p: &Params) -> String {
    let path = shell_quote(&p.path);
    let fstab = fstab_flag(p);
    let opts = if p.state == "remounted" && p.entry.opts != "defaults" {
        format!("remount,{}", p.entry.opts)
    } else {
        "remount".into()
    };
    let ephemeral = ephemeral_args(p);
    format!(
        "mount -o {} {fstab}{ephemeral}{path} 2>&1 || {{ umount {path} 2>&1 && mount {fstab}{ephemeral}{path} 2>&1; }}",
        shell_quote(&opts)
    )
}

/// `-t fstype [-o opts] src` for a mount that is not in fstab.
fn ephemeral_args(p: &Params) -> String {
    if p.state != "ephemeral" {
        return String::new();
    }
    let mut s = format!(
        "-t {} ",
        shell_quote(p.entry.fstype.as_deref().unwrap_or_default())
    );
    if p.entry.opts != "defaults" {
        s.push_str(&format!("-o {} ", shell_quote(&p.entry.opts)));
    }
    s.push_str(&shell_quote(p.entry.src.as_deref().unwrap_or_default()));
    s.push(' ');
    s
}

fn result(p: &Params, changed: bool, backup_file: &str) -> ModuleOutput {
    let mut data = Vars::new();
    data.insert("name".into(), json!(p.path));
    data.insert("opts".into(), json!(p.entry.opts));
    data.insert("dump".into(), json!(p.entry.dump));
    data.insert("passno".into(), json!(p.entry.passno));
    data.insert("fstab".into(), json!(p.fstab));
    data.insert("boot".into(), json!(if p.boot { "yes" } else { "no" }));
    data.insert("backup_file".into(), json!(backup_file));
    for (k, v) in [("src", &p.entry.src), ("fstype", &p.entry.fstype)] {
        if let Some(v) = v {
            data.insert(k.into(), Value::String(v.clone()));
        }
    }
    ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    }
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = match parse(vars)? {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let q_path = shell_quote(&p.path);
    let probe = format!(
        "[ -e {q_path} ] && echo exists; mountpoint -q {q_path} 2>/dev/null && echo mounted; true"
    );
    let probed = ctx.transport.exec(&probe, &ctx.exec).await?;
    let probed = String::from_utf8_lossy(&probed.stdout);
    let exists = probed.lines().any(|l| l == "exists");
    let mounted = probed.lines().any(|l| l == "mounted");

    let uses_fstab = p.state != "ephemeral" && p.state != "unmounted" && p.state != "remounted";
    let info = if uses_fstab {
        Some(edit::read(ctx, &p.fstab).await?)
    } else {
        None
    };
    let before = info
        .as_ref()
        .and_then(|i| i.content.clone())
        .unwrap_or_default();
    let text = decode_exact(&before);
    let (after, fstab_changed) = match p.state.as_str() {
        "absent" | "absent_from_fstab" => unset_line(&text, &p.entry),
        "mounted" | "present" => set_line(&text, &p.entry),
        _ => (text.clone(), false),
    };
    let mut backup_file = String::new();
    if let Some(info) = &info {
        let attrs = Attrs::default();
        let written = edit::finish(
            ctx,
            edit::Edit {
                path: &p.fstab,
                info,
                before: &before,
                after: fstab_changed.then(|| encode_exact(&after)),
                msg: String::new(),
                attrs: &attrs,
                backup: p.backup,
                validate: None,
            },
        )
        .await?;
        backup_file = written.data["backup"].as_str().unwrap_or_default().into();
    }

    // What the running system needs, and whether that is a change.
    let (script, changed) = match p.state.as_str() {
        "present" | "absent_from_fstab" => (None, fstab_changed),
        "absent" if fstab_changed => {
            let umount = if mounted {
                format!("umount {q_path} 2>&1 || exit 1; ")
            } else {
                String::new()
            };
            (
                Some(format!(
                    "{umount}[ ! -e {q_path} ] || rmdir -- {q_path} 2>&1"
                )),
                true,
            )
        }
        "absent" => (None, false),
        "unmounted" if mounted => (Some(format!("umount {q_path} 2>&1")), true),
        "unmounted" => (None, false),
        "remounted" => (Some(remount_script(&p)), true),
        "mounted" | "ephemeral" => {
            let mkdir = if exists {
                String::new()
            } else {
                format!("mkdir -p -- {q_path} 2>&1 || exit 1; ")
            };
            // An ephemeral mount is remounted each time, as Ansible does.
            if mounted && (p.state == "ephemeral" || fstab_changed) {
                (Some(format!("{mkdir}{}", remount_script(&p))), true)
            } else if mounted {
                (None, false)
            } else {
                let mount = format!(
                    "mount {}{}{q_path} 2>&1",
                    if p.state == "ephemeral" {
                        String::new()
                    } else {
                        fstab_flag(&p)
                    },
                    ephemeral_args(&p)
                );
                (Some(format!("{mkdir}{mount}")), true)
            }
        }
        _ => (None, false),
    };
    if ctx.check_mode {
        return Ok(result(&p, changed, &backup_file));
    }
    let Some(script) = script else {
        return Ok(result(&p, changed, &backup_file));
    };
    let done = ctx.transport.exec(&script, &ctx.exec).await?;
    if done.exit_code == Some(0) {
        return Ok(result(&p, changed, &backup_file));
    }
    let output = String::from_utf8_lossy(&done.stdout).trim().to_string();
    let what = match p.state.as_str() {
        "unmounted" | "absent" => "unmounting",
        "remounted" => "remounting",
        _ => "mounting",
    };
    if fstab_changed && p.state == "mounted" {
        restore_fstab(ctx, &p.fstab, &before).await?;
    }
    let mut failed = ModuleOutput::failed(format!("Error {what} {}: {output}", p.path));
    failed.data.extend(result(&p, false, &backup_file).data);
    Ok(failed)
}

/// Puts the fstab back as it was before a mount that failed.
async fn restore_fstab(
    ctx: &ModuleContext<'_>,
    fstab: &str,
    old: &[u8],
) -> Result<(), ModuleError> {
    let now = edit::read(ctx, fstab).await?;
    let spec = WriteSpec {
        path: fstab,
        content: old,
        attrs: &Attrs::default(),
        backup: false,
        validate: None,
        existing: &now,
        sha1: None,
    };
    match remote_file::write(ctx, &spec).await {
        Ok(_) => Ok(()),
        Err(WriteFailure::Other(e)) => Err(e),
        Err(WriteFailure::Validate { .. }) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(name: &str, src: &str, opts: &str) -> Entry {
        Entry {
            src: Some(src.into()),
            name: name.into(),
            fstype: Some("ext4".into()),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
        }
    }

    #[test]
    fn a_missing_entry_is_appended_and_a_present_one_left_byte_for_byte() {
        let text = "# /etc/fstab\nUUID=1  /  ext4  errors=remount-ro  0  1\n";
        let (after, changed) = set_line(text, &want("/data", "/dev/sdb1", "defaults"));
        assert!(changed);
        assert_eq!(after, format!("{text}/dev/sdb1 /data ext4 defaults 0 0\n"));
        let (again, changed) = set_line(&after, &want("/data", "/dev/sdb1", "defaults"));
        assert!(!changed);
        assert_eq!(again, after);
    }

    #[test]
    fn a_changed_field_rewrites_only_that_line() {
        let text = "/dev/sdb1\t/data\text4\tdefaults\t0\t0\nproc /proc proc defaults 0 0\n";
        let (after, changed) = set_line(text, &want("/data", "/dev/sdb1", "noatime"));
        assert!(changed);
        assert_eq!(
            after,
            "/dev/sdb1 /data ext4 noatime 0 0\nproc /proc proc defaults 0 0\n"
        );
    }

    #[test]
    fn absent_removes_the_entry_and_spaces_are_escaped() {
        let w = want(&escape("/mnt/my data"), "/dev/sdc", "defaults");
        assert_eq!(w.name, "/mnt/my\\040data");
        let (with, _) = set_line("", &w);
        let (without, changed) = unset_line(&with, &w);
        assert!(changed);
        assert_eq!(without, "");
    }
}
