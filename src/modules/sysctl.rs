//! `sysctl` (ansible.posix.sysctl): one kernel parameter in a sysctl file,
//! and optionally in the running kernel. One round trip reads the file and
//! the current value (`sysctl -e -n`); the file is rewritten atomically
//! only when its value changes, then `sysctl -p <file>` reloads it.
//!
//! As Ansible's module does, a rewrite normalises every `key = value` line
//! to `key=value`, trims each line and keeps only the first line of a
//! key, so herd and Ansible leave the same file behind.

use super::args::{Args, to_bool};
use super::edit::{self, decode_exact};
use super::owner_group_mode::Attrs;
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// sysctl, as a task writes it (`ansible.posix.sysctl`).
pub const MODULE: Module = Module {
    name: "sysctl",
    aliases: &["ansible.posix.sysctl"],
    params: &[
        alias("name", &["key"]),
        alias("value", &["val"]),
        p("state"),
        p("reload"),
        p("sysctl_set"),
        p("ignoreerrors"),
        p("sysctl_file"),
    ],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

#[derive(Debug)]
struct Params {
    name: String,
    /// Booleans become `1`/`0`, strings are trimmed.
    value: String,
    present: bool,
    reload: bool,
    sysctl_set: bool,
    ignoreerrors: bool,
    file: String,
}

fn parse(vars: &Vars) -> Result<Result<Params, String>, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let name = args.required(&["name"])?.trim().to_string();
    let present =
        args.choice("state", &["present", "absent"], Some("present"))? == Some("present".into());
    let value = match args.value(&["value"]) {
        None => None,
        Some((_, v)) => Some(match (v, to_bool(v)) {
            (serde_json::Value::Number(n), _) => n.to_string(),
            (_, Some(b)) if !v.as_str().is_some_and(|s| s.trim().is_empty()) => {
                if b { "1" } else { "0" }.to_string()
            }
            _ => args.str("value")?.unwrap_or_default().trim().to_string(),
        }),
    };
    if name.is_empty() {
        return Ok(Err("name cannot be blank".into()));
    }
    if present && value.is_none() {
        return Ok(Err("value cannot be None".into()));
    }
    if present && value.as_deref() == Some("") {
        return Ok(Err("value cannot be blank".into()));
    }
    Ok(Ok(Params {
        name,
        value: value.unwrap_or_default(),
        present,
        reload: args.bool("reload", true)?,
        sysctl_set: args.bool("sysctl_set", false)?,
        ignoreerrors: args.bool("ignoreerrors", false)?,
        file: args
            .str("sysctl_file")?
            .unwrap_or_else(|| "/etc/sysctl.conf".into()),
    }))
}

/// A `key=value` line's key and value, trimmed; None for blanks, comments
/// and lines without `=`.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(['#', ';']) {
        return None;
    }
    line.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
}

/// The file's value for `name` (the last line setting it, as the kernel
/// would end up with) and the file as the module writes it back.
fn fix_lines(text: &str, p: &Params) -> (Option<String>, String) {
    let mut current = None;
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let Some((k, v)) = key_value(line) else {
            out.push_str(line.trim());
            out.push('\n');
            continue;
        };
        if k == p.name {
            current = Some(v.to_string());
        }
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        if k != p.name {
            out.push_str(&format!("{k}={v}\n"));
        } else if p.present {
            out.push_str(&format!("{k}={}\n", p.value));
        }
    }
    if p.present && !seen.contains(&p.name.as_str()) {
        out.push_str(&format!("{}={}\n", p.name, p.value));
    }
    (current, out)
}

/// Whitespace-separated words equal one by one (`4096 87380 6291456`).
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = match parse(vars)? {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let info = edit::read(ctx, &p.file).await?;
    let before = info.content.clone().unwrap_or_default();
    let (file_value, after) = fix_lines(&decode_exact(&before), &p);
    let probe = format!("LC_ALL=C sysctl -e -n {} 2>/dev/null", shell_quote(&p.name));
    let live = ctx.transport.exec(&probe, &ctx.exec).await?;
    let proc_value = (live.exit_code == Some(0))
        .then(|| String::from_utf8_lossy(&live.stdout).trim().to_string())
        .filter(|v| !v.is_empty());

    let write_file = match (&file_value, p.present) {
        (None, true) => true,
        (None, false) => false,
        (Some(_), false) => true,
        (Some(v), true) => *v != p.value,
    };
    let live_differs = !proc_value
        .as_deref()
        .is_some_and(|v| same_value(v, &p.value));
    let mut changed = write_file || (p.present && p.reload && live_differs);
    let set_proc = p.sysctl_set && p.present && live_differs && proc_value.is_some();
    if p.sysctl_set && p.present && live_differs {
        changed = true;
    }

    let attrs = Attrs::default();
    let mut out = edit::finish(
        ctx,
        edit::Edit {
            path: &p.file,
            info: &info,
            before: &before,
            after: write_file.then(|| after.into_bytes()),
            msg: String::new(),
            attrs: &attrs,
            backup: false,
            validate: None,
        },
    )
    .await?;
    out.changed = changed;
    out.msg = None;
    out.data.remove("msg");
    out.data.remove("backup");
    if ctx.check_mode || !changed {
        return Ok(out);
    }
    let ignore = if p.ignoreerrors { "-e " } else { "" };
    let mut script = String::from("export LC_ALL=C; ");
    if set_proc {
        script.push_str(&format!(
            "sysctl {ignore}-w {}={} || exit 1; ",
            shell_quote(&p.name),
            shell_quote(&p.value)
        ));
    }
    if p.reload {
        script.push_str(&format!("sysctl {ignore}-p {}", shell_quote(&p.file)));
    }
    if script.ends_with("; ") && !p.reload {
        script.push_str("true");
    }
    let done = ctx.transport.exec(&script, &ctx.exec).await?;
    let stderr = String::from_utf8_lossy(&done.stderr).to_string();
    // sysctl exits 0 on some failures and only says so on stderr.
    let refused = stderr.lines().any(|l| {
        l.starts_with("sysctl: setting key \"")
            && (l.ends_with(": Invalid argument") || l.ends_with(": Read-only file system"))
    });
    if done.exit_code != Some(0) || refused {
        let what = if p.reload && !set_proc {
            "Failed to reload sysctl".to_string()
        } else {
            format!("setting {} failed", p.name)
        };
        let mut failed = ModuleOutput::failed(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&done.stdout),
            stderr
        ));
        failed.changed = true;
        return Ok(failed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str, value: &str, present: bool) -> Params {
        Params {
            name: name.into(),
            value: value.into(),
            present,
            reload: true,
            sysctl_set: false,
            ignoreerrors: false,
            file: "/etc/sysctl.conf".into(),
        }
    }

    #[test]
    fn a_key_is_set_in_place_and_lines_are_normalised_as_ansible_does() {
        let text = "# comment\n  vm.swappiness = 60\nnet.ipv4.ip_forward = 0\nvm.swappiness=30\n";
        let (current, after) = fix_lines(text, &params("vm.swappiness", "10", true));
        assert_eq!(current.as_deref(), Some("30"));
        assert_eq!(
            after,
            "# comment\nvm.swappiness=10\nnet.ipv4.ip_forward=0\n"
        );
    }

    #[test]
    fn a_missing_key_is_appended_and_absent_removes_it() {
        let (current, after) = fix_lines("a=1\n", &params("b", "2", true));
        assert_eq!((current, after.as_str()), (None, "a=1\nb=2\n"));
        let (current, after) = fix_lines("a=1\nb=2\n", &params("b", "", false));
        assert_eq!((current.as_deref(), after.as_str()), (Some("2"), "a=1\n"));
    }

    #[test]
    fn values_compare_word_by_word() {
        assert!(same_value("4096\t87380  6291456", "4096 87380 6291456"));
        assert!(!same_value("1", "1 2"));
    }
}
