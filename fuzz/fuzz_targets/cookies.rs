//! `Cookies::parse` over `Cookie` fields made from the input, one field per
//! `\n`-separated line (lines that are not a valid header value are
//! skipped).
//!
//! Properties: the jar is undecodable exactly when some field is not
//! visible ASCII; names are non-empty, trimmed, without `;` or `=`;
//! `unique(name)` is `Err` exactly when the name appears twice; several
//! fields read as one field joined by `;`; other headers are ignored.
#![no_main]

use http::header::{COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use libfuzzer_sys::fuzz_target;
use moat_request::Cookies;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    let mut undecodable = false;
    let mut texts: Vec<String> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            continue;
        };
        match value.to_str() {
            Ok(t) => texts.push(t.to_string()),
            Err(_) => undecodable = true,
        }
        // The same value in a field that is not `Cookie` changes nothing.
        headers.append(SET_COOKIE, value.clone());
        headers.append(COOKIE, value);
    }
    let jar = Cookies::parse(&headers);
    assert_eq!(jar.is_undecodable(), undecodable);
    assert_eq!(Cookies::parse(&headers), jar, "not deterministic");

    let pieces: usize = texts.iter().map(|t| t.split(';').count()).sum();
    assert!(jar.pairs().len() <= pieces, "more cookies than `;`-pieces");

    for (name, _) in jar.pairs() {
        assert!(!name.is_empty(), "empty cookie name");
        assert_eq!(name.trim(), name, "untrimmed cookie name {name:?}");
        assert!(!name.contains([';', '=']), "cookie name {name:?} has `;` or `=`");
        let count = jar.pairs().iter().filter(|(n, _)| n == name).count();
        assert_eq!(jar.values(name).count(), count);
        match jar.unique(name) {
            Ok(Some(_)) => assert_eq!(count, 1, "{name:?} given {count} times, unique() Ok"),
            Ok(None) => panic!("{name:?} is in pairs() but unique() says absent"),
            Err(r) => {
                assert!(count >= 2, "{name:?} given once, unique() Err");
                assert_eq!(&r.name, name);
            }
        }
    }

    // The fields in order read as one field joined by `;`.
    if !undecodable && !texts.is_empty() {
        let joined = texts.join(";");
        let mut one = HeaderMap::new();
        one.append(COOKIE, HeaderValue::from_str(&joined).expect("visible ASCII"));
        assert_eq!(Cookies::parse(&one).pairs(), jar.pairs(), "fields joined read differently");
    }
});
