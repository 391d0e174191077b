//! The request view through the real binary: every request is read once,
//! and a request with two readings is refused rather than one reading
//! inspected while the application acts on the other. Each case is sent as
//! raw bytes on a socket, as a client that wants to confuse the gateway
//! would send it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: view, version: "1"}
paths:
  /:
    get: {operationId: root, responses: {"200": {description: ok}}}
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                title: {type: string}
                role: {type: string}
      responses: {"200": {description: ok}}
  /raw:
    post:
      operationId: rawNote
      requestBody: {content: {application/json: {}}}
      responses: {"200": {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody: {content: {multipart/form-data: {}}}
      responses: {"200": {description: ok}}
  /statements:
    get:
      operationId: listStatements
      parameters: [{name: account, in: query, required: true, schema: {type: string}}]
      security: [{Basic: []}]
      x-moat-owner: {parameter: account}
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

async fn start(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let h = hash_password("pw");
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n",
        config(
            &up.url(),
            &format!("    security:\n      Basic: {{type: basic}}\n{extra}")
        )
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// Sends `head` (lines without the final empty line) and `body` as one
/// HTTP/1.1 request; returns the status and the answer's body.
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

fn multipart_head(content_type: &str) -> String {
    format!("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}")
}

#[tokio::test]
async fn multipart_is_read_as_the_application_reads_it_or_refused() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0];
    let field = |name: &str, value: &str| {
        format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let benign = format!("{}--XyZ--\r\n", field("title", "Hello O'Brien"));
    let (status, _) = send(
        addr,
        &multipart_head("multipart/form-data; boundary=XyZ"),
        benign.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "a well-formed form is forwarded");
    assert_eq!(up.hits(), 1);

    // Two boundaries: moat read the first, frameworks the last.
    let attack = format!(
        "--xyz\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' UNION SELECT password FROM users--\r\n--xyz--\r\n{benign}"
    );
    let (status, body) = send(
        addr,
        &multipart_head("multipart/form-data; boundary=XyZ; boundary=xyz"),
        attack.as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("urn:moat:problem:ambiguous-request"),
        "{body}"
    );

    // No boundary at all.
    let (status, body) = send(
        addr,
        &multipart_head("multipart/form-data"),
        benign.as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ambiguous-request"), "{body}");

    // LF-only framing.
    let lf = "--XyZ\nContent-Disposition: form-data; name=\"q\"\n\n1' UNION SELECT password FROM users--\n--XyZ--\n";
    let (status, body) = send(
        addr,
        &multipart_head("multipart/form-data; boundary=XyZ"),
        lf.as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ambiguous-request"), "{body}");

    // A part with a binary type and no file name is a field to frameworks.
    let typed = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\nContent-Type: application/octet-stream\r\n\r\n1' UNION SELECT password FROM users--\r\n--XyZ--\r\n";
    // filename* (RFC 5987) with an encoded traversal.
    let star = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"; filename*=UTF-8''..%2F..%2F..%2Fetc%2Fpasswd\r\nContent-Type: image/png\r\n\r\nx\r\n--XyZ--\r\n";
    // A nested multipart/mixed part.
    let nested = "--XyZ\r\nContent-Disposition: form-data; name=\"files\"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Disposition: file; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n<script>alert(document.cookie)</script>\r\n--in--\r\n--XyZ--\r\n";
    for (what, body) in [
        ("typed field", typed),
        ("filename*", star),
        ("nested", nested),
    ] {
        let (status, answer) = send(
            addr,
            &multipart_head("multipart/form-data; boundary=XyZ"),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 403, "{what}: {answer}");
        assert!(answer.contains("attack-detected"), "{what}: {answer}");
    }
    assert_eq!(
        up.hits(),
        1,
        "nothing ambiguous or hostile reached the upstream"
    );
}

#[tokio::test]
async fn json_with_a_duplicate_key_is_refused() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0];
    let head = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json")
    };
    // With a schema (validation) and without one (inspection only): a
    // first-wins application would see the injection that a last-wins
    // reading hides.
    for path in ["/notes", "/raw"] {
        let (status, body) = send(
            addr,
            &head(path),
            br#"{"title":"1' UNION SELECT password FROM users--","title":"hello"}"#,
        )
        .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("urn:moat:problem:ambiguous-request"),
            "{path}: {body}"
        );
        let (status, _) = send(addr, &head(path), br#"{"title":"hello"}"#).await;
        assert_eq!(status, 200, "{path}");
    }
    // Keys are compared decoded.
    let (status, _) = send(
        addr,
        &head("/notes"),
        br#"{"role":"user","\u0072ole":"admin"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(up.hits(), 2);
    let log = moat.wait_log(|l| l["finding"] == "ambiguous-request").await;
    assert_eq!(log["status"], 400);
}

#[tokio::test]
async fn a_bound_query_parameter_given_twice_is_refused() {
    // Validation off: the ownership binding alone decides, and must not
    // pick one of two values.
    let (_dir, up, moat) = start("    validation: {enabled: false}\n").await;
    let c = client();
    let get = |path: &str| c.get(moat.url(path)).basic_auth("alice", Some("pw")).send();
    assert_eq!(
        get("/statements?account=alice").await.unwrap().status(),
        200
    );
    assert_eq!(get("/statements?account=bob").await.unwrap().status(), 403);
    for path in [
        "/statements?account=alice&account=bob",
        "/statements?account=bob&account=alice",
        "/statements?account=alice&account=%zz",
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        assert!(
            resp.text().await.unwrap().contains("ambiguous-request"),
            "{path}"
        );
    }
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn heads_with_two_readings_are_refused() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0];
    let json = br#"{"title":"hello"}"#;
    for (what, head) in [
        (
            "two Content-Types",
            "POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Type: text/plain",
        ),
        (
            "two Hosts",
            "POST /notes HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nContent-Type: application/json",
        ),
        (
            "a repeated media type parameter",
            "POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json; charset=utf-8; charset=latin1",
        ),
        (
            "no Host",
            "POST /notes HTTP/1.1\r\nContent-Type: application/json",
        ),
        (
            "a Host with a path",
            "POST /notes HTTP/1.1\r\nHost: a/../b\r\nContent-Type: application/json",
        ),
    ] {
        let (status, body) = send(addr, head, json).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("urn:moat:problem:"), "{what}: {body}");
        assert!(body.contains("request_id"), "{what}: {body}");
    }
    assert_eq!(up.hits(), 0);
    let (status, _) = send(
        addr,
        "POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json",
        json,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_root_path_is_an_operation_like_any_other() {
    let (_dir, up, moat) = start("").await;
    assert_eq!(get_status(&client(), moat.url("/")).await, 200);
    assert_eq!(get_status(&client(), moat.url("//")).await, 200);
    assert_eq!(get_status(&client(), moat.url("/nope")).await, 404);
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn heads_the_http_parser_refuses_are_recorded() {
    let (_dir, up, moat) = start("").await;
    // A raw `<` in the target: hyper refuses it before any service runs.
    let (status, _) = send(moat.addrs[0], "GET /a<b HTTP/1.1\r\nHost: localhost", b"").await;
    assert_eq!(status, 400);
    let log = moat
        .wait_log(|l| l["finding"] == "invalid-request" && l["status"] == 400)
        .await;
    assert_eq!(log["verdict"], "denied");
    assert!(
        log["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty() && id != "-")
    );
    assert_eq!(up.hits(), 0);
}
