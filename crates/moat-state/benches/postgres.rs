//! The PostgreSQL store on a real local server: key verification (one
//! primary-key lookup over 10,000 keys, and the HMAC) and appending one
//! security event (the chain row lock, one insert, one update).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/postgres.rs"]
mod postgres_server;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_state::events::{Action, Control, Event, EventStore, Severity};
use moat_state::{KeyManager, PostgresOptions, PostgresStore, unix_now};

const PEPPER: &[u8] = b"benchmark-pepper-0123456789abcdef0123456789";
const KEYS: usize = 10_000;

fn postgres(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = postgres_server::PostgresServer::start();
    let (store, keys, probe) = rt.block_on(async {
        let store = PostgresStore::connect(&PostgresOptions::new(server.url()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let keys = KeyManager::new(Arc::new(store.clone()), PEPPER).unwrap();
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
        (store, keys, probe)
    });
    let mut group = c.benchmark_group("postgres");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("verify", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(keys.verify(&probe, unix_now()).await.unwrap()) });
    });
    group.bench_function("ping", |b| {
        b.to_async(&rt)
            .iter(|| async { store.ping().await.unwrap() });
    });
    group.bench_function("append one event", |b| {
        b.to_async(&rt).iter(|| async {
            let e = Event::new(
                Control::Identity,
                "key-refused",
                Severity::Medium,
                Action::Denied,
            );
            black_box(store.append(&[e]).await.unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, postgres);
criterion_main!(benches);
