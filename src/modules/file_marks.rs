//! What herd last saw of the files it hashed on each host, so a rerun need
//! not hash an unchanged file again (rsync's "quick check", made stronger).
//!
//! A mark is a file's identity, `size mtime ctime dev inode` with the times
//! to the nanosecond, as `stat` printed it when herd hashed the file, and
//! the SHA-1 it found. The next probe of that path sends the mark along and
//! the host prints the recorded SHA-1 instead of hashing only if `stat`
//! prints the same identity. Any write to the file, through any name,
//! moves its ctime, which no program can set back; a new file in its place
//! has another inode. Files whose ctime has no nanoseconds (a filesystem
//! with coarse timestamps, where a write within the same second could
//! keep it) are never marked.
//!
//! The marks live in the store between runs (loaded before a play, the new
//! ones saved after it); they are only ever a shortcut: a lost mark costs
//! one hash, and one that no longer matches is ignored.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// One file's mark (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMark {
    /// `size mtime ctime dev inode`, as `stat -c '%s %.9Y %.9Z %d %i'`.
    pub identity: String,
    /// Lower-case hex SHA-1 of the content.
    pub sha1: String,
}

impl FileMark {
    /// A mark fit to be sent back to a host inside a shell command: the
    /// identity is digits, dots and single spaces with nanosecond times,
    /// the SHA-1 is 40 hex digits. Anything else (a store edited by hand) is
    /// dropped.
    pub fn new(identity: String, sha1: String) -> Option<FileMark> {
        let fields: Vec<&str> = identity.split(' ').collect();
        let numeric =
            |f: &&str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        let fine_ctime = fields.get(2).is_some_and(|c| has_nanoseconds(c));
        let hex = sha1.len() == 40 && sha1.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (fields.len() == 5 && fields.iter().all(numeric) && fine_ctime && hex)
            .then_some(FileMark { identity, sha1 })
    }
}

/// A `%.9Z` time whose nanoseconds are not all zero: the filesystem keeps
/// fine timestamps.
fn has_nanoseconds(time: &str) -> bool {
    time.split_once('.')
        .is_some_and(|(_, ns)| ns.len() == 9 && ns.bytes().any(|b| b != b'0'))
}

/// Every host's marks for one play: read by probes, added to when a probe
/// hashed a file or herd wrote one.
#[derive(Debug, Default)]
pub struct FileMarks {
    inner: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    by_host: HashMap<String, HashMap<String, FileMark>>,
    /// (host, path) of the marks made during this play, to be saved.
    made: HashSet<(String, String)>,
}

impl FileMarks {
    /// Marks as the store holds them: (host, path, mark).
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, FileMark)>) -> FileMarks {
        let mut marks = Marks::default();
        for (host, path, mark) in rows {
            marks.by_host.entry(host).or_default().insert(path, mark);
        }
        FileMarks {
            inner: Mutex::new(marks),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mark of `path` on `host`, if herd has one.
    pub fn get(&self, host: &str, path: &str) -> Option<FileMark> {
        self.lock().by_host.get(host)?.get(path).cloned()
    }

    /// Records that `path` on `host` has `mark` now.
    pub fn record(&self, host: &str, path: &str, mark: FileMark) {
        let mut marks = self.lock();
        let paths = marks.by_host.entry(host.to_string()).or_default();
        if paths.get(path) != Some(&mark) {
            paths.insert(path.to_string(), mark);
            marks.made.insert((host.to_string(), path.to_string()));
        }
    }

    /// The marks made during this play (host, path, mark), once each.
    pub fn made(&self) -> Vec<(String, String, FileMark)> {
        let mut marks = self.lock();
        let made = std::mem::take(&mut marks.made);
        made.into_iter()
            .filter_map(|(host, path)| {
                let mark = marks.by_host.get(&host)?.get(&path)?.clone();
                Some((host, path, mark))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "e5fa44f2b31c1fb553b6021e7360d07d5d91ff5e";

    #[test]
    fn only_fine_numeric_identities_and_hex_sums_are_marks() {
        let ok = "12 1733390000.123456789 1733390001.000000001 2049 131";
        assert!(FileMark::new(ok.into(), SHA1.into()).is_some());
        // A filesystem with whole-second times: never trusted.
        let coarse = "12 1733390000.000000000 1733390001.000000000 2049 131";
        assert!(FileMark::new(coarse.into(), SHA1.into()).is_none());
        let injected = "12 1733390000.1 1733390001.123456789 2049 131'; rm -rf /'";
        assert!(FileMark::new(injected.into(), SHA1.into()).is_none());
        assert!(FileMark::new(ok.into(), "E5FA44F2".into()).is_none());
        assert!(FileMark::new(ok.into(), format!("{SHA1}'")).is_none());
    }

    #[test]
    fn marks_made_in_a_play_are_listed_once_and_old_ones_not_at_all() {
        let mark = |n: &str| {
            FileMark::new(format!("1 2.000000001 3.00000000{n} 4 5"), SHA1.into()).unwrap()
        };
        let marks = FileMarks::from_rows([("h1".into(), "/old".into(), mark("1"))]);
        assert_eq!(marks.get("h1", "/old"), Some(mark("1")));
        marks.record("h1", "/old", mark("1"));
        marks.record("h2", "/new", mark("2"));
        marks.record("h2", "/new", mark("3"));
        assert_eq!(
            marks.made(),
            vec![("h2".to_string(), "/new".to_string(), mark("3"))]
        );
        assert!(marks.made().is_empty());
    }
}
