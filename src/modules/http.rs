//! The HTTP client that `get_url` and `uri` share. As in Ansible, the
//! request is made from the managed host, not the controller: herd runs
//! `http_request.py` there with python3 (urllib), sending the script and the
//! parameters as JSON on stdin, so no value is ever written into code or a
//! command line. The host answers with one JSON line and, when asked, the
//! response body (bounded by [`BODY_LIMIT`]); downloads are streamed into a
//! temp file on the host and renamed into place there, never through herd.

use serde_json::{Map, Value, json};

use super::{ModuleContext, ModuleError, ModuleOutput, Vars};
use crate::ssh::shell_quote;

/// The script, sent on stdin before the parameters.
const SCRIPT: &str = include_str!("http_request.py");

/// Reads stdin, splits script from parameters at the NUL, runs the script.
const BOOTSTRAP: &str = "import sys;s,_,p=sys.stdin.buffer.read().partition(b'\\0');\
exec(compile(s,'herd-http-request','exec'),{'__name__':'herd_http','PARAMS':p})";

/// The most response body herd takes back from a host (`return_content`,
/// JSON results, checksum files); larger bodies are an error that says to
/// use `dest`. It stays under the SSH layer's output cap (8 MiB).
pub const BODY_LIMIT: usize = 4 << 20;

/// The host's answer.
#[derive(Debug, Default)]
pub struct Reply {
    /// The JSON line: status, msg, url, headers, and what the script did.
    pub meta: Map<String, Value>,
    /// The response body (decoded with its charset, as UTF-8), when read.
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(&self) -> i64 {
        self.meta
            .get("status")
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.meta.get(key).and_then(Value::as_str)
    }

    pub fn flag(&self, key: &str) -> bool {
        self.meta.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Response headers, names lower-case.
    pub fn headers(&self) -> Map<String, Value> {
        match self.meta.get("headers") {
            Some(Value::Object(h)) => h.clone(),
            _ => Map::new(),
        }
    }

    pub fn elapsed(&self) -> i64 {
        self.meta
            .get("elapsed")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
}

/// Why the script gave no answer (no python3, a crash): the failed result.
pub struct NoReply(pub ModuleOutput);

/// Runs the script on the host with `params` (an object with `op`).
pub async fn call(
    ctx: &ModuleContext<'_>,
    module: &str,
    params: &Value,
) -> Result<Result<Reply, NoReply>, ModuleError> {
    let mut stdin = SCRIPT.as_bytes().to_vec();
    stdin.push(0);
    stdin.extend_from_slice(params.to_string().as_bytes());
    let mut exec = ctx.exec.clone();
    exec.stdin = Some(stdin);
    let command = format!(
        "command -v python3 >/dev/null 2>&1 || {{ echo 'python3 is not installed' >&2; exit 127; }}; \
         exec python3 -c {}",
        shell_quote(BOOTSTRAP)
    );
    let out = ctx.transport.exec(&command, &exec).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.success() {
        let why = if out.exit_code == Some(127) {
            format!(
                "{module} needs python3 on the host, as Ansible's does: {}",
                stderr.trim()
            )
        } else {
            format!(
                "{module}: the request failed on the host: {}",
                tail(&stderr)
            )
        };
        let mut failed = ModuleOutput::failed(why);
        failed
            .data
            .insert("rc".into(), json!(out.exit_code.unwrap_or(-1)));
        return Ok(Err(NoReply(failed)));
    }
    if out.stdout_truncated {
        return Ok(Err(NoReply(ModuleOutput::failed(format!(
            "{module}: the host's answer was larger than herd takes back"
        )))));
    }
    let (line, body) = match out.stdout.iter().position(|&b| b == b'\n') {
        Some(i) => (&out.stdout[..i], out.stdout[i + 1..].to_vec()),
        None => (&out.stdout[..], Vec::new()),
    };
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(meta)) => Ok(Ok(Reply { meta, body })),
        _ => Ok(Err(NoReply(ModuleOutput::failed(format!(
            "{module}: unexpected answer from the host: {:?}",
            String::from_utf8_lossy(&line[..line.len().min(200)])
        ))))),
    }
}

/// The last lines of a (Python) error, which say what went wrong.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The request parameters both modules share, read from their arguments.
pub struct Common {
    pub url: String,
    pub headers: Map<String, Value>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub force_basic_auth: bool,
    pub timeout: i64,
    pub validate_certs: bool,
    pub use_proxy: bool,
    pub http_agent: String,
    pub decompress: bool,
    pub unredirected_headers: Vec<String>,
}

impl Common {
    /// From `args`, with the module's default timeout.
    pub fn read(args: &super::args::Args<'_>, default_timeout: i64) -> Result<Common, ModuleError> {
        let url = args.required(&["url"])?;
        let headers = match args.value(&["headers"]) {
            None => Map::new(),
            Some((_, Value::Object(h))) => {
                let mut out = Map::new();
                for (k, v) in h {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    out.insert(k.clone(), Value::String(v));
                }
                out
            }
            Some((name, _)) => {
                return Err(args.error(format!("{name} must be a dict of header: value")));
            }
        };
        let timeout = args.int("timeout")?.unwrap_or(default_timeout);
        if timeout <= 0 {
            return Err(args.error("timeout must be a positive number of seconds"));
        }
        Ok(Common {
            url,
            headers,
            username: args.str("url_username")?,
            password: args.str("url_password")?,
            force_basic_auth: args.bool("force_basic_auth", false)?,
            timeout,
            validate_certs: args.bool("validate_certs", true)?,
            use_proxy: args.bool("use_proxy", true)?,
            http_agent: args
                .str("http_agent")?
                .unwrap_or_else(|| "ansible-httpget".into()),
            decompress: args.bool("decompress", true)?,
            unredirected_headers: args.list("unredirected_headers")?.unwrap_or_default(),
        })
    }

    /// The request part of the script's parameters.
    pub fn params(&self, method: &str) -> Map<String, Value> {
        let mut p = Map::new();
        p.insert("op".into(), json!("request"));
        p.insert("url".into(), json!(self.url));
        p.insert("method".into(), json!(method));
        p.insert("headers".into(), Value::Object(self.headers.clone()));
        p.insert("username".into(), json!(self.username));
        p.insert("password".into(), json!(self.password));
        p.insert("force_basic_auth".into(), json!(self.force_basic_auth));
        p.insert("timeout".into(), json!(self.timeout));
        p.insert("validate_certs".into(), json!(self.validate_certs));
        p.insert("use_proxy".into(), json!(self.use_proxy));
        p.insert("http_agent".into(), json!(self.http_agent));
        p.insert("decompress".into(), json!(self.decompress));
        p.insert(
            "unredirected_headers".into(),
            json!(self.unredirected_headers),
        );
        p
    }

    /// Replaces the password wherever it shows in a result (a URL with
    /// credentials, an echoed error), as Ansible hides no_log values.
    pub fn mask(&self, data: &mut Vars) {
        let Some(secret) = self.password.as_deref().filter(|p| !p.is_empty()) else {
            return;
        };
        for value in data.values_mut() {
            mask_value(value, secret);
        }
    }
}

fn mask_value(value: &mut Value, secret: &str) {
    match value {
        Value::String(s) if s.contains(secret) => {
            *s = s.replace(secret, "********");
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, secret)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_value(v, secret)),
        _ => {}
    }
}

/// The message of a failed result whose body was over [`BODY_LIMIT`].
pub fn too_large(module: &str) -> String {
    format!(
        "{module}: the response body is larger than {} MiB, more than herd takes back from a host; \
         save it on the host with dest instead",
        BODY_LIMIT >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_masked_everywhere_in_a_result() {
        let common = Common {
            url: String::new(),
            headers: Map::new(),
            username: Some("u".into()),
            password: Some("s3cret".into()),
            force_basic_auth: false,
            timeout: 10,
            validate_certs: true,
            use_proxy: true,
            http_agent: String::new(),
            decompress: true,
            unredirected_headers: Vec::new(),
        };
        let mut data = json!({"url": "http://u:s3cret@h/", "n": {"m": ["s3cret!"]}})
            .as_object()
            .unwrap()
            .clone();
        common.mask(&mut data);
        assert_eq!(
            Value::Object(data),
            json!({"url": "http://u:********@h/", "n": {"m": ["********!"]}})
        );
    }

    #[test]
    fn the_bootstrap_is_valid_python_text() {
        // One line, no quote that shell_quote would have to escape badly.
        assert!(!BOOTSTRAP.contains('\n'));
        assert!(SCRIPT.contains("PARAMS"));
    }
}
