//! A module's file change ([`FileDiff`]) as a unified diff with Ansible's
//! headers (`--- before: path` / `+++ after: path`), so admins see what
//! they are used to: in `--diff` output, `herd restore --diff`, and the
//! store's task results.

use similar::TextDiff;

use super::FileDiff;

/// Lines of context around each change, as Ansible (difflib) shows.
const CONTEXT: usize = 3;

/// The unified diff of one file's change; empty when nothing differs.
/// A missing side (file created or removed) diffs against empty text.
pub fn unified(diff: &FileDiff) -> String {
    let before = diff.before.as_deref().unwrap_or("");
    let after = diff.after.as_deref().unwrap_or("");
    if before == after {
        return String::new();
    }
    let before_header = match &diff.before {
        Some(_) => format!("before: {}", diff.path),
        None => "before".to_string(),
    };
    let after_header = match &diff.after {
        Some(_) => format!("after: {}", diff.path),
        None => "after".to_string(),
    };
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .header(&before_header, &after_header)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(before: Option<&str>, after: Option<&str>) -> FileDiff {
        FileDiff {
            path: "/etc/app.conf".into(),
            before: before.map(String::from),
            after: after.map(String::from),
        }
    }

    #[test]
    fn changed_line_with_ansible_headers() {
        let text = unified(&d(Some("a\nb\nc\n"), Some("a\nB\nc\n")));
        assert_eq!(
            text,
            "--- before: /etc/app.conf\n+++ after: /etc/app.conf\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn created_file_and_no_change() {
        let text = unified(&d(None, Some("x\n")));
        assert!(
            text.starts_with("--- before\n+++ after: /etc/app.conf\n"),
            "{text}"
        );
        assert!(text.contains("+x\n"));
        assert_eq!(unified(&d(Some("same\n"), Some("same\n"))), "");
    }

    #[test]
    fn missing_final_newline_is_marked() {
        let text = unified(&d(Some("a\n"), Some("a")));
        assert!(text.contains("No newline at end of file"), "{text}");
    }
}
