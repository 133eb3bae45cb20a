//! Python package requirements as `pip`'s task names them (`flask`,
//! `Django>=4,<5`, `requests[socks]==2.31`) and whether an installed
//! version satisfies one: what Ansible's pip module asks in check mode.
//! Versions compare by PEP 440's release numbers with pre-releases
//! (`a`, `b`, `rc`, `.dev`) before and post-releases after the release;
//! local labels (`+local`) are ignored.

use std::cmp::Ordering;

/// One requirement: a distribution name and its version specifiers, or a
/// path/URL (never "satisfied": pip decides).
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// What is handed to pip.
    pub text: String,
    /// PEP 503 name (`my-pkg`), when the text is a plain requirement.
    pub name: Option<String>,
    /// `(operator, version)` pairs, all of which must hold.
    pub specs: Vec<(String, String)>,
}

const OPERATORS: &[&str] = &["===", "~=", "==", "!=", "<=", ">=", "<", ">"];

impl Requirement {
    pub fn parse(text: &str) -> Requirement {
        let text = text.trim().to_string();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(text.len());
        let mut rest = text[name_end..].trim_start();
        if let Some(after) = rest.strip_prefix('[') {
            rest = after.split_once(']').map_or("", |(_, r)| r).trim_start();
        }
        // Environment markers (`; python_version < "3.8"`) are pip's business.
        let rest = rest.split(';').next().unwrap_or("").trim();
        let mut specs = Vec::new();
        let plain = name_end > 0 && (rest.is_empty() || starts_with_operator(rest)) && {
            rest.split(',').filter(|s| !s.trim().is_empty()).all(|s| {
                let s = s.trim();
                match OPERATORS.iter().find(|op| s.starts_with(**op)) {
                    Some(op) => {
                        specs.push((op.to_string(), s[op.len()..].trim().to_string()));
                        true
                    }
                    None => false,
                }
            })
        };
        Requirement {
            name: plain.then(|| canonical_name(&text[..name_end])),
            specs: if plain { specs } else { Vec::new() },
            text,
        }
    }

    pub fn has_specifier(&self) -> bool {
        !self.specs.is_empty()
    }

    /// `name` at `version` (from `pip list --format=freeze`) meets this.
    pub fn satisfied_by(&self, name: &str, version: &str) -> bool {
        self.name.as_deref() == Some(canonical_name(name).as_str())
            && self.specs.iter().all(|(op, v)| holds(op, version, v))
    }

    /// This requirement with `version` added (`version: "1.2"` is `==1.2`,
    /// `version: ">=1"` is taken as a specifier), as Ansible does.
    pub fn with_version(&self, version: &str) -> Requirement {
        let version = version.trim();
        let spec = if version.starts_with(|c: char| c.is_ascii_digit()) {
            format!("=={version}")
        } else {
            version.to_string()
        };
        Requirement::parse(&format!("{}{spec}", self.text))
    }
}

fn starts_with_operator(s: &str) -> bool {
    OPERATORS.iter().any(|op| s.starts_with(op))
}

/// PEP 503: runs of `-`, `_`, `.` are one `-`, lower case.
pub fn canonical_name(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if "-_.".contains(c) {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Ansible's `_recover_package_name`: names split at commas are joined
/// back with the specifiers that followed them (`["a>1", "<2", "b"]` is
/// `["a>1,<2", "b"]`).
pub fn recover_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_brackets = false;
    for part in names.iter().flat_map(|n| n.split(',')) {
        let is_name = !starts_with_operator(part.trim_start());
        match out.last_mut() {
            Some(last) if !is_name || in_brackets => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
        if part.contains('[') {
            in_brackets = true;
        }
        if in_brackets && part.contains(']') {
            in_brackets = false;
        }
    }
    out
}

/// A version as numbers: release, then a pre/dev/post rank for ordering.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    release: Vec<u64>,
    /// (rank, number): dev < pre (a < b < rc) < final < post.
    phase: (u8, u64, u64),
}

fn parse_version(v: &str) -> Version {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let v = v.split('+').next().unwrap_or("").to_ascii_lowercase();
    let v = v.split_once('!').map_or(v.as_str(), |(_, r)| r).to_string();
    let digits_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let mut release: Vec<u64> = v[..digits_end]
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let tail: String = v[digits_end..]
        .chars()
        .filter(|c| !"-_.".contains(*c))
        .collect();
    let number = |s: &str| -> u64 {
        s.chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    };
    let n = number(&tail);
    let phase = if tail.is_empty() {
        (4, 0, 0)
    } else if tail.starts_with("dev") {
        (0, n, 0)
    } else if tail.starts_with("rc") || tail.starts_with('c') || tail.starts_with("pre") {
        (3, n, 0)
    } else if tail.starts_with("post") || tail.starts_with('r') {
        (5, n, 0)
    } else if tail.starts_with('b') {
        (2, n, 0)
    } else {
        (1, n, 0)
    };
    Version { release, phase }
}

fn cmp_versions(a: &str, b: &str) -> Ordering {
    parse_version(a).cmp(&parse_version(b))
}

/// Whether `installed` meets `op wanted`.
fn holds(op: &str, installed: &str, wanted: &str) -> bool {
    if let Some(prefix) = wanted.strip_suffix(".*") {
        let matches = installed == prefix || installed.starts_with(&format!("{prefix}."));
        return match op {
            "==" => matches,
            "!=" => !matches,
            _ => false,
        };
    }
    let ord = cmp_versions(installed, wanted);
    match op {
        "===" => installed == wanted,
        "==" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        "<=" => ord != Ordering::Greater,
        ">=" => ord != Ordering::Less,
        "<" => ord == Ordering::Less,
        ">" => ord == Ordering::Greater,
        "~=" => {
            // ~=1.4.2 is >=1.4.2 and ==1.4.*
            let parts: Vec<&str> = wanted.split('.').collect();
            let prefix = parts[..parts.len().saturating_sub(1).max(1)].join(".");
            ord != Ordering::Less && holds("==", installed, &format!("{prefix}.*"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_parse_names_and_specifiers() {
        let r = Requirement::parse("My_Pkg[extra] >=1.0, <2");
        assert_eq!(r.name.as_deref(), Some("my-pkg"));
        assert_eq!(r.specs.len(), 2);
        assert!(r.satisfied_by("my.pkg", "1.5"));
        assert!(!r.satisfied_by("my-pkg", "2.0"));
        assert!(Requirement::parse("./dir/pkg").name.is_none());
        assert!(Requirement::parse("git+https://x/y.git").name.is_none());
    }

    #[test]
    fn versions_order_as_pep_440() {
        assert!(holds(">", "1.10", "1.9"));
        assert!(holds("==", "1.0.0", "1.0"));
        assert!(holds("<", "2.0rc1", "2.0"));
        assert!(holds(">", "2.0.post1", "2.0"));
        assert!(holds("~=", "1.4.5", "1.4.2"));
        assert!(!holds("~=", "1.5", "1.4.2"));
        assert!(holds("==", "1.4.7", "1.4.*"));
    }

    #[test]
    fn split_specifiers_rejoin_their_names() {
        let names: Vec<String> = ["django>1.11.1", "<1.11.3", "ipaddress"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            recover_names(&names),
            ["django>1.11.1,<1.11.3", "ipaddress"]
        );
        let one = Requirement::parse("foo").with_version("1.2");
        assert_eq!(one.text, "foo==1.2");
    }
}
