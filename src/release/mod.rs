//! Binary releases: ship a new build of a service binary to a host without
//! ever leaving it half-way.
//!
//! On the host, under a root directory (default `/opt/APP`):
//!
//! ```text
//! ROOT/releases/<id>/<binary>   one directory per release (id: --version or sha256 prefix)
//! ROOT/current -> releases/<id> the running release, switched atomically (symlink + mv -T)
//! ROOT/previous -> releases/<id> what `current` was before, for rollback
//! ```
//!
//! A deploy on one host: look at what is there ([`layout`]), upload the
//! binary only if its sha256 differs, compressed when that helps, verified
//! before its final rename ([`transfer`]), switch `current` and restart the
//! service ([`activate`]), pass the health gate ([`health`]) or go back to
//! the previous release, then prune old releases ([`prune`]). Every step is
//! reported to the caller as it completes, so an interrupted rollout still
//! says which release each host is on.

pub mod activate;
pub mod artifact;
pub mod health;
pub mod host;
pub mod layout;
pub mod prune;
pub mod transfer;

use std::time::Duration;

pub use artifact::Artifact;
pub use health::{Health, Probe};
pub use host::{Plan, Report, Status, deploy, rollback};
pub use layout::{Layout, State};

/// Why a release step could not be done on a host.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The connection failed or a command could not run.
    #[error("{0}")]
    Transport(#[from] crate::remote::TransportError),
    /// A step ran on the host and failed.
    #[error("{step} failed on {host}: {reason}")]
    Remote {
        host: String,
        step: &'static str,
        reason: String,
    },
}

/// What happened on a host, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The binary was sent (and verified).
    Uploaded,
    /// The host already had this exact binary: nothing sent.
    UploadSkipped,
    /// `current` now points at the release.
    Activated,
    /// The service was restarted on the release.
    Restarted,
    /// The health gate passed.
    Healthy,
    /// The health gate failed.
    Unhealthy,
    /// `current` went back to the release named in the step.
    RolledBack,
    /// Old releases were removed.
    Pruned,
    /// The release was already current: nothing changed.
    Unchanged,
    /// A step failed; the detail says which and why.
    Failed,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Uploaded => "uploaded",
            StepKind::UploadSkipped => "upload_skipped",
            StepKind::Activated => "activated",
            StepKind::Restarted => "restarted",
            StepKind::Healthy => "healthy",
            StepKind::Unhealthy => "unhealthy",
            StepKind::RolledBack => "rolled_back",
            StepKind::Pruned => "pruned",
            StepKind::Unchanged => "unchanged",
            StepKind::Failed => "failed",
        }
    }
}

/// One completed step on one host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// The release the step is about.
    pub release: String,
    pub detail: Option<String>,
    /// Milliseconds since the epoch when the step began.
    pub started_at: i64,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Receives each step as it completes (the store, a module's result).
pub type StepLog<'a> = &'a (dyn Fn(Step) + Send + Sync);
