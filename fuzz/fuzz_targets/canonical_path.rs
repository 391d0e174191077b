//! `CanonicalPath::parse` on the input as it is and behind a `/`.
//!
//! Properties: the encoded form starts with `/`, holds only literal
//! characters and upper-case `%XX` escapes, and is the segments encoded
//! and joined; parsing it again gives the same path (idempotence); segments
//! never contain `/`, `\` or a control character, never equal `.` or `..`,
//! and only the last may be empty (a trailing slash); `NotOriginForm` is
//! exactly a missing leading `/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_request::{CanonicalPath, PathError};

fn check(raw: &str) {
    let path = match CanonicalPath::parse(raw) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e == PathError::NotOriginForm, !raw.starts_with('/'), "{raw:?}: {e:?}");
            return;
        }
    };
    let encoded = path.as_str();
    let segments = path.segments();
    assert!(encoded.starts_with('/'), "{encoded:?}");
    assert_eq!(path.to_string(), encoded);

    for (i, s) in segments.iter().enumerate() {
        assert!(!s.contains(['/', '\\']), "segment {s:?} has a separator");
        assert!(s != "." && s != "..", "dot segment {s:?} survived in {raw:?}");
        assert!(!s.bytes().any(|b| b < 0x20 || b == 0x7f), "segment {s:?} has a control");
        if s.is_empty() {
            assert_eq!(i + 1, segments.len(), "an empty segment before the last in {raw:?}");
            assert!(segments.len() > 1, "the root has no segments, not one empty one");
        }
    }

    // The encoded form is made of literal characters and upper-case escapes.
    let bytes = encoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = &bytes[i + 1..i + 3];
            assert!(
                hex.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                "{encoded:?}: bad escape"
            );
            i += 3;
        } else {
            let b = bytes[i];
            assert!(
                b == b'/' || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&b),
                "{encoded:?}: {:?} left literal",
                b as char
            );
            i += 1;
        }
    }

    // The encoded form is the segments, encoded and joined.
    assert_eq!(path.encoded_after(0), encoded);
    assert_eq!(path.encoded_after(segments.len()), "/");
    if segments.is_empty() {
        assert_eq!(encoded, "/");
    } else {
        assert_eq!(encoded.matches('/').count(), segments.len());
    }
    for k in 0..=segments.len() {
        assert_eq!(path.strip_prefix(&segments[..k]), Some(&segments[k..]));
    }

    // Idempotence: the canonical form is its own canonical form.
    let again = CanonicalPath::parse(encoded)
        .unwrap_or_else(|e| panic!("{raw:?} -> {encoded:?} is refused: {e:?}"));
    assert_eq!(again, path, "{raw:?} -> {encoded:?} reads differently");
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    check(raw);
    check(&format!("/{raw}"));
});
