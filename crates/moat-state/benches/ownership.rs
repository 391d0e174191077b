//! The per-request cost of learned object ownership.
//!
//! Every request to an operation that names a tracked object looks its
//! owner up (one primary-key read); every successful create records one
//! (one insert). The SQLite store holds 100,000 records so the B-tree has
//! realistic depth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use moat_state::{ObjectKey, OwnershipStore, SqliteStore};

/// Records in the file under `cargo bench`; `cargo test` runs each
/// benchmark once as a smoke test and needs no realistic depth.
fn records() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1_000
    }
}

fn key(id: u64) -> ObjectKey {
    ObjectKey {
        api: "shop".into(),
        kind: "order".into(),
        id: id.to_string(),
    }
}

fn ownership(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let records = records();
    let store = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .unwrap();
        for id in 0..records {
            store
                .record(&key(id), &format!("consumer-{}", id % 1000), 0)
                .await
                .unwrap();
        }
        store
    });
    let probe = key(records / 2);
    let missing = key(records * 2);
    let mut group = c.benchmark_group("ownership/sqlite_100k");
    group.bench_function("owner_found", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.owner(black_box(&probe)).await.unwrap()) })
    });
    group.bench_function("owner_unknown", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.owner(black_box(&missing)).await.unwrap()) })
    });
    let next = AtomicU64::new(records);
    group.bench_function("record_new", |b| {
        b.to_async(&rt).iter(|| async {
            let id = next.fetch_add(1, Ordering::Relaxed);
            black_box(store.record(&key(id), "alice", 0).await.unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, ownership);
criterion_main!(benches);
