//! `moat discover` on traffic made in the test: real requests through the
//! demo's gateway to its bookstore, written down as a HAR, read back by
//! the real binary and measured against the bookstore's own document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::*;

/// One HAR entry for an exchange that happened.
fn entry(method: &str, url: &str, status: u16, request_body: Option<&str>, key: &str) -> Value {
    let mut request = json!({
        "method": method, "url": url, "httpVersion": "HTTP/1.1",
        "headers": [{"name": "X-Api-Key", "value": key}],
        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1,
    });
    if let Some(body) = request_body {
        request["postData"] = json!({"mimeType": "application/json", "text": body});
    }
    json!({
        "startedDateTime": "2026-12-05T12:00:00.000Z", "time": 1,
        "request": request,
        "response": {
            "status": status, "statusText": "", "httpVersion": "HTTP/1.1",
            "headers": [], "cookies": [], "content": {"size": 0, "mimeType": "application/json", "text": ""},
            "redirectURL": "", "headersSize": -1, "bodySize": -1,
        },
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
    })
}

fn discover(args: &[&str]) -> Output {
    Command::new(MOAT)
        .arg("discover")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_bookstore_traffic_gives_its_operations_and_its_drift() {
    let moat = Moat::spawn(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let guide = moat.wait_log_text("Try these through the gateway").await;
    let key = guide
        .split_whitespace()
        .find(|w| w.starts_with("moat_"))
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let c = client();
    let mut entries = Vec::new();
    let send = |method: &'static str, path: String, body: Option<&'static str>| {
        let c = c.clone();
        let url = moat.url(&path);
        let key = key.clone();
        async move {
            let mut req = c
                .request(method.parse().unwrap(), &url)
                .header("x-api-key", &key);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let status = req.send().await.unwrap().status().as_u16();
            entry(method, &url, status, body, &key)
        }
    };
    // The catalogue, books by id, a new book, users by id, notes by their
    // titles (free text), the login, the deprecated version, and a route
    // the document does not have.
    for _ in 0..3 {
        entries.push(send("GET", "/api/books".into(), None).await);
    }
    for id in [1, 2, 3, 4, 5, 17, 23] {
        entries.push(send("GET", format!("/api/books/{id}"), None).await);
    }
    entries.push(
        send(
            "POST",
            "/api/books".into(),
            Some(r#"{"title":"Dune","author":"Frank Herbert"}"#),
        )
        .await,
    );
    for id in [1, 2, 3, 4, 5] {
        entries.push(send("GET", format!("/api/users/{id}"), None).await);
    }
    for title in [
        "Reading%20list",
        "Dune%20notes",
        "It%27s%20late",
        "Plans%20for%202027",
        "Gifts",
    ] {
        entries.push(send("GET", format!("/api/notes/{title}"), None).await);
    }
    entries.push(
        send(
            "POST",
            "/api/login".into(),
            Some(r#"{"username":"alice","password":"x"}"#),
        )
        .await,
    );
    entries.push(send("GET", "/api/v1/books".into(), None).await);
    entries.push(send("GET", "/api/debug/config".into(), None).await);
    let har = json!({"log": {"version": "1.2", "creator": {"name": "moat tests", "version": "1"}, "entries": entries}});
    let dir = tempdir();
    let har_path = write(dir.path(), "capture.har", &har.to_string());
    let doc = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/bookstore/openapi.yaml"
    );

    let out = discover(&[
        har_path.to_str().unwrap(),
        "--diff",
        doc,
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "drift exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: BTreeSet<(String, String, String)> = inv["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap().to_string(),
                o["path"].as_str().unwrap().to_string(),
                o["standing"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("GET", "/api/books", "documented"),
        ("POST", "/api/books", "documented"),
        ("GET", "/api/books/{bookId}", "documented"),
        ("GET", "/api/users/{userId}", "documented"),
        ("GET", "/api/notes/{note}", "documented"),
        ("POST", "/api/login", "documented"),
        ("GET", "/api/v1/books", "zombie"),
        ("GET", "/api/debug/config", "shadow"),
    ]
    .iter()
    .map(|(m, p, s)| (m.to_string(), p.to_string(), s.to_string()))
    .collect();
    // Operation recall and precision, method + template exact (parameter
    // names aside: the document's are not in the traffic).
    let norm = |p: &str| -> String {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let found_n: BTreeSet<_> = found
        .iter()
        .map(|(m, p, s)| (m.clone(), norm(p), s.clone()))
        .collect();
    let want_n: BTreeSet<_> = want
        .iter()
        .map(|(m, p, s)| (m.clone(), norm(p), s.clone()))
        .collect();
    assert_eq!(found_n, want_n, "{inv:#}");
    let orphans: BTreeSet<String> = inv["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["method"].as_str().unwrap(),
                o["path"].as_str().unwrap()
            )
        })
        .collect();
    for never in [
        "DELETE /books/{bookId}",
        "POST /orders",
        "GET /orders/{orderId}",
        "POST /notes",
    ] {
        assert!(
            orphans.contains(never),
            "{never} not an orphan: {orphans:?}"
        );
    }
    assert_eq!(inv["requests"], 24);

    // What each operation carries, without a value: the key in a header,
    // the password in the login's body.
    let login = inv["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/api/login")
        .unwrap();
    let sensitive = login["sensitive"].to_string();
    assert!(
        sensitive.contains(r#""location":"request.body#/password","kind":"password""#),
        "{sensitive}"
    );
    assert!(
        sensitive.contains(r#""location":"header.x-api-key","kind":"api_key""#),
        "{sensitive}"
    );

    // The table says the same, and the OpenAPI document loads in moat.
    let table = discover(&[har_path.to_str().unwrap(), "--diff", doc]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("6 documented, 1 shadow, 1 zombie"), "{text}");
    let yaml = discover(&[
        har_path.to_str().unwrap(),
        "--format",
        "openapi",
        "--title",
        "bookstore",
    ]);
    assert!(yaml.status.success());
    let yaml = String::from_utf8(yaml.stdout).unwrap();
    let spec = moat_spec::load_text("discovered.yaml", &yaml).unwrap();
    assert_eq!(spec.operations.len(), 8, "{yaml}");
    let create = spec.operation("postApiBooks").unwrap();
    assert!(create.request_body.is_some(), "{yaml}");
    // The key every request sent is the API's security scheme.
    assert_eq!(
        spec.schemes["header.x-api-key"].kind,
        moat_spec::SchemeKind::ApiKey {
            name: "x-api-key".into(),
            location: moat_spec::ApiKeyLocation::Header,
        },
        "{yaml}"
    );
    assert_eq!(create.policy.scheme_names(), ["header.x-api-key"], "{yaml}");
    assert!(!create.policy.allows_anonymous(), "{yaml}");
    // No value from the traffic is in the document: not the key, not a
    // note's title, not a new book's author, not the login's user (field
    // names such as `password` are there: they are the API's shape).
    for secret in [key.as_str(), "Reading", "Frank Herbert", "alice"] {
        assert!(!yaml.contains(secret), "{secret} in {yaml}");
    }
}

#[test]
fn what_is_not_traffic_is_refused_clearly() {
    let dir = tempdir();
    let not_har = write(dir.path(), "x.har", r#"{"hello": "world"}"#);
    let out = discover(&[not_har.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.har"), "{err}");
    let out = discover(&["/no/such/file.har"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /no/such/file.har"));
    let bad_doc = write(dir.path(), "doc.yaml", "openapi: 9\n");
    let log = write(
        dir.path(),
        "log.jsonl",
        "{\"method\":\"GET\",\"path\":\"/a\",\"status\":200}\n",
    );
    let out = discover(&[log.to_str().unwrap(), "--diff", bad_doc.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A JSON-lines log alone: a table, exit 0.
    let out = discover(&[log.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("GET     /a"));
}
