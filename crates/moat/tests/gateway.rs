//! The gateway through real sockets: proxying, headers, streaming, upstream
//! failures, websocket upgrades, path canonicalisation, shadow and zombie
//! endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream plus moat in front of it, with `extra` lines in the API entry.
async fn setup(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "moat.yaml", &config(&up.url(), extra));
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

#[tokio::test]
async fn proxies_get_and_post_with_bodies() {
    let (_dir, up, moat) = setup("").await;
    let c = client();
    let r = c
        .get(moat.url("/items?color=red&size=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-upstream"], "yes");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/items?color=red&size=2");

    let body = "{\"name\":\"a thing\",\"n\":1}";
    let r = c
        .post(moat.url("/items"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], body);
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(up.hits(), 2);

    let log = moat.wait_log(|l| l["method"] == "POST").await;
    assert_eq!(log["api"], "echo");
    assert_eq!(log["operation"], "createItem");
    assert_eq!(log["status"], 200);
    assert_eq!(log["verdict"], "allowed");
    assert!(log["upstream_ms"].as_f64().unwrap() > 0.0);
    assert!(log["total_ms"].as_f64().unwrap() >= log["upstream_ms"].as_f64().unwrap());
    // the query string can carry credentials: it is never logged
    let get = moat.wait_log(|l| l["method"] == "GET").await;
    assert_eq!(get["path"], "/items");
}

#[tokio::test]
async fn forwarding_headers_are_set_and_spoofs_replaced() {
    let (_dir, _up, moat) = setup("").await;
    let r = client()
        .get(moat.url("/items"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .header("x-request-id", "spoofed-id")
        .header("connection", "x-private")
        .header("x-private", "must not pass")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(
        rid, "spoofed-id",
        "an untrusted client cannot choose the request id"
    );
    assert_eq!(rid.len(), 32);
    // hop-by-hop headers named by the upstream's Connection are removed too
    assert!(r.headers().get("x-upstream-secret").is_none());
    let echo: Value = r.json().await.unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["forwarded"].as_str().unwrap(),
        format!("for=127.0.0.1;proto=http;host={}", moat.addrs[0].ip())
    );
    assert_eq!(h["x-request-id"], rid.as_str());
    assert!(h.get("x-private").is_none(), "{h}");
    assert!(h.get("proxy-authorization").is_none(), "{h}");
    assert_eq!(h["host"], format!("{}", _up.addr));
}

#[tokio::test]
async fn trusted_proxy_headers_are_kept_and_extended() {
    let (_dir, _up, moat) = setup("").await;
    // rewrite the config to trust loopback, then reload
    let dir = _dir.path();
    let cfg = std::fs::read_to_string(dir.join("moat.yaml")).unwrap();
    write(
        dir,
        "moat.yaml",
        &format!("{cfg}proxy:\n  trusted_proxies: [127.0.0.0/8]\n"),
    );
    moat.wait_stderr("config reloaded").await;
    let r = client()
        .get(moat.url("/items"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "edge-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "edge-123");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    let log = moat.wait_log(|l| l["request_id"] == "edge-123").await;
    assert_eq!(log["client"], "203.0.113.7");
}

#[tokio::test]
async fn request_body_is_streamed_not_buffered() {
    // 32 MiB: over the default 1 MiB cap, so the upload operation gets its own.
    let extra = "    request_limits:\n      operations: {upload: {max_body_bytes: 64000000}}\n";
    let (_dir, up, moat) = setup(extra).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let send = tokio::spawn(
        client()
            .post(moat.url("/upload"))
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    let chunk = vec![b'a'; 64 * 1024];
    tx.send(Ok(chunk.clone())).await.unwrap();
    // The upstream must see the first chunk while the client still holds the
    // rest: a gateway that buffered the whole body would never get here.
    tokio::time::timeout(Duration::from_secs(10), up.state.upload_started.notified())
        .await
        .expect("the first chunk did not reach the upstream before the body ended");
    for _ in 0..511 {
        tx.send(Ok(chunk.clone())).await.unwrap();
    }
    drop(tx);
    let r = send.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), (512 * 64 * 1024).to_string());
}

#[tokio::test]
async fn response_body_is_streamed_not_buffered() {
    let (_dir, up, moat) = setup("").await;
    let mut r = client().get(moat.url("/download")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The first chunk arrives while the upstream still holds the rest.
    let first = tokio::time::timeout(Duration::from_secs(10), r.chunk())
        .await
        .expect("the first chunk did not arrive before the upstream finished")
        .unwrap()
        .unwrap();
    assert!(!first.is_empty());
    up.state.download_resume.notify_one();
    let mut total = first.len();
    while let Some(c) = r.chunk().await.unwrap() {
        total += c.len();
    }
    assert_eq!(total, 256 * 64 * 1024);
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let down = format!("http://127.0.0.1:{}", closed_port());
    write(dir.path(), "moat.yaml", &config(&down, ""));
    let moat = Moat::start(dir.path());
    let r = client().get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:upstream-unavailable");
    assert_eq!(p["status"], 502);
    assert!(p["request_id"].as_str().is_some());
    drop(moat);

    let up = upstream(None).await;
    let slow_cfg = config(&up.url(), "").replace("response_timeout: 2s", "response_timeout: 300ms");
    write(dir.path(), "moat.yaml", &slow_cfg);
    let moat = Moat::start(dir.path());
    let r = client().get(moat.url("/slow")).send().await.unwrap();
    assert_eq!(r.status(), 504);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:upstream-timeout");
}

#[tokio::test]
async fn websocket_upgrade_is_passed_through() {
    let (_dir, _up, moat) = setup("").await;
    let mut s = tokio::net::TcpStream::connect(moat.addrs[0]).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    s.write_all(b"ping through the tunnel").await.unwrap();
    let mut buf = [0u8; 23];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ping through the tunnel");
}

#[tokio::test]
async fn alternative_spellings_reach_the_same_decision() {
    let (_dir, up, moat) = setup("").await;
    let addr = moat.addrs[0];
    // a documented path, however spelled, is allowed and forwarded canonically
    for target in [
        "/items/42",
        "/items//42",
        "//items/42",
        "/./items/42",
        "/x/../items/42",
        "/%69tems/%34%32",
        "/items/%2e/42",
        "/x/%2E%2E/items/42",
    ] {
        assert_eq!(raw_status(addr, "GET", target).await, 200, "{target}");
    }
    let seen = up.state.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s == "GET /items/42"), "{seen:?}");
    // an undocumented path, however spelled, is a shadow endpoint
    for target in [
        "/admin",
        "/%61dmin",
        "//admin",
        "/items/../admin",
        "/items/%2e%2e/admin",
        "/ITEMS/42",
        "/items/42/",
    ] {
        assert_eq!(raw_status(addr, "GET", target).await, 404, "{target}");
    }
    // spellings with no safe canonical form are refused outright
    for target in [
        "/items%2f42",
        "/items%5c42",
        "/items/%00",
        "/items/%zz",
        "/%c0%ae%c0%ae/items",
        "/../items/42",
        "/items/..%2f..%2fadmin",
    ] {
        assert_eq!(raw_status(addr, "GET", target).await, 400, "{target}");
    }
    assert_eq!(
        up.hits(),
        8,
        "nothing but the documented spellings reached the upstream"
    );
}

#[tokio::test]
async fn shadow_endpoints_blocked_in_enforce_recorded_in_monitor() {
    let (dir, up, moat) = setup("").await;
    let c = client();
    let r = c.get(moat.url("/debug/config")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:shadow-endpoint");
    assert_eq!(p["title"], "Not a documented operation");
    let r = c.delete(moat.url("/items/1")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(
        up.hits(),
        0,
        "enforce mode never forwards an undocumented operation"
    );
    let log = moat.wait_log(|l| l["path"] == "/debug/config").await;
    assert_eq!(log["verdict"], "denied");
    assert_eq!(log["finding"], "shadow-endpoint");
    drop(moat);

    write(
        dir.path(),
        "moat.yaml",
        &config(&up.url(), "    mode: monitor\n"),
    );
    let moat = Moat::start(dir.path());
    let r = c.get(moat.url("/debug/config")).send().await.unwrap();
    assert_eq!(r.status(), 200, "monitor mode forwards");
    let r = c.delete(moat.url("/items/1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(), 2);
    let log = moat.wait_log(|l| l["path"] == "/debug/config").await;
    assert_eq!(log["verdict"], "monitored");
    assert_eq!(log["finding"], "shadow-endpoint");
}

#[tokio::test]
async fn deprecated_operations_follow_the_policy() {
    let c = client();
    // allow: forwarded silently
    let (_d1, _u1, moat) = setup("    deprecated: allow\n").await;
    let r = c.get(moat.url("/old")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("deprecation").is_none());
    let log = moat.wait_log(|l| l["path"] == "/old").await;
    assert_eq!(log["verdict"], "allowed");

    // warn: forwarded, marked, recorded
    let (_d2, _u2, moat) = setup("    deprecated: warn\n").await;
    let r = c.get(moat.url("/old")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["deprecation"], "true");
    let log = moat.wait_log(|l| l["path"] == "/old").await;
    assert_eq!(log["verdict"], "flagged");
    assert_eq!(log["finding"], "zombie-endpoint");

    // block: 410 and the upstream never sees it
    let (_d3, u3, moat) = setup("    deprecated: block\n").await;
    let r = c.get(moat.url("/old")).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:zombie-endpoint");
    assert_eq!(u3.hits(), 0);
    // other operations are unaffected
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
}

#[tokio::test]
async fn base_path_and_server_url_are_respected() {
    let up = upstream(None).await;
    let dir = tempdir();
    let spec = ECHO_SPEC.replace(
        "paths:",
        "servers: [{url: \"https://api.example.com/v2\"}]\npaths:",
    );
    write(dir.path(), "spec.yaml", &spec);
    write(
        dir.path(),
        "moat.yaml",
        &config(&up.url(), "    base_path: /shop\n"),
    );
    let moat = Moat::start(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/shop/v2/items")).await, 200);
    assert_eq!(get_status(&c, moat.url("/shop/items")).await, 404);
    assert_eq!(get_status(&c, moat.url("/v2/items")).await, 404);
    // the mount prefix is removed; the server path is the upstream's own
    assert_eq!(up.state.seen.lock().unwrap().clone(), ["GET /v2/items"]);
}

#[tokio::test]
async fn targets_are_used_in_round_robin() {
    let (a, b) = (upstream(None).await, upstream(None).await);
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = config(&a.url(), "").replace(
        &format!("targets: [\"{}\"]", a.url()),
        &format!("targets: [\"{}\", \"{}\"]", a.url(), b.url()),
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();
    for _ in 0..10 {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    }
    assert_eq!((a.hits(), b.hits()), (5, 5));
}

#[tokio::test]
async fn apis_are_selected_by_host_then_base_path() {
    let (shop, admin) = (upstream(None).await, upstream(None).await);
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let cfg = format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\n  token: {ADMIN_TOKEN}\n\
         upstreams:\n  shop: {{targets: [\"{}\"]}}\n  admin: {{targets: [\"{}\"]}}\n\
         apis:\n  - {{name: shop, spec: spec.yaml, upstream: shop}}\n\
         \x20 - {{name: admin, spec: spec.yaml, upstream: admin, host: Admin.Example.com}}\n\
         access_log: {{target: access.log}}\n",
        shop.url(),
        admin.url()
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();
    let r = c
        .get(moat.url("/items"))
        .header("host", "admin.example.com:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(moat.url("/items"))
        .header("host", "shop.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((shop.hits(), admin.hits()), (1, 1));

    // the access log went to the file, one JSON object per line
    let path = dir.path().join("access.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() == 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let apis: Vec<&str> = lines.iter().map(|l| l["api"].as_str().unwrap()).collect();
    assert_eq!(apis, ["admin", "shop"]);
    assert!(
        moat.access_log().is_empty(),
        "nothing on stdout when the log goes to a file"
    );
}

#[tokio::test]
async fn the_demo_shows_allowed_and_blocked_requests() {
    let moat = Moat::spawn(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let c = client();
    let r = c.get(moat.url("/api/books")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("title"));
    assert_eq!(get_status(&c, moat.url("/api/debug/config")).await, 404);
    assert_eq!(
        c.put(moat.url("/api/books/1"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    let r = c.get(moat.url("/api/v1/books")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["deprecation"], "true");
    assert_eq!(
        raw_status(moat.addrs[0], "GET", "/api/books%2f1").await,
        400
    );
    // the guide names the gateway's real address and a working admin token
    let guide = moat.wait_log_text("Try these through the gateway").await;
    let token = guide
        .lines()
        .find_map(|l| l.split("Bearer ").nth(1))
        .and_then(|t| t.split('\'').next())
        .unwrap()
        .to_string();
    let r = c
        .get(format!("http://{}/metrics", moat.admin.unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("moat_requests_total"));

    // the API key and the JWT the guide prints work; their absence does not
    let key = guide
        .split_whitespace()
        .find(|w| w.starts_with("moat_"))
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let jwt = guide
        .split("Bearer ")
        .nth(2)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_string();
    let book = r#"{"title":"Dune","author":"Frank Herbert"}"#;
    let post = |path: &str| {
        c.post(moat.url(path))
            .header("content-type", "application/json")
    };
    assert_eq!(
        post("/api/books").body(book).send().await.unwrap().status(),
        401
    );
    let r = post("/api/books")
        .header("x-api-key", &key)
        .body(book)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // mass assignment is refused
    let r = post("/api/books")
        .header("x-api-key", &key)
        .body(r#"{"title":"Dune","author":"Frank Herbert","discount":100}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = post("/api/orders")
        .bearer_auth(&jwt)
        .body(r#"{"bookId":1,"quantity":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.unwrap();
    let order_url = moat.url(&format!("/api/orders/{}", order["id"]));
    // cross-user object access is refused: bob cannot read alice's order
    // (an owner learned from her create) or her user record (a binding)
    let bob = guide
        .lines()
        .find(|l| l.contains("bob reading"))
        .and_then(|l| l.split("Bearer ").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_string();
    let status = |url: String, token: String| {
        let c = c.clone();
        async move {
            c.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(order_url.clone(), jwt.clone()).await, 200);
    assert_eq!(status(order_url, bob.clone()).await, 403);
    assert_eq!(status(moat.url("/api/users/2"), bob.clone()).await, 200);
    assert_eq!(status(moat.url("/api/users/2"), jwt.clone()).await, 403);
    let r = c
        .get(moat.url("/api/users/1"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // a note named by its title (no id in the answer) is alice's alone
    let r = post("/api/notes")
        .bearer_auth(&jwt)
        .body(r#"{"title":"alice-plans","text":"read Dune"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        status(moat.url("/api/notes/alice-plans"), jwt.clone()).await,
        200
    );
    assert_eq!(
        status(moat.url("/api/notes/alice-plans"), bob.clone()).await,
        403
    );
    // the bookstore's login tells who exists; through moat it does not, and
    // a success keeps its token
    let login = |body: &'static str| post("/api/login").body(body).send();
    let upstream = guide
        .lines()
        .find_map(|l| l.strip_prefix("  bookstore  http://"))
        .and_then(|l| l.split('/').next())
        .unwrap()
        .to_string();
    let direct = c
        .post(format!("http://{upstream}/api/login"))
        .header("content-type", "application/json")
        .body(r#"{"username":"mallory","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 404);
    assert!(direct.text().await.unwrap().contains("no such user"));
    let r = login(r#"{"username":"mallory","password":"x"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let unknown: Value = r.json().await.unwrap();
    assert_eq!(unknown["type"], "urn:moat:problem:invalid-credentials");
    assert!(!unknown.to_string().contains("no such user"));
    let r = login(r#"{"username":"alice","password":"wonderland"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let session: Value = r.json().await.unwrap();
    // The bookstore's session token is a JWT for alice.
    let session_token = session["auth_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(session_token.split('.').count(), 3, "{session}");
    // the weak JWT secret works under its override, announced
    assert!(
        guide.contains("weak_secret_until"),
        "the guide explains the weak key: {guide}"
    );
    moat.wait_stderr("weak HMAC secret of scheme `bearerAuth` accepted until")
        .await;

    // the catalogue's rate limit: 5 at once, then 429 with its headers
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let r = c.get(moat.url("/api/books")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        last = Some(r);
    }
    let last = last.unwrap();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(last.headers().contains_key("retry-after"));
    assert_eq!(last.headers()["ratelimit-policy"], "\"catalogue\";q=5;w=10");
    assert!(last.headers().contains_key("ratelimit"));

    // brute force, as the guide's loop does it after the steps above (the
    // invalid token among them): exactly the 401s it announces, then 429
    let number_after = |marker: &str| -> usize {
        let at = guide
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {guide}"));
        let digits: String = guide[at + marker.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    };
    let attempts = number_after("$(seq ");
    let refused = number_after("# 401 x");
    assert!(
        guide.contains(&format!("# 401 x{refused}, then 429")),
        "{guide}"
    );
    let mut statuses = Vec::new();
    for i in 1..=attempts {
        let r = c
            .get(moat.url("/api/users/1"))
            .bearer_auth(format!("guessed.token.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let mut expected = vec![401; refused];
    expected.resize(attempts, 429);
    assert!(attempts > refused, "{guide}");
    assert_eq!(statuses, expected);

    // Every step of the tour is in the security events, with the demo's
    // opening attacks from 127.0.0.2; no credential and no payload is.
    let admin = |path: String| {
        c.get(format!("http://{}{path}", moat.admin.unwrap()))
            .bearer_auth(&token)
            .send()
    };
    let mut events = Vec::new();
    for _ in 0..100 {
        let page: Value = admin("/admin/events?limit=1000".into())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events = page["events"].as_array().unwrap().clone();
        if events.iter().any(|e| e["kind"] == "locked-out") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kinds: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "attack-detected",
        "shadow-endpoint",
        "method-not-allowed",
        "zombie-endpoint",
        "invalid-path",
        "unauthenticated",
        "schema-violation",
        "ownership-violation",
        "invalid-credentials",
        "rate-limited",
        "locked-out",
    ] {
        assert!(kinds.contains(kind), "no {kind} event: {kinds:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["client"] == "127.0.0.2" && e["control"] == "inspection"),
        "the demo's opening attacks are not in the events"
    );
    let all = serde_json::to_string(&events).unwrap();
    let secrets = [
        key.as_str(),
        jwt.as_str(),
        bob.as_str(),
        token.as_str(),
        "not.a.token",
        "guessed.token",
        "wonderland",
        session_token.as_str(),
        "Frank Herbert",
        "read Dune",
    ];
    for secret in secrets {
        assert!(!all.contains(secret), "`{secret}` is in an event");
    }
    // Nor the signature part of a token, on its own.
    for t in [&jwt, &bob] {
        let signature = t.rsplit('.').next().unwrap();
        assert!(!all.contains(signature), "a token signature is in an event");
    }
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let (_dir, up, moat) = setup("").await;
    let c = client();
    for _ in 0..20 {
        assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    }
    let opened = up
        .state
        .connections
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        opened, 1,
        "20 sequential requests should share one pooled connection"
    );
}

#[tokio::test]
async fn cors_preflights_and_headers_for_exact_origins() {
    let extra =
        "    cors: {allowed_origins: [\"https://app.example.com\"], allow_credentials: true}\n";
    let (_dir, up, moat) = setup(extra).await;
    let c = client();
    let preflight = |origin: &'static str, method: &'static str| {
        let c = c.clone();
        let url = moat.url("/items");
        async move {
            c.request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", "Content-Type")
                .send()
                .await
                .unwrap()
        }
    };
    let r = preflight("https://app.example.com", "GET").await;
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "GET");
    assert_eq!(h["access-control-max-age"], "600");
    // an undocumented method or another origin is refused
    assert_eq!(
        preflight("https://app.example.com", "DELETE")
            .await
            .status(),
        403
    );
    assert_eq!(preflight("https://evil.example", "GET").await.status(), 403);
    assert_eq!(up.hits(), 0, "preflights are answered by moat");

    let r = c
        .get(moat.url("/items"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-expose-headers"], "x-request-id");
    assert_eq!(r.headers()["vary"], "Origin");
    let r = c
        .get(moat.url("/items"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // denials carry the headers too, so browser code can read the problem
    let r = c
        .get(moat.url("/nope"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[test]
fn cors_wildcard_with_credentials_is_refused_at_load() {
    let err = check_api_fails(
        ECHO_SPEC,
        "    cors: {allowed_origins: [\"*\"], allow_credentials: true}\n",
    );
    assert!(
        err.contains("`*` origins together with credentials"),
        "{err}"
    );
}

/// A child process killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_bookstore_example_runs_as_its_comments_say() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bookstore");
    let shipped = std::fs::read_to_string(example.join("moat.yaml")).unwrap();
    for step in [
        "moat demo --upstream-only",
        "openssl rand -hex 24 > admin.token",
        "openssl rand -base64 48 > pepper",
        "openssl rand -base64 48 > jwt.secret",
        "moat serve --config moat.yaml",
        "moat keys --config moat.yaml create --consumer alice",
    ] {
        assert!(
            shipped.contains(step),
            "the example no longer says `{step}`"
        );
    }

    // `moat demo --upstream-only` serves the sample API alone.
    let mut bookstore = Child(
        Command::new(MOAT)
            .args(["demo", "--upstream-only", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = bookstore.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Read stderr to its end, so the process never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.strip_prefix("moat demo: bookstore API listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let c = client();
    let direct = c
        .get(format!("http://{addr}/api/debug/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200, "the bookstore alone is unprotected");

    // The example as shipped, on the addresses this test may use, with the
    // secret files its comments ask for.
    let dir = tempdir();
    std::fs::copy(
        example.join("openapi.yaml"),
        dir.path().join("openapi.yaml"),
    )
    .unwrap();
    let config = shipped
        .replace("127.0.0.1:8081", &addr)
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0");
    let config_path = write(dir.path(), "moat.yaml", &config);
    // Random, as `openssl rand` would make them: weak secrets are refused.
    let random = || {
        use std::hash::{BuildHasher, Hasher};
        (0..4)
            .map(|_| {
                let h = std::collections::hash_map::RandomState::new().build_hasher();
                format!("{:016x}", h.finish())
            })
            .collect::<String>()
    };
    write(dir.path(), "admin.token", &format!("{}\n", random()));
    write(dir.path(), "pepper", &format!("{}\n", random()));
    write(dir.path(), "jwt.secret", &format!("{}\n", random()));

    let out = Command::new(MOAT)
        .args(["keys", "--config"])
        .arg(&config_path)
        .args(["create", "--consumer", "alice"])
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("moat_"))
        .unwrap()
        .to_string();

    let moat = Moat::spawn(&["serve", "--config", config_path.to_str().unwrap()]);
    assert_eq!(get_status(&c, moat.url("/api/books")).await, 200);
    assert_eq!(get_status(&c, moat.url("/api/debug/config")).await, 404);
    let r = c
        .post(moat.url("/api/books"))
        .header("content-type", "application/json")
        .header("x-api-key", &key)
        .body(r#"{"title":"Dune","author":"Frank Herbert"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
