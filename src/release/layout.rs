//! Where a release lives on the host, and what is there now, read in one
//! round trip.

use super::ReleaseError;
use crate::remote::Transport;
use crate::ssh::{ExecOptions, shell_quote};

/// Paths under a release root. The root may be relative: it is then
/// relative to the login directory, where every command starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: String,
}

impl Layout {
    pub fn new(root: impl Into<String>) -> Layout {
        let root: String = root.into();
        let trimmed = root.trim_end_matches('/');
        Layout {
            root: if trimmed.is_empty() {
                "/".into()
            } else {
                trimmed.into()
            },
        }
    }

    /// `ROOT/releases/ID`.
    pub fn release_dir(&self, id: &str) -> String {
        format!("{}/releases/{id}", self.root)
    }

    /// `ROOT/releases/ID/NAME`.
    pub fn binary(&self, id: &str, name: &str) -> String {
        format!("{}/{name}", self.release_dir(id))
    }

    /// The root, quoted for the shell.
    pub fn q_root(&self) -> String {
        shell_quote(&self.root)
    }
}

/// What a host has under the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The release `current` points at.
    pub current: Option<String>,
    /// The release `previous` points at.
    pub previous: Option<String>,
    /// Release directories, newest first.
    pub releases: Vec<String>,
    /// sha256 of the asked-for release's binary, when it is there.
    pub binary_sha256: Option<String>,
    pub has_gzip: bool,
    pub has_systemd: bool,
}

/// Reads the host's state; `binary` (id, name) also asks for that file's sha256.
pub async fn read_state(
    transport: &Transport,
    exec: &ExecOptions,
    layout: &Layout,
    binary: Option<(&str, &str)>,
) -> Result<State, ReleaseError> {
    let mut script = format!(
        "r={root}; c=$(readlink \"$r/current\" 2>/dev/null); p=$(readlink \"$r/previous\" 2>/dev/null); \
         echo \"current=${{c#releases/}}\"; echo \"previous=${{p#releases/}}\"; \
         command -v gzip >/dev/null 2>&1 && echo gzip=1; \
         [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && echo systemd=1; \
         [ -d \"$r/releases\" ] && ls -1t \"$r/releases\" | sed 's/^/release=/'; ",
        root = layout.q_root()
    );
    if let Some((id, name)) = binary {
        let path = shell_quote(&layout.binary(id, name));
        script.push_str(&format!(
            "[ -f {path} ] && echo \"sha256=$(sha256sum < {path} | cut -d' ' -f1)\"; "
        ));
    }
    script.push_str("exit 0");
    let out = transport.exec(&script, exec).await?;
    if !out.success() {
        return Err(ReleaseError::Remote {
            host: transport.name().to_string(),
            step: "reading the release state",
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(parse_state(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_state(text: &str) -> State {
    let mut state = State::default();
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "current" => state.current = some(value),
            "previous" => state.previous = some(value),
            "release" => state.releases.push(value.to_string()),
            "sha256" => state.binary_sha256 = some(value),
            "gzip" => state.has_gzip = true,
            "systemd" => state.has_systemd = true,
            _ => {}
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_state_report() {
        let s = parse_state("current=v2\nprevious=\ngzip=1\nrelease=v2\nrelease=v1\nsha256=abc\n");
        assert_eq!(s.current.as_deref(), Some("v2"));
        assert_eq!(s.previous, None);
        assert_eq!(s.releases, ["v2", "v1"]);
        assert_eq!(s.binary_sha256.as_deref(), Some("abc"));
        assert!(s.has_gzip && !s.has_systemd);
    }

    #[test]
    fn root_keeps_no_trailing_slash() {
        assert_eq!(
            Layout::new("/opt/app/").binary("v1", "app"),
            "/opt/app/releases/v1/app"
        );
        assert_eq!(Layout::new("/").root, "/");
    }
}
