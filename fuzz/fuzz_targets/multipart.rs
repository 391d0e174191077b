//! `multipart::parse` on `boundary \n body`: the input up to its first
//! `\n` is the boundary (RFC 2046 forbids a line break in one), the rest is
//! the body.
//!
//! Properties: every part's data range lies inside the body (a nested
//! part's inside its parent's), parts are in order and do not overlap, each
//! is followed by CRLF and the delimiter and holds no delimiter itself; a
//! top-level part has a name; only a multipart part has nested parts, and
//! those none; the part limit holds, and tight limits either accept the
//! same parts or refuse.
#![no_main]

use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use moat_request::multipart::{MultipartError, MultipartLimits, Part, parse};

const TIGHT: MultipartLimits = MultipartLimits {
    max_parts: 3,
    max_header_bytes: 64,
};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Checks `parts`, found inside `span` of `body` and framed by `boundary`;
/// returns how many parts there are, nested ones included.
fn check(body: &[u8], span: Range<usize>, boundary: &str, parts: &[Part], top: bool) -> usize {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    assert!(body[span.clone()].starts_with(d), "the span does not open with the delimiter");
    let mut count = parts.len();
    let mut previous_end = span.start;
    for p in parts {
        let data = p.data.clone();
        assert!(data.start <= data.end, "{data:?} is reversed");
        assert!(
            span.start <= data.start && data.end <= span.end,
            "{data:?} is outside {span:?} (body of {} bytes)",
            body.len()
        );
        assert!(data.start >= previous_end, "{data:?} overlaps the part before");
        previous_end = data.end;
        let content = &body[data.clone()];
        assert!(!contains(content, d), "part {data:?} holds the delimiter");
        let after = &body[data.end..span.end];
        assert!(after.starts_with(b"\r\n"), "part {data:?} is not followed by CRLF");
        assert!(after[2..].starts_with(d), "part {data:?} is not followed by the delimiter");
        if top {
            assert!(p.name.is_some(), "a top-level part without a name");
        } else {
            assert!(p.nested.is_empty(), "parts nested two levels");
        }
        if !p.nested.is_empty() {
            let ct = p.content_type.as_ref().expect("nested parts need a Content-Type");
            assert!(ct.is_multipart());
            let inner = ct.param("boundary").expect("nested parts need a boundary");
            count += check(body, data, inner, &p.nested, false);
        }
    }
    count
}

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(boundary) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let body = &data[nl + 1..];
    let full = parse(body, boundary, &MultipartLimits::default());
    if let Ok(parts) = &full {
        let count = check(body, 0..body.len(), boundary, parts, true);
        assert!(count <= MultipartLimits::default().max_parts);
    }
    match (parse(body, boundary, &TIGHT), &full) {
        (Ok(parts), Ok(full_parts)) => {
            assert_eq!(&parts, full_parts, "tight limits changed the parts");
            assert!(check(body, 0..body.len(), boundary, &parts, true) <= TIGHT.max_parts);
        }
        (Ok(_), Err(e)) => panic!("accepted under tight limits only (default: {e:?})"),
        (Err(MultipartError::TooManyParts), Ok(full_parts)) => assert!(
            check(body, 0..body.len(), boundary, full_parts, true) > TIGHT.max_parts,
            "TooManyParts with few parts"
        ),
        (Err(MultipartError::Headers | MultipartError::TooManyParts), _) => {}
        (Err(e), Ok(_)) => panic!("{e:?} under tight limits only"),
        (Err(_), Err(_)) => {}
    }
});
