//! `herd cron add|list|remove`: schedules `herd collect` and `herd alerts`
//! in the user's crontab (see [`crate::collect::cron`] for what a line
//! looks like and why).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{BadInput, Context, Format};
use crate::collect::cron::{self, Crontab, EntryPlan};
use crate::collect::when;

#[derive(Debug, clap::Subcommand)]
pub enum CronCommand {
    /// Schedule `herd collect` or `herd alerts` (every 5 minutes unless told).
    #[command(
        after_help = "Examples:\n  herd cron add collect --every 5m -- all --keep 90d\n  herd cron add alerts --schedule '*/10 8-18 * * 1-5'"
    )]
    Add(AddArgs),
    /// List herd's crontab entries.
    List(ListArgs),
    /// Remove an entry by its ID, or `all` of herd's entries.
    Remove(RemoveArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Job {
    Collect,
    Alerts,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Collect => "collect",
            Job::Alerts => "alerts",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// What to run.
    #[arg(value_enum)]
    pub job: Job,

    /// How often: 1m, 5m, 15m, 1h, 6h, 1d...
    #[arg(long, value_name = "DURATION", conflicts_with = "schedule")]
    pub every: Option<String>,

    /// A cron expression: minute hour day month weekday.
    #[arg(long, value_name = "CRON EXPR")]
    pub schedule: Option<String>,

    /// Arguments for the job (pattern, --keep, ...).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Output format: a table, or one JSON object per entry per line.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The entry's ID from `herd cron list`, or `all`.
    #[arg(value_name = "ID|all")]
    pub id: String,
}

pub fn execute(ctx: &Context, command: CronCommand) -> anyhow::Result<u8> {
    let crontab = Crontab::from_env();
    let text = crontab.read()?;
    let mut out = crate::secrets::redact::stdout();
    match command {
        CronCommand::Add(add) => {
            let schedule = match (&add.every, &add.schedule) {
                (_, Some(expr)) => {
                    cron::check_schedule(expr).map_err(BadInput)?;
                    expr.split_whitespace().collect::<Vec<_>>().join(" ")
                }
                (every, None) => {
                    let secs = when::parse_duration(every.as_deref().unwrap_or("5m"))
                        .map_err(|e| BadInput(format!("--every: {e}")))?;
                    cron::every(secs).map_err(BadInput)?
                }
            };
            let state_dir = ctx.project.ensure_state_dir()?.to_path_buf();
            let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
            let workdir = match &ctx.project.root {
                Some(root) => std::path::absolute(root)?,
                None => std::env::current_dir()?,
            };
            let herd = std::env::current_exe().context("cannot find herd's own path")?;
            let mut args = vec![add.job.name().to_string()];
            // -i given now must hold when cron runs, from another directory.
            for source in ctx.cli_inventory() {
                args.push("-i".into());
                args.push(std::path::absolute(source)?.to_string_lossy().into_owned());
            }
            args.extend(add.args.iter().cloned());
            let lock = state_dir.join(format!("cron-{}.lock", add.job.name()));
            let log = state_dir.join(format!("cron-{}.log", add.job.name()));
            let plan = EntryPlan {
                schedule: &schedule,
                workdir: &workdir,
                herd: &herd,
                args: &args,
                lock: &lock,
                log: &log,
            };
            let (text, id) = cron::add(&text, &plan);
            crontab.write(&text)?;
            writeln!(
                out,
                "added cron entry {id}: {schedule} herd {}\n  runs in {}, output to {}",
                args.join(" "),
                workdir.display(),
                log.display()
            )?;
            if !on_cron_path("flock") {
                writeln!(
                    out,
                    "warning: `flock` (util-linux) is not in /usr/bin or /bin: the entry will fail until it is installed"
                )?;
            }
        }
        CronCommand::List(list) => {
            let entries = cron::entries(&text);
            match list.format {
                Format::Json => {
                    for e in &entries {
                        crate::report::json::write_line(&mut out, e)?;
                    }
                }
                Format::Text if entries.is_empty() => writeln!(
                    out,
                    "no herd entries in the crontab (add one with `herd cron add collect`)"
                )?,
                Format::Text => {
                    let mut rows =
                        vec![vec!["ID".to_string(), "SCHEDULE".into(), "COMMAND".into()]];
                    rows.extend(entries.iter().map(|e| {
                        vec![
                            e.id.to_string(),
                            e.schedule.clone(),
                            format!("herd {}", e.command),
                        ]
                    }));
                    crate::report::table::write(&mut out, &rows, &[0])?;
                }
            }
        }
        CronCommand::Remove(remove) => {
            let ids = match remove.id.as_str() {
                "all" => None,
                id => Some(vec![id.parse::<u32>().map_err(|_| {
                    BadInput(format!(
                        "`{id}` is not an entry ID: give a number from `herd cron list`, or `all`"
                    ))
                })?]),
            };
            let (text, removed) = cron::remove(&text, ids.as_deref());
            if removed.is_empty() && ids.is_some() {
                return Err(BadInput(format!(
                    "no herd cron entry {} (see `herd cron list`)",
                    remove.id
                ))
                .into());
            }
            if !removed.is_empty() {
                crontab.write(&text)?;
            }
            let ids: Vec<String> = removed.iter().map(u32::to_string).collect();
            match ids.len() {
                0 => writeln!(out, "no herd entries in the crontab")?,
                1 => writeln!(out, "removed cron entry {}", ids[0])?,
                _ => writeln!(out, "removed cron entries {}", ids.join(", "))?,
            }
        }
    }
    Ok(crate::exit::OK)
}

/// Whether `program` is where cron's default PATH (/usr/bin:/bin) finds it.
fn on_cron_path(program: &str) -> bool {
    ["/usr/bin", "/bin"]
        .iter()
        .any(|dir| PathBuf::from(dir).join(program).exists())
}
