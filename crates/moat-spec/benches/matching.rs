//! Matching requests against the Twilio API (~200 operations), and loading it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_spec::{Match, OperationTable, load};

const TWILIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/specs/twilio_api_v2010.yaml"
);

fn find(c: &mut Criterion) {
    let table = OperationTable::new(load(Path::new(TWILIO)).unwrap());
    let cases: [(&str, &[&str], bool); 3] = [
        ("static", &["2010-04-01", "Accounts.json"], true),
        (
            "deep_templated_json_suffix",
            &[
                "2010-04-01",
                "Accounts",
                "AC0123456789abcdef0123456789abcdef",
                "Calls",
                "CA0123456789abcdef0123456789abcdef",
                "Recordings",
                "RE0123456789abcdef0123456789abcdef.json",
            ],
            true,
        ),
        (
            "miss",
            &[
                "2010-04-01",
                "Accounts",
                "AC0123456789abcdef0123456789abcdef",
                "Calls",
                "CA0123456789abcdef0123456789abcdef",
                "Nothing.json",
            ],
            false,
        ),
    ];
    let mut group = c.benchmark_group("find");
    for (name, segments, hit) in cases {
        let found = matches!(table.find("GET", segments), Match::Found { .. });
        assert_eq!(found, hit, "{name}: {:?}", table.find("GET", segments));
        group.bench_function(name, |b| {
            b.iter(|| table.find(black_box("GET"), black_box(segments)))
        });
    }
    group.finish();
}

fn load_twilio(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("twilio_api_v2010", |b| {
        b.iter(|| load(black_box(Path::new(TWILIO))).unwrap())
    });
    group.finish();
}

criterion_group!(benches, find, load_twilio);
criterion_main!(benches);
