#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;
#[test]
fn timing() {
    let t = moat_spec::OperationTable::new(
        moat_spec::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/specs/twilio_api_v2010.yaml"
        )))
        .unwrap(),
    );
    let deep = [
        "2010-04-01",
        "Accounts",
        "AC0123456789abcdef0123456789abcdef",
        "Calls",
        "CA0123456789abcdef0123456789abcdef",
        "Recordings",
        "RE0123456789abcdef0123456789abcdef.json",
    ];
    let miss = [
        "2010-04-01",
        "Accounts",
        "AC0123456789abcdef0123456789abcdef",
        "Calls",
        "CA0123456789abcdef0123456789abcdef",
        "Nothing.json",
    ];
    let short_miss = ["2010-04-01", "Nope.json"];
    for (name, segs) in [
        ("deep", &deep[..]),
        ("miss", &miss[..]),
        ("short_miss", &short_miss[..]),
    ] {
        for _ in 0..3 {
            let n: u32 = std::env::var("N")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000);
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(
                    t.find(std::hint::black_box("GET"), std::hint::black_box(segs)),
                );
            }
            println!("{name}: {:?}/iter", start.elapsed() / n);
        }
    }
}
#[test]
fn baseline() {
    let mut m: std::collections::HashMap<Box<str>, usize> = Default::default();
    for k in [
        "Calls",
        "Recordings",
        "Nothing",
        "Events.json",
        "Payments.json",
    ] {
        m.insert(k.into(), 1);
    }
    let key = "CA0123456789abcdef0123456789abcdef";
    for _ in 0..3 {
        let n: u32 = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(m.get(std::hint::black_box(key)));
        }
        println!("sip lookup: {:?}/iter", start.elapsed() / n);
        let start = Instant::now();
        let mut x = 0u64;
        for i in 0..n {
            x = x
                .wrapping_mul(31)
                .wrapping_add(std::hint::black_box(i as u64));
        }
        std::hint::black_box(x);
        println!("loop: {:?}/iter", start.elapsed() / n);
    }
}
