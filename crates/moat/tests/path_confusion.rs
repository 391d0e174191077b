//! Spellings of a protected path, through the real binary and raw
//! sockets: every one is refused, or read as the one canonical path so that
//! the protected operation's controls apply and the upstream receives that
//! path. No spelling lets an unauthenticated request reach the protected
//! handler, and none reaches it under another name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `/admin/users` needs credentials; `/public` and `/public/{page}` do not.
const SPEC: &str = r#"
openapi: 3.0.3
info: {title: paths, version: "1"}
security: [{Basic: []}]
paths:
  /admin/users:
    get: {operationId: listUsers, responses: {"200": {description: ok}}}
  /public:
    get: {operationId: publicIndex, security: [], responses: {"200": {description: ok}}}
  /public/{page}:
    parameters: [{name: page, in: path, required: true, schema: {type: string}}]
    get: {operationId: publicPage, security: [], responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

/// `alice:pw`.
const ALICE: &str = "Authorization: Basic YWxpY2U6cHc=\r\n";

async fn start() -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let h = hash_password("pw");
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n",
        config(&up.url(), "    security:\n      Basic: {type: basic}\n")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// `GET target` exactly as written, with `fields`: the status.
async fn get(addr: SocketAddr, target: &str, fields: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{fields}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status for {target}: {text:?}"))
}

/// Spellings read as `/admin/users` itself.
const SAME_PATH: &[&str] = &[
    "/admin/users",
    "/%61dmin/users",
    "/admin/%75%73%65%72%73",
    "/admin/user%73",
    "/public/../admin/users",
    "/public/%2e%2e/admin/users",
    "/public/%2E%2E/admin/users",
    "/public/.%2e/admin/users",
    "/public/%2e./admin/users",
    "/admin/x/../users",
    "/admin/x/%2e%2e/users",
    "/public/a;/../../admin/users",
    "/./admin/users",
    "/admin/./users",
    "/admin/%2e/users",
    "//admin/users",
    "/admin//users",
    "///admin///users",
    "/admin/users?",
    "/admin/users?x=1",
    "/admin/users#fragment",
    "/admin/users?#",
];

/// Spellings refused outright (`400`): encoded separators, NUL and
/// control characters, backslashes, invalid or overlong UTF-8, bad escapes,
/// `..` above the root.
const REFUSED: &[&str] = &[
    "/admin%2fusers",
    "/admin%2Fusers",
    "/public/..%2fadmin%2fusers",
    "/public/%2e%2e%2fadmin/users",
    "/admin%5cusers",
    "/admin%5Cusers",
    "/public\\..\\admin\\users",
    "/admin\\users",
    "/admin/users%00",
    "/admin/users%00.json",
    "/admin%00/users",
    "/admin/users%0a",
    "/admin/users%0d%0a",
    "/admin/users%09",
    "/admin%C0%AFusers",
    "/%C0%AE%C0%AE/admin/users",
    "/public/%C0%AE%C0%AE/admin/users",
    "/admin%E0%80%AFusers",
    "/%ff/admin/users",
    "/admin/users%",
    "/admin/users%2",
    "/admin/%zzusers",
    "/../admin/users",
    "/%2e%2e/admin/users",
];

/// Spellings of other paths, which the document does not have (`404`):
/// case, a trailing slash, parameters, double encoding, fullwidth forms,
/// other characters.
const OTHER_PATH: &[&str] = &[
    "/ADMIN/users",
    "/Admin/Users",
    "/admin/USERS",
    "/admin/users/",
    "/admin/users/.",
    "/admin/users/%2e",
    "/admin/users;x=1",
    "/admin/users;",
    "/admin;x/users",
    "/admin/users%3b",
    "/admin/users%3Bjsessionid=1",
    "/%2561dmin/users",
    "/admin%252fusers",
    "/public/%252e%252e/admin/users",
    "/%EF%BD%81dmin/users",
    "/admin%EF%BC%8Fusers",
    "/admin/users%20",
    "/admin/users%2e",
    "/admin/users.json",
    "/admin/users~",
    "/admin%3fusers",
    "/admin/users/..",
];

#[tokio::test]
async fn no_spelling_of_a_protected_path_skips_its_credentials() {
    let (_dir, up, moat) = start().await;
    let addr = moat.addrs[0];
    let mut wrong = Vec::new();
    for (spellings, want) in [(SAME_PATH, 401), (REFUSED, 400), (OTHER_PATH, 404)] {
        for target in spellings {
            let got = get(addr, target, "").await;
            if got != want {
                wrong.push(format!("{target}: {got}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // None of it reached the upstream at all.
    assert_eq!(*up.state.seen.lock().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn the_upstream_receives_the_canonical_path() {
    let (_dir, up, moat) = start().await;
    let addr = moat.addrs[0];
    // With credentials, each spelling of the path reaches the one handler
    // under its one name (the query as given).
    for target in SAME_PATH {
        assert_eq!(get(addr, target, ALICE).await, 200, "{target}");
    }
    let seen = up.state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), SAME_PATH.len());
    for (target, got) in SAME_PATH.iter().zip(&seen) {
        let query = target
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or_default());
        let want = match query {
            Some(q) if !q.is_empty() => format!("GET /admin/users?{q}"),
            _ => "GET /admin/users".to_string(),
        };
        assert_eq!(*got, want, "{target}");
    }
    // Credentials change nothing for the others.
    for target in REFUSED {
        assert_eq!(get(addr, target, ALICE).await, 400, "{target}");
    }
    for target in OTHER_PATH {
        assert_eq!(get(addr, target, ALICE).await, 404, "{target}");
    }
    assert_eq!(up.hits(), SAME_PATH.len());
}

#[tokio::test]
async fn public_paths_carry_no_protected_path_with_them() {
    let (_dir, up, moat) = start().await;
    let addr = moat.addrs[0];
    // What reaches the public operation does so under its own canonical
    // name, with what follows `?` as its query and never as a path; a
    // traversal in the query is refused by request inspection.
    for (target, want, forwarded) in [
        ("/public/x?../../admin/users", 403, None),
        ("/public/x?/../../admin/users", 403, None),
        (
            "/public/x?next=%2Fadmin%2Fusers",
            200,
            Some("GET /public/x?next=%2Fadmin%2Fusers"),
        ),
        ("/public#/../admin/users", 200, Some("GET /public")),
        ("/public/%61dmin", 200, Some("GET /public/admin")),
        (
            "/public/admin;users",
            200,
            Some("GET /public/admin%3Busers"),
        ),
    ] {
        let before = up.hits();
        let status = get(addr, target, "").await;
        let seen = up.state.seen.lock().unwrap()[before..].to_vec();
        eprintln!("{target}: {status} {seen:?}");
        assert_eq!(status, want, "{target}");
        assert_eq!(seen, forwarded.into_iter().collect::<Vec<_>>(), "{target}");
    }
}
