//! `known_hosts`: add, replace or remove a host's key in a known_hosts file
//! on the managed host, as Ansible's module does with `ssh-keygen -F`.
//!
//! Lines are matched with the same host matching herd uses for its own
//! known_hosts (patterns, negation, hashed `|1|` names): see
//! `ssh::known_hosts`. A key of the same type (and the same marker) for the
//! host is replaced in place of being added twice; every other line is kept
//! byte for byte. The file is read and stat'ed in one round trip and
//! written atomically, only if its content changes.

use serde_json::json;

use super::args::Args;
use super::edit::{self, decode_exact, encode_exact};
use super::remote_file::{self, WriteSpec};
use super::spec::{Module, alias, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::known_hosts::{hash_name, hosts_match};

/// known_hosts, as a task writes it.
pub const MODULE: Module = Module {
    name: "known_hosts",
    params: &[
        alias("name", &["host"]),
        p("key"),
        p("path"),
        p("hash_host"),
        p("state"),
    ],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

#[derive(Debug)]
struct Params {
    name: String,
    /// The line to write, ending in `\n`; `None` to remove every key of the host.
    key: Option<String>,
    path: String,
    present: bool,
}

fn parse(vars: &Vars) -> Result<Result<Params, String>, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    // Ansible looks the name up in lower case.
    let name = args.required(&["name", "host"])?.to_lowercase();
    let key = args.str("key")?.filter(|k| !k.trim().is_empty());
    let path = args
        .str("path")?
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let hash_host = args.bool("hash_host", false)?;
    let present = match args.str("state")?.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(other) => {
            return Err(args.error(format!(
                "value of state must be one of: absent, present, got: {other}"
            )));
        }
    };
    if key.is_none() && present {
        return Ok(Err("No key specified when adding a host".into()));
    }
    let key = match key {
        None => None,
        Some(key) => {
            if name.contains(',') {
                return Ok(Err(
                    "Comma separated list of names is not supported. Please pass a \
                               single name to lookup in the known_hosts file."
                        .into(),
                ));
            }
            let Some(line) = Line::parse(&key) else {
                return Ok(Err(format!(
                    "key is not a known_hosts line (host, key type, key): {}",
                    key.trim()
                )));
            };
            if !hosts_match(line.host, &name) {
                return Ok(Err(
                    "Host parameter does not match hashed host field in supplied key".into(),
                ));
            }
            let mut key = if hash_host {
                line.with_host(&hash_name(&name))
            } else {
                key
            };
            if !key.ends_with('\n') {
                key.push('\n');
            }
            Some(key)
        }
    };
    Ok(Ok(Params {
        name,
        key,
        path,
        present,
    }))
}

/// A known_hosts line split as Ansible's `normalize_known_hosts_key` does.
#[derive(Debug, PartialEq)]
struct Line<'a> {
    marker: Option<&'a str>,
    host: &'a str,
    key_type: &'a str,
    key: &'a str,
}

impl<'a> Line<'a> {
    fn parse(text: &'a str) -> Option<Line<'a>> {
        let mut fields = text.split_whitespace();
        let mut first = fields.next()?;
        let mut marker = None;
        if first.starts_with('@') {
            marker = Some(first);
            first = fields.next()?;
        }
        if first.starts_with('#') {
            return None;
        }
        Some(Line {
            marker,
            host: first,
            key_type: fields.next()?,
            key: fields.next()?,
        })
    }

    /// The line with its host field replaced (Ansible drops the comment too).
    fn with_host(&self, host: &str) -> String {
        let mut out = String::new();
        if let Some(marker) = self.marker {
            out.push_str(marker);
            out.push(' ');
        }
        out.push_str(&format!("{host} {} {}", self.key_type, self.key));
        out
    }
}

/// Where the host stands in the file (1-based line numbers).
#[derive(Debug, PartialEq)]
enum Found {
    /// No line names the host.
    Nothing,
    /// The host is listed, but not with this key (nor another of its type).
    Other,
    /// This very key.
    Same(usize),
    /// This key, with the host written otherwise (hashed or not): `present`
    /// rewrites it in the asked form, `absent` removes it.
    SameKey(usize),
    /// Another key of the same type and marker: replace it.
    SameType(usize),
}

/// Ansible's `search_for_host_key`. Lines with a marker (`@cert-authority`,
/// `@revoked`) only ever compare with lines of the same marker, and are
/// never replaced by a different key: several CAs or revocations for one
/// pattern are usual.
fn search(lines: &[String], name: &str, key: &str) -> Found {
    let Some(new) = Line::parse(key) else {
        return Found::Nothing;
    };
    let mut found = Found::Nothing;
    for (index, text) in lines.iter().enumerate() {
        let Some(line) = Line::parse(text) else {
            continue;
        };
        if !hosts_match(line.host, name) {
            continue;
        }
        found = Found::Other;
        if line.marker != new.marker {
            continue;
        }
        // A hashed name is salted: two hashes of the same name differ.
        let same_host =
            line.host == new.host || (line.host.starts_with("|1|") && new.host.starts_with("|1|"));
        if line.key_type == new.key_type && line.key == new.key {
            return if same_host {
                Found::Same(index + 1)
            } else {
                Found::SameKey(index + 1)
            };
        }
        if line.key_type == new.key_type && line.marker.is_none() {
            return Found::SameType(index + 1);
        }
    }
    found
}

/// The file's new lines for this task.
fn apply(p: &Params, lines: &[String]) -> Vec<String> {
    let mut after = lines.to_vec();
    let Some(key) = &p.key else {
        // No key: remove every plain line of the host, as `ssh-keygen -R`.
        after.retain(|text| {
            Line::parse(text).is_none_or(|l| l.marker.is_some() || !hosts_match(l.host, &p.name))
        });
        return after;
    };
    match (search(lines, &p.name, key), p.present) {
        (Found::Same(_), true) => {}
        (Found::SameType(line) | Found::SameKey(line), true) => {
            after.remove(line - 1);
            after.push(key.clone());
        }
        (Found::Nothing | Found::Other, true) => {
            // A last line without its newline stays a line of its own.
            if let Some(last) = after.last_mut()
                && !last.ends_with('\n')
            {
                last.push('\n');
            }
            after.push(key.clone());
        }
        (Found::Same(line) | Found::SameKey(line), false) => {
            after.remove(line - 1);
        }
        // Removing a key that is not there changes nothing (Ansible would
        // remove another key of the same type).
        (_, false) => {}
    }
    after
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let p = match parse(vars)? {
        Ok(p) => p,
        Err(msg) => return Ok(ModuleOutput::failed(msg)),
    };
    let path = remote_file::expand_user(ctx, &p.path).await?;
    let info = edit::read(ctx, &path).await?;
    let before_bytes = info.content.as_deref().unwrap_or_default();
    let before = decode_exact(before_bytes);
    let lines = edit::split_lines_keep(&before);
    let after = apply(&p, &lines).concat();
    let changed = after != before;
    let mut out = ModuleOutput {
        changed,
        ..ModuleOutput::default()
    };
    // Ansible's module always returns its diff, --diff or not.
    let diff = FileDiff {
        path: path.clone(),
        before: info
            .exists
            .then(|| String::from_utf8_lossy(before_bytes).into_owned()),
        after: Some(String::from_utf8_lossy(&encode_exact(&after)).into_owned()),
    };
    let mut diff_value = remote_file::diff_value(std::slice::from_ref(&diff))[0].clone();
    if !info.exists {
        diff_value["before_header"] = json!("/dev/null");
    }
    out.data.insert("diff".into(), diff_value);
    if changed && ctx.diff {
        out.diffs.push(diff);
    }
    if changed && !ctx.check_mode {
        let spec = WriteSpec {
            path: &path,
            content: &encode_exact(&after),
            attrs: &Default::default(),
            backup: false,
            validate: None,
            existing: &info,
            sha1: None,
        };
        if let Err(f) = remote_file::write(ctx, &spec).await {
            return remote_file::write_failed(f, out.data);
        }
    }
    out.data.insert("name".into(), json!(p.name));
    out.data.insert("path".into(), json!(path));
    out.data.insert(
        "state".into(),
        json!(if p.present { "present" } else { "absent" }),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "example.com ssh-rsa AAAA1 root@x\n\
                        @cert-authority *.example.com ssh-ed25519 CA1\n\
                        # example.org ssh-rsa OLD\n";

    fn params(name: &str, key: Option<&str>, present: bool) -> Params {
        Params {
            name: name.into(),
            key: key.map(|k| format!("{k}\n")),
            path: "kh".into(),
            present,
        }
    }

    fn run(p: &Params, text: &str) -> String {
        apply(p, &edit::split_lines_keep(text)).concat()
    }

    #[test]
    fn adds_replaces_same_type_and_keeps_other_lines() {
        let add = params("example.org", Some("example.org ssh-rsa NEW"), true);
        let added = run(&add, FILE);
        assert_eq!(added, format!("{FILE}example.org ssh-rsa NEW\n"));
        assert_eq!(run(&add, &added), added, "idempotent");
        let replace = params("example.com", Some("example.com ssh-rsa AAAA2"), true);
        assert_eq!(
            run(&replace, FILE),
            "@cert-authority *.example.com ssh-ed25519 CA1\n\
             # example.org ssh-rsa OLD\nexample.com ssh-rsa AAAA2\n"
        );
        // Another type is added next to it; a CA line is never replaced.
        let ed = params(
            "host.example.com",
            Some("host.example.com ssh-ed25519 H1"),
            true,
        );
        assert_eq!(
            run(&ed, FILE),
            format!("{FILE}host.example.com ssh-ed25519 H1\n")
        );
        // A file without a final newline keeps its last line whole.
        assert_eq!(run(&add, "a b c"), "a b c\nexample.org ssh-rsa NEW\n");
    }

    #[test]
    fn removes_only_the_same_key_or_every_plain_line_without_key() {
        let gone = params("example.com", Some("example.com ssh-rsa AAAA1"), false);
        assert_eq!(
            run(&gone, FILE),
            "@cert-authority *.example.com ssh-ed25519 CA1\n# example.org ssh-rsa OLD\n"
        );
        let other = params("example.com", Some("example.com ssh-rsa ZZZ"), false);
        assert_eq!(run(&other, FILE), FILE);
        let all = params("host.example.com", None, false);
        assert_eq!(run(&all, FILE), FILE, "the CA line stays");
    }

    #[test]
    fn hashed_names_match_and_compare_as_the_same_host() {
        let hashed = hash_name("example.org");
        assert!(hashed.starts_with("|1|") && hosts_match(&hashed, "example.org"));
        assert!(!hosts_match(&hashed, "example.com"));
        let text = format!("{hashed} ssh-rsa K\n");
        let again = params(
            "example.org",
            Some(&format!("{} ssh-rsa K", hash_name("example.org"))),
            true,
        );
        assert_eq!(run(&again, &text), text, "a fresh salt is not a change");
        let plain = params("example.org", Some("example.org ssh-rsa K"), true);
        assert_eq!(run(&plain, &text), "example.org ssh-rsa K\n");
        let gone = params("example.org", Some("example.org ssh-rsa K"), false);
        assert_eq!(run(&gone, &text), "");
    }
}
