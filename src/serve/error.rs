//! Why `herd serve` cannot start.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve on {listen} without a token: anyone who can reach it could read every run's output. \
         Give --token-file FILE (requests then need `Authorization: Bearer <token>`), \
         or listen on 127.0.0.1 and reach it through `ssh -L`"
    )]
    NeedsToken { listen: SocketAddr },
    #[error("cannot listen on {listen}: {source}")]
    Bind {
        listen: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the token in {path} is too short ({len} characters): use at least 16, e.g. `head -c 24 /dev/urandom | base64 > {path}`"
    )]
    WeakToken { path: PathBuf, len: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
}

crate::exit::code!(ServeError, |err| match err {
    ServeError::NeedsToken { .. } | ServeError::WeakToken { .. } | ServeError::TokenFile { .. } =>
        crate::exit::BAD_INPUT,
    ServeError::Inventory(e) => crate::exit::Code::exit_code(e),
    _ => crate::exit::ERROR,
});
