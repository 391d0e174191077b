//! Introspection answers in a real redis-server: stored under the token's
//! digest with the expiry given, shared by two connections, and a dead
//! server answered with an error within the timeout.
//!
//! Needs `redis-server` (the Debian package redis-server). Without it these
//! tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use moat_state::introspection::RedisIntrospectionCache;
use moat_state::redis_conn::{RedisConn, RedisOptions};
use redis_server::RedisServer;

fn options(server: &RedisServer, prefix: &str) -> RedisOptions {
    RedisOptions {
        url: server.url(),
        prefix: prefix.to_string(),
        timeout: Duration::from_millis(500),
        ca: None,
    }
}

async fn cache(server: &RedisServer, prefix: &str) -> RedisIntrospectionCache {
    RedisIntrospectionCache::new(RedisConn::connect(&options(server, prefix)).await.unwrap())
}

/// A raw command on the server, to look at what the cache wrote.
async fn raw<T: redis::FromRedisValue>(server: &RedisServer, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

#[tokio::test]
async fn answers_are_shared_under_the_digest_with_their_expiry() {
    let server = RedisServer::start();
    let a = cache(&server, "m1").await;
    let b = cache(&server, "m1").await;
    let other = cache(&server, "m2").await;

    assert_eq!(b.get(DIGEST).await.unwrap(), None);
    a.put(DIGEST, b"{\"v\":1}", Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(
        b.get(DIGEST).await.unwrap().as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    assert_eq!(other.get(DIGEST).await.unwrap(), None, "prefixes are apart");

    let key = format!("m1:introspection:{DIGEST}");
    assert_eq!(a.key(DIGEST), key);
    let keys: Vec<String> = raw(&server, redis::cmd("KEYS").arg("*")).await;
    assert_eq!(
        keys,
        std::slice::from_ref(&key),
        "one key, named by the digest only"
    );
    let pttl: i64 = raw(&server, redis::cmd("PTTL").arg(&key)).await;
    assert!((299_000..=300_000).contains(&pttl), "{pttl}");

    // A newer answer replaces the old one, with its own expiry.
    b.put(DIGEST, b"{\"v\":2}", Duration::from_millis(1500))
        .await
        .unwrap();
    let pttl: i64 = raw(&server, redis::cmd("PTTL").arg(&key)).await;
    assert!((1..=1500).contains(&pttl), "{pttl}");
    assert_eq!(
        a.get(DIGEST).await.unwrap().as_deref(),
        Some(&b"{\"v\":2}"[..])
    );
}

#[tokio::test]
async fn an_answer_is_gone_when_it_expires() {
    let server = RedisServer::start();
    let a = cache(&server, "m1").await;
    // Below a millisecond rounds up, never to "no expiry".
    a.put(DIGEST, b"x", Duration::from_micros(10))
        .await
        .unwrap();
    a.put(&"0".repeat(64), b"y", Duration::from_millis(50))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (first, second) = (
            a.get(DIGEST).await.unwrap(),
            a.get(&"0".repeat(64)).await.unwrap(),
        );
        if first.is_none() && second.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "still there after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn anything_but_a_digest_is_refused_as_a_key() {
    let server = RedisServer::start();
    let a = cache(&server, "m1").await;
    for bad in ["2YotnFZFEjr1zCsicMWpAA", "", &DIGEST.to_uppercase()] {
        assert!(a.put(bad, b"x", Duration::from_secs(1)).await.is_err());
        assert!(a.get(bad).await.is_err());
    }
    let keys: Vec<String> = raw(&server, redis::cmd("KEYS").arg("*")).await;
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn a_dead_or_stopped_server_is_an_error_within_the_timeout() {
    let mut server = RedisServer::start();
    let a = cache(&server, "m1").await;
    a.put(DIGEST, b"x", Duration::from_secs(60)).await.unwrap();

    // Stopped (SIGSTOP): no answer; the timeout bounds the wait.
    server.signal("STOP");
    let started = Instant::now();
    assert!(a.get(DIGEST).await.is_err());
    assert!(a.put(DIGEST, b"x", Duration::from_secs(60)).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    server.signal("CONT");

    // Killed: refused at once.
    server.kill();
    let started = Instant::now();
    assert!(a.get(DIGEST).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Back (empty, as a restarted cache is): the same connection works again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.get(DIGEST).await.is_err() {
        assert!(Instant::now() < deadline, "no reconnection within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.get(DIGEST).await.unwrap(), None);
}
