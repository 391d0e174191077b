//! Three gateway processes on one real PostgreSQL and one real Redis
//! behave as one gateway: keys, revocations and bans reach every node
//! within a second, a shared rate limit holds across them, and the events
//! of all of them are in one verified audit chain. Then the outages: Redis
//! and PostgreSQL killed and restarted under traffic, each with its
//! documented behaviour and no acknowledged event lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../moat-state/tests/support/postgres.rs"]
mod postgres_server;
#[path = "../../moat-state/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postgres_server::PostgresServer;
use redis_server::RedisServer;
use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: cluster, version: "1"}
security: [{ApiKey: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
  /limited:
    get: {operationId: limited, responses: {"200": {description: ok}}}
  /records/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getRecord, responses: {"200": {description: ok}, "404": {description: missing}}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
"#;

const PEPPER: &str = "cluster-test-pepper-0123456789abcdef-0123456789";

/// The nodes' shared config: state in `pg` and `redis`, a rate limit of
/// 150/s shared by every client of `/limited`, and an enumeration detector
/// that bans for 10 minutes.
fn setup(dir: &Path, upstream: &str, pg: &str, redis: &str) {
    write(dir, "spec.yaml", SPEC);
    let api = "    security:\n      ApiKey: {type: api_key}\n    rate_limits:\n      - {name: shared, key: api, rate: 150, per: 1s, burst: 10, operations: [limited]}\n";
    let text = format!(
        "{}consumers:\n  - id: alice\n  - id: mallory\nkeys:\n  pepper: {PEPPER}\n\
         state:\n  backend: cluster\n  postgres: {{url: \"{pg}\", timeout: 1s}}\n  redis: {{url: \"{redis}\", timeout: 100ms}}\n\
         anomaly:\n  enumeration: {{distinct_objects: 10, window: 1m, ban: 10m}}\n",
        config(upstream, api)
    );
    write(dir, "moat.yaml", &text);
}

fn admin_url(node: &Moat, path: &str) -> String {
    format!("http://{}{path}", node.admin.unwrap())
}

/// POSTs `body` as JSON; `Value::Null` sends no body at all.
async fn admin_post(node: &Moat, path: &str, body: Value) -> (u16, Value) {
    let mut req = client()
        .post(admin_url(node, path))
        .bearer_auth(ADMIN_TOKEN);
    if !body.is_null() {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn admin_get(node: &Moat, path: &str) -> (u16, Value) {
    let r = client()
        .get(admin_url(node, path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn call(node: &Moat, key: &str, path: &str) -> u16 {
    client()
        .get(node.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until every node answers `want` for `key`; the time it took.
async fn until_all(nodes: &[&Moat], key: &str, path: &str, want: u16) -> Duration {
    let started = Instant::now();
    for node in nodes {
        loop {
            let got = call(node, key, path).await;
            if got == want {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a node still answers {got}, not {want}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    started.elapsed()
}

async fn create_key(node: &Moat, consumer: &str) -> (String, String) {
    admin_create_key(node, consumer).await
}

async fn readyz(node: &Moat) -> (u16, String) {
    let r = client()
        .get(admin_url(node, "/readyz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `/readyz` until its body contains `text`.
async fn until_ready_says(node: &Moat, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = readyz(node).await;
        if body.contains(text) {
            assert_eq!(status, 200, "a degraded node still serves: {body}");
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never said {text:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn moat_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(MOAT)
        .args(args)
        .arg("--config")
        .arg(dir.join("moat.yaml"))
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Stored events whose path is `path`, from the admin API of `node`.
async fn stored_events(node: &Moat, path: &str) -> Vec<Value> {
    let (status, page) = admin_get(node, "/admin/events?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == path)
        .cloned()
        .collect()
}

struct Cluster {
    dir: tempfile::TempDir,
    _up: Upstream,
    pg: PostgresServer,
    redis: RedisServer,
    nodes: Vec<Moat>,
}

async fn cluster() -> Cluster {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), &pg.url(), &redis.url());
    // Started together: the schema is migrated once, under a lock.
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || Moat::start(&path))
        })
        .collect();
    let nodes = starts.into_iter().map(|t| t.join().unwrap()).collect();
    Cluster {
        dir,
        _up: up,
        pg,
        redis,
        nodes,
    }
}

#[tokio::test]
async fn three_nodes_behave_as_one() {
    let cl = cluster().await;
    let [a, b, c] = [&cl.nodes[0], &cl.nodes[1], &cl.nodes[2]];

    // A key created through A's admin API authenticates on B and C.
    let (key, key_id) = create_key(a, "alice").await;
    let took = until_all(&[b, c], &key, "/items", 200).await;
    println!("a new key worked on B and C after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Cached everywhere now; revoked on B, refused on A and C.
    assert_eq!(call(a, &key, "/items").await, 200);
    let (status, body) = admin_post(b, &format!("/admin/keys/{key_id}/revoke"), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let took = until_all(&[a, c], &key, "/items", 401).await;
    println!("the revocation applied on A and C after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A ban from an anomaly seen on C applies on A: mallory walks record
    // ids that do not exist, on C only.
    let (mallory, _) = create_key(a, "mallory").await;
    for id in 5000..5012 {
        let _ = call(c, &mallory, &format!("/records/{id}")).await;
    }
    let took = until_all(&[c, a, b], &mallory, "/records/1", 403).await;
    println!("the detector's ban applied on every node after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (alice, _) = create_key(b, "alice").await;
    assert_eq!(call(a, &alice, "/records/1").await, 200, "only mallory");

    // A rate limit shared by the three allows the configured total ±2%:
    // its burst plus the rate over the time requests were sent.
    let allowed = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let last_sent_us = Arc::new(AtomicU64::new(0));
    let run = Duration::from_secs(4);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for node in &cl.nodes {
        for _ in 0..3 {
            let (http, url, key) = (client(), node.url("/limited"), alice.clone());
            let (allowed, refused, last) = (allowed.clone(), refused.clone(), last_sent_us.clone());
            tasks.push(tokio::spawn(async move {
                while started.elapsed() < run {
                    let sent = u64::try_from(started.elapsed().as_micros()).unwrap();
                    let r = http.get(&url).header("x-api-key", &key).send().await;
                    match r.unwrap().status().as_u16() {
                        200 => allowed.fetch_add(1, Ordering::Relaxed),
                        429 => refused.fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected status {other}"),
                    };
                    last.fetch_max(sent, Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let window = last_sent_us.load(Ordering::Relaxed) as f64 / 1e6;
    let allowed = allowed.load(Ordering::Relaxed) as f64;
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "offer more than the rate"
    );
    let expected = 150.0 * window + 10.0;
    let error = (allowed - expected).abs() / expected;
    println!(
        "three nodes allowed {allowed} of {expected:.0} ({:.2}% off)",
        error * 100.0
    );
    assert!(error <= 0.02, "allowed {allowed}, expected {expected:.0}");

    // The events of all nodes are in one store: each node's admin API
    // shows the revocation made on B and the detector's event from C, and
    // the one audit chain verifies.
    for node in [a, b, c] {
        let (status, page) = admin_get(node, "/admin/events?limit=1000").await;
        assert_eq!(status, 200);
        let events = page["events"].as_array().unwrap();
        assert!(
            events.iter().any(|e| e["kind"] == "key-revoked"
                && e["evidence"].as_str().is_some_and(|t| t.contains(&key_id))),
            "the revocation made on B: {page}"
        );
        assert!(
            events.iter().any(|e| e["control"] == "anomaly"),
            "the detector's event from C: {page}"
        );
    }
    let (ok, out, err) = moat_cli(cl.dir.path(), &["audit", "verify"]);
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn redis_killed_and_restarted_under_traffic() {
    let mut cl = cluster().await;
    let (key, _) = create_key(&cl.nodes[0], "alice").await;
    let (mallory, _) = create_key(&cl.nodes[0], "mallory").await;
    for id in 5000..5012 {
        let _ = call(&cl.nodes[2], &mallory, &format!("/records/{id}")).await;
    }
    until_all(&[&cl.nodes[0]], &mallory, "/records/1", 403).await;

    cl.redis.kill();
    for node in &cl.nodes {
        until_ready_says(node, "the cluster's Redis is unreachable").await;
    }
    // Keys keep working; the ban imposed before the outage holds on every
    // node from its local copy; `/limited` (fail: open) is limited by each
    // node alone.
    for node in &cl.nodes {
        assert_eq!(call(node, &key, "/items").await, 200);
        assert_eq!(call(node, &mallory, "/records/1").await, 403);
        assert_eq!(call(node, &key, "/limited").await, 200);
    }
    // A revocation during the outage still reaches every node, through the
    // key cache's revalidation.
    let (key2, key2_id) = create_key(&cl.nodes[1], "alice").await;
    until_all(&[&cl.nodes[0], &cl.nodes[2]], &key2, "/items", 200).await;
    let (status, _) = admin_post(
        &cl.nodes[1],
        &format!("/admin/keys/{key2_id}/revoke"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let took = until_all(&[&cl.nodes[0], &cl.nodes[2]], &key2, "/items", 401).await;
    assert!(took < Duration::from_millis(1500), "{took:?}");

    cl.redis.restart();
    for node in &cl.nodes {
        let body = until_ready_says(node, "ready\n").await;
        assert_eq!(body, "ready\n");
    }
    // Notices flow again: a revocation applies at once.
    let (key3, key3_id) = create_key(&cl.nodes[0], "alice").await;
    until_all(&[&cl.nodes[1], &cl.nodes[2]], &key3, "/items", 200).await;
    admin_post(
        &cl.nodes[0],
        &format!("/admin/keys/{key3_id}/revoke"),
        Value::Null,
    )
    .await;
    let took = until_all(&[&cl.nodes[1], &cl.nodes[2]], &key3, "/items", 401).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    for node in &mut cl.nodes {
        assert!(node.is_running(), "no node exits: {}", node.stderr());
        assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
    }
}

#[tokio::test]
async fn postgres_killed_and_restarted_under_traffic() {
    let mut cl = cluster().await;
    let (key, _) = create_key(&cl.nodes[0], "alice").await;
    for node in &cl.nodes {
        assert_eq!(call(node, &key, "/items").await, 200, "cached on each node");
    }

    cl.pg.kill();
    for node in &cl.nodes {
        until_ready_says(node, "the state store").await;
    }
    // Cached keys keep working; creating one fails with a clear answer;
    // refused requests' events are held by their node.
    for node in &cl.nodes {
        assert_eq!(call(node, &key, "/items").await, 200);
    }
    let (status, body) =
        admin_post(&cl.nodes[1], "/admin/keys", json!({"consumer": "alice"})).await;
    assert_eq!(status, 503, "{body}");
    let mut sent = 0;
    for (i, node) in cl.nodes.iter().enumerate() {
        for _ in 0..5 {
            assert_eq!(call(node, &key, "/not-documented").await, 404, "node {i}");
            sent += 1;
        }
    }

    cl.pg.restart();
    for node in &cl.nodes {
        until_ready_says(node, "ready\n").await;
    }
    // Every held event is written once the store is back.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stored = stored_events(&cl.nodes[0], "/not-documented").await;
        if stored.len() == sent {
            break;
        }
        assert!(
            stored.len() < sent,
            "{} events for {sent} requests",
            stored.len()
        );
        assert!(
            Instant::now() < deadline,
            "only {} of {sent} events were written after the outage",
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, made) =
        admin_post(&cl.nodes[1], "/admin/keys", json!({"consumer": "alice"})).await;
    assert_eq!(status, 201, "{made}");
    let (ok, out, err) = moat_cli(cl.dir.path(), &["audit", "verify"]);
    assert!(ok, "{out}{err}");
    for node in &mut cl.nodes {
        assert!(node.is_running(), "no node exits: {}", node.stderr());
        assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
    }
}

/// A frozen PostgreSQL (SIGSTOP: connections stay open, nothing answers)
/// costs no request more than the store's `timeout` (1 s here): cached
/// keys keep verifying, creating a key is `503` within the timeout,
/// `/readyz` names the state store, refusals' events are held; once it
/// thaws, everything is written and created again.
#[tokio::test]
async fn a_frozen_postgres_costs_no_request_more_than_its_timeout() {
    let cl = cluster().await;
    let node = &cl.nodes[0];
    let (key, _) = create_key(node, "alice").await;
    assert_eq!(call(node, &key, "/items").await, 200);

    cl.pg.signal("STOP");
    let frozen = Instant::now();
    let mut slowest = Duration::ZERO;
    // Past the key cache's revalidation (1 s), so records are re-read
    // from the frozen store and served stale when that times out.
    while frozen.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        assert_eq!(call(node, &key, "/items").await, 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        slowest < Duration::from_millis(1500),
        "a request took {slowest:?}"
    );
    let started = Instant::now();
    let (status, body) = admin_post(node, "/admin/keys", json!({"consumer": "alice"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    until_ready_says(node, "the state store").await;
    for _ in 0..5 {
        assert_eq!(call(node, &key, "/not-documented").await, 404);
    }

    cl.pg.signal("CONT");
    until_ready_says(node, "ready\n").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while stored_events(node, "/not-documented").await.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "held events not written: {}",
            node.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, made) = admin_post(node, "/admin/keys", json!({"consumer": "alice"})).await;
    assert_eq!(status, 201, "{made}");
    assert!(!node.stderr().contains("panicked"), "{}", node.stderr());
}

#[tokio::test]
async fn with_manual_migrations_a_node_waits_for_moat_db_migrate() {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), &pg.url(), &redis.url());
    let path = dir.path().join("moat.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("timeout: 1s}", "timeout: 1s, migrate: manual}");
    std::fs::write(&path, text).unwrap();

    let out = Command::new(MOAT)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("run `moat db migrate`"), "{err}");
    assert!(!err.contains(&pg.url()), "the URL is not printed: {err}");

    let (ok, out, err) = moat_cli(dir.path(), &["db", "migrate"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("→"), "{out}");
    let node = Moat::start(dir.path());
    let (key, _) = create_key(&node, "alice").await;
    assert_eq!(call(&node, &key, "/items").await, 200);
}

#[tokio::test]
async fn nodes_share_a_redis_over_tls_with_a_password() {
    let pg = PostgresServer::start();
    let redis = RedisServer::setup()
        .with_password("s3cret-redis-pw")
        .with_tls()
        .start();
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), &pg.url(), &redis.url());
    let path = dir.path().join("moat.yaml");
    let ca = redis.ca_path().unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "timeout: 100ms}",
        &format!("timeout: 1s, ca: \"{}\"}}", ca.display()),
    );
    std::fs::write(&path, text).unwrap();
    let nodes = [Moat::start(dir.path()), Moat::start(dir.path())];
    let (key, key_id) = create_key(&nodes[0], "alice").await;
    until_all(&[&nodes[1]], &key, "/items", 200).await;
    admin_post(
        &nodes[0],
        &format!("/admin/keys/{key_id}/revoke"),
        Value::Null,
    )
    .await;
    let took = until_all(&[&nodes[1]], &key, "/items", 401).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    // The shared limit counts on both (150/s with a burst of 10).
    let (alice, _) = create_key(&nodes[1], "alice").await;
    let started = Instant::now();
    let mut allowed = 0;
    for i in 0..40 {
        if call(&nodes[i % 2], &alice, "/limited").await == 200 {
            allowed += 1;
        }
    }
    let most = 10.0 + 150.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        f64::from(allowed) <= most,
        "{allowed} allowed, at most {most:.0} when both nodes count together"
    );
    for node in &nodes {
        let (status, body) = readyz(node).await;
        assert_eq!((status, body.as_str()), (200, "ready\n"));
        assert!(!node.stderr().contains("s3cret-redis-pw"));
    }
}
