//! `deb822_repository`: one apt source in deb822 form,
//! /etc/apt/sources.list.d/NAME.sources, written whole from the task's
//! fields (in Ansible's order and spelling, so both tools write the same
//! bytes). A `signed_by` URL is downloaded by the host into
//! /etc/apt/keyrings/NAME.asc (or .gpg); a path or an inline key is
//! written as it is. Like Ansible's, it never updates the package lists.

use serde_json::{Value, json};

use super::args::Args;
use super::edit::{self, Edit};
use super::owner_group_mode::{Attrs, Mode};
use super::spec::{Module, async_run, p};
use super::{FileDiff, ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// The deb822 fields, in the order Ansible writes them (its parameter
/// names, sorted), and how each is written.
const FIELDS: &[(&str, Kind)] = &[
    ("allow_downgrade_to_insecure", Kind::Bool),
    ("allow_insecure", Kind::Bool),
    ("allow_weak", Kind::Bool),
    ("architectures", Kind::List),
    ("by_hash", Kind::Bool),
    ("check_date", Kind::Bool),
    ("check_valid_until", Kind::Bool),
    ("components", Kind::List),
    ("date_max_future", Kind::Int),
    ("enabled", Kind::Bool),
    ("inrelease_path", Kind::Str),
    ("languages", Kind::List),
    ("name", Kind::Str),
    ("pdiffs", Kind::Bool),
    ("signed_by", Kind::Str),
    ("suites", Kind::List),
    ("targets", Kind::List),
    ("trusted", Kind::Bool),
    ("types", Kind::List),
    ("uris", Kind::List),
];

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    List,
    Int,
    Str,
}

/// deb822_repository, as a task writes it.
pub const MODULE: Module = Module {
    name: "deb822_repository",
    params: &[
        p("allow_downgrade_to_insecure"),
        p("allow_insecure"),
        p("allow_weak"),
        p("architectures"),
        p("by_hash"),
        p("check_date"),
        p("check_valid_until"),
        p("components"),
        p("date_max_future"),
        p("enabled"),
        p("inrelease_path"),
        p("languages"),
        p("name"),
        p("pdiffs"),
        p("signed_by"),
        p("suites"),
        p("targets"),
        p("trusted"),
        p("types"),
        p("uris"),
        p("install_python_debian"),
        p("mode"),
        p("state"),
    ],
    required: &[&["name"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

const KEYRINGS: &str = "/etc/apt/keyrings";

/// Ansible's file name stem: lower case, spaces and underscores as `-`,
/// nothing but `a-z0-9-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.to_lowercase().chars() {
        if c == '_' || c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap {
            out.push('-');
            gap = false;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
        }
    }
    if gap {
        out.push('-');
    }
    out
}

/// `allow_weak` -> `Allow-Weak`; `uris` -> `URIs`; `name` ->
/// `X-Repolib-Name`.
fn field_name(param: &str) -> String {
    match param {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => param
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A value over several lines: each on its own indented line, an empty
/// one written as `.` (deb822's rule).
fn multiline(value: &str) -> String {
    let lines: Vec<String> = value
        .trim()
        .lines()
        .map(|l| {
            let l = l.trim();
            format!("    {}", if l.is_empty() { "." } else { l })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let name = args.required(&["name"])?;
    let state = args
        .choice("state", &["present", "absent"], Some("present"))?
        .unwrap_or_default();
    args.bool("install_python_debian", true)?;
    let mode = match args.value(&["mode"]) {
        Some((_, v)) => Mode::parse(v).map_err(|e| args.error(e))?,
        None => Mode::Octal(0o644),
    };
    let stem = slug(&name);
    if stem.is_empty() {
        return Err(args.error(format!("name {name:?} leaves no file name")));
    }
    let dest = format!("/etc/apt/sources.list.d/{stem}.sources");
    let keys = [
        format!("{KEYRINGS}/{stem}.asc"),
        format!("{KEYRINGS}/{stem}.gpg"),
    ];
    if state == "absent" {
        return remove(ctx, &dest, &keys).await;
    }
    let types = args.list("types")?.unwrap_or_else(|| vec!["deb".into()]);
    if let Some(t) = types
        .iter()
        .find(|t| !matches!(t.as_str(), "deb" | "deb-src"))
    {
        return Err(args.error(format!("types must be deb or deb-src, got {t}")));
    }
    if !args.has("uris") || !args.has("suites") {
        return Err(args.error("uris and suites are required for state=present"));
    }
    let mut changed = false;
    let mut key_filename = Value::Null;
    let mut text = String::new();
    for (param, kind) in FIELDS {
        let value = match (*param, kind) {
            ("types", _) => Some(types.join(" ")),
            ("signed_by", _) => match args.str("signed_by")? {
                None => None,
                Some(v) if v.contains("://") => {
                    let (key_changed, path) = fetch_key(ctx, &v, &stem).await?;
                    changed |= key_changed;
                    key_filename = json!(path);
                    Some(path)
                }
                Some(v) => Some(v),
            },
            (_, Kind::Bool) => args
                .opt_bool(param)?
                .map(|b| if b { "yes" } else { "no" }.to_string()),
            (_, Kind::List) => args.list(param)?.map(|l| l.join(" ")),
            (_, Kind::Int) => args.int(param)?.map(|n| n.to_string()),
            (_, Kind::Str) => args.str(param)?,
        };
        let Some(value) = value else { continue };
        let value = if value.contains('\n') {
            multiline(&value)
        } else {
            format!(" {value}")
        };
        text.push_str(&format!("{}:{value}\n", field_name(param)));
    }

    let info = edit::read(ctx, &dest).await?;
    let before = info.content.clone().unwrap_or_default();
    let after = (!info.exists || before != text.as_bytes()).then(|| text.clone().into_bytes());
    let attrs = Attrs {
        mode: Some(mode),
        owner: None,
        group: None,
    };
    let mut out = edit::finish(
        ctx,
        Edit {
            path: &dest,
            info: &info,
            before: &before,
            after,
            msg: String::new(),
            attrs: &attrs,
            backup: false,
            validate: None,
        },
    )
    .await?;
    if out.failed {
        return Ok(out);
    }
    out.changed |= changed;
    out.msg = None;
    let diff = out.data.remove("diff");
    out.data = Vars::new();
    out.data.insert("repo".into(), json!(text));
    out.data.insert("dest".into(), json!(dest));
    out.data.insert("key_filename".into(), key_filename);
    if let Some(d) = diff {
        out.data.insert("diff".into(), d);
    }
    Ok(out)
}

/// `state: absent`: the .sources file and the key herd downloaded for it.
async fn remove(
    ctx: &ModuleContext<'_>,
    dest: &str,
    keys: &[String; 2],
) -> Result<ModuleOutput, ModuleError> {
    let quoted: Vec<String> = std::iter::once(dest)
        .chain(keys.iter().map(String::as_str))
        .map(shell_quote)
        .collect();
    let script = format!(
        "for f in {}; do if [ -e \"$f\" ]; then echo \"$f\"; fi; done",
        quoted.join(" ")
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let present: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == dest || keys.iter().any(|k| k == l))
        .map(String::from)
        .collect();
    let mut result = ModuleOutput {
        changed: !present.is_empty(),
        ..ModuleOutput::default()
    };
    if ctx.diff && present.iter().any(|p| p == dest) {
        let info = edit::read(ctx, dest).await?;
        result.diffs.push(FileDiff {
            path: dest.to_string(),
            before: info
                .content
                .map(|c| String::from_utf8_lossy(&c).into_owned()),
            after: None,
        });
    }
    if result.changed && !ctx.check_mode {
        let rm: Vec<String> = present.iter().map(|p| shell_quote(p)).collect();
        super::remote_file::run_all(ctx, dest, &[format!("rm -f -- {}", rm.join(" "))]).await?;
    }
    result.data.insert("repo".into(), Value::Null);
    result.data.insert("dest".into(), json!(dest));
    result.data.insert("key_filename".into(), json!(keys[1]));
    Ok(result)
}

/// Downloads the `signed_by` key on the host into /etc/apt/keyrings
/// (`.asc` when armored), replacing the file only when it differs.
/// Returns (changed, path).
async fn fetch_key(
    ctx: &ModuleContext<'_>,
    url: &str,
    stem: &str,
) -> Result<(bool, String), ModuleError> {
    let check = if ctx.check_mode { "1" } else { "" };
    let script = format!(
        "set -u; t=$(mktemp) || exit 1; \
         if command -v curl >/dev/null 2>&1; then curl -fsSL -o \"$t\" -- {url}; \
         elif command -v wget >/dev/null 2>&1; then wget -q -O \"$t\" -- {url}; \
         else echo 'neither curl nor wget on the host to download the key' >&2; false; fi \
         || {{ rm -f \"$t\"; exit 3; }}; \
         if grep -q 'BEGIN PGP PUBLIC KEY BLOCK' \"$t\"; then e=asc; else e=gpg; fi; \
         k={KEYRINGS}/{stem}.$e; echo \"key $k\"; \
         if cmp -s \"$t\" \"$k\"; then rm -f \"$t\"; chmod 0644 \"$k\"; exit 0; fi; echo changed; \
         if [ -n '{check}' ]; then rm -f \"$t\"; exit 0; fi; \
         mkdir -p {KEYRINGS} && chmod 0755 {KEYRINGS} && chmod 0644 \"$t\" && mv -f \"$t\" \"$k\"",
        url = shell_quote(url),
    );
    let out = ctx.transport.exec(&script, &ctx.exec).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.success() {
        return Err(ModuleError::Transport(format!(
            "{}: Could not fetch signed_by key: {}",
            ctx.host,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .unwrap_or_default()
        .to_string();
    Ok((text.lines().any(|l| l == "changed"), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_ansible_writes_them() {
        assert_eq!(slug("Docker CE_stable"), "docker-ce-stable");
        assert_eq!(slug("my.repo!"), "myrepo");
        assert_eq!(
            field_name("allow_downgrade_to_insecure"),
            "Allow-Downgrade-To-Insecure"
        );
        assert_eq!(field_name("uris"), "URIs");
        assert_eq!(field_name("name"), "X-Repolib-Name");
        assert_eq!(multiline("a\n\nb\n"), "\n    a\n    .\n    b");
    }
}
