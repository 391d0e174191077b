//! Notices over a real redis-server: nodes hear each other, and a Redis
//! restart is followed by `Resync` and working notices again, with bounded
//! reconnection attempts meanwhile; and notices, limits and lockouts on one
//! shared TLS connection with a password.
//!
//! Needs `redis-server` (the Debian package redis-server). Without it these
//! tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use moat_state::notices::{Notice, NoticeSink, Notices};
use moat_state::redis_conn::RedisOptions;
use redis_server::RedisServer;
use tokio::sync::broadcast;

fn options(server: &RedisServer, prefix: &str) -> RedisOptions {
    RedisOptions {
        url: server.url(),
        prefix: prefix.to_string(),
        timeout: Duration::from_secs(1),
        ca: None,
    }
}

/// The next notice, failing the test after 10 s.
async fn next(rx: &mut broadcast::Receiver<Notice>) -> Notice {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notice within 10 s")
        .expect("the channel is open")
}

fn key(id: &str) -> Notice {
    Notice::KeyChanged {
        key_id: id.to_string(),
    }
}

#[tokio::test]
async fn two_nodes_hear_each_others_notices() {
    let server = RedisServer::start();
    let a = Notices::connect(&options(&server, "n1")).await.unwrap();
    let b = Notices::connect(&options(&server, "n1")).await.unwrap();
    let other_prefix = Notices::connect(&options(&server, "n2")).await.unwrap();
    assert_eq!(a.channel(), "n1:notices");
    let (mut rx_a, mut rx_b, mut rx_other) =
        (a.subscribe(), b.subscribe(), other_prefix.subscribe());

    a.publish(&key("k_1")).await.unwrap();
    b.publish(&Notice::BansChanged).await.unwrap();
    let digest = Notice::ConfigChanged {
        digest: "sha256:00ff".to_string(),
    };
    a.publish(&digest).await.unwrap();
    for rx in [&mut rx_a, &mut rx_b] {
        assert_eq!(next(rx).await, key("k_1"));
        assert_eq!(next(rx).await, Notice::BansChanged);
        assert_eq!(next(rx).await, digest);
    }
    // Another prefix is another deployment: it hears none of it.
    other_prefix.publish(&Notice::BansChanged).await.unwrap();
    assert_eq!(next(&mut rx_other).await, Notice::BansChanged);
    assert!(rx_a.try_recv().is_err() && rx_b.try_recv().is_err());

    // What the channel carries is the small JSON, and unknown messages
    // are skipped.
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = ::redis::cmd("PUBLISH")
        .arg("n1:notices")
        .arg(r#"{"type":"something_new","x":1}"#)
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: i64 = ::redis::cmd("PUBLISH")
        .arg("n1:notices")
        .arg(r#"{"type":"key_changed","key_id":"k_2"}"#)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(next(&mut rx_b).await, key("k_2"));
}

#[tokio::test]
async fn after_a_redis_restart_resync_comes_and_notices_flow_again() {
    let mut server = RedisServer::start();
    let a = Notices::connect(&options(&server, "r")).await.unwrap();
    let b = Notices::connect(&options(&server, "r")).await.unwrap();
    let mut rx_b = b.subscribe();
    assert_eq!(b.connects(), 1);

    server.kill();
    // While Redis is down, publishing fails within the timeout.
    let started = Instant::now();
    assert!(a.publish(&key("lost")).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));

    // Down for 3 s: the subscriber retries with backoff, not in a loop.
    let before = b.connect_attempts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = b.connect_attempts() - before;
    eprintln!("{attempts} reconnection attempts while Redis was down for 3 s");
    assert!((1..20).contains(&attempts), "{attempts} attempts in 3 s");

    server.restart();
    assert_eq!(next(&mut rx_b).await, Notice::Resync);
    assert_eq!(b.connects(), 2);
    // The publisher's connection comes back on the next command.
    let mut published = false;
    for _ in 0..3 {
        if a.publish(&key("after")).await.is_ok() {
            published = true;
            break;
        }
    }
    assert!(published, "publishing works again after the restart");
    assert_eq!(next(&mut rx_b).await, key("after"));
}

#[tokio::test]
async fn a_hung_redis_is_noticed_and_resync_follows() {
    let server = RedisServer::start();
    let b = Notices::connect(&options(&server, "h")).await.unwrap();
    let mut rx = b.subscribe();
    // A server that stops answering keeps its connections open: only the
    // subscriber's pings (every second, answer within the 1 s timeout)
    // show it. Hung for 3 s, then back.
    server.signal("STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.signal("CONT");
    assert_eq!(next(&mut rx).await, Notice::Resync);
    assert!(b.connects() >= 2);
}

#[tokio::test]
async fn one_type_for_both_modes() {
    let server = RedisServer::start();
    let sinks: Vec<Box<dyn NoticeSink>> = vec![
        Box::new(moat_state::notices::LocalNotices::new()),
        Box::new(Notices::connect(&options(&server, "both")).await.unwrap()),
    ];
    for sink in &sinks {
        let mut rx = sink.subscribe();
        sink.publish(&key("k_9")).await.unwrap();
        assert_eq!(next(&mut rx).await, key("k_9"));
    }
}

#[tokio::test]
async fn limits_lockouts_and_notices_share_one_tls_connection_with_a_password() {
    use moat_state::limits::{Gcra, LimitCheck, RateLimitStore, RedisLimiter};
    use moat_state::lockout::RedisLockout;
    use moat_state::redis_conn::RedisConn;
    use moat_state::{LockoutPolicy, LockoutStore, LockoutSubject};

    let server = RedisServer::setup()
        .with_password("pw-all-4")
        .with_tls()
        .start();
    let conn = RedisConn::connect(&RedisOptions {
        ca: server.ca_path(),
        timeout: Duration::from_secs(2),
        ..options(&server, "all")
    })
    .await
    .unwrap();
    // The subscriber's own connection goes through TLS and AUTH too: its
    // first subscription is what emits this Resync.
    let notices = Notices::on(conn.clone());
    let mut rx = notices.subscribe();
    assert_eq!(next(&mut rx).await, Notice::Resync);
    notices.publish(&key("k_tls")).await.unwrap();
    assert_eq!(next(&mut rx).await, key("k_tls"));

    let limiter = RedisLimiter::new(conn.clone()).await.unwrap();
    let check = LimitCheck {
        key: "ip:192.0.2.1".to_string(),
        rule: Gcra::new(1, Duration::from_secs(3600), 1).unwrap(),
        cost: 1,
    };
    let check = std::slice::from_ref(&check);
    assert!(RateLimitStore::acquire(&limiter, check).await.unwrap()[0].allowed);
    assert!(!RateLimitStore::acquire(&limiter, check).await.unwrap()[0].allowed);

    let lockout = RedisLockout::new(conn, LockoutPolicy::default())
        .await
        .unwrap();
    let subject = LockoutSubject::Credential("apikey:k_tls");
    let now = std::time::SystemTime::now();
    let mut started = Vec::new();
    for _ in 0..5 {
        started.extend(lockout.record_failure(&subject, now).await.unwrap());
    }
    assert_eq!(started, [Duration::from_secs(60)]);
    assert!(lockout.is_shared());
}
