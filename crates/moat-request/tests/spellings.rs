//! Property: every spelling of one request is read as that request. The
//! gateway routes and decides on the view only, so two spellings that give
//! the same view reach the same operation and the same decision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moat_request::{CanonicalPath, Query};
use proptest::prelude::*;

/// A segment of text an API path may hold.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~!$&'()*+,=:@ -]{1,12}".prop_filter("not a dot segment", |s| s != "." && s != "..")
}

/// Percent-encodes each byte of `s` where `mask` says so (and always the
/// bytes a path cannot hold literally).
fn spell(s: &str, mask: &[bool]) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        let must = !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&b));
        if must || mask.get(i % mask.len().max(1)).copied().unwrap_or(false) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

proptest! {
    #[test]
    fn path_spellings_have_one_canonical_form(
        segments in prop::collection::vec(segment(), 1..5),
        mask in prop::collection::vec(any::<bool>(), 1..8),
        noise in prop::collection::vec(0u8..4, 1..5),
    ) {
        let plain: Vec<String> = segments.iter().map(|s| spell(s, &[false])).collect();
        let canonical = CanonicalPath::parse(&format!("/{}", plain.join("/"))).unwrap();
        prop_assert_eq!(canonical.segments(), &segments[..]);
        // The same path with escapes, empty segments, `.` and `x/..`.
        let mut other = String::new();
        for (i, s) in segments.iter().enumerate() {
            match noise[i % noise.len()] {
                1 => other.push('/'),
                2 => other.push_str("/."),
                3 => other.push_str("/zz/.."),
                _ => {}
            }
            other.push('/');
            other.push_str(&spell(s, &mask));
        }
        let reread = CanonicalPath::parse(&other).unwrap();
        prop_assert_eq!(reread.segments(), canonical.segments());
        prop_assert_eq!(reread.as_str(), canonical.as_str());
        // The forwarded spelling reads back as itself.
        let again = CanonicalPath::parse(canonical.as_str()).unwrap();
        prop_assert_eq!(again.as_str(), canonical.as_str());
    }

    #[test]
    fn query_spellings_have_one_reading(
        pairs in prop::collection::vec(("[a-z]{1,6}", "[a-zA-Z0-9 .,;:!*'-]{0,10}"), 0..5),
        mask in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let plain: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect();
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", spell(k, &mask), spell(v, &mask)))
            .collect();
        let a = Query::parse(&plain.join("&"));
        let b = Query::parse(&encoded.join("&"));
        prop_assert!(!a.is_malformed() && !b.is_malformed());
        prop_assert_eq!(a.pairs(), b.pairs());
        let expected: Vec<(String, String)> = pairs.clone();
        prop_assert_eq!(a.pairs(), &expected[..]);
    }
}
