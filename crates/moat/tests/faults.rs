//! Fault injection: upstreams and identity providers that break, stall or
//! flood, each answered in the documented way (docs/robustness.md, "Fault
//! injection") while the gateway goes on serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: faults, version: "1"}
paths:
  /items:
    get:
      operationId: listItems
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}
  /download:
    get: {operationId: download, responses: {"200": {description: ok}}}
  /upload:
    post:
      operationId: upload
      requestBody: {content: {application/octet-stream: {}}}
      responses: {"200": {description: ok}}
  /ok:
    get: {operationId: ok, responses: {"200": {description: ok}}}
"#;

/// What the faulty upstream does with a request.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers `200` with `[]`.
    Healthy,
    /// Sends a head announcing 100,000 bytes, 1,000 of them, and closes.
    CutBody,
    /// Sends a head announcing 100,000 bytes, 1,000 of them, and stalls.
    StallBody,
    /// The same, as JSON (which the gateway reads whole to filter).
    StallJson,
    /// Reads 16 KiB of the request body and closes without answering.
    CutRequest,
    /// Answers a 2 MiB JSON array in chunks, without `Content-Length`.
    Huge,
}

/// A raw HTTP/1.1 upstream whose behaviour is chosen per path by `fault`.
async fn faulty(fault: fn(&str) -> Fault) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, fault));
        }
    });
    format!("http://{addr}")
}

async fn serve(mut stream: TcpStream, fault: fn(&str) -> Fault) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        buf.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let behaviour = fault(&path);
        if let Fault::CutRequest = behaviour {
            while buf.len() < 16 * 1024 {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return;
        }
        // Read the rest of the body.
        while buf.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        match behaviour {
            Fault::Healthy => {
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]";
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
            Fault::CutBody => {
                partial(&mut stream, false).await;
                return;
            }
            Fault::StallBody | Fault::StallJson => {
                if partial(&mut stream, matches!(behaviour, Fault::StallJson)).await {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                return;
            }
            Fault::Huge => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = r#"{"id":1},"#.repeat(8 * 1024);
                let mut first = true;
                for _ in 0..32 {
                    // 32 pieces of 8 Ki ids: about 2.3 MiB in all.
                    let data = if first {
                        first = false;
                        format!("[{piece}")
                    } else {
                        piece.clone()
                    };
                    let framed = format!("{:x}\r\n{data}\r\n", data.len());
                    if stream.write_all(framed.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let end = "{\"id\":2}]";
                let framed = format!("{:x}\r\n{end}\r\n0\r\n\r\n", end.len());
                if stream.write_all(framed.as_bytes()).await.is_err() {
                    return;
                }
            }
            Fault::CutRequest => unreachable!(),
        }
    }
}

/// A head announcing 100,000 bytes and 1,000 of them; whether it went.
async fn partial(stream: &mut TcpStream, json: bool) -> bool {
    let kind = if json {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: 100000\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(if json { b"[" } else { b"x" });
    out.extend_from_slice(&[b' '; 999]);
    stream.write_all(&out).await.is_ok()
}

fn by_path(path: &str) -> Fault {
    match path {
        "/download" => Fault::CutBody,
        "/items" => Fault::Huge,
        "/upload" => Fault::CutRequest,
        _ => Fault::Healthy,
    }
}

fn stalling(path: &str) -> Fault {
    match path {
        "/download" => Fault::StallBody,
        "/items" => Fault::StallJson,
        _ => Fault::Healthy,
    }
}

fn start(upstream: &str, upstream_lines: &str, extra_api: &str) -> (tempfile::TempDir, Moat) {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = config(upstream, extra_api).replace(
        "    response_timeout: 2s\n",
        &format!("    response_timeout: 2s\n{upstream_lines}"),
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, moat)
}

async fn problem(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v["type"].as_str().unwrap_or_default().to_string())
}

/// The status line of a raw exchange: `head` and `body` written at once,
/// then everything read until the gateway closes.
async fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(body);
    // The gateway may answer before it read all of it.
    let _ = s.write_all(&out).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test]
async fn an_upstream_cut_mid_answer_cuts_the_client_off_and_the_gateway_goes_on() {
    let up = faulty(by_path).await;
    let (_dir, moat) = start(&up, "", "");
    let c = client();
    let r = c.get(moat.url("/download")).send().await.unwrap();
    // The head was forwarded; the body ends short, as the upstream's did,
    // and the client can tell: its connection is closed mid-body.
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(100_000));
    let read = r.bytes().await;
    assert!(read.is_err(), "a short body must not look complete");
    // The gateway goes on.
    assert_eq!(get_status(&c, moat.url("/ok")).await, 200);
    assert!(
        moat.stderr().find("panicked").is_none(),
        "{}",
        moat.stderr()
    );
}

#[tokio::test]
async fn an_upstream_cut_mid_request_body_is_502_and_not_sent_again() {
    let up = faulty(by_path).await;
    let (_dir, moat) = start(&up, "", "");
    let body = vec![b'y'; 128 * 1024];
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    assert_eq!(raw_exchange(moat.addrs[0], &head, &body).await, 502);
    let m = moat.metrics().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("moat_upstream_errors_total{")
                && (l.contains("kind=\"reset\"") || l.contains("kind=\"protocol\""))),
        "{m}"
    );
    assert_eq!(get_status(&client(), moat.url("/ok")).await, 200);
}

#[tokio::test]
async fn a_stalled_answer_body_is_cut_off_after_body_timeout() {
    let up = faulty(stalling).await;
    let (_dir, moat) = start(&up, "    body_timeout: 300ms\n", "");
    let c = client();
    // Streamed: the head went, then the connection is closed.
    let r = c.get(moat.url("/download")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let err = r.bytes().await.unwrap_err();
    assert!(
        !err.is_timeout(),
        "cut off by the gateway, not by the client: {err}"
    );
    // Read whole to be filtered: nothing of it is forwarded, `502`.
    let (status, kind) = problem(c.get(moat.url("/items")).send().await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (502, "urn:moat:problem:upstream-error")
    );
    assert_eq!(get_status(&c, moat.url("/ok")).await, 200);
}

#[tokio::test]
async fn an_answer_too_large_to_filter_is_refused_unread() {
    let up = faulty(by_path).await;
    // 2.3 MiB without Content-Length, over the 1 MiB filtering cap: what
    // was read cannot be forwarded unchecked.
    let (_dir, moat) = start(&up, "", "");
    let (status, kind) = problem(client().get(moat.url("/items")).send().await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (502, "urn:moat:problem:upstream-error")
    );
    let m = moat.metrics().await;
    assert!(
        m.lines()
            .any(|l| l.starts_with("moat_upstream_errors_total{")
                && l.contains("kind=\"unreadable\"")),
        "{m}"
    );
}

// ---------------------------------------------------------------------------
// Identity providers.

/// A JWKS endpoint (one P-256 key, `kid: k1`) that can be made to hang.
struct Jwks {
    url: String,
    key: Es256Key,
    hang: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl Jwks {
    async fn start() -> Jwks {
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        let key = Es256Key::generate();
        let doc = key.jwks.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hang = Arc::new(AtomicBool::new(false));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (h, f) = (hang.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (h, f, doc) = (h.clone(), f.clone(), doc.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                        let (h, f, doc) = (h.clone(), f.clone(), doc.clone());
                        async move {
                            f.fetch_add(1, Ordering::SeqCst);
                            if h.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                            }
                            Ok::<_, std::convert::Infallible>(json_answer(doc))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Jwks {
            url: format!("http://{addr}/jwks.json"),
            key,
            hang,
            fetches,
        }
    }

    /// An ES256 token for alice with `kid`, signed with the JWKS key.
    fn token(&self, kid: &str) -> String {
        self.key.token(kid)
    }
}

fn start_bearer(verifier: &str) -> (tempfile::TempDir, Moat) {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", BEARER_SPEC);
    let cfg = config(
        "http://127.0.0.1:9",
        &format!("    security:\n      Bearer: {verifier}\n"),
    );
    let cfg = format!("{cfg}consumers:\n  - id: alice\n");
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, moat)
}

async fn bearer(moat: &Moat, token: &str) -> (u16, String, Duration) {
    let began = Instant::now();
    let r = get_items_with_bearer(moat, token).await;
    let took = began.elapsed();
    let (status, kind) = problem(r).await;
    (status, kind, took)
}

#[tokio::test]
async fn a_hanging_jwks_endpoint_leaves_cached_keys_working_and_unknown_kids_refused() {
    let jwks = Jwks::start().await;
    let (_dir, moat) = start_bearer(&format!(
        "{{type: jwt, algorithms: [ES256], jwks_url: \"{}\"}}",
        jwks.url
    ));
    // Keys fetched (the upstream is down: a verified request gets 502).
    let (status, _, _) = bearer(&moat, &jwks.token("k1")).await;
    assert_eq!(status, 502);
    jwks.hang.store(true, Ordering::SeqCst);
    let fetched = jwks.fetches.load(Ordering::SeqCst);
    // Cached keys keep verifying while the endpoint hangs.
    for _ in 0..3 {
        let (status, _, _) = bearer(&moat, &jwks.token("k1")).await;
        assert_eq!(status, 502, "verified, then forwarded");
    }
    // An unknown key id is refused, and nobody waits past the fetch
    // timeout (5 s) for the endpoint.
    let (status, kind, took) = bearer(&moat, &jwks.token("k2")).await;
    assert!(matches!(status, 401 | 503), "refused: {status} {kind}");
    assert!(took < Duration::from_secs(8), "waited {took:?}");
    assert!(jwks.fetches.load(Ordering::SeqCst) <= fetched + 1);
}

#[tokio::test]
async fn a_hanging_or_missing_introspection_endpoint_fails_closed() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let (_dir, moat) = start_bearer(&format!(
        "{{type: introspection, url: \"http://{hanging}/introspect\", client_id: moat, client_secret: client-secret-1234, timeout: 500ms}}"
    ));
    let (status, kind, took) = bearer(&moat, "opaque-token").await;
    assert_eq!(
        (status, kind.as_str()),
        (503, "urn:moat:problem:verifier-unavailable")
    );
    assert!(took < Duration::from_secs(3), "waited {took:?}");
    drop(moat);

    let closed = closed_port();
    let (_dir, moat) = start_bearer(&format!(
        "{{type: introspection, url: \"http://127.0.0.1:{closed}/introspect\", client_id: moat, client_secret: client-secret-1234}}"
    ));
    let (status, kind, _) = bearer(&moat, "opaque-token").await;
    assert_eq!(
        (status, kind.as_str()),
        (503, "urn:moat:problem:verifier-unavailable")
    );
}

// ---------------------------------------------------------------------------
// The state file.

/// `moat events --format json` against the config in `dir`.
fn stored_events(dir: &std::path::Path) -> Vec<Value> {
    let out = std::process::Command::new(MOAT)
        .args(["events", "--format", "json", "--limit", "1000", "--config"])
        .arg(dir.join("moat.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sets the (soft) file-size limit of process `pid` (`prlimit(1)`): past
/// it a write fails (`EFBIG`) as on a full disk.
fn limit_file_size(pid: u32, limit: &str) {
    let ok = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        // The soft limit only: the hard one could not be raised again.
        .arg(format!("--fsize={limit}:"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit --fsize={limit} failed");
}

/// `moat serve` on the config in `dir`, in a process whose file-size limit
/// [`limit_file_size`] can lower: a write past the limit then fails with
/// `EFBIG` instead of killing the process with `SIGXFSZ`, as a full disk
/// fails with `ENOSPC`.
fn serve_with_file_size_limit(dir: &std::path::Path) -> Moat {
    let mut cmd = std::process::Command::new("sh");
    cmd.env("MOAT_LOG", "info,moat_gateway::events=debug");
    cmd.arg("-c")
        .arg("trap '' XFSZ; exec \"$0\" serve --config \"$1\"")
        .arg(MOAT)
        .arg(dir.join("moat.yaml"));
    Moat::spawn_command(cmd)
}

#[tokio::test]
async fn a_full_state_file_holds_security_events_and_writes_them_when_space_returns() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = format!(
        "{}events:\n  coalesce: {{enabled: false}}\n",
        config(&up.url(), "")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = serve_with_file_size_limit(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    let before = stored_events(dir.path()).len();

    // The state file and its journal cannot grow.
    limit_file_size(moat.pid(), "4096");
    const REFUSED: usize = 12;
    for _ in 0..REFUSED {
        // Refusals are still answered.
        assert_eq!(get_status(&c, moat.url("/not-documented")).await, 404);
    }
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    // Held, not lost: the gauge shows them waiting.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = moat.metrics().await;
        let held = m
            .lines()
            .find(|l| l.starts_with("moat_events_buffered "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if held >= REFUSED as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "events not held: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Space returns: every held event is written, in order.
    limit_file_size(moat.pid(), "unlimited");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = stored_events(dir.path());
        let shadow = events
            .iter()
            .filter(|e| e.to_string().contains("shadow-endpoint"))
            .count();
        if shadow == REFUSED {
            assert!(events.len() >= before + REFUSED);
            break;
        }
        assert!(
            shadow < REFUSED && Instant::now() < deadline,
            "{shadow} of {REFUSED} events stored: {}",
            moat.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!moat.stderr().contains("panicked"), "{}", moat.stderr());
}

/// Quotas count in the state file. While it cannot be written, a quota
/// decides by its fail mode and creating a key is refused; once space
/// returns, every decision counts again and exactly one key exists. (A commit that failed used to leave its pooled SQLite connection
/// inside the transaction, and every later quota decision made on that
/// connection failed, for as long as the process ran.)
#[tokio::test]
async fn a_full_state_file_fails_quotas_by_their_mode_and_key_creation_and_both_recover() {
    const LIMIT: usize = 12;
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let quota = format!(
        "    quotas:\n      - {{name: per-hour, key: client_ip, limit: {LIMIT}, per: 1h, fail: closed}}\n"
    );
    let cfg = format!(
        "{}consumers:\n  - id: alice\nkeys:\n  pepper: a-pepper-for-the-full-disk-test-0123456789abcdef\n",
        config(&up.url(), &quota)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = serve_with_file_size_limit(dir.path());
    let c = client();
    let counted_before = 2;
    for _ in 0..counted_before {
        assert_eq!(get_status(&c, moat.url("/ok")).await, 200);
    }

    // The state file cannot grow: decisions fail closed, as configured,
    // on every pooled connection (the requests go at once).
    limit_file_size(moat.pid(), "4096");
    let during: Vec<_> = (0..8)
        .map(|_| {
            let r = c.get(moat.url("/ok")).send();
            tokio::spawn(async move { problem(r.await.unwrap()).await })
        })
        .collect();
    for r in during {
        let (status, kind) = r.await.unwrap();
        assert_eq!(
            (status, kind.as_str()),
            (503, "urn:moat:problem:rate-limit-unavailable"),
            "{}",
            moat.stderr()
        );
    }

    // A key cannot be created: a clear answer, nothing half written.
    let r = admin_post_key(&moat, "alice").await;
    let (status, kind) = problem(r).await;
    assert_eq!(
        (status, kind.as_str()),
        (503, "urn:moat:problem:state-unavailable")
    );

    // Space returns: the failed decisions took nothing, and the quota
    // counts every request again, to its limit; keys are created.
    limit_file_size(moat.pid(), "unlimited");
    for n in counted_before..LIMIT {
        let (status, kind) = problem(c.get(moat.url("/ok")).send().await.unwrap()).await;
        assert_eq!(
            status,
            200,
            "request {} of {LIMIT}: {kind}; {}",
            n + 1,
            moat.stderr()
        );
    }
    let (status, kind) = problem(c.get(moat.url("/ok")).send().await.unwrap()).await;
    assert_eq!(
        (status, kind.as_str()),
        (429, "urn:moat:problem:quota-exceeded")
    );
    let (key, _) = admin_create_key(&moat, "alice").await;
    let listed = moat_keys(dir.path(), &["list"]);
    assert_eq!(listed.matches("alice").count(), 1, "{listed}");
    assert!(!key.is_empty());
    assert!(!moat.stderr().contains("panicked"), "{}", moat.stderr());
}

/// Another process holds the state file's write lock for longer than
/// moat waits for it (5 s): a long write by a backup or maintenance tool.
/// Reads go on (WAL); a quota decision waits for the lock up to 5 s, then
/// follows its fail mode; creating a key fails with a clear error; security
/// events are held. Once the lock is released, everything writes again.
#[tokio::test]
async fn a_state_file_locked_by_another_process_times_out_by_fail_mode_and_recovers() {
    use sqlx::{ConnectOptions, Connection};

    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let quota = "    quotas:\n      - {name: per-hour, key: client_ip, limit: 100, per: 1h, operations: [ok], fail: closed}\n";
    let cfg = format!(
        "{}consumers:\n  - id: alice\nkeys:\n  pepper: a-pepper-for-the-lock-test-0123456789abcdef\n",
        config(&up.url(), quota)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/ok")).await, 200);

    let mut other = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("moat.db"))
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    // Reads are not blocked: an operation without a quota is answered.
    let started = Instant::now();
    assert_eq!(get_status(&c, moat.url("/download")).await, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The quota's decision waits for the lock, then fails closed.
    let started = Instant::now();
    let (status, kind) = problem(c.get(moat.url("/ok")).send().await.unwrap()).await;
    let waited = started.elapsed();
    assert_eq!(
        (status, kind.as_str()),
        (503, "urn:moat:problem:rate-limit-unavailable")
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(9),
        "answered after {waited:?}"
    );
    // Creating a key fails with an answer, not a hang.
    let r = admin_post_key(&moat, "alice").await;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 503, "{body}");
    // A refusal's security event waits for the file.
    assert_eq!(get_status(&c, moat.url("/not-documented")).await, 404);

    sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    other.close().await.unwrap();

    // Released: the quota counts, keys are created, the event is written.
    let started = Instant::now();
    assert_eq!(get_status(&c, moat.url("/ok")).await, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    admin_create_key(&moat, "alice").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stored_events(dir.path())
        .iter()
        .any(|e| e.to_string().contains("shadow-endpoint"))
    {
        assert!(Instant::now() < deadline, "{}", moat.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!moat.stderr().contains("panicked"), "{}", moat.stderr());
}
