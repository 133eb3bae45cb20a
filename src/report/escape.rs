//! Host output on a terminal: a host's text must not drive the admin's
//! terminal (move the cursor, rewrite earlier lines, set the title, hide
//! text behind `\r`). Control characters other than newline and tab are
//! shown as visible escapes, as clush and OpenSSH's logging do. Only text
//! printed to a terminal is escaped: `--format json` keeps the text as
//! sent (JSON-escaped) and so does the store.

use std::borrow::Cow;

/// `text` with control characters other than `\n` and `\t` written as
/// `\r`, `\x1b`, `\u{9b}`.
pub fn controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if is_escaped(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_escaped(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `controls(text)` when `terminal`, else `text` as it is.
pub fn for_terminal(text: &str, terminal: bool) -> Cow<'_, str> {
    if terminal {
        controls(text)
    } else {
        Cow::Borrowed(text)
    }
}

fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_become_visible() {
        assert_eq!(
            controls("ok\x1b]0;pwned\x07\r\n\tdel\x7f \u{9b}2J é"),
            "ok\\x1b]0;pwned\\x07\\r\n\tdel\\x7f \\u{9b}2J é"
        );
        assert!(matches!(controls("plain\n\ttext ✓"), Cow::Borrowed(_)));
        assert_eq!(for_terminal("\x1b[2J", false), "\x1b[2J");
    }
}
