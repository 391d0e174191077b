//! `Query::parse` / `Query::parse_form` on raw bytes.
//!
//! Properties: `parse(text)` is `parse_form(text.as_bytes())`; one pair per
//! non-empty `&`-piece; `unique(name)` is `Err` exactly when `name` appears
//! twice or more in `pairs()`; without `%` the query is malformed exactly
//! when it is not UTF-8; a well-formed query, re-encoded, reads back to the
//! same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_request::Query;
use moat_request::query::decode_component;

/// Form-encodes `text`: unreserved bytes literal, space as `+`, the rest
/// `%XX`.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let q = Query::parse_form(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(Query::parse(text), q, "parse and parse_form disagree");
    }

    let pieces = data.split(|&b| b == b'&').filter(|p| !p.is_empty()).count();
    assert_eq!(q.pairs().len(), pieces, "one pair per non-empty piece");
    assert_eq!(q.is_empty(), pieces == 0);

    for (name, _) in q.pairs() {
        let count = q.pairs().iter().filter(|(n, _)| n == name).count();
        let values: Vec<&str> = q.values(name).collect();
        assert_eq!(values.len(), count);
        match q.unique(name) {
            Ok(Some(v)) => {
                assert_eq!(count, 1, "{name:?} appears {count} times but unique() is Ok");
                assert_eq!(v, values[0]);
            }
            Ok(None) => panic!("{name:?} is in pairs() but unique() says absent"),
            Err(r) => {
                assert!(count >= 2, "{name:?} appears once but unique() is Err");
                assert_eq!(&r.name, name);
            }
        }
    }
    let mut absent = String::from("absent");
    while q.pairs().iter().any(|(n, _)| *n == absent) {
        absent.push('_');
    }
    assert_eq!(q.unique(&absent), Ok(None));
    assert_eq!(q.values(&absent).count(), 0);

    if !data.contains(&b'%') {
        assert_eq!(
            q.is_malformed(),
            std::str::from_utf8(data).is_err(),
            "without escapes, malformed means not UTF-8"
        );
    }

    if !q.is_malformed() {
        // Every name and value decoded strictly, and each piece decodes on
        // its own to the same pair.
        let text = std::str::from_utf8(data).expect("a well-formed query is UTF-8");
        let mut pairs = q.pairs().iter();
        for piece in text.split('&').filter(|p| !p.is_empty()) {
            let (n, v) = piece.split_once('=').unwrap_or((piece, ""));
            let pair = pairs.next().expect("as many pairs as pieces");
            assert_eq!(decode_component(n).as_ref(), Some(&pair.0));
            assert_eq!(decode_component(v).as_ref(), Some(&pair.1));
        }
        let encoded: Vec<String> = q
            .pairs()
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
            .collect();
        let again = Query::parse(&encoded.join("&"));
        assert!(!again.is_malformed(), "re-encoded query is malformed");
        assert_eq!(again.pairs(), q.pairs(), "re-encoded query reads differently");
    }
});
