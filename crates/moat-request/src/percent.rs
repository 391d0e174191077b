//! Percent-decoding (RFC 3986), strict: the `percent-encoding` crate
//! decodes, and a malformed escape or bytes that are not UTF-8 once decoded
//! are refused rather than kept or replaced, since readers disagree about
//! them. (The canonical path has its own decoder, with stricter rules of
//! its own.)

use percent_encoding::percent_decode;

/// Whether every `%` starts a two-hex-digit escape.
pub fn escapes_well_formed(raw: &[u8]) -> bool {
    memchr::memchr_iter(b'%', raw).all(|at| {
        raw.get(at + 1..at + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    })
}

/// Percent-decodes `raw` (`+` stays `+`); `None` for a malformed escape or
/// bytes that are not UTF-8.
pub fn decode_strict(raw: &str) -> Option<String> {
    if !escapes_well_formed(raw.as_bytes()) {
        return None;
    }
    percent_decode(raw.as_bytes())
        .decode_utf8()
        .ok()
        .map(|t| t.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding() {
        assert_eq!(decode_strict("a%7Bb%7d").as_deref(), Some("a{b}"));
        assert_eq!(decode_strict("a+b").as_deref(), Some("a+b"));
        assert_eq!(decode_strict("%e2%82%ac").as_deref(), Some("\u{20ac}"));
        for bad in ["%zz", "%4", "%", "%ff", "%C0%AE"] {
            assert_eq!(decode_strict(bad), None, "{bad}");
        }
    }
}
