//! `herd deploy PATTERN --binary PATH --service NAME`: a rolling release of
//! a service binary, batch by batch, each host behind a health gate, with
//! automatic rollback; `herd deploy --rollback PATTERN` returns hosts to
//! their previous release.
//!
//! The rollout stops when a batch's failures cross `--max-fail-percentage`
//! (default 0: the first failed host stops it); later batches are not
//! touched. Every step of every host goes to the store as the batch ends
//! (`release_steps`), and the run with each host's outcome to `herd runs`.
//! The rollout itself is in src/deploy/ (rollout.rs, plan.rs); this file is
//! its arguments, checks and printing.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::connect::ConnectArgs;
use super::{BadInput, Context, Fleet, Format};
use crate::deploy::{self, PlanTemplate, Shown};
use crate::engine::rollout::Rollout;
use crate::engine::{HostStatus, RunOutcome};
use crate::playbook::Serial;
use crate::release::{self, Artifact, Health, Probe};
use crate::report::deploy::print_batch;
use crate::store::NewRun;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Options that are per host (--root, --restart, --health-*) may use the \
host's inventory variables: --root '{{ app_root }}' --health-tcp '{{ ansible_host }}:8080'.\n\n\
Examples:\n  herd deploy web --binary target/release/api --service api --serial 25% --canary \\\n      \
--health-http http://localhost:8080/version --health-expect 1.4.2\n  \
herd deploy --rollback web --service api"
)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: ReleaseTarget,

    /// The build to release (a local file).
    #[arg(long, value_name = "PATH", required_unless_present = "rollback")]
    pub binary: Option<PathBuf>,

    /// Release id [default: the first 12 hex digits of the binary's sha256].
    #[arg(long = "release-version", value_name = "ID")]
    pub release_version: Option<String>,

    /// Restart command, run in the root (wins over systemd; needed on hosts
    /// without it). It sees HERD_RELEASE, HERD_RELEASE_DIR and HERD_ROOT.
    #[arg(long, value_name = "CMD")]
    pub restart: Option<String>,

    /// Hosts per batch: a count or a percentage; a comma list sets the
    /// sizes of successive batches (the last repeats) [default: all at once].
    #[arg(long, value_name = "N|N%")]
    pub serial: Option<String>,

    /// Release to one host first, then the batches.
    #[arg(long)]
    pub canary: bool,

    /// Stop the rollout when more than this percentage of a batch fails.
    #[arg(
        long = "max-fail-percentage",
        value_name = "PERCENT",
        default_value_t = 0.0
    )]
    pub max_fail_percentage: f64,

    /// When the rollout stops, also return the batch's healthy hosts to
    /// their previous release.
    #[arg(long = "rollback-batch")]
    pub rollback_batch: bool,

    /// Releases kept on each host (current and previous are never removed).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub keep: usize,

    /// Health gate: this shell command, run in the root, exits 0.
    #[arg(long = "health-cmd", value_name = "CMD", group = "probe")]
    pub health_cmd: Option<String>,

    /// Health gate: [HOST:]PORT accepts a TCP connection (from the host;
    /// HOST defaults to 127.0.0.1). Its first line is the output.
    #[arg(long = "health-tcp", value_name = "[HOST:]PORT", group = "probe")]
    pub health_tcp: Option<String>,

    /// Health gate: GET URL from the host succeeds (curl or wget there).
    #[arg(long = "health-http", value_name = "URL", group = "probe")]
    pub health_http: Option<String>,

    /// Health gate: the probe's output contains STR (alone: the output of
    /// `BINARY --version`).
    #[arg(
        long = "health-expect",
        visible_alias = "health-version",
        value_name = "STR"
    )]
    pub health_expect: Option<String>,

    /// Health attempts before the host counts as unhealthy.
    #[arg(long = "health-retries", value_name = "N", default_value_t = 5)]
    pub health_retries: u32,

    /// Seconds between health attempts.
    #[arg(long = "health-delay", value_name = "SECS", default_value_t = 1.0)]
    pub health_delay: f64,

    /// Seconds each health attempt may take.
    #[arg(long = "health-timeout", value_name = "SECS", default_value_t = 5)]
    pub health_timeout: u64,

    /// Return the hosts to their previous release instead of deploying.
    #[arg(long, conflicts_with_all = ["binary", "release_version", "serial", "canary"])]
    pub rollback: bool,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Which hosts, and where their releases live (shared with `herd releases`).
#[derive(Debug, clap::Args)]
pub struct ReleaseTarget {
    /// Host pattern (as for `herd run`).
    #[arg(value_name = "PATTERN")]
    pub pattern: String,

    /// The service: systemd unit restarted on hosts with systemd, and the
    /// default root /opt/NAME.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// Release root on the host; may use the host's inventory variables
    /// [default: /opt/SERVICE].
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,
}

impl ReleaseTarget {
    /// A root is known (given, or from the service name) and the service
    /// name is a plain unit name.
    pub fn check(&self) -> anyhow::Result<()> {
        match &self.service {
            None if self.root.is_none() => Err(BadInput(
                "--service NAME or --root DIR is needed: it says where the releases live (default root /opt/SERVICE)"
                    .into(),
            )
            .into()),
            Some(service) if !release::artifact::is_plain_name(service) => Err(BadInput(format!(
                "--service {service:?}: expected a plain unit name (letters, digits, '.', '_', '+', '-')"
            ))
            .into()),
            _ => Ok(()),
        }
    }
}

pub fn execute(ctx: &Context, args: DeployArgs) -> anyhow::Result<u8> {
    // Everything about the input is checked before any host is touched.
    let artifact = match &args.binary {
        Some(path) if !args.rollback => {
            Some(Artifact::load(path, args.release_version.as_deref())?)
        }
        _ => None,
    };
    args.target.check()?;
    if !(0.0..=100.0).contains(&args.max_fail_percentage) {
        return Err(BadInput("--max-fail-percentage must be between 0 and 100".into()).into());
    }
    let serial = parse_serial(args.serial.as_deref())?;
    let health = health_gate(&args)?;

    let mut store = ctx.store()?;
    let inventory = ctx.inventory()?;
    let hosts = args.connect.select(inventory, &args.target.pattern)?;
    let binary = match &artifact {
        Some(a) => a.name.clone(),
        None => args.target.service.clone().unwrap_or_else(|| "app".into()),
    };
    let plans = PlanTemplate {
        root: args.target.root.as_deref(),
        service: args.target.service.as_deref(),
        binary,
        restart: args.restart.as_deref(),
        health,
        health_tcp: args.health_tcp.as_deref(),
        keep: args.keep.max(1),
    }
    .render(inventory, &hosts)?;
    let Fleet {
        hosts: fleet,
        options,
        forks,
        ..
    } = ctx.fleet_of(&args.connect, inventory, hosts.clone())?;

    let rollout = Rollout {
        serial,
        canary: args.canary,
        max_fail_percentage: Some(args.max_fail_percentage),
    };
    let batches = rollout.batches(&fleet);
    let command = match &artifact {
        Some(a) => format!("deploy {} ({} sha256 {})", a.id, a.name, &a.sha256[..12]),
        None => "deploy --rollback".to_string(),
    };
    let run_id = store.begin_run(&NewRun {
        kind: "deploy",
        command: &command,
        pattern: &args.target.pattern,
        host_count: hosts.len(),
    })?;

    let started = Instant::now();
    let mut out = crate::secrets::redact::stdout();
    let json = args.format == Format::Json;
    // Host text is escaped on a terminal (see report::escape).
    let terminal = std::io::stdout().is_terminal();
    let spec = deploy::Spec {
        options: &options,
        forks,
        plans: &plans,
        artifact: artifact.as_ref(),
        rollout: &rollout,
        rollback_batch: args.rollback_batch,
    };
    let mut show = |shown: Shown<'_>| match shown {
        Shown::Batch {
            index,
            count,
            hosts,
        } if !json => {
            let names: Vec<String> = hosts.iter().map(|h| h.name().to_string()).collect();
            let names = crate::report::hostlist::compress(&names);
            writeln!(out, "batch {}/{count}: {names}", index + 1)
        }
        Shown::Ended(ended, results) => print_batch(&mut out, json, terminal, ended, results),
        Shown::RollingBack => writeln!(out, "rolling back the batch's healthy hosts"),
        Shown::Batch { .. } => Ok(()),
    };
    let rolled = deploy::roll_out(&spec, &batches, &mut store, run_id, started, &mut show)?;
    let (all, stop, interrupted) = (rolled.results, rolled.stopped, rolled.interrupted);

    let outcome = if interrupted {
        RunOutcome::Interrupted
    } else {
        RunOutcome::from_results(&all)
    };
    store.finish_run(run_id, outcome)?;
    if args.format == Format::Text {
        if let Some(stop) = &stop {
            writeln!(out, "{stop}")?;
        }
        let count = |s: HostStatus| all.iter().filter(|r| r.status == s).count();
        writeln!(
            out,
            "{} hosts: {} ok, {} failed, {} unreachable, {} interrupted in {:.1}s (run {run_id}: `herd runs show {run_id}`)",
            hosts.len(),
            count(HostStatus::Ok),
            count(HostStatus::Failed),
            count(HostStatus::Unreachable),
            count(HostStatus::Interrupted),
            started.elapsed().as_secs_f64()
        )?;
    }
    Ok(outcome.exit_code())
}

fn parse_serial(text: Option<&str>) -> anyhow::Result<Vec<Serial>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|part| {
            Serial::parse(part).ok_or_else(|| {
                BadInput(format!(
                    "--serial {text:?}: expected a host count like 2 or a percentage like 25% (comma-separated for several batches)"
                ))
                .into()
            })
        })
        .collect()
}

fn health_gate(args: &DeployArgs) -> anyhow::Result<Health> {
    let probe = if let Some(cmd) = &args.health_cmd {
        Some(Probe::Command(cmd.clone()))
    } else {
        args.health_http.clone().map(Probe::Http)
    };
    if !(args.health_delay >= 0.0 && args.health_delay.is_finite()) {
        return Err(
            BadInput("--health-delay must be a number of seconds, 0 or more".into()).into(),
        );
    }
    Ok(Health {
        probe,
        expect: args.health_expect.clone(),
        retries: args.health_retries.max(1),
        delay: Duration::from_secs_f64(args.health_delay),
        timeout: Duration::from_secs(args.health_timeout.max(1)),
    })
}
