//! known_hosts: verify a server's key, and learn new keys safely.
//!
//! Our own reader rather than russh's `check_known_hosts_path` because we
//! need exact line numbers (russh does not count comment lines), OpenSSH's
//! wildcard and `!negated` patterns, `@revoked`, and lines we cannot parse
//! (a line that is not UTF-8 among them) skipped instead of failing the
//! whole file.
//!
//! Learning (accept-new) appends under an in-process mutex and an `flock`
//! on the file, re-checking inside the lock, so parallel connects (and
//! parallel herd processes) never write the same host twice or interleave
//! partial lines.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use russh::keys::PublicKey;
use russh::keys::ssh_encoding::base64::{Base64, Encoding};

/// What the known_hosts files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host has exactly this key.
    Known,
    /// No line for this host.
    Unknown,
    /// The host is listed, but not with this key. `algorithm` is the
    /// recorded key's type.
    Changed {
        file: PathBuf,
        line: usize,
        algorithm: String,
    },
    /// This key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// One parsed known_hosts line that names the host.
struct Entry {
    line: usize,
    revoked: bool,
    key: PublicKey,
}

/// Checks `key` for `host`/`port` against `files` in order. A match in any
/// file makes the key known; otherwise the first other key listed for the
/// host makes it changed. Missing files are skipped.
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> std::io::Result<HostKeyStatus> {
    let name = super::target::known_hosts_name(host, port);
    let mut changed = None;
    for file in files {
        let Some(index) = index_of(file)? else {
            // Like OpenSSH, a file that is not there does not count.
            continue;
        };
        match check_entries(index.entries(&name), key) {
            Some(Verdict::Known) => return Ok(HostKeyStatus::Known),
            Some(Verdict::Revoked(line)) => {
                return Ok(HostKeyStatus::Revoked {
                    file: file.clone(),
                    line,
                });
            }
            Some(Verdict::Other(line, algorithm)) => {
                changed.get_or_insert(HostKeyStatus::Changed {
                    file: file.clone(),
                    line,
                    algorithm,
                });
            }
            None => {}
        }
    }
    Ok(changed.unwrap_or(HostKeyStatus::Unknown))
}

/// Key algorithms recorded for this host, so the client can prefer them in
/// key exchange (as OpenSSH does) and not trip over a second key type.
pub fn known_algorithms(files: &[PathBuf], host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
    let name = super::target::known_hosts_name(host, port);
    let mut algorithms = Vec::new();
    for file in files {
        if let Ok(Some(index)) = index_of(file) {
            for entry in index.entries(&name).into_iter().filter(|e| !e.revoked) {
                let alg = entry.key.algorithm();
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
        }
    }
    algorithms
}

enum Verdict {
    Known,
    Revoked(usize),
    Other(usize, String),
}

fn check_entries(entries: Vec<Entry>, key: &PublicKey) -> Option<Verdict> {
    let mut other = None;
    for entry in entries {
        let same = entry.key.key_data() == key.key_data();
        if entry.revoked {
            if same {
                return Some(Verdict::Revoked(entry.line));
            }
            continue;
        }
        if same {
            return Some(Verdict::Known);
        }
        other.get_or_insert(Verdict::Other(entry.line, algorithm_name(&entry.key)));
    }
    other
}

/// Short key type names as admins say them: ed25519, rsa, ecdsa.
pub fn algorithm_name(key: &PublicKey) -> String {
    use russh::keys::Algorithm;
    match key.algorithm() {
        Algorithm::Ed25519 => "ed25519".into(),
        Algorithm::Rsa { .. } => "rsa".into(),
        Algorithm::Ecdsa { .. } => "ecdsa".into(),
        other => other.to_string(),
    }
}

/// A known_hosts file read once per process (and again when it changes):
/// every host connects through it, and with 10,000 hosts listed, scanning
/// the whole file for each of 10,000 connects would cost seconds of CPU.
/// Lines whose patterns are all plain names are found by name; only
/// wildcard, negated and hashed lines are matched one by one.
struct Index {
    lines: Vec<Line>,
    /// Lowercased plain name -> indexes into `lines`.
    by_name: std::collections::HashMap<String, Vec<usize>>,
    /// Lines that need pattern matching.
    patterned: Vec<usize>,
}

/// One usable line: its key is parsed only when a host asks for it.
struct Line {
    line: usize,
    revoked: bool,
    patterns: Box<str>,
    key: Box<str>,
}

/// What identifies one version of a file.
type Stamp = (u64, u64, std::time::SystemTime);

/// Each file read so far, with the version it was read at.
type Indexes = std::collections::HashMap<PathBuf, (Stamp, std::sync::Arc<Index>)>;

static INDEXES: Mutex<Option<Indexes>> = Mutex::new(None);

/// The index of `path`, read afresh if the file changed; `None` if there
/// is no such file.
fn index_of(path: &Path) -> std::io::Result<Option<std::sync::Arc<Index>>> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let stamp = (meta.ino(), meta.len(), meta.modified()?);
    let mut cache = INDEXES.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(Default::default);
    if let Some((seen, index)) = cache.get(path)
        && *seen == stamp
    {
        return Ok(Some(index.clone()));
    }
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let index = std::sync::Arc::new(Index::new(&text));
    cache.insert(path.to_path_buf(), (stamp, index.clone()));
    Ok(Some(index))
}

impl Index {
    /// `@cert-authority` lines are skipped: herd does not offer host
    /// certificates, so they can never vouch for a plain key. So is a line
    /// that is not UTF-8, as any other line that cannot be parsed.
    fn new(text: &[u8]) -> Index {
        let mut index = Index {
            lines: Vec::new(),
            by_name: Default::default(),
            patterned: Vec::new(),
        };
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let Some(line) = Self::parse(number + 1, line) else {
                continue;
            };
            let at = index.lines.len();
            let plain = !line.patterns.contains(['*', '?', '!'])
                && !line.patterns.starts_with("|1|")
                && !line.patterns.contains(",|1|");
            if plain {
                for name in line.patterns.split(',') {
                    index
                        .by_name
                        .entry(name.to_ascii_lowercase())
                        .or_default()
                        .push(at);
                }
            } else {
                index.patterned.push(at);
            }
            index.lines.push(line);
        }
        index
    }

    fn parse(number: usize, line: &[u8]) -> Option<Line> {
        let line = std::str::from_utf8(line).ok()?;
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        if first.starts_with('#') {
            return None;
        }
        let mut revoked = false;
        if let Some(marker) = first.strip_prefix('@') {
            match marker {
                "revoked" => revoked = true,
                _ => return None,
            }
            first = fields.next()?;
        }
        let key_type = fields.next()?;
        let key_data = fields.next()?;
        Some(Line {
            line: number,
            revoked,
            patterns: first.into(),
            key: format!("{key_type} {key_data}").into(),
        })
    }

    /// The lines whose host patterns match `name`, in file order (1-based
    /// line numbers); lines whose key cannot be parsed are skipped.
    fn entries(&self, name: &str) -> Vec<Entry> {
        let mut found: Vec<usize> = self
            .by_name
            .get(&name.to_ascii_lowercase())
            .map(|v| v.to_vec())
            .unwrap_or_default();
        found.extend(
            self.patterned
                .iter()
                .copied()
                .filter(|&i| hosts_match(&self.lines[i].patterns, name)),
        );
        found.sort_unstable();
        found.dedup();
        found
            .into_iter()
            .filter_map(|i| {
                let line = &self.lines[i];
                Some(Entry {
                    line: line.line,
                    revoked: line.revoked,
                    key: PublicKey::from_openssh(&line.key).ok()?,
                })
            })
            .collect()
    }
}

/// OpenSSH's rule: a negated pattern that matches rejects the line; else
/// any positive match accepts it. Also used by the `known_hosts` module.
pub(crate) fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob_match(negated, name) {
                return false;
            }
        } else if pattern.starts_with("|1|") {
            matched |= hashed_match(pattern, name);
        } else {
            matched |= glob_match(pattern, name);
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('|').skip(2);
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

/// `name` hashed as OpenSSH's `HashKnownHosts` writes it, with a fresh
/// random salt: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
pub(crate) fn hash_name(name: &str) -> String {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .expect("the system random generator works");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    let hash = ring::hmac::sign(&key, name.as_bytes());
    format!(
        "|1|{}|{}",
        Base64::encode_string(&salt),
        Base64::encode_string(hash.as_ref())
    )
}

/// `*` and `?` wildcards, case-insensitive like OpenSSH's host matching.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => {
                n.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &n[1..])
            }
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Serializes learning within this process; the flock covers other processes.
static LEARN_LOCK: Mutex<()> = Mutex::new(());

/// What [`learn`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Learned {
    /// Appended a line to this file.
    Added(PathBuf),
    /// Another connect (or process) recorded this key first.
    AlreadyKnown,
}

/// Records `key` for `host`/`port` in the first of `files` that can be
/// opened for appending (created 0600 if missing). Re-checks every file
/// under the lock: a key that appeared meanwhile is not added twice, and a
/// different key that appeared meanwhile is reported as changed. Blocking;
/// call it from `spawn_blocking`.
pub fn learn(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<Learned, LearnError> {
    let _guard = LEARN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut last_error = None;
    for path in files {
        match open_for_append(path) {
            Ok(file) => return learn_locked(file, path, files, host, port, key),
            Err(e) => last_error = Some(format!("{}: {e}", path.display())),
        }
    }
    Err(LearnError::NoWritableFile(
        last_error.unwrap_or_else(|| "no known_hosts file configured".into()),
    ))
}

/// Why learning failed.
#[derive(Debug)]
pub enum LearnError {
    NoWritableFile(String),
    Io(PathBuf, std::io::Error),
    /// Someone recorded a different key while we were connecting.
    Changed(HostKeyStatus),
}

impl std::fmt::Display for LearnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearnError::NoWritableFile(why) => write!(f, "no writable known_hosts file ({why})"),
            LearnError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            LearnError::Changed(status) => write!(f, "{status:?}"),
        }
    }
}

fn open_for_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.exists() && !p.as_os_str().is_empty())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Holds an exclusive flock for as long as it lives.
struct Flock<'a>(&'a std::fs::File);

impl<'a> Flock<'a> {
    fn exclusive(file: &'a std::fs::File) -> std::io::Result<Flock<'a>> {
        loop {
            // SAFETY: flock on a valid, open descriptor.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Flock(file));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor we locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn learn_locked(
    file: std::fs::File,
    path: &Path,
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<Learned, LearnError> {
    let io = |e| LearnError::Io(path.to_path_buf(), e);
    let _lock = Flock::exclusive(&file).map_err(io)?;
    let mut file = &file;
    match check(files, host, port, key).map_err(io)? {
        HostKeyStatus::Known => return Ok(Learned::AlreadyKnown),
        HostKeyStatus::Unknown => {}
        other => return Err(LearnError::Changed(other)),
    }
    let mut line = String::new();
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let encoded = key
        .to_openssh()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    // The key's comment (if any) is dropped: type and base64 only.
    let mut parts = encoded.split_whitespace();
    let (key_type, data) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    line.push_str(&format!(
        "{} {key_type} {data}\n",
        super::target::known_hosts_name(host, port)
    ));
    // One write of whole lines: O_APPEND makes it land at the end in one piece.
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(Learned::Added(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn lines_that_are_not_utf8_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("kh");
        let text = format!("# caf\u{e9}\nh.example {ED_B}\nh.example {ED_A}\n");
        let latin1: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        std::fs::write(&kh, latin1).unwrap();
        let files = vec![kh.clone()];
        assert_eq!(
            check(&files, "h.example", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(known_algorithms(&files, "h.example", 22).len(), 1);
        let mut bytes = b"caf\xe9 ssh-ed25519 AAAA\n".to_vec();
        bytes.extend_from_slice(format!("h.example {ED_B}\n").as_bytes());
        std::fs::write(&kh, bytes).unwrap();
        assert_eq!(
            check(&files, "h.example", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Changed {
                file: kh,
                line: 2,
                algorithm: "ed25519".into()
            }
        );
    }

    #[test]
    fn known_unknown_changed_with_real_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let kh = write(
            dir.path(),
            "kh",
            &format!("# comment\n\n[127.0.0.2]:2222 {ED_A}\nother.example {ED_B}\n"),
        );
        let files = vec![kh.clone()];
        assert_eq!(
            check(&files, "127.0.0.2", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "127.0.0.3", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
        // Port matters.
        assert_eq!(
            check(&files, "127.0.0.2", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check(&files, "127.0.0.2", 2222, &key(ED_B)).unwrap(),
            HostKeyStatus::Changed {
                file: kh,
                line: 3,
                algorithm: "ed25519".into()
            }
        );
    }

    #[test]
    fn a_match_in_a_later_file_wins_over_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", &format!("h.example {ED_B}\n"));
        let b = write(dir.path(), "b", &format!("h.example {ED_A}\n"));
        assert_eq!(
            check(&[a, b], "h.example", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known
        );
    }

    #[test]
    fn patterns_negation_hashes_and_markers() {
        let dir = tempfile::tempdir().unwrap();
        // |1|...| is `ssh-keygen -H` output for "example.com" (from russh's tests).
        let kh = write(
            dir.path(),
            "kh",
            &format!(
                "*.web.example,!bad.web.example {ED_A}\n|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF\n@revoked * {ED_B}\n@cert-authority * {ED_A}\ngarbage line\n"
            ),
        );
        let files = vec![kh.clone()];
        assert_eq!(
            check(&files, "a.web.example", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "bad.web.example", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
        let hashed =
            key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF");
        assert_eq!(
            check(&files, "example.com", 22, &hashed).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&files, "x", 22, &key(ED_B)).unwrap(),
            HostKeyStatus::Revoked { file: kh, line: 3 }
        );
    }

    #[test]
    fn learn_appends_once_and_fixes_missing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let kh = write(dir.path(), "kh", &format!("h1 {ED_B}"));
        let files = vec![kh.clone()];
        assert_eq!(
            learn(&files, "127.0.0.2", 2222, &key(ED_A)).unwrap(),
            Learned::Added(kh.clone())
        );
        assert_eq!(
            learn(&files, "127.0.0.2", 2222, &key(ED_A)).unwrap(),
            Learned::AlreadyKnown
        );
        let text = std::fs::read_to_string(&kh).unwrap();
        assert_eq!(text, format!("h1 {ED_B}\n[127.0.0.2]:2222 {ED_A}\n"));
        assert!(matches!(
            learn(&files, "127.0.0.2", 2222, &key(ED_B)),
            Err(LearnError::Changed(HostKeyStatus::Changed { line: 2, .. }))
        ));
    }

    #[test]
    fn learn_skips_unwritable_files_and_creates_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, "").unwrap();
        let files = vec![blocked.join("kh"), dir.path().join("new/kh")];
        assert_eq!(
            learn(&files, "h", 22, &key(ED_A)).unwrap(),
            Learned::Added(dir.path().join("new/kh"))
        );
    }

    #[test]
    fn parallel_learning_writes_one_line_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![dir.path().join("kh")];
        let keys = [ED_A, ED_B];
        std::thread::scope(|s| {
            for i in 0..16 {
                let files = &files;
                s.spawn(move || {
                    let host = format!("127.0.0.{}", i % 4 + 2);
                    learn(files, &host, 2222, &key(keys[i % 4 / 2])).unwrap();
                });
            }
        });
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().all(|l| l.split(' ').count() == 3));
    }
}
