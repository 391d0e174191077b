//! `ParsedBody::parse` on `content-type \n body`: the input up to its
//! first `\n` is the `Content-Type` (none when that line is empty), the rest
//! is the body.
//!
//! Properties: an empty body is `Empty` whatever the type; each variant
//! comes from its media type and is what that type's own parser reads; a
//! form is never malformed; multipart data ranges lie inside the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moat_request::multipart::Part;
use moat_request::{BodyError, BodyLimits, MediaType, ParsedBody, Query, json, multipart};

fn inside(parts: &[Part], len: usize) {
    for p in parts {
        assert!(p.data.start <= p.data.end && p.data.end <= len, "{:?} outside {len}", p.data);
        inside(&p.nested, len);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let Ok(ct) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let media = if ct.is_empty() {
        None
    } else {
        match MediaType::parse(ct) {
            Ok(m) => Some(m),
            Err(_) => return,
        }
    };
    let bytes = &data[nl + 1..];
    let limits = BodyLimits::default();
    let parsed = ParsedBody::parse(media.as_ref(), bytes, &limits);
    if bytes.is_empty() {
        assert_eq!(parsed, Ok(ParsedBody::Empty));
        return;
    }
    let Some(m) = &media else {
        assert_eq!(parsed, Ok(ParsedBody::Opaque));
        return;
    };
    let essence = m.essence();
    match parsed {
        Ok(ParsedBody::Empty) => panic!("Empty for {} bytes", bytes.len()),
        Ok(ParsedBody::Json(v)) => {
            assert!(m.is_json(), "JSON for {essence}");
            assert_eq!(json::parse(bytes, &limits.json), Ok(v));
        }
        Err(BodyError::Json(e)) => {
            assert!(m.is_json(), "a JSON error for {essence}");
            assert_eq!(json::parse(bytes, &limits.json), Err(e));
        }
        Ok(ParsedBody::Form(q)) => {
            assert!(m.is_form(), "a form for {essence}");
            assert!(!q.is_malformed());
            assert_eq!(q, Query::parse_form(bytes));
        }
        Err(BodyError::FormEncoding) => {
            assert!(m.is_form(), "a form error for {essence}");
            assert!(Query::parse_form(bytes).is_malformed());
        }
        Ok(ParsedBody::Multipart(parts)) => {
            assert_eq!(essence, "multipart/form-data");
            let boundary = m.param("boundary").expect("multipart without a boundary");
            inside(&parts, bytes.len());
            assert_eq!(multipart::parse(bytes, boundary, &limits.multipart), Ok(parts));
        }
        Err(BodyError::Multipart(e)) => {
            assert_eq!(essence, "multipart/form-data");
            if let Some(boundary) = m.param("boundary") {
                assert_eq!(multipart::parse(bytes, boundary, &limits.multipart), Err(e));
            }
        }
        Ok(ParsedBody::Xml) => assert!(m.is_xml() && !m.is_json() && !m.is_form()),
        Ok(ParsedBody::Graphql) => assert_eq!(essence, "application/graphql"),
        Ok(ParsedBody::Text) => assert!(m.is_text() && !m.is_xml()),
        Ok(ParsedBody::Opaque) => assert!(
            !m.is_json()
                && !m.is_form()
                && essence != "multipart/form-data"
                && !m.is_xml()
                && !m.is_text()
                && essence != "application/graphql"
        ),
    }
});
