//! What `user` and `group` read from the host's account databases: entries
//! of `getent passwd|shadow|group` parsed into records, and how a
//! shadow-utils command's run becomes the result. Host output is data:
//! entries are only parsed and compared, never rendered.

use serde_json::json;

use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::ExecOutput;

/// One `passwd` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Passwd {
    pub name: String,
    pub password: String,
    pub uid: i64,
    pub gid: i64,
    pub comment: String,
    pub home: String,
    pub shell: String,
}

impl Passwd {
    pub fn parse(line: &str) -> Option<Passwd> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(Passwd {
            name: f[0].into(),
            password: f[1].into(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            comment: f[4].into(),
            home: f[5].into(),
            shell: f[6].into(),
        })
    }
}

/// One `shadow` entry; empty number fields read as -1, as Python's `spwd`.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub password: String,
    pub min: i64,
    pub max: i64,
    pub warn: i64,
    pub inactive: i64,
    pub expire: i64,
}

impl Shadow {
    pub fn parse(line: &str) -> Option<Shadow> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 8 {
            return None;
        }
        let num = |s: &str| s.trim().parse().unwrap_or(-1);
        Some(Shadow {
            password: f[1].into(),
            min: num(f[3]),
            max: num(f[4]),
            warn: num(f[5]),
            inactive: num(f[6]),
            expire: num(f[7]),
        })
    }
}

/// One `group` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub gid: i64,
    pub members: Vec<String>,
}

impl Group {
    pub fn parse(line: &str) -> Option<Group> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(Group {
            name: f[0].into(),
            gid: f[2].parse().ok()?,
            members: f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
        })
    }
}

/// The group `spec` names among `groups`: a gid first, then a name, as
/// Ansible's `group_info`.
pub fn find_group<'a>(groups: &'a [Group], spec: &str) -> Option<&'a Group> {
    spec.parse::<i64>()
        .ok()
        .and_then(|gid| groups.iter().find(|g| g.gid == gid))
        .or_else(|| groups.iter().find(|g| g.name == spec))
}

/// The lines of `out` tagged `tag ` (the probe scripts tag each line with
/// the database it came from).
pub fn tagged<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    let prefix = format!("{tag} ");
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// The failed result of a shadow-utils command: Ansible's `fail_json(name,
/// msg=stderr, rc)`.
pub fn command_failed(name: &str, out: &ExecOutput) -> ModuleOutput {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let msg = if err.is_empty() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        err
    };
    let mut failed = ModuleOutput::failed(msg);
    failed.data.insert("name".into(), json!(name));
    failed
        .data
        .insert("rc".into(), json!(super::command_run::rc(out)));
    failed
}

/// `stdout`/`stderr` of a command that ran, when not empty (Ansible adds
/// them to the result only then).
pub fn command_output(data: &mut Vars, out: &ExecOutput) {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !stdout.is_empty() {
        data.insert("stdout".into(), json!(stdout));
    }
    if !stderr.is_empty() {
        data.insert("stderr".into(), json!(stderr));
    }
}

/// Runs a shadow-utils command line for account `name`, its output into
/// `data` (see [`command_output`]); `Ok(Err(..))` is the task's failed
/// result (see [`command_failed`]).
pub async fn run_command(
    ctx: &ModuleContext<'_>,
    name: &str,
    line: &str,
    data: &mut Vars,
) -> Result<Result<(), ModuleOutput>, ModuleError> {
    let out = ctx.transport.exec(line, &ctx.exec).await?;
    if !out.success() {
        return Ok(Err(command_failed(name, &out)));
    }
    command_output(data, &out);
    Ok(Ok(()))
}

/// `argv` as one shell command line.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| crate::ssh::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_as_python_reads_them() {
        let p = Passwd::parse("alice:x:1001:1002:Alice A:/home/alice:/bin/bash").unwrap();
        assert_eq!((p.uid, p.gid, p.home.as_str()), (1001, 1002, "/home/alice"));
        let s = Shadow::parse("alice:!$6$x:19000:0:99999:7:::").unwrap();
        assert_eq!(
            (s.min, s.max, s.warn, s.inactive, s.expire),
            (0, 99999, 7, -1, -1)
        );
        let g = Group::parse("adm:x:4:syslog,alice").unwrap();
        assert_eq!(g.members, ["syslog", "alice"]);
        let groups = [g, Group::parse("4000:x:5:").unwrap()];
        assert_eq!(find_group(&groups, "4").unwrap().name, "adm");
        assert_eq!(find_group(&groups, "5").unwrap().name, "4000");
    }
}
