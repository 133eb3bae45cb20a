//! `uri`: make an HTTP request from the host (see [`super::http`]) and
//! return what Ansible's module returns: `status`, `msg`, `url`,
//! `redirected`, `elapsed`, every response header as a top-level key
//! (lower case, `-` as `_`), `cookies`, `content` with `return_content`,
//! `json` for a JSON answer. A body saved with `dest` streams into a file on
//! the host; a body herd takes back is bounded by [`http::BODY_LIMIT`].
//! Not run in check mode, as Ansible's.

use serde_json::{Value, json};

use super::args::Args;
use super::http::{self, BODY_LIMIT, Common};
use super::owner_group_mode::Attrs;
use super::remote_file::{self, Want};
use super::spec::{Module, alias, async_run, p};
use super::{ModuleContext, ModuleError, ModuleOutput, Vars};

/// uri, as a task writes it.
pub const MODULE: Module = Module {
    name: "uri",
    params: &[
        p("url"),
        p("method"),
        p("body"),
        p("body_format"),
        p("headers"),
        p("status_code"),
        p("return_content"),
        p("dest"),
        p("creates"),
        p("removes"),
        p("follow_redirects"),
        p("timeout"),
        alias("url_username", &["user"]),
        alias("url_password", &["password"]),
        p("force_basic_auth"),
        p("validate_certs"),
        p("use_proxy"),
        p("http_agent"),
        p("unix_socket"),
        p("decompress"),
        p("unredirected_headers"),
        p("mode"),
        p("owner"),
        p("group"),
    ],
    required: &[&["url"]],
    run: async_run!(run),
    ..Module::DEFAULT
};

/// Result keys a response header must not overwrite: the module's own, and
/// anything the engine reads (`ansible_facts` would become host facts).
const RESERVED: &[&str] = &[
    "changed",
    "failed",
    "skipped",
    "msg",
    "status",
    "url",
    "redirected",
    "elapsed",
    "content",
    "json",
    "path",
    "cookies",
    "cookies_string",
    "diff",
    "rc",
    "invocation",
    "warnings",
    "deprecations",
];

pub async fn run(ctx: &ModuleContext<'_>, vars: &Vars) -> Result<ModuleOutput, ModuleError> {
    let args = Args::new(&MODULE, vars)?;
    let mut common = Common::read(&args, 30)?;
    let method = args
        .str("method")?
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    let body_format = args
        .choice(
            "body_format",
            &["json", "form-urlencoded", "raw"],
            Some("raw"),
        )?
        .unwrap_or_default();
    let body = args.value(&["body"]).map(|(_, v)| v.clone());
    let return_content = args.bool("return_content", false)?;
    let dest = args.str("dest")?;
    let status_codes = match args.list("status_code")? {
        None => vec![200],
        // "200, 201" is a list too, as Ansible splits a string on commas.
        Some(codes) => codes
            .iter()
            .flat_map(|c| c.split(','))
            .map(|c| c.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                args.error(format!(
                    "status_code must be a list of integers, got {codes:?}"
                ))
            })?,
    };
    let follow = args
        .choice(
            "follow_redirects",
            &["all", "no", "none", "safe", "urllib2", "yes"],
            Some("safe"),
        )?
        .unwrap_or_default();
    let attrs = Attrs::from_args(&args)?;
    if ctx.check_mode {
        return Ok(ModuleOutput {
            skipped: true,
            msg: Some("This action (uri) does not support check mode.".into()),
            data: [(
                "msg".to_string(),
                json!("This action (uri) does not support check mode."),
            )]
            .into_iter()
            .collect(),
            ..ModuleOutput::default()
        });
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(ModuleOutput::failed(
            "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
        ));
    }
    if body_format == "raw" && matches!(body, Some(Value::Object(_) | Value::Array(_))) {
        return Err(args.error(
            "body must be a string with body_format raw (use json or form-urlencoded for data)",
        ));
    }
    let has_content_type = common
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    let default_type = match body_format.as_str() {
        "json" => Some("application/json"),
        "form-urlencoded" => Some("application/x-www-form-urlencoded"),
        _ => None,
    };
    if let (Some(t), false) = (default_type, has_content_type) {
        common.headers.insert("Content-Type".into(), json!(t));
    }

    let mut params = common.params(&method);
    params.insert("body".into(), body.unwrap_or(Value::Null));
    params.insert("body_format".into(), json!(body_format));
    params.insert("follow_redirects".into(), json!(follow));
    params.insert("creates".into(), json!(args.str("creates")?));
    params.insert("removes".into(), json!(args.str("removes")?));
    params.insert("unix_socket".into(), json!(args.str("unix_socket")?));
    params.insert("statuses".into(), json!(status_codes));
    params.insert("want_body".into(), json!(return_content));
    params.insert("body_limit".into(), json!(BODY_LIMIT));
    if let Some(d) = &dest {
        // An existing file is asked for with If-Modified-Since, as Ansible.
        params.insert("if_modified_since".into(), json!(d));
        let statuses: Vec<i64> = status_codes.iter().copied().filter(|c| *c != 304).collect();
        params.insert(
            "save".into(),
            json!({"dest": d, "name_from_url": false, "statuses": statuses}),
        );
    }
    let reply = match http::call(ctx, MODULE.name, &Value::Object(params)).await? {
        Ok(r) => r,
        Err(http::NoReply(out)) => return Ok(out),
    };
    if let Some(why) = reply.str("skipped") {
        // creates/removes: not run, as command's are.
        let mut data = Vars::new();
        data.insert("stdout".into(), json!(why));
        return Ok(ModuleOutput {
            msg: Some(why.to_string()),
            data,
            ..ModuleOutput::default()
        });
    }
    if reply.meta.get("status").is_none() {
        let msg = reply
            .str("failed")
            .unwrap_or("the request failed")
            .to_string();
        let mut out = ModuleOutput::failed(msg);
        out.data.insert("elapsed".into(), json!(0));
        common.mask(&mut out.data);
        return Ok(out);
    }

    let status = reply.status();
    let final_url = reply.str("url").unwrap_or(&common.url).to_string();
    let mut data = Vars::new();
    for (name, value) in reply.headers() {
        let key = name.replace('-', "_").to_lowercase();
        if RESERVED.contains(&key.as_str())
            || key.starts_with("ansible_")
            || key.starts_with("_ansible")
        {
            continue;
        }
        data.insert(key, value);
    }
    if let Some(location) = data.get("location").and_then(Value::as_str) {
        let absolute = absolute_location(&common.url, location);
        data.insert("location".into(), json!(absolute));
    }
    data.insert("redirected".into(), json!(final_url != common.url));
    data.insert("url".into(), json!(final_url));
    data.insert("status".into(), json!(status));
    data.insert("elapsed".into(), json!(reply.elapsed()));
    data.insert("changed".into(), json!(false));
    if status != -1 {
        let cookies = reply.meta.get("cookies").cloned().unwrap_or(json!({}));
        let cookies_string = cookies
            .as_object()
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        data.insert("cookies".into(), cookies);
        data.insert("cookies_string".into(), json!(cookies_string));
    }
    let mut msg = reply.str("msg").unwrap_or("").to_string();
    let mut changed = false;
    let mut failed = None;
    if let Some(d) = &dest {
        let path = reply.str("dest").unwrap_or(d).to_string();
        if reply.meta.contains_key("checksum_src") {
            // Ansible reports a saved body as changed whether or not it differed.
            changed = true;
            let want = Want {
                follow: true,
                ..Want::default()
            };
            let info = remote_file::probe(ctx, &path, want).await?;
            let fixes = attrs.fix_commands(&path, &info, false);
            remote_file::run_all(ctx, &path, &fixes).await?;
        }
        if let Some(why) = reply.str("failed") {
            failed = Some(why.to_string());
        }
        data.insert("path".into(), json!(path));
    } else if let Some(why) = reply.str("failed") {
        failed = Some(why.to_string());
    }
    data.insert("changed".into(), json!(changed));

    let content = String::from_utf8_lossy(&reply.body).to_string();
    let read = reply.flag("body_read");
    if read && reply.flag("body_truncated") && (return_content || is_json(&data)) {
        failed = Some(http::too_large(MODULE.name));
    }
    if read
        && !reply.flag("body_truncated")
        && is_json(&data)
        && let Ok(value) = serde_json::from_str::<Value>(&content)
    {
        data.insert("json".into(), value);
    }
    if return_content {
        data.insert("content".into(), json!(content));
    }
    if !status_codes.contains(&status) {
        let codes = status_codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        msg = format!("Status code was {status} and not [{codes}]: {msg}");
        failed.get_or_insert(msg.clone());
    }
    if let Some(why) = &failed {
        msg = why.clone();
    }
    data.insert("msg".into(), json!(msg));
    common.mask(&mut data);
    Ok(ModuleOutput {
        changed,
        failed: failed.is_some(),
        msg: failed,
        data,
        ..ModuleOutput::default()
    })
}

/// Whether the answer is JSON (Ansible looks for `json` or `javascript`
/// in the content type).
fn is_json(data: &Vars) -> bool {
    data.get("content_type")
        .and_then(Value::as_str)
        .is_some_and(|t| {
            let sub = t
                .split(';')
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("");
            sub.contains("json") || sub.contains("javascript")
        })
}

/// A `Location` header made absolute against the request's URL.
fn absolute_location(url: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_end = rest.find('/').unwrap_or(rest.len());
    if location.starts_with('/') {
        format!("{scheme}://{}{location}", &rest[..host_end])
    } else {
        let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
        format!("{base}/{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_become_absolute() {
        assert_eq!(absolute_location("http://h:1/a/b", "/c"), "http://h:1/c");
        assert_eq!(absolute_location("http://h/a/b", "c"), "http://h/a/c");
        assert_eq!(absolute_location("http://h/a", "https://x/"), "https://x/");
    }

    #[test]
    fn json_content_types() {
        let with = |t: &str| {
            let mut d = Vars::new();
            d.insert("content_type".into(), json!(t));
            is_json(&d)
        };
        assert!(with("application/json"));
        assert!(with("application/vnd.api+json; charset=utf-8"));
        assert!(with("text/javascript"));
        assert!(!with("text/html"));
    }
}
