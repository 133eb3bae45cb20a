//! `group`: a local group present (with a gid) or absent, through
//! shadow-utils' groupadd/groupmod/groupdel, as Ansible's Linux group
//! module does. One round trip reads the group (`getent group`); in check
//! mode nothing else runs.

use serde_json::json;

use super::accounts::{self, Group};
use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// group, as a task writes it.
pub const MODULE: Module = Module {
    name: "group",
    params: &[
        p("name"),
        p("state"),
        p("gid"),
        p("force"),
        p("system"),
        p("local"),
        p("non_unique"),
        p("gid_min"),
        p("gid_max"),
    ],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let name = args.required(&["name"])?;
    let present = args
        .choice("state", &["present", "absent"], Some("present"))?
        .as_deref()
        == Some("present");
    let gid = args.int("gid")?;
    let force = args.bool("force", false)?;
    let system = args.bool("system", false)?;
    let local = args.bool("local", false)?;
    let non_unique = args.bool("non_unique", false)?;
    let gid_min = args.int("gid_min")?;
    let gid_max = args.int("gid_max")?;
    if non_unique && gid.is_none() {
        return Ok(ModuleOutput::failed(
            "non_unique is True but all of the following are missing: gid",
        ));
    }
    for (param, value) in [("gid_min", gid_min), ("gid_max", gid_max)] {
        if local && value.is_some() {
            return Ok(ModuleOutput::failed(format!(
                "'{param}' can not be used with 'local'"
            )));
        }
    }
    if local {
        // libuser's lgroupadd & co. work on the local files only; herd
        // does not drive them (yet).
        return Ok(ModuleOutput::failed(
            "local: true needs libuser (lgroupadd), which herd does not support; \
             use the group module without local",
        ));
    }

    let before = lookup(ctx, &name).await?;
    let mut data = Vars::new();
    data.insert("name".into(), json!(name));
    data.insert(
        "state".into(),
        json!(if present { "present" } else { "absent" }),
    );
    let argv: Option<Vec<String>> = match (&before, present) {
        (None, false) => None,
        (Some(_), false) => {
            let mut argv = vec!["groupdel".to_string()];
            if force {
                argv.push("-f".into());
            }
            argv.push(name.clone());
            Some(argv)
        }
        (None, true) => {
            let mut argv = vec!["groupadd".to_string()];
            if let Some(gid) = gid {
                argv.extend(["-g".into(), gid.to_string()]);
                if non_unique {
                    argv.push("-o".into());
                }
            }
            if system {
                argv.push("-r".into());
            }
            if let Some(min) = gid_min {
                argv.extend(["-K".into(), format!("GID_MIN={min}")]);
            }
            if let Some(max) = gid_max {
                argv.extend(["-K".into(), format!("GID_MAX={max}")]);
            }
            argv.push(name.clone());
            Some(argv)
        }
        (Some(group), true) => match gid {
            Some(gid) if gid != group.gid => {
                let mut argv = vec!["groupmod".to_string(), "-g".into(), gid.to_string()];
                if non_unique {
                    argv.push("-o".into());
                }
                argv.push(name.clone());
                Some(argv)
            }
            _ => None,
        },
    };
    let changed = argv.is_some();
    if let Some(argv) = argv {
        if ctx.check_mode {
            if !present || before.is_none() {
                // As Ansible: a check-mode add or delete returns `changed` only.
                return Ok(ModuleOutput {
                    changed: true,
                    ..ModuleOutput::default()
                });
            }
        } else {
            let line = accounts::command_line(&argv);
            if let Err(failed) = accounts::run_command(ctx, &name, &line, &mut data).await? {
                return Ok(failed);
            }
        }
    }
    if present {
        data.insert("system".into(), json!(system));
        let after = if ctx.check_mode || !changed {
            before
        } else {
            lookup(ctx, &name).await?
        };
        if let Some(group) = after {
            data.insert("gid".into(), json!(group.gid));
        }
    }
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}

/// The group `name`, if the host has it (by name: a numeric name is not
/// read as a gid).
async fn lookup(ctx: &ModuleContext<'_>, name: &str) -> Result<Option<Group>, ModuleError> {
    let out = ctx
        .transport
        .exec(
            &format!("getent group -- {}; true", shell_quote(name)),
            &ctx.exec,
        )
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(Group::parse)
        .find(|g| g.name == name))
}
