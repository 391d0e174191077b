//! The in-memory limiter's footprint, measured as the process's resident
//! memory:
//! 100,000 distinct client keys stay under a stated bound, and once idle
//! they are swept and the memory is given back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moat_state::limits::{Gcra, LimitCheck, MemoryLimiter};

/// The process's resident memory in bytes, from /proc/self/statm (the
/// workspace forbids `unsafe`, so no counting allocator).
fn resident() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// The stated bound: at most 256 bytes per key of `max_keys`, whatever the
/// traffic (keys of the gateway's shape, `<api>:<limit>:<address>`).
const PER_KEY: i64 = 256;
const MAX_KEYS: usize = 200_000;

#[test]
fn a_hundred_thousand_clients_fit_the_bound_and_are_swept_when_idle() {
    const SEC: u64 = 1_000_000_000;
    let now = Arc::new(AtomicU64::new(1_000 * SEC));
    let clock = now.clone();
    let limiter =
        MemoryLimiter::with_clock(MAX_KEYS, Arc::new(move || clock.load(Ordering::SeqCst)));
    let rule = Gcra::new(10, Duration::from_secs(1), 20).unwrap();
    let before = resident();
    for i in 0..100_000u32 {
        let key = format!("shop:per-client:2001:db8:{:x}:{:x}::1", i >> 16, i & 0xffff);
        let d = limiter.acquire_rate(&[LimitCheck { key, rule, cost: 1 }]);
        assert!(d[0].allowed);
    }
    let used = resident() - before;
    let stats = limiter.stats();
    println!(
        "{} keys use {:.1} MiB ({} bytes per key)",
        stats.keys,
        used as f64 / 1048576.0,
        used / stats.keys.max(1) as i64
    );
    assert_eq!(stats.keys, 100_000);
    assert_eq!(stats.evicted_live, 0);
    assert!(used < PER_KEY * 100_000, "{used} bytes");

    // Clients offering more keys than the cap (200,000) cannot grow it.
    for i in 0..250_000u32 {
        let key = format!(
            "shop:per-client:10.{}.{}.{}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        );
        limiter.acquire_rate(&[LimitCheck { key, rule, cost: 1 }]);
    }
    let full = limiter.stats();
    println!(
        "flooded with 250,000 more: {} keys, {} evicted, {:.1} MiB",
        full.keys,
        full.evicted_live,
        (resident() - before) as f64 / 1048576.0
    );
    assert!(full.keys <= MAX_KEYS + 64, "{full:?}");
    assert!(full.evicted_live > 0, "{full:?}");
    let at_cap = resident() - before;
    assert!(at_cap < PER_KEY * MAX_KEYS as i64, "{at_cap} bytes");

    // One second later every TAT has passed: a sweep forgets them all and
    // gives the memory back (the shards keep their tables' capacity).
    now.fetch_add(SEC, Ordering::SeqCst);
    let swept = limiter.sweep();
    assert_eq!(swept, full.keys);
    assert_eq!(limiter.stats().keys, 0);
    // Freed memory goes back to the allocator, which may keep it mapped, so
    // the resident size is not asserted to shrink; new keys reuse it.
    for i in 0..100_000u32 {
        let key = format!("shop:per-client:2001:db8:{:x}:{:x}::2", i >> 16, i & 0xffff);
        limiter.acquire_rate(&[LimitCheck { key, rule, cost: 1 }]);
    }
    let again = resident() - before;
    println!(
        "a second 100,000 after the sweep: {:.1} MiB",
        again as f64 / 1048576.0
    );
    assert!(again < PER_KEY * MAX_KEYS as i64, "{again} bytes");
}
