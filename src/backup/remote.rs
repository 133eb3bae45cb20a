//! The host side of backup and restore, in POSIX shell and GNU coreutils:
//! the `tar` that streams a backup, the one-round-trip probe of what the
//! backed-up paths look like now, and the comparison with the manifest.

use super::{Entry, Kind};
use crate::ssh::shell_quote;

/// The command that writes `paths` (absolute) to stdout as a tar.gz.
/// `-C /` with relative names keeps tar quiet about leading slashes;
/// `--hard-dereference` stores hard links as files, so each one restores
/// on its own.
pub fn tar_command(paths: &[String]) -> String {
    let members: Vec<String> = paths
        .iter()
        .map(|p| {
            let relative = p.trim_start_matches('/');
            shell_quote(if relative.is_empty() { "." } else { relative })
        })
        .collect();
    format!(
        "tar -C / --hard-dereference -czf - -- {}",
        members.join(" ")
    )
}

/// GNU tar exits 1 when a file changed while it was read: the archive is
/// complete, the file's copy may be inconsistent.
pub const TAR_FILE_CHANGED: i32 = 1;

/// Reads absolute paths from stdin, one per line, and prints one line per
/// path: `M` (missing), `F MODE OWNER GROUP SHA256` (`-` when unreadable),
/// `D MODE OWNER GROUP`, `L TARGET` or `O` (anything else).
pub const PROBE: &str = r#"while IFS= read -r p; do
  if [ -L "$p" ]; then printf 'L %s\n' "$(readlink -- "$p")"
  elif [ -f "$p" ]; then
    h=$(sha256sum 2>/dev/null < "$p" | cut -d' ' -f1)
    printf 'F %s %s\n' "$(stat -c '%a %U %G' -- "$p")" "${h:--}"
  elif [ -d "$p" ]; then printf 'D %s\n' "$(stat -c '%a %U %G' -- "$p")"
  elif [ -e "$p" ]; then echo O
  else echo M; fi
done"#;

/// The stdin for [`PROBE`]: one path per line (a path with a newline in it
/// cannot be probed; restore skips those).
pub fn probe_input(entries: &[&Entry]) -> Vec<u8> {
    let mut input = String::new();
    for e in entries {
        input.push_str(&e.path);
        input.push('\n');
    }
    input.into_bytes()
}

/// A path as it is on the host now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Missing,
    File {
        mode: u32,
        owner: String,
        group: String,
        /// `None` when the file could not be read.
        sha256: Option<String>,
    },
    Dir {
        mode: u32,
        owner: String,
        group: String,
    },
    Symlink {
        target: String,
    },
    Other,
}

/// Parses one line of [`PROBE`] output.
pub fn parse_probe(line: &str) -> Option<Remote> {
    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
    let meta = |rest: &str| -> Option<(u32, String, String, Option<String>)> {
        let mut words = rest.split(' ');
        let mode = u32::from_str_radix(words.next()?, 8).ok()?;
        let owner = words.next()?.to_string();
        let group = words.next()?.to_string();
        let hash = words.next().filter(|h| *h != "-").map(str::to_string);
        Some((mode, owner, group, hash))
    };
    Some(match tag {
        "M" => Remote::Missing,
        "O" => Remote::Other,
        "L" => Remote::Symlink {
            target: rest.to_string(),
        },
        "F" => {
            let (mode, owner, group, sha256) = meta(rest)?;
            Remote::File {
                mode,
                owner,
                group,
                sha256,
            }
        }
        "D" => {
            let (mode, owner, group, _) = meta(rest)?;
            Remote::Dir { mode, owner, group }
        }
        _ => return None,
    })
}

/// How the host's path differs from the backup: empty when it matches.
/// Owners are compared only when the archive recorded names.
pub fn differences(entry: &Entry, remote: &Remote) -> Vec<&'static str> {
    let meta = |mode: u32, owner: &str, group: &str| {
        let mut why = Vec::new();
        if mode != entry.mode {
            why.push("mode");
        }
        let named = !entry.owner.is_empty() && !entry.group.is_empty();
        if named && (owner != entry.owner || group != entry.group) {
            why.push("owner");
        }
        why
    };
    match (entry.kind, remote) {
        (_, Remote::Missing) => vec!["missing"],
        (
            Kind::File,
            Remote::File {
                mode,
                owner,
                group,
                sha256,
            },
        ) => {
            let mut why = Vec::new();
            if sha256.is_none() || *sha256 != entry.sha256 {
                why.push("content");
            }
            why.extend(meta(*mode, owner, group));
            why
        }
        (Kind::Dir, Remote::Dir { mode, owner, group }) => meta(*mode, owner, group),
        (Kind::Symlink, Remote::Symlink { target }) => {
            if entry.target.as_deref() == Some(target.as_str()) {
                Vec::new()
            } else {
                vec!["target"]
            }
        }
        (Kind::Other, _) => Vec::new(),
        _ => vec!["type"],
    }
}

/// Shell commands that create or fix a directory.
pub fn dir_command(entry: &Entry) -> String {
    format!(
        "mkdir -p -- {} && {}",
        shell_quote(&entry.path),
        attrs_command(entry)
    )
}

/// Shell commands that set a path's mode and (when recorded) owner.
pub fn attrs_command(entry: &Entry) -> String {
    let p = shell_quote(&entry.path);
    let mut cmd = format!("chmod {:o} -- {p}", entry.mode);
    if !entry.owner.is_empty() && !entry.group.is_empty() {
        cmd.push_str(&format!(
            " && chown -- {} {p}",
            shell_quote(&format!("{}:{}", entry.owner, entry.group))
        ));
    }
    cmd
}

/// A shell command that points a symlink at its backed-up target,
/// atomically (a temporary link renamed over the path).
pub fn symlink_command(entry: &Entry, nonce: &str) -> String {
    let (dir, name) = entry
        .path
        .rsplit_once('/')
        .map(|(d, n)| (if d.is_empty() { "/" } else { d }, n))
        .unwrap_or((".", entry.path.as_str()));
    let tmp = shell_quote(&format!("{dir}/.{name}.herd-tmp-{nonce}"));
    let target = shell_quote(entry.target.as_deref().unwrap_or(""));
    format!(
        "ln -s -- {target} {tmp} && mv -Tf -- {tmp} {} || {{ rc=$?; rm -f -- {tmp}; exit $rc; }}",
        shell_quote(&entry.path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: u32, sha: &str) -> Entry {
        Entry {
            path: "/srv/a b".into(),
            kind: Kind::File,
            size: 1,
            mode,
            owner: "root".into(),
            group: "root".into(),
            sha256: Some(sha.into()),
            target: None,
        }
    }

    #[test]
    fn probe_lines_parse_and_compare() {
        let entry = file(0o640, "abc");
        let same = parse_probe("F 640 root root abc").unwrap();
        assert!(differences(&entry, &same).is_empty());
        let changed = parse_probe("F 4755 root adm def").unwrap();
        assert_eq!(differences(&entry, &changed), ["content", "mode", "owner"]);
        let unreadable = parse_probe("F 640 root root -").unwrap();
        assert_eq!(differences(&entry, &unreadable), ["content"]);
        assert_eq!(differences(&entry, &parse_probe("M").unwrap()), ["missing"]);
        assert_eq!(
            differences(&entry, &parse_probe("D 755 root root").unwrap()),
            ["type"]
        );
        assert_eq!(
            parse_probe("L ../x y").unwrap(),
            Remote::Symlink {
                target: "../x y".into()
            }
        );
        assert!(parse_probe("F nonsense").is_none());
    }

    #[test]
    fn commands_quote_paths() {
        assert_eq!(
            tar_command(&["/etc/app".into(), "/srv/my dir".into()]),
            "tar -C / --hard-dereference -czf - -- etc/app 'srv/my dir'"
        );
        let mut link = file(0o777, "");
        link.kind = Kind::Symlink;
        link.path = "/srv/current".into();
        link.target = Some("releases/1".into());
        assert_eq!(
            symlink_command(&link, "n1"),
            "ln -s -- releases/1 /srv/.current.herd-tmp-n1 && mv -Tf -- /srv/.current.herd-tmp-n1 /srv/current || { rc=$?; rm -f -- /srv/.current.herd-tmp-n1; exit $rc; }"
        );
    }
}
