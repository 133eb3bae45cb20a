//! A file on the host, as the file modules need it, in as few round trips
//! as we can: [`probe`] asks for metadata, SHA-1 and (optionally) content
//! in one command; [`write`] installs new content atomically with backup
//! and validation in at most two.

use serde_json::{Value, json};

use super::file_marks::FileMark;
use super::owner_group_mode::{Attrs, mode_string};
use super::{ModuleContext, ModuleError, Vars};
use crate::ssh::{ExecOptions, PutOptions, installed_identity, move_into_place, shell_quote};

/// Diffs of files larger than this are not shown (Ansible's max_diff_size).
pub const MAX_DIFF_SIZE: u64 = 104_448;

const MISSING: &str = "herd-missing";

const CONTENT_MARK: &[u8] = b"herd-content-follows\n";

/// [`Want::content_up_to`] for a file's content whatever its size.
pub const ANY_SIZE: u64 = u64::MAX;

/// What [`probe`] asks `stat` for; [`parse_probe`] reads it.
const PROBE_STAT: &str = "%f %u %g %s %.9X %.9Y %.9Z %d %i %h %U %G";

/// Where the fields of a file's identity (`ssh::IDENTITY_STAT`, see
/// [`FileMark`]) sit in [`PROBE_STAT`]'s output.
const IDENTITY_FIELDS: [usize; 5] = [3, 5, 6, 7, 8];

/// One file's metadata as the host saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileInfo {
    pub exists: bool,
    /// Full `st_mode` (file type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// Times in seconds since the epoch, with the nanoseconds (Python's
    /// `st_atime` floats).
    pub atime: f64,
    pub mtime: f64,
    pub ctime: f64,
    pub dev: u64,
    pub inode: u64,
    pub nlink: u64,
    /// Target of a symlink (when the path itself is one).
    pub link_target: Option<String>,
    /// The path itself is a symlink (whatever `follow` said).
    pub path_is_link: bool,
    pub readable: bool,
    pub writeable: bool,
    pub executable: bool,
    /// Checksum (hex) of a readable regular file, when asked for.
    pub checksum: Option<String>,
    /// `file --mime` output, when asked for and `file` exists.
    pub mime: Option<String>,
    /// Content of a regular file, when asked for and within the limit.
    pub content: Option<Vec<u8>>,
    /// A regular file's `size mtime ctime dev inode` (see [`FileMark`]).
    pub identity: Option<String>,
    /// The checksum is the one herd recorded (the file had not changed).
    pub checksum_from_mark: bool,
}

impl FileInfo {
    fn kind(&self) -> u32 {
        self.mode & 0o170000
    }
    pub fn is_file(&self) -> bool {
        self.exists && self.kind() == 0o100000
    }
    pub fn is_dir(&self) -> bool {
        self.exists && self.kind() == 0o040000
    }
    pub fn is_link(&self) -> bool {
        self.exists && self.kind() == 0o120000
    }
    /// Ansible's `state` word for an existing path.
    pub fn state(&self) -> &'static str {
        if !self.exists {
            "absent"
        } else if self.is_dir() {
            "directory"
        } else if self.is_link() {
            "link"
        } else if self.is_file() && self.nlink > 1 {
            "hard"
        } else {
            "file"
        }
    }

    /// Content as text, for diffs (`None`: missing, binary or too large).
    pub fn text(&self) -> Option<String> {
        self.content
            .as_ref()
            .and_then(|c| String::from_utf8(c.clone()).ok())
    }

    /// `mode`, `owner`, `group`, `uid`, `gid`, `size`, `state` as Ansible's
    /// file modules return them.
    pub fn result_fields(&self, data: &mut Vars) {
        if !self.exists {
            data.insert("state".into(), json!("absent"));
            return;
        }
        data.insert("mode".into(), json!(mode_string(self.mode)));
        data.insert("owner".into(), json!(self.owner));
        data.insert("group".into(), json!(self.group));
        data.insert("uid".into(), json!(self.uid));
        data.insert("gid".into(), json!(self.gid));
        data.insert("size".into(), json!(self.size));
        data.insert("state".into(), json!(self.state()));
    }
}

/// What [`probe`] should fetch besides metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Follow a final symlink (`stat -L`).
    pub follow: bool,
    /// Checksum tool to run on a regular file (`sha1sum`, `sha256sum`...).
    pub checksum: Option<&'static str>,
    pub mime: bool,
    /// Fetch the content of a regular file up to this size
    /// ([`ANY_SIZE`]: whatever its size).
    pub content_up_to: Option<u64>,
}

/// The shell text that probes `path`; output parsed by [`parse_probe`].
/// With a `mark` (only for `sha1sum`), the host prints the marked SHA-1
/// instead of hashing when the file's identity is the marked one.
fn probe_script(path: &str, want: Want, mark: Option<&FileMark>) -> String {
    let p = shell_quote(path);
    let l = if want.follow { "-L " } else { "" };
    let stat = format!("stat {l}-c '{PROBE_STAT}' -- \"$p\"");
    // With a mark the stat line is kept to compare; without, no subshell.
    let stat = match mark {
        Some(_) => format!("s=$({stat}) || exit 97; printf '%s\\n' \"$s\"; "),
        None => format!("{stat} || exit 97; "),
    };
    let mut s = format!(
        "p={p}; if [ -e \"$p\" ] || [ -L \"$p\" ]; then {stat}\
         if [ -L \"$p\" ]; then printf 'link:%s\\n' \"$(readlink -- \"$p\")\"; fi; \
         a=; [ -r \"$p\" ] && a=r; [ -w \"$p\" ] && a=${{a}}w; [ -x \"$p\" ] && a=${{a}}x; echo \"access:$a\"; "
    );
    if let Some(tool) = want.checksum {
        let hash = format!("h=$({tool} < \"$p\") && echo \"sum:${{h%% *}}\"");
        let hash = match mark {
            Some(m) => {
                let fields = IDENTITY_FIELDS.map(|i| format!("${}", i + 1)).join(" ");
                format!(
                    "set -f; set -- $s; if [ \"{fields}\" = '{}' ]; then echo 'known:{}'; else {hash}; fi",
                    m.identity, m.sha1
                )
            }
            None => hash,
        };
        s.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ]; then {hash}; fi; "
        ));
    }
    if want.mime {
        s.push_str(
            "if command -v file >/dev/null 2>&1; then echo \"mime:$(file -b --mime -- \"$p\" 2>/dev/null)\"; fi; ",
        );
    }
    if let Some(limit) = want.content_up_to {
        // A size check costs one more `stat`: only for a real limit.
        let small = match limit {
            ANY_SIZE => String::new(),
            _ => format!(" && [ \"$(stat -L -c %s -- \"$p\")\" -le {limit} ]"),
        };
        s.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ]{small}; then echo herd-content-follows; cat -- \"$p\"; fi; "
        ));
    }
    s.push_str(&format!("else echo {MISSING}; fi"));
    s
}

/// Parses [`probe_script`]'s output.
fn parse_probe(out: &[u8]) -> Option<FileInfo> {
    let (head, content) = match find(out, CONTENT_MARK) {
        Some(i) => (&out[..i], Some(out[i + CONTENT_MARK.len()..].to_vec())),
        None => (out, None),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let first = lines.next()?;
    if first.trim() == MISSING {
        return Some(FileInfo::default());
    }
    let f: Vec<&str> = first.split(' ').collect();
    if f.len() < 12 {
        return None;
    }
    let mut info = FileInfo {
        exists: true,
        mode: u32::from_str_radix(f[0], 16).ok()?,
        uid: f[1].parse().ok()?,
        gid: f[2].parse().ok()?,
        size: f[3].parse().ok()?,
        atime: f[4].parse().ok()?,
        mtime: f[5].parse().ok()?,
        ctime: f[6].parse().ok()?,
        dev: f[7].parse().ok()?,
        inode: f[8].parse().ok()?,
        nlink: f[9].parse().ok()?,
        owner: f[10].to_string(),
        group: f[11..].join(" "),
        content,
        ..FileInfo::default()
    };
    if info.is_file() {
        info.identity = Some(IDENTITY_FIELDS.map(|i| f[i]).join(" "));
    }
    for line in lines {
        if let Some(t) = line.strip_prefix("link:") {
            info.link_target = Some(t.to_string());
            info.path_is_link = true;
        } else if let Some(a) = line.strip_prefix("access:") {
            info.readable = a.contains('r');
            info.writeable = a.contains('w');
            info.executable = a.contains('x');
        } else if let Some(h) = line.strip_prefix("sum:") {
            info.checksum = Some(h.trim().to_string()).filter(|h| h.len() >= 32);
        } else if let Some(h) = line.strip_prefix("known:") {
            info.checksum = Some(h.trim().to_string());
            info.checksum_from_mark = true;
        } else if let Some(m) = line.strip_prefix("mime:") {
            info.mime = Some(m.trim().to_string()).filter(|m| !m.is_empty());
        }
    }
    Some(info)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Metadata (and what `want` asks for) of `path`, in one round trip.
pub async fn probe(
    ctx: &ModuleContext<'_>,
    path: &str,
    want: Want,
) -> Result<FileInfo, ModuleError> {
    // The transport's host: with delegate_to, the file is on the delegate.
    let host = ctx.transport.name();
    let marked = want.checksum == Some("sha1sum");
    let mark = marked.then(|| ctx.marks.get(host, path)).flatten();
    let opts = ExecOptions {
        probe: true,
        ..ctx.exec.clone()
    };
    let out = ctx
        .transport
        .exec(&probe_script(path, want, mark.as_ref()), &opts)
        .await?;
    if !out.success() {
        return Err(ModuleError::Transport(format!(
            "{}: cannot stat {path}: {}",
            ctx.host,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut info = parse_probe(&out.stdout).ok_or_else(|| {
        ModuleError::Transport(format!(
            "{}: unexpected output from stat {path}: {:?}",
            ctx.host,
            String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(200)])
        ))
    })?;
    if marked
        && !info.checksum_from_mark
        && let (Some(identity), Some(sum)) = (&info.identity, &info.checksum)
        && let Some(new) = FileMark::new(identity.clone(), sum.clone())
    {
        ctx.marks.record(host, path, new);
    }
    if out.stdout_truncated && info.content.is_some() {
        // Captured output is capped; fetch the whole file instead.
        info.content = Some(ctx.transport.get(path, &ctx.exec).await?);
    }
    Ok(info)
}

/// Lower-case hex SHA-1 (Ansible's `checksum`).
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    crate::remote::hex(&sha1::Sha1::digest(bytes))
}

/// Lower-case hex MD5 (Ansible's `md5sum`).
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
}

/// How [`write`] installs new content.
pub struct WriteSpec<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub attrs: &'a Attrs,
    pub backup: bool,
    /// A command containing `%s`, run on the new file before it replaces
    /// the old one.
    pub validate: Option<&'a str>,
    /// The destination as it is now.
    pub existing: &'a FileInfo,
    /// The content's SHA-1 when the caller has it (else computed when
    /// needed, for the file's mark).
    pub sha1: Option<&'a str>,
}

/// Why a write did not happen.
pub enum WriteFailure {
    /// `validate` rejected the new content; the old file is untouched.
    Validate {
        rc: i32,
        stdout: String,
        stderr: String,
    },
    Other(ModuleError),
}

impl From<ModuleError> for WriteFailure {
    fn from(e: ModuleError) -> Self {
        WriteFailure::Other(e)
    }
}

impl From<crate::remote::TransportError> for WriteFailure {
    fn from(e: crate::remote::TransportError) -> Self {
        WriteFailure::Other(e.into())
    }
}

/// Checks a `validate` argument.
pub fn check_validate(validate: &Option<String>) -> Result<(), String> {
    match validate {
        Some(v) if !v.contains("%s") => Err(format!("validate must contain %s: {v}")),
        _ => Ok(()),
    }
}

/// Installs new content atomically. Returns the backup file's path.
pub async fn write(
    ctx: &ModuleContext<'_>,
    spec: &WriteSpec<'_>,
) -> Result<Option<String>, WriteFailure> {
    let existing = spec.existing;
    let current = existing.exists.then_some(existing.mode & 0o7777);
    let mode = spec
        .attrs
        .mode
        .as_ref()
        .and_then(|m| m.resolve(current, 0o644, false))
        .or(current)
        .unwrap_or(0o644);
    let mut put = PutOptions {
        mode: Some(mode),
        owner: spec.attrs.owner.clone(),
        group: spec.attrs.group.clone(),
        become_: ctx.exec.become_.clone(),
        timeout: None,
    };
    if existing.exists {
        // Keep the old owner unless told otherwise (chown needs root).
        put.owner = put
            .owner
            .filter(|o| *o != existing.owner && *o != existing.uid.to_string());
        put.group = put
            .group
            .filter(|g| *g != existing.group && *g != existing.gid.to_string());
    }
    if spec.validate.is_none() && !(spec.backup && existing.exists) {
        let identity = ctx.transport.put(spec.content, spec.path, &put).await?;
        mark_written(ctx, spec, identity);
        return Ok(None);
    }
    // Upload beside the destination, then validate/backup/rename in one go.
    let (dir, name) = split_path(spec.path);
    let tmp = format!("{dir}/.{name}.herd-new-{}", crate::remote::nonce());
    ctx.transport.put(spec.content, &tmp, &put).await?;
    let (q_tmp, q_dest) = (shell_quote(&tmp), shell_quote(spec.path));
    let mut script = String::new();
    if let Some(v) = spec.validate {
        script.push_str(&format!(
            "( {} ) || {{ rc=$?; rm -f {q_tmp}; echo herd-validate-failed >&2; exit $rc; }}; ",
            v.replace("%s", &q_tmp)
        ));
    }
    if spec.backup && existing.exists {
        script.push_str(&format!(
            "b={q_dest}.$$.$(date +%Y-%m-%d@%H:%M:%S)~; cp -p {q_dest} \"$b\" || {{ rc=$?; rm -f {q_tmp}; exit $rc; }}; echo \"backup:$b\"; "
        ));
    }
    script.push_str(&move_into_place(&q_tmp, &q_dest));
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.success() {
        if let Some(s) = stderr.strip_suffix("herd-validate-failed\n") {
            return Err(WriteFailure::Validate {
                rc: out.exit_code.unwrap_or(-1),
                stdout,
                stderr: s.to_string(),
            });
        }
        return Err(WriteFailure::Other(ModuleError::Transport(format!(
            "{}: installing {}: {}",
            ctx.host,
            spec.path,
            stderr.trim()
        ))));
    }
    mark_written(ctx, spec, installed_identity(&out.stdout));
    Ok(stdout
        .lines()
        .find_map(|l| l.strip_prefix("backup:"))
        .map(String::from))
}

/// Marks a file herd just wrote, so the next run need not hash it.
fn mark_written(ctx: &ModuleContext<'_>, spec: &WriteSpec<'_>, identity: Option<String>) {
    let Some(identity) = identity else { return };
    let sha1 = spec
        .sha1
        .map(String::from)
        .unwrap_or_else(|| sha1_hex(spec.content));
    if let Some(mark) = FileMark::new(identity, sha1) {
        ctx.marks.record(ctx.transport.name(), spec.path, mark);
    }
}

/// Turns a [`WriteFailure`] into the failed result Ansible gives.
pub fn write_failed(failure: WriteFailure, data: Vars) -> Result<super::ModuleOutput, ModuleError> {
    match failure {
        WriteFailure::Validate { rc, stdout, stderr } => {
            let mut data = data;
            data.insert("exit_status".into(), json!(rc));
            data.insert("stdout".into(), json!(stdout));
            data.insert("stderr".into(), json!(stderr));
            Ok(super::ModuleOutput {
                failed: true,
                msg: Some(format!(
                    "failed to validate: rc:{rc} error:{}",
                    stderr.trim()
                )),
                data,
                ..Default::default()
            })
        }
        WriteFailure::Other(e) => Err(e),
    }
}

/// Runs `commands` joined with `&&`; an error names the path.
pub async fn run_all(
    ctx: &ModuleContext<'_>,
    path: &str,
    commands: &[String],
) -> Result<(), ModuleError> {
    if commands.is_empty() {
        return Ok(());
    }
    let out = ctx
        .transport
        .exec(&commands.join(" && "), &ctx.exec)
        .await?;
    if out.success() {
        return Ok(());
    }
    Err(ModuleError::Transport(format!(
        "{}: {path}: {}",
        ctx.host,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `path` with a leading `~` or `~user` expanded on the host, as Ansible
/// expands paths: `~` is the home of the user the task runs as (the become
/// user with become), from the password database (`$HOME` when it has
/// none). Unchanged when there is nothing to expand or the user is unknown;
/// no round trip unless the path starts with `~`.
pub async fn expand_user(ctx: &ModuleContext<'_>, path: &str) -> Result<String, ModuleError> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_string());
    };
    let (user, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let command = if user.is_empty() {
        "h=$(getent passwd -- \"$(id -u)\" | head -n 1 | cut -d: -f6); printf '%s' \"${h:-$HOME}\""
            .to_string()
    } else {
        format!(
            "getent passwd -- {} | head -n 1 | cut -d: -f6 | tr -d '\\n'",
            shell_quote(user)
        )
    };
    let out = ctx.transport.exec(&command, &ctx.exec).await?;
    let home = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.success() || home.is_empty() || home.contains('\n') {
        return Ok(path.to_string());
    }
    let expanded = format!("{}{tail}", home.trim_end_matches('/'));
    Ok(if expanded.is_empty() {
        "/".into()
    } else {
        expanded
    })
}

/// `(dir, name)` of a path.
pub fn split_path(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => (".", path),
    }
}

/// Ansible's `msg` suffix when only attributes changed alongside content.
pub const ATTRS_CHANGED: &str = "ownership, perms or SE linux context changed";

/// A file result's `diff` entry text in the registered result (Ansible
/// registers `diff` as a list of before/after maps).
pub fn diff_value(diffs: &[super::FileDiff]) -> Value {
    Value::Array(
        diffs
            .iter()
            .map(|d| {
                json!({
                    "before_header": d.path,
                    "after_header": d.path,
                    "before": d.before.clone().unwrap_or_default(),
                    "after": d.after.clone().unwrap_or_default(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probe_output() {
        let out = b"81a4 1000 1000 11 1 2 3 64 99 1 alice staff users\naccess:rw\nsum:2aae6c35c94fcfb415dbe95f408b9ce91ee846ed\nherd-content-follows\nhello world";
        let info = parse_probe(out).unwrap();
        assert!(info.is_file() && info.exists && !info.is_dir());
        assert_eq!(mode_string(info.mode), "0644");
        assert_eq!(info.group, "staff users");
        assert_eq!(info.content.as_deref(), Some(&b"hello world"[..]));
        assert!(info.readable && info.writeable && !info.executable);
        assert_eq!(
            info.checksum.as_deref(),
            Some("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")
        );
        assert_eq!(parse_probe(b"herd-missing\n").unwrap(), FileInfo::default());
        assert!(parse_probe(b"junk").is_none());
    }

    /// The probe run by a real `sh` on a file of this machine.
    fn probe_here(path: &std::path::Path, mark: Option<&FileMark>) -> FileInfo {
        let want = Want {
            checksum: Some("sha1sum"),
            ..Want::default()
        };
        let script = probe_script(&path.display().to_string(), want, mark);
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        parse_probe(&out.stdout).unwrap()
    }

    #[test]
    fn a_marked_file_is_hashed_again_only_when_its_identity_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "hello world").unwrap();
        let first = probe_here(&path, None);
        let real = "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed";
        assert_eq!(first.checksum.as_deref(), Some(real));
        assert!(!first.checksum_from_mark);
        // A recorded SHA-1 that is not the content's shows which one the
        // host printed.
        let recorded = "0123456789abcdef0123456789abcdef01234567";
        let Some(mark) = FileMark::new(first.identity.clone().unwrap(), recorded.into()) else {
            // This filesystem keeps whole-second times: nothing is marked.
            return;
        };
        let same = probe_here(&path, Some(&mark));
        assert_eq!(same.checksum.as_deref(), Some(recorded));
        assert!(same.checksum_from_mark);
        // Same size, mtime put back: only the ctime moved.
        let original = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&path, "HELLO WORLD").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(original)
            .unwrap();
        let field = |info: &FileInfo, i: usize| {
            info.identity
                .as_deref()
                .unwrap()
                .split(' ')
                .nth(i)
                .unwrap()
                .to_string()
        };
        let now = probe_here(&path, None);
        assert_eq!(field(&now, 1), field(&first, 1), "mtime put back");
        assert_ne!(field(&now, 2), field(&first, 2), "ctime moved");
        let changed = probe_here(&path, Some(&mark));
        assert!(!changed.checksum_from_mark);
        assert_eq!(
            changed.checksum.as_deref(),
            Some(sha1_hex(b"HELLO WORLD").as_str())
        );
        // Another file in its place, same content: another inode.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.path().join("g"), "x").unwrap();
        std::fs::write(&path, "hello world").unwrap();
        assert!(!probe_here(&path, Some(&mark)).checksum_from_mark);
    }

    #[test]
    fn the_identity_fields_of_the_probe_are_the_identity_stat() {
        let probe: Vec<&str> = PROBE_STAT.split(' ').collect();
        let picked = IDENTITY_FIELDS.map(|i| probe[i]).join(" ");
        assert_eq!(picked, crate::ssh::IDENTITY_STAT);
    }

    #[test]
    fn hashes_match_ansible() {
        assert_eq!(
            sha1_hex(b"hello world"),
            "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"
        );
        assert_eq!(md5_hex(b"hello world"), "5eb63bbbe01eeed093cb22bb8f5acdc3");
    }
}
