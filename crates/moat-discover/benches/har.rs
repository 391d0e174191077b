//! Reading a generated HAR: throughput in bytes of HAR per second.
//!
//! `cargo bench -p moat-discover --bench har`

#[path = "../tests/support/har.rs"]
mod har_gen;

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_discover::input::read_har;

fn read(c: &mut Criterion) {
    let mut har = Vec::new();
    let entries = har_gen::write_har(&mut har, 16 * 1024 * 1024).unwrap_or_default();
    let mut group = c.benchmark_group("har");
    group.throughput(Throughput::Bytes(har.len() as u64));
    group.sample_size(10);
    group.bench_function("read_16mib", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let stats = read_har(har.as_slice(), |sample| {
                n += black_box(sample).url.len() as u64;
                ControlFlow::Continue(())
            });
            assert!(matches!(stats, Ok(ref s) if s.samples == entries));
            n
        })
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
