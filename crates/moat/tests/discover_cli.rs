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

    // Risk, with what the traffic showed: every operation was called with
    // the key; the login returns a token; the debug route is shadow and
    // the v1 catalogue a zombie. Without moat's config, ownership and rate
    // limits are unknown and not scored.
    let op = |inv: &Value, method: &str, path: &str| -> Value {
        inv["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["method"] == method && norm(o["path"].as_str().unwrap()) == norm(path))
            .unwrap_or_else(|| panic!("{method} {path} not in {inv:#}"))
            .clone()
    };
    let factors = |o: &Value| -> BTreeSet<String> {
        o["risk"]["factors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["factor"].as_str().unwrap().to_string())
            .collect()
    };
    let debug = op(&inv, "GET", "/api/debug/config");
    assert!(factors(&debug).contains("shadow"), "{debug:#}");
    assert_eq!(debug["auth"]["presence"], "always", "{debug:#}");
    assert!(factors(&op(&inv, "GET", "/api/v1/books")).contains("zombie"));
    for o in inv["operations"].as_array().unwrap() {
        let f = factors(o);
        assert!(
            !f.contains("no_rate_limit") && !f.contains("object_id_without_ownership"),
            "scored without a config: {o:#}"
        );
    }
    // Schema drift against the document: the login's answer and the
    // books' are compared field by field.
    assert!(inv["summary"]["with_schema_drift"].is_u64(), "{inv:#}");

    // With the bookstore's own config: the catalogue is rate-limited, notes
    // are owned (learned from their creation), a book by id is neither.
    let conf = tempdir();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bookstore");
    for file in ["moat.yaml", "openapi.yaml"] {
        std::fs::copy(format!("{example}/{file}"), conf.path().join(file)).unwrap();
    }
    for secret in ["jwt.secret", "admin.token", "pepper"] {
        write(
            conf.path(),
            secret,
            "f3c1b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9",
        );
    }
    let out = discover(&[
        har_path.to_str().unwrap(),
        "--diff",
        doc,
        "--config",
        conf.path().join("moat.yaml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let configured: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let list = factors(&op(&configured, "GET", "/api/books"));
    assert!(!list.contains("no_rate_limit"), "{list:?}");
    let book = factors(&op(&configured, "GET", "/api/books/{bookId}"));
    assert!(
        book.contains("no_rate_limit") && book.contains("object_id_without_ownership"),
        "{book:?}"
    );
    let note = factors(&op(&configured, "GET", "/api/notes/{note}"));
    assert!(
        !note.contains("object_id_without_ownership") && note.contains("no_rate_limit"),
        "{note:?}"
    );
    // A config that does not compile is refused, as `moat check` would.
    let broken = write(conf.path(), "broken.yaml", "apis: 3\n");
    let out = discover(&[
        har_path.to_str().unwrap(),
        "--config",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.yaml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    // The captured inventory is a table or JSON: a report format is
    // refused, not silently replaced by the table.
    let out = discover(&["--state", "/no/such/moat.db", "--format", "html"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--state") && err.contains("html"), "{err}");
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

/// A HAR of `entries` whose names (a query parameter, a body key) are
/// markup, as a hostile client can send them.
fn hostile_har() -> Value {
    let mut entries = Vec::new();
    for id in 1..=6 {
        entries.push(json!({
            "request": {"method": "GET", "url": format!("https://api.example.com/items/{id}?<script>alert(1)</script>=1"), "headers": []},
            "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": format!(r#"{{"id":{id}}}"#)}},
        }));
    }
    entries.push(json!({
        "request": {"method": "POST", "url": "https://api.example.com/login", "headers": [],
                    "postData": {"mimeType": "application/json", "text": r#"{"<b>x</b>":{"password":"s3cret-Pass"}}"#}},
        "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "{}"}},
    }));
    json!({"log": {"version": "1.2", "entries": entries}})
}

#[test]
fn markdown_and_html_reports_escape_names_from_traffic_and_go_to_the_output_file() {
    let dir = tempdir();
    let har = write(dir.path(), "hostile.har", &hostile_har().to_string());
    let har = har.to_str().unwrap();

    // The names reach the inventory as they were sent …
    let out = discover(&[har, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = inv["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/items/{itemId}")
        .unwrap_or_else(|| panic!("{inv:#}"));
    assert_eq!(items["statuses"], json!([200]));
    assert!(
        items["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "<script>alert(1)</script>" && p["in"] == "query"),
        "{items:#}"
    );
    assert_eq!(inv["summary"]["operations"], 2);

    // … and leave every report escaped.
    let report = dir.path().join("report.html");
    let out = discover(&[
        har,
        "--format",
        "html",
        "--title",
        "<i>shop</i>",
        "--output",
        report.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "the report goes to the file only");
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt; (query, integer)"),
        "{page}"
    );
    assert!(
        page.contains("request.body#/&lt;b&gt;x&lt;~1b&gt;/password"),
        "{page}"
    );
    assert!(
        page.contains("<title>&lt;i&gt;shop&lt;/i&gt;</title>"),
        "{page}"
    );
    for raw in ["<script", "<b>", "<i>", "s3cret"] {
        assert!(!page.contains(raw), "{raw} in {page}");
    }

    let out = discover(&[har, "--format", "markdown"]);
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("# Discovered API\n"), "{md}");
    assert!(
        md.contains(r"| GET | /items/{itemId} | 6 | medium 25 | 200 (application/json) | itemId (path, integer), \<script\>alert(1)\</script\> (query, integer) | 0 |"),
        "{md}"
    );
    assert!(
        md.contains(r"| POST /login | request.body\#/\<b\>x\<\~1b\>/password | password | 1 |"),
        "{md}"
    );

    // The output file is replaced whole, and nothing else is left beside it.
    let out = discover(&[har, "--format", "markdown", "-o", report.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&report).unwrap(), md);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["hostile.har", "report.html"]);

    // A file that cannot be written is an error, and nothing is written.
    let out = discover(&[
        har,
        "-o",
        dir.path().join("no/such/dir/r.md").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[path = "har_gen/mod.rs"]
mod har_gen;

/// Runs `moat discover` and returns its output with its peak resident set
/// in KiB (`VmHWM`, polled from `/proc` until it exits).
fn discover_measured(args: &[&str]) -> (Output, u64) {
    let child = Command::new(MOAT)
        .arg("discover")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watch = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            // The file goes (or loses VmHWM, as a zombie) when the process ends.
            while let Ok(text) = std::fs::read_to_string(&status) {
                let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                else {
                    break;
                };
                peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    watch.join().unwrap();
    (out, peak.load(std::sync::atomic::Ordering::Relaxed))
}

#[test]
fn a_large_har_is_read_in_bounded_memory_with_no_progress_line_in_a_pipe() {
    const BIG: u64 = 24_000_000;
    let dir = tempdir();
    let make = |name: &str, bytes: u64| {
        let path = dir.path().join(name);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        har_gen::write_har(&mut file, bytes).unwrap();
        path
    };
    let small = make("small.har", 1_000_000);
    let big = make("big.har", BIG);
    let (out, small_peak) = discover_measured(&[small.to_str().unwrap(), "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (out, big_peak) = discover_measured(&[big.to_str().unwrap(), "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both passes over 24 MB take memory for one entry and the profiles,
    // not for the file: the peak grows by far less than the file's size.
    assert!(small_peak > 0 && big_peak > 0);
    let growth_kib = big_peak.saturating_sub(small_peak);
    // (It grows at all because the templater keeps every distinct path
    // until it merges them: about a fifth of the file here, where most
    // requests carry a new id.)
    assert!(
        growth_kib * 1024 < BIG / 3,
        "peak {big_peak} KiB on 24 MB against {small_peak} KiB on 1 MB"
    );
    // Stderr is a pipe: no progress line, not even a cleared one.
    assert!(
        !out.stderr.contains(&b'\r') && !out.stderr.contains(&0x1b),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation the traffic exercised, and no other (parameter
    // names aside: they are the templater's choice).
    let norm = |p: &str| -> String {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: BTreeSet<(String, String)> = inv["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap().to_string(),
                norm(o["path"].as_str().unwrap()),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = har_gen::OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), norm(p)))
        .collect();
    assert_eq!(found, want, "{inv:#}");
    let login = inv["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/api/v2/auth/login")
        .unwrap();
    assert!(
        login["sensitive"]
            .to_string()
            .contains(r#""location":"request.body#/password","kind":"password""#),
        "{login:#}"
    );
}

/// Every drift category and every sensitive-data kind, each shown by the
/// real binary against a document that says otherwise.
#[test]
fn each_drift_category_and_each_sensitive_kind_against_a_document() {
    const DOC: &str = r#"
openapi: 3.1.0
info: {title: bank, version: "2"}
paths:
  /v1/accounts/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: ok}}
  /v2/accounts/{id}:
    get:
      operationId: getAccount
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties: {id: {type: integer}, name: {type: string}}
  /accounts:
    post:
      operationId: createAccount
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {name: {type: string}}}
      responses: {"201": {description: created}}
  /legacy/balance:
    get: {operationId: legacyBalance, deprecated: true, responses: {"200": {description: ok}}}
  /reports:
    get: {operationId: listReports, responses: {"200": {description: ok}}}
"#;
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    // An answer that says far more than its document: every kind of
    // sensitive data, in fields the document does not have.
    let account = json!({
        "id": 7, "name": "Ann",
        "email": "ann@example.com",
        "phone": "+44 20 7946 0958",
        "card": "4111 1111 1111 1111",
        "iban": "GB82 WEST 1234 5698 7654 32",
        "ssn": "536-22-8714",
        "session_token": jwt,
        "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "client_secret": "f3A9kLm2Qz8RtX1vB7nW4yE6",
        "password": "correct horse battery staple",
        "last_login_ip": "203.0.113.7",
        "date_of_birth": "1990-04-12",
    })
    .to_string();
    let entry = |method: &str, url: &str, status: u16, req: Option<&str>, resp: Option<&str>| {
        let mut e = entry(method, url, status, req, "k");
        if let Some(body) = resp {
            e["response"]["content"] =
                json!({"size": body.len(), "mimeType": "application/json", "text": body});
        }
        e
    };
    let mut entries = Vec::new();
    for id in 1..=6 {
        // The newer version, with its oversharing answer and a query
        // parameter the document does not have, and the older one still
        // used beside it.
        entries.push(entry(
            "GET",
            &format!("https://bank.example/v2/accounts/{id}?debug=true"),
            200,
            None,
            Some(&account),
        ));
        entries.push(entry(
            "GET",
            &format!("https://bank.example/v1/accounts/{id}"),
            200,
            None,
            Some("{}"),
        ));
    }
    entries.push(entry(
        "GET",
        "https://bank.example/v2/accounts/99",
        500,
        None,
        Some(r#"{"error":"x"}"#),
    ));
    // Mass assignment: a property the create does not document.
    entries.push(entry(
        "POST",
        "https://bank.example/accounts",
        201,
        Some(r#"{"name":"Bo","is_admin":true}"#),
        None,
    ));
    entries.push(entry(
        "GET",
        "https://bank.example/legacy/balance",
        200,
        None,
        None,
    ));
    entries.push(entry(
        "GET",
        "https://bank.example/internal/metrics",
        200,
        None,
        None,
    ));
    let har = json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}});
    let dir = tempdir();
    let har_path = write(dir.path(), "bank.har", &har.to_string());
    let doc = write(dir.path(), "bank.yaml", DOC);
    let out = discover(&[
        har_path.to_str().unwrap(),
        "--diff",
        doc.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Parameter names are discovery's own: compare templates without them.
    let norm = |p: &str| -> String {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let op = |method: &str, path: &str| -> &Value {
        inv["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["method"] == method && norm(o["path"].as_str().unwrap()) == norm(path))
            .unwrap_or_else(|| panic!("{method} {path} not in {inv:#}"))
    };
    // Shadow, zombie (deprecated; an older version beside a newer one),
    // orphan.
    assert_eq!(op("GET", "/internal/metrics")["standing"], "shadow");
    let legacy = op("GET", "/legacy/balance");
    assert_eq!(
        (
            legacy["standing"].as_str(),
            legacy["zombie"][0]["reason"].as_str()
        ),
        (Some("zombie"), Some("deprecated"))
    );
    let v1 = op("GET", "/v1/accounts/{id}");
    assert_eq!(v1["standing"], "zombie", "{v1:#}");
    assert_eq!(v1["zombie"][0]["reason"], "older_version");
    assert_eq!(
        norm(v1["zombie"][0]["newer"].as_str().unwrap()),
        "/v2/accounts/{}"
    );
    assert_eq!(
        inv["orphans"],
        json!([{"method": "GET", "path": "/reports"}])
    );
    // Schema drift: an undocumented parameter, answer fields (the
    // sensitive ones marked), a status; and mass assignment.
    let v2 = op("GET", "/v2/accounts/{id}");
    let drift = &v2["schema_drift"];
    assert_eq!(
        drift["parameters"],
        json!([{"in": "query", "name": "debug"}]),
        "{drift:#}"
    );
    assert_eq!(drift["undocumented_statuses"], json!([500]), "{drift:#}");
    let email = drift["answer_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pointer"] == "/email")
        .unwrap_or_else(|| panic!("{drift:#}"));
    assert_eq!(
        (email["status"].as_u64(), email["sensitive"].clone()),
        (Some(200), json!(["email"]))
    );
    assert_eq!(
        op("POST", "/accounts")["schema_drift"]["request_fields"],
        json!(["/is_admin"])
    );
    // Every sensitive kind, each at its field, counted, never its value.
    let found: BTreeSet<(String, String)> = v2["sensitive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["location"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (kind, field) in [
        ("email", "email"),
        ("phone", "phone"),
        ("card_number", "card"),
        ("iban", "iban"),
        ("national_id", "ssn"),
        ("jwt", "session_token"),
        ("api_key", "stripe"),
        ("secret", "client_secret"),
        ("password", "password"),
        ("ip_address", "last_login_ip"),
        ("date_of_birth", "date_of_birth"),
    ] {
        let at = format!("response.body#/{field}");
        assert!(
            found.contains(&(kind.to_string(), at.clone())),
            "{kind} at {at}: {found:?}"
        );
    }
    // The risk says why: excessive data exposure, secrets in answers.
    let factors = v2["risk"]["factors"].to_string();
    for f in [
        "excessive_data_exposure",
        "secrets_in_answers",
        "sensitive_data_returned",
    ] {
        assert!(factors.contains(f), "{f}: {factors}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for value in [
        "ann@example.com",
        "4111",
        "536-22-8714",
        "sk_live",
        "203.0.113.7",
        "1990-04-12",
        "correct horse",
        "eyJhbGci",
    ] {
        assert!(!text.contains(value), "{value} in the inventory");
    }
}
