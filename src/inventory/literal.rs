//! Python literals, as Ansible's INI inventory types its values.
//!
//! Ansible (2.19, `plugins/inventory/ini.py` `_parse_value`) runs every INI
//! value, on host lines and in `[group:vars]`, through Python's
//! `ast.literal_eval` and keeps the text when that fails. So `30` is a
//! number, `True` a boolean, `None` null, `'30'` the string 30, `[1, 2]` a
//! list, `{'a': 1}` a dict, `1, 2` a list (a tuple), while `true`, `yes` and
//! `1+2` stay strings (they are not literals). Complex numbers and `...`
//! come back as their text, as Ansible converts them.

use serde_json::{Map, Number, Value};

/// `text` as `ast.literal_eval` reads it; `None` when it is not a literal.
pub(crate) fn eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
    };
    let value = p.tuple_or_value(true)?;
    p.skip_space();
    if p.i == p.s.len() { Some(value) } else { None }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Spaces, tabs and a trailing `# comment` (Python's tokenizer drops it).
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.i += 1,
                b'#' => self.i = self.s.len(),
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a, b` at the top level or inside parentheses is a tuple.
    fn tuple_or_value(&mut self, top: bool) -> Option<Value> {
        let first = self.value()?;
        if !self.eat(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        loop {
            self.skip_space();
            if self.peek().is_none() || (!top && self.peek() == Some(b')')) {
                break;
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                break;
            }
        }
        Some(Value::Array(items))
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_space();
        match self.peek()? {
            b'[' => {
                self.i += 1;
                Some(Value::Array(self.items(b']')?))
            }
            b'(' => {
                self.i += 1;
                if self.eat(b')') {
                    return Some(Value::Array(Vec::new()));
                }
                let v = self.tuple_or_value(false)?;
                self.eat(b')').then_some(v)
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            b'-' | b'+' => {
                let negative = self.peek() == Some(b'-');
                self.i += 1;
                self.skip_space();
                let start = self.i;
                let v = self.number()?;
                // `-1+2j` is complex: keep the text.
                if let Value::String(_) = v {
                    return Some(Value::String(
                        String::from_utf8_lossy(&self.s[start - 1..self.i]).into_owned(),
                    ));
                }
                Some(if negative { negate(v)? } else { v })
            }
            b'0'..=b'9' | b'.' => {
                if self.s[self.i..].starts_with(b"...") {
                    self.i += 3;
                    return Some(Value::String("...".into()));
                }
                self.number()
            }
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = &self.s[start..self.i];
                if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    self.i = start;
                    return self.strings();
                }
                match word {
                    b"True" => Some(Value::Bool(true)),
                    b"False" => Some(Value::Bool(false)),
                    b"None" => Some(Value::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated values up to `close` (a trailing comma is allowed).
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value()?;
        if !self.eat(b':') {
            // A set: a list for Ansible.
            let mut items = vec![first];
            if self.eat(b',') {
                items.extend(self.items(b'}')?);
            } else if !self.eat(b'}') {
                return None;
            }
            return Some(Value::Array(items));
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            let value = self.value()?;
            map.insert(key_text(key), value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            key = self.value()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            self.skip_space();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = self.s[start..self.i].to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) || !is_string_prefix(&prefix) {
                self.i = start;
                break;
            }
            out.push_str(&self.string(prefix.contains(&b'r'))?);
        }
        Some(Value::String(out))
    }

    fn string(&mut self, raw: bool) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[quote; 3]);
        let delim_len = if triple { 3 } else { 1 };
        self.i += delim_len;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            if c == quote && (!triple || self.s[self.i..].starts_with(&[quote; 3])) {
                self.i += delim_len;
                return String::from_utf8(out).ok();
            }
            if c == b'\n' && !triple {
                return None;
            }
            self.i += 1;
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                out.extend([b'\\', e]);
                continue;
            }
            let mut push = |ch: char| out.extend(ch.encode_utf8(&mut [0; 4]).as_bytes());
            match e {
                b'\n' => {}
                b'n' => push('\n'),
                b't' => push('\t'),
                b'r' => push('\r'),
                b'a' => push('\x07'),
                b'b' => push('\x08'),
                b'f' => push('\x0c'),
                b'v' => push('\x0b'),
                b'\\' | b'\'' | b'"' => push(e as char),
                b'0'..=b'7' => {
                    let mut n = u32::from(e - b'0');
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                n = n * 8 + u32::from(d - b'0');
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    push(char::from_u32(n)?);
                }
                b'x' | b'u' | b'U' => {
                    let len = match e {
                        b'x' => 2,
                        b'u' => 4,
                        _ => 8,
                    };
                    let hex = std::str::from_utf8(self.s.get(self.i..self.i + len)?).ok()?;
                    self.i += len;
                    push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                }
                // Python keeps unknown escapes as written.
                other => {
                    push('\\');
                    push(other as char);
                }
            }
        }
    }

    /// An int or float; a complex number comes back as its text.
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            || (self.i > start
                && matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s[self.i - 1], b'e' | b'E')
                && !self.s[start..].starts_with(b"0x"))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if text.ends_with(['j', 'J']) {
            // Complex: Ansible keeps its text.
            parse_float(&text[..text.len() - 1])?;
            return Some(Value::String(text.to_string()));
        }
        let (digits, radix) = match text.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("0x") => (&text[2..], 16),
            Some("0o") => (&text[2..], 8),
            Some("0b") => (&text[2..], 2),
            _ => (text, 10),
        };
        if radix == 10 && text.contains(['.', 'e', 'E']) {
            return parse_float(text).map(Value::from);
        }
        if !valid_underscores(digits) {
            return None;
        }
        let clean = digits.replace('_', "");
        // `007` is a syntax error in Python 3; `000` is fine.
        if radix == 10
            && clean.len() > 1
            && clean.starts_with('0')
            && !clean.trim_matches('0').is_empty()
        {
            return None;
        }
        match i64::from_str_radix(&clean, radix) {
            Ok(n) => Some(n.into()),
            Err(_) => match u64::from_str_radix(&clean, radix) {
                Ok(n) => Some(n.into()),
                // Beyond 64 bits: a float, the nearest JSON has.
                Err(_) if radix == 10 && clean.bytes().all(|c| c.is_ascii_digit()) => {
                    clean.parse::<f64>().ok().map(Value::from)
                }
                Err(_) => None,
            },
        }
    }
}

fn is_string_prefix(word: &[u8]) -> bool {
    matches!(
        word.to_ascii_lowercase().as_slice(),
        b"" | b"r" | b"u" | b"b" | b"br" | b"rb"
    )
}

fn valid_underscores(digits: &str) -> bool {
    !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
}

fn parse_float(text: &str) -> Option<f64> {
    let mantissa_end = text.find(['e', 'E']).unwrap_or(text.len());
    let (mantissa, exponent) = text.split_at(mantissa_end);
    let ok = mantissa
        .split('.')
        .all(|p| p.is_empty() || valid_underscores(p))
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'_' || c == b'.')
        && mantissa.matches('.').count() <= 1
        && (exponent.is_empty() || {
            let e = exponent[1..].trim_start_matches(['+', '-']);
            valid_underscores(e) && e.bytes().all(|c| c.is_ascii_digit() || c == b'_')
        });
    if !ok {
        return None;
    }
    text.replace('_', "")
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

fn negate(v: Value) -> Option<Value> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return Some(
            i.checked_neg()
                .map_or_else(|| (-(i as f64)).into(), Value::from),
        );
    }
    if let Some(u) = n.as_u64() {
        return Some(Value::from(-(u as f64)));
    }
    n.as_f64()
        .and_then(|f| Number::from_f64(-f))
        .map(Value::Number)
}

/// JSON keys are strings; Python's may be numbers or booleans.
fn key_text(key: Value) -> String {
    match key {
        Value::String(s) => s,
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(text: &str) -> Value {
        eval(text).unwrap_or_else(|| Value::String(text.into()))
    }

    #[test]
    fn literals_are_typed_as_python_reads_them() {
        assert_eq!(typed("30"), json!(30));
        assert_eq!(typed("-5"), json!(-5));
        assert_eq!(typed("1_000"), json!(1000));
        assert_eq!(typed("0x1F"), json!(31));
        assert_eq!(typed("0.5"), json!(0.5));
        assert_eq!(typed("1e3"), json!(1000.0));
        assert_eq!(typed("True"), json!(true));
        assert_eq!(typed("False"), json!(false));
        assert_eq!(typed("None"), Value::Null);
        assert_eq!(typed("'30'"), json!("30"));
        assert_eq!(typed("\"a\\tb\""), json!("a\tb"));
        assert_eq!(typed("r'a\\tb'"), json!("a\\tb"));
        assert_eq!(typed("'a' \"b\""), json!("ab"));
        assert_eq!(typed("[1, 'two', [3]]"), json!([1, "two", [3]]));
        assert_eq!(typed("(1,)"), json!([1]));
        assert_eq!(typed("1, 2"), json!([1, 2]));
        assert_eq!(typed("{'a': 1, 2: None,}"), json!({"a": 1, "2": null}));
        assert_eq!(typed("{1, 2}"), json!([1, 2]));
        assert_eq!(typed("30 # thirty"), json!(30));
        assert_eq!(typed("..."), json!("..."));
        assert_eq!(typed("2j"), json!("2j"));
    }

    #[test]
    fn what_is_not_a_literal_stays_text() {
        for text in [
            "true",
            "yes",
            "no",
            "on",
            "abc",
            "1+2",
            "007",
            "1.2.3",
            "10.0.0.1",
            "/etc/x",
            "'open",
            "[1, 2",
            "{'a' 1}",
            "a b",
            "--5",
            "1__0",
            "",
            "http://x:80/",
        ] {
            assert_eq!(eval(text), None, "{text}");
        }
    }
}
