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

    /// A local file herd itself failed to handle (not the admin's input).
    #[error("{}: {action}: {source}", path.display())]
    Local {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },

    #[error("cannot run editor `{editor}`: {source}")]
    Editor {
        editor: String,
        source: std::io::Error,
    },

    #[error("editor exited with {status}; {} left unchanged", path.display())]
    EditorFailed {
        status: std::process::ExitStatus,
        path: PathBuf,
    },
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

    /// A local file herd failed to read or write: herd's own failure.
    pub(crate) fn local(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        SecretsError::Local {
            path: path.into(),
            action,
            source,
        }
    }
}

crate::exit::code!(SecretsError, |err| match err {
    SecretsError::Local { .. }
    | SecretsError::Editor { .. }
    | SecretsError::EditorFailed { .. } => {
        crate::exit::ERROR
    }
    _ => crate::exit::BAD_INPUT,
});
