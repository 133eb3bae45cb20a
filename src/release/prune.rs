//! Removing old releases: the newest `keep` stay, and the current and
//! previous releases are never removed whatever their age.

use super::{Layout, ReleaseError, State};
use crate::remote::Transport;
use crate::ssh::{ExecOptions, shell_quote};

/// The releases to remove from `state` (newest first) to keep `keep`.
pub fn victims(state: &State, keep: usize) -> Vec<String> {
    let protected = |r: &String| {
        Some(r.as_str()) == state.current.as_deref()
            || Some(r.as_str()) == state.previous.as_deref()
    };
    state
        .releases
        .iter()
        .skip(keep.max(1))
        .filter(|r| !protected(r))
        .cloned()
        .collect()
}

/// Removes `victims` from the host's releases directory.
pub async fn remove(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    victims: &[String],
) -> Result<(), ReleaseError> {
    if victims.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = victims.iter().map(|v| shell_quote(v)).collect();
    let script = format!(
        "cd {}/releases && rm -rf -- {}",
        layout.q_root(),
        names.join(" ")
    );
    let out = transport.exec(&script, exec).await?;
    if out.success() {
        return Ok(());
    }
    Err(ReleaseError::Remote {
        host: transport.name().to_string(),
        step: "pruning old releases",
        reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_never_current_or_previous() {
        let state = State {
            current: Some("v5".into()),
            previous: Some("v1".into()),
            releases: ["v6", "v5", "v4", "v3", "v2", "v1"]
                .map(String::from)
                .to_vec(),
            ..State::default()
        };
        assert_eq!(victims(&state, 2), ["v4", "v3", "v2"]);
        assert_eq!(victims(&state, 10), Vec::<String>::new());
    }
}
