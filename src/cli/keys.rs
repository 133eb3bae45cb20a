//! `herd keys push|revoke|rotate|scan`: the login keys in the hosts'
//! authorized_keys, and the hosts' own keys in known_hosts. Rotation (never
//! locking the admin out) is `crate::keys::rotate`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::connect::ConnectArgs;
use super::inventory_edit::{FileArg, editable};
use super::{BadInput, Context};
use crate::engine::fanout::{FleetHost, Outcome, block_on, for_each_host};
use crate::exit;
use crate::keys::Report;
use crate::keys::authorized::{self, AuthorizedKey, FILE_VAR};
use crate::keys::rotate::{Rotated, Rotation};
use crate::ssh::known_hosts::{self, HostKeyStatus, Learned, algorithm_name};
use crate::ssh::{Pool, SshOptions};

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Add a public key to the hosts' authorized_keys (idempotent).
    Push(KeyArgs),
    /// Remove a public key from the hosts' authorized_keys.
    Revoke(RevokeArgs),
    /// Replace the key herd logs in with by a new one, without lockout.
    Rotate(RotateArgs),
    /// Collect the hosts' host keys and compare them with known_hosts.
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  herd keys push web --key ~/.ssh/ana.pub")]
pub struct KeyArgs {
    /// Host pattern.
    pub pattern: String,
    /// The public key file (KEY.pub).
    #[arg(long = "key", value_name = "KEY.pub")]
    pub key: PathBuf,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Also remove the key herd itself logged in with (you need another
    /// way in afterwards).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  herd keys rotate db   # new key in .herd/keys/, inventory switched to it"
)]
pub struct RotateArgs {
    /// Host pattern.
    pub pattern: String,
    /// Type of the new key.
    #[arg(long = "type", value_name = "TYPE", default_value = "ed25519")]
    pub key_type: String,
    #[command(flatten)]
    pub file: FileArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Host pattern.
    pub pattern: String,
    /// Record the keys of hosts not yet in known_hosts (changed keys are
    /// never overwritten).
    #[arg(long)]
    pub update: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn execute(ctx: &Context, cmd: KeysCommand) -> anyhow::Result<u8> {
    match cmd {
        KeysCommand::Push(args) => push(ctx, args),
        KeysCommand::Revoke(args) => revoke(ctx, args),
        KeysCommand::Rotate(args) => rotate(ctx, args),
        KeysCommand::Scan(args) => scan(ctx, args),
    }
}

/// The selected hosts, ready to reach.
struct Selection {
    hosts: Vec<FleetHost>,
    /// Per host, the shell word for its authorized_keys file.
    files: Arc<HashMap<String, String>>,
    options: SshOptions,
    forks: usize,
}

fn select(ctx: &Context, pattern: &str, connect: &ConnectArgs) -> anyhow::Result<Selection> {
    if connect.become_ || connect.become_user.is_some() || connect.ask_become_pass {
        return Err(BadInput(
            "herd keys edits the login user's own authorized_keys; -b/--become-user/-K do not apply".into(),
        )
        .into());
    }
    let inventory = ctx.inventory()?;
    let fleet = ctx.fleet(connect, pattern)?;
    let files = fleet
        .names
        .iter()
        .map(|name| {
            let vars = inventory.host_vars(name).unwrap_or_default();
            let var = vars.get(FILE_VAR).and_then(|v| v.as_str());
            (name.clone(), authorized::file_word(var))
        })
        .collect();
    Ok(Selection {
        hosts: fleet.hosts,
        files: Arc::new(files),
        options: fleet.options,
        forks: fleet.forks,
    })
}

/// Prints one line per host and a summary; returns the exit code.
fn finish(results: Vec<(String, Outcome<Report>)>) -> u8 {
    let width = results.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
    let mut code = exit::OK;
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for (host, outcome) in results {
        let report = match outcome {
            Outcome::Done(report) => report,
            Outcome::Interrupted => Report {
                tag: "interrupted",
                message: String::new(),
                code: exit::INTERRUPTED,
            },
            Outcome::Panicked(why) => Report {
                tag: "failed",
                message: why,
                code: exit::ERROR,
            },
        };
        println!("{host:width$}  {}  {}", report.tag, report.message);
        code = code.max(report.code);
        match counts.iter_mut().find(|(t, _)| *t == report.tag) {
            Some((_, n)) => *n += 1,
            None => counts.push((report.tag, 1)),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!("{}", summary.join(", "));
    code
}

fn push(ctx: &Context, args: KeyArgs) -> anyhow::Result<u8> {
    edit_authorized(ctx, &args, None)
}

fn revoke(ctx: &Context, args: RevokeArgs) -> anyhow::Result<u8> {
    edit_authorized(ctx, &args.key, Some(args.force))
}

/// Adds `args.key` to every host's authorized_keys, or with `revoke`
/// (`Some(force)`) removes it.
fn edit_authorized(ctx: &Context, args: &KeyArgs, revoke: Option<bool>) -> anyhow::Result<u8> {
    let key = Arc::new(AuthorizedKey::read(&args.key)?);
    let sel = select(ctx, &args.pattern, &args.connect)?;
    let pool = Pool::new(sel.options.clone());
    let files = sel.files.clone();
    let results = block_on(for_each_host(pool, &sel.hosts, sel.forks, |pool, host| {
        let (key, file) = (key.clone(), files[host.name()].clone());
        async move {
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(e) => return Report::unreachable(e.to_string()),
            };
            let result = match revoke {
                None => authorized::add(&conn, &file, &key).await,
                Some(false) if conn.login_key().key_data() == key.key.key_data() => {
                    return Report::failed(format!(
                        "refused: herd is logged in with this key ({}); removing it would lock herd out. Rotate instead (herd keys rotate), or use --force if you have another way in",
                        key.fingerprint()
                    ));
                }
                Some(_) => authorized::remove(&conn, &file, &key).await,
            };
            match result {
                Ok(change) => Report::ok(change.tag(), key.fingerprint()),
                Err(e) => Report::failed(e.to_string()),
            }
        }
    }))?;
    Ok(finish(results))
}

fn scan(ctx: &Context, args: ScanArgs) -> anyhow::Result<u8> {
    let sel = select(ctx, &args.pattern, &args.connect)?;
    let pool = Pool::new(sel.options.clone());
    let update = args.update;
    let results = block_on(for_each_host(
        pool,
        &sel.hosts,
        sel.forks,
        |pool, host| async move {
            let key = match pool.host_key(&host.target).await {
                Ok(key) => key,
                Err(e) => return Report::unreachable(e.to_string()),
            };
            let t = &host.target;
            let shown = format!(
                "{} {}",
                algorithm_name(&key),
                key.fingerprint(russh::keys::HashAlg::Sha256)
            );
            let status = match known_hosts::check(&t.known_hosts, &t.host, t.port, &key) {
                Ok(status) => status,
                Err(e) => return Report::failed(format!("cannot read known_hosts: {e}")),
            };
            match status {
                HostKeyStatus::Known => Report::ok("unchanged", shown),
                HostKeyStatus::Unknown if update => {
                    match known_hosts::learn(&t.known_hosts, &t.host, t.port, &key) {
                        Ok(Learned::Added(file)) => {
                            Report::ok("new", format!("{shown}, recorded in {}", file.display()))
                        }
                        Ok(Learned::AlreadyKnown) => Report::ok("unchanged", shown),
                        Err(e) => Report::failed(format!("{shown}: cannot record it: {e}")),
                    }
                }
                HostKeyStatus::Unknown => Report::ok(
                    "new",
                    format!("{shown}, not in known_hosts (--update records it)"),
                ),
                HostKeyStatus::Changed {
                    file,
                    line,
                    algorithm,
                } => Report {
                    tag: "CHANGED",
                    message: format!(
                        "{shown}, but {}:{line} has another {algorithm} key for {}. If the host was really reinstalled, remove that line (ssh-keygen -R '{}' -f {}) and scan again with --update; otherwise someone may be intercepting the connection",
                        file.display(),
                        t.known_hosts_name(),
                        t.known_hosts_name(),
                        file.display()
                    ),
                    code: exit::UNREACHABLE,
                },
                HostKeyStatus::Revoked { file, line } => Report {
                    tag: "REVOKED",
                    message: format!("{shown} is marked @revoked at {}:{line}", file.display()),
                    code: exit::UNREACHABLE,
                },
            }
        },
    ))?;
    Ok(finish(results))
}

fn rotate(ctx: &Context, args: RotateArgs) -> anyhow::Result<u8> {
    if args.key_type != "ed25519" {
        return Err(BadInput(format!(
            "--type {}: herd generates ed25519 keys only (--type ed25519)",
            args.key_type
        ))
        .into());
    }
    let sel = select(ctx, &args.pattern, &args.connect)?;
    let file = editable(ctx, &args.file)?;
    let state = ctx.project.ensure_state_dir()?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let key_path = std::path::absolute(state.join("keys").join(format!("herd_ed25519_{stamp}")))?;
    let rotation = Rotation {
        hosts: &sel.hosts,
        files: sel.files.clone(),
        options: sel.options.clone(),
        forks: sel.forks,
        inventory: ctx.inventory()?,
        file: &file,
        key_path,
        comment: format!("herd-rotate-{stamp}"),
    };
    match rotation.run()? {
        Rotated::Interrupted => Ok(exit::INTERRUPTED),
        Rotated::Done { reports, switched } => {
            if switched > 0 {
                println!(
                    "{} now uses {} for {switched} host(s)",
                    file.path.display(),
                    rotation.key_path.display(),
                );
            }
            Ok(finish(reports))
        }
    }
}
