//! `systemd` and `service`: a unit's running state, enablement and mask,
//! through `systemctl`. One round trip asks for everything (`systemctl
//! show`); a second makes the changes, unless in check mode.

use serde_json::{Value, json};

use super::args::Args;
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// systemd (also `systemd_service`), as a task writes it.
pub const SYSTEMD: Module = Module {
    name: "systemd",
    aliases: &["systemd_service"],
    params: &[
        alias("name", &["unit", "service"]),
        p("state"),
        p("enabled"),
        alias("daemon_reload", &["daemon-reload"]),
        alias("daemon_reexec", &["daemon-reexec"]),
        p("masked"),
        p("scope"),
        p("no_block"),
        p("force"),
    ],
    run: async_run!(run, "systemd"),
    ..Module::DEFAULT
};

/// service, as a task writes it: systemd underneath. As Ansible's service
/// action does for a systemd host, it passes `daemon_reload` and
/// `daemon_reexec` on to systemd and drops the SysV-only `sleep`,
/// `pattern`, `runlevel` and `arguments`.
pub const SERVICE: Module = Module {
    name: "service",
    params: &[
        p("name"),
        p("state"),
        p("enabled"),
        p("use"),
        alias("daemon_reload", &["daemon-reload"]),
        alias("daemon_reexec", &["daemon-reexec"]),
        p("sleep"),
        p("pattern"),
        p("runlevel"),
        alias("arguments", &["args"]),
    ],
    run: async_run!(run, "service"),
    ..Module::DEFAULT
};

const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];
const NO_SYSTEMCTL: &str = "herd-no-systemctl";

#[derive(Debug)]
struct Params {
    name: Option<String>,
    state: Option<String>,
    enabled: Option<bool>,
    masked: Option<bool>,
    daemon_reload: bool,
    daemon_reexec: bool,
    no_block: bool,
    /// `--user` / `--global` / nothing.
    scope_flag: &'static str,
}

fn parse(module: &'static str, vars: &Vars) -> Result<Params, ModuleError> {
    let args = Args::new(
        if module == "service" {
            &SERVICE
        } else {
            &SYSTEMD
        },
        vars,
    )?;
    // Aliases (systemd's `unit`, `service`) are resolved by the declaration.
    let name = args.str("name")?;
    let state = args.choice("state", STATES, None)?;
    let enabled = args.opt_bool("enabled")?;
    let masked = if module == "service" {
        None
    } else {
        args.opt_bool("masked")?
    };
    let daemon_reload = args.bool("daemon_reload", false)?;
    let daemon_reexec = args.bool("daemon_reexec", false)?;
    let (scope, no_block) = if module == "service" {
        args.str("use")?;
        (Some("system".to_string()), false)
    } else {
        args.bool("force", false)?;
        (
            args.choice("scope", &["system", "user", "global"], Some("system"))?,
            args.bool("no_block", false)?,
        )
    };
    let scope_flag = match scope.as_deref() {
        Some("user") => "--user ",
        Some("global") => "--global ",
        _ => "",
    };
    if name.is_none() && (state.is_some() || enabled.is_some() || masked.is_some()) {
        return Err(
            args.error("missing parameter(s) required by 'state', 'enabled' or 'masked': name")
        );
    }
    if name.is_none() && !daemon_reload && !daemon_reexec {
        return Err(
            args.error("one of the following is required: name, daemon_reload, daemon_reexec")
        );
    }
    Ok(Params {
        name,
        state,
        enabled,
        masked,
        daemon_reload,
        daemon_reexec,
        no_block,
        scope_flag,
    })
}

pub async fn run(
    ctx: &ModuleContext<'_>,
    module: &'static str,
    vars: &Vars,
) -> Result<ModuleOutput, ModuleError> {
    let p = parse(module, vars)?;
    let sc = format!("systemctl {}", p.scope_flag);
    let mut query =
        format!("command -v systemctl >/dev/null 2>&1 || {{ echo {NO_SYSTEMCTL}; exit 0; }}; ");
    if p.daemon_reload && !ctx.check_mode {
        query.push_str(&format!("{sc}daemon-reload || exit $?; "));
    }
    if p.daemon_reexec && !ctx.check_mode {
        query.push_str(&format!("{sc}daemon-reexec || exit $?; "));
    }
    if let Some(name) = &p.name {
        query.push_str(&format!(
            "{sc}show -p Id -p LoadState -p ActiveState -p SubState -p UnitFileState -- {}",
            shell_quote(name)
        ));
    }
    let out = ctx.transport.exec(&query, &ctx.exec).await?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if stdout.trim() == NO_SYSTEMCTL {
        return Ok(ModuleOutput::failed(format!(
            "{module}: systemctl not found on {}; this module manages systemd units only",
            ctx.host
        )));
    }
    if !out.success() {
        return Ok(ModuleOutput::failed(format!(
            "systemctl failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut data = Vars::new();
    let Some(name) = &p.name else {
        return Ok(ModuleOutput {
            changed: p.daemon_reload || p.daemon_reexec,
            data,
            ..ModuleOutput::default()
        });
    };
    let status: Vars = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let get = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (active, unit_file, load) = (get("ActiveState"), get("UnitFileState"), get("LoadState"));
    if load == "not-found" && (p.state.is_some() || p.enabled == Some(true)) {
        return Ok(ModuleOutput::failed(format!(
            "Could not find the requested service {name}: host"
        )));
    }
    let q = shell_quote(name);
    let nb = if p.no_block { "--no-block " } else { "" };
    let mut commands = Vec::new();
    match p.masked {
        Some(true) if unit_file != "masked" => commands.push(format!("{sc}mask -- {q}")),
        Some(false) if unit_file == "masked" => commands.push(format!("{sc}unmask -- {q}")),
        _ => {}
    }
    match p.enabled {
        Some(true)
            if !matches!(
                unit_file.as_str(),
                "enabled" | "enabled-runtime" | "static" | "alias"
            ) =>
        {
            commands.push(format!("{sc}enable -- {q}"))
        }
        Some(false) if matches!(unit_file.as_str(), "enabled" | "enabled-runtime") => {
            commands.push(format!("{sc}disable -- {q}"))
        }
        _ => {}
    }
    let running = matches!(active.as_str(), "active" | "activating" | "reloading");
    match p.state.as_deref() {
        Some("started") if !running => commands.push(format!("{sc}{nb}start -- {q}")),
        Some("stopped") if running => commands.push(format!("{sc}{nb}stop -- {q}")),
        Some("restarted") => commands.push(format!("{sc}{nb}restart -- {q}")),
        Some("reloaded") if running => commands.push(format!("{sc}{nb}reload -- {q}")),
        Some("reloaded") => commands.push(format!("{sc}{nb}start -- {q}")),
        _ => {}
    }
    let changed = !commands.is_empty();
    if changed && !ctx.check_mode {
        let out = ctx
            .transport
            .exec(&commands.join(" && "), &ctx.exec)
            .await?;
        if !out.success() {
            let mut fail = ModuleOutput::failed(format!(
                "Unable to change the state of {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            fail.data.insert("name".into(), json!(name));
            return Ok(fail);
        }
    }
    data.insert("name".into(), json!(name));
    if let Some(state) = &p.state {
        data.insert("state".into(), json!(state));
    }
    if let Some(e) = p.enabled {
        data.insert("enabled".into(), json!(e));
    }
    data.insert("status".into(), Value::Object(status));
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::args::vars;

    #[test]
    fn arguments() {
        assert!(parse("systemd", &vars(json!({"name": "x", "state": "running"}))).is_err());
        assert!(parse("systemd", &vars(json!({"state": "started"}))).is_err());
        assert!(parse("service", &vars(json!({"name": "x", "masked": true}))).is_err());
        let p = parse(
            "systemd",
            &vars(json!({"name": "x", "scope": "user", "enabled": "yes"})),
        )
        .unwrap();
        assert_eq!((p.scope_flag, p.enabled), ("--user ", Some(true)));
        assert!(parse("systemd", &vars(json!({"daemon_reload": true}))).is_ok());
        assert!(
            parse("systemd", &vars(json!({"daemon-reload": true})))
                .unwrap()
                .daemon_reload
        );
        // service passes daemon_reload on and drops sleep, as Ansible's
        // service action does on a systemd host.
        let p = parse(
            "service",
            &vars(json!({"name": "x", "state": "restarted", "sleep": 3, "daemon_reload": true})),
        )
        .unwrap();
        assert!(p.daemon_reload);
        assert!(parse("service", &vars(json!({"daemon_reload": "yes"}))).is_ok());
    }
}
