//! The per-request cost of API key verification.
//!
//! `verify` is on every keyed request: a format check, one primary-key
//! lookup and one HMAC. The SQLite store holds 10,000 keys so the B-tree has
//! realistic depth; the memory store shows what the lookup itself costs;
//! the malformed case shows that junk is refused before any lookup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_state::{KeyManager, KeyStore, MemoryStore, SqliteStore, unix_now};

const PEPPER: &[u8] = b"benchmark-pepper-0123456789abcdef0123456789";
const KEYS: usize = 10_000;

/// A manager over `store` filled with `KEYS` keys; returns one valid key.
async fn filled(store: Arc<dyn KeyStore>) -> (KeyManager, String) {
    let keys = KeyManager::new(store, PEPPER).unwrap();
    let mut probe = String::new();
    for i in 0..KEYS {
        let (_, issued) = keys
            .create(&format!("consumer-{}", i % 100), None, &[], None)
            .await
            .unwrap();
        if i == KEYS / 2 {
            probe = issued.expose().to_string();
        }
    }
    (keys, probe)
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, sqlite_key, memory, memory_key) = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .unwrap();
        let (sqlite, sqlite_key) = filled(Arc::new(store)).await;
        let (memory, memory_key) = filled(Arc::new(MemoryStore::new())).await;
        (sqlite, sqlite_key, memory, memory_key)
    });
    // The same id shape, another secret: exists nowhere.
    let (_, unknown) = rt.block_on(async {
        KeyManager::new(Arc::new(MemoryStore::new()), PEPPER)
            .unwrap()
            .create("nobody", None, &[], None)
            .await
            .unwrap()
    });
    let unknown = unknown.expose().to_string();
    let mut malformed = sqlite_key.clone().into_bytes();
    let last = malformed.len() - 1;
    malformed[last] = if malformed[last] == b'A' { b'B' } else { b'A' };
    let malformed = String::from_utf8(malformed).unwrap();
    let now = unix_now();

    let mut group = c.benchmark_group("verify");
    group.bench_function("sqlite_10k/valid", |b| {
        b.to_async(&rt)
            .iter(|| async { sqlite.verify(black_box(&sqlite_key), now).await.unwrap() })
    });
    group.bench_function("sqlite_10k/unknown_id", |b| {
        b.to_async(&rt)
            .iter(|| async { sqlite.verify(black_box(&unknown), now).await.unwrap_err() })
    });
    group.bench_function("memory_10k/valid", |b| {
        b.to_async(&rt)
            .iter(|| async { memory.verify(black_box(&memory_key), now).await.unwrap() })
    });
    group.bench_function("malformed/checksum", |b| {
        b.to_async(&rt)
            .iter(|| async { sqlite.verify(black_box(&malformed), now).await.unwrap_err() })
    });
    group.bench_function("parse_only/valid", |b| {
        b.iter(|| moat_state::format::parse(black_box(&sqlite_key)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
