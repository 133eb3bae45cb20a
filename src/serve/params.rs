//! Reading a request's path and query string. Anything malformed is a
//! [`BadRequest`] that says what was wrong, answered with 400: a browser's
//! typo must never reach a panic or an SQL error.

use std::collections::HashMap;

/// A request the server will not answer, and why (shown to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// The query string's parameters, checked against the names a page knows.
#[derive(Debug, Default)]
pub struct Query {
    values: HashMap<String, String>,
}

impl Query {
    /// Parses `a=1&b=x+y`; every name must be in `known`, at most once.
    pub fn parse(query: Option<&str>, known: &[&str]) -> Result<Query, BadRequest> {
        let mut values = HashMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name, true)?;
            let value = decode(value, true)?;
            if !known.contains(&name.as_str()) {
                return Err(BadRequest(if known.is_empty() {
                    format!("unknown parameter `{name}`: this page takes none")
                } else {
                    format!(
                        "unknown parameter `{name}`: this page takes {}",
                        known.join(", ")
                    )
                }));
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(BadRequest(format!("parameter `{name}` is given twice")));
            }
        }
        Ok(Query { values })
    }

    /// A parameter's value; an empty value counts as not given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A positive count no larger than `max`, or `default`.
    pub fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, BadRequest> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(BadRequest(format!(
                "`{name}={text}` is not a count: give a whole number from 1 to {max}"
            ))),
        }
    }

    /// The chart range: `1h`, `24h`, `7d` or `30d` (default 24h), in seconds.
    pub fn range(&self) -> Result<Range, BadRequest> {
        let text = self.get("range").unwrap_or("24h");
        RANGES
            .iter()
            .find(|r| r.name == text)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = RANGES.iter().map(|r| r.name).collect();
                BadRequest(format!(
                    "`range={text}` is not a range: give one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A chart span offered by the range picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Range {
    pub name: &'static str,
    pub seconds: i64,
}

pub const RANGES: [Range; 4] = [
    Range {
        name: "1h",
        seconds: 3600,
    },
    Range {
        name: "24h",
        seconds: 86_400,
    },
    Range {
        name: "7d",
        seconds: 7 * 86_400,
    },
    Range {
        name: "30d",
        seconds: 30 * 86_400,
    },
];

/// Percent-decodes `text` (and `+` as a space in a query); the result must
/// be UTF-8 without control characters.
pub fn decode(text: &str, plus_is_space: bool) -> Result<String, BadRequest> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        BadRequest(format!("`{text}` has a bad %-escape: write %XX in hex"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out)
        .map_err(|_| BadRequest(format!("`{text}` is not UTF-8 once decoded")))?;
    if text.chars().any(char::is_control) {
        return Err(BadRequest(
            "control characters are not allowed in names or values".into(),
        ));
    }
    Ok(text)
}

/// Percent-encodes a path segment or query value (host and metric names).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_decode_and_unknown_ones_are_refused() {
        let q = Query::parse(
            Some("pattern=web%3A%26prod&range=7d"),
            &["pattern", "range"],
        )
        .unwrap();
        assert_eq!(q.get("pattern"), Some("web:&prod"));
        assert_eq!(q.range().unwrap().seconds, 7 * 86_400);
        let err = Query::parse(Some("patern=web"), &["pattern"]).unwrap_err();
        assert_eq!(err.0, "unknown parameter `patern`: this page takes pattern");
        let err = Query::parse(Some("range=1h&range=7d"), &["range"]).unwrap_err();
        assert!(err.0.contains("given twice"), "{err:?}");
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let q = Query::parse(Some("range=2w&limit=0"), &["range", "limit"]).unwrap();
        assert_eq!(
            q.range().unwrap_err().0,
            "`range=2w` is not a range: give one of 1h, 24h, 7d, 30d"
        );
        assert!(
            q.count("limit", 50, 500)
                .unwrap_err()
                .0
                .contains("from 1 to 500")
        );
        let q = Query::parse(Some("limit=99999999999999999999999"), &["limit"]).unwrap();
        assert!(q.count("limit", 50, 500).is_err());
        assert!(decode("%zz", false).is_err());
        assert!(decode("%ff", false).is_err());
        assert!(decode("a%0Ab", false).is_err());
        assert_eq!(decode("a+b%2Fc", true).unwrap(), "a b/c");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
    }

    #[test]
    fn encoding_round_trips() {
        for name in ["disk./.used_pct", "web 1", "é&x"] {
            assert_eq!(decode(&encode(name), false).unwrap(), name);
        }
        assert_eq!(encode("disk./.used_pct"), "disk.%2F.used_pct");
    }
}
