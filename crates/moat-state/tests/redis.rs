//! The Redis limit store against a real redis-server: the same decisions as
//! the memory store, several nodes sharing one limit accurately, and a
//! server that dies and comes back.
//!
//! Needs `redis-server` (the Debian package redis-server; scripts/test.sh
//! installs it). Without it these tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moat_state::StoreError;
use moat_state::limits::{
    Gcra, LimitCheck, LimitDecision, MemoryLimiter, QuotaStore, RateLimitStore, RedisLimiter,
    RedisOptions, SlidingWindow,
};
use moat_state::redis_conn::{RedisConn, RedisOptions as ConnOptions};
use redis_server::RedisServer;

const TIMEOUT: Duration = Duration::from_millis(100);

async fn limiter(server: &RedisServer, prefix: &str) -> RedisLimiter {
    RedisLimiter::connect(
        &server.url(),
        RedisOptions {
            prefix: prefix.to_string(),
            timeout: TIMEOUT,
        },
    )
    .await
    .unwrap()
}

fn rate(key: &str, limit: u64, period: Duration, burst: u64) -> LimitCheck<Gcra> {
    LimitCheck {
        key: key.to_string(),
        rule: Gcra::new(limit, period, burst).unwrap(),
        cost: 1,
    }
}

fn quota(key: &str, limit: u64, window: Duration) -> LimitCheck<SlidingWindow> {
    LimitCheck {
        key: key.to_string(),
        rule: SlidingWindow::new(limit, window).unwrap(),
        cost: 1,
    }
}

/// The same decision, up to the time that passed between the two stores
/// deciding (the Redis one decides on the server's clock).
fn same(redis: &[LimitDecision], memory: &[LimitDecision]) {
    assert_eq!(redis.len(), memory.len());
    let near = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_millis(200);
    for (r, m) in redis.iter().zip(memory) {
        assert_eq!(
            (r.allowed, r.remaining),
            (m.allowed, m.remaining),
            "{r:?} vs {m:?}"
        );
        assert!(near(r.reset, m.reset), "{r:?} vs {m:?}");
        match (r.retry_after, m.retry_after) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!(near(a, b), "{r:?} vs {m:?}"),
            _ => panic!("{r:?} vs {m:?}"),
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_rate_limit_refused_by_one_check_consumes_from_none() {
    let server = RedisServer::start();
    let redis = limiter(&server, "t1").await;
    let memory = MemoryLimiter::new(1000);
    // Hourly rates, so nothing comes back while the test runs.
    let wide = rate("ip:203.0.113.7", 100, HOUR, 100);
    let narrow = rate("user:alice", 1, HOUR, 2);
    let costly = LimitCheck {
        cost: 5,
        ..rate("op:export", 10, HOUR, 12)
    };
    for checks in [
        vec![costly.clone()],
        vec![costly.clone()],
        vec![costly.clone()],
        vec![wide.clone(), narrow.clone()],
        vec![wide.clone(), narrow.clone()],
        // Refused by the second: the first gives back what it took.
        vec![wide.clone(), narrow.clone()],
        // Refused by the first: the second is only looked at.
        vec![narrow.clone(), wide.clone()],
        vec![wide.clone()],
    ] {
        let r = RateLimitStore::acquire(&redis, &checks).await.unwrap();
        let m = RateLimitStore::acquire(&memory, &checks).await.unwrap();
        same(&r, &m);
    }
    let alone = RateLimitStore::acquire(&redis, std::slice::from_ref(&wide))
        .await
        .unwrap();
    assert_eq!(alone[0].remaining, 96, "{alone:?}");
    // A refund gives units back.
    redis.refund(std::slice::from_ref(&wide)).await.unwrap();
    let again = RateLimitStore::acquire(&redis, std::slice::from_ref(&wide))
        .await
        .unwrap();
    assert_eq!(again[0].remaining, 96, "{again:?}");
    let refused = RateLimitStore::acquire(&redis, std::slice::from_ref(&narrow))
        .await
        .unwrap();
    assert!(!refused[0].allowed);
    let wait = refused[0].retry_after.unwrap();
    assert!(wait > Duration::from_secs(3500) && wait <= HOUR, "{wait:?}");
    assert!(redis.is_up());
}

#[tokio::test]
async fn a_quota_refused_by_one_check_consumes_from_none() {
    let server = RedisServer::start();
    let redis = limiter(&server, "t2").await;
    let memory = MemoryLimiter::new(1000);
    let wide = quota("orders:shop", 100, HOUR);
    let narrow = quota("orders:alice", 2, HOUR);
    for checks in [
        vec![wide.clone(), narrow.clone()],
        vec![wide.clone(), narrow.clone()],
        vec![wide.clone(), narrow.clone()],
        vec![narrow.clone(), wide.clone()],
        vec![wide.clone()],
    ] {
        let r = QuotaStore::acquire(&redis, &checks).await.unwrap();
        let m = QuotaStore::acquire(&memory, &checks).await.unwrap();
        same(&r, &m);
    }
    let alone = QuotaStore::acquire(&redis, std::slice::from_ref(&wide))
        .await
        .unwrap();
    assert_eq!(alone[0].remaining, 96, "{alone:?}");
    // A cost larger than the limit never fits.
    let huge = LimitCheck {
        cost: 1000,
        ..wide.clone()
    };
    let r = QuotaStore::acquire(&redis, std::slice::from_ref(&huge))
        .await
        .unwrap();
    let m = QuotaStore::acquire(&memory, std::slice::from_ref(&huge))
        .await
        .unwrap();
    same(&r, &m);
    assert_eq!(r[0].retry_after, Some(Duration::from_nanos(u64::MAX)));
}

#[tokio::test]
async fn keys_are_hash_tagged_and_expire() {
    let server = RedisServer::start();
    let redis = limiter(&server, "moat").await;
    // 10 per second, burst 2: the TAT is at most 200 ms ahead.
    let r = rate("ip:a{b}", 10, Duration::from_secs(1), 2);
    assert!(RateLimitStore::acquire(&redis, &[r]).await.unwrap()[0].allowed);
    let q = quota("orders:bob", 5, Duration::from_secs(1));
    assert!(QuotaStore::acquire(&redis, &[q]).await.unwrap()[0].allowed);
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("moat:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["moat:q:{orders:bob}", "moat:rl:{ip:a{b}}"]);
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg("moat:rl:{ip:a{b}}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=101).contains(&ttl), "{ttl}");
    let tat: String = ::redis::cmd("GET")
        .arg("moat:rl:{ip:a{b}}")
        .query_async(&mut conn)
        .await
        .unwrap();
    let tat: u128 = tat.parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert!(tat > now && tat < now + 100_000_000, "{tat} vs {now}");
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg("moat:q:{orders:bob}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1000..=2000).contains(&ttl), "{ttl}");
    // A prefix with braces would break the hash tag.
    let bad = RedisLimiter::connect(
        &server.url(),
        RedisOptions {
            prefix: "a{b}".to_string(),
            timeout: TIMEOUT,
        },
    )
    .await;
    assert!(matches!(bad, Err(StoreError::Redis(_))));
}

/// Two nodes, several tasks each, hammering one limit for `secs`: returns
/// the units allowed and the seconds measured.
async fn hammer<F, Fut>(
    nodes: &[RedisLimiter],
    tasks_per_node: usize,
    secs: f64,
    one: F,
) -> (u64, f64)
where
    F: Fn(RedisLimiter) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let allowed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for node in nodes {
        for _ in 0..tasks_per_node {
            let node = node.clone();
            let allowed = allowed.clone();
            let one = one.clone();
            handles.push(tokio::spawn(async move {
                let mut calls = 0u64;
                while Instant::now() < deadline {
                    if one(node.clone()).await {
                        allowed.fetch_add(1, Ordering::Relaxed);
                    }
                    calls += 1;
                }
                calls
            }));
        }
    }
    let mut calls = 0;
    for h in handles {
        calls += h.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let allowed = allowed.load(Ordering::Relaxed);
    println!("{calls} calls in {elapsed:.3} s, {allowed} allowed");
    (allowed, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_rate_limit_accurately() {
    let server = RedisServer::start();
    let nodes = [limiter(&server, "acc").await, limiter(&server, "acc").await];
    // 200 per second, 20 at once.
    let check = rate("shared", 200, Duration::from_secs(1), 20);
    let (allowed, elapsed) = hammer(&nodes, 3, 3.0, move |node| {
        let check = check.clone();
        async move {
            RateLimitStore::acquire(&node, std::slice::from_ref(&check))
                .await
                .unwrap()[0]
                .allowed
        }
    })
    .await;
    let expected = 200.0 * elapsed + 20.0;
    let error = (allowed as f64 - expected) / expected;
    println!(
        "GCRA: {allowed} allowed, {expected:.1} expected, error {:+.2}%",
        error * 100.0
    );
    assert!(error.abs() <= 0.02, "{allowed} vs {expected:.1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_quota_accurately() {
    let server = RedisServer::start();
    let nodes = [
        limiter(&server, "accq").await,
        limiter(&server, "accq").await,
    ];
    // 200 per second (a short window, so the test sees several). Under
    // constant pressure the sliding window counter lets the whole limit
    // through in the first (partial) window, then `limit` per window
    // continuously from the first window boundary on.
    let check = quota("shared", 200, Duration::from_secs(1));
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (allowed, elapsed) = hammer(&nodes, 3, 3.0, move |node| {
        let check = check.clone();
        async move {
            QuotaStore::acquire(&node, std::slice::from_ref(&check))
                .await
                .unwrap()[0]
                .allowed
        }
    })
    .await;
    let first_boundary = t0.ceil();
    let expected = 200.0 + 200.0 * (t0 + elapsed - first_boundary);
    let error = (allowed as f64 - expected) / expected;
    println!(
        "quota: {allowed} allowed, {expected:.1} expected, error {:+.2}%",
        error * 100.0
    );
    assert!(error.abs() <= 0.02, "{allowed} vs {expected:.1}");

    // And a long window: exactly the limit, however many nodes ask.
    let check = quota("daily", 500, Duration::from_secs(86_400));
    let (allowed, _) = hammer(&nodes, 3, 1.0, move |node| {
        let check = check.clone();
        async move {
            QuotaStore::acquire(&node, std::slice::from_ref(&check))
                .await
                .unwrap()[0]
                .allowed
        }
    })
    .await;
    assert_eq!(allowed, 500);
}

/// One call's outcome, for the fault test's log.
#[derive(Debug, Clone, Copy)]
struct Call {
    at: Instant,
    took: Duration,
    ok: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_fails_fast_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let redis = limiter(&server, "fault").await;
    let check = rate("k", 1_000_000, Duration::from_secs(1), 1000);

    // A client hammering the limiter the whole time.
    let log = Arc::new(std::sync::Mutex::new(Vec::<Call>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (redis, check, log, stop) = (redis.clone(), check.clone(), log.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let r = RateLimitStore::acquire(&redis, std::slice::from_ref(&check)).await;
                let took = at.elapsed();
                log.lock().unwrap().push(Call {
                    at,
                    took,
                    ok: r.is_ok(),
                });
                if r.is_err() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(redis.is_up());

    // 1. The process hangs (SIGSTOP): calls time out.
    let stopped = Instant::now();
    server.signal("STOP");
    let err = RateLimitStore::acquire(&redis, std::slice::from_ref(&check)).await;
    let detect_hang = stopped.elapsed();
    assert!(err.is_err());
    let msg = err.unwrap_err().to_string();
    assert!(msg.starts_with("redis: "), "{msg}");
    assert!(!redis.is_up());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!redis.is_up());
    let resumed = Instant::now();
    server.signal("CONT");
    let recover_hang = wait_until_up(&redis, &check, resumed).await;

    // 2. The process dies: connections are refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Instant::now();
    server.kill();
    let err = RateLimitStore::acquire(&redis, std::slice::from_ref(&check)).await;
    let detect_kill = killed.elapsed();
    assert!(err.is_err());
    assert!(!redis.is_up());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!redis.is_up());
    let restarted = Instant::now();
    server.restart();
    let recover_kill = wait_until_up(&redis, &check, restarted).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    worker.await.unwrap();

    let log = log.lock().unwrap().clone();
    let slowest = log.iter().map(|c| c.took).max().unwrap();
    let failed = log.iter().filter(|c| !c.ok).count();
    let first_err = |from: Instant| {
        log.iter()
            .find(|c| c.at + c.took >= from && !c.ok)
            .map(|c| c.at + c.took - from)
            .unwrap()
    };
    let first_ok = |from: Instant| {
        log.iter()
            .find(|c| c.at >= from && c.ok)
            .map(|c| c.at + c.took - from)
            .unwrap()
    };
    println!(
        "hung server: error after {detect_hang:?} (worker {:?}), up again {recover_hang:?} \
         after SIGCONT (worker {:?})",
        first_err(stopped),
        first_ok(resumed)
    );
    println!(
        "dead server: error after {detect_kill:?} (worker {:?}), up again {recover_kill:?} \
         after the restart (worker {:?})",
        first_err(killed),
        first_ok(restarted)
    );
    println!(
        "worker: {} calls, {failed} failed, slowest {slowest:?}",
        log.len()
    );
    let slack = TIMEOUT + Duration::from_millis(150);
    assert!(detect_hang <= slack, "{detect_hang:?}");
    assert!(detect_kill <= slack, "{detect_kill:?}");
    // No call of the worker's was held much longer than the timeout.
    assert!(slowest <= slack, "{slowest:?}");
    assert!(redis.is_up());
}

/// Calls until one succeeds (at most 5 s); how long that took from `from`.
async fn wait_until_up(redis: &RedisLimiter, check: &LimitCheck<Gcra>, from: Instant) -> Duration {
    loop {
        let r = RateLimitStore::acquire(redis, std::slice::from_ref(check)).await;
        if r.is_ok() {
            assert!(redis.is_up());
            return from.elapsed();
        }
        assert!(
            from.elapsed() < Duration::from_secs(5),
            "not up again after 5 s: {}",
            r.unwrap_err()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_without_credentials() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let at = Instant::now();
    let err = RedisLimiter::connect(
        &format!("redis://moat:hunter2@127.0.0.1:{port}/"),
        RedisOptions {
            prefix: "moat".to_string(),
            timeout: TIMEOUT,
        },
    )
    .await
    .unwrap_err();
    assert!(at.elapsed() < TIMEOUT + Duration::from_millis(150));
    let msg = err.to_string();
    assert!(
        msg.starts_with("redis: ") && !msg.contains("hunter2"),
        "{msg}"
    );
}

/// Generous for a TLS handshake on a loaded test machine.
const TLS_TIMEOUT: Duration = Duration::from_secs(2);

fn conn_options(url: String, ca: Option<std::path::PathBuf>) -> ConnOptions {
    ConnOptions {
        url,
        prefix: "tls".to_string(),
        timeout: TLS_TIMEOUT,
        ca,
    }
}

fn message(r: Result<RedisConn, StoreError>) -> String {
    match r {
        Ok(c) => panic!("connected: {c:?}"),
        Err(StoreError::Redis(m)) => m,
        Err(e) => panic!("not a Redis error: {e}"),
    }
}

#[tokio::test]
async fn the_limiter_works_over_tls_with_a_password() {
    let server = RedisServer::setup()
        .with_password("pw-5ecret-77")
        .with_tls()
        .start();
    assert!(server.url().starts_with("rediss://"), "{}", server.url());
    let conn = RedisConn::connect(&conn_options(server.url(), server.ca_path()))
        .await
        .unwrap();
    let limiter = RedisLimiter::new(conn.clone()).await.unwrap();
    let check = [rate("tls-client", 1, HOUR, 2)];
    let allowed: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(RateLimitStore::acquire(&limiter, &check).await.unwrap()[0].allowed);
        }
        v
    };
    assert_eq!(allowed, [true, true, false]);
    assert!(limiter.is_up() && conn.is_up());
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_a_clear_error_without_the_password() {
    let server = RedisServer::setup().with_password("pw-right-1").start();
    let wrong = message(
        RedisConn::connect(&conn_options(
            server.url_with_password(Some("pw-wrong-2")),
            None,
        ))
        .await,
    );
    assert!(
        wrong.to_lowercase().contains("authentication failed"),
        "{wrong}"
    );
    assert!(!wrong.contains("pw-wrong-2"), "{wrong}");
    eprintln!("wrong password: {wrong}");
    let missing =
        message(RedisConn::connect(&conn_options(server.url_with_password(None), None)).await);
    assert!(
        missing.contains("NOAUTH") || missing.contains("uthentication"),
        "{missing}"
    );
    // The right one works.
    RedisConn::connect(&conn_options(server.url(), None))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_clear_error() {
    let server = RedisServer::setup()
        .with_password("pw-tls-3")
        .with_tls()
        .start();
    // The system's trust store does not know the test CA.
    let system = message(RedisConn::connect(&conn_options(server.url(), None)).await);
    eprintln!("untrusted certificate: {system}");
    assert!(system.contains("certificate"), "{system}");
    assert!(!system.contains("pw-tls-3"), "{system}");
    // Nor does another CA.
    let other = RedisServer::setup().with_tls().start();
    let wrong_ca = message(RedisConn::connect(&conn_options(server.url(), other.ca_path())).await);
    assert!(wrong_ca.contains("certificate"), "{wrong_ca}");
    assert!(!wrong_ca.contains("pw-tls-3"), "{wrong_ca}");
    // A CA file that cannot be read.
    let missing = message(
        RedisConn::connect(&conn_options(
            server.url(),
            Some("/nonexistent/ca.pem".into()),
        ))
        .await,
    );
    assert!(missing.contains("CA file"), "{missing}");
}

#[tokio::test]
async fn certificate_checks_cannot_be_turned_off() {
    let server = RedisServer::setup().with_tls().start();
    let insecure = format!("{}#insecure", server.url());
    let refused = message(RedisConn::connect(&conn_options(insecure, None)).await);
    assert!(refused.contains("#"), "{refused}");
}

/// A TCP proxy to `port` that holds every chunk the client sends for
/// `delay` before passing it on: each round trip then costs at least
/// `delay`, so elapsed time counts round trips.
async fn slow_proxy(port: u16, delay: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if server_tx.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
            });
        }
    });
    proxy_port
}

#[tokio::test]
async fn a_request_costs_one_round_trip_however_many_limits_apply() {
    const DELAY: Duration = Duration::from_millis(100);
    let server = RedisServer::start();
    let port = slow_proxy(server.port(), DELAY).await;
    let conn = RedisConn::connect(&ConnOptions {
        url: format!("redis://127.0.0.1:{port}/"),
        prefix: "rt".to_string(),
        timeout: Duration::from_secs(2),
        ca: None,
    })
    .await
    .unwrap();
    let limiter = RedisLimiter::new(conn).await.unwrap();
    let rates = [
        rate("ip:203.0.113.7", 100, HOUR, 100),
        rate("user:alice", 100, HOUR, 100),
        rate("op:export", 100, HOUR, 100),
    ];
    let quotas = [
        quota("orders:alice", 100, HOUR),
        quota("orders:shop", 100, HOUR),
    ];
    for _ in 0..3 {
        let started = Instant::now();
        let (r, q) = limiter.acquire_all(&rates, &quotas).await.unwrap();
        let elapsed = started.elapsed();
        assert!(r.iter().chain(&q).all(|d| d.allowed));
        assert_eq!((r.len(), q.len()), (3, 2));
        // One round trip: one delay. Five round trips would be five.
        assert!(
            elapsed >= DELAY && elapsed < 2 * DELAY,
            "3 rate limits and 2 quotas took {elapsed:?}"
        );
    }
    // Each trait call alone is one round trip too.
    let started = Instant::now();
    RateLimitStore::acquire(&limiter, &rates).await.unwrap();
    assert!(started.elapsed() < 2 * DELAY, "{:?}", started.elapsed());
    // Every call counted once on every key it covers.
    let (r, q) = limiter.acquire_all(&rates, &quotas).await.unwrap();
    assert!(r.iter().all(|d| d.remaining == 100 - 5), "{r:?}");
    assert!(q.iter().all(|d| d.remaining == 100 - 4), "{q:?}");
}

#[tokio::test]
async fn a_quota_refusal_gives_the_rate_limits_back_in_the_same_call() {
    let server = RedisServer::start();
    let redis = limiter(&server, "both").await;
    let rates = [rate("ip:a", 1, HOUR, 2)];
    let quotas = [quota("orders:a", 1, HOUR)];
    let (r, q) = redis.acquire_all(&rates, &quotas).await.unwrap();
    assert!(r[0].allowed && q[0].allowed);
    // The quota is used up: refused, and the rate limit keeps its 2 left.
    for _ in 0..3 {
        let (r, q) = redis.acquire_all(&rates, &quotas).await.unwrap();
        assert!(r[0].allowed && !q[0].allowed, "{r:?} {q:?}");
    }
    let (r, _) = redis.acquire_all(&rates, &[]).await.unwrap();
    assert_eq!((r[0].allowed, r[0].remaining), (true, 0));
}

#[tokio::test]
async fn scripts_come_back_after_a_script_flush() {
    let server = RedisServer::start();
    let redis = limiter(&server, "flush").await;
    let rates = [rate("ip:f", 100, HOUR, 100)];
    let quotas = [quota("orders:f", 100, HOUR)];
    redis.acquire_all(&rates, &quotas).await.unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    let (r, q) = redis.acquire_all(&rates, &quotas).await.unwrap();
    // Counted once each, not twice.
    assert_eq!((r[0].remaining, q[0].remaining), (100 - 2, 100 - 2));
}

/// Calls `acquire` from `tasks` tasks for `for_`, as fast as each answer
/// comes; the time each call took.
async fn hammer_for(
    redis: &RedisLimiter,
    check: &LimitCheck<Gcra>,
    tasks: usize,
    for_: Duration,
) -> Vec<Duration> {
    let until = Instant::now() + for_;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (redis, check) = (redis.clone(), check.clone());
        set.spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < until {
                let at = Instant::now();
                let _ = RateLimitStore::acquire(&redis, std::slice::from_ref(&check)).await;
                took.push(at.elapsed());
                // A call refused at once never yields by itself.
                tokio::task::yield_now().await;
            }
            took
        });
    }
    let mut all = Vec::new();
    while let Some(took) = set.join_next().await {
        all.extend(took.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_is_dialled_with_backoff_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let redis = limiter(&server, "dial").await;
    let check = rate("k", 1_000_000, Duration::from_secs(1), 1000);
    RateLimitStore::acquire(&redis, std::slice::from_ref(&check))
        .await
        .unwrap();
    server.kill();
    // On Redis's port, something that accepts and closes at once: every
    // connection attempt is counted, and each fails.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", server.port()))
        .await
        .unwrap();
    let accepts = Arc::new(AtomicU64::new(0));
    let counter = {
        let accepts = accepts.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepts.fetch_add(1, Ordering::Relaxed);
                drop(stream);
            }
        })
    };
    let window = Duration::from_secs(3);
    let calls = hammer_for(&redis, &check, 64, window).await;
    let dialled = accepts.load(Ordering::Relaxed);
    counter.abort();
    let _ = counter.await;
    println!("{} calls in {window:?}, {dialled} connections", calls.len());
    assert!(calls.len() > 1000, "{}", calls.len());
    // A few failures open the breaker; then one probe per backoff (100 ms
    // doubling): about ten in 3 s, not one per call.
    assert!(dialled <= 20, "{dialled} connections in {window:?}");
    assert!(dialled >= 3, "{dialled}");

    // Redis comes back on the same port: used again within the longest
    // backoff (5 s) and a timeout.
    server.restart();
    let restarted = Instant::now();
    let back = loop {
        if RateLimitStore::acquire(&redis, std::slice::from_ref(&check))
            .await
            .is_ok()
        {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5) + 2 * TIMEOUT,
            "not used again after {:?}",
            restarted.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("used again {back:?} after the restart");
    assert!(redis.is_up());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_opens_the_breaker_then_limits_count_in_redis_again() {
    let server = RedisServer::start();
    let redis = limiter(&server, "frozen").await;
    let check = rate("k", 1_000_000, Duration::from_secs(1), 1000);
    RateLimitStore::acquire(&redis, std::slice::from_ref(&check))
        .await
        .unwrap();
    server.signal("STOP");
    // The first few calls each wait the timeout, then the breaker opens.
    for _ in 0..3 {
        let at = Instant::now();
        assert!(
            RateLimitStore::acquire(&redis, std::slice::from_ref(&check))
                .await
                .is_err()
        );
        assert!(at.elapsed() >= TIMEOUT, "{:?}", at.elapsed());
    }
    assert!(!redis.is_up());
    let window = Duration::from_secs(2);
    let calls = hammer_for(&redis, &check, 4, window).await;
    let slow = calls.iter().filter(|t| **t >= TIMEOUT / 2).count();
    println!(
        "frozen: {} calls in {window:?}, {slow} waited the timeout",
        calls.len()
    );
    // Only the probes (one per backoff: 100, 200, 400, 800 ms...) wait
    // for the frozen server; every other call is answered at once.
    assert!(calls.len() > 1000, "{}", calls.len());
    assert!(slow <= 6, "{slow} of {} calls waited", calls.len());
    assert!(!redis.is_up());

    server.signal("CONT");
    let resumed = Instant::now();
    let back = wait_until_up(&redis, &check, resumed).await;
    println!("used again {back:?} after SIGCONT");
    // Counted in Redis again: a second node sees what this one took.
    let tight = rate("tight", 2, HOUR, 2);
    let mut allowed = 0;
    while RateLimitStore::acquire(&redis, std::slice::from_ref(&tight))
        .await
        .unwrap()[0]
        .allowed
    {
        allowed += 1;
        assert!(allowed <= 3, "never refused");
    }
    assert!(allowed >= 2, "{allowed}");
    let other = limiter(&server, "frozen").await;
    let d = RateLimitStore::acquire(&other, std::slice::from_ref(&tight))
        .await
        .unwrap();
    assert!(!d[0].allowed, "{d:?}");
}
