//! SSH user keys across the fleet (`herd keys`): editing the hosts'
//! authorized_keys files and generating new key pairs for rotation.

pub mod authorized;
pub mod generate;
pub mod rotate;

use std::path::PathBuf;

/// Why a key could not be read, made or installed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The admin's key file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{}: {reason}; give one OpenSSH public key (the KEY.pub file)", path.display())]
    NotAPublicKey { path: PathBuf, reason: String },
    #[error("cannot generate a key: {0}")]
    Generate(String),
    #[error("{host}: {reason}")]
    Remote { host: String, reason: String },
}

/// One host's result line in `herd keys`: a short tag, details, and the
/// exit code it implies.
pub struct Report {
    pub tag: &'static str,
    pub message: String,
    pub code: u8,
}

impl Report {
    pub fn ok(tag: &'static str, message: impl Into<String>) -> Report {
        Report {
            tag,
            message: message.into(),
            code: crate::exit::OK,
        }
    }
    pub fn failed(message: impl Into<String>) -> Report {
        Report {
            tag: "failed",
            message: message.into(),
            code: crate::exit::FAILED,
        }
    }
    pub fn unreachable(message: impl Into<String>) -> Report {
        Report {
            tag: "unreachable",
            message: message.into(),
            code: crate::exit::UNREACHABLE,
        }
    }
}

crate::exit::code!(KeyError, |err| match err {
    KeyError::Read { .. } | KeyError::NotAPublicKey { .. } => crate::exit::BAD_INPUT,
    _ => crate::exit::ERROR,
});
