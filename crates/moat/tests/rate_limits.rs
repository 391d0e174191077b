//! Rate limits and quotas through the real binary on the in-memory and
//! SQLite backends: 429 with its headers, refusals that consume nothing,
//! accuracy over a sustained run, quotas surviving a restart, document
//! extensions and config errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: limited, version: "1"}
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
  /search:
    get:
      operationId: search
      x-moat-rate-limit: {rate: 2, per: 1m, key: client_ip}
      responses: {"200": {description: ok}}
  /orders:
    get:
      operationId: listOrders
      security: [{Basic: []}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

/// How the document's one security scheme is verified.
const BASIC: &str = "    security:\n      Basic: {type: basic}\n";

async fn start(extra: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config(&up.url(), &format!("{BASIC}{extra}")),
    );
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

async fn get(c: &reqwest::Client, url: String, user: Option<&str>) -> reqwest::Response {
    let mut r = c.get(url);
    if let Some(u) = user {
        r = r.header("x-user", u);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_burst_then_429_with_ratelimit_headers() {
    let extra = "    rate_limits:\n      - {name: per-client, key: client_ip, rate: 5, per: 10s, burst: 5, operations: [listItems]}\n";
    let (_dir, up, moat) = start(extra).await;
    let c = client();
    for left in (0..5).rev() {
        let r = get(&c, moat.url("/items"), None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-policy"], "\"per-client\";q=5;w=10");
        let field = r.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(
            field.starts_with(&format!("\"per-client\";r={left};t=")),
            "{field}"
        );
    }
    let r = get(&c, moat.url("/items"), None).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&retry),
        "one unit comes back every 2 s: {retry}"
    );
    assert!(
        r.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"per-client\";r=0;t=")
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:rate-limited");
    assert_eq!(
        up.hits(),
        5,
        "the refused request never reached the upstream"
    );
    // Unlimited operations carry no rate-limit fields.
    let r = get(&c, moat.url("/orders"), None).await;
    assert!(r.headers().get("ratelimit-policy").is_none());
    let log = moat.wait_log(|l| l["finding"] == "rate-limited").await;
    assert_eq!(log["status"], 429);
}

#[tokio::test]
async fn a_refusal_by_one_limit_consumes_from_none() {
    // Three requests a minute for the API, one per user.
    let extra = "    rate_limits:\n      - {name: api-wide, key: api, rate: 3, per: 1m}\n      - {name: per-user, key: \"header:x-user\", rate: 1, per: 1m}\n";
    let (_dir, _up, moat) = start(extra).await;
    let c = client();
    let status = |user: &'static str| {
        let c = c.clone();
        let url = moat.url("/items");
        async move { get(&c, url, Some(user)).await.status().as_u16() }
    };
    assert_eq!(status("u1").await, 200);
    // Refused by per-user: must not use up one of the API's three.
    assert_eq!(status("u1").await, 429);
    assert_eq!(status("u1").await, 429);
    assert_eq!(status("u2").await, 200);
    assert_eq!(status("u3").await, 200);
    // Now the API-wide limit is used up.
    assert_eq!(status("u4").await, 429);
}

#[tokio::test]
async fn document_extensions_limit_their_operation() {
    let (_dir, _up, moat) = start("").await;
    let c = client();
    for _ in 0..2 {
        assert_eq!(get(&c, moat.url("/search"), None).await.status(), 200);
    }
    let r = get(&c, moat.url("/search"), None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["ratelimit-policy"], "\"search-0\";q=2;w=60");
    assert_eq!(get(&c, moat.url("/items"), None).await.status(), 200);
}

#[tokio::test]
async fn a_sustained_run_gets_the_configured_rate() {
    // 200 per second, burst 10, offered by 8 clients as fast as they can.
    let extra =
        "    rate_limits:\n      - {name: steady, key: api, rate: 200, per: 1s, burst: 10}\n";
    let (_dir, _up, moat) = start(extra).await;
    let c = client();
    let allowed = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let run = Duration::from_secs(4);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url) = (c.clone(), moat.url("/items"));
        let (allowed, refused) = (allowed.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run {
                match c.get(&url).send().await.unwrap().status().as_u16() {
                    200 => allowed.fetch_add(1, Ordering::Relaxed),
                    429 => refused.fetch_add(1, Ordering::Relaxed),
                    other => panic!("unexpected status {other}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = allowed.load(Ordering::Relaxed) as f64;
    let refused = refused.load(Ordering::Relaxed);
    assert!(refused > 0, "the run must offer more than the rate");
    let expected = 200.0 * elapsed + 10.0;
    let error = (allowed - expected).abs() / expected;
    println!(
        "allowed {allowed} of expected {expected:.0} ({:.2}% off), refused {refused}",
        error * 100.0
    );
    assert!(error <= 0.01, "allowed {allowed}, expected {expected:.0}");
}

#[tokio::test]
async fn quotas_per_consumer_survive_a_restart() {
    let h = hash_password("pw");
    let extra = "    security:\n      Basic: {type: basic}\n    quotas:\n      - {name: orders-per-hour, key: consumer, limit: 3, per: 1h, operations: [listOrders]}\n";
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: bob\n    basic: {{username: bob, password_hash: \"{h}\"}}\n",
        config(&up.url(), extra)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let mut moat = Moat::start(dir.path());
    let c = client();
    let order = |moat: &Moat, user: &'static str| {
        let r = c
            .get(moat.url("/orders"))
            .basic_auth(user, Some("pw"))
            .send();
        async move { r.await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(order(&moat, "alice").await.status(), 200);
    }
    let r = order(&moat, "alice").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 60, "the window is an hour: {retry}");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:quota-exceeded");
    // Another consumer has its own quota.
    assert_eq!(order(&moat, "bob").await.status(), 200);

    moat.signal("TERM");
    assert!(moat.wait_exit(Duration::from_secs(10)).success());
    let moat = Moat::start(dir.path());
    assert_eq!(
        order(&moat, "alice").await.status(),
        429,
        "a restart does not reset it"
    );
    assert_eq!(order(&moat, "bob").await.status(), 200);
}

#[test]
fn limits_that_do_not_fit_are_config_errors() {
    let extra = "    rate_limits:\n      - {name: a, key: ip, rate: 5}\n      - {name: a, key: consumer, rate: 0}\n      - {name: b, key: consumer, rate: 1, operations: [listItem]}\n";
    let err = check_api_fails(SPEC, &format!("{BASIC}{extra}"));
    assert!(err.contains("unknown limit key `ip`"), "{err}");
    assert!(err.contains("two limits are named `a`"), "{err}");
    assert!(
        err.contains("`rate` and `burst` must be above zero"),
        "{err}"
    );
    assert!(err.contains("did you mean `listItems`?"), "{err}");
    assert!(
        err.contains("moat.yaml:17:9: error: unknown limit key"),
        "{err}"
    );
}
