//! Compact host lists in the nodeset style of clush/pdsh: hosts that differ
//! only in a trailing number fold into `prefix[ranges]`, so a line names a
//! thousand hosts in a few characters (`web[001-250,252],db1`). Every folded
//! list expands back to exactly the names given: zero padding is kept and a
//! range only grows while the next name is written the way the range would
//! write it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A trailing number: its value and its digits as written.
type Numbered<'a> = (u64, &'a str);

/// Folds `names` into a compact, comma-separated list in natural order
/// (host2 before host10). Duplicates are listed once.
pub fn compress(names: &[String]) -> String {
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_by(|a, b| natural_cmp(a, b));
    sorted.dedup();

    // Numbered names by prefix, with the prefix's first name for ordering;
    // `sorted` is in natural order, so each prefix's numbers come sorted.
    let mut numbered: BTreeMap<&str, (&str, Vec<Numbered>)> = BTreeMap::new();
    let mut items: Vec<(&str, String)> = Vec::new();
    for name in &sorted {
        match split_number(name) {
            Some((prefix, digits, value)) => {
                let entry = numbered.entry(prefix).or_insert((name, Vec::new()));
                entry.1.push((value, digits));
            }
            None => items.push((name, name.to_string())),
        }
    }
    for (prefix, (first, numbers)) in &numbered {
        items.push((first, fold_numbers(prefix, numbers)));
    }
    items.sort_by(|a, b| natural_cmp(a.0, b.0));
    items
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// `web01` -> ("web", "01", 1). Names without a prefix, without a trailing
/// number, or with nodeset syntax in them are left alone.
fn split_number(name: &str) -> Option<(&str, &str, u64)> {
    if name.contains(['[', ']', ',']) {
        return None;
    }
    let digits_at = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, digits) = name.split_at(digits_at);
    if prefix.is_empty() || digits.is_empty() {
        return None;
    }
    Some((prefix, digits, digits.parse().ok()?))
}

/// Renders one prefix's numbers (sorted by value) as `prefix[a-b,c]`, or
/// the plain name when there is only one.
fn fold_numbers(prefix: &str, numbers: &[Numbered]) -> String {
    if let [(_, digits)] = numbers {
        return format!("{prefix}{digits}");
    }
    let mut ranges: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start_text = numbers[i].1;
        // "007" pads to 3 digits; "7" and "12" are unpadded.
        let width = if start_text.starts_with('0') {
            start_text.len()
        } else {
            0
        };
        let mut end = i;
        while let Some(&(next, text)) = numbers.get(end + 1) {
            if next != numbers[end].0 + 1 || format!("{next:0width$}") != text {
                break;
            }
            end += 1;
        }
        ranges.push(if end == i {
            start_text.to_string()
        } else {
            format!("{start_text}-{}", numbers[end].1)
        });
        i = end + 1;
    }
    format!("{prefix}[{}]", ranges.join(","))
}

/// Natural order: runs of digits compare by value, so host2 < host10;
/// equal values with more leading zeros sort after.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (a_chunk, a_rest) = split_chunk(a);
        let (b_chunk, b_rest) = split_chunk(b);
        let a_num = a_chunk.starts_with(|c: char| c.is_ascii_digit());
        let b_num = b_chunk.starts_with(|c: char| c.is_ascii_digit());
        let order = if a_num && b_num {
            let (a_val, b_val) = (
                a_chunk.trim_start_matches('0'),
                b_chunk.trim_start_matches('0'),
            );
            a_val
                .len()
                .cmp(&b_val.len())
                .then_with(|| a_val.cmp(b_val))
                .then_with(|| a_chunk.len().cmp(&b_chunk.len()))
        } else {
            a_chunk.cmp(b_chunk)
        };
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (a_rest, b_rest);
    }
}

/// The leading run of digits or of non-digits, and the rest.
fn split_chunk(s: &str) -> (&str, &str) {
    let digit = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digit)
        .unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress_str(names: &str) -> String {
        let names: Vec<String> = names.split_whitespace().map(String::from).collect();
        compress(&names)
    }

    #[test]
    fn consecutive_numbers_fold_into_ranges_keeping_padding() {
        assert_eq!(compress_str("web01 web02 web03"), "web[01-03]");
        assert_eq!(compress_str("web03 web05 web01 web02"), "web[01-03,05]");
        assert_eq!(compress_str("node1 node2 node3 node7"), "node[1-3,7]");
    }

    #[test]
    fn ranges_cross_digit_counts_only_when_they_expand_back_exactly() {
        assert_eq!(compress_str("web8 web9 web10 web11"), "web[8-11]");
        assert_eq!(compress_str("web08 web09 web10"), "web[08-10]");
        assert_eq!(compress_str("web099 web100"), "web[099-100]");
        // "web1" and "web01" are different hosts with the same number.
        assert_eq!(compress_str("web1 web01 web2"), "web[1,01,2]");
    }

    #[test]
    fn a_lone_numbered_host_and_other_names_stay_as_they_are() {
        assert_eq!(compress_str("db1"), "db1");
        assert_eq!(
            compress_str("web2 lb-a db1 web1 lb-b"),
            "db1,lb-a,lb-b,web[1-2]"
        );
        assert_eq!(
            compress_str("db1.example.com db2.example.com"),
            "db1.example.com,db2.example.com"
        );
    }

    #[test]
    fn ip_addresses_fold_on_their_last_number() {
        assert_eq!(
            compress_str("10.0.0.1 10.0.0.2 10.0.0.3 10.0.1.1"),
            "10.0.0.[1-3],10.0.1.1"
        );
    }

    #[test]
    fn groups_are_listed_in_natural_order_and_duplicates_once() {
        assert_eq!(
            compress_str("host10 host9 app host10 host2"),
            "app,host[2,9-10]"
        );
        assert_eq!(compress_str(""), "");
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        let mut names = vec!["host10", "host2", "host1", "alpha", "host02"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, vec!["alpha", "host1", "host2", "host02", "host10"]);
    }
}
