//! Output capping: a `cat` of a huge log on 10,000 hosts must not fill the
//! disk. The head of the output is kept and a visible marker says how much
//! was dropped, so nobody mistakes a truncated output for the whole thing.

use std::borrow::Cow;

/// Maximum bytes of stdout, and separately of stderr, stored per host and
/// run. The stored text is at most this plus the marker's length.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// Caps `text` at `cap` bytes, cutting at a UTF-8 character boundary and
/// appending "\n[... truncated by herd: N bytes omitted]". Returns whether
/// it cut.
pub fn cap_output(text: &str, cap: usize) -> (Cow<'_, str>, bool) {
    if text.len() <= cap {
        return (Cow::Borrowed(text), false);
    }
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let omitted = text.len() - cut;
    let capped = format!(
        "{}\n[... truncated by herd: {omitted} bytes omitted]",
        &text[..cut]
    );
    (Cow::Owned(capped), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(cap_output("hello\n", 6), (Cow::Borrowed("hello\n"), false));
    }

    #[test]
    fn long_output_is_cut_with_a_marker_counting_dropped_bytes() {
        let (text, cut) = cap_output("abcdefgh", 5);
        assert!(cut);
        assert_eq!(text, "abcde\n[... truncated by herd: 3 bytes omitted]");
    }

    #[test]
    fn cut_never_splits_a_character() {
        // "é" is two bytes: a cap of 2 falls inside the first "é".
        let (text, cut) = cap_output("aéé", 2);
        assert!(cut);
        assert_eq!(text, "a\n[... truncated by herd: 4 bytes omitted]");
    }
}
