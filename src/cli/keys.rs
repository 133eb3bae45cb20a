//! `herd keys push|revoke|rotate|scan`: the login keys in the hosts'
//! authorized_keys, and the hosts' own keys in known_hosts.
//!
//! Rotation never locks the admin out: the new key is installed beside the
//! old one and must log in on a fresh connection on its own before the
//! inventory is switched to it and only then is the old key removed. A
//! host where any step fails keeps its old key (the new one is taken out
//! again), and the inventory is not changed for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::connect::ConnectArgs;
use super::inventory_edit::{FileArg, editable};
use super::{BadInput, Context};
use crate::engine::fanout::{FleetHost, Outcome, block_on, for_each_host};
use crate::exit;
use crate::inventory::edit::{Edit, VarTarget};
use crate::keys::authorized::{self, AuthorizedKey, Change, FILE_VAR};
use crate::keys::generate;
use crate::ssh::known_hosts::{self, HostKeyStatus, Learned, algorithm_name};
use crate::ssh::{Pool, SshOptions, Target};

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

/// One host's result line: a short tag, details, and the exit code it
/// implies.
struct Report {
    tag: &'static str,
    message: String,
    code: u8,
}

impl Report {
    fn ok(tag: &'static str, message: impl Into<String>) -> Report {
        Report {
            tag,
            message: message.into(),
            code: exit::OK,
        }
    }
    fn failed(message: impl Into<String>) -> Report {
        Report {
            tag: "failed",
            message: message.into(),
            code: exit::FAILED,
        }
    }
    fn unreachable(message: impl Into<String>) -> Report {
        Report {
            tag: "unreachable",
            message: message.into(),
            code: exit::UNREACHABLE,
        }
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

/// `target` logging in with only the key at `key`: no agent, no other
/// identity, no certificate.
fn with_only_key(target: &Target, key: &std::path::Path) -> Target {
    Target {
        identity_files: vec![key.to_path_buf()],
        certificate_files: Vec::new(),
        identities_only: true,
        agent_socket: None,
        ..target.clone()
    }
}

/// A host where the new key is installed and logs in on its own.
struct Installed {
    host: FleetHost,
    old: AuthorizedKey,
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
    let inventory = ctx.inventory()?;
    let file = editable(ctx, &args.file)?;
    let state = ctx.project.ensure_state_dir()?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let key_path = std::path::absolute(state.join("keys").join(format!("herd_ed25519_{stamp}")))?;
    // The variable herd reads the key from: `herd_key` wins when set.
    let var_of = |host: &str| {
        let vars = inventory.host_vars(host).unwrap_or_default();
        if vars.contains_key("herd_key") {
            "herd_key"
        } else {
            "ansible_ssh_private_key_file"
        }
    };
    let switch = |hosts: &[String]| -> Vec<Edit> {
        hosts
            .iter()
            .map(|h| Edit::SetVar {
                target: VarTarget::Host(h.clone()),
                key: var_of(h).to_string(),
                value: key_path.display().to_string(),
            })
            .collect()
    };
    // Refuse before touching any host if the inventory cannot take the change.
    let names: Vec<String> = sel.hosts.iter().map(|h| h.name().to_string()).collect();
    switch_inventory(&file, &switch(&names), &names, &key_path, false)?;

    let pair = generate::ed25519(&key_path, &format!("herd-rotate-{stamp}"))?;
    let new_key = Arc::new(AuthorizedKey::new(&pair.public));
    eprintln!("new key {} ({})", key_path.display(), new_key.fingerprint());

    // 1. Install the new key beside the old one; log in with it alone.
    let pool = Pool::new(sel.options.clone());
    let files = sel.files.clone();
    let verify_options = SshOptions {
        agent_socket: None,
        ..sel.options.clone()
    };
    let installed = block_on(for_each_host(pool, &sel.hosts, sel.forks, |pool, host| {
        let (new_key, file) = (new_key.clone(), files[host.name()].clone());
        let (key_path, verify_options) = (key_path.clone(), verify_options.clone());
        async move {
            let conn = match pool.connect(&host.target).await {
                Ok(conn) => conn,
                Err(e) => return Err(Report::unreachable(e.to_string())),
            };
            let old = AuthorizedKey::new(conn.login_key());
            let change = match authorized::add(&conn, &file, &new_key).await {
                Ok(change) => change,
                Err(e) => return Err(Report::failed(format!("installing the new key: {e}"))),
            };
            let fresh = Pool::new(verify_options);
            let verified = fresh.connect(&with_only_key(&host.target, &key_path)).await;
            fresh.close_all().await;
            if let Err(e) = verified {
                let undo = if change == Change::Added {
                    match authorized::remove(&conn, &file, &new_key).await {
                        Ok(_) => "the new key was removed again".to_string(),
                        Err(e) => format!("removing the new key again failed too: {e}"),
                    }
                } else {
                    "the new key was already listed and is left as it was".to_string()
                };
                return Err(Report::failed(format!(
                    "a login with only the new key failed ({e}); the old key is kept and {undo}"
                )));
            }
            Ok(Installed { host, old })
        }
    }))?;
    let mut reports: HashMap<String, Outcome<Report>> = HashMap::new();
    let mut ready: Vec<Installed> = Vec::new();
    for (name, outcome) in installed {
        match outcome {
            Outcome::Done(Ok(done)) => ready.push(done),
            Outcome::Done(Err(report)) => {
                reports.insert(name, Outcome::Done(report));
            }
            Outcome::Interrupted => {
                reports.insert(name, Outcome::Interrupted);
            }
            Outcome::Panicked(why) => {
                reports.insert(name, Outcome::Panicked(why));
            }
        }
    }

    // Ctrl-C: switch nothing, take the new key out where it went in.
    if reports.values().any(|o| matches!(o, Outcome::Interrupted)) {
        undo_install(&sel, &ready, &new_key)?;
        generate::discard(&pair);
        eprintln!("herd: interrupted: no host was switched to the new key");
        return Ok(exit::INTERRUPTED);
    }

    // 2. Switch the inventory for the hosts that passed, in one write.
    let switched: Vec<String> = ready.iter().map(|i| i.host.name().to_string()).collect();
    let written = if switched.is_empty() {
        Ok(())
    } else {
        switch_inventory(&file, &switch(&switched), &switched, &key_path, true)
    };
    if let Err(why) = written {
        undo_install(&sel, &ready, &new_key)?;
        generate::discard(&pair);
        return Err(why.context(
            "the inventory could not be switched to the new key; every host keeps its old key",
        ));
    }
    if ready.is_empty() {
        generate::discard(&pair);
    }

    // 3. Remove the old key, over a connection made with the new one.
    let pool = Pool::new(verify_options);
    let hosts: Vec<FleetHost> = ready
        .iter()
        .map(|i| FleetHost {
            target: with_only_key(&i.host.target, &key_path),
            exec: i.host.exec.clone(),
        })
        .collect();
    let olds: Arc<HashMap<String, AuthorizedKey>> = Arc::new(
        ready
            .into_iter()
            .map(|i| (i.host.name().to_string(), i.old))
            .collect(),
    );
    let done = block_on(for_each_host(pool, &hosts, sel.forks, |pool, host| {
        let (file, old) = (files[host.name()].clone(), olds[host.name()].clone());
        let new_key = new_key.clone();
        async move {
            let switched = format!("now {}", new_key.fingerprint());
            if old.blob == new_key.blob {
                return Report::ok("rotated", switched);
            }
            let removed = match pool.connect(&host.target).await {
                Ok(conn) => authorized::remove(&conn, &file, &old).await,
                Err(e) => Err(crate::keys::KeyError::Remote {
                    host: host.name().to_string(),
                    reason: e.to_string(),
                }),
            };
            match removed {
                Ok(_) => Report::ok(
                    "rotated",
                    format!("{switched}; old key {} removed", old.fingerprint()),
                ),
                Err(e) => Report::failed(format!(
                    "{switched} and the inventory uses it, but the old key {} could not be removed: {e}",
                    old.fingerprint()
                )),
            }
        }
    }))?;
    reports.extend(done);
    let ordered = sel
        .hosts
        .iter()
        .filter_map(|h| reports.remove_entry(h.name()))
        .collect();
    if !switched.is_empty() {
        println!(
            "{} now uses {} for {} host(s)",
            file.path.display(),
            key_path.display(),
            switched.len()
        );
    }
    Ok(finish(ordered))
}

/// Checks that after `edits` each host would connect with `key` (a
/// `host_vars/` file could override it), and writes the edit if `write`.
fn switch_inventory(
    file: &crate::inventory::edit::InventoryFile,
    edits: &[Edit],
    hosts: &[String],
    key: &std::path::Path,
    write: bool,
) -> anyhow::Result<()> {
    let text = file.apply(edits)?;
    let inventory = file.load(&text)?;
    for host in hosts {
        let uses = inventory.connection(host)?.private_key_file;
        if uses.as_deref() != Some(key) {
            return Err(BadInput(format!(
                "{host} would still connect with {} after the switch (set in host_vars/?); change that first",
                uses.map_or("its ssh config's key".into(), |p| p.display().to_string())
            ))
            .into());
        }
    }
    if write {
        file.write(&text)?;
    }
    Ok(())
}

/// Takes the new key out of the hosts where it was installed.
fn undo_install(
    sel: &Selection,
    ready: &[Installed],
    key: &Arc<AuthorizedKey>,
) -> anyhow::Result<()> {
    let hosts: Vec<FleetHost> = ready.iter().map(|i| i.host.clone()).collect();
    let pool = Pool::new(sel.options.clone());
    let files = sel.files.clone();
    let results = block_on(for_each_host(pool, &hosts, sel.forks, |pool, host| {
        let (key, file) = (key.clone(), files[host.name()].clone());
        async move {
            let conn = pool
                .connect(&host.target)
                .await
                .map_err(|e| e.to_string())?;
            authorized::remove(&conn, &file, &key)
                .await
                .map_err(|e| e.to_string())
        }
    }))?;
    for (host, outcome) in results {
        if !matches!(outcome, Outcome::Done(Ok(_))) {
            eprintln!(
                "herd: WARNING: {host}: the unused new key {} is still in its authorized_keys",
                key.fingerprint()
            );
        }
    }
    Ok(())
}
