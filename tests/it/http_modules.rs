//! `get_url` and `uri` against a real sshd host (see tests/it/fleet) and a
//! small HTTP server this test starts on 127.0.0.1: the host makes the
//! requests, as with Ansible. Each test checks what a user sees: the file
//! on the host, idempotence, check mode, Ansible's result fields, and the
//! requests the server received.

use crate::fleet;
use crate::support::module_host::ModuleHost;
use std::ops::Deref;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fleet::Fleet;
use herd::modules::ModuleOutput;
use herd::ssh::ExecOptions;
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Header names lower-case.
    headers: HashMap<String, String>,
    body: String,
}

/// A tiny HTTP/1.0-style server (one request per connection) with the
/// routes the tests need; it records every request.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let counter = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                let counter = counter.clone();
                std::thread::spawn(move || serve(stream, &log, &counter));
            }
        });
        Server { base, seen }
    }

    /// The same routes on a Unix socket at `path` (uri's `unix_socket`).
    fn start_unix(path: &std::path::Path) -> Server {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let counter = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming().flatten() {
                let (log, counter) = (log.clone(), counter.clone());
                std::thread::spawn(move || serve(stream, &log, &counter));
            }
        });
        Server {
            base: "http://localhost".into(),
            seen,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }
}

fn serve<S>(stream: S, log: &Mutex<Vec<Seen>>, counter: &AtomicUsize)
where
    for<'a> &'a S: Read + Write,
{
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let seen = Seen {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).to_string(),
    };
    log.lock().unwrap().push(seen.clone());

    let hello = "hello\n".to_string();
    let (status, extra, body): (&str, Vec<String>, String) = match path.as_str() {
        "/file.txt" if headers.contains_key("if-modified-since") => {
            ("304 Not Modified", vec![], String::new())
        }
        "/file.txt" => (
            "200 OK",
            vec!["Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT".into()],
            hello,
        ),
        "/named" => (
            "200 OK",
            vec!["Content-Disposition: attachment; filename=\"../report.csv\"".into()],
            "a,b\n".into(),
        ),
        "/dotdot" => (
            "200 OK",
            vec!["Content-Disposition: attachment; filename=\"..\"".into()],
            "d\n".into(),
        ),
        "/changing" => {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            ("200 OK", vec![], format!("version {n}\n"))
        }
        "/sums" => (
            "200 OK",
            vec![],
            format!("{}  file.txt\n0000  other.txt\n", sha256_hex("hello\n")),
        ),
        "/json" => (
            "200 OK",
            vec![
                "Content-Type: application/json".into(),
                "X-Custom-Header: yes".into(),
                "Ansible-Facts: injected".into(),
                "Set-Cookie: session=abc; Path=/".into(),
            ],
            "{\"a\": 1, \"list\": [true, null]}".into(),
        ),
        "/echo" => {
            let echo = json!({
                "method": method,
                "body": seen.body,
                "content_type": headers.get("content-type"),
                "x_test": headers.get("x-test"),
                "user_agent": headers.get("user-agent"),
            });
            (
                "200 OK",
                vec!["Content-Type: application/json".into()],
                echo.to_string(),
            )
        }
        "/redirect" => ("302 Found", vec!["Location: /json".into()], String::new()),
        "/auth" => {
            // user:s3cret
            if headers.get("authorization").map(String::as_str) == Some("Basic dXNlcjpzM2NyZXQ=") {
                ("200 OK", vec![], "welcome\n".into())
            } else {
                (
                    "401 Unauthorized",
                    vec!["WWW-Authenticate: Basic realm=\"test\"".into()],
                    "who are you\n".into(),
                )
            }
        }
        "/big" => (
            "200 OK",
            vec!["Content-Type: text/plain".into()],
            "x".repeat(5 << 20),
        ),
        _ => ("404 Not Found", vec![], "no such page\n".into()),
    };
    let mut stream = &stream;
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(body.as_bytes());
    }
}

fn sha256_hex(text: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// One fleet host, driven module by module.
struct Host(ModuleHost);

impl Deref for Host {
    type Target = ModuleHost;
    fn deref(&self) -> &ModuleHost {
        &self.0
    }
}

impl Host {
    async fn start() -> Host {
        Host(ModuleHost::connect(Fleet::builder().hosts(1).start()).await)
    }

    async fn run_mode(&self, name: &str, args: Value, check: bool) -> ModuleOutput {
        self.run_exec(name, args, check, ExecOptions::default())
            .await
    }

    async fn run_exec(
        &self,
        name: &str,
        args: Value,
        check: bool,
        exec: ExecOptions,
    ) -> ModuleOutput {
        self.run_with(exec, name, args, check, false).await
    }

    async fn run(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_mode(name, args, false).await
    }

    async fn check(&self, name: &str, args: Value) -> ModuleOutput {
        self.run_mode(name, args, true).await
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_url_downloads_once_verifies_checksums_and_respects_check_mode() {
    let server = Server::start();
    let host = Host::start().await;
    let dest = host.p("file.txt");

    // Check mode: a HEAD request, nothing written.
    let out = host
        .check(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": dest}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert!(!host.path("file.txt").exists());
    assert_eq!(server.requests("/file.txt")[0].method, "HEAD");

    // The download: content, Ansible's fields, mode, the user agent.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": dest, "mode": "0600"}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello\n");
    assert_eq!(mode_of(&host.path("file.txt")), 0o600);
    let d = &out.data;
    assert_eq!(d["dest"], json!(dest));
    assert_eq!(
        d["checksum_src"],
        json!("f572d396fae9206628714fb2ce00f72e94f2258f")
    );
    assert_eq!(d["checksum_dest"], Value::Null);
    assert_eq!(d["md5sum"], json!("b1946ac92492d2347c6235b4d2611184"));
    assert_eq!(d["size"], json!(6));
    assert_eq!(d["status_code"], json!(200));
    assert_eq!(d["mode"], json!("0600"));
    assert_eq!(d["url"], json!(server.url("/file.txt")));
    assert!(d["msg"].as_str().unwrap().starts_with("OK"), "{d:?}");
    assert!(d["elapsed"].is_i64());
    let get = server.requests("/file.txt").pop().unwrap();
    assert_eq!(get.method, "GET");
    assert_eq!(get.headers["user-agent"], "ansible-httpget");
    // No temp file left beside dest.
    let names: Vec<_> = std::fs::read_dir(host.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("herd-download"))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // Again without force: asked with If-Modified-Since, 304, unchanged.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": dest}),
        )
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["status_code"], json!(304));
    assert!(
        server
            .requests("/file.txt")
            .pop()
            .unwrap()
            .headers
            .contains_key("if-modified-since")
    );

    // A matching checksum spares the request altogether.
    let before = server.requests("/file.txt").len();
    let sum = format!("sha256:{}", sha256_hex("hello\n"));
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": dest, "checksum": sum}),
        )
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["msg"], json!("file already exists"));
    assert_eq!(server.requests("/file.txt").len(), before);

    // A wrong checksum fails and leaves nothing at dest.
    let wrong = host.p("wrong.txt");
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": wrong, "checksum": format!("sha256:{}", "0".repeat(64))}),
        )
        .await;
    assert!(out.failed, "{out:?}");
    assert!(
        out.data["msg"].as_str().unwrap().contains("did not match"),
        "{out:?}"
    );
    assert!(!host.path("wrong.txt").exists());

    // The checksum from a checksum file, found by the URL's file name.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/file.txt"), "dest": host.p("summed.txt"),
                   "checksum": format!("sha256:{}", server.url("/sums"))}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(host.path("summed.txt")).unwrap(),
        "hello\n"
    );

    // A directory as dest: the name from Content-Disposition, stripped of
    // any path.
    std::fs::create_dir_all(host.path("downloads")).unwrap();
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/named"), "dest": host.p("downloads")}),
        )
        .await;
    assert!(out.changed, "{out:?}");
    assert_eq!(out.data["dest"], json!(host.p("downloads/report.csv")));
    assert_eq!(
        std::fs::read_to_string(host.path("downloads/report.csv")).unwrap(),
        "a,b\n"
    );

    // A server's ".." is no name: the URL's is used.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/dotdot"), "dest": host.p("downloads")}),
        )
        .await;
    assert_eq!(
        out.data["dest"],
        json!(host.p("downloads/dotdot")),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path("downloads/dotdot")).unwrap(),
        "d\n"
    );

    // force and backup: new content replaces the old, which is kept.
    let changing = host.p("changing.txt");
    host.run(
        "get_url",
        json!({"url": server.url("/changing"), "dest": changing}),
    )
    .await;
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/changing"), "dest": changing, "force": true, "backup": true}),
        )
        .await;
    assert!(out.changed, "{out:?}");
    let backup = out.data["backup_file"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), "version 0\n");
    assert_eq!(std::fs::read_to_string(&changing).unwrap(), "version 1\n");

    // An error status fails with Ansible's fields.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/missing"), "dest": host.p("missing")}),
        )
        .await;
    assert!(out.failed, "{out:?}");
    assert_eq!(out.data["msg"], json!("Request failed"));
    assert_eq!(out.data["status_code"], json!(404));
    assert!(!host.path("missing").exists());

    // Basic auth: forced, and the password never shows in the result.
    let out = host
        .run(
            "get_url",
            json!({"url": server.url("/auth"), "dest": host.p("auth.txt"),
                   "url_username": "user", "url_password": "s3cret", "force_basic_auth": true}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    let with_creds = server
        .url("/missing")
        .replace("http://", "http://user:s3cret@");
    let out = host
        .run(
            "get_url",
            json!({"url": with_creds, "dest": host.p("x"), "url_password": "s3cret"}),
        )
        .await;
    assert!(out.failed);
    let text = Value::Object(out.data.clone()).to_string();
    assert!(
        !text.contains("s3cret") && text.contains("********"),
        "{text}"
    );

    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_returns_status_headers_json_and_bounded_content() {
    let server = Server::start();
    let host = Host::start().await;

    // JSON: parsed, headers as lower-case keys, cookies; no content unless
    // asked; a header never becomes a fact.
    let out = host.run("uri", json!({"url": server.url("/json")})).await;
    assert!(!out.changed && !out.failed, "{out:?}");
    let d = &out.data;
    assert_eq!(d["status"], json!(200));
    assert_eq!(d["json"], json!({"a": 1, "list": [true, null]}));
    assert_eq!(d["content_type"], json!("application/json"));
    assert_eq!(d["x_custom_header"], json!("yes"));
    assert_eq!(d["cookies"], json!({"session": "abc"}));
    assert_eq!(d["cookies_string"], json!("session=abc"));
    assert_eq!(d["redirected"], json!(false));
    assert_eq!(d["url"], json!(server.url("/json")));
    assert!(d["msg"].as_str().unwrap().starts_with("OK"), "{d:?}");
    assert!(!d.contains_key("content"));
    assert!(!d.contains_key("ansible_facts"));

    let out = host
        .run(
            "uri",
            json!({"url": server.url("/json"), "return_content": true}),
        )
        .await;
    assert_eq!(
        out.data["content"],
        json!("{\"a\": 1, \"list\": [true, null]}")
    );

    // Bodies: JSON from data, a form, custom headers.
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/echo"), "method": "POST", "body_format": "json",
                   "body": {"x": [1, 2]}, "headers": {"X-Test": "t"}}),
        )
        .await;
    let echo = &out.data["json"];
    assert_eq!(echo["method"], json!("POST"));
    assert_eq!(echo["body"], json!("{\"x\": [1, 2]}"));
    assert_eq!(echo["content_type"], json!("application/json"));
    assert_eq!(echo["x_test"], json!("t"));
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/echo"), "method": "PUT", "body_format": "form-urlencoded",
                   "body": {"a": 1, "b": "x y"}}),
        )
        .await;
    assert_eq!(out.data["json"]["body"], json!("a=1&b=x+y"));
    assert_eq!(
        out.data["json"]["content_type"],
        json!("application/x-www-form-urlencoded")
    );

    // Redirects: followed by default for GET; not with none, where the 302
    // is the answer and its Location is made absolute.
    let out = host
        .run("uri", json!({"url": server.url("/redirect")}))
        .await;
    assert!(!out.failed, "{out:?}");
    assert_eq!(out.data["redirected"], json!(true));
    assert_eq!(out.data["url"], json!(server.url("/json")));
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/redirect"), "follow_redirects": "none", "status_code": [302]}),
        )
        .await;
    assert!(!out.failed, "{out:?}");
    assert_eq!(out.data["status"], json!(302));
    assert_eq!(out.data["location"], json!(server.url("/json")));

    // Status codes: a 404 fails unless listed, with Ansible's message.
    let out = host.run("uri", json!({"url": server.url("/nope")})).await;
    assert!(out.failed);
    assert_eq!(
        out.data["msg"],
        json!("Status code was 404 and not [200]: HTTP Error 404: Not Found")
    );
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/nope"), "status_code": "200, 404"}),
        )
        .await;
    assert!(!out.failed, "{out:?}");

    // Basic auth on a 401 challenge.
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/auth"), "user": "user", "password": "s3cret", "return_content": true}),
        )
        .await;
    assert!(!out.failed, "{out:?}");
    assert_eq!(out.data["content"], json!("welcome\n"));

    // dest: the body is saved on the host (changed, as Ansible reports).
    let saved = host.p("saved.json");
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/json"), "dest": saved, "mode": "0640"}),
        )
        .await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert_eq!(out.data["path"], json!(saved));
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "{\"a\": 1, \"list\": [true, null]}"
    );
    assert_eq!(mode_of(&host.path("saved.json")), 0o640);

    // creates: not run when the file is there.
    let before = server.requests("/echo").len();
    let out = host
        .run("uri", json!({"url": server.url("/echo"), "creates": saved}))
        .await;
    assert!(!out.changed && !out.failed, "{out:?}");
    assert_eq!(server.requests("/echo").len(), before);

    // A body larger than herd takes back is a clear error, not memory.
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/big"), "return_content": true}),
        )
        .await;
    assert!(out.failed, "{out:?}");
    assert!(
        out.data["msg"].as_str().unwrap().contains("use dest")
            || out.data["msg"].as_str().unwrap().contains("with dest"),
        "{out:?}"
    );
    // ...which dest streams to the host instead.
    let out = host
        .run(
            "uri",
            json!({"url": server.url("/big"), "dest": host.p("big.txt")}),
        )
        .await;
    assert!(!out.failed, "{out:?}");
    assert_eq!(
        std::fs::metadata(host.path("big.txt")).unwrap().len(),
        5 << 20
    );

    // unix_socket: the request goes to a socket on the host.
    let socket = host.path("http.sock");
    let unix = Server::start_unix(&socket);
    let out = host
        .run(
            "uri",
            json!({"url": unix.url("/json"), "unix_socket": socket.display().to_string()}),
        )
        .await;
    assert!(!out.failed, "{out:?}");
    assert_eq!(out.data["json"]["a"], json!(1));
    assert_eq!(unix.requests("/json").len(), 1);

    // A host without python3: the task fails and says why.
    let no_python = ExecOptions {
        env: vec![("PATH".into(), "/nonexistent".into())],
        ..ExecOptions::default()
    };
    let out = host
        .run_exec("uri", json!({"url": server.url("/json")}), false, no_python)
        .await;
    assert!(out.failed, "{out:?}");
    assert!(
        out.data["msg"]
            .as_str()
            .unwrap()
            .contains("uri needs python3 on the host"),
        "{out:?}"
    );

    // Check mode: skipped, as Ansible's.
    let out = host.check("uri", json!({"url": server.url("/echo")})).await;
    assert!(out.skipped);
    assert_eq!(
        out.data["msg"],
        json!("This action (uri) does not support check mode.")
    );

    host.stop().await;
}
