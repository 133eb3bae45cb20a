//! `cron`: one job or environment variable in a user's crontab or in a
//! cron.d file, as Ansible's cron module manages them: a job is the line
//! after a `#Ansible: <name>` comment, a variable is a `NAME="value"` line.
//! Every other line is kept byte for byte (see `edit::decode_exact`).
//!
//! One round trip reads the crontab (`crontab -l`) or the file; the new
//! text is computed here ([`plan`]) and written in a second one (`crontab
//! -` from stdin, or an atomic file write), only when it changes.

use serde_json::json;

use super::args::Args;
use super::edit::{self, decode_exact, encode_exact};
use super::owner_group_mode::Attrs;
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// cron, as a task writes it.
pub const MODULE: Module = Module {
    name: "cron",
    params: &[
        p("name"),
        p("user"),
        alias("job", &["value"]),
        p("cron_file"),
        p("state"),
        p("backup"),
        p("minute"),
        p("hour"),
        alias("day", &["dom"]),
        p("month"),
        alias("weekday", &["dow"]),
        p("special_time"),
        p("disabled"),
        p("env"),
        p("insertafter"),
        p("insertbefore"),
    ],
    required: &[&["name"]],
    exclusive: &[("insertafter", "insertbefore")],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// The comment naming the job on the next line.
const TAG: &str = "#Ansible: ";
const SPECIAL_TIMES: &[&str] = &[
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
];
/// The system crontab has a format of its own; Ansible refuses it.
const SYSTEM_CRONTAB: &str = "/etc/crontab";

#[derive(Debug, Clone, Default)]
struct Params {
    name: String,
    user: Option<String>,
    job: Option<String>,
    /// Absolute path of the cron.d file, when one is managed.
    cron_file: Option<String>,
    present: bool,
    backup: bool,
    /// minute, hour, day, month, weekday.
    times: [String; 5],
    special_time: Option<String>,
    disabled: bool,
    env: bool,
    insertafter: Option<String>,
    insertbefore: Option<String>,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let time = |name: &str| -> Result<String, ModuleError> {
        Ok(args.str(name)?.unwrap_or_else(|| "*".into()))
    };
    let cron_file = args.str("cron_file")?.map(|f| {
        if f.starts_with('/') {
            f
        } else {
            format!("/etc/cron.d/{f}")
        }
    });
    Ok(Params {
        name: args.required(&["name"])?,
        user: args.str("user")?,
        job: args.str("job")?,
        cron_file,
        present: args.choice("state", &["present", "absent"], Some("present"))?
            == Some("present".into()),
        backup: args.bool("backup", false)?,
        times: [
            time("minute")?,
            time("hour")?,
            time("day")?,
            time("month")?,
            time("weekday")?,
        ],
        special_time: args.choice("special_time", SPECIAL_TIMES, None)?,
        disabled: args.bool("disabled", false)?,
        env: args.bool("env", false)?,
        insertafter: args.str("insertafter")?,
        insertbefore: args.str("insertbefore")?,
    })
}

/// What the crontab becomes.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    lines: Vec<String>,
    changed: bool,
    /// A cron.d file left with nothing but blanks is deleted.
    remove_file: bool,
    warnings: Vec<String>,
}

/// The crontab's lines after the task, or the task's error message.
fn plan(p: &Params, existing: &str, mut lines: Vec<String>) -> Result<Plan, String> {
    let mut out = Plan::default();
    if p.special_time.is_some() && p.times.iter().any(|t| t != "*") {
        return Err("You must specify time and date fields or special time.".into());
    }
    if p.present {
        if p.cron_file.is_some() && p.user.is_none() {
            return Err("To use cron_file=... parameter you must specify user=... as well".into());
        }
        if p.job.is_none() {
            return Err("You must specify 'job' to install a new cron job or variable".into());
        }
        if (p.insertafter.is_some() || p.insertbefore.is_some()) && !p.env {
            return Err(
                "Insertafter and insertbefore parameters are valid only with env=yes".into(),
            );
        }
    }
    if p.env {
        if p.name.contains(' ') {
            return Err("Invalid name for environment variable".into());
        }
        let decl = format!("{}=\"{}\"", p.name, p.job.as_deref().unwrap_or_default());
        let old = find_env(&lines, &p.name);
        if p.present {
            match old {
                None => {
                    add_env(&mut lines, decl, p)?;
                    out.changed = true;
                }
                Some((_, line)) if line != decl => {
                    replace_env(&mut lines, &p.name, Some(&decl));
                    out.changed = true;
                }
                Some(_) => {}
            }
        } else if old.is_some() {
            replace_env(&mut lines, &p.name, None);
            out.changed = true;
        }
    } else if p.present {
        let job = p.job.as_deref().unwrap_or_default();
        if job.trim_matches(['\r', '\n']).contains(['\r', '\n']) {
            out.warnings
                .push("Job should not contain line breaks".into());
        }
        let line = job_line(p, job);
        match find_job(&mut lines, &p.name, Some(&line)) {
            Found::No => {
                lines.push(format!("{TAG}{}", p.name));
                lines.push(line);
                out.changed = true;
            }
            Found::Yes(old) if old != line => {
                replace_job(&mut lines, &p.name, Some(&line));
                out.changed = true;
            }
            Found::Yes(_) => {}
            Found::Adopted => {
                replace_job(&mut lines, &p.name, Some(&line));
                out.changed = true;
            }
        }
    } else if !matches!(find_job(&mut lines, &p.name, None), Found::No) {
        replace_job(&mut lines, &p.name, None);
        out.changed = true;
        if p.cron_file.is_some() && lines.iter().all(|l| l.trim().is_empty()) {
            out.remove_file = true;
        }
    }
    // A crontab without a final line break is rewritten with one.
    if !out.changed && !existing.is_empty() && !existing.ends_with(['\r', '\n']) {
        out.changed = true;
    }
    out.lines = lines;
    Ok(out)
}

/// The job's crontab line; a cron.d file names the user after the time.
fn job_line(p: &Params, job: &str) -> String {
    let job = job.trim_matches(['\r', '\n']);
    let disabled = if p.disabled { "#" } else { "" };
    let user = match (&p.cron_file, &p.user) {
        (Some(_), Some(user)) => format!(" {user}"),
        _ => String::new(),
    };
    match &p.special_time {
        Some(special) => format!("{disabled}@{special}{user} {job}"),
        None => format!("{disabled}{}{user} {job}", p.times.join(" ")),
    }
}

enum Found {
    No,
    /// The job line after the name's comment.
    Yes(String),
    /// The exact line was there without a name: its comment was added.
    Adopted,
}

/// The job named `name`; failing that, an unnamed line equal to `line`
/// gets the name (Ansible adopts jobs written before it managed them).
fn find_job(lines: &mut Vec<String>, name: &str, line: Option<&str>) -> Found {
    let mut comment: Option<&str> = None;
    for l in lines.iter() {
        if let Some(c) = comment {
            if c == name {
                return Found::Yes(l.clone());
            }
            comment = None;
        } else if let Some(c) = l.strip_prefix(TAG) {
            comment = Some(c);
        }
    }
    let Some(line) = line else {
        return Found::No;
    };
    let Some(i) = lines.iter().position(|l| l == line) else {
        return Found::No;
    };
    let previous = i.checked_sub(1).map(|j| lines[j].as_str());
    match previous {
        Some(prev) if prev.starts_with(TAG) => {
            // `#Ansible: None`: a job an old version added without a name.
            if prev == format!("{TAG}None") {
                lines[i - 1] = format!("{TAG}{name}");
                return Found::Adopted;
            }
            Found::No
        }
        _ => {
            lines.insert(i, format!("{TAG}{name}"));
            Found::Adopted
        }
    }
}

/// Replaces (or, with `None`, removes) the named job and its comment.
fn replace_job(lines: &mut Vec<String>, name: &str, line: Option<&str>) {
    let tag = format!("{TAG}{name}");
    let mut out = Vec::with_capacity(lines.len() + 1);
    let mut after_tag = false;
    for l in lines.drain(..) {
        if after_tag {
            if let Some(line) = line {
                out.push(tag.clone());
                out.push(line.to_string());
            }
            after_tag = false;
        } else if l == tag {
            after_tag = true;
        } else {
            out.push(l);
        }
    }
    *lines = out;
}

/// The first `NAME=` line: its index and text.
fn find_env<'l>(lines: &'l [String], name: &str) -> Option<(usize, &'l str)> {
    let prefix = format!("{name}=");
    lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.starts_with(&prefix))
        .map(|(i, l)| (i, l.as_str()))
}

fn add_env(lines: &mut Vec<String>, decl: String, p: &Params) -> Result<(), String> {
    let other = p.insertafter.as_ref().or(p.insertbefore.as_ref());
    let Some(other) = other else {
        lines.insert(0, decl);
        return Ok(());
    };
    let Some((index, _)) = find_env(lines, other) else {
        return Err(format!("Variable named '{other}' not found."));
    };
    let at = if p.insertafter.is_some() {
        index + 1
    } else {
        index
    };
    lines.insert(at, decl);
    Ok(())
}

/// Replaces (or removes) every `NAME=` line.
fn replace_env(lines: &mut Vec<String>, name: &str, decl: Option<&str>) {
    let prefix = format!("{name}=");
    let old = std::mem::take(lines);
    for l in old {
        if !l.starts_with(&prefix) {
            lines.push(l);
        } else if let Some(decl) = decl {
            lines.push(decl.to_string());
        }
    }
}

/// Variable names, as Ansible lists them (`envs`).
fn env_names(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l.split_once('=')
                .is_some_and(|(n, _)| !n.is_empty() && !n.contains(char::is_whitespace))
        })
        .map(|l| l.split('=').next().unwrap_or_default().to_string())
        .collect()
}

fn job_names(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(TAG).map(String::from))
        .collect()
}

/// The crontab text: lines joined, one final line break.
fn render(lines: &[String]) -> String {
    let text = lines.join("\n");
    if text.is_empty() {
        text
    } else {
        format!("{}\n", text.trim_end_matches(['\r', '\n']))
    }
}

/// `crontab` for `user` (`-u` only for another user than the login one,
/// which an unprivileged user may not pass), with `args` appended.
fn crontab_command(user: Option<&str>, args: &str) -> String {
    match user {
        Some(user) => {
            let user = shell_quote(user);
            format!(
                "if [ \"$(id -un)\" = {user} ]; then crontab {args}; else crontab -u {user} {args}; fi"
            )
        }
        None => format!("crontab {args}"),
    }
}

/// Drops the header lines `crontab -l` adds on some systems (only the first
/// three lines are candidates, as in Ansible).
fn strip_crontab_header(text: &str) -> (String, Vec<String>) {
    let mut kept = text.to_string();
    let mut lines = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let header = i <= 2
            && (l.starts_with("# DO NOT EDIT THIS FILE - edit the master and reinstall.")
                || (l.starts_with("# (/tmp/") && l.contains("installed on") && l.ends_with(')'))
                || (l.starts_with("# (") && l.contains("version") && l.ends_with(')')));
        if header {
            for ending in ["\r\n", "\n", "\r", ""] {
                let full = format!("{l}{ending}");
                if let Some(at) = kept.find(&full) {
                    kept.replace_range(at..at + full.len(), "");
                    break;
                }
            }
        } else {
            lines.push(l.to_string());
        }
    }
    (kept, lines)
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    if p.cron_file.as_deref() == Some(SYSTEM_CRONTAB) {
        return Ok(ModuleOutput::failed(
            "Will not manage /etc/crontab via cron_file, see documentation.",
        ));
    }
    let mut warnings = Vec::new();
    if let Some(file) = &p.cron_file {
        let base = file.rsplit('/').next().unwrap_or_default();
        let portable = !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !portable {
            warnings.push(format!(
                "Filename portion of cron_file (\"{base}\") should consist solely of upper- and \
                 lower-case letters, digits, underscores, and hyphens"
            ));
        }
    }
    match &p.cron_file {
        Some(file) => run_on_file(ctx, &p, file, warnings).await,
        None => run_on_crontab(ctx, &p, warnings).await,
    }
}

/// Result fields every outcome has.
fn result(plan: &Plan, mut warnings: Vec<String>) -> Vars {
    warnings.extend(plan.warnings.iter().cloned());
    let mut data = Vars::new();
    data.insert("jobs".into(), json!(job_names(&plan.lines)));
    data.insert("envs".into(), json!(env_names(&plan.lines)));
    if !warnings.is_empty() {
        data.insert("warnings".into(), json!(warnings));
    }
    data
}

async fn run_on_file(
    ctx: &ModuleContext<'_>,
    p: &Params,
    file: &str,
    warnings: Vec<String>,
) -> Result<ModuleOutput, ModuleError> {
    let info = edit::read(ctx, file).await?;
    let before = info.content.clone().unwrap_or_default();
    let existing = decode_exact(&before);
    let lines: Vec<String> = existing.lines().map(String::from).collect();
    let plan = match plan(p, &existing, lines) {
        Ok(plan) => plan,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let mut data = result(&plan, warnings);
    if plan.remove_file {
        let mut out = ModuleOutput {
            changed: info.exists,
            ..ModuleOutput::default()
        };
        if ctx.diff {
            out.diffs.push(FileDiff {
                path: file.to_string(),
                before: Some(existing.clone()),
                after: None,
            });
        }
        if info.exists && !ctx.check_mode {
            let rm = format!("rm -f -- {}", shell_quote(file));
            let done = ctx.transport.exec(&rm, &ctx.exec).await?;
            if done.exit_code != Some(0) {
                return Ok(ModuleOutput::failed(format!(
                    "cannot remove {file}: {}",
                    String::from_utf8_lossy(&done.stderr).trim()
                )));
            }
        }
        data.insert("cron_file".into(), json!(file));
        data.insert("state".into(), json!("absent"));
        out.data = data;
        return Ok(out);
    }
    let after = render(&plan.lines);
    let attrs = Attrs::default();
    let mut out = edit::finish(
        ctx,
        edit::Edit {
            path: file,
            info: &info,
            before: &before,
            after: plan.changed.then(|| encode_exact(&after)),
            msg: String::new(),
            attrs: &attrs,
            backup: p.backup,
            validate: None,
        },
    )
    .await?;
    edit::backup_as_backup_file(&mut out);
    out.data.remove("msg");
    out.msg = None;
    out.data.extend(data);
    Ok(out)
}

async fn run_on_crontab(
    ctx: &ModuleContext<'_>,
    p: &Params,
    warnings: Vec<String>,
) -> Result<ModuleOutput, ModuleError> {
    let user = p.user.as_deref();
    let read = ctx
        .transport
        .exec(
            &format!(
                "command -v crontab >/dev/null || exit 127; {}",
                crontab_command(user, "-l")
            ),
            &ctx.exec,
        )
        .await?;
    match read.exit_code {
        // 1: no crontab yet.
        Some(0) | Some(1) => {}
        Some(127) => {
            return Ok(ModuleOutput::failed(
                "Failed to find required executable \"crontab\" (install cron)",
            ));
        }
        _ => {
            return Ok(ModuleOutput::failed(format!(
                "Unable to read crontab: {}",
                String::from_utf8_lossy(&read.stderr).trim()
            )));
        }
    }
    let stdout = if read.exit_code == Some(0) {
        decode_exact(&read.stdout)
    } else {
        String::new()
    };
    let (existing, lines) = strip_crontab_header(&stdout);
    let plan = match plan(p, &existing, lines) {
        Ok(plan) => plan,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let mut data = result(&plan, warnings);
    let after = render(&plan.lines);
    let mut out = ModuleOutput {
        changed: plan.changed,
        ..ModuleOutput::default()
    };
    if ctx.diff && plan.changed {
        let header = match user {
            Some(user) => format!("crontab for user \"{user}\""),
            None => "crontab".to_string(),
        };
        out.diffs.push(FileDiff {
            path: header,
            before: Some(existing.clone()),
            after: Some(after.clone()),
        });
        data.insert("diff".into(), super::remote_file::diff_value(&out.diffs));
    }
    if p.backup && !ctx.check_mode {
        let save = "f=$(mktemp \"${TMPDIR:-/tmp}/crontabXXXXXXXX\") && cat > \"$f\" && echo \"$f\"";
        let opts = crate::ssh::ExecOptions {
            stdin: Some(encode_exact(&existing)),
            ..ctx.exec.clone()
        };
        let saved = ctx.transport.exec(save, &opts).await?;
        let path = String::from_utf8_lossy(&saved.stdout).trim().to_string();
        if saved.exit_code == Some(0) && !path.is_empty() {
            data.insert("backup_file".into(), json!(path));
        }
    }
    if plan.changed && !ctx.check_mode {
        let opts = crate::ssh::ExecOptions {
            stdin: Some(encode_exact(&after)),
            ..ctx.exec.clone()
        };
        let write = ctx
            .transport
            .exec(&crontab_command(user, "-"), &opts)
            .await?;
        if write.exit_code != Some(0) {
            let mut failed = ModuleOutput::failed("Failed to install new cronfile");
            failed.data.insert(
                "stderr".into(),
                json!(String::from_utf8_lossy(&write.stderr).trim()),
            );
            failed.data.insert("rc".into(), json!(write.exit_code));
            return Ok(failed);
        }
    }
    out.data = data;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str, job: Option<&str>) -> Params {
        Params {
            name: name.into(),
            job: job.map(String::from),
            present: true,
            times: ["*", "*", "*", "*", "*"].map(String::from),
            ..Params::default()
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn a_job_is_added_once_then_left_alone() {
        let p = params("backup", Some("run-backup"));
        let first = plan(&p, "", vec![]).unwrap();
        assert!(first.changed);
        assert_eq!(
            render(&first.lines),
            "#Ansible: backup\n* * * * * run-backup\n"
        );
        let text = render(&first.lines);
        let again = plan(&p, &text, lines(&text)).unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn a_changed_job_replaces_its_line_and_keeps_others() {
        let text = "MAILTO=x\n#Ansible: backup\n* * * * * old\n0 1 * * * someone-else\n";
        let mut p = params("backup", Some("new"));
        p.times[0] = "5".into();
        let plan = plan(&p, text, lines(text)).unwrap();
        assert!(plan.changed);
        assert_eq!(
            render(&plan.lines),
            "MAILTO=x\n#Ansible: backup\n5 * * * * new\n0 1 * * * someone-else\n"
        );
    }

    #[test]
    fn absent_removes_the_job_and_an_empty_cron_file() {
        let text = "#Ansible: x\n* * * * * root ls\n  \n\t\n";
        let mut p = params("x", None);
        p.present = false;
        p.cron_file = Some("/etc/cron.d/x".into());
        let plan = plan(&p, text, lines(text)).unwrap();
        assert!(plan.changed && plan.remove_file);
    }

    #[test]
    fn an_unnamed_identical_job_is_adopted() {
        let text = "* * * * * run\n";
        let p = params("named", Some("run"));
        let plan = plan(&p, text, lines(text)).unwrap();
        assert!(plan.changed);
        assert_eq!(render(&plan.lines), "#Ansible: named\n* * * * * run\n");
    }

    #[test]
    fn variables_go_first_or_next_to_another() {
        let mut p = params("FOO", Some("bar"));
        p.env = true;
        let text = "#Ansible: j\n* * * * * x\n";
        let plan1 = plan(&p, text, lines(text)).unwrap();
        assert_eq!(plan1.lines[0], "FOO=\"bar\"");
        let mut q = params("BAR", Some("1"));
        q.env = true;
        q.insertafter = Some("FOO".into());
        let text = render(&plan1.lines);
        let plan2 = plan(&q, &text, lines(&text)).unwrap();
        assert_eq!(plan2.lines[1], "BAR=\"1\"");
        assert_eq!(env_names(&plan2.lines), ["FOO", "BAR"]);
    }

    #[test]
    fn cron_files_name_the_user_and_need_one() {
        let mut p = params("j", Some("ls"));
        p.cron_file = Some("/etc/cron.d/j".into());
        assert!(plan(&p, "", vec![]).unwrap_err().contains("user="));
        p.user = Some("root".into());
        p.special_time = Some("daily".into());
        let plan = plan(&p, "", vec![]).unwrap();
        assert_eq!(plan.lines[1], "@daily root ls");
    }

    #[test]
    fn the_crontab_header_is_dropped() {
        let text = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/x installed on Mon)\n# (Cron version -- $Id$)\n0 * * * * a\n";
        let (kept, lines) = strip_crontab_header(text);
        assert_eq!(kept, "0 * * * * a\n");
        assert_eq!(lines, ["0 * * * * a"]);
    }
}
