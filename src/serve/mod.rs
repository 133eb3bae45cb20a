//! `herd serve`: a read-only web view of the results store — the fleet,
//! each host's metrics over time, runs with their folded output, alerts —
//! plus the same data as JSON under `/api/` and a Prometheus exposition at
//! `/metrics`.
//!
//! Nothing here writes: the store is opened read-only (cron's `herd
//! collect` keeps writing beside it; SQLite's WAL lets readers and one
//! writer work at once), no endpoint changes anything or contacts a host,
//! and only GET/HEAD are answered. It binds to loopback by default; any
//! other address needs a bearer token (see [`auth`]).
//!
//! Pages are rendered on the server from minijinja templates (no external
//! asset, usable without JavaScript); a small script of our own swaps in
//! a fresh copy of the fleet page and of a running run every few seconds.

mod api;
mod app;
mod auth;
mod error;
mod http;
mod pages;
mod params;
mod prometheus;

use std::net::SocketAddr;
use std::sync::Arc;

pub use app::{App, Settings};
pub use auth::Token;
pub use error::ServeError;

/// Checks that `listen` may be served with `token`: a loopback address
/// needs none; any other needs one, or anyone on the network could read
/// every command's output.
pub fn check_listen(listen: SocketAddr, token: Option<&Token>) -> Result<(), ServeError> {
    if listen.ip().is_loopback() || token.is_some() {
        Ok(())
    } else {
        Err(ServeError::NeedsToken { listen })
    }
}

/// Binds `listen` and answers requests until Ctrl-C or SIGTERM.
pub async fn run(app: App, listen: SocketAddr) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind { listen, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { listen, source })?;
    // Tests and scripts read the actual port (`--listen 127.0.0.1:0`).
    eprintln!("herd serve: listening on http://{local}/");
    http::serve(Arc::new(app), listener).await;
    Ok(())
}
