//! Host ranges, Ansible's way: `web[01:20].example.com` (leading zeros
//! kept), `db-[a:f]`, strides `[1:10:2]`; several ranges in one name
//! multiply. Both ends are inclusive.

/// Expands every `[start:end(:stride)]` in `name`; a name without a range
/// is returned as is. Errors explain what is wrong with the range.
pub(crate) fn expand(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_string()]);
    };
    let Some(close) = name[open..].find(']').map(|i| open + i) else {
        return Err(format!("`{name}`: `[` without a closing `]`"));
    };
    let inner = &name[open + 1..close];
    if !inner.contains(':') {
        // Not a range (an IPv6 address or a glob-like name): keep it.
        return Ok(vec![name.to_string()]);
    }
    let (head, tail) = (&name[..open], &name[close + 1..]);
    let mut out = Vec::new();
    for middle in expand_one(inner).map_err(|e| format!("`{name}`: {e}"))? {
        for rest in expand(tail)? {
            out.push(format!("{head}{middle}{rest}"));
        }
    }
    Ok(out)
}

/// Expands the text between the brackets: `01:20`, `a:f`, `1:10:2`.
fn expand_one(inner: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inner.split(':').map(str::trim).collect();
    let (start, end, stride) = match parts.as_slice() {
        [s, e] => (*s, *e, 1),
        [s, e, step] => {
            let step: usize = step
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("range stride `{step}` must be a positive number"))?;
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
        return Ok((a..=b)
            .step_by(stride)
            .map(|c| (c as char).to_string())
            .collect());
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
    Ok((a..=b)
        .step_by(stride)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

fn is_letter(s: &str) -> bool {
    s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_leading_zeros() {
        let hosts = expand("web[01:12].example.com").unwrap();
        assert_eq!(hosts.len(), 12);
        assert_eq!(hosts[0], "web01.example.com");
        assert_eq!(hosts[11], "web12.example.com");
        assert_eq!(expand("n[8:10]").unwrap(), ["n8", "n9", "n10"]);
    }

    #[test]
    fn letters_strides_and_several_ranges() {
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("h[1:9:4]").unwrap(), ["h1", "h5", "h9"]);
        assert_eq!(
            expand("r[1:2]c[a:b]").unwrap(),
            ["r1ca", "r1cb", "r2ca", "r2cb"]
        );
        assert_eq!(expand("plain.example.com").unwrap(), ["plain.example.com"]);
    }

    #[test]
    fn bad_ranges_are_explained() {
        assert!(expand("h[5:1]").unwrap_err().contains("backwards"));
        assert!(expand("h[01:100]").unwrap_err().contains("same width"));
        assert!(expand("h[1:x]").unwrap_err().contains("two numbers"));
        assert!(expand("h[1:3").unwrap_err().contains("closing"));
    }
}

/// A host entry as inventories write it: a name or range, optionally with
/// `:port` (`web[1:3]:2222`, `[2001:db8::1]:22`). Returns each host with
/// its port.
pub(crate) fn host_entries(entry: &str) -> Result<Vec<(String, Option<u16>)>, String> {
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
    Ok(expand(name)?.into_iter().map(|h| (h, port)).collect())
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
            host_entries("badwolf.example.com:5309").unwrap(),
            [("badwolf.example.com".to_string(), Some(5309))]
        );
        assert_eq!(host_entries("w[1:2]:22").unwrap().len(), 2);
        assert_eq!(
            host_entries("2001:db8::1").unwrap(),
            [("2001:db8::1".to_string(), None)]
        );
        assert_eq!(
            host_entries("[2001:db8::1]:2222").unwrap(),
            [("2001:db8::1".to_string(), Some(2222))]
        );
        assert!(host_entries("h:abc").unwrap_err().contains("not a port"));
    }
}
