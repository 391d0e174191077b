//! Limits that protect the gateway itself (OWASP API4): request-head size,
//! header count, request-target length, slow heads and connections per
//! client, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Small limits, so tests stay small: 20 header fields, a 4 KiB head (below
/// hyper's 8 KiB read buffer, so both the exact check and hyper's own cap
/// can be hit), a 1 KiB target, a 1 s header deadline.
const LIMITS: &str = "    header_read_timeout: 1s\n    max_header_count: 20\n    \
                      max_header_bytes: 4096\n    max_url_bytes: 1024\n";

async fn setup(listener: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener(&up.url(), listener, ""),
    );
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// The process is up and a normal request still goes through.
async fn still_serving(moat: &mut Moat) {
    assert!(moat.is_running(), "moat exited:\n{}", moat.stderr());
    assert_eq!(get_status(&client(), moat.url("/items")).await, 200);
}

/// A raw HTTP/1.1 exchange on a new connection: status, head, body. The
/// request should ask for `Connection: close` (or be one the server closes).
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, out[split + 4..].to_vec())
}

fn get_with_headers(target: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut r = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn numbered(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("x-h{i}"), "v".into())).collect()
}

fn problem_type(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["type"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn too_many_header_fields_get_431() {
    let (_dir, up, mut moat) = setup(LIMITS).await;
    let addr = moat.addrs[0];

    // Host, Connection and 18 more: exactly the limit.
    let (status, _, _) = raw(addr, &get_with_headers("/items", &numbered(18))).await;
    assert_eq!(status, 200);
    // HTTP/1.1: one field over the limit, and up to the parser's 100
    // fields, get the problem body...
    for n in [19, 98] {
        let (status, head, body) = raw(addr, &get_with_headers("/items", &numbered(n))).await;
        assert_eq!(status, 431, "{n}");
        assert!(head.contains("application/problem+json"), "{n}: {head}");
        assert_eq!(problem_type(&body), "urn:moat:problem:headers-too-large");
    }
    // ...and far more are refused by the parser, while the head is read.
    let (status, _, body) = raw(addr, &get_with_headers("/items", &numbered(150))).await;
    assert_eq!(status, 431);
    assert!(body.is_empty());

    // HTTP/2: counted before the pipeline, answered with a problem.
    install_crypto();
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut req = h2.get(moat.url("/items"));
    for (k, v) in numbered(30) {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 431);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().contains_key("x-request-id"));
    let body = r.bytes().await.unwrap();
    assert_eq!(problem_type(&body), "urn:moat:problem:headers-too-large");
    let r = h2.get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The upstream saw only the requests within the limit.
    assert_eq!(up.hits(), 2);
    still_serving(&mut moat).await;
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let (_dir, up, mut moat) = setup(LIMITS).await;
    let addr = moat.addrs[0];

    let big = |n: usize| vec![("x-big".to_string(), "b".repeat(n))];
    let (status, _, _) = raw(addr, &get_with_headers("/items", &big(3000))).await;
    assert_eq!(status, 200);

    // Over max_header_bytes, within hyper's read buffer: the exact check,
    // with a problem body.
    let (status, head, body) = raw(addr, &get_with_headers("/items", &big(6000))).await;
    assert_eq!(status, 431);
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(problem_type(&body), "urn:moat:problem:headers-too-large");
    let line = moat
        .wait_log(|v| v["status"] == 431 && v["finding"] == "headers-too-large")
        .await;
    assert_eq!(line["verdict"], "denied");
    assert_eq!(line["path"], "/items");

    // A head that does not even fit the read buffer is refused while it is
    // read, and the connection closed. (Exactly the buffer's 8 KiB, with no
    // end of head: the server reads all of it, so its close is clean.)
    let mut partial = b"GET /items HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    partial.resize(8192, b'b');
    let (status, _, _) = raw(addr, &partial).await;
    assert_eq!(status, 431);

    assert_eq!(up.hits(), 1);
    still_serving(&mut moat).await;
}

#[tokio::test]
async fn long_request_target_gets_414_problem() {
    let (_dir, up, mut moat) = setup(LIMITS).await;
    let addr = moat.addrs[0];

    // "/items?q=" is 9 bytes: 1015 more make exactly 1024.
    let at_limit = format!("/items?q={}", "a".repeat(1015));
    let (status, _, _) = raw(addr, &get_with_headers(&at_limit, &[])).await;
    assert_eq!(status, 200);

    let over = format!("/items?q={}", "a".repeat(1016));
    let (status, head, body) = raw(addr, &get_with_headers(&over, &[])).await;
    assert_eq!(status, 414);
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("x-request-id: "), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:moat:problem:uri-too-long");
    assert_eq!(problem["status"], 414);
    assert_eq!(problem["title"], "Request target too long");
    // The problem never echoes the target.
    assert!(!String::from_utf8_lossy(&body).contains("aaaa"));

    // Checked before anything else: even a path no API serves.
    let nowhere = format!("/nowhere/{}", "a".repeat(2000));
    let (status, _, _) = raw(addr, &get_with_headers(&nowhere, &[])).await;
    assert_eq!(status, 414);

    let line = moat
        .wait_log(|v| v["status"] == 414 && v["path"] == "/items")
        .await;
    assert_eq!(line["finding"], "uri-too-long");
    assert_eq!(line["api"], "-");
    assert_eq!(up.hits(), 1);
    still_serving(&mut moat).await;
}

/// Connects and sends `bytes` one every 200 ms (nothing when empty, never
/// closing its side); the time until the server closes the connection.
async fn time_until_closed(addr: SocketAddr, bytes: &'static [u8]) -> Duration {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        for &b in bytes {
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Keep the write side open: a FIN would end the connection early.
        std::future::pending::<()>().await;
        drop(wr);
    });
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the server closes a slow connection");
    writer.abort();
    started.elapsed()
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let (_dir, _up, mut moat) = setup(LIMITS).await;
    let addr = moat.addrs[0];

    // A head trickled a byte at a time would take 12 s to finish.
    let trickle: &'static [u8] =
        b"GET /items HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaa\r\n\r\n";
    let slow = tokio::spawn(time_until_closed(addr, trickle));
    // Connects and says nothing.
    let silent = tokio::spawn(time_until_closed(addr, b""));
    // Starts an HTTP/2 preface and stalls inside it.
    let preface = tokio::spawn(time_until_closed(addr, b"PRI * HTTP/2.0\r\n\r\nSM"));

    // Meanwhile a normal client on its own connection is served.
    let c = client();
    let mut served = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served >= 5);

    // header_read_timeout is 1 s; allow scheduling slack, but far less
    // than the trickle needs.
    for (what, task) in [("trickle", slow), ("silent", silent), ("preface", preface)] {
        let took = task.await.unwrap();
        assert!(
            took >= Duration::from_millis(800) && took <= Duration::from_millis(2500),
            "{what} connection closed after {took:?}"
        );
    }
    still_serving(&mut moat).await;
}

async fn open(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn get_on(sender: &mut SendRequest<Empty<Bytes>>) -> Result<u16, hyper::Error> {
    let req = Request::get("/items")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

async fn refused_metric(moat: &Moat) -> String {
    let text = moat.metrics().await;
    text.lines()
        .find(|l| l.starts_with("moat_connections_refused_total{"))
        .unwrap_or("")
        .to_string()
}

/// The per-client cap on an IPv6 listener, from `::1`: an IPv6 client is
/// counted by its /64 (unit-tested with several addresses of one /64 in
/// `moat-state`, `IpPrefix::client`; the loopback has one address only).
#[tokio::test]
async fn connections_per_ipv6_client_are_capped() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = config_with_listener(&up.url(), "    max_connections_per_client: 2\n", "").replacen(
        "  - bind: 127.0.0.1:0\n",
        "  - bind: \"[::1]:0\"\n",
        1,
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let addr = moat.addrs[0];
    assert!(addr.is_ipv6(), "{addr}");

    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = open(addr).await;
        assert_eq!(get_on(&mut s).await.unwrap(), 200);
        held.push(s);
    }
    // A third from the same /64 is closed at accept, without an answer.
    let mut third = open(addr).await;
    assert!(get_on(&mut third).await.is_err());
    let metric = refused_metric(&moat).await;
    assert!(metric.contains("reason=\"per_client_limit\""), "{metric}");
    for s in &mut held {
        assert_eq!(get_on(s).await.unwrap(), 200);
    }
}

#[tokio::test]
async fn connections_per_client_are_capped() {
    let (_dir, _up, mut moat) =
        setup(&format!("{LIMITS}    max_connections_per_client: 4\n")).await;
    let addr = moat.addrs[0];

    // Four keep-alive connections, each proven accepted by a response.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = open(addr).await;
        assert_eq!(get_on(&mut s).await.unwrap(), 200);
        held.push(s);
    }

    // Further ones are closed at accept, without an answer.
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s
            .write_all(b"GET /items HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
            .await
            .expect("an extra connection is closed");
        assert!(
            read.is_err() || out.is_empty(),
            "an extra connection was served: {:?}",
            String::from_utf8_lossy(&out)
        );
    }

    // The earlier ones still work.
    for s in &mut held {
        assert_eq!(get_on(s).await.unwrap(), 200);
    }
    let metric = refused_metric(&moat).await;
    assert!(metric.contains("reason=\"per_client_limit\""), "{metric}");
    assert!(metric.ends_with(" 3"), "{metric}");

    // Closing one frees its slot.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = open(addr).await;
        if let Ok(200) = get_on(&mut s).await {
            held.push(s);
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was not reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_on(&mut open(addr).await).await.is_err() {
        assert!(Instant::now() < deadline, "slots were not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    still_serving(&mut moat).await;
}

#[test]
fn limits_out_of_range_are_refused_by_check() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let listener = "    max_connections_per_client: 0\n    max_header_count: 0\n    \
                    max_header_bytes: 100\n    max_url_bytes: 200\n    \
                    http2_keep_alive_interval: 0s\n    http2_keep_alive_timeout: 0s\n    \
                    http2_idle_timeout: 0s\n";
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener("http://127.0.0.1:9", listener, ""),
    );
    let err = check_fails(dir.path());
    for key in [
        "max_connections_per_client must be at least 1",
        "max_header_count is 0",
        "max_header_bytes is 100",
        "max_url_bytes is 200",
        "http2_keep_alive_interval must be longer than 0s",
        "http2_keep_alive_timeout must be longer than 0s",
        "http2_idle_timeout must be longer than 0s",
    ] {
        assert!(err.contains(key), "no {key:?} in:\n{err}");
    }
    // The defaults are valid; unknown listener keys are not.
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener("http://127.0.0.1:9", "    max_headers: 10\n", ""),
    );
    assert!(check_fails(dir.path()).contains("max_headers"));
}
