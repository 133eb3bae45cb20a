//! Ansible host patterns: which hosts a command runs on.
//!
//! A pattern is terms separated by `:` or `,` (an IPv6 address stays one
//! term). Each term is a group or host name, `all`/`*`, a glob (`web*`,
//! `db-[a-c]`), or `~regex` (anchored at the start of the name, like
//! Ansible's `re.match`), optionally followed by a subscript on its hosts:
//! `web[0]`, `web[-1]`, `web[0:2]` (inclusive), `web[1:]`, `web[:2]`.
//! Terms prefixed `&` intersect and `!` exclude. As in Ansible, unions are
//! applied first, then intersections, then exclusions, whatever the written
//! order; a pattern of only exclusions starts from `all`.
//!
//! The result is in inventory order (the order hosts were first defined),
//! without duplicates. Nothing matching is an error naming the term that
//! matched nothing.

use regex::Regex;

use super::{Inventory, PatternError, did_you_mean};

/// Hosts matching `pattern`, narrowed by `limit` (same syntax, or `@file`
/// with one host or pattern per line).
pub(crate) fn select(
    inventory: &Inventory,
    pattern: &str,
    limit: Option<&str>,
) -> Result<Vec<String>, PatternError> {
    let (mut selected, unmatched) = evaluate(inventory, pattern)?;
    if !selected.iter().any(|&s| s) {
        return Err(no_match(
            inventory,
            unmatched.unwrap_or_else(|| pattern.to_string()),
        ));
    }
    if let Some(term) = unmatched {
        tracing::warn!("pattern term `{term}` matched no hosts");
    }
    if let Some(limit) = limit {
        let limit_text = match limit.strip_prefix('@') {
            Some(file) => read_limit_file(file)?,
            None => limit.to_string(),
        };
        let (allowed, unmatched) = evaluate(inventory, &limit_text)?;
        if !allowed.iter().any(|&s| s) {
            return Err(no_match(inventory, unmatched.unwrap_or(limit_text)));
        }
        for (s, a) in selected.iter_mut().zip(allowed) {
            *s &= a;
        }
        if !selected.iter().any(|&s| s) {
            return Err(PatternError::LimitNoMatch {
                pattern: pattern.to_string(),
                limit: limit.to_string(),
            });
        }
    }
    Ok(inventory
        .hosts
        .keys()
        .zip(selected)
        .filter(|(_, s)| *s)
        .map(|(name, _)| name.clone())
        .collect())
}

/// A mask over hosts, and the first term that matched nothing (if any).
fn evaluate(
    inventory: &Inventory,
    pattern: &str,
) -> Result<(Vec<bool>, Option<String>), PatternError> {
    let terms = split(pattern);
    if terms.is_empty() {
        return Err(PatternError::Empty);
    }
    let (mut unions, mut intersections, mut exclusions) = (Vec::new(), Vec::new(), Vec::new());
    for term in &terms {
        if let Some(t) = term.strip_prefix('&') {
            intersections.push(t);
        } else if let Some(t) = term.strip_prefix('!') {
            exclusions.push(t);
        } else {
            unions.push(term.as_str());
        }
    }
    if unions.is_empty() {
        unions.push("all");
    }
    let mut unmatched = None;
    let mut term_mask = |term: &str| -> Result<Vec<bool>, PatternError> {
        let mut mask = vec![false; inventory.hosts.len()];
        let hosts = match_term(inventory, term)?;
        if hosts.is_empty() {
            unmatched.get_or_insert_with(|| term.to_string());
        }
        for h in hosts {
            mask[h] = true;
        }
        Ok(mask)
    };
    let mut selected = vec![false; inventory.hosts.len()];
    for term in unions {
        for (s, m) in selected.iter_mut().zip(term_mask(term)?) {
            *s |= m;
        }
    }
    for term in intersections {
        for (s, m) in selected.iter_mut().zip(term_mask(term)?) {
            *s &= m;
        }
    }
    for term in exclusions {
        for (s, m) in selected.iter_mut().zip(term_mask(term)?) {
            *s &= !m;
        }
    }
    Ok((selected, unmatched))
}

/// Splits on `,` and `:` outside brackets; a whole IPv6 address is one term.
fn split(pattern: &str) -> Vec<String> {
    let pattern = pattern.trim();
    if pattern.parse::<std::net::Ipv6Addr>().is_ok() {
        return vec![pattern.to_string()];
    }
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    for c in pattern.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' | ':' if depth <= 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    terms
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t != "&" && t != "!")
        .collect()
}

/// Hosts (indices, inventory order) matching one term without its `&`/`!`.
fn match_term(inventory: &Inventory, term: &str) -> Result<Vec<usize>, PatternError> {
    let (base, subscript) = split_subscript(term);
    let mut mask = vec![false; inventory.hosts.len()];
    let mark_group = |g: usize, mask: &mut [bool]| {
        for &h in &inventory.groups[g].members {
            mask[h] = true;
        }
    };
    if let Some(matcher) = name_matcher(base)? {
        for (g, name) in inventory.groups.keys().enumerate() {
            if matcher.is_match(name) {
                mark_group(g, &mut mask);
            }
        }
        for (h, name) in inventory.hosts.keys().enumerate() {
            if matcher.is_match(name) {
                mask[h] = true;
            }
        }
    } else {
        if let Some(g) = inventory.groups.get_index_of(base) {
            mark_group(g, &mut mask);
        }
        if let Some(h) = inventory.hosts.get_index_of(base) {
            mask[h] = true;
        }
    }
    let hosts: Vec<usize> = (0..mask.len()).filter(|&h| mask[h]).collect();
    match subscript {
        None => Ok(hosts),
        Some(sub) => apply_subscript(&hosts, sub).ok_or_else(|| PatternError::Subscript {
            pattern: term.to_string(),
            base: base.to_string(),
            index: match sub {
                Subscript::Index(i) => i,
                Subscript::Slice(start, end) => end.unwrap_or(start as i64).max(start as i64),
            },
            len: hosts.len(),
        }),
    }
}

/// A regex for `~regex` and glob terms; `None` for a plain name.
fn name_matcher(base: &str) -> Result<Option<Regex>, PatternError> {
    let source = if let Some(re) = base.strip_prefix('~') {
        format!("^(?:{re})")
    } else if base.contains(['*', '?', '[']) {
        glob_to_regex(base)
    } else {
        return Ok(None);
    };
    Regex::new(&source)
        .map(Some)
        .map_err(|e| PatternError::Regex {
            pattern: base.to_string(),
            message: e.to_string().lines().last().unwrap_or_default().to_string(),
        })
}

/// fnmatch-style glob to an anchored regex: `*`, `?`, `[abc]`, `[!abc]`.
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let class: String = chars.by_ref().take_while(|&c| c != ']').collect();
                let class = match class.strip_prefix('!') {
                    Some(rest) => format!("^{rest}"),
                    None => class,
                };
                out.push('[');
                out.push_str(&class.replace('\\', "\\\\").replace('[', "\\["));
                out.push(']');
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Subscript {
    Index(i64),
    /// Inclusive start and end, as Ansible's `web[0:2]` is three hosts.
    Slice(usize, Option<i64>),
}

/// `web[0]`, `web[-1]`, `web[1:3]`, `web[1:]`, `web[:2]`; anything else in
/// brackets (`db-[a-c]`) is a glob. Regex terms have no subscripts.
fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') || !term.ends_with(']') {
        return (term, None);
    }
    let Some(open) = term.rfind('[') else {
        return (term, None);
    };
    let (base, inner) = (&term[..open], &term[open + 1..term.len() - 1]);
    if base.is_empty() {
        return (term, None);
    }
    if let Ok(i) = inner.parse::<i64>() {
        return (base, Some(Subscript::Index(i)));
    }
    if let Some((start, end)) = inner.split_once(':') {
        let start = if start.is_empty() {
            Some(0)
        } else {
            start.parse().ok()
        };
        let end = if end.is_empty() {
            Some(None)
        } else {
            end.parse().ok().map(Some)
        };
        if let (Some(start), Some(end)) = (start, end) {
            return (base, Some(Subscript::Slice(start, end)));
        }
    }
    (term, None)
}

fn apply_subscript(hosts: &[usize], sub: Subscript) -> Option<Vec<usize>> {
    let len = hosts.len() as i64;
    match sub {
        Subscript::Index(i) => {
            let i = if i < 0 { len + i } else { i };
            (0..len).contains(&i).then(|| vec![hosts[i as usize]])
        }
        Subscript::Slice(start, end) => {
            let end = match end {
                None => len - 1,
                Some(e) if e < 0 => len + e,
                Some(e) => e.min(len - 1),
            };
            if start as i64 >= len {
                return None;
            }
            Some(
                hosts
                    .get(start..=end.max(start as i64 - 1) as usize)
                    .unwrap_or_default()
                    .to_vec(),
            )
        }
    }
}

fn read_limit_file(file: &str) -> Result<String, PatternError> {
    let text = std::fs::read_to_string(file).map_err(|source| PatternError::LimitFile {
        path: file.into(),
        source,
    })?;
    let names: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    Ok(names.join(","))
}

fn no_match(inventory: &Inventory, term: String) -> PatternError {
    let groups: Vec<&str> = inventory
        .groups
        .keys()
        .map(String::as_str)
        .filter(|g| *g != "all" && *g != "ungrouped")
        .collect();
    let mut listed = groups
        .iter()
        .take(20)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if groups.len() > 20 {
        listed.push_str(", ...");
    }
    if groups.is_empty() {
        listed = "none".into();
    }
    let bare = term.trim_start_matches(['&', '!']);
    let suggestion = did_you_mean(
        bare,
        inventory
            .groups
            .keys()
            .chain(inventory.hosts.keys())
            .map(String::as_str)
            .filter(|name| *name != bare),
    )
    .map(str::to_string);
    PatternError::NoMatch {
        pattern: term,
        groups: listed,
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory() -> Inventory {
        Inventory::from_ini_str(
            "[web]\nweb1\nweb2\nweb3\n[db]\ndb-a\ndb-b\ndb-c\n[prod]\nweb1\ndb-a\n[stage]\nweb3\n",
            Path::new("hosts"),
        )
        .unwrap()
    }

    fn select_str(pattern: &str, limit: Option<&str>) -> String {
        select(&inventory(), pattern, limit)
            .map(|h| h.join(" "))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn names_groups_and_all() {
        assert_eq!(select_str("all", None), "web1 web2 web3 db-a db-b db-c");
        assert_eq!(select_str("*", None), "web1 web2 web3 db-a db-b db-c");
        assert_eq!(select_str("db", None), "db-a db-b db-c");
        assert_eq!(select_str("web2", None), "web2");
    }

    #[test]
    fn union_intersection_exclusion_in_ansible_order() {
        assert_eq!(select_str("db:web", None), "web1 web2 web3 db-a db-b db-c");
        assert_eq!(select_str("web,db-b", None), "web1 web2 web3 db-b");
        assert_eq!(select_str("web:&prod", None), "web1");
        assert_eq!(select_str("web:!prod", None), "web2 web3");
        // Exclusion written first still applies after the union.
        assert_eq!(select_str("!web1:web", None), "web2 web3");
        assert_eq!(select_str("!db", None), "web1 web2 web3");
        assert_eq!(select_str("web:db:&prod:!db-a", None), "web1");
    }

    #[test]
    fn globs_regexes_and_subscripts() {
        assert_eq!(select_str("web*", None), "web1 web2 web3");
        assert_eq!(select_str("db-[a-b]", None), "db-a db-b");
        assert_eq!(select_str("db-[!a]", None), "db-b db-c");
        assert_eq!(select_str("~(web|db-)[12a]", None), "web1 web2 db-a");
        assert_eq!(select_str("web[0]", None), "web1");
        assert_eq!(select_str("web[-1]", None), "web3");
        assert_eq!(select_str("db[0:1]", None), "db-a db-b");
        assert_eq!(select_str("db[1:]", None), "db-b db-c");
        assert!(select_str("web[7]", None).contains("out of range"));
        assert!(select_str("~web(", None).contains("invalid regular expression"));
    }

    #[test]
    fn limit_narrows_and_reads_files() {
        assert_eq!(select_str("all", Some("web")), "web1 web2 web3");
        assert_eq!(select_str("web", Some("!stage")), "web1 web2");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("retry");
        std::fs::write(&file, "web2\n\ndb-c\n").unwrap();
        let limit = format!("@{}", file.display());
        assert_eq!(select_str("all", Some(&limit)), "web2 db-c");
        assert!(select_str("db", Some("web")).contains("with --limit `web` matched no hosts"));
    }

    #[test]
    fn nothing_matching_names_the_term_and_suggests() {
        let err = select_str("webb:dbx", None);
        assert!(
            err.starts_with("pattern `webb` matched no hosts (groups: web, db, prod, stage)"),
            "{err}"
        );
        assert!(err.contains("did you mean `web`?"), "{err}");
        // A term that misses is fine when others match.
        assert_eq!(select_str("web1:nope", None), "web1");
    }
}
