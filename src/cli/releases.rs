//! `herd releases PATTERN --service NAME`: each host's current, previous
//! and kept releases, read from the hosts themselves.

use std::io::Write;

use super::connect::ConnectArgs;
use super::deploy::{PlanTemplate, ReleaseTarget};
use super::{Context, Format};
use crate::engine::fanout::{self, Outcome};
use crate::modules::Transport;
use crate::release::{Health, State, layout};
use crate::ssh::Pool;

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  herd releases web --service api")]
pub struct ReleasesArgs {
    #[command(flatten)]
    pub target: ReleaseTarget,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn execute(ctx: &Context, args: ReleasesArgs) -> anyhow::Result<u8> {
    args.target.check()?;
    let inventory = ctx.inventory()?;
    let hosts = args.connect.select(inventory, &args.target.pattern)?;
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
    let options = args.connect.ssh_options(ctx);
    let become_password = args.connect.become_password()?;
    let fleet =
        args.connect
            .fleet_hosts(inventory, &hosts, &options, become_password.as_deref())?;
    let pool = Pool::new(options);
    let outcomes = fanout::block_on(fanout::for_each_host(
        pool,
        &fleet,
        args.connect.forks(ctx),
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
    let width = hosts.iter().map(String::len).max().unwrap_or(4).max(4);
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
