//! What can go wrong with secrets. Every message names the file and says
//! what to do next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },

    #[error(
        "no age identity at {}: run `herd secrets init`, pass --identity PATH or set HERD_IDENTITY",
        path.display()
    )]
    NoIdentity { path: PathBuf },

    #[error("{}: not a valid age identity file: {message}", path.display())]
    BadIdentity { path: PathBuf, message: String },

    #[error(
        "{}: no recipients: run `herd secrets init` or `herd secrets add-recipient age1...`",
        path.display()
    )]
    NoRecipients { path: PathBuf },

    #[error("{}:{line}: `{key}` is not an age public key (age1...): {message}", path.display())]
    BadRecipient {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },

    #[error("`{key}` is not an age public key (age1...); ssh keys are not supported")]
    BadKey { key: String },

    #[error(
        "{}: cannot decrypt: none of your identities ({identity}) matches the file's recipients ({stanzas}); the project's recipients are: {project}. Ask someone who can decrypt it to add your key and run `herd secrets rekey`",
        path.display()
    )]
    NoMatchingIdentity {
        path: PathBuf,
        identity: String,
        stanzas: String,
        project: String,
    },

    #[error("{}: wrong passphrase", path.display())]
    WrongPassphrase { path: PathBuf },

    #[error(
        "{}: not a readable age file ({message}); it may be corrupted or truncated",
        path.display()
    )]
    Corrupt { path: PathBuf, message: String },

    #[error("{}: already exists; pass --force to overwrite", path.display())]
    Exists { path: PathBuf },

    #[error("no passphrase: set HERD_PASSPHRASE or run on a terminal")]
    NoPassphrase,

    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

impl SecretsError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        SecretsError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

crate::exit::bad_input!(SecretsError);
