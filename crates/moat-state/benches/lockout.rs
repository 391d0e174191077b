//! The per-request cost of brute-force lockout.
//!
//! Every request with a credential asks `locked()` for its address and its
//! credential; every failed one also calls `record_failure()` for both. The
//! tables are filled with 100,000 subjects of each kind first (the default
//! capacity), so lookups run against realistic map sizes and the flood case
//! runs with a full table, paying for eviction. Calls go through
//! `Arc<dyn LockoutStore>`, as the gateway will make them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use moat_state::{LockoutPolicy, LockoutStore, LockoutSubject, MemoryLockout};

const FILL: u32 = 100_000;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// A store at capacity: `FILL` addresses and `FILL` credentials, each with
/// one failure.
fn filled(rt: &tokio::runtime::Runtime) -> Arc<dyn LockoutStore> {
    let store: Arc<dyn LockoutStore> =
        Arc::new(MemoryLockout::new(LockoutPolicy::default()).unwrap());
    rt.block_on(async {
        for i in 0..FILL {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            store
                .record_failure(&LockoutSubject::Client(ip), t0())
                .await
                .unwrap();
            let name = format!("apikey:fill{i:020}");
            store
                .record_failure(&LockoutSubject::Credential(&name), t0())
                .await
                .unwrap();
        }
    });
    store
}

/// A clock for the benchmarks: each call is `step` later than the last.
/// With 7 s steps, a 60 s window and a threshold of 10 (or 5), a subject
/// holds 8 failures (or 4) in steady state: each call forgets one and
/// counts one, and none locks.
struct Ticker {
    now: Cell<SystemTime>,
    step: Duration,
}

impl Ticker {
    fn new(step: Duration) -> Self {
        Self {
            now: Cell::new(t0() + Duration::from_secs(1)),
            step,
        }
    }

    fn tick(&self) -> SystemTime {
        let now = self.now.get() + self.step;
        self.now.set(now);
        now
    }
}

/// What the gateway does for one failed attempt on one subject.
async fn check_and_fail(store: &dyn LockoutStore, subject: &LockoutSubject<'_>, now: SystemTime) {
    let locked = store.locked(subject, now).await.unwrap();
    let started = store.record_failure(subject, now).await.unwrap();
    black_box((locked, started));
}

fn lockout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = filled(&rt);
    let store = &*store;

    let mut group = c.benchmark_group("lockout");

    let unknown = LockoutSubject::Client(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    group.bench_function("locked/client_untracked", |b| {
        b.to_async(&rt)
            .iter(|| async { store.locked(black_box(&unknown), t0()).await.unwrap() })
    });
    let known = LockoutSubject::Client(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + FILL / 2)));
    group.bench_function("locked/client_tracked", |b| {
        b.to_async(&rt)
            .iter(|| async { store.locked(black_box(&known), t0()).await.unwrap() })
    });
    let name = "apikey:Zq4sT7kP2mXwR9bN1cV5";
    let credential = LockoutSubject::Credential(name);
    group.bench_function("locked/credential", |b| {
        b.to_async(&rt)
            .iter(|| async { store.locked(black_box(&credential), t0()).await.unwrap() })
    });

    let ticker = Ticker::new(Duration::from_secs(7));
    let client = LockoutSubject::Client(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
    group.bench_function("locked+record_failure/client", |b| {
        b.to_async(&rt).iter(|| {
            let now = ticker.tick();
            async move { check_and_fail(store, black_box(&client), now).await }
        })
    });
    let ticker = Ticker::new(Duration::from_secs(7));
    let client6 =
        LockoutSubject::Client(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 1, 2, 3, 4)));
    group.bench_function("locked+record_failure/client_ipv6", |b| {
        b.to_async(&rt).iter(|| {
            let now = ticker.tick();
            async move { check_and_fail(store, black_box(&client6), now).await }
        })
    });
    let ticker = Ticker::new(Duration::from_secs(13));
    group.bench_function("locked+record_failure/credential", |b| {
        b.to_async(&rt).iter(|| {
            let now = ticker.tick();
            async move { check_and_fail(store, black_box(&credential), now).await }
        })
    });

    // A new /64 on every call into a full table: the spraying attacker.
    // Time moves by a millisecond a call so every subject stays live and
    // eviction has to pick the least recently active.
    let ticker = Ticker::new(Duration::from_millis(1));
    let next = Cell::new(0u64);
    group.bench_function("locked+record_failure/flood_new_ipv6_full_table", |b| {
        b.to_async(&rt).iter(|| {
            let now = ticker.tick();
            let n = next.get().wrapping_add(1);
            next.set(n);
            let ip = Ipv6Addr::from((u128::from(0x2001_0db8_0000_0000u64 | n) << 64) | 1);
            async move { check_and_fail(store, &LockoutSubject::Client(IpAddr::V6(ip)), now).await }
        })
    });

    // Two threads (the machine's cores) on the same store, each on its own
    // addresses: what sharding buys. Reported per pair of calls per thread.
    group.bench_function("locked+record_failure/client_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for thread in 0..2u32 {
                    scope.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        rt.block_on(async {
                            let mut now = t0();
                            for i in 0..iters {
                                // Each of the 64 addresses fails every 7 s: no lockouts.
                                now += Duration::from_millis(110);
                                let host = u32::try_from(i % 64).unwrap();
                                let ip = Ipv4Addr::from(0xc633_6400 + (thread << 6) + host);
                                check_and_fail(store, &LockoutSubject::Client(ip.into()), now)
                                    .await;
                            }
                        });
                    });
                }
            });
            start.elapsed()
        })
    });

    group.finish();
}

criterion_group!(benches, lockout);
criterion_main!(benches);
