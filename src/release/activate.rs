//! Switching releases and restarting the service.
//!
//! `current` and `previous` are relative symlinks replaced atomically: a
//! new link is made under a temp name and renamed over the old one with
//! `mv -T` (rename(2)), so a reader sees the old or the new release, never
//! a missing link.

use super::{Layout, ReleaseError};
use crate::remote::Transport;
use crate::ssh::{ExecOptions, shell_quote};

/// Points `current` at `current` and `previous` at `previous` (removed when
/// `None`), and marks the current release as the newest (for pruning).
pub async fn switch(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    current: &str,
    previous: Option<&str>,
) -> Result<(), ReleaseError> {
    let link = |name: &str, id: &str| {
        let target = shell_quote(&format!("releases/{id}"));
        format!("ln -sfn {target} .{name}.herd-tmp && mv -fT .{name}.herd-tmp {name}")
    };
    let previous = match previous {
        Some(id) => link("previous", id),
        None => "rm -f previous".into(),
    };
    let script = format!(
        "cd {root} && [ -d {dir} ] && touch {dir} && {previous} && {current}",
        root = layout.q_root(),
        dir = shell_quote(&format!("releases/{current}")),
        current = link("current", current),
    );
    run(transport, exec, &script, "switching the current release").await
}

/// How the service is restarted on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// `systemctl restart NAME`.
    Systemd(String),
    /// A shell command run in the release root.
    Command(String),
    /// Nothing to restart.
    None,
}

impl Restart {
    /// A given restart command wins; else systemd when the host runs it and a
    /// service is named. `None` means the host cannot be restarted.
    pub fn choose(
        command: Option<&str>,
        service: Option<&str>,
        has_systemd: bool,
    ) -> Option<Restart> {
        match (command, service) {
            (Some(cmd), _) => Some(Restart::Command(cmd.to_string())),
            (None, Some(name)) if has_systemd => Some(Restart::Systemd(name.to_string())),
            (None, Some(_)) => None,
            (None, None) => Some(Restart::None),
        }
    }
}

/// Restarts the service on release `id`. The restart command sees
/// `HERD_RELEASE` (the id), `HERD_RELEASE_DIR` and `HERD_ROOT`, and runs in
/// the root, so `./current/BINARY` is the binary to start.
pub async fn restart(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    how: &Restart,
    id: &str,
) -> Result<(), ReleaseError> {
    let script = match how {
        Restart::None => return Ok(()),
        Restart::Systemd(name) => format!("systemctl restart {}", shell_quote(name)),
        Restart::Command(cmd) => format!("cd {} && {{ {cmd}\n}}", layout.q_root()),
    };
    let mut opts = exec.clone();
    opts.env.extend([
        ("HERD_RELEASE".to_string(), id.to_string()),
        ("HERD_RELEASE_DIR".to_string(), layout.release_dir(id)),
        ("HERD_ROOT".to_string(), layout.root.clone()),
    ]);
    run(transport, &opts, &script, "restarting the service").await
}

async fn run(
    transport: &Transport,
    exec: &ExecOptions,
    script: &str,
    step: &'static str,
) -> Result<(), ReleaseError> {
    let out = transport.exec(script, exec).await?;
    if out.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(ReleaseError::Remote {
        host: transport.name().to_string(),
        step,
        reason: match out.exit_code {
            Some(code) if stderr.is_empty() => format!("exit {code}"),
            Some(code) => format!("exit {code}: {stderr}"),
            None => format!("no exit status: {stderr}"),
        },
    })
}
