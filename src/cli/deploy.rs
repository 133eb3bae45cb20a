//! `herd deploy PATTERN --binary PATH --service NAME`: a rolling release of
//! a service binary, batch by batch, each host behind a health gate, with
//! automatic rollback; `herd deploy --rollback PATTERN` returns hosts to
//! their previous release.
//!
//! The rollout stops when a batch's failures cross `--max-fail-percentage`
//! (default 0: the first failed host stops it); later batches are not
//! touched. Every step of every host goes to the store as the batch ends
//! (`release_steps`), and the run with each host's outcome to `herd runs`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connect::ConnectArgs;
use super::{BadInput, Context, Fleet, Format};
use crate::engine::fanout::{self, FleetHost, Outcome};
use crate::engine::rollout::Rollout;
use crate::engine::{HostResult, HostStatus, RunOutcome};
use crate::inventory::Inventory;
use crate::playbook::Serial;
use crate::release::health::parse_tcp;
use crate::release::{self, Artifact, Health, Layout, Plan, Probe, Report, Status, Step, StepKind};
use crate::remote::Transport;
use crate::ssh::Pool;
use crate::store::{NewRun, RunId, Store};
use crate::template::Templates;

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

/// The per-host settings as typed, before templating.
pub(super) struct PlanTemplate<'a> {
    pub root: Option<&'a str>,
    pub service: Option<&'a str>,
    pub binary: String,
    pub restart: Option<&'a str>,
    /// The gate; a TCP probe comes from `health_tcp` once rendered.
    pub health: Health,
    pub health_tcp: Option<&'a str>,
    pub keep: usize,
}

impl PlanTemplate<'_> {
    /// Each host's plan, its templated options rendered with its inventory
    /// variables. A template error names the host and the option.
    pub(super) fn render(
        &self,
        inventory: &Inventory,
        hosts: &[String],
    ) -> anyhow::Result<HashMap<String, Plan>> {
        let templates = Templates::new();
        let mut plans = HashMap::new();
        for host in hosts {
            let vars = inventory.host_scope(host).unwrap_or_default();
            let render = |option: &str, text: &str| -> anyhow::Result<String> {
                if !text.contains("{{") && !text.contains("{%") {
                    return Ok(text.to_string());
                }
                templates
                    .render_file(option, text, &vars)
                    .map_err(|e| BadInput(format!("{option} for host {host}: {e}")).into())
            };
            let root = match (self.root, self.service) {
                (Some(root), _) => render("--root", root)?,
                (None, Some(service)) => format!("/opt/{service}"),
                (None, None) => unreachable!("checked by the caller"),
            };
            let restart = self.restart.map(|r| render("--restart", r)).transpose()?;
            let mut health = self.health.clone();
            health.probe = match health.probe {
                Some(Probe::Command(c)) => Some(Probe::Command(render("--health-cmd", &c)?)),
                Some(Probe::Http(u)) => Some(Probe::Http(render("--health-http", &u)?)),
                other => other,
            };
            if let Some(tcp) = self.health_tcp {
                let target = render("--health-tcp", tcp)?;
                let probe = parse_tcp(&target)
                    .map_err(|e| BadInput(format!("--health-tcp for host {host}: {e}")))?;
                health.probe = Some(probe);
            }
            health.expect = health
                .expect
                .map(|e| render("--health-expect", &e))
                .transpose()?;
            plans.insert(
                host.clone(),
                Plan {
                    layout: Layout::new(root),
                    binary: self.binary.clone(),
                    service: self.service.map(str::to_string),
                    restart,
                    health,
                    keep: self.keep,
                },
            );
        }
        Ok(plans)
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
    let mut all: Vec<HostResult> = Vec::new();
    let mut stop: Option<String> = None;
    let mut interrupted = false;
    for (index, batch) in batches.iter().enumerate() {
        if args.format == Format::Text && batches.len() > 1 {
            let names: Vec<String> = batch.iter().map(|h| h.name().to_string()).collect();
            writeln!(
                out,
                "batch {}/{}: {}",
                index + 1,
                batches.len(),
                crate::report::hostlist::compress(&names)
            )?;
        }
        let ended = run_batch(&options, batch, forks, &plans, Job::from(&artifact))?;
        let results = record(&mut store, run_id, &ended, artifact.as_ref(), started)?;
        print_batch(&mut out, args.format, &ended, &results)?;
        interrupted = results.iter().any(|r| r.status == HostStatus::Interrupted);
        let failed: Vec<&HostResult> = results
            .iter()
            .filter(|r| r.status != HostStatus::Ok)
            .collect();
        all.extend(results.iter().cloned());
        if interrupted {
            break;
        }
        if let Some(stopped) = rollout.stops(failed.len(), batch.len()) {
            let left: usize = batches[index + 1..].iter().map(Vec::len).sum();
            stop = Some(format!(
                "rollout stopped: {} of {} hosts in batch {} failed ({:.0}%), above --max-fail-percentage {}; {left} host(s) not started",
                stopped.failed,
                stopped.batch,
                index + 1,
                stopped.percent,
                args.max_fail_percentage
            ));
            let deployed: Vec<FleetHost> = batch
                .iter()
                .filter(|h| {
                    ended.iter().any(|(name, e, _)| {
                        name == h.name()
                            && matches!(e, HostEnd::Report(r, _, _) if r.status == Status::Deployed)
                    })
                })
                .cloned()
                .collect();
            if args.rollback_batch && artifact.is_some() && !deployed.is_empty() {
                writeln!(out, "rolling back the batch's healthy hosts")?;
                let ended = run_batch(&options, &deployed, forks, &plans, Job::Rollback)?;
                let results = record(&mut store, run_id, &ended, None, started)?;
                print_batch(&mut out, args.format, &ended, &results)?;
                // A host's last result is the one that counts (as in the store).
                all.retain(|r| !results.iter().any(|n| n.host == r.host));
                all.extend(results);
            }
            break;
        }
    }

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

/// What each host of a batch does.
#[derive(Clone)]
enum Job {
    Deploy(Artifact),
    Rollback,
}

impl From<&Option<Artifact>> for Job {
    fn from(artifact: &Option<Artifact>) -> Job {
        match artifact {
            Some(a) => Job::Deploy(a.clone()),
            None => Job::Rollback,
        }
    }
}

/// How a host's job ended, with its steps.
enum HostEnd {
    /// The host's report, how long it took, and whether a failure came
    /// from the connection dying (the host is then unreachable).
    Report(Report, Duration, bool),
    Unreachable(String),
    /// Interrupted (status interrupted) or panicked (status failed, an
    /// internal error): only the steps say where it got to.
    Cut(HostStatus, String),
}

/// Runs the job on every host of the batch; steps are collected as they
/// happen, so an interrupted host still has its steps.
fn run_batch(
    options: &crate::ssh::SshOptions,
    batch: &[FleetHost],
    forks: usize,
    plans: &HashMap<String, Plan>,
    job: Job,
) -> anyhow::Result<Vec<(String, HostEnd, Vec<Step>)>> {
    let steps: Arc<Mutex<HashMap<String, Vec<Step>>>> = Arc::default();
    let pool = Pool::new(options.clone());
    let outcomes = fanout::block_on(fanout::for_each_host(pool, batch, forks, |pool, host| {
        let plan = plans[host.name()].clone();
        let (job, steps) = (job.clone(), steps.clone());
        async move {
            let started = Instant::now();
            let name = host.name().to_string();
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(err) => return HostEnd::Unreachable(err.to_string()),
            };
            let transport = Transport::Ssh(conn);
            let log = move |step: Step| {
                let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
                steps.entry(name.clone()).or_default().push(step);
            };
            let report = match &job {
                Job::Deploy(artifact) => {
                    release::deploy(&transport, &host.exec, &plan, artifact, &log).await
                }
                Job::Rollback => release::rollback(&transport, &host.exec, &plan, &log).await,
            };
            // A failure because the connection died: the host is
            // unreachable, as in run and play.
            let ok = matches!(report.status, Status::Deployed | Status::Unchanged);
            let lost = !ok && transport.is_lost().await;
            HostEnd::Report(report, started.elapsed(), lost)
        }
    }))?;
    let mut steps = steps.lock().unwrap_or_else(|e| e.into_inner());
    Ok(outcomes
        .into_iter()
        .map(|(host, outcome)| {
            let end = match outcome {
                Outcome::Done(end) => end,
                Outcome::Interrupted => HostEnd::Cut(HostStatus::Interrupted, "interrupted".into()),
                Outcome::Panicked(why) => HostEnd::Cut(HostStatus::Failed, why),
            };
            let host_steps = steps.remove(&host).unwrap_or_default();
            (host, end, host_steps)
        })
        .collect())
}

/// Writes the batch's steps and host results to the store; returns the results.
fn record(
    store: &mut Store,
    run: RunId,
    ended: &[(String, HostEnd, Vec<Step>)],
    artifact: Option<&Artifact>,
    started: Instant,
) -> anyhow::Result<Vec<HostResult>> {
    let mut steps = Vec::new();
    let mut results = Vec::new();
    for (host, end, host_steps) in ended {
        steps.extend(host_steps.iter().map(|s| (host.clone(), s.clone())));
        let result = |status, stdout: String, error: Option<String>, duration| HostResult {
            stdout,
            ..HostResult::without_output(host.clone(), status, error, duration)
        };
        results.push(match end {
            HostEnd::Report(report, took, lost) => {
                let ok = matches!(report.status, Status::Deployed | Status::Unchanged)
                    || (report.status == Status::RolledBack && artifact.is_none());
                let line = format!("{}: {}", status_word(report.status), report.message);
                if ok {
                    result(HostStatus::Ok, line, None, *took)
                } else if *lost {
                    result(HostStatus::Unreachable, String::new(), Some(line), *took)
                } else {
                    result(HostStatus::Failed, String::new(), Some(line), *took)
                }
            }
            HostEnd::Unreachable(why) => result(
                HostStatus::Unreachable,
                String::new(),
                Some(format!("{why} (nothing changed on the host)")),
                started.elapsed(),
            ),
            HostEnd::Cut(status, why) => {
                let where_ = where_it_stopped(host_steps, artifact);
                steps.push((
                    host.clone(),
                    Step {
                        kind: StepKind::Failed,
                        release: String::new(),
                        detail: Some(format!("{why}: {where_}")),
                        started_at: jiff::Timestamp::now().as_millisecond(),
                        duration: Duration::ZERO,
                    },
                ));
                result(
                    *status,
                    String::new(),
                    Some(format!("{why}: {where_}")),
                    started.elapsed(),
                )
            }
        });
    }
    store.record_release_steps(run, &steps)?;
    store.record_results(run, &results)?;
    Ok(results)
}

/// Which release a host cut off mid-way is on, from its last switch.
fn where_it_stopped(steps: &[Step], artifact: Option<&Artifact>) -> String {
    let last_switch = steps
        .iter()
        .rev()
        .find(|s| matches!(s.kind, StepKind::Activated | StepKind::RolledBack));
    let after = steps.last().map_or("before any step".to_string(), |s| {
        format!("after {}", s.kind.as_str())
    });
    match (last_switch, artifact) {
        (Some(s), _) => format!("{after}: on release {} (current was switched)", s.release),
        (None, Some(a)) => format!("{after}: still on its old release ({} not activated)", a.id),
        (None, None) => format!("{after}: on the release it had"),
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Deployed => "deployed",
        Status::Unchanged => "unchanged",
        Status::RolledBack => "rolled back",
        Status::Failed => "failed",
    }
}

fn print_batch(
    out: &mut impl Write,
    format: Format,
    ended: &[(String, HostEnd, Vec<Step>)],
    results: &[HostResult],
) -> anyhow::Result<()> {
    // Host text is escaped on a terminal (see report::escape).
    let terminal = std::io::stdout().is_terminal();
    for ((host, end, steps), result) in ended.iter().zip(results) {
        let report = match end {
            HostEnd::Report(r, _, _) => Some(r),
            _ => None,
        };
        match format {
            Format::Json => {
                let line = serde_json::json!({
                    "host": host,
                    "status": result.status,
                    "release": report.map(|r| r.status),
                    "before": report.and_then(|r| r.before.clone()),
                    "now": report.and_then(|r| r.now.clone()),
                    "uploaded": report.and_then(|r| r.uploaded),
                    "message": result.error.clone().unwrap_or_else(|| result.stdout.clone()),
                    "steps": steps,
                });
                writeln!(out, "{line}")?;
            }
            Format::Text => {
                let text = result.error.as_deref().unwrap_or(&result.stdout);
                let trail: Vec<String> = steps
                    .iter()
                    .map(|s| {
                        let took = release::host::secs(s.duration);
                        match (&s.detail, s.kind) {
                            (Some(d), StepKind::Uploaded | StepKind::Pruned) => {
                                format!("{} {took} ({d})", s.kind.as_str())
                            }
                            _ => format!("{} {took}", s.kind.as_str()),
                        }
                    })
                    .collect();
                let text = crate::report::escape::for_terminal(text, terminal);
                writeln!(out, "  {host}: {text}")?;
                if !trail.is_empty() {
                    writeln!(out, "    steps: {}", trail.join(", "))?;
                }
            }
        }
    }
    Ok(())
}
