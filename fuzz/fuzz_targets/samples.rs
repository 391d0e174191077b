//! What every sample discovery's readers deliver must satisfy, for the
//! `har` and `jsonl` targets.

use moat_discover::input::{ReadLimits, Sample};

/// An HTTP method token, an origin-form URL, a status from 100 to 599
/// when there is one, and bodies within `limits`.
pub fn check(s: &Sample, limits: &ReadLimits) {
    assert!(
        !s.method.is_empty() && s.method.bytes().all(|b| b.is_ascii_graphic()),
        "{:?}",
        s.method
    );
    assert!(s.url.starts_with('/'), "{:?} is not origin-form", s.url);
    assert!(
        s.status.is_none_or(|c| (100..=599).contains(&c)),
        "{:?}",
        s.status
    );
    for body in [&s.request_body, &s.response_body].into_iter().flatten() {
        assert!(
            body.text.len() <= limits.max_body_bytes,
            "a body over the limit"
        );
    }
}
