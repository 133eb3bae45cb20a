//! `herd inventory add|remove|group|set-var`: edit the inventory file from
//! the command line, keeping its comments and layout (see
//! `inventory::edit`).

use std::path::{Path, PathBuf};

use super::connect::ConnectArgs;
use super::{BadInput, Context};
use crate::exit;
use crate::inventory::edit::{Edit, InventoryFile, VarTarget, check_name};
use crate::project::HostKeyChecking;

#[derive(Debug, clap::Args)]
pub struct FileArg {
    /// The inventory file to edit, when the inventory is a directory or
    /// several files.
    #[arg(long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  herd inventory add web3.example.com --group web --var http_port=8080 --check-ssh"
)]
pub struct AddArgs {
    /// Host name (as `ssh` would be given it, or with --var ansible_host=ADDR).
    pub host: String,
    /// Group to put the host in (repeatable; created when missing).
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Host variable (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// First connect to the host, recording its host key (accept-new) in
    /// the known_hosts file herd uses; the inventory is written only if the
    /// host is reachable and accepts our login.
    #[arg(long = "check-ssh")]
    pub check_ssh: bool,
    /// Seconds to wait for the --check-ssh connection [default: 10].
    #[arg(long = "connect-timeout", value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    #[command(flatten)]
    pub file: FileArg,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Host name; every entry of it in the file is removed.
    pub host: String,
    #[command(flatten)]
    pub file: FileArg,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  herd inventory set-var web1 http_port=8080\n  herd inventory set-var --group web tier=front"
)]
pub struct SetVarArgs {
    /// HOST KEY=VALUE..., or with --group only KEY=VALUE...
    #[arg(required = true, value_name = "HOST|KEY=VALUE")]
    pub words: Vec<String>,
    /// Set the variables on this group instead of a host.
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    #[command(flatten)]
    pub file: FileArg,
}

#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Add an empty group (under --parent, else under `all`).
    Add {
        group: String,
        #[arg(long, value_name = "GROUP")]
        parent: Option<String>,
        #[command(flatten)]
        file: FileArg,
    },
    /// Remove a group; one with hosts, children or vars only with --force.
    Remove {
        group: String,
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        file: FileArg,
    },
    /// Rename a group wherever it is defined or listed.
    Rename {
        from: String,
        to: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Put an existing host in a group too (the group is created when missing).
    AddHost {
        group: String,
        host: String,
        #[command(flatten)]
        file: FileArg,
    },
}

pub fn add(ctx: &Context, args: AddArgs) -> anyhow::Result<u8> {
    check(check_name("host", &args.host))?;
    for group in &args.groups {
        check(check_name("group", group))?;
    }
    let vars = args
        .vars
        .iter()
        .map(|v| assignment(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = editable(ctx, &args.file)?;
    let edit = Edit::AddHost {
        host: args.host.clone(),
        groups: args.groups.clone(),
        vars,
    };
    let text = file.apply(&[edit])?;
    if args.check_ssh
        && let Err(why) = check_ssh(ctx, &file, &text, &args.host, args.connect_timeout)?
    {
        eprintln!(
            "herd: error: {why}; {} was not changed",
            file.path.display()
        );
        return Ok(exit::UNREACHABLE);
    }
    file.write(&text)?;
    let groups = if args.groups.is_empty() {
        String::new()
    } else {
        format!(" in {}", args.groups.join(", "))
    };
    println!("added {}{groups} to {}", args.host, file.path.display());
    Ok(exit::OK)
}

pub fn remove(ctx: &Context, args: RemoveArgs) -> anyhow::Result<u8> {
    let file = editable(ctx, &args.file)?;
    let text = file.apply(&[Edit::RemoveHost {
        host: args.host.clone(),
    }])?;
    file.write(&text)?;
    println!("removed {} from {}", args.host, file.path.display());
    Ok(exit::OK)
}

pub fn group(ctx: &Context, cmd: GroupCommand) -> anyhow::Result<u8> {
    let (edit, file_arg, done) = match cmd {
        GroupCommand::Add {
            group,
            parent,
            file,
        } => {
            check(check_name("group", &group))?;
            let done = format!("added group {group}");
            (Edit::AddGroup { group, parent }, file, done)
        }
        GroupCommand::Remove { group, force, file } => {
            let done = format!("removed group {group}");
            (Edit::RemoveGroup { group, force }, file, done)
        }
        GroupCommand::Rename { from, to, file } => {
            check(check_name("group", &to))?;
            let done = format!("renamed group {from} to {to}");
            (Edit::RenameGroup { from, to }, file, done)
        }
        GroupCommand::AddHost { group, host, file } => {
            check(check_name("group", &group))?;
            let done = format!("added {host} to group {group}");
            (Edit::AddHostToGroup { group, host }, file, done)
        }
    };
    let file = editable(ctx, &file_arg)?;
    let text = file.apply(std::slice::from_ref(&edit))?;
    file.write(&text)?;
    println!("{done} in {}", file.path.display());
    if let Edit::RenameGroup { from, .. } = &edit {
        warn_group_vars(&file.path, from);
    }
    Ok(exit::OK)
}

pub fn set_var(ctx: &Context, args: SetVarArgs) -> anyhow::Result<u8> {
    let (target, assignments) = match &args.group {
        Some(group) => (VarTarget::Group(group.clone()), &args.words[..]),
        None => (VarTarget::Host(args.words[0].clone()), &args.words[1..]),
    };
    if assignments.is_empty() {
        return Err(BadInput("no KEY=VALUE given: herd inventory set-var HOST KEY=VALUE (or --group GROUP KEY=VALUE)".into()).into());
    }
    let edits = assignments
        .iter()
        .map(|a| {
            let (key, value) = assignment(a)?;
            Ok(Edit::SetVar {
                target: target.clone(),
                key,
                value,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = editable(ctx, &args.file)?;
    let text = file.apply(&edits)?;
    file.write(&text)?;
    let name = match &target {
        VarTarget::Host(h) => h.clone(),
        VarTarget::Group(g) => format!("group {g}"),
    };
    println!(
        "set {} on {name} in {}",
        assignments.join(" "),
        file.path.display()
    );
    Ok(exit::OK)
}

/// The one inventory file to edit: `--file`, else the single inventory
/// source when it is a file.
pub fn editable(ctx: &Context, arg: &FileArg) -> anyhow::Result<InventoryFile> {
    let path = match &arg.file {
        Some(path) => path.clone(),
        None => {
            let sources = ctx.inventory_paths()?;
            match &sources[..] {
                [one] if one.is_dir() => {
                    return Err(BadInput(format!(
                        "the inventory {} is a directory: choose the file to edit with --file",
                        one.display()
                    ))
                    .into());
                }
                [one] => one.clone(),
                many => {
                    let names: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
                    return Err(BadInput(format!(
                        "the inventory is several sources ({}): choose the file to edit with --file",
                        names.join(", ")
                    ))
                    .into());
                }
            }
        }
    };
    Ok(InventoryFile::open(&path)?)
}

/// `KEY=VALUE` from the command line.
fn assignment(text: &str) -> anyhow::Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(BadInput(format!("`{text}` is not KEY=VALUE")).into());
    };
    check(check_name("variable", key))?;
    Ok((key.to_string(), value.to_string()))
}

fn check(result: Result<(), String>) -> anyhow::Result<()> {
    result.map_err(|m| BadInput(m).into())
}

/// Connects to `host` as the edited inventory describes it, learning its
/// host key (accept-new). `Ok(Err(why))`: the host could not be reached.
fn check_ssh(
    ctx: &Context,
    file: &InventoryFile,
    text: &str,
    host: &str,
    connect_timeout: Option<u64>,
) -> anyhow::Result<Result<(), String>> {
    let inventory = file.load(text)?;
    let connect = ConnectArgs {
        host_key_checking: Some(HostKeyChecking::AcceptNew),
        connect_timeout,
        ..ConnectArgs::default()
    };
    let fleet = ctx.fleet_of(&connect, &inventory, vec![host.to_string()])?;
    let target = fleet.hosts[0].target.clone();
    let pool = fleet.pool();
    let reached = crate::engine::fanout::block_on(async move {
        let result = pool.connect(&target).await.map(|_| ());
        pool.close_all().await;
        result
    })?;
    if let Err(e) = reached {
        return Ok(Err(e.to_string()));
    }
    eprintln!("{host}: reachable, host key known");
    Ok(Ok(()))
}

/// group_vars/ files are named after groups: a rename leaves them behind.
fn warn_group_vars(inventory: &Path, group: &str) {
    let dir = inventory
        .parent()
        .unwrap_or(Path::new("."))
        .join("group_vars");
    for candidate in [
        dir.join(group),
        dir.join(format!("{group}.yml")),
        dir.join(format!("{group}.yaml")),
    ] {
        if candidate.exists() {
            eprintln!(
                "herd: note: {} still has the old group name; rename it too",
                candidate.display()
            );
        }
    }
}
