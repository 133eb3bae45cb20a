//! The process-wide set of secret values and the mask that replaces them.
//!
//! Every leaf of a decrypted vars file is registered here at load time
//! (strings, and numbers by their text: a PIN is a secret too), and so is
//! the `-K` become password; everything herd prints, logs or stores passes
//! through [`redact`]. Values shorter than [`MIN_LEN`] characters are not
//! registered: masking "on" or "80" would blank out unrelated output; for
//! the same reason booleans are never masked (hiding every "true" would
//! hide the output, and a boolean tells little). Multi-line values are
//! also registered line by line, so a diff (which prefixes each line) still
//! hides them.
//!
//! A secret is also masked in the forms herd itself turns it into: JSON
//! escaping (`--format json`, `to_json` with its `\uXXXX` escapes), shell
//! quoting (`quote`), base64 (`b64encode`), and each of those JSON-escaped
//! once more (a `to_json` result inside `--format json`). Other
//! transformations (`upper`, `hash`, slicing...) are not recognised. What
//! reaches the managed hosts is never masked.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

use base64::Engine;

/// What a secret value is replaced with.
pub const MASK: &str = "********";

/// Shorter values are not treated as secrets (see the module docs).
pub const MIN_LEN: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds a secret value, with the forms herd's output and filters give it.
pub fn register(value: &str) {
    let mut candidates = vec![value.to_string()];
    if value.contains('\n') {
        candidates.extend(value.lines().map(|l| l.trim().to_string()));
    }
    let mut set = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for candidate in candidates {
        if candidate.trim().chars().count() < MIN_LEN {
            continue;
        }
        for form in forms(&candidate) {
            for v in [json_escaped(&form), form] {
                if !set.contains(&v) {
                    set.push(v);
                }
            }
        }
    }
    // Longest first, so a secret containing another is masked whole.
    set.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `secret` as it is, and as herd's own escapes write it (see the module docs).
fn forms(secret: &str) -> Vec<String> {
    use crate::template::filters::{data, strings};
    let python_json = data::json_string(secret);
    let quoted = strings::quote(&minijinja::Value::from(secret)).unwrap_or_default();
    vec![
        secret.to_string(),
        json_escaped(secret),
        python_json[1..python_json.len() - 1].to_string(),
        // The part of `'...'` that holds the secret.
        quoted
            .strip_prefix('\'')
            .and_then(|q| q.strip_suffix('\''))
            .unwrap_or(&quoted)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
    ]
}

/// `s` as it appears inside a JSON string.
fn json_escaped(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_default();
    json[1..json.len() - 1].to_string()
}

/// Registers every leaf of a decrypted vars value: strings, and numbers
/// by their text (booleans are not masked, see the module docs).
pub fn register_leaves(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => register(s),
        serde_json::Value::Number(n) => register(&n.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(register_leaves),
        serde_json::Value::Object(map) => map.values().for_each(register_leaves),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let set = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in set.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// [`redact`] for an optional string (store columns).
pub fn redact_opt(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(redact)
}

/// A writer that collects everything and writes it, redacted, on
/// [`Redacted::finish`] (or drop). Formatting splits text into many small
/// writes, so a secret could straddle two of them; buffering avoids that.
pub struct Redacted<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Redacted<W> {
    pub fn new(inner: W) -> Self {
        Redacted {
            inner,
            buf: Vec::new(),
        }
    }

    /// Writes out what was collected; errors are reported here.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.write_out()
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let text = String::from_utf8_lossy(&buf);
        self.inner.write_all(redact(&text).as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for Redacted<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    /// Flushing keeps collecting: output goes out on `finish`/drop only.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for Redacted<W> {
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

/// A writer that redacts each write and passes it on at once: for live
/// output that writes each event whole, in one write (a secret split over
/// two writes would not be caught).
pub struct Live<W: Write>(W);

impl<W: Write> Write for Live<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(data);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Standard output for live printers, redacted write by write.
pub fn live_stdout() -> Live<std::io::Stdout> {
    Live(std::io::stdout())
}

/// Standard output, redacted.
pub fn stdout() -> Redacted<std::io::StdoutLock<'static>> {
    Redacted::new(std::io::stdout().lock())
}

/// Standard error for logs: each log event is one write, redacted.
pub fn stderr() -> Redacted<std::io::Stderr> {
    Redacted::new(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_values_long_enough() {
        register("hunter2-redact-test");
        register("ab");
        register("line-one-secret\nline-two-secret\n");
        register("quote\"d-secret");
        assert_eq!(redact("pw=hunter2-redact-test;"), format!("pw={MASK};"));
        assert_eq!(redact("ab cd"), "ab cd");
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(redact("+line-two-secret"), format!("+{MASK}"));
        let json = serde_json::to_string("x quote\"d-secret").unwrap();
        assert!(!redact(&json).contains("d-secret"), "{json}");
    }

    #[test]
    fn numbers_and_the_forms_herd_escapes_a_secret_into_are_masked() {
        register_leaves(&serde_json::json!({"pin": 73519246, "on": true, "pw": "it's-é-forms"}));
        assert_eq!(redact("pin=73519246"), format!("pin={MASK}"));
        assert_eq!(redact("on: true"), "on: true", "booleans are not masked");
        for shown in [
            r#"'it'"'"'s-é-forms'"#,  // | quote
            r#""it's-é-forms""#,      // | to_json
            r#""it's-\u00e9-forms""#, // | to_json, inside --format json
            "aXQncy3DqS1mb3Jtcw==",   // | b64encode
        ] {
            assert!(!redact(shown).contains("forms"), "{shown}");
            assert!(!redact(shown).contains("aXQncy"), "{shown}");
        }
    }

    #[test]
    fn writer_masks_secrets_split_across_writes() {
        register("split-secret-value");
        let mut out = Vec::new();
        {
            let mut w = Redacted::new(&mut out);
            let (head, tail) = ("split-secret", "-value");
            write!(w, "a {head}{tail} b").unwrap();
            w.finish().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), format!("a {MASK} b"));
    }
}
