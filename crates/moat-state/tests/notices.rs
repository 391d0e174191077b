//! Notices over a real redis-server: nodes hear each other, and a Redis
//! restart is followed by `Resync` and working notices again, with bounded
//! reconnection attempts meanwhile.
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
