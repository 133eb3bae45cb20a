//! `get_url`: download a URL to a file on the host. The host makes the
//! request (see [`super::http`]): the body is streamed into a temp file
//! there, checked against `checksum`, and renamed over `dest` only when its
//! SHA-1 differs, so a download never passes through herd and `dest` is
//! never half written. As in Ansible: an existing `dest` whose checksum
//! matches is not downloaded again; without `force` an existing `dest` is
//! asked for with `If-Modified-Since`; check mode makes a HEAD request.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Value, json};

use super::args::Args;
use super::http::{self, BODY_LIMIT, Common, Reply};
use super::owner_group_mode::Attrs;
use super::remote_file::{self, Want};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// get_url, as a task writes it.
pub const MODULE: Module = Module {
    name: "get_url",
    params: &[
        p("url"),
        p("dest"),
        p("checksum"),
        alias("force", &["thirsty"]),
        p("backup"),
        p("tmp_dest"),
        p("mode"),
        p("owner"),
        p("group"),
        p("headers"),
        alias("url_username", &["username"]),
        alias("url_password", &["password"]),
        p("force_basic_auth"),
        p("timeout"),
        p("validate_certs"),
        p("use_proxy"),
        p("http_agent"),
        p("decompress"),
        p("unredirected_headers"),
    ],
    required: &[&["url"], &["dest"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Digests Python's hashlib has on every platform.
const ALGORITHMS: &[&str] = &[
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384",
    "sha3_512", "blake2b", "blake2s",
];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let common = Common::read(&args, 10)?;
    let dest = args.required(&["dest"])?;
    let mut force = args.bool("force", false)?;
    let backup = args.bool("backup", false)?;
    let tmp_dest = args.str("tmp_dest")?;
    let attrs = Attrs::from_args(&args)?;
    let checksum = args.str("checksum")?.unwrap_or_default();

    let mut base = Vars::new();
    base.insert("changed".into(), json!(false));
    base.insert("checksum_dest".into(), Value::Null);
    base.insert("checksum_src".into(), Value::Null);
    base.insert("dest".into(), json!(dest));
    base.insert("elapsed".into(), json!(0));
    base.insert("url".into(), json!(common.url));
    let fail = |msg: String, extra: Vars| {
        let mut out = ModuleOutput::failed(msg);
        for (k, v) in extra {
            out.data.entry(k).or_insert(v);
        }
        common.mask(&mut out.data);
        Ok(out)
    };

    // checksum: `algorithm:hex` or `algorithm:URL of a checksum file`.
    let mut expect: Option<(String, String)> = None;
    if !checksum.is_empty() {
        let Some((algorithm, value)) = checksum.split_once(':') else {
            return fail(
                "The checksum parameter has to be in format <algorithm>:<checksum>".into(),
                base,
            );
        };
        let algorithm = algorithm.to_ascii_lowercase();
        if !ALGORITHMS.contains(&algorithm.as_str()) {
            return Err(args.error(format!(
                "unsupported checksum algorithm {algorithm:?} (supported: {})",
                ALGORITHMS.join(", ")
            )));
        }
        let mut value = value.to_string();
        if is_url(&value) {
            let mut params = common.params("GET");
            params.insert("url".into(), json!(value));
            params.insert("body_limit".into(), json!(BODY_LIMIT));
            params.insert("want_body".into(), json!(true));
            let reply = match http::call(ctx, MODULE.name, &Value::Object(params)).await? {
                Ok(r) => r,
                Err(http::NoReply(out)) => return Ok(out),
            };
            if let Some(out) = request_failed(&reply, &value, &dest, &common) {
                return Ok(out);
            }
            if reply.flag("body_truncated") {
                return fail(http::too_large(MODULE.name), base);
            }
            let filename = url_filename(&common.url);
            let text = String::from_utf8_lossy(&reply.body);
            match find_digest(&filename, &text) {
                Some(d) => value = d,
                None => {
                    return fail(
                        format!("Unable to find a checksum for file '{filename}' in '{value}'"),
                        Vars::new(),
                    );
                }
            }
        }
        // Like Ansible: drop anything that is not a word character (a
        // zero-width space, a trailing dot), then it must be hex.
        let value: String = value
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_lowercase();
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_hexdigit()) {
            return fail("The checksum format is invalid".into(), base);
        }
        expect = Some((algorithm, value));
    }

    // What is at dest now (and its digest, when that can spare the download).
    let mut inspect = json!({"op": "inspect", "path": dest});
    if let (Some((algorithm, _)), false) = (&expect, force) {
        inspect["algorithm"] = json!(algorithm);
    }
    let found = match http::call(ctx, MODULE.name, &inspect).await? {
        Ok(r) => r,
        Err(http::NoReply(out)) => return Ok(out),
    };
    if let Some(e) = found.str("error") {
        return fail(e.to_string(), base);
    }
    let dest_is_dir = found.flag("is_dir");
    let mut if_modified_since = None;
    if !dest_is_dir && found.flag("exists") {
        let mismatch = match (&expect, found.str("digest")) {
            (Some((_, want)), Some(have)) if !force => want != have,
            _ => false,
        };
        if !force && expect.is_some() && !mismatch {
            // The file is there with the right checksum: no download.
            let mut out = ModuleOutput {
                data: base,
                ..ModuleOutput::default()
            };
            let changed = fix_attrs(ctx, &dest, &attrs, &mut out.data).await?;
            out.changed = changed;
            out.data.insert("changed".into(), json!(changed));
            let msg = if changed {
                "file already exists but file attributes changed"
            } else {
                "file already exists"
            };
            out.data.insert("msg".into(), json!(msg));
            common.mask(&mut out.data);
            return Ok(out);
        }
        if mismatch {
            force = true;
        }
        if !force {
            if_modified_since = Some(dest.clone());
        }
    }

    let mut params = common.params(if ctx.check_mode { "HEAD" } else { "GET" });
    params.insert("force".into(), json!(force));
    params.insert("if_modified_since".into(), json!(if_modified_since));
    params.insert(
        "save".into(),
        json!({
            "dest": dest,
            "tmp_dir": tmp_dest,
            "name_from_url": true,
            "expect": expect.as_ref().map(|(a, v)| [a, v]),
            "backup": backup,
            "dry_run": ctx.check_mode,
            "whole": true,
            "statuses": [200],
        }),
    );
    let reply = match http::call(ctx, MODULE.name, &Value::Object(params)).await? {
        Ok(r) => r,
        Err(http::NoReply(out)) => return Ok(out),
    };
    if reply.status() == 304 {
        let mut data = Vars::new();
        data.insert("url".into(), json!(common.url));
        data.insert("dest".into(), json!(dest));
        data.insert("msg".into(), json!(reply.str("msg").unwrap_or("")));
        data.insert("status_code".into(), json!(304));
        data.insert("elapsed".into(), json!(reply.elapsed()));
        common.mask(&mut data);
        return Ok(ModuleOutput {
            data,
            ..ModuleOutput::default()
        });
    }
    if let Some(out) = request_failed(&reply, &common.url, &dest, &common) {
        return Ok(out);
    }

    let mut data = base;
    data.insert("elapsed".into(), json!(reply.elapsed()));
    let final_dest = reply.str("dest").unwrap_or(&dest).to_string();
    data.insert("dest".into(), json!(final_dest));
    for key in ["checksum_src", "checksum_dest"] {
        if let Some(v) = reply.meta.get(key) {
            data.insert(key.into(), v.clone());
        }
    }
    if let Some(msg) = reply.str("failed") {
        return fail(msg.to_string(), data);
    }
    let msg = reply.str("msg").unwrap_or("").to_string();
    if ctx.check_mode {
        let changed =
            data["checksum_dest"].is_null() || data["checksum_src"] != data["checksum_dest"];
        data.insert("changed".into(), json!(changed));
        data.insert("msg".into(), json!(msg));
        common.mask(&mut data);
        return Ok(ModuleOutput {
            changed,
            data,
            ..ModuleOutput::default()
        });
    }
    let mut changed = reply.flag("written");
    changed |= fix_attrs(ctx, &final_dest, &attrs, &mut data).await?;
    data.insert("changed".into(), json!(changed));
    if let Some(v) = reply.meta.get("md5sum") {
        data.insert("md5sum".into(), v.clone());
    }
    if let Some(b) = reply.str("backup_file") {
        data.insert("backup_file".into(), json!(b));
    }
    data.insert("msg".into(), json!(msg));
    data.insert("status_code".into(), json!(reply.status()));
    common.mask(&mut data);
    Ok(ModuleOutput {
        changed,
        data,
        ..ModuleOutput::default()
    })
}

/// Ansible's failed result for a request that did not give a 200 (any
/// answer counts for `file://`).
fn request_failed(reply: &Reply, url: &str, dest: &str, common: &Common) -> Option<ModuleOutput> {
    let status = reply.status();
    let msg = reply.str("msg").unwrap_or("").to_string();
    let mut out = if status == -1 {
        ModuleOutput::failed(msg)
    } else if status != 200 && !url.starts_with("file:/") {
        let mut out = ModuleOutput::failed("Request failed");
        out.data.insert("status_code".into(), json!(status));
        out.data.insert("response".into(), json!(msg));
        out
    } else {
        return None;
    };
    out.data.insert("url".into(), json!(url));
    out.data.insert("dest".into(), json!(dest));
    out.data.insert("elapsed".into(), json!(reply.elapsed()));
    common.mask(&mut out.data);
    Some(out)
}

/// Brings `path` to `attrs` and puts its attributes in `data`; whether
/// anything changed. Check mode changes nothing.
async fn fix_attrs(
    ctx: &ModuleContext<'_>,
    path: &str,
    attrs: &Attrs,
    data: &mut Vars,
) -> Result<bool, ModuleError> {
    let want = Want {
        follow: true,
        ..Want::default()
    };
    let mut info = remote_file::probe(ctx, path, want).await?;
    let fixes = if info.exists {
        attrs.fix_commands(path, &info, false)
    } else {
        Vec::new()
    };
    if !fixes.is_empty() && !ctx.check_mode {
        remote_file::run_all(ctx, path, &fixes).await?;
        info = remote_file::probe(ctx, path, want).await?;
    }
    info.result_fields(data);
    Ok(!fixes.is_empty())
}

/// Whether a checksum value is the URL of a checksum file.
fn is_url(value: &str) -> bool {
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|s| value.len() > s.len() && value[..s.len()].eq_ignore_ascii_case(s))
}

/// The last part of a URL's path (`index.html` for none), as Ansible names
/// the file it finds in a checksum file or saves into a directory.
pub fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => "index.html".into(),
    }
}

/// The digest for `filename` in a checksum file (`sha256sum` or BSD
/// `SHA256 (name) = digest` lines, or a file holding only a digest).
fn find_digest(filename: &str, text: &str) -> Option<String> {
    static BSD: OnceLock<Regex> = OnceLock::new();
    static GNU: OnceLock<Regex> = OnceLock::new();
    let bsd = BSD.get_or_init(|| {
        Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$").expect("valid regex")
    });
    let gnu = GNU.get_or_init(|| {
        Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$").expect("valid regex")
    });
    let lines: Vec<&str> = text.split('\n').collect();
    let lines = match lines.split_last() {
        Some((&"", rest)) => rest.to_vec(),
        _ => lines,
    };
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return Some(lines[0].trim().to_string());
    }
    lines.iter().find_map(|line| {
        let (digest, path) = if let Some(c) = bsd.captures(line) {
            (c["digest"].to_string(), c["path"].to_string())
        } else if let Some(c) = gnu.captures(line) {
            let path = c["path"].trim_start_matches(['.', '/']).to_string();
            (c["digest"].to_string(), path)
        } else {
            return None;
        };
        (path == filename).then_some(digest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files_in_every_shape() {
        let gnu = "aaa1  27617.txt\nbbb2 *71420.txt\nccc3  ./other.txt\n";
        assert_eq!(find_digest("27617.txt", gnu).as_deref(), Some("aaa1"));
        assert_eq!(find_digest("71420.txt", gnu).as_deref(), Some("bbb2"));
        assert_eq!(find_digest("other.txt", gnu).as_deref(), Some("ccc3"));
        assert_eq!(find_digest("missing.txt", gnu), None);
        let bsd = "SHA256 (f.tar.gz) = abcd\n";
        assert_eq!(find_digest("f.tar.gz", bsd).as_deref(), Some("abcd"));
        assert_eq!(find_digest("x", "abcd\n").as_deref(), Some("abcd"));
        assert_eq!(find_digest("x", "abc.  x\n").as_deref(), Some("abc."));
    }

    #[test]
    fn url_filenames() {
        assert_eq!(url_filename("http://h:1/a/b.txt?x=1"), "b.txt");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
        assert_eq!(url_filename("file:///tmp/f"), "f");
    }
}
