//! The anomaly detectors count a cluster's traffic as one: an enumeration
//! or an error storm spread over two gateway nodes (on one real PostgreSQL
//! and one real Redis) trips the detector that neither node's share would,
//! the event is reported once and its ban applies on both; the same
//! traffic on one embedded node counts as before; and with Redis gone, each
//! node detects on its own counts again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../moat-state/tests/support/postgres.rs"]
mod postgres_server;
#[path = "../../moat-state/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use postgres_server::PostgresServer;
use redis_server::RedisServer;
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: records, version: "1"}
security: [{ApiKey: []}]
paths:
  /records/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getRecord, responses: {"200": {description: ok}, "404": {description: missing}}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
"#;

const PEPPER: &str = "cluster-test-pepper-0123456789abcdef-0123456789";

/// An enumeration detector: 10 distinct objects within a minute, banned
/// for 10 minutes.
const ENUMERATION: &str = "  enumeration: {distinct_objects: 10, window: 1m, ban: 10m}\n";

/// A gateway with API keys, `state` and `anomaly` lines as given.
fn setup(dir: &Path, upstream: &str, state: &str, anomaly: &str) {
    write(dir, "spec.yaml", SPEC);
    let api = "    security:\n      ApiKey: {type: api_key}\n";
    let text = format!(
        "{}consumers:\n  - id: mallory\n  - id: eve\n  - id: trudy\nkeys:\n  pepper: {PEPPER}\n{state}\
         anomaly:\n{anomaly}",
        config(upstream, api)
    );
    write(dir, "moat.yaml", &text);
}

/// Two cluster nodes on `pg` and `redis`, with `anomaly`'s detectors.
fn two_nodes(
    dir: &Path,
    up: &str,
    pg: &PostgresServer,
    redis: &RedisServer,
    anomaly: &str,
) -> Vec<Moat> {
    let state = format!(
        "state:\n  backend: cluster\n  postgres: {{url: \"{}\", timeout: 1s}}\n  redis: {{url: \"{}\", timeout: 100ms}}\n",
        pg.url(),
        redis.url()
    );
    setup(dir, up, &state, anomaly);
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let path = dir.to_path_buf();
            std::thread::spawn(move || Moat::start(&path))
        })
        .collect();
    starts.into_iter().map(|t| t.join().unwrap()).collect()
}

async fn create_key(node: &Moat, consumer: &str) -> String {
    admin_create_key(node, consumer).await.0
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

/// Asks for missing records `ids` (404 each).
async fn walk(node: &Moat, key: &str, ids: std::ops::Range<u32>) {
    for id in ids {
        let r = client()
            .get(node.url(&format!("/records/{id}")))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(status, 404, "{id}: {}", r.text().await.unwrap());
    }
}

/// Polls until every node refuses `key` (the ban); the time it took.
async fn until_banned(nodes: &[&Moat], key: &str) -> Duration {
    let started = Instant::now();
    for node in nodes {
        loop {
            let got = call(node, key, "/records/1").await;
            if got == 403 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a node still answers {got}, not 403"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    started.elapsed()
}

fn reported(nodes: &[&Moat], detector: &str, consumer: &str) -> usize {
    nodes
        .iter()
        .map(|n| {
            n.stderr()
                .lines()
                .filter(|l| {
                    l.contains("security event")
                        && l.contains(detector)
                        && l.contains(&format!("consumer {consumer}"))
                })
                .count()
        })
        .sum()
}

#[tokio::test]
async fn an_enumeration_spread_over_two_nodes_is_detected_once_and_banned_on_both() {
    let pg = PostgresServer::start();
    let mut redis = RedisServer::start();
    let up = upstream(None).await;
    let dir = tempdir();
    let nodes = two_nodes(dir.path(), &up.url(), &pg, &redis, ENUMERATION);
    let [a, b] = [&nodes[0], &nodes[1]];

    // Five missing ids on each node: half the threshold on either alone.
    let mallory = create_key(a, "mallory").await;
    walk(a, &mallory, 1000..1005).await;
    walk(b, &mallory, 2000..2005).await;
    let took = until_banned(&[a, b], &mallory).await;
    println!("the cluster-wide count banned mallory on both nodes after {took:?}");
    assert_eq!(
        reported(&[a, b], "enumeration", "mallory"),
        1,
        "reported by one node"
    );

    // Someone else is not touched by it.
    let eve = create_key(b, "eve").await;
    assert_eq!(call(a, &eve, "/records/1").await, 200);
    assert_eq!(call(b, &eve, "/records/1").await, 200);

    // Redis gone: each node detects on its own counts, and says so.
    redis.kill();
    let trudy = create_key(a, "trudy").await;
    walk(a, &trudy, 3000..3010).await;
    until_banned(&[a], &trudy).await;
    a.wait_stderr("detection counts this node's traffic alone")
        .await;
}

#[tokio::test]
async fn the_same_traffic_on_one_embedded_node_counts_as_before() {
    let up = upstream(None).await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), "", ENUMERATION);
    let node = Moat::start(dir.path());
    let mallory = create_key(&node, "mallory").await;
    walk(&node, &mallory, 1000..1005).await;
    // A record of its own: the sixth distinct object of ten.
    assert_eq!(call(&node, &mallory, "/records/1").await, 200);
    walk(&node, &mallory, 2000..2004).await;
    until_banned(&[&node], &mallory).await;
    assert_eq!(reported(&[&node], "enumeration", "mallory"), 1);
}

/// Sends `n` requests the gateway refuses (`400`: the id is no integer).
async fn refused(node: &Moat, key: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(call(node, key, "/records/not-a-number").await, 400);
    }
}

#[tokio::test]
async fn an_error_storm_spread_over_two_nodes_is_detected_once_and_banned_on_both() {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let up = upstream(None).await;
    let dir = tempdir();
    let storm = "  error_storm: {min_errors: 12, min_error_percent: 50, window: 1m, ban: 10m}\n";
    let nodes = two_nodes(dir.path(), &up.url(), &pg, &redis, storm);
    let [a, b] = [&nodes[0], &nodes[1]];

    // Six refusals on each node, among answers: neither node alone sees
    // 12 errors. B's sixth makes twelve in the cluster (12 of 15 requests),
    // and the ban may follow before B answers anything else.
    let mallory = create_key(a, "mallory").await;
    for node in [a, b] {
        assert_eq!(call(node, &mallory, "/records/1").await, 200);
    }
    refused(a, &mallory, 6).await;
    assert_eq!(call(a, &mallory, "/records/2").await, 200);
    refused(b, &mallory, 6).await;
    let took = until_banned(&[a, b], &mallory).await;
    println!("the cluster-wide error count banned mallory on both nodes after {took:?}");
    assert_eq!(reported(&[a, b], "error_storm", "mallory"), 1);

    // Eve's few errors among her answers raise nothing.
    let eve = create_key(b, "eve").await;
    for node in [a, b] {
        refused(node, &eve, 2).await;
        assert_eq!(call(node, &eve, "/records/1").await, 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(a, &eve, "/records/1").await, 200);
    assert_eq!(reported(&[a, b], "error_storm", "eve"), 0);
}
