//! `AnomalyEngine::observe` for typical requests, with every detector on
//! and tables warmed with 10 000 subjects: an authenticated read naming an
//! object (the common case, touching enumeration and scraping), an
//! anonymous list request, and a failed login (every table); and the
//! first in a cluster, handing out its touch for the shared counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_config::anomaly::AnomalyConfig;
use moat_guard::anomaly::{AnomalyEngine, AnsweredBy, ObjectRef, Observation};

const T0: u64 = 1_800_000_000_000;

fn warmed() -> AnomalyEngine {
    let engine = AnomalyEngine::new(&AnomalyConfig::default()).unwrap();
    for i in 0..10_000u32 {
        let consumer = format!("consumer-{i}");
        let object = (i % 100).to_string();
        engine.observe(&Observation {
            now: T0 + u64::from(i),
            client: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            consumer: Some(&consumer),
            credential_id: Some("apikey:AbC123xyz789"),
            auth_failed: false,
            object: Some(ObjectRef {
                kind: "order",
                id: &object,
            }),
            answered_by: AnsweredBy::Upstream,
            status: 200,
        });
    }
    engine
}

fn bench(c: &mut Criterion) {
    let engine = warmed();
    let mut now = T0 + 60_000;
    c.bench_function("observe: authenticated GET /orders/{id}", |b| {
        b.iter(|| {
            now += 1;
            let object = ["17", "18", "19", "20"][(now % 4) as usize];
            black_box(engine.observe(black_box(&Observation {
                now,
                client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                consumer: Some("consumer-42"),
                credential_id: Some("apikey:AbC123xyz789"),
                auth_failed: false,
                object: Some(ObjectRef {
                    kind: "order",
                    id: object,
                }),
                answered_by: AnsweredBy::Upstream,
                status: 200,
            })))
        })
    });
    c.bench_function("observe: anonymous GET /orders", |b| {
        b.iter(|| {
            now += 1;
            black_box(engine.observe(black_box(&Observation {
                now,
                client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
                consumer: None,
                credential_id: None,
                auth_failed: false,
                object: None,
                answered_by: AnsweredBy::Upstream,
                status: 200,
            })))
        })
    });
    c.bench_function("observe: failed login", |b| {
        let names: Vec<String> = (0..16).map(|i| format!("basic:user{i}")).collect();
        b.iter(|| {
            now += 1;
            black_box(engine.observe(black_box(&Observation {
                now,
                client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)),
                consumer: None,
                credential_id: Some(&names[(now % 16) as usize]),
                auth_failed: true,
                object: None,
                answered_by: AnsweredBy::Upstream,
                status: 401,
            })))
        })
    });

    // In a cluster: the same request, also handing out its touch.
    let clustered = warmed();
    clustered.share(b"a cluster's seed");
    clustered.set_cluster_decides(true);
    let mut touches = Vec::with_capacity(4);
    c.bench_function("observe_sharing: authenticated GET /orders/{id}", |b| {
        b.iter(|| {
            now += 1;
            touches.clear();
            let object = ["17", "18", "19", "20"][(now % 4) as usize];
            black_box(clustered.observe_sharing(
                black_box(&Observation {
                    now,
                    client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                    consumer: Some("consumer-42"),
                    credential_id: Some("apikey:AbC123xyz789"),
                    auth_failed: false,
                    object: Some(ObjectRef {
                        kind: "order",
                        id: object,
                    }),
                    answered_by: AnsweredBy::Upstream,
                    status: 200,
                }),
                &mut touches,
            ))
        })
    });

    // Contention: the same typical request from two threads at once.
    let shared = Arc::new(warmed());
    c.bench_function("observe: authenticated, 2 threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            let handles: Vec<_> = (0..2u32)
                .map(|t| {
                    let engine = Arc::clone(&shared);
                    std::thread::spawn(move || {
                        let consumer = format!("consumer-{t}");
                        for i in 0..iters {
                            black_box(engine.observe(&Observation {
                                now: T0 + 60_000 + i,
                                client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, t as u8)),
                                consumer: Some(&consumer),
                                credential_id: None,
                                auth_failed: false,
                                object: Some(ObjectRef {
                                    kind: "order",
                                    id: "17",
                                }),
                                answered_by: AnsweredBy::Upstream,
                                status: 200,
                            }));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            start.elapsed()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
