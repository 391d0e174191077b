//! `Inspector::inspect_json` with every detector on: a typical 1 KB JSON
//! request body (names, notes, addresses, ids), the 1 KB note of prose
//! that `bench/pipeline.sh` posts through the gateway, and a 1 MB body
//! (many records). Also a browser's GET with its usual headers through
//! `inspect_request`, and the normaliser alone on clean and encoded values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_inspect::normalize::normalize;
use moat_inspect::{DetectorKind, InspectOptions, Inspector, NoHints, Report};
use serde_json::{Value, json};

/// A realistic order-ish record of about 1 KB.
fn record(i: usize) -> Value {
    json!({
        "id": format!("ord_{i:08}"),
        "customer": {
            "id": "c6f1e0a2-5b7d-4f3e-9a1c-2d8e4b6f0a13",
            "first_name": "Siobhán",
            "last_name": "O'Brien",
            "email": "siobhan.obrien@example.com",
            "phone": "+353 1 234 5678",
        },
        "shipping_address": {
            "line1": "12 O'Connell St., Apt. 4B",
            "line2": "c/o D'Angelo & Sons",
            "city": "Dublin",
            "postcode": "D01 F5P2",
            "country": "IE",
        },
        "items": [
            {"sku": "TS-XL-BLK", "name": "T-shirt (XL, black)", "qty": 2, "price": "19.99"},
            {"sku": "MUG-001", "name": "Mug \"World's best dad\"", "qty": 1, "price": "9.50"},
        ],
        "note": "Please leave the parcel at the door if nobody's home -- the bell doesn't \
                 work. Deliver between 9 and 5; select the quickest option and update me by \
                 email. Thanks! 1 or 2 days is fine.",
        "gift_message": "Happy birthday! <3 Love, Mum & Dad",
        "coupon": "SPRING-2024",
        "tags": ["priority", "gift", "eu"],
        "created_at": "2024-05-14T09:31:00Z",
        "metadata": {"source": "web", "campaign": "newsletter_may", "ref": "https://example.com/?utm_source=mail&utm_medium=email"},
    })
}

/// The note `bench/pipeline.sh` posts (the same text and fields).
fn note() -> Value {
    json!({
        "title": "Notes from the team offsite",
        "body": "We spent most of the morning on the roadmap for the next two quarters. \
            The main decision is to ship the new billing pages before the summer, \
            which means the reporting work moves to September. Anna will write up \
            the migration plan for existing customers, and Tom will check with the \
            support team whether the old invoices can stay where they are for now. \
            In the afternoon we talked about hiring: two engineers and one designer \
            this year, with interviews starting in April. Everyone agreed that the \
            on-call rotation is too heavy for four people, so it will be shared with \
            the platform team until the new hires are up to speed. Open questions: \
            the budget for the conference in October, whether to move the weekly \
            sync to Thursdays, and who owns the accessibility review. Next steps are \
            in the shared document; please add comments there by Friday, 12 April. \
            Lunch was good, the coffee was not, and the train home was late again.",
        "tags": ["work", "offsite", "planning"],
        "pinned": true,
        "priority": 3,
        "color": "yellow",
        "due": "2024-04-12",
    })
}

fn bench(c: &mut Criterion) {
    let inspector = Inspector::new(InspectOptions::default());
    let hints = NoHints;

    let small = record(1);
    let small_len = serde_json::to_vec(&small).unwrap().len();
    // A clean body: any finding is a false positive worth knowing about.
    let mut report = Report::default();
    inspector.inspect_json(&small, &hints, &mut report);
    for f in report.findings() {
        eprintln!(
            "false positive on the typical body: {}:{}@{}",
            f.detector.as_str(),
            f.reason,
            f.location
        );
    }

    let mut g = c.benchmark_group("inspect_json");
    g.throughput(Throughput::Bytes(small_len as u64));
    g.bench_function(format!("typical_{small_len}B"), |b| {
        b.iter(|| {
            let mut report = Report::default();
            inspector.inspect_json(black_box(&small), &hints, &mut report);
            report
        });
    });

    let note = note();
    let note_len = serde_json::to_vec(&note).unwrap().len();
    g.throughput(Throughput::Bytes(note_len as u64));
    g.bench_function(format!("note_{note_len}B"), |b| {
        b.iter(|| {
            let mut report = Report::default();
            inspector.inspect_json(black_box(&note), &hints, &mut report);
            report
        });
    });

    let mut records = Vec::new();
    let mut len = 0;
    while len < 1024 * 1024 {
        records.push(record(records.len()));
        len += small_len;
    }
    let big = json!({ "orders": records });
    let big_len = serde_json::to_vec(&big).unwrap().len();
    g.throughput(Throughput::Bytes(big_len as u64));
    g.sample_size(20);
    g.bench_function(format!("bulk_{}KB", big_len / 1024), |b| {
        b.iter(|| {
            let mut report = Report::default();
            inspector.inspect_json(black_box(&big), &hints, &mut report);
            report
        });
    });
    let mine = Inspector::new(InspectOptions {
        detectors: vec![DetectorKind::Sqli, DetectorKind::Xss],
        ..InspectOptions::default()
    });
    g.bench_function(format!("bulk_{}KB_sqli_xss_only", big_len / 1024), |b| {
        b.iter(|| {
            let mut report = Report::default();
            mine.inspect_json(black_box(&big), &hints, &mut report);
            report
        });
    });
    g.finish();

    // Each detector alone on the typical body, to see who costs what.
    let mut g = c.benchmark_group("typical_by_detector");
    for kind in DetectorKind::ALL {
        let one = Inspector::new(InspectOptions {
            detectors: vec![kind],
            ..InspectOptions::default()
        });
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| {
                let mut report = Report::default();
                one.inspect_json(black_box(&small), &hints, &mut report);
                report
            });
        });
    }
    let none = Inspector::new(InspectOptions {
        detectors: Vec::new(),
        ..InspectOptions::default()
    });
    g.bench_function("none (walk and normalise only)", |b| {
        b.iter(|| {
            let mut report = Report::default();
            none.inspect_json(black_box(&small), &hints, &mut report);
            report
        });
    });
    g.finish();

    // A browser's GET with its usual headers, taken apart and inspected
    // as the gateway does (path, query, every inspected header, cookies).
    let mut g = c.benchmark_group("inspect_request");
    let headers: Vec<(String, String)> = [
        ("host", "shop.example.com"),
        ("user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
        ("accept", "application/json, text/plain, */*"),
        ("accept-language", "en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("referer", "https://shop.example.com/cart"),
        ("origin", "https://shop.example.com"),
        ("sec-ch-ua", "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"macOS\""),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
        ("if-none-match", "W/\"5e-1a2b3c4d5e\""),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("x-request-id", "9f0c7c1e-3b8a-4d8e-9a0c-2f1e5d6c7b8a"),
        ("cookie", "sid=9d8110761472b69f5a7776ff770b5f97; theme=dark; consent=analytics%3Dno"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let browser = moat_inspect::RawRequest::parse(
        "/api/v1/products/TS-XL-BLK/reviews",
        Some("page=2&sort=newest&q=winter%20boots"),
        &headers,
        None,
    )
    .unwrap();
    g.bench_function("browser_get", |b| {
        b.iter(|| {
            let mut report = Report::default();
            browser.inspect(&inspector, &NoHints, &mut report);
            report
        });
    });
    g.finish();

    let mut g = c.benchmark_group("normalize");
    let clean = "Please leave the parcel at the door if nobody is home";
    g.bench_function("clean", |b| {
        b.iter(|| normalize(black_box(clean)).folded.len())
    });
    let encoded = "%253Cscript%253Ealert(1)%253C%252Fscript%253E&#x27; UNION/**/SELECT \\u0027";
    g.bench_function("encoded", |b| {
        b.iter(|| normalize(black_box(encoded)).folded.len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
