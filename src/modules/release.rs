//! `release`: ship a service binary to the host as a versioned release,
//! switch `current`, restart, health-gate, and roll back on failure — the
//! same steps as `herd deploy`, for playbooks (whose `serial` and
//! `max_fail_percentage` then make the rollout rolling).
//!
//! ```yaml
//! - release:
//!     src: build/api            # local file (files/ search path)
//!     service: api              # root /opt/api unless `root:` is given
//!     version: "1.4.2"          # default: sha256 prefix
//!     restart: systemctl restart api   # default: systemd when present
//!     health_http: http://localhost:8080/version
//!     health_expect: "1.4.2"
//!     keep: 5
//! - release: { service: api, state: rolled_back }   # back to the previous release
//! ```

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::args::Args;
use super::spec::{Module, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars, find_source};
use crate::release::{self, Artifact, Health, Layout, Plan, Probe, Report, Status, Step};

/// Parameters, also listed in `playbook::keywords` for load-time checks.
/// release, as a task writes it.
pub const MODULE: Module = Module {
    name: "release",
    params: &[
        p("src"),
        p("service"),
        p("version"),
        p("root"),
        p("restart"),
        p("keep"),
        p("state"),
        p("health_cmd"),
        p("health_tcp"),
        p("health_http"),
        p("health_expect"),
        p("health_retries"),
        p("health_delay"),
        p("health_timeout"),
    ],
    run: async_run!(run),
    ..Module::DEFAULT
};

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let service = args.str("service")?;
    let root = match (args.str("root")?, &service) {
        (Some(root), _) => root,
        (None, Some(service)) => format!("/opt/{service}"),
        (None, None) => return Err(args.error("one of service or root is required")),
    };
    let state = args
        .choice("state", &["present", "rolled_back"], Some("present"))?
        .unwrap_or_default();
    let artifact = match (state.as_str(), args.str("src")?) {
        ("present", Some(src)) => {
            let path = find_source(&ctx.search.files, &src)
                .ok_or_else(|| args.error(format!("could not find src={src}")))?;
            Some(
                Artifact::load(&path, args.str_any(&["version"])?.as_deref())
                    .map_err(|e| args.error(e.to_string()))?,
            )
        }
        ("present", None) => return Err(args.error("missing required argument: src")),
        _ => None,
    };
    let plan = Plan {
        layout: Layout::new(root),
        binary: artifact
            .as_ref()
            .map(|a| a.name.clone())
            .or(service.clone())
            .unwrap_or_else(|| "app".into()),
        service,
        restart: args.str("restart")?,
        health: health(&args)?,
        keep: args.int("keep")?.unwrap_or(5).max(1) as usize,
    };
    if ctx.check_mode {
        return check(ctx, &plan, artifact.as_ref()).await;
    }
    let steps = Mutex::new(Vec::new());
    let log = |step: Step| steps.lock().unwrap_or_else(|e| e.into_inner()).push(step);
    let report = match &artifact {
        Some(a) => release::deploy(ctx.transport, &ctx.exec, &plan, a, &log).await,
        None => release::rollback(ctx.transport, &ctx.exec, &plan, &log).await,
    };
    let steps = steps.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(output(&report, &steps, artifact.is_some()))
}

fn health(args: &Args<'_>) -> Result<Health, ModuleError> {
    let mut probes = Vec::new();
    if let Some(cmd) = args.str("health_cmd")? {
        probes.push(Probe::Command(cmd));
    }
    if let Some(tcp) = args.str_any(&["health_tcp"])? {
        probes.push(release::health::parse_tcp(&tcp).map_err(|e| args.error(e))?);
    }
    if let Some(url) = args.str("health_http")? {
        probes.push(Probe::Http(url));
    }
    if probes.len() > 1 {
        return Err(
            args.error("parameters are mutually exclusive: health_cmd|health_tcp|health_http")
        );
    }
    let defaults = Health::default();
    Ok(Health {
        probe: probes.pop(),
        expect: args.str_any(&["health_expect"])?,
        retries: args
            .int("health_retries")?
            .map_or(defaults.retries, |n| n.max(1) as u32),
        delay: args
            .float("health_delay")?
            .map_or(defaults.delay, |s| Duration::from_secs_f64(s.max(0.0))),
        timeout: args
            .int("health_timeout")?
            .map_or(defaults.timeout, |s| Duration::from_secs(s.max(1) as u64)),
    })
}

/// Check mode: would `current` change?
async fn check(
    ctx: &ModuleContext<'_>,
    plan: &Plan,
    artifact: Option<&Artifact>,
) -> Result<ModuleOutput, ModuleError> {
    let state = release::layout::read_state(ctx.transport, &ctx.exec, &plan.layout, None)
        .await
        .map_err(|e| ModuleError::Transport(e.to_string()))?;
    let (changed, release) = match artifact {
        Some(a) => (
            state.current.as_deref() != Some(a.id.as_str()),
            Some(a.id.clone()),
        ),
        None => (state.previous.is_some(), state.previous.clone()),
    };
    let mut data = Vars::new();
    data.insert("release".into(), json!(release));
    data.insert("before".into(), json!(state.current));
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}

fn output(report: &Report, steps: &[Step], deploying: bool) -> ModuleOutput {
    // A deploy that had to roll back failed, though the host is healthy.
    let failed =
        report.status == Status::Failed || (deploying && report.status == Status::RolledBack);
    let mut data = Vars::new();
    data.insert("release".into(), json!(report.now));
    data.insert("before".into(), json!(report.before));
    data.insert("status".into(), json!(report.status));
    data.insert("uploaded".into(), json!(report.uploaded));
    data.insert("steps".into(), json!(steps));
    data.insert("msg".into(), Value::String(report.message.clone()));
    ModuleOutput {
        changed: report.before != report.now,
        failed,
        msg: Some(report.message.clone()),
        data,
        ..ModuleOutput::default()
    }
}
