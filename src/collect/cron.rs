//! herd's entries in the user's crontab. Each is one line ending in a tag
//! comment (`# herd-cron:ID`) so herd finds its own lines again and never
//! touches anyone else's: every other line is kept byte for byte.
//!
//! An entry runs herd from the project directory under `flock -n`, so a
//! run still going when the next one is due makes the next one skip
//! instead of piling up, and appends its output to a log in the state
//! directory (umask 077: outputs can hold secrets).
//!
//! The crontab is handled as bytes, never decoded and re-encoded: a
//! Latin-1 byte in someone else's job stays as it was.
//!
//! The crontab is read with `crontab -l` and replaced with `crontab -`;
//! with `HERD_CRONTAB_FILE` set, that file is edited instead (tests, or a
//! system cron.d file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ssh::shell_quote;

/// Marks a line as herd's; the entry's ID follows.
pub const TAG: &str = "# herd-cron:";

/// Environment variable naming a file to use instead of the user's crontab.
pub const CRONTAB_FILE_ENV: &str = "HERD_CRONTAB_FILE";

#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("cannot run `crontab {args}`: {source} (install cron, or set {CRONTAB_FILE_ENV})")]
    Spawn {
        args: &'static str,
        source: std::io::Error,
    },
    #[error("`crontab {args}` failed: {stderr}")]
    Crontab { args: &'static str, stderr: String },
    #[error("{}: {action}: {source}", path.display())]
    File {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

/// One herd line of the crontab.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub id: u32,
    /// The five time fields (or `@hourly` and the like).
    pub schedule: String,
    /// The herd command line it runs (`collect all --keep 90d`).
    pub command: String,
}

/// Where herd's entry runs and writes.
#[derive(Debug, Clone)]
pub struct EntryPlan<'a> {
    pub schedule: &'a str,
    /// Directory to run in (the project root).
    pub workdir: &'a Path,
    pub herd: &'a Path,
    /// herd's arguments, e.g. ["collect", "all"].
    pub args: &'a [String],
    pub lock: &'a Path,
    pub log: &'a Path,
}

/// The crontab line for `plan` tagged with `id`. `%` is special to cron
/// (it starts stdin), so it is escaped everywhere.
pub fn entry_line(plan: &EntryPlan, id: u32) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    let args: Vec<String> = plan.args.iter().map(|a| shell_quote(a)).collect();
    let command = format!(
        "cd {} && umask 077 && flock -n {} {} {} >>{} 2>&1",
        q(plan.workdir),
        q(plan.lock),
        q(plan.herd),
        args.join(" "),
        q(plan.log),
    );
    format!(
        "{} {} {TAG}{id}\n",
        plan.schedule,
        command.replace('%', "\\%")
    )
}

/// herd's entries in `crontab`, in file order.
pub fn entries(crontab: &[u8]) -> Vec<Entry> {
    lines(crontab)
        .filter_map(|line| parse_entry(&String::from_utf8_lossy(trim_eol(line))))
        .collect()
}

/// The lines of `crontab`, each with its `\n` (the last may lack one).
fn lines(crontab: &[u8]) -> impl Iterator<Item = &[u8]> {
    crontab.split_inclusive(|&b| b == b'\n')
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn parse_entry(line: &str) -> Option<Entry> {
    let (body, id) = line.rsplit_once(TAG)?;
    let id = id.trim().parse().ok()?;
    let body = body.trim_end();
    let fields = if body.starts_with('@') { 1 } else { 5 };
    let mut words = body.splitn(fields + 1, ' ');
    let schedule: Vec<&str> = words.by_ref().take(fields).collect();
    let rest = words.next().unwrap_or("");
    // The herd command line: the words after flock's lock file and herd's
    // path, before the log redirect. A hand-edited line shows whole.
    let rest = rest.replace("\\%", "%");
    let command = rest
        .rsplit_once(" >>")
        .and_then(|(c, _)| c.split_once("flock -n "))
        .and_then(|(_, after)| shlex::split(after))
        .filter(|words| words.len() >= 2)
        .and_then(|words| shlex::try_join(words[2..].iter().map(String::as_str)).ok())
        .unwrap_or(rest);
    Some(Entry {
        id,
        schedule: schedule.join(" "),
        command,
    })
}

/// `crontab` with an entry for `plan` appended; returns the new text and
/// the entry's ID (one more than the highest in use).
pub fn add(crontab: &[u8], plan: &EntryPlan) -> (Vec<u8>, u32) {
    let id = entries(crontab).iter().map(|e| e.id).max().unwrap_or(0) + 1;
    let mut text = crontab.to_vec();
    if !text.is_empty() && !text.ends_with(b"\n") {
        // cron ignores a last line without a newline; ours must not join it.
        text.push(b'\n');
    }
    text.extend_from_slice(entry_line(plan, id).as_bytes());
    (text, id)
}

/// `crontab` without herd's entries whose ID is in `ids` (all of herd's
/// with `None`); returns the new text and the IDs removed.
pub fn remove(crontab: &[u8], ids: Option<&[u32]>) -> (Vec<u8>, Vec<u32>) {
    let mut kept = Vec::with_capacity(crontab.len());
    let mut removed = Vec::new();
    for line in lines(crontab) {
        match parse_entry(&String::from_utf8_lossy(trim_eol(line))) {
            Some(entry) if ids.is_none_or(|ids| ids.contains(&entry.id)) => removed.push(entry.id),
            _ => kept.extend_from_slice(line),
        }
    }
    (kept, removed)
}

/// A cron schedule for "every `secs` seconds", when cron can say it.
pub fn every(secs: i64) -> Result<String, String> {
    const MIN: i64 = 60;
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;
    let unsupported = || {
        format!(
            "--every: cron cannot run every {}; use minutes dividing 60 (1m, 5m, 15m...), hours dividing 24 (1h, 6h...) or 1d, or give --schedule 'CRON EXPR'",
            crate::collect::when::format_age(secs)
        )
    };
    match secs {
        s if s % MIN != 0 || s < MIN => Err(unsupported()),
        MIN => Ok("* * * * *".into()),
        s if s < HOUR && HOUR % s == 0 => Ok(format!("*/{} * * * *", s / MIN)),
        HOUR => Ok("0 * * * *".into()),
        s if s < DAY && s % HOUR == 0 && DAY % s == 0 => Ok(format!("0 */{} * * *", s / HOUR)),
        DAY => Ok("0 0 * * *".into()),
        _ => Err(unsupported()),
    }
}

/// Checks a cron expression's shape: five fields of digits, `*`, `/`,
/// `,`, `-` and names, or one of the `@` words.
pub fn check_schedule(expr: &str) -> Result<(), String> {
    const WORDS: &[&str] = &[
        "@reboot",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let ok = match fields[..] {
        [word] => WORDS.contains(&word),
        [_, _, _, _, _] => fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || "*/,-".contains(c))
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--schedule '{expr}': expected five cron fields (minute hour day month weekday, e.g. '*/5 * * * *') or @hourly/@daily/..."
        ))
    }
}

/// The user's crontab (or the file that stands in for it).
#[derive(Debug, Clone)]
pub enum Crontab {
    User,
    File(PathBuf),
}

impl Crontab {
    /// `HERD_CRONTAB_FILE` if set, else the user's crontab.
    pub fn from_env() -> Crontab {
        match std::env::var_os(CRONTAB_FILE_ENV) {
            Some(path) if !path.is_empty() => Crontab::File(PathBuf::from(path)),
            _ => Crontab::User,
        }
    }

    /// The current bytes; empty when there is none yet.
    pub fn read(&self) -> Result<Vec<u8>, CronError> {
        match self {
            Crontab::File(path) => match std::fs::read(path) {
                Ok(text) => Ok(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(source) => Err(CronError::File {
                    path: path.clone(),
                    action: "cannot read",
                    source,
                }),
            },
            Crontab::User => {
                let out = Command::new("crontab")
                    .arg("-l")
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|source| CronError::Spawn { args: "-l", source })?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                if out.status.success() {
                    Ok(out.stdout)
                } else if stderr.contains("no crontab") {
                    Ok(Vec::new())
                } else {
                    Err(CronError::Crontab {
                        args: "-l",
                        stderr: stderr.trim().to_string(),
                    })
                }
            }
        }
    }

    /// Replaces the whole crontab with `text` (atomically for a file).
    pub fn write(&self, text: &[u8]) -> Result<(), CronError> {
        match self {
            Crontab::File(path) => {
                let err = |action, source| CronError::File {
                    path: path.clone(),
                    action,
                    source,
                };
                let mut temp = path.clone().into_os_string();
                temp.push(".herd-tmp");
                let temp = PathBuf::from(temp);
                std::fs::write(&temp, text).map_err(|e| err("cannot write", e))?;
                if let Ok(meta) = std::fs::metadata(path) {
                    std::fs::set_permissions(&temp, meta.permissions())
                        .map_err(|e| err("cannot keep the file's mode", e))?;
                }
                std::fs::rename(&temp, path).map_err(|e| err("cannot replace", e))
            }
            Crontab::User => {
                let mut child = Command::new("crontab")
                    .arg("-")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|source| CronError::Spawn { args: "-", source })?;
                let written = child.stdin.take().expect("piped stdin").write_all(text);
                let out = child
                    .wait_with_output()
                    .map_err(|source| CronError::Spawn { args: "-", source })?;
                if out.status.success() && written.is_ok() {
                    Ok(())
                } else {
                    Err(CronError::Crontab {
                        args: "-",
                        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(args: &'a [String]) -> EntryPlan<'a> {
        EntryPlan {
            schedule: "*/5 * * * *",
            workdir: Path::new("/srv/my project"),
            herd: Path::new("/usr/local/bin/herd"),
            args,
            lock: Path::new("/srv/my project/.herd/cron-collect.lock"),
            log: Path::new("/srv/my project/.herd/cron-collect.log"),
        }
    }

    #[test]
    fn add_and_remove_keep_other_lines_byte_for_byte() {
        let original: &[u8] =
            b"# m h dom mon dow command\r\nMAILTO=admin\n0 3 * * * /usr/bin/r\xe9sum\xe9 # nightly\n";
        let args = vec![
            "collect".to_string(),
            "all".into(),
            "--keep".into(),
            "90%d".into(),
        ];
        let (one, id1) = add(original, &plan(&args));
        let (two, id2) = add(&one, &plan(&args[..2]));
        assert_eq!((id1, id2), (1, 2));
        assert!(two.starts_with(original));
        let list = entries(&two);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].schedule, "*/5 * * * *");
        assert_eq!(list[0].command, "collect all --keep '90%d'");
        let shown = String::from_utf8_lossy(&two);
        assert!(shown.contains("90\\%d"), "{shown}");
        assert!(
            shown.contains(
                "flock -n '/srv/my project/.herd/cron-collect.lock' /usr/local/bin/herd collect all"
            ),
            "{shown}"
        );

        let (after, removed) = remove(&two, Some(&[1]));
        assert_eq!(removed, [1]);
        assert_eq!(entries(&after)[0].id, 2);
        let (bare, removed) = remove(&after, None);
        assert_eq!(removed, [2]);
        assert_eq!(bare, original);
        // A missing last newline is added before our line, nothing else.
        let (text, _) = add(b"0 1 * * * x", &plan(&args));
        assert!(text.starts_with(b"0 1 * * * x\n*/5"));
    }

    #[test]
    fn every_becomes_a_cron_schedule() {
        assert_eq!(every(60).unwrap(), "* * * * *");
        assert_eq!(every(300).unwrap(), "*/5 * * * *");
        assert_eq!(every(3600).unwrap(), "0 * * * *");
        assert_eq!(every(6 * 3600).unwrap(), "0 */6 * * *");
        assert_eq!(every(86_400).unwrap(), "0 0 * * *");
        assert!(every(7 * 60).unwrap_err().contains("--schedule"));
        assert!(every(30).is_err());
        assert!(check_schedule("*/5 * * * *").is_ok());
        assert!(check_schedule("@hourly").is_ok());
        assert!(check_schedule("* * *").is_err());
        assert!(check_schedule("* * * * * ; rm").is_err());
    }
}
