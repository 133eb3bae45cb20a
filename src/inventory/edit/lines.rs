//! A file as a list of lines that can be spliced, for both formats.

/// The lines of a text file.
#[derive(Debug, Clone)]
pub(super) struct Lines {
    pub lines: Vec<String>,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n').map(str::to_string).collect()
        };
        Lines { lines }
    }

    /// Replaces lines `start..end` with `new`.
    pub fn splice(&mut self, start: usize, end: usize, new: Vec<String>) {
        self.lines.splice(start..end, new);
    }

    /// Lines appended at the end of the file, after a blank line when the
    /// file does not already end with one.
    pub fn append_block(&mut self, block: Vec<String>) {
        if self.lines.last().is_some_and(|l| !l.trim().is_empty()) {
            self.lines.push(String::new());
        }
        self.lines.extend(block);
    }

    pub fn text(&self) -> String {
        if self.lines.is_empty() {
            return String::new();
        }
        // A file without a final newline gets one: every line we add ends
        // with one, and POSIX tools expect it.
        self.lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_and_adds_a_missing_final_newline() {
        for text in ["", "a\n", "a\n\n# c\n", "a\n  b\n"] {
            assert_eq!(Lines::new(text).text(), text);
        }
        assert_eq!(Lines::new("a").text(), "a\n");
    }
}
