//! `herd secrets`: the user's identity, the project's recipients, and
//! encrypting, decrypting, editing and rekeying age files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::Context;
use crate::secrets::edit::{self, Edited};
use crate::secrets::files::{self, Rekeying};
use crate::secrets::{SecretsError, identity, recipients, vault};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create your age identity (if missing) and add its public key to the
    /// project's recipients file (.herd-recipients at the project root).
    Init,
    /// Encrypt FILE to FILE.age for the project's recipients.
    Encrypt(EncryptArgs),
    /// Decrypt FILE to standard output, or to OUT (mode 0600).
    Decrypt(DecryptArgs),
    /// Print a decrypted FILE.
    View { file: PathBuf },
    /// Edit FILE (created if missing) in $VISUAL/$EDITOR on a private
    /// temporary copy; re-encrypts only if the text changed.
    Edit { file: PathBuf },
    /// Re-encrypt every *.age file under the project to the current recipients.
    Rekey,
    /// Add an age public key (age1...) to the project's recipients.
    AddRecipient { key: String },
    /// Remove an age public key from the project's recipients (then run rekey).
    RemoveRecipient { key: String },
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    pub file: PathBuf,
    /// Overwrite FILE.age if it exists.
    #[arg(long)]
    pub force: bool,
    /// Remove the plaintext FILE after encrypting.
    #[arg(long)]
    pub rm: bool,
    /// Encrypt with a passphrase (HERD_PASSPHRASE or a prompt) instead of
    /// the recipients.
    #[arg(long)]
    pub passphrase: bool,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    pub file: PathBuf,
    /// Write the plaintext here (mode 0600) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn execute(ctx: &Context, cmd: SecretsCommand) -> anyhow::Result<u8> {
    let root = match &ctx.project.root {
        Some(root) => root.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let recipients_file = recipients::path(&root);
    match cmd {
        SecretsCommand::Init => {
            let path = identity::path();
            let (public, created) = identity::ensure(&path)?;
            let verb = if created { "created" } else { "using existing" };
            println!("{verb} identity {} ({public})", path.display());
            if recipients::add(&recipients_file, &public)? {
                println!("added {public} to {}", recipients_file.display());
            } else {
                println!("{public} is already in {}", recipients_file.display());
            }
        }
        SecretsCommand::Encrypt(args) => {
            let out = files::encrypt(&args.file, &recipients_file, args.passphrase, args.force)?;
            if args.rm {
                std::fs::remove_file(&args.file)
                    .map_err(|e| SecretsError::io(&args.file, "cannot remove plaintext", e))?;
            }
            eprintln!("wrote {}", out.display());
        }
        SecretsCommand::Decrypt(args) => {
            let plain = vault::decrypt_file(&args.file)?;
            match args.output {
                Some(out) => files::write_private(&out, &plain, args.force)?,
                None => std::io::stdout().write_all(&plain)?,
            }
        }
        SecretsCommand::View { file } => {
            std::io::stdout().write_all(&vault::decrypt_file(&file)?)?;
        }
        SecretsCommand::Edit { file } => match edit::edit(&recipients_file, &file)? {
            Edited::Unchanged => eprintln!("{}: unchanged", file.display()),
            Edited::Written => eprintln!("wrote {}", file.display()),
        },
        SecretsCommand::Rekey => {
            let (rekeyed, keys) = files::rekey(&root, &recipients_file, |step| match step {
                Rekeying::Skipped(file) => {
                    eprintln!("skipped {} (passphrase-encrypted)", file.display())
                }
                Rekeying::Rekeyed(file) => println!("rekeyed {}", file.display()),
            })?;
            println!("{rekeyed} files rekeyed for {keys} recipients");
        }
        SecretsCommand::AddRecipient { key } => {
            let key = recipients::parse(&key)?;
            if recipients::add(&recipients_file, &key)? {
                println!("added {key}; run `herd secrets rekey` so it can read existing files");
            } else {
                println!("{key} is already a recipient");
            }
        }
        SecretsCommand::RemoveRecipient { key } => {
            let key = recipients::parse(&key)?;
            if !recipients::remove(&recipients_file, &key)? {
                return Err(super::BadInput(format!(
                    "{key} is not in {}",
                    recipients_file.display()
                ))
                .into());
            }
            println!(
                "removed {key}; run `herd secrets rekey` (and rotate the secrets it has seen)"
            );
        }
    }
    Ok(crate::exit::OK)
}
