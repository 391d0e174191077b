//! The cost of storing security events: the gateway appends them in
//! batches (one transaction each), so the figure that matters is one batch
//! of 64 events, chained and inserted, against a file that already holds
//! many.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_state::SqliteStore;
use moat_state::events::{Action, Control, Event, EventStore, Severity};

const BATCH: usize = 64;

/// Events in the file before measuring under `cargo bench`; `cargo test`
/// runs each benchmark once as a smoke test and needs no realistic size.
fn prefill() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        1_000
    }
}

/// A typical refusal: every request field set, a short evidence.
fn event(i: usize) -> Event {
    let mut e = Event::new(
        Control::Inspection,
        "attack-detected",
        Severity::High,
        Action::Denied,
    );
    e.request_id = Some(format!("01J{i:023}"));
    e.api = Some("shop".into());
    e.operation = Some("searchProducts".into());
    e.consumer = Some(format!("consumer-{}", i % 100));
    e.client = Some(format!("198.51.100.{}", i % 250));
    e.method = Some("GET".into());
    e.path = Some("/products".into());
    e.rule = Some("sqli".into());
    e.location = Some("query.q".into());
    e.status = Some(403);
    e.evidence = Some("' OR 1=1 -- (sql tautology)".into());
    e
}

fn events(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .unwrap();
        let all: Vec<Event> = (0..prefill()).map(event).collect();
        for chunk in all.chunks(1000) {
            store.append(chunk).await.unwrap();
        }
        store
    });
    let batch: Vec<Event> = (0..BATCH).map(event).collect();
    let mut group = c.benchmark_group("events/sqlite");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("append_batch_64", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.append(black_box(&batch)).await.unwrap()) })
    });
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
