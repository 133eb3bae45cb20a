//! The HTTP side: hyper's HTTP/1 server on herd's tokio runtime, the
//! token check, and routing each GET to a page, the API or `/metrics`.
//!
//! Store reads are blocking SQLite calls, so each request's work runs on
//! tokio's blocking pool; the async side only moves bytes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::app::{App, Failure};
use super::params::{self, BadRequest};
use super::{api, pages, prometheus};

/// A response before it is turned into hyper's: status, type and text.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

pub const HTML: &str = "text/html; charset=utf-8";
pub const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const SCRIPT: &str = "text/javascript; charset=utf-8";

/// A header or body a client sends may not hold a connection longer.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

impl Reply {
    pub fn new(content_type: &'static str, body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body,
        }
    }

    fn error(status: StatusCode, message: &str) -> Reply {
        Reply {
            status,
            content_type: TEXT,
            body: format!("{message}\n"),
        }
    }
}

/// Accepts connections until Ctrl-C or SIGTERM.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait, retry.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(app.clone(), req));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let head = req.method() == Method::HEAD;
    let reply = if req.method() != Method::GET && !head {
        Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "herd serve is read-only: only GET and HEAD",
        )
    } else if let Some(token) = &app.settings.token
        && !token.accepts(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        )
    {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "this herd serve needs `Authorization: Bearer <token>` (the token in its --token-file)",
        )
    } else {
        let path = req.uri().path().to_string();
        let query = req.uri().query().map(String::from);
        let app = app.clone();
        tokio::task::spawn_blocking(move || route(&app, &path, query.as_deref()))
            .await
            .unwrap_or_else(|e| {
                tracing::error!("request handler failed: {e}");
                Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            })
    };
    let mut response = Response::new(if head { String::new() } else { reply.body });
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Our own script only; inline styles and SVG; nothing from elsewhere.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    match reply.status {
        StatusCode::UNAUTHORIZED => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"herd\""),
            );
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        _ => {}
    }
    Ok(response)
}

/// The reply for a GET of `path?query`.
fn route(app: &App, path: &str, query: Option<&str>) -> Reply {
    let segments = match path
        .trim_start_matches('/')
        .split('/')
        .map(|s| params::decode(s, false))
        .collect::<Result<Vec<String>, BadRequest>>()
    {
        Ok(segments) => segments,
        Err(e) => return Reply::error(StatusCode::BAD_REQUEST, &e.0),
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match segments.as_slice() {
        [""] => pages::fleet(app, query),
        ["hosts", host] => pages::host(app, host, query),
        ["runs"] => pages::runs(app, query),
        ["runs", id] => pages::run(app, id, query),
        ["alerts"] => pages::alerts(app, query),
        ["live.js"] => Ok(Reply::new(SCRIPT, pages::LIVE_SCRIPT.to_string())),
        ["metrics"] => prometheus::metrics(app, query),
        ["api", "hosts"] => api::hosts(app, query),
        ["api", "hosts", host] => api::host(app, host, query),
        ["api", "hosts", host, "history"] => api::history(app, host, query),
        ["api", "runs"] => api::runs(app, query),
        ["api", "runs", id] => api::run(app, id, query),
        ["api", "alerts"] => api::alerts(app, query),
        _ => Err(Failure::NotFound(format!(
            "no page {path}: see / for the fleet, /runs, /alerts, /metrics and /api/hosts"
        ))),
    };
    match result {
        Ok(reply) => reply,
        Err(Failure::Bad(e)) => Reply::error(StatusCode::BAD_REQUEST, &e.0),
        Err(Failure::NotFound(what)) => Reply::error(StatusCode::NOT_FOUND, &what),
        Err(Failure::Internal(e)) => {
            tracing::error!("{e}");
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("internal error: {e}"),
            )
        }
        Err(Failure::Store(e)) => {
            tracing::error!("{e}");
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot read the results store: {e}"),
            )
        }
    }
}

/// A run ID from a path segment.
pub fn run_id(text: &str) -> Result<crate::store::RunId, Failure> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(crate::store::RunId(id)),
        _ => Err(Failure::Bad(BadRequest(format!(
            "`{text}` is not a run ID: runs are numbered from 1 (see /runs)"
        )))),
    }
}
