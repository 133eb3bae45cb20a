//! `pam_limits` (community.general.pam_limits): one `domain type item
//! value` line of limits.conf(5). The file is read with its metadata in
//! one round trip; a line for the same domain, type and item gets the new
//! value (or keeps the larger/smaller one with `use_max`/`use_min`), a
//! missing one is appended, and the file is written atomically only when
//! its text changes. Every other line keeps its bytes.

use serde_json::json;

use super::args::Args;
use super::edit::{self, Edit, split_lines_keep, strip_eol};
use super::owner_group_mode::Attrs;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// pam_limits, as a task writes it (`community.general.pam_limits`).
pub const MODULE: Module = Module {
    name: "pam_limits",
    aliases: &["community.general.pam_limits"],
    params: &[
        p("domain"),
        p("limit_type"),
        p("limit_item"),
        p("value"),
        p("use_max"),
        p("use_min"),
        p("backup"),
        p("dest"),
        p("comment"),
    ],
    required: &[&["domain"], &["limit_type"], &["limit_item"], &["value"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const TYPES: &[&str] = &["hard", "soft", "-"];
const ITEMS: &[&str] = &[
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "chroot",
];
const UNLIMITED: &[&str] = &["unlimited", "infinity", "-1"];

#[derive(Debug)]
struct Params {
    domain: String,
    kind: String,
    item: String,
    value: String,
    use_max: bool,
    use_min: bool,
    backup: bool,
    dest: String,
    comment: String,
}

fn parse(vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let kind = args.choice("limit_type", TYPES, None)?;
    let item = args.choice("limit_item", ITEMS, None)?;
    Ok(Params {
        domain: args.required(&["domain"])?,
        kind: kind.ok_or_else(|| args.error("missing required argument: limit_type"))?,
        item: item.ok_or_else(|| args.error("missing required argument: limit_item"))?,
        value: args.required(&["value"])?,
        use_max: args.bool("use_max", false)?,
        use_min: args.bool("use_min", false)?,
        backup: args.bool("backup", false)?,
        dest: args
            .str("dest")?
            .unwrap_or_else(|| "/etc/security/limits.conf".into()),
        comment: args.str("comment")?.unwrap_or_default(),
    })
}

/// Ansible's check of a value for `item`; the message on failure.
fn check_value(item: &str, value: &str, prefix: &str) -> Result<(), String> {
    if item == "nice" || item == "priority" {
        let ok = value
            .trim()
            .parse::<i64>()
            .is_ok_and(|n| (-20..=19).contains(&n));
        if !ok {
            return Err(format!(
                "{prefix} Value of {value:?} for item {item:?} is invalid. Value must be a number in \
                 the range -20 to 19 inclusive. Refer to the limits.conf(5) manual pages for more details."
            ));
        }
    } else if !(UNLIMITED.contains(&value)
        || (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(format!(
            "{prefix} Value of {value:?} for item {item:?} is invalid. Value must either be \
             'unlimited', 'infinity' or -1, all of which indicate no limit, or a limit of 0 or \
             larger. Refer to the limits.conf(5) manual pages for more details."
        ));
    }
    Ok(())
}

/// The value to write over `actual` (with `use_max`/`use_min`, the larger
/// or smaller of the two; unlimited is the largest).
fn new_value(p: &Params, actual: &str) -> String {
    let unlimited_kind = p.item != "nice" && p.item != "priority";
    let actual_unl = unlimited_kind && UNLIMITED.contains(&actual);
    let value_unl = unlimited_kind && UNLIMITED.contains(&p.value.as_str());
    let num = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
    if p.use_max {
        if actual_unl {
            actual.to_string()
        } else if value_unl {
            p.value.clone()
        } else {
            num(&p.value).max(num(actual)).to_string()
        }
    } else if p.use_min {
        if actual_unl {
            p.value.clone()
        } else if value_unl {
            actual.to_string()
        } else {
            num(&p.value).min(num(actual)).to_string()
        }
    } else {
        p.value.clone()
    }
}

/// The edit: new text and Ansible's `msg` (the line as it now stands).
fn apply(text: &str, p: &Params) -> Result<(String, String), String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut found = false;
    let mut message = String::new();
    let line_for = |value: &str, comment: &str| {
        let comment = if comment.is_empty() {
            String::new()
        } else {
            format!("\t#{comment}")
        };
        format!("{}\t{}\t{}\t{value}{comment}\n", p.domain, p.kind, p.item)
    };
    for line in split_lines_keep(text) {
        if line.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let (setting, old_comment) = match line.split_once('#') {
            Some((s, c)) => (s, strip_eol(c)),
            None => (line.as_str(), ""),
        };
        let fields: Vec<&str> = setting.split_whitespace().collect();
        if fields.len() != 4 {
            out.push_str(&line);
            continue;
        }
        let (domain, kind, item, actual) = (fields[0], fields[1], fields[2], fields[3]);
        check_value(
            item,
            actual,
            &format!("Invalid configuration found in '{}'.", p.dest),
        )?;
        if domain != p.domain || kind != p.kind || item != p.item {
            out.push_str(&line);
            continue;
        }
        found = true;
        let value = new_value(p, actual);
        if value == actual {
            message = line.clone();
            out.push_str(&line);
            continue;
        }
        // The line's own comment stays unless a new one is given.
        let comment = if p.comment.is_empty() {
            old_comment
        } else {
            &p.comment
        };
        let new = line_for(&value, comment);
        message = new.clone();
        out.push_str(&new);
    }
    if !found {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let new = line_for(&p.value, &p.comment);
        message = new.clone();
        out.push_str(&new);
    }
    Ok((out, message))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = parse(vars)?;
    if p.use_max && p.use_min {
        return Ok(ModuleOutput::failed(
            "Cannot use use_min and use_max at the same time.",
        ));
    }
    if let Err(msg) = check_value(&p.item, &p.value, "") {
        return Ok(ModuleOutput::failed(msg.trim_start()));
    }
    let info = edit::read(ctx, &p.dest).await?;
    if !info.exists {
        let (dir, _) = super::remote_file::split_path(&p.dest);
        let probe = format!("[ -d {0} ] && [ -w {0} ]", shell_quote(dir));
        if !ctx.transport.exec(&probe, &ctx.exec).await?.success() {
            return Ok(ModuleOutput::failed(format!(
                "directory {dir} is not writable (check presence, access rights, use sudo)"
            )));
        }
    }
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let (after, message) = match apply(&edit::decode_exact(before_bytes), &p) {
        Ok(done) => done,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let after = edit::encode_exact(&after);
    let changed = after != before_bytes || !info.exists;
    let mut out = edit::finish(
        ctx,
        Edit {
            path: &p.dest,
            info: &info,
            before: before_bytes,
            after: changed.then_some(after),
            msg: String::new(),
            attrs: &Attrs::default(),
            backup: p.backup,
            validate: None,
        },
    )
    .await?;
    edit::backup_as_backup_file(&mut out);
    let message = edit::encode_exact(&message);
    let message = String::from_utf8_lossy(&message).into_owned();
    // Ansible's msg is the line, newline included.
    out.data.insert("msg".into(), json!(message));
    out.msg = Some(message);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(domain: &str, kind: &str, item: &str, value: &str) -> Params {
        Params {
            domain: domain.into(),
            kind: kind.into(),
            item: item.into(),
            value: value.into(),
            use_max: false,
            use_min: false,
            backup: false,
            dest: "/etc/security/limits.conf".into(),
            comment: String::new(),
        }
    }

    #[test]
    fn a_missing_limit_is_appended_and_an_existing_one_changed_in_place() {
        let before =
            "# limits\n#joe soft nofile 10\njoe   soft  nofile  1024  # raised\n@web hard nproc 50";
        let p = params("joe", "soft", "nofile", "64000");
        let (after, msg) = apply(before, &p).unwrap();
        assert_eq!(
            after,
            "# limits\n#joe soft nofile 10\njoe\tsoft\tnofile\t64000\t# raised\n@web hard nproc 50"
        );
        assert_eq!(msg, "joe\tsoft\tnofile\t64000\t# raised\n");
        let p = params("*", "-", "memlock", "unlimited");
        let (after, _) = apply(before, &p).unwrap();
        assert_eq!(after, format!("{before}\n*\t-\tmemlock\tunlimited\n"));
        // Unchanged: the same text, the line as message.
        let p = params("@web", "hard", "nproc", "50");
        assert_eq!(
            apply(before, &p).unwrap(),
            (before.to_string(), "@web hard nproc 50".to_string())
        );
    }

    #[test]
    fn use_max_and_use_min_keep_the_larger_or_smaller_value() {
        let before = "joe hard fsize 5000\n";
        let mut p = params("joe", "hard", "fsize", "1000");
        p.use_max = true;
        assert_eq!(apply(before, &p).unwrap().0, before);
        p.value = "unlimited".into();
        assert_eq!(
            apply(before, &p).unwrap().0,
            "joe\thard\tfsize\tunlimited\n"
        );
        let mut p = params("joe", "hard", "fsize", "1000");
        p.use_min = true;
        assert_eq!(apply(before, &p).unwrap().0, "joe\thard\tfsize\t1000\n");
    }

    #[test]
    fn values_are_checked_as_ansible_does() {
        assert!(check_value("nofile", "1024", "").is_ok());
        assert!(check_value("nofile", "unlimited", "").is_ok());
        assert!(check_value("nofile", "lots", "").is_err());
        assert!(check_value("nice", "-5", "").is_ok());
        assert!(check_value("nice", "20", "").is_err());
        let p = params("joe", "soft", "nofile", "1");
        let err = apply("bob soft nofile many\n", &p).unwrap_err();
        assert!(err.starts_with("Invalid configuration found in '/etc/security/limits.conf'."));
    }
}
