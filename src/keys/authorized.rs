//! A host's authorized_keys, edited over an SSH connection with a POSIX
//! shell script: keys are matched by their base64 blob (options and
//! comments may differ), and every change is a rewrite of a temp file in
//! the same directory, chmod 0600, renamed over the original — sshd never
//! reads half a file.

use std::path::Path;

use russh::keys::PublicKey;

use super::KeyError;
use crate::ssh::{Connection, ExecOptions, shell_quote};

/// Inventory variable naming a host's authorized_keys file, for servers
/// whose sshd has its own AuthorizedKeysFile. Default:
/// `~/.ssh/authorized_keys` of the login user.
pub const FILE_VAR: &str = "herd_authorized_keys_file";

/// A public key as authorized_keys lists it.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub key: PublicKey,
    /// `type base64 [comment]`, the line to append.
    pub line: String,
    /// The base64 blob that identifies the key.
    pub blob: String,
}

impl AuthorizedKey {
    pub fn new(key: &PublicKey) -> AuthorizedKey {
        // A comment is free text: a newline in it would start another
        // authorized_keys line, so control characters become spaces.
        let mut key = key.clone();
        let comment = String::from_utf8_lossy(key.comment().as_bytes()).into_owned();
        if comment.chars().any(char::is_control) || key.comment().as_str().is_err() {
            let clean: String = comment
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            key.set_comment(clean.trim());
        }
        let line = key.to_openssh().unwrap_or_default();
        let blob = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        AuthorizedKey { key, line, blob }
    }

    /// Reads `KEY.pub`: exactly one key, on one line. A second line would
    /// be a second key installed under the first one's name, so a file
    /// with several keys or a control character is refused.
    pub fn read(path: &Path) -> Result<AuthorizedKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let not_a_key = |reason: String| KeyError::NotAPublicKey {
            path: path.to_path_buf(),
            reason,
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let line = match lines.as_slice() {
            [line] => *line,
            [] => return Err(not_a_key("the file is empty".into())),
            more => {
                return Err(not_a_key(format!(
                    "it holds {} keys, one per line; give one key per file",
                    more.len()
                )));
            }
        };
        if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(not_a_key(format!(
                "control character {c:?} in the line; authorized_keys lines are plain text"
            )));
        }
        let key = PublicKey::from_openssh(line)
            .map_err(|e| not_a_key(format!("cannot parse it as a public key ({e})")))?;
        Ok(AuthorizedKey::new(&key))
    }

    /// `SHA256:...`, how ssh shows keys.
    pub fn fingerprint(&self) -> String {
        self.key
            .fingerprint(russh::keys::HashAlg::Sha256)
            .to_string()
    }
}

/// What an edit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    AlreadyPresent,
    Removed,
    NotPresent,
}

impl Change {
    /// How `herd keys` reports it.
    pub fn tag(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::AlreadyPresent => "present",
            Change::Removed => "removed",
            Change::NotPresent => "absent",
        }
    }
}

/// The shell word for the file: the default, or `herd_authorized_keys_file`
/// (`~/` expanded on the host).
pub fn file_word(var: Option<&str>) -> String {
    match var {
        None => "\"$HOME/.ssh/authorized_keys\"".into(),
        Some(path) => match path.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
            None => shell_quote(path),
        },
    }
}

/// awk: exit 0 when some line has the blob `b` as one of its fields.
const HAS_KEY: &str = r#"awk -v b="$blob" '{for(i=1;i<=NF;i++) if($i==b) f=1} END{exit !f}' "$f""#;

/// Appends `key` to the file unless it is there. Creates a missing
/// directory 0700; the default `~/.ssh` is set to 0700 as sshd wants.
pub async fn add(conn: &Connection, file: &str, key: &AuthorizedKey) -> Result<Change, KeyError> {
    let fix_dir = if file.starts_with("\"$HOME/.ssh/") {
        "chmod 700 \"$d\""
    } else {
        ":"
    };
    let script = format!(
        r#"set -e
umask 077
f={file}; blob={blob}; d=$(dirname "$f")
[ -d "$d" ] || mkdir -p "$d"
{fix_dir}
if [ -f "$f" ] && {HAS_KEY}; then echo present; exit 0; fi
tmp=$(mktemp "$d/.authorized_keys.XXXXXX")
trap 'rm -f "$tmp"' EXIT
if [ -s "$f" ]; then cat "$f" > "$tmp"; [ -z "$(tail -c1 "$f")" ] || echo >> "$tmp"; fi
printf '%s\n' {line} >> "$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$f"
trap - EXIT
echo added
"#,
        blob = shell_quote(&key.blob),
        line = shell_quote(&key.line),
    );
    match run(conn, &script).await?.as_str() {
        "added" => Ok(Change::Added),
        _ => Ok(Change::AlreadyPresent),
    }
}

/// Removes every line carrying `key` from the file.
pub async fn remove(
    conn: &Connection,
    file: &str,
    key: &AuthorizedKey,
) -> Result<Change, KeyError> {
    let script = format!(
        r#"set -e
umask 077
f={file}; blob={blob}; d=$(dirname "$f")
if [ ! -f "$f" ] || ! {HAS_KEY}; then echo absent; exit 0; fi
tmp=$(mktemp "$d/.authorized_keys.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v b="$blob" '{{k=0; for(i=1;i<=NF;i++) if($i==b) k=1}} !k' "$f" > "$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$f"
trap - EXIT
echo removed
"#,
        blob = shell_quote(&key.blob),
    );
    match run(conn, &script).await?.as_str() {
        "removed" => Ok(Change::Removed),
        _ => Ok(Change::NotPresent),
    }
}

async fn run(conn: &Connection, script: &str) -> Result<String, KeyError> {
    let remote = |reason: String| KeyError::Remote {
        host: conn.name().to_string(),
        reason,
    };
    let out = conn
        .exec(script, &ExecOptions::default())
        .await
        .map_err(|e| remote(e.to_string()))?;
    if !out.success() {
        return Err(remote(format!(
            "editing authorized_keys failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_words_expand_home_on_the_host() {
        assert_eq!(file_word(None), "\"$HOME/.ssh/authorized_keys\"");
        assert_eq!(file_word(Some("~/keys/ak")), "\"$HOME\"/keys/ak");
        assert_eq!(file_word(Some("/srv/a b")), "'/srv/a b'");
    }

    #[test]
    fn reads_a_public_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.pub");
        std::fs::write(
            &path,
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ ana@laptop\n",
        )
        .unwrap();
        let key = AuthorizedKey::read(&path).unwrap();
        assert!(key.blob.starts_with("AAAAC3"));
        assert!(key.line.starts_with("ssh-ed25519 AAAA"));
        std::fs::write(&path, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        let err = AuthorizedKey::read(&path).unwrap_err().to_string();
        assert!(err.contains("KEY.pub"), "{err}");
    }

    #[test]
    fn a_comment_never_spills_onto_another_line() {
        let text =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ ana";
        let mut key = PublicKey::from_openssh(text).unwrap();
        key.set_comment("ana\nssh-ed25519 AAAA hidden\r");
        let line = AuthorizedKey::new(&key).line;
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.ends_with(" ana ssh-ed25519 AAAA hidden"), "{line:?}");
    }
}
