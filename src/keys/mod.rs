//! SSH user keys across the fleet (`herd keys`): editing the hosts'
//! authorized_keys files and generating new key pairs for rotation.

pub mod authorized;
pub mod generate;

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

impl crate::exit::Code for KeyError {
    fn exit_code(&self) -> u8 {
        match self {
            KeyError::Read { .. } | KeyError::NotAPublicKey { .. } => crate::exit::BAD_INPUT,
            _ => crate::exit::ERROR,
        }
    }
}
