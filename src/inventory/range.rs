//! Host ranges, Ansible's way: `web[01:20].example.com` (leading zeros
//! kept), `db-[a:f]`, strides `[1:10:2]`; several ranges in one name
//! multiply. Both ends are inclusive.

/// How many hosts the ranges of one inventory file may expand to in all:
/// herd is built for fleets of up to 10,000 hosts, and `h[1:100000000]`
/// would take gigabytes before anything could be said about it.
pub(crate) const MAX_RANGE_HOSTS: u64 = 100_000;

/// The hosts ranges may still make in the file being read.
#[derive(Debug)]
pub(crate) struct RangeBudget {
    left: u64,
}

impl Default for RangeBudget {
    fn default() -> RangeBudget {
        RangeBudget {
            left: MAX_RANGE_HOSTS,
        }
    }
}

/// Expands every `[start:end(:stride)]` in `name`; a name without a range
/// is returned as is. Errors explain what is wrong with the range, or that
/// it would go past the budget.
pub(crate) fn expand(name: &str, budget: &mut RangeBudget) -> Result<Vec<String>, String> {
    let pieces = parse(name)?;
    let count = pieces
        .iter()
        .try_fold(1u64, |n, p| n.checked_mul(p.len()))
        .unwrap_or(u64::MAX);
    if pieces.iter().any(|p| matches!(p, Piece::Range(_))) {
        if count > budget.left {
            return Err(format!(
                "`{name}` expands to {count} hosts, past the limit of {MAX_RANGE_HOSTS} hosts from ranges in one inventory file; narrow the range"
            ));
        }
        budget.left -= count;
    }
    let mut out = vec![String::new()];
    for piece in &pieces {
        out = match piece {
            Piece::Text(text) => out.into_iter().map(|head| head + text).collect(),
            Piece::Range(range) => out
                .iter()
                .flat_map(|head| range.items().map(move |item| format!("{head}{item}")))
                .collect(),
        };
    }
    Ok(out)
}

/// A host name cut at its ranges.
enum Piece<'a> {
    Text(&'a str),
    Range(Range),
}

impl Piece<'_> {
    fn len(&self) -> u64 {
        match self {
            Piece::Text(_) => 1,
            Piece::Range(range) => range.len(),
        }
    }
}

fn parse(name: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|i| open + i) else {
            return Err(format!("`{name}`: `[` without a closing `]`"));
        };
        let inner = &rest[open + 1..close];
        if !inner.contains(':') {
            // Not a range (an IPv6 address or a glob-like name): keep it.
            pieces.push(Piece::Text(&rest[..=close]));
        } else {
            pieces.push(Piece::Text(&rest[..open]));
            pieces.push(Piece::Range(
                Range::parse(inner).map_err(|e| format!("`{name}`: {e}"))?,
            ));
        }
        rest = &rest[close + 1..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// The text between the brackets: `01:20`, `a:f`, `1:10:2`.
struct Range {
    start: u64,
    end: u64,
    stride: u64,
    /// Letters (`a:f`) rather than numbers.
    letters: bool,
    /// Zero-padded width (`01:20`), 0 for none.
    width: usize,
}

impl Range {
    fn parse(inner: &str) -> Result<Range, String> {
        let parts: Vec<&str> = inner.split(':').map(str::trim).collect();
        let (start, end, stride) = match parts.as_slice() {
            [s, e] => (*s, *e, 1),
            [s, e, step] => {
                let step: u64 =
                    step.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("range stride `{step}` must be a positive number")
                    })?;
                (*s, *e, step)
            }
            _ => {
                return Err(format!(
                    "range `[{inner}]` must be [start:end] or [start:end:stride]"
                ));
            }
        };
        let start = if start.is_empty() { "0" } else { start };
        if is_letter(start) && is_letter(end) {
            let (a, b) = (start.as_bytes()[0], end.as_bytes()[0]);
            if a > b {
                return Err(format!("range `[{inner}]` runs backwards"));
            }
            return Ok(Range {
                start: a.into(),
                end: b.into(),
                stride,
                letters: true,
                width: 0,
            });
        }
        let (Ok(a), Ok(b)) = (start.parse::<u64>(), end.parse::<u64>()) else {
            return Err(format!(
                "range `[{inner}]` needs two numbers (`[01:20]`) or two letters (`[a:f]`)"
            ));
        };
        if a > b {
            return Err(format!("range `[{inner}]` runs backwards"));
        }
        // `[01:20]` keeps its width; `[1:20]` does not pad.
        let width = if start.len() > 1 && start.starts_with('0') {
            if start.len() != end.len() {
                return Err(format!(
                    "range `[{inner}]`: zero-padded ends must have the same width, e.g. [01:20]"
                ));
            }
            start.len()
        } else {
            0
        };
        Ok(Range {
            start: a,
            end: b,
            stride,
            letters: false,
            width,
        })
    }

    fn len(&self) -> u64 {
        (self.end - self.start) / self.stride + 1
    }

    fn items(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.len()).map(|i| {
            let n = self.start + i * self.stride;
            match self.letters {
                true => char::from(n as u8).to_string(),
                false => format!("{n:0width$}", width = self.width),
            }
        })
    }
}

fn is_letter(s: &str) -> bool {
    s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_leading_zeros() {
        let hosts = expand("web[01:12].example.com", &mut RangeBudget::default()).unwrap();
        assert_eq!(hosts.len(), 12);
        assert_eq!(hosts[0], "web01.example.com");
        assert_eq!(hosts[11], "web12.example.com");
        assert_eq!(
            expand("n[8:10]", &mut RangeBudget::default()).unwrap(),
            ["n8", "n9", "n10"]
        );
    }

    #[test]
    fn letters_strides_and_several_ranges() {
        assert_eq!(
            expand("db-[a:c]", &mut RangeBudget::default()).unwrap(),
            ["db-a", "db-b", "db-c"]
        );
        assert_eq!(
            expand("h[1:9:4]", &mut RangeBudget::default()).unwrap(),
            ["h1", "h5", "h9"]
        );
        assert_eq!(
            expand("r[1:2]c[a:b]", &mut RangeBudget::default()).unwrap(),
            ["r1ca", "r1cb", "r2ca", "r2cb"]
        );
        assert_eq!(
            expand("plain.example.com", &mut RangeBudget::default()).unwrap(),
            ["plain.example.com"]
        );
    }

    #[test]
    fn bad_ranges_are_explained() {
        assert!(
            expand("h[5:1]", &mut RangeBudget::default())
                .unwrap_err()
                .contains("backwards")
        );
        assert!(
            expand("h[01:100]", &mut RangeBudget::default())
                .unwrap_err()
                .contains("same width")
        );
        assert!(
            expand("h[1:x]", &mut RangeBudget::default())
                .unwrap_err()
                .contains("two numbers")
        );
        assert!(
            expand("h[1:3", &mut RangeBudget::default())
                .unwrap_err()
                .contains("closing")
        );
    }

    #[test]
    fn ranges_in_one_file_share_a_budget() {
        let mut budget = RangeBudget::default();
        assert_eq!(expand("a[1:60000]", &mut budget).unwrap().len(), 60_000);
        assert_eq!(expand("plain", &mut budget).unwrap(), ["plain"]);
        let err = expand("b[1:40001]", &mut budget).unwrap_err();
        assert!(
            err.contains("40001 hosts") && err.contains("100000"),
            "{err}"
        );
        assert_eq!(expand("b[1:40000]", &mut budget).unwrap().len(), 40_000);
        let err = expand("h[1:100000000]x[1:100000000]y[0:99999999999]", &mut budget).unwrap_err();
        assert!(err.contains(&u64::MAX.to_string()), "{err}");
    }
}

/// A host entry as inventories write it: a name or range, optionally with
/// `:port` (`web[1:3]:2222`, `[2001:db8::1]:22`). Returns each host with
/// its port.
pub(crate) fn host_entries(
    entry: &str,
    budget: &mut RangeBudget,
) -> Result<Vec<(String, Option<u16>)>, String> {
    let entry = entry.trim();
    if entry.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(vec![(entry.to_string(), None)]);
    }
    let (name, port) = split_port(entry)?;
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'))
        && inner.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return Ok(vec![(inner.to_string(), port)]);
    }
    let hosts = expand(name, budget)?;
    for host in &hosts {
        check_host_name(host)?;
    }
    Ok(hosts.into_iter().map(|h| (h, port)).collect())
}

/// Refuses a host name that is not one plain path component: herd makes
/// directories named after hosts (fetch's `dest/<host>/`, backups), so
/// `../../x` or `/etc` must never be one.
pub(crate) fn check_host_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        "is empty"
    } else if name == "." || name == ".." {
        "is a path (`.` or `..`)"
    } else if name.contains('/') {
        "contains `/`"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(format!(
        "host name `{}` {problem}; herd uses host names as directory names, so a name must be one plain word (use ansible_host for the address)",
        name.escape_debug()
    ))
}

/// Splits `name:port` where the colon is outside brackets.
fn split_port(entry: &str) -> Result<(&str, Option<u16>), String> {
    let mut depth = 0i32;
    let mut colon = None;
    for (i, c) in entry.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                if colon.is_some() {
                    return Ok((entry, None));
                }
                colon = Some(i);
            }
            _ => {}
        }
    }
    let Some(i) = colon else {
        return Ok((entry, None));
    };
    let port = &entry[i + 1..];
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{entry}`: `{port}` is not a port number (1-65535)"))?;
    Ok((&entry[..i], Some(port)))
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn ports_and_ipv6_addresses() {
        assert_eq!(
            host_entries("badwolf.example.com:5309", &mut RangeBudget::default()).unwrap(),
            [("badwolf.example.com".to_string(), Some(5309))]
        );
        assert_eq!(
            host_entries("w[1:2]:22", &mut RangeBudget::default())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            host_entries("2001:db8::1", &mut RangeBudget::default()).unwrap(),
            [("2001:db8::1".to_string(), None)]
        );
        assert_eq!(
            host_entries("[2001:db8::1]:2222", &mut RangeBudget::default()).unwrap(),
            [("2001:db8::1".to_string(), Some(2222))]
        );
        assert!(
            host_entries("h:abc", &mut RangeBudget::default())
                .unwrap_err()
                .contains("not a port")
        );
        for bad in ["..", "../../x", "a/b", "", "w\u{7}"] {
            let err = host_entries(bad, &mut RangeBudget::default()).unwrap_err();
            assert!(err.contains("host name"), "{bad}: {err}");
        }
    }
}
