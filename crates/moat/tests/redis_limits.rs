//! Rate limits shared by two gateway processes through a real Redis: the
//! total stays at the configured rate, and when Redis stops each limit
//! follows its `fail` mode until Redis is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../moat-state/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: shared, version: "1"}
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
  /strict:
    get: {operationId: strict, responses: {"200": {description: ok}}}
"#;

fn redis_config(upstream: &str, redis: &str, limits: &str) -> String {
    format!(
        "{}rate_limiting:\n  backend: redis\n  redis: {{url: \"{redis}\", timeout: 100ms}}\n",
        config(upstream, limits)
    )
}

/// A folder with the document and a config whose limits count in `redis`.
fn configured(up: &Upstream, redis: &RedisServer, limits: &str) -> tempfile::TempDir {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &redis_config(&up.url(), &redis.url(), limits),
    );
    dir
}

async fn metrics(moat: &Moat) -> String {
    moat.metrics().await
}

#[tokio::test]
async fn two_gateways_share_one_rate() {
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let limits =
        "    rate_limits:\n      - {name: shared, key: api, rate: 150, per: 1s, burst: 10}\n";
    let dir = configured(&up, &redis, limits);
    // Two nodes on the same config: each picks its own free port.
    let nodes = [Moat::start(dir.path()), Moat::start(dir.path())];
    let c = client();
    let allowed = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let run = Duration::from_secs(4);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for node in &nodes {
        for _ in 0..4 {
            let (c, url) = (c.clone(), node.url("/items"));
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
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = allowed.load(Ordering::Relaxed) as f64;
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the run must offer more than the rate"
    );
    let expected = 150.0 * elapsed + 10.0;
    let error = (allowed - expected).abs() / expected;
    println!(
        "two nodes allowed {allowed} of expected {expected:.0} ({:.2}% off)",
        error * 100.0
    );
    assert!(error <= 0.02, "allowed {allowed}, expected {expected:.0}");
}

#[tokio::test]
async fn when_redis_stops_each_limit_follows_its_fail_mode() {
    let mut redis = RedisServer::start();
    let up = upstream(None).await;
    let limits = "    rate_limits:\n      - {name: open, key: client_ip, rate: 3, per: 1m, operations: [listItems], fail: open}\n      - {name: closed, key: client_ip, rate: 100, per: 1s, operations: [strict], fail: closed}\n";
    let dir = configured(&up, &redis, limits);
    let moat = Moat::start(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/strict")).await, 200);
    assert_eq!(get_status(&c, moat.url("/items")).await, 200);
    assert!(metrics(&moat).await.contains("moat_ratelimit_backend_up 1"));

    redis.kill();
    // fail: closed refuses with 503 while Redis is away, quickly.
    let t = Instant::now();
    let r = c.get(moat.url("/strict")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(r.headers()["retry-after"], "1");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("urn:moat:problem:rate-limit-unavailable"),
        "{body}"
    );
    // fail: open keeps limiting on this node's own limiter (3 a minute,
    // counted afresh there).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get_status(&c, moat.url("/items")).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // /healthz says so at once; the gauge once the upkeep task (every 5 s)
    // refreshes it.
    let health = client()
        .get(format!("http://{}/healthz", moat.admin.unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().contains("degraded"));
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let m = metrics(&moat).await;
        if m.contains("moat_ratelimit_backend_up 0") {
            assert!(m.contains("moat_ratelimit_backend_errors_total"));
            break;
        }
        assert!(Instant::now() < deadline, "backend_up never dropped:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Redis returns on the same port: the gateway reconnects by itself.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_status(&c, moat.url("/strict")).await != 200 {
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        moat.stderr().contains("rate-limit backend unreachable"),
        "the outage is logged"
    );
}

#[tokio::test]
async fn a_gateway_starts_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let limits = "    rate_limits:\n      - {name: closed, key: client_ip, rate: 100, per: 1s, operations: [strict], fail: closed}\n";
    write(
        dir.path(),
        "moat.yaml",
        &redis_config(&up.url(), &url, limits),
    );
    let moat = Moat::start(dir.path());
    let c = client();
    assert_eq!(get_status(&c, moat.url("/strict")).await, 503);
    assert_eq!(
        get_status(&c, moat.url("/items")).await,
        200,
        "unlimited operations are served"
    );
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_status(&c, moat.url("/strict")).await != 200 {
        assert!(
            Instant::now() < deadline,
            "never connected after Redis came up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A request that meets a rate limit and a quota is decided in one call;
/// the quota's refusal takes nothing from the rate limit, and both nodes
/// count one quota.
#[tokio::test]
async fn a_rate_limit_and_a_quota_are_decided_together() {
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let limits = "    rate_limits:\n      - {name: burst, key: client_ip, rate: 8, per: 1m, burst: 8, operations: [listItems]}\n    quotas:\n      - {name: daily, key: client_ip, limit: 5, per: 1d, operations: [listItems]}\n";
    let dir = configured(&up, &redis, limits);
    let nodes = [Moat::start(dir.path()), Moat::start(dir.path())];
    let c = client();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = c.get(nodes[i % 2].url("/items")).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // The refusals are the quota's (the rate limit allows 8 a minute).
    let r = c.get(nodes[0].url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let policy = r.headers()["ratelimit-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("daily"), "{policy}");
}

/// A limit keyed on a header counts in Redis by the value's digest: what
/// the client sent (here a token) is in no Redis key, and each value is
/// its own count.
#[tokio::test]
async fn a_header_keyed_limit_puts_no_client_text_in_redis() {
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let limits = "    rate_limits:\n      - {name: tenant, key: \"header:x-tenant\", rate: 2, per: 1m, burst: 2}\n";
    let dir = configured(&up, &redis, limits);
    let moat = Moat::start(dir.path());
    let c = client();
    let send = |tenant: &'static str| {
        let r = c.get(moat.url("/items")).header("x-tenant", tenant).send();
        async move { r.await.unwrap().status().as_u16() }
    };
    const SECRET: &str = "tenant-token-5f1d9c2e7a";
    let statuses = [send(SECRET).await, send(SECRET).await, send(SECRET).await];
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(send("another-tenant").await, 200, "a count of its own");

    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--scan"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(keys.contains(":tenant:h="), "{keys}");
    assert!(
        !keys.contains("tenant-token") && !keys.contains("another"),
        "{keys}"
    );
}
