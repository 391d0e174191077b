//! The per-request cost of rate limit and quota decisions.
//!
//! The memory store holds 100,000 live keys first (1,000 when run as a smoke
//! test under `cargo test`), so lookups run against a realistic map. The
//! Redis store runs against a real `redis-server` spawned on a free port of
//! 127.0.0.1: its numbers are one round trip over loopback plus the script.
//! Calls go through the store traits, as the gateway makes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_state::limits::{
    Gcra, LimitCheck, MemoryLimiter, QuotaStore, RateLimitStore, RedisLimiter, RedisOptions,
    SlidingWindow,
};
use redis_server::RedisServer;

/// A fast rule (a million per second, a thousand at once): nearly every
/// call is allowed, so each one writes.
fn rule() -> Gcra {
    Gcra::new(1_000_000, Duration::from_secs(1), 1000).unwrap()
}

fn check(key: String) -> LimitCheck<Gcra> {
    LimitCheck {
        key,
        rule: rule(),
        cost: 1,
    }
}

/// Three limits of one request: per address, per consumer, per operation.
fn three() -> [LimitCheck<Gcra>; 3] {
    [
        check("shop:per-client:203.0.113.7".to_string()),
        check("shop:per-consumer:alice".to_string()),
        check("shop:createOrder:alice".to_string()),
    ]
}

fn limits(c: &mut Criterion) {
    let benching = std::env::args().any(|a| a == "--bench");
    let fill: u32 = if benching { 100_000 } else { 1_000 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let memory = MemoryLimiter::new(200_000);
    // Live keys: a slow rule, so their TATs stay ahead for the whole run.
    let slow = Gcra::new(1, Duration::from_secs(3600), 10).unwrap();
    for i in 0..fill {
        let c = LimitCheck {
            key: format!(
                "shop:per-client:10.{}.{}.{}",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ),
            rule: slow,
            cost: 1,
        };
        assert!(memory.acquire_rate(&[c])[0].allowed);
    }
    let memory: &dyn RateLimitStore = &memory;

    let mut group = c.benchmark_group("limits");

    let one = check("shop:per-client:203.0.113.7".to_string());
    group.bench_function("gcra/memory/one_key", |b| {
        b.to_async(&rt).iter(|| async {
            memory
                .acquire(black_box(std::slice::from_ref(&one)))
                .await
                .unwrap()
        })
    });
    let next = Cell::new(0u64);
    group.bench_function("gcra/memory/fresh_key", |b| {
        b.to_async(&rt).iter(|| {
            let n = next.get() + 1;
            next.set(n);
            let c = check(format!("shop:per-client:fresh:{n}"));
            async move { memory.acquire(black_box(&[c])).await.unwrap() }
        })
    });
    let three = three();
    group.bench_function("gcra/memory/three_limits", |b| {
        b.to_async(&rt)
            .iter(|| async { memory.acquire(black_box(&three)).await.unwrap() })
    });

    let server = RedisServer::start();
    let redis = rt
        .block_on(RedisLimiter::connect(
            &server.url(),
            RedisOptions {
                prefix: "bench".to_string(),
                timeout: Duration::from_millis(250),
            },
        ))
        .unwrap();
    let rate: &dyn RateLimitStore = &redis;
    group.bench_function("gcra/redis/one_key", |b| {
        b.to_async(&rt).iter(|| async {
            rate.acquire(black_box(std::slice::from_ref(&one)))
                .await
                .unwrap()
        })
    });
    group.bench_function("gcra/redis/three_limits", |b| {
        b.to_async(&rt)
            .iter(|| async { rate.acquire(black_box(&three)).await.unwrap() })
    });
    let q = LimitCheck {
        key: "shop:orders:alice".to_string(),
        rule: SlidingWindow::new(u64::from(u32::MAX), Duration::from_secs(86_400)).unwrap(),
        cost: 1,
    };
    let quota: &dyn QuotaStore = &redis;
    group.bench_function("quota/redis/one_key", |b| {
        b.to_async(&rt).iter(|| async {
            quota
                .acquire(black_box(std::slice::from_ref(&q)))
                .await
                .unwrap()
        })
    });

    // A request with three rate limits and a quota: one call (one round
    // trip), and the two calls of the two traits (two round trips).
    group.bench_function("redis/three_limits_and_a_quota/one_call", |b| {
        b.to_async(&rt).iter(|| async {
            redis
                .acquire_all(black_box(&three), black_box(std::slice::from_ref(&q)))
                .await
                .unwrap()
        })
    });
    group.bench_function("redis/three_limits_and_a_quota/two_calls", |b| {
        b.to_async(&rt).iter(|| async {
            rate.acquire(black_box(&three)).await.unwrap();
            quota
                .acquire(black_box(std::slice::from_ref(&q)))
                .await
                .unwrap()
        })
    });

    group.finish();
    drop(server);
}

criterion_group!(benches, limits);
criterion_main!(benches);
