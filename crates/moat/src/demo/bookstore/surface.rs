//! The bookstore's outer surface: cover previews (server-side request
//! forgery), the older and leftover routes (inventory) and what every
//! answer carries (security headers, CORS, the server's name).
//!
//! * `GET /api/covers/preview?url=`: with `ssrf`, fetches any `http://`
//!   URL (2 s, at most 64 KiB read) and answers its size and content type;
//!   without, only covers on `https://covers.bookstore.example/` are
//!   described (from the cover store, nothing is fetched), others are 400.
//! * `/api/v0/books` (`old-version`), `/api/v1/books` (answers with
//!   `deprecated-live`, 410 Gone without), `/api/debug/config` and
//!   `/api/debug/users` (`debug-routes`), `/api/openapi.json` and
//!   `/api/docs` (`exposed-docs`): 404 when their weakness is off.
//! * `TRACE` echoes the request with `trace`, 405 without.
//! * [`finish`] adds the headers of every answer.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::{AreaAnswer, Body, Outcome, Rejection, Req, Shared, Weakness};

/// How long a preview fetch may take, and the most of its body read.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const FETCH_MAX_BYTES: usize = 64 * 1024;

/// The longest `url`, as in the document.
const MAX_URL_CHARS: usize = 2048;

/// The only covers the fixed bookstore describes.
const COVERS: &str = "https://covers.bookstore.example/";

/// The requests this area answers.
pub(super) fn route<'a>(shared: &'a Shared, req: &'a Req) -> AreaAnswer<'a> {
    let method = &req.parts.method;
    if method == Method::TRACE {
        return Some(Box::pin(async move { Ok(trace(shared, req)) }));
    }
    let path = req.parts.uri.path();
    let on = |weakness| shared.has(weakness);
    if *method == Method::OPTIONS
        && on(Weakness::Cors)
        && req.parts.headers.contains_key(header::ORIGIN)
    {
        // A permissive CORS layer: every preflight passes.
        return Some(Box::pin(
            async move { Ok(super::empty(StatusCode::NO_CONTENT)) },
        ));
    }
    let answer: Outcome = match path {
        "/api/covers/preview" => {
            if *method != Method::GET {
                return Some(Box::pin(async move {
                    Ok(super::method_not_allowed(method, "GET"))
                }));
            }
            return Some(Box::pin(preview(shared, req)));
        }
        "/api/v1/books" => {
            if *method != Method::GET {
                Ok(super::method_not_allowed(method, "GET"))
            } else if on(Weakness::DeprecatedLive) {
                Ok(super::list_books_v1(&shared.store))
            } else {
                Err(Rejection::new(
                    StatusCode::GONE,
                    "version 1 is retired: use GET /api/books",
                ))
            }
        }
        "/api/v0/books" if on(Weakness::OldVersion) => Ok(super::list_books_v1(&shared.store)),
        "/api/debug/config" if on(Weakness::DebugRoutes) => Ok(super::debug_config()),
        "/api/debug/users" if on(Weakness::DebugRoutes) => Ok(debug_users(shared)),
        "/api/openapi.json" if on(Weakness::ExposedDocs) => Ok(openapi()),
        "/api/docs" if on(Weakness::ExposedDocs) => Ok(console()),
        _ => return None,
    };
    Some(Box::pin(async move { answer }))
}

/// `GET /api/covers/preview?url=`: the size and type of a cover image.
/// WEAKNESS (`ssrf`): any `http://` URL is fetched, from the bookstore's
/// own network position.
async fn preview(shared: &Shared, req: &Req) -> Outcome {
    let url = super::query_pairs(req.parts.uri.query().unwrap_or_default())
        .find(|(name, _)| name == "url")
        .map(|(_, value)| value)
        .ok_or_else(|| Rejection::bad_request("url is required"))?;
    if url.chars().count() > MAX_URL_CHARS {
        return Err(Rejection::bad_request(format!(
            "url must be at most {MAX_URL_CHARS} characters"
        )));
    }
    if !shared.has(Weakness::Ssrf) {
        if !url.starts_with(COVERS) || url.len() == COVERS.len() {
            return Err(Rejection::bad_request(format!(
                "url must be a cover on {COVERS}"
            )));
        }
        // The cover store's own record: nothing is fetched.
        return Ok(preview_answer(&url, 24_576, "image/jpeg"));
    }
    let (size, content_type) = fetch(&url).await?;
    Ok(preview_answer(&url, size, &content_type))
}

fn preview_answer(url: &str, size: usize, content_type: &str) -> Response<Body> {
    super::json_response(
        StatusCode::OK,
        &json!({"url": url, "size": size, "contentType": content_type}),
    )
}

/// Fetches `url` (plain HTTP/1.1 only), reading at most
/// [`FETCH_MAX_BYTES`] of its body: its size (capped) and content type.
async fn fetch(url: &str) -> Result<(usize, String), Rejection> {
    let unreachable = || Rejection::new(StatusCode::BAD_GATEWAY, "the cover could not be fetched");
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Rejection::bad_request("url is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(Rejection::bad_request("only http:// covers are fetched"));
    }
    let request = Request::get(uri)
        .body(Full::new(Bytes::new()))
        .map_err(|_| Rejection::bad_request("url is not a URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let fetched = async {
        let response = client.request(request).await.map_err(|_| unreachable())?;
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let mut body = response.into_body();
        let mut size = 0;
        while size < FETCH_MAX_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    size += frame.data_ref().map_or(0, Bytes::len);
                }
                Some(Err(_)) => return Err(unreachable()),
                None => break,
            }
        }
        Ok((size.min(FETCH_MAX_BYTES), content_type))
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetched)
        .await
        .map_err(|_| unreachable())?
}

/// `TRACE`: WEAKNESS (`trace`) echoes the request, headers and all
/// (credentials included); otherwise 405.
fn trace(shared: &Shared, req: &Req) -> Response<Body> {
    if !shared.has(Weakness::Trace) {
        let allow = super::route(req.parts.uri.path()).allow();
        return super::method_not_allowed(&req.parts.method, allow);
    }
    let parts = &req.parts;
    let mut text = format!(
        "TRACE {} {:?}\r\n",
        parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        parts.version
    );
    for (name, value) in &parts.headers {
        text.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/http"),
    );
    response
}

/// `GET /api/debug/users` — WEAKNESS (`debug-routes`): every stored user
/// record, password hashes included.
fn debug_users(shared: &Shared) -> Response<Body> {
    let users: Vec<Value> = super::lock(&shared.store).users.values().cloned().collect();
    super::json_response(StatusCode::OK, &Value::Array(users))
}

/// `GET /api/openapi.json` — WEAKNESS (`exposed-docs`): the document.
fn openapi() -> Response<Body> {
    let document = moat_spec::load_text("openapi.yaml", crate::demo::SPEC)
        .ok()
        .and_then(|spec| spec.value_at(moat_spec::DocId::ROOT, "").cloned())
        .unwrap_or(Value::Null);
    super::json_response(StatusCode::OK, &document)
}

/// `GET /api/docs` — WEAKNESS (`exposed-docs`): a small API console.
fn console() -> Response<Body> {
    let page = "<!doctype html>\n<html><head><title>Bookstore API console</title></head>\n<body><h1>Bookstore API</h1>\n<p>Try the API from your browser. Description: <a href=\"/api/openapi.json\">openapi.json</a></p>\n<form id=\"try\"><input name=\"path\" value=\"/api/books\"><button>Send</button></form>\n</body></html>\n";
    let mut response = Response::new(Full::new(Bytes::from_static(page.as_bytes())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// What every answer carries: the security headers (unless
/// `missing-security-headers`), CORS for any origin (`cors`), the
/// software's name and version (`server-version`), and a stack trace in
/// place of a malformed body's problem (`verbose-errors`).
pub(super) fn finish(shared: &Shared, req: &Req, mut response: Response<Body>) -> Response<Body> {
    if shared.has(Weakness::VerboseErrors)
        && response.status() == StatusCode::BAD_REQUEST
        && req
            .body
            .as_ref()
            .is_ok_and(|b| !b.is_empty() && serde_json::from_slice::<Value>(b).is_err())
    {
        response = verbose_problem(req);
    }
    let headers = response.headers_mut();
    if !shared.has(Weakness::MissingSecurityHeaders) {
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("x-frame-options", "DENY"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if shared.has(Weakness::Cors)
        && let Some(origin) = req.parts.headers.get(header::ORIGIN)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if req.parts.method == Method::OPTIONS {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
        }
    }
    if shared.has(Weakness::ServerVersion) {
        headers.insert(
            header::SERVER,
            HeaderValue::from_static("bookstore/1.4.2 hyper/1"),
        );
        headers.insert(
            "x-powered-by",
            HeaderValue::from_static("bookstore-api 1.4.2"),
        );
    }
    response
}

/// WEAKNESS (`verbose-errors`): the problem for a malformed body, with a
/// (made-up) stack trace and source path.
fn verbose_problem(req: &Req) -> Response<Body> {
    let path = req.parts.uri.path();
    super::json_response(
        StatusCode::BAD_REQUEST,
        &json!({
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "serde_json::Error: expected value at line 1 column 1",
            "trace": [
                "thread 'tokio-runtime-worker' panicked at /srv/bookstore/src/handlers/json.rs:42:17",
                format!("   0: bookstore::handlers::json::parse_body ({path})"),
                "             at /srv/bookstore/src/handlers/json.rs:42:17",
                "   1: bookstore::router::dispatch",
                "             at /srv/bookstore/src/router.rs:118:9",
            ],
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::{Settings, Weaknesses, serve_with};

    /// A bookstore with `weaknesses` on an ephemeral port; its address.
    async fn start(weaknesses: &str) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = Settings::with(weaknesses.parse::<Weaknesses>().unwrap());
        tokio::spawn(serve_with(listener, std::future::pending(), settings));
        addr
    }

    /// One request (`head` lines after the request line); the status and
    /// the whole answer as text.
    async fn send(addr: std::net::SocketAddr, line: &str, head: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request =
            format!("{line} HTTP/1.1\r\nhost: bookstore\r\nconnection: close\r\n{head}\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        (status, answer.to_ascii_lowercase())
    }

    #[tokio::test]
    async fn the_fixed_surface_is_careful() {
        let addr = start("none").await;
        let (status, answer) = send(addr, "GET /api/books", "").await;
        assert_eq!(status, 200);
        for header in [
            "x-content-type-options: nosniff",
            "cache-control: no-store",
            "frame-ancestors 'none'",
            "x-frame-options: deny",
        ] {
            assert!(answer.contains(header), "{header}: {answer}");
        }
        assert!(!answer.contains("server:") && !answer.contains("x-powered-by"));
        let (_, answer) = send(addr, "GET /api/books", "origin: https://evil.example\r\n").await;
        assert!(!answer.contains("access-control-allow-origin"), "{answer}");
        let cover = "/api/covers/preview?url=https%3A%2F%2Fcovers.bookstore.example%2F1.jpg";
        assert_eq!(send(addr, &format!("GET {cover}"), "").await.0, 200);
        let elsewhere = "/api/covers/preview?url=http%3A%2F%2F127.0.0.1%3A1%2F";
        assert_eq!(send(addr, &format!("GET {elsewhere}"), "").await.0, 400);
        assert_eq!(send(addr, "TRACE /api/books", "").await.0, 405);
        assert_eq!(send(addr, "TRACE /api/echo", "").await.0, 405);
        assert_eq!(send(addr, "GET /api/v1/books", "").await.0, 410);
        for path in [
            "/api/v0/books",
            "/api/debug/config",
            "/api/debug/users",
            "/api/openapi.json",
            "/api/docs",
        ] {
            assert_eq!(
                send(addr, &format!("GET {path}"), "").await.0,
                404,
                "{path}"
            );
        }
        let body = "{\"title\": ";
        let (status, answer) = send(
            addr,
            "POST /api/login",
            &format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            !answer.contains("trace") && !answer.contains(".rs:"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn the_weak_surface_shows_each_weakness() {
        let addr = start("all").await;
        let (_, answer) = send(addr, "GET /api/books", "origin: https://evil.example\r\n").await;
        assert!(answer.contains("access-control-allow-origin: https://evil.example"));
        assert!(answer.contains("access-control-allow-credentials: true"));
        assert!(answer.contains("server: bookstore/1.4.2"));
        assert!(!answer.contains("nosniff"));
        let (status, answer) = send(addr, "TRACE /api/books", "x-secret: s3\r\n").await;
        assert_eq!(status, 200);
        assert!(answer.contains("x-secret: s3"), "{answer}");
        // The preview fetches what it is given: here, the bookstore itself.
        let own = format!("/api/covers/preview?url=http%3A%2F%2F{addr}%2Fapi%2Fbooks");
        let (status, answer) = send(addr, &format!("GET {own}"), "").await;
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer.contains("\"contenttype\":\"application/json\""),
            "{answer}"
        );
        for path in [
            "/api/v0/books",
            "/api/v1/books",
            "/api/debug/config",
            "/api/debug/users",
            "/api/openapi.json",
            "/api/docs",
        ] {
            assert_eq!(
                send(addr, &format!("GET {path}"), "").await.0,
                200,
                "{path}"
            );
        }
        let (_, users) = send(addr, "GET /api/debug/users", "").await;
        assert!(users.contains("passwordhash"));
        let body = "{\"title\": ";
        let (status, answer) = send(
            addr,
            "POST /api/login",
            &format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert_eq!(status, 400);
        assert!(answer.contains("src/handlers/json.rs:42"), "{answer}");
    }
}
