//! Getting the binary onto the host: only when the sha256 there differs,
//! gzip on the wire when the host can unpack it and it pays, and always
//! into a temp file that is checked against the sha256 before it is renamed
//! into place. A failed upload (lost connection, disk full) leaves no
//! binary at the final path: the release is there whole or not at all.

use super::{Artifact, Layout, ReleaseError, State};
use crate::modules::Transport;
use crate::modules::transport::nonce;
use crate::ssh::{ExecOptions, shell_quote};

/// What the upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// The same file was already there.
    Skipped,
    /// `bytes` went over the wire (gzip-compressed or not).
    Sent { bytes: usize, gzip: bool },
}

impl Upload {
    pub fn describe(&self) -> String {
        match self {
            Upload::Skipped => "same sha256 already on the host".into(),
            Upload::Sent { bytes, gzip: true } => format!("{bytes} bytes sent (gzip)"),
            Upload::Sent { bytes, gzip: false } => format!("{bytes} bytes sent"),
        }
    }
}

/// Makes sure `ROOT/releases/ID/NAME` holds exactly the artifact.
pub async fn ensure(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    artifact: &Artifact,
    state: &State,
) -> Result<Upload, ReleaseError> {
    if state.binary_sha256.as_deref() == Some(artifact.sha256.as_str()) {
        return Ok(Upload::Skipped);
    }
    let (payload, decode, gzip) = match (&artifact.gzip, state.has_gzip) {
        (Some(gz), true) => (gz.as_slice(), "gzip -dc", true),
        _ => (artifact.bytes.as_slice(), "cat", false),
    };
    let dir = shell_quote(&layout.release_dir(&artifact.id));
    let dest = shell_quote(&layout.binary(&artifact.id, &artifact.name));
    let tmp = shell_quote(&format!(
        "{}/.{}.herd-tmp-{}",
        layout.release_dir(&artifact.id),
        artifact.name,
        nonce()
    ));
    // The sha256 is checked on the host, so a bad transfer never gets renamed.
    let script = format!(
        "umask 022; mkdir -p {dir} && {decode} > {tmp} && chmod 755 {tmp} \
         && s=$(sha256sum < {tmp} | cut -d' ' -f1) \
         && {{ [ \"$s\" = {sha} ] || {{ echo \"checksum mismatch after upload: got $s\" >&2; false; }}; }} \
         && mv -f {tmp} {dest} || {{ rc=$?; rm -f {tmp}; exit $rc; }}",
        sha = artifact.sha256,
    );
    let opts = ExecOptions {
        stdin: Some(payload.to_vec()),
        ..exec.clone()
    };
    let out = transport.exec(&script, &opts).await?;
    if !out.success() {
        return Err(ReleaseError::Remote {
            host: transport.name().to_string(),
            step: "upload",
            reason: format!(
                "{} (the previous release is untouched)",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(Upload::Sent {
        bytes: payload.len(),
        gzip,
    })
}
