//! Fields the application behind the gateway reads otherwise, through the
//! real binary and raw sockets: method overrides, underscores in field
//! names, transfer and content codings, `Content-Length` spellings, and a
//! client that stops sending its body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::*;
use tokio::io::AsyncWriteExt;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: fields, version: "1"}
paths:
  /notes:
    get: {operationId: listNotes, responses: {"200": {description: ok}}}
    post:
      operationId: createNote
      requestBody:
        content:
          application/json: {schema: {type: object}}
          application/x-www-form-urlencoded: {}
      responses: {"200": {description: ok}}
  /blobs:
    post:
      operationId: putBlob
      requestBody: {content: {application/octet-stream: {}}}
      responses: {"200": {description: ok}}
"#;

async fn start(proxy: &str, listener: &str, api: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = format!("{}{proxy}", config_with_listener(&up.url(), listener, api));
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// Sends `head` (lines, without the final empty line; `Connection: close`
/// added) and `body` as written; reads the answer to the end.
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    read_answer(&mut s).await
}

fn post(path: &str, content_type: &str, extra: &str, body: &str) -> (String, Vec<u8>) {
    (
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}{extra}",
            body.len()
        ),
        body.as_bytes().to_vec(),
    )
}

#[tokio::test]
async fn a_second_method_is_refused_by_default() {
    let (_dir, up, moat) = start("", "", "").await;
    let addr = moat.addrs[0];
    for field in [
        "X-HTTP-Method-Override",
        "X-Method-Override",
        "x-http-method",
    ] {
        let (head, body) = post(
            "/notes",
            "application/json",
            &format!("\r\n{field}: DELETE"),
            "{}",
        );
        let a = send(addr, &head, &body).await;
        assert_eq!(a.status, 400, "{field}: {}", a.body);
        assert_eq!(a.json()["type"], "urn:moat:problem:ambiguous-request");
    }
    let (head, body) = post("/notes?_method=DELETE", "application/json", "", "{}");
    assert_eq!(send(addr, &head, &body).await.status, 400);
    let (head, body) = post(
        "/notes",
        "application/x-www-form-urlencoded",
        "",
        "title=a&_method=DELETE",
    );
    let a = send(addr, &head, &body).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("_method"), "{}", a.body);
    assert_eq!(up.hits(), 0);
    let log = moat
        .wait_log(|l| l["finding"] == "ambiguous-request" && l["operation"] == "createNote")
        .await;
    assert_eq!(log["verdict"], "denied");

    // Without them the same requests pass.
    let (head, body) = post("/notes", "application/x-www-form-urlencoded", "", "title=a");
    assert_eq!(send(addr, &head, &body).await.status, 200);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn a_second_method_is_stripped_or_allowed_when_configured() {
    let (_dir, _up, moat) = start("proxy:\n  method_override: strip\n", "", "").await;
    let (head, body) = post(
        "/notes?_method=DELETE&keep=1",
        "application/json",
        "\r\nX-HTTP-Method-Override: DELETE\r\nX-Method-Override: PUT",
        "{}",
    );
    let a = send(moat.addrs[0], &head, &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let echo = a.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/notes?keep=1");
    assert!(echo["headers"].get("x-http-method-override").is_none());
    assert!(echo["headers"].get("x-method-override").is_none());
    // A form field cannot be stripped without rewriting the body: refused.
    let (head, body) = post(
        "/notes",
        "application/x-www-form-urlencoded",
        "",
        "_method=DELETE",
    );
    assert_eq!(send(moat.addrs[0], &head, &body).await.status, 400);

    let (_dir, _up, moat) = start("proxy:\n  method_override: allow\n", "", "").await;
    let (head, body) = post(
        "/notes?_method=DELETE",
        "application/json",
        "\r\nX-HTTP-Method-Override: DELETE",
        "{}",
    );
    let echo = send(moat.addrs[0], &head, &body).await.json();
    assert_eq!(echo["path"], "/notes?_method=DELETE");
    assert_eq!(echo["headers"]["x-http-method-override"], "DELETE");

    // Monitor mode records and forwards.
    let (_dir, up, moat) = start("", "", "    mode: monitor\n").await;
    let (head, body) = post(
        "/notes",
        "application/json",
        "\r\nX-HTTP-Method-Override: DELETE",
        "{}",
    );
    assert_eq!(send(moat.addrs[0], &head, &body).await.status, 200);
    assert_eq!(up.hits(), 1);
    let log = moat.wait_log(|l| l["operation"] == "createNote").await;
    assert_eq!(log["verdict"], "monitored");
    assert_eq!(log["finding"], "ambiguous-request");
}

#[tokio::test]
async fn underscored_field_names_never_reach_the_application_as_identity() {
    // Default: refused, whatever the mode.
    let (_dir, up, moat) = start("", "", "    mode: monitor\n").await;
    let a = send(
        moat.addrs[0],
        "GET /notes HTTP/1.1\r\nHost: localhost\r\nx_moat_roles: admin",
        b"",
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["type"], "urn:moat:problem:ambiguous-request");
    assert_eq!(up.hits(), 0);

    // drop: removed, like nginx.
    let (_dir, _up, moat) = start("proxy:\n  underscores_in_headers: drop\n", "", "").await;
    let echo = send(
        moat.addrs[0],
        "GET /notes HTTP/1.1\r\nHost: localhost\r\nx_moat_roles: admin\r\nx_client_version: 7\r\nx-client-version: 8",
        b"",
    )
    .await
    .json();
    let headers = echo["headers"].as_object().unwrap();
    assert!(!headers.keys().any(|k| k.contains('_')), "{headers:?}");
    assert_eq!(headers["x-client-version"], "8");

    // allow: passed on, except those that read as moat's identity fields,
    // under configured names and the defaults alike.
    let (_dir, _up, moat) = start(
        "proxy:\n  underscores_in_headers: allow\nidentity:\n  consumer_header: x-user\n",
        "",
        "",
    )
    .await;
    let echo = send(
        moat.addrs[0],
        "GET /notes HTTP/1.1\r\nHost: localhost\r\nX_MOAT_CONSUMER: admin\r\nx_user: admin\r\n\
         x-moat-consumer: admin\r\nx-moat_roles: admin\r\nx_client_version: 7",
        b"",
    )
    .await
    .json();
    let headers = echo["headers"].as_object().unwrap();
    assert_eq!(
        headers
            .keys()
            .filter(|k| k.contains("moat") || k.contains("user"))
            .count(),
        0,
        "{headers:?}"
    );
    assert_eq!(headers["x_client_version"], "7");
}

#[tokio::test]
async fn codings_the_gateway_cannot_read_are_refused() {
    let (_dir, up, moat) = start("", "", "    inspection: {enabled: true}\n").await;
    let addr = moat.addrs[0];
    // A coding under chunked: the body handed on would still be gzip.
    let a = send(
        addr,
        "POST /blobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: gzip, chunked",
        b"3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(a.status, 501, "{}", a.body);
    assert_eq!(
        a.json()["type"],
        "urn:moat:problem:unsupported-transfer-coding"
    );

    // A compressed body the gateway must read (validated and inspected).
    let (head, body) = post(
        "/notes",
        "application/json",
        "\r\nContent-Encoding: gzip",
        "{\"a\":1}",
    );
    let a = send(addr, &head, &body).await;
    assert_eq!(a.status, 415, "{}", a.body);
    assert_eq!(
        a.json()["type"],
        "urn:moat:problem:unsupported-content-encoding"
    );
    assert!(a.head.contains("accept-encoding: identity"), "{}", a.head);
    assert_eq!(up.hits(), 0);

    // `identity` is no coding.
    let (head, body) = post(
        "/notes",
        "application/json",
        "\r\nContent-Encoding: identity",
        "{\"a\":1}",
    );
    assert_eq!(send(addr, &head, &body).await.status, 200);

    // A body nothing reads streams through with its coding.
    let (_dir, up, moat) = start("", "", "").await;
    let (head, body) = post(
        "/blobs",
        "application/octet-stream",
        "\r\nContent-Encoding: gzip",
        "xyz",
    );
    assert_eq!(send(moat.addrs[0], &head, &body).await.status, 200);
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn content_length_is_forwarded_as_the_number_it_is() {
    let (_dir, _up, moat) = start("", "", "").await;
    let a = send(
        moat.addrs[0],
        "POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 007",
        b"{\"a\":1}",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let echo = a.json();
    assert_eq!(echo["headers"]["content-length"], "7");
    assert_eq!(echo["body"], "{\"a\":1}");
}

/// Sends the head and part of the body, then waits; the gateway must
/// answer `408` within the body read timeout and close.
async fn stall(addr: SocketAddr, path: &str, content_type: &str) -> (Answer, Duration) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{\"a\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let sent = Instant::now();
    let a = read_answer(&mut s).await;
    (a, sent.elapsed())
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_408() {
    let (_dir, up, moat) = start("", "    body_read_timeout: 1s\n", "").await;
    // A body the gateway reads (validated JSON).
    let (a, took) = stall(moat.addrs[0], "/notes", "application/json").await;
    assert_eq!(a.status, 408, "{}", a.body);
    assert_eq!(a.json()["type"], "urn:moat:problem:request-timeout");
    assert!(a.head.contains("connection: close"), "{}", a.head);
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert_eq!(up.hits(), 0);
    moat.wait_log(|l| l["finding"] == "request-timeout" && l["status"] == 408)
        .await;

    // A body that streams to the upstream.
    let (a, took) = stall(moat.addrs[0], "/blobs", "application/octet-stream").await;
    assert_eq!(a.status, 408, "{}", a.body);
    assert!(took >= Duration::from_millis(900), "{took:?}");

    // A slow client that keeps sending is not cut off.
    let mut s = tokio::net::TcpStream::connect(moat.addrs[0]).await.unwrap();
    s.write_all(
        b"POST /blobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for b in [b"a", b"b", b"c", b"d"] {
        tokio::time::sleep(Duration::from_millis(600)).await;
        s.write_all(b).await.unwrap();
    }
    assert_eq!(read_answer(&mut s).await.status, 200);
}
