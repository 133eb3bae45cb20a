//! `herd secrets`: the user's identity, the project's recipients, and
//! encrypting, decrypting, editing and rekeying age files.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::Context;
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
        SecretsCommand::Encrypt(args) => encrypt(&recipients_file, args)?,
        SecretsCommand::Decrypt(args) => {
            let plain = vault::decrypt_file(&args.file)?;
            match args.output {
                Some(out) => write_private(&out, &plain, args.force)?,
                None => std::io::stdout().write_all(&plain)?,
            }
        }
        SecretsCommand::View { file } => {
            std::io::stdout().write_all(&vault::decrypt_file(&file)?)?;
        }
        SecretsCommand::Edit { file } => edit(&recipients_file, &file)?,
        SecretsCommand::Rekey => rekey(&root, &recipients_file)?,
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

fn encrypt(recipients_file: &Path, args: EncryptArgs) -> anyhow::Result<()> {
    let mut name = args.file.clone().into_os_string();
    name.push(".age");
    let out = PathBuf::from(name);
    if out.exists() && !args.force {
        return Err(SecretsError::Exists { path: out }.into());
    }
    let plain =
        std::fs::read(&args.file).map_err(|e| SecretsError::io(&args.file, "cannot read", e))?;
    let data = if args.passphrase {
        vault::encrypt_with_passphrase(&plain, crate::secrets::passphrase(&out)?)?
    } else {
        vault::encrypt(&plain, &recipients::require(recipients_file)?)?
    };
    replace_file(&out, &data)?;
    if args.rm {
        std::fs::remove_file(&args.file)
            .map_err(|e| SecretsError::io(&args.file, "cannot remove plaintext", e))?;
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Writes `data` to `path` through a temporary file and a rename, so a
/// failure never leaves a half-written secret behind.
fn replace_file(path: &Path, data: &[u8]) -> Result<(), SecretsError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.herd-tmp-{}", std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| SecretsError::io(&tmp, "cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SecretsError::io(path, "cannot replace", e)
    })
}

/// Plaintext output: mode 0600 from the start.
fn write_private(path: &Path, data: &[u8], force: bool) -> anyhow::Result<()> {
    if path.exists() {
        if !force {
            return Err(SecretsError::Exists {
                path: path.to_path_buf(),
            }
            .into());
        }
        std::fs::remove_file(path)?;
    }
    let mut file = identity::private_file(path)?;
    file.write_all(data)
        .map_err(|e| SecretsError::io(path, "cannot write", e))?;
    Ok(())
}

/// Re-encrypts every recipient-encrypted `*.age` file under `root`
/// (passphrase files have no recipients and are left alone).
fn rekey(root: &Path, recipients_file: &Path) -> anyhow::Result<()> {
    let keys = recipients::require(recipients_file)?;
    let mut files = Vec::new();
    find_age_files(root, &mut files)?;
    // Decrypt everything first: a file we cannot read stops the rekey
    // before anything was rewritten.
    let mut plain = Vec::new();
    for file in &files {
        if vault::is_passphrase_file(&std::fs::read(file)?) {
            eprintln!("skipped {} (passphrase-encrypted)", file.display());
            continue;
        }
        plain.push((file, vault::decrypt_file(file)?));
    }
    for (file, text) in &plain {
        replace_file(file, &vault::encrypt(text, &keys)?)?;
        println!("rekeyed {}", file.display());
    }
    println!(
        "{} files rekeyed for {} recipients",
        plain.len(),
        keys.len()
    );
    Ok(())
}

/// `*.age` files under `dir`, sorted, skipping hidden directories (.git,
/// .herd) and `target`.
fn find_age_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                find_age_files(&path, out)?;
            }
        } else if crate::secrets::is_encrypted(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn edit(recipients_file: &Path, file: &Path) -> anyhow::Result<()> {
    let existing = file.exists().then(|| std::fs::read(file)).transpose()?;
    let passphrase_file = existing.as_deref().is_some_and(vault::is_passphrase_file);
    let before = match &existing {
        Some(_) => vault::decrypt_file(file)?,
        None => vault::Plaintext::default(),
    };
    // Refuse early rather than after the user typed their changes.
    let keys = if passphrase_file {
        Vec::new()
    } else {
        recipients::require(recipients_file)?
    };
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .trim_end_matches(".age")
        .to_string();
    let scratch = Scratch::new(&name, &before)?;
    let status = {
        let _signals = HoldSignals::new();
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&scratch.file)
            .status()
            .with_context(|| format!("cannot run editor `{editor}`"))?
    };
    if !status.success() {
        anyhow::bail!(
            "editor exited with {status}; {} left unchanged",
            file.display()
        );
    }
    let after = vault::Plaintext::new(std::fs::read(&scratch.file)?);
    drop(scratch);
    if after == before && existing.is_some() {
        eprintln!("{}: unchanged", file.display());
        return Ok(());
    }
    let data = if passphrase_file {
        vault::encrypt_with_passphrase(&after, crate::secrets::passphrase(file)?)?
    } else {
        vault::encrypt(&after, &keys)?
    };
    replace_file(file, &data)?;
    eprintln!("wrote {}", file.display());
    Ok(())
}

/// A 0700 directory holding one 0600 plaintext file, in XDG_RUNTIME_DIR
/// (memory-backed) when there is one. Dropping it overwrites the file with
/// zeros and removes both, whatever happened in between.
struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Scratch {
    fn new(name: &str, contents: &[u8]) -> anyhow::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir = base.join(format!("herd-edit-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| SecretsError::io(&dir, "cannot create private directory", e))?;
        let scratch = Scratch {
            file: dir.join(name),
            dir,
        };
        identity::private_file(&scratch.file)?.write_all(contents)?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(len) = std::fs::metadata(&self.file).map(|m| m.len())
            && let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&self.file)
        {
            let _ = f.write_all(&vec![0; len as usize]);
            let _ = f.sync_all();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// While the editor runs, Ctrl-C, SIGTERM and SIGHUP must not kill herd
/// before it wipes the plaintext. A no-op handler (not SIG_IGN, which the
/// editor would inherit) keeps herd alive; the editor still gets them.
struct HoldSignals(Vec<(libc::c_int, libc::sigaction)>);

extern "C" fn ignore_signal(_: libc::c_int) {}

impl HoldSignals {
    fn new() -> HoldSignals {
        let mut saved = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: plain sigaction calls with zero-initialised structs and
            // a handler that does nothing.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = ignore_signal as *const () as usize;
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    saved.push((signal, old));
                }
            }
        }
        HoldSignals(saved)
    }
}

impl Drop for HoldSignals {
    fn drop(&mut self) {
        for (signal, old) in &self.0 {
            // SAFETY: restores the action saved in `new`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}
