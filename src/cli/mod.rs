//! Command-line front door: clap definitions (one file per subcommand) and
//! the dispatch that maps every outcome to a documented exit code. This is
//! the binary's edge, so errors are `anyhow` here.

mod alerts;
mod audit;
mod backup;
mod collect;
mod completions;
mod connect;
mod context;
mod cron;
mod deploy;
mod history;
mod inventory;
mod inventory_edit;
mod keys;
mod play;
mod releases;
mod report;
mod restore;
mod run;
mod runs;
mod secrets;
mod serve;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use context::{Connection, Context, Fleet};

use crate::exit;

/// Agentless SSH fleet orchestrator: run commands on many hosts, apply
/// Ansible-style playbooks, remember every result.
#[derive(Debug, Parser)]
#[command(name = "herd", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Inventory file, directory or executable script (repeatable).
    /// Overrides HERD_INVENTORY and the project file's `inventory`.
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        value_name = "PATH",
        env = "HERD_INVENTORY",
        value_delimiter = ','
    )]
    pub inventory: Vec<PathBuf>,

    /// More detail in logs: -v for info, -vv for debug, -vvv for trace.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// age identity file for decrypting secrets (default:
    /// $XDG_CONFIG_HOME/herd/identity.txt or ~/.config/herd/identity.txt).
    #[arg(
        long = "identity",
        global = true,
        value_name = "PATH",
        env = "HERD_IDENTITY"
    )]
    pub identity: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the inventory (list, show, graph) or edit it (add, remove, group, set-var).
    #[command(subcommand)]
    Inventory(inventory::InventoryCommand),
    /// Run a command on every host matching PATTERN, in parallel.
    Run(run::RunArgs),
    /// Apply an Ansible playbook.
    Play(play::PlayArgs),
    /// List recent runs from the results store, or show one.
    Runs(runs::RunsArgs),
    /// Roll a new service binary out in batches behind a health gate, or
    /// roll hosts back to their previous release.
    Deploy(deploy::DeployArgs),
    /// Show each host's current, previous and kept releases of a service.
    Releases(releases::ReleasesArgs),
    /// Gather metrics from every host (one round trip each) into the store.
    Collect(collect::CollectArgs),
    /// The fleet at a glance from the latest collection, worst first.
    Status(status::StatusArgs),
    /// A metric over time per host: table and chart, or CSV/JSON export.
    History(history::HistoryArgs),
    /// Evaluate alerts.yml over the collected metrics and notify on changes.
    Alerts(alerts::AlertsArgs),
    /// Write the fleet's status, metric charts, runs and alerts as one HTML page.
    Report(report::ReportArgs),
    /// Serve a read-only live dashboard, a JSON API and Prometheus /metrics
    /// over the results store.
    Serve(serve::ServeArgs),
    /// Schedule `herd collect` / `herd alerts` in the user's crontab.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Manage login keys (push, revoke, rotate) and host keys (scan).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Back up files from hosts into .herd/backups; `backup list` shows them.
    Backup(backup::BackupArgs),
    /// Put a backup's files back on its host (atomically per file).
    Restore(restore::RestoreArgs),
    /// Security checks per host: sshd settings, world-writable files,
    /// pending reboot, listening ports.
    Audit(audit::AuditArgs),
    /// Encrypt, decrypt and edit age secrets; manage who can read them.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

/// Output format for commands that print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON (one object per line where results stream).
    Json,
}

/// The words the user typed for subcommand `name` and after it, from this
/// process's arguments: global options given before it (`herd -i inv play
/// site.yml`) are left out, whatever their form (`-i inv`, `-iinv`,
/// `--inventory=inv`, `-vv`). For recording what was run.
pub fn subcommand_words(name: &str) -> Vec<String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    words_from(&argv, name)
}

fn words_from(argv: &[String], name: &str) -> Vec<String> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let takes_value = |arg: &clap::Arg| arg.get_action().takes_values();
    let mut i = 0;
    while i < argv.len() {
        let word = &argv[i];
        if word == name {
            return argv[i..].to_vec();
        }
        let option = if let Some(long) = word.strip_prefix("--") {
            (!long.contains('='))
                .then(|| cli.get_arguments().find(|a| a.get_long() == Some(long)))
                .flatten()
        } else if let Some(shorts) = word.strip_prefix('-') {
            // Only `-i VALUE` (a lone short option) takes the next word.
            let mut chars = shorts.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => cli.get_arguments().find(|a| a.get_short() == Some(c)),
                _ => None,
            }
        } else {
            None
        };
        i += if option.is_some_and(takes_value) {
            2
        } else {
            1
        };
    }
    vec![name.to_string()]
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let text = render_error(&err);
            eprintln!("herd: error: {}", crate::secrets::redact::redact(&text));
            ExitCode::from(exit_code_for(&err))
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    if let Some(path) = cli.identity {
        crate::secrets::identity::set_path(path);
    }
    let ctx = Context::new(cli.inventory)?;
    match cli.command {
        Command::Inventory(cmd) => inventory::execute(&ctx, cmd),
        Command::Run(args) => run::execute(&ctx, args),
        Command::Keys(cmd) => keys::execute(&ctx, cmd),
        Command::Play(args) => play::execute(&ctx, args),
        Command::Runs(args) => runs::execute(&ctx, args),
        Command::Deploy(args) => deploy::execute(&ctx, args),
        Command::Releases(args) => releases::execute(&ctx, args),
        Command::Secrets(cmd) => secrets::execute(&ctx, cmd),
        Command::Backup(args) => backup::execute(&ctx, args),
        Command::Restore(args) => restore::execute(&ctx, args),
        Command::Audit(args) => audit::execute(&ctx, args),
        Command::Alerts(args) => alerts::execute(&ctx, args),
        Command::Report(args) => report::execute(&ctx, args),
        Command::Serve(args) => serve::execute(&ctx, args),
        Command::Collect(args) => collect::execute(&ctx, args),
        Command::Status(args) => status::execute(&ctx, args),
        Command::History(args) => history::execute(&ctx, args),
        Command::Cron(cmd) => cron::execute(&ctx, cmd),
        Command::Completions(args) => completions::execute(args),
    }
}

/// Logs go to stderr; `-v` raises the level, RUST_LOG/HERD_LOG overrides it.
/// Colour only on a terminal and never when NO_COLOR is set.
fn init_tracing(verbose: u8) {
    use std::io::IsTerminal;
    let level = match verbose {
        0 => "warn",
        1 => "herd=info",
        2 => "herd=debug,info",
        _ => "trace",
    };
    let filter = std::env::var("HERD_LOG")
        .ok()
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::secrets::redact::stderr)
        .with_ansi(color_enabled(std::io::stderr().is_terminal()))
        .with_target(verbose >= 2)
        .without_time()
        .try_init();
}

/// Whether to colour output: only on a terminal, and never with NO_COLOR
/// set to a non-empty value (https://no-color.org).
pub fn color_enabled(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The error and its causes on one line: "what: why: why".
fn render_error(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The exit code a failure means: bad input (2) when any of its causes
/// says so (each error type decides, see [`exit::Code`]); anything else is
/// herd's own failure (1).
fn exit_code_for(err: &anyhow::Error) -> u8 {
    let bad_input = err
        .chain()
        .filter_map(exit::code_of)
        .any(|code| code == exit::BAD_INPUT);
    if bad_input {
        exit::BAD_INPUT
    } else {
        exit::ERROR
    }
}

/// A usage mistake found after clap's parsing (e.g. conflicting options).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

exit::bad_input!(BadInput);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn words(line: &str) -> String {
        let argv: Vec<String> = line.split(' ').map(String::from).collect();
        words_from(&argv, "play").join(" ")
    }

    #[test]
    fn each_error_decides_its_exit_code_through_context() {
        let missing = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let not_found = crate::backup::BackupError::NotFound {
            host: "web1".into(),
            id: "x".into(),
        };
        let bad = anyhow::Error::new(not_found).context("restore");
        assert_eq!(exit_code_for(&bad), exit::BAD_INPUT);
        let io = crate::backup::BackupError::Io {
            path: "/x".into(),
            action: "write",
            source: missing(),
        };
        assert_eq!(exit_code_for(&anyhow::Error::new(io)), exit::ERROR);
        let write = crate::inventory::edit::EditError::Io {
            path: "/x".into(),
            action: "cannot write",
            source: missing(),
        };
        assert_eq!(exit_code_for(&anyhow::Error::new(write)), exit::ERROR);
        let read = crate::inventory::edit::EditError::Read {
            path: "/x".into(),
            source: missing(),
        };
        assert_eq!(exit_code_for(&anyhow::Error::new(read)), exit::BAD_INPUT);
        assert_eq!(exit_code_for(&anyhow::anyhow!("plain")), exit::ERROR);
    }

    #[test]
    fn subcommand_words_leave_out_global_options_before_it() {
        assert_eq!(words("play site.yml --check"), "play site.yml --check");
        assert_eq!(words("-i inv play site.yml"), "play site.yml");
        // The value of -i may itself be the subcommand's name.
        assert_eq!(words("-i play play site.yml"), "play site.yml");
        assert_eq!(words("--inventory play -vv play a.yml"), "play a.yml");
        assert_eq!(
            words("--inventory=x -ix --identity id play a.yml -i y"),
            "play a.yml -i y"
        );
    }
}
