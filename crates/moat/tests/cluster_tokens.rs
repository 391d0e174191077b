//! Two gateway processes on one real PostgreSQL and one real Redis share
//! their token introspection answers: a token introspected through one
//! node is accepted on the other with no second call to the identity
//! provider, an inactive token is refused on both after one call, and with
//! Redis killed both nodes still authenticate, each asking the provider
//! itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../moat-state/tests/support/postgres.rs"]
mod postgres_server;
#[path = "../../moat-state/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres_server::PostgresServer;
use redis_server::RedisServer;
use serde_json::json;
use support::*;

const CLIENT_SECRET: &str = "client-secret-1234";

/// An RFC 7662 endpoint that counts its calls: tokens starting with
/// `good-` are active for alice, anything else inactive.
async fn identity_provider() -> (SocketAddr, Arc<AtomicUsize>) {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let form = String::from_utf8_lossy(&body).to_string();
                        let answer = if form.contains("token=good-") {
                            json!({"active": true, "sub": "alice", "scope": "items:read", "exp": unix_now() + 300})
                        } else {
                            json!({"active": false})
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(bytes::Bytes::from(answer.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

fn setup(dir: &Path, upstream: &str, idp: SocketAddr, pg: &str, redis: &str) {
    write(dir, "spec.yaml", BEARER_SPEC);
    let api = format!(
        "    security:\n      Bearer: {{type: introspection, url: \"http://{idp}/introspect\", client_id: moat, client_secret: {CLIENT_SECRET}}}\n"
    );
    let text = format!(
        "{}consumers:\n  - id: alice\n\
         state:\n  backend: cluster\n  postgres: {{url: \"{pg}\", timeout: 1s}}\n  redis: {{url: \"{redis}\", timeout: 100ms}}\n",
        config(upstream, &api)
    );
    write(dir, "moat.yaml", &text);
}

async fn call(node: &Moat, token: &str) -> u16 {
    get_items_with_bearer(node, token).await.status().as_u16()
}

/// The keys of the shared answers in Redis (an inline `KEYS` command).
fn introspection_keys(redis: &RedisServer) -> Vec<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"KEYS moat:introspection:*\r\n").unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // `*<n>` then `$<len>` and the key for each: read until complete.
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "Redis closed the connection");
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply).to_string();
        let mut lines = text.split("\r\n");
        let count: usize = lines
            .next()
            .unwrap()
            .trim_start_matches('*')
            .parse()
            .unwrap();
        let keys: Vec<String> = lines
            .filter(|l| !l.starts_with('$') && !l.is_empty())
            .map(str::to_string)
            .collect();
        if keys.len() == count {
            return keys;
        }
    }
}

fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn two_nodes_share_introspection_answers_through_redis() {
    let pg = PostgresServer::start();
    let mut redis = RedisServer::start();
    let up = upstream(None).await;
    let (idp, calls) = identity_provider().await;
    let dir = tempdir();
    setup(dir.path(), &up.url(), idp, &pg.url(), &redis.url());
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || Moat::start(&path))
        })
        .collect();
    let nodes: Vec<Moat> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    let [a, b] = [&nodes[0], &nodes[1]];
    let calls = || calls.load(Ordering::SeqCst);

    // Introspected through A, accepted on B with no second call.
    assert_eq!(call(a, "good-token").await, 200);
    assert_eq!(calls(), 1);
    assert_eq!(call(b, "good-token").await, 200);
    assert_eq!(calls(), 1, "node B used node A's answer");
    // Only the token's digest names the key.
    assert_eq!(
        introspection_keys(&redis),
        [format!("moat:introspection:{}", sha256_hex("good-token"))]
    );

    // An inactive token: refused on both, one call.
    assert_eq!(call(b, "revoked-token").await, 401);
    assert_eq!(call(a, "revoked-token").await, 401);
    assert_eq!(call(b, "revoked-token").await, 401);
    assert_eq!(calls(), 2, "one call for the cluster");

    // Redis hung (SIGSTOP): a new token waits at most the Redis timeout
    // (100 ms) more, and is not refused.
    redis.signal("STOP");
    let started = Instant::now();
    assert_eq!(call(a, "good-hung").await, 200);
    let took = started.elapsed();
    println!("a new token with Redis hung took {took:?}");
    assert!(took < Duration::from_millis(900), "{took:?}");
    assert_eq!(calls(), 3);
    redis.signal("CONT");

    // Redis killed: both nodes still authenticate, each asking the
    // provider itself, and answers already cached on a node need no call.
    redis.kill();
    assert_eq!(call(a, "good-other").await, 200);
    assert_eq!(call(b, "good-other").await, 200);
    assert_eq!(calls(), 5, "one call per node without Redis");
    assert_eq!(call(a, "revoked-other").await, 401);
    assert_eq!(call(b, "revoked-other").await, 401);
    assert_eq!(calls(), 7);
    assert_eq!(call(a, "good-token").await, 200);
    assert_eq!(call(b, "good-token").await, 200);
    assert_eq!(calls(), 7, "each node's own cache still answers");
    // Logged once per node, not once per request.
    for node in [a, b] {
        node.wait_stderr("shared introspection cache does not answer")
            .await;
        let said = node
            .stderr()
            .matches("shared introspection cache does not answer")
            .count();
        assert_eq!(said, 1, "{}", node.stderr());
    }
}
