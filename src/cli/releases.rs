//! `herd releases PATTERN --service NAME`: each host's current, previous
//! and kept releases, read from the hosts themselves.

use std::io::Write;

use super::connect::ConnectArgs;
use super::deploy::ReleaseTarget;
use super::{BadInput, Context, Format};
use crate::deploy::PlanTemplate;
use crate::engine::fanout::{self, Outcome};
use crate::release::{Health, State, layout};
use crate::remote::Transport;
use crate::store::RunId;

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  herd releases web --service api")]
pub struct ReleasesArgs {
    #[command(flatten)]
    pub target: ReleaseTarget,

    /// Show the steps a deploy run recorded for these hosts (from the
    /// store; no host is contacted): `--steps` for the last deploy, or
    /// `--steps=ID`.
    #[arg(long, value_name = "RUN", num_args = 0..=1, require_equals = true,
          default_missing_value = "last")]
    pub steps: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn execute(ctx: &Context, args: ReleasesArgs) -> anyhow::Result<u8> {
    let inventory = ctx.inventory()?;
    let hosts = args.connect.select(inventory, &args.target.pattern)?;
    if let Some(run) = &args.steps {
        return show_steps(ctx, run, &hosts, args.format);
    }
    args.target.check()?;
    let plans = PlanTemplate {
        root: args.target.root.as_deref(),
        service: args.target.service.as_deref(),
        binary: String::new(),
        restart: None,
        health: Health::default(),
        health_tcp: None,
        keep: 1,
    }
    .render(inventory, &hosts)?;
    let fleet = ctx.fleet_of(&args.connect, inventory, hosts)?;
    let outcomes = fanout::block_on(fanout::for_each_host(
        fleet.pool(),
        &fleet.hosts,
        fleet.forks,
        |pool, host| {
            let layout = plans[host.name()].layout.clone();
            async move {
                let conn = pool
                    .connect(&host.target)
                    .await
                    .map_err(|e| e.to_string())?;
                layout::read_state(&Transport::Ssh(conn), &host.exec, &layout, None)
                    .await
                    .map_err(|e| e.to_string())
            }
        },
    ))?;

    let mut out = crate::secrets::redact::stdout();
    let mut failed = false;
    let width = fleet
        .names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    if args.format == Format::Text {
        writeln!(
            out,
            "{:width$}  {:14}  {:14}  KEPT (newest first)",
            "HOST", "CURRENT", "PREVIOUS"
        )?;
    }
    for (host, outcome) in outcomes {
        let state: Result<State, String> = match outcome {
            Outcome::Done(r) => r,
            Outcome::Interrupted => Err("interrupted".into()),
            Outcome::Panicked(why) => Err(why),
        };
        failed |= state.is_err();
        match (args.format, state) {
            (Format::Json, Ok(s)) => writeln!(
                out,
                "{}",
                serde_json::json!({"host": host, "current": s.current, "previous": s.previous, "releases": s.releases})
            )?,
            (Format::Json, Err(e)) => {
                writeln!(out, "{}", serde_json::json!({"host": host, "error": e}))?
            }
            (Format::Text, Ok(s)) => writeln!(
                out,
                "{host:width$}  {:14}  {:14}  {}",
                s.current.as_deref().unwrap_or("-"),
                s.previous.as_deref().unwrap_or("-"),
                if s.releases.is_empty() {
                    "-".to_string()
                } else {
                    s.releases.join(" ")
                }
            )?,
            (Format::Text, Err(e)) => writeln!(out, "{host:width$}  error: {e}")?,
        }
    }
    Ok(if failed {
        crate::exit::FAILED
    } else {
        crate::exit::OK
    })
}

/// The recorded steps of deploy run `run` (an id or `last`) on `hosts`.
fn show_steps(ctx: &Context, run: &str, hosts: &[String], format: Format) -> anyhow::Result<u8> {
    let store = ctx.store()?;
    let id = match run {
        "last" => store
            .last_run_id(Some("deploy"))?
            .ok_or_else(|| BadInput("--steps: no deploy recorded in this project yet".into()))?,
        id => RunId(
            id.parse()
                .map_err(|_| BadInput(format!("--steps={id}: expected a run number or `last`")))?,
        ),
    };
    let detail = store
        .run(id)?
        .filter(|d| d.summary.kind == "deploy")
        .ok_or_else(|| {
            BadInput(format!(
                "--steps={run}: run {id} is not a deploy (see `herd runs`)"
            ))
        })?;
    let mut out = crate::secrets::redact::stdout();
    let steps = store.release_steps(id)?;
    let steps: Vec<_> = steps.iter().filter(|s| hosts.contains(&s.host)).collect();
    if format == Format::Json {
        for step in steps {
            writeln!(out, "{}", serde_json::to_string(step)?)?;
        }
        return Ok(crate::exit::OK);
    }
    writeln!(
        out,
        "run {id}: {} ({})",
        detail.summary.command,
        detail.summary.outcome.as_str()
    )?;
    if steps.is_empty() {
        writeln!(out, "no steps recorded for these hosts in run {id}")?;
    }
    let width = hosts.iter().map(String::len).max().unwrap_or(4);
    for step in steps {
        let started = jiff::Timestamp::from_millisecond(step.started_at)
            .map(|t| t.strftime("%H:%M:%S").to_string())
            .unwrap_or_default();
        let line = format!(
            "{started}  {:width$}  {:14} {:10} {:>6.1}s  {}",
            step.host,
            step.step,
            step.release,
            step.duration_ms as f64 / 1000.0,
            step.detail.as_deref().unwrap_or("")
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(crate::exit::OK)
}
