//! Getting the binary onto the host: only when the sha256 there differs,
//! gzip on the wire when the host can unpack it and it pays, and always
//! into a temp file that is checked against the sha256 before it is renamed
//! into place. A failed upload (lost connection, disk full) leaves no
//! binary at the final path: the release is there whole or not at all.

use super::{Artifact, Layout, ReleaseError, State};
use crate::remote::Transport;
use crate::remote::nonce;
use crate::ssh::{ExecOptions, PutOptions, shell_quote};

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
    match state.binary_sha256.as_deref() {
        Some(sha) if sha == artifact.sha256 => return Ok(Upload::Skipped),
        // Replacing a release's binary in place would change a running
        // release behind everyone's back.
        Some(other) => {
            return Err(ReleaseError::Remote {
                host: transport.name().to_string(),
                step: "upload",
                reason: format!(
                    "release {} there holds a different build (sha256 {}): give this build a new --release-version",
                    artifact.id,
                    &other[..other.len().min(12)]
                ),
            });
        }
        None => {}
    }
    let (payload, gzip) = match artifact.gzip().filter(|_| state.has_gzip) {
        Some(gz) => (gz, true),
        None => (artifact.bytes.as_slice(), false),
    };
    let dir = layout.release_dir(&artifact.id);
    let hidden = |what: &str| format!("{dir}/.{}.herd-{what}-{}", artifact.name, nonce());
    let (upload, tmp) = (hidden("upload"), hidden("tmp"));
    let failed = |reason: String| ReleaseError::Remote {
        host: transport.name().to_string(),
        step: "upload",
        reason: format!("{reason} (the previous release is untouched)"),
    };
    let out = transport
        .exec(&format!("mkdir -p {}", shell_quote(&dir)), exec)
        .await?;
    if !out.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    // Streamed (never a copy per host), checked against its own sha256 by put.
    let put = PutOptions {
        mode: Some(0o600),
        become_: exec.become_.clone(),
        ..PutOptions::default()
    };
    if let Err(err) = transport.put_reader(payload, &upload, &put).await {
        // put cleaned its temp file; an empty release directory goes too.
        let _ = transport
            .exec(
                &format!("rmdir {} 2>/dev/null; true", shell_quote(&dir)),
                exec,
            )
            .await;
        return Err(failed(err.to_string()));
    }
    let (q_upload, q_tmp) = (shell_quote(&upload), shell_quote(&tmp));
    let unpack = match gzip {
        true => format!("gzip -dc < {q_upload} > {q_tmp} && rm -f {q_upload}"),
        false => format!("mv -f {q_upload} {q_tmp}"),
    };
    // The binary's own sha256 is checked on the host before the final rename.
    let script = format!(
        "{unpack} && chmod 755 {q_tmp} && s=$(sha256sum < {q_tmp} | cut -d' ' -f1) \
         && {{ [ \"$s\" = {sha} ] || {{ echo \"checksum mismatch after upload: got $s\" >&2; false; }}; }} \
         && mv -f {q_tmp} {dest} || {{ rc=$?; rm -f {q_upload} {q_tmp}; rmdir {q_dir} 2>/dev/null; exit $rc; }}",
        sha = artifact.sha256,
        q_dir = shell_quote(&dir),
        dest = shell_quote(&layout.binary(&artifact.id, &artifact.name)),
    );
    let out = transport.exec(&script, exec).await?;
    if !out.success() {
        return Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(Upload::Sent {
        bytes: payload.len(),
        gzip,
    })
}
