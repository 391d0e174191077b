//! Parsing JSON request bodies once under the shape limits, duplicate keys
//! refused (`moat_request::json::parse`): a typical ~1 KB order, a ~1 MB
//! list of such orders, a 3 MB string of `\u` escapes (1 MiB decoded, the
//! default limit) and a ~1 MB hostile body (`[[[[…`) that is refused at the
//! depth limit. For comparison, plain `serde_json::Value` parsing of the
//! same bodies, with no limits and last-wins duplicate keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_request::json::{JsonLimits, parse as check};
use serde_json::json;

fn order(i: usize) -> serde_json::Value {
    json!({
        "id": format!("ord-{i:08}"),
        "customer": {
            "id": 1000 + i,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": {"street": "12 Analytical Row", "city": "London", "postcode": "N1 9GU", "country": "GB"}
        },
        "items": [
            {"sku": "BK-0001", "title": "Notes on the \"Analytical Engine\"", "quantity": 1, "price": 19.99},
            {"sku": "BK-0002", "title": "Sketch of the Engine \u{e9}dition", "quantity": 2, "price": 12.5},
            {"sku": "BK-0003", "title": "On Bernoulli Numbers", "quantity": 1, "price": 7.25},
            {"sku": "BK-0004", "title": "Letters to Babbage, 1843", "quantity": 1, "price": 24.0},
            {"sku": "BK-0005", "title": "The Difference Engine: a history", "quantity": 3, "price": 9.75}
        ],
        "shipping": {"method": "standard", "eta_days": 3, "tracking": null, "insured": false},
        "currency": "GBP",
        "total": 52.24,
        "paid": true,
        "coupon": null,
        "notes": "Leave at the door; ring twice. Fragile: contains first editions.",
        "tags": ["gift", "priority", "books"],
        "created_at": "2026-11-23T00:00:00Z"
    })
}

fn bench(c: &mut Criterion) {
    let limits = JsonLimits::default();
    let small = serde_json::to_vec(&order(1)).unwrap();
    let big = {
        let mut list = Vec::new();
        let mut n = 0;
        while serde_json::to_vec(&list).unwrap().len() < 1_000_000 {
            list.extend((n..n + 100).map(order));
            n += 100;
        }
        serde_json::to_vec(&json!({ "orders": list })).unwrap()
    };
    let hostile = "[".repeat(1_000_000).into_bytes();
    // 1 MiB decoded: the most a default string may hold, all escapes.
    let escaped = format!("\"{}\"", "\\u00e9".repeat(512 * 1024)).into_bytes();
    assert!(check(&escaped, &limits).is_ok());
    assert!(check(&small, &limits).is_ok());
    // 1 MB list: raise the item limit so the whole body is read.
    let big_limits = JsonLimits {
        max_array_items: 1_000_000,
        ..limits
    };
    assert!(check(&big, &big_limits).is_ok());
    assert!(check(&hostile, &limits).is_err());

    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function(format!("parse {} B order", small.len()), |b| {
        b.iter(|| check(black_box(&small), &limits))
    });
    g.bench_function(format!("serde_json::Value {} B order", small.len()), |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&small)).unwrap())
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function(format!("parse {} B order list", big.len()), |b| {
        b.iter(|| check(black_box(&big), &big_limits))
    });
    g.bench_function(
        format!("serde_json::Value {} B order list", big.len()),
        |b| b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&big)).unwrap()),
    );
    g.throughput(Throughput::Bytes(escaped.len() as u64));
    g.bench_function(
        format!("parse {} B string of \\u escapes", escaped.len()),
        |b| b.iter(|| check(black_box(&escaped), &limits)),
    );
    g.finish();

    // Refused at the 33rd byte, however long the body.
    c.bench_function("json/parse 1 MB of [[[[ (refused)", |b| {
        b.iter(|| check(black_box(&hostile), &limits))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
