//! `Head::of` on a request head written as text: the first line is the
//! request target, optionally followed by ` HTTP/1.0`, ` HTTP/1.1` or
//! ` HTTP/2` (HTTP/1.1 when absent); each further line is `name: value`
//! (lines that are not a valid field are skipped).
//!
//! Properties: a head is accepted only with at most one `Host` and one
//! `Content-Type`, and with a host on HTTP/1.1 and later; its path, query
//! and cookies are what their own parsers read; the host is non-empty,
//! lower case, without a trailing dot, user information or port, and is
//! read the same when given back as `Host` (idempotence); an error says
//! what is really wrong; a `Transfer-Encoding` other than `chunked` alone
//! is refused; every field name with an underscore is noted.
#![no_main]

use http::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use http::{Request, Uri, Version};
use libfuzzer_sys::fuzz_target;
use moat_request::head::host;
use moat_request::{CanonicalPath, Cookies, Head, HeadError, MediaType, Query, SingleField};

fn check_host(h: &str) {
    assert!(!h.is_empty(), "empty host");
    assert_eq!(h, h.to_ascii_lowercase(), "host {h:?} not lower case");
    assert!(!h.ends_with('.'), "host {h:?} ends in a dot");
    assert!(!h.contains('@'), "host {h:?} has user information");
    if !h.starts_with('[') {
        assert!(!h.contains(':'), "host {h:?} has a port");
    }
    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_str(h).expect("a host is a header value"));
    let again = host(&Uri::from_static("/"), &headers, Version::HTTP_11);
    assert_eq!(again, Ok(Some(h.to_string())), "host {h:?} reads differently as Host");
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let (target, version) = match first.iter().rposition(|&b| b == b' ') {
        Some(at) => match &first[at + 1..] {
            b"HTTP/1.0" => (&first[..at], Version::HTTP_10),
            b"HTTP/1.1" => (&first[..at], Version::HTTP_11),
            b"HTTP/2" => (&first[..at], Version::HTTP_2),
            _ => (first, Version::HTTP_11),
        },
        None => (first, Version::HTTP_11),
    };
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let mut builder = Request::builder().uri(uri).version(version);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let read = Head::of(&request);
    let (parts, ()) = request.into_parts();
    let hosts = parts.headers.get_all(HOST).iter().count();
    let types = parts.headers.get_all(CONTENT_TYPE).iter().count();

    match read {
        Ok(head) => {
            assert!(hosts <= 1 && types <= 1, "{hosts} Host, {types} Content-Type accepted");
            assert_eq!(Ok(&head.path), CanonicalPath::parse(parts.uri.path()).as_ref());
            let query = parts.uri.query().map(Query::parse).unwrap_or_default();
            assert_eq!(head.query, query);
            assert_eq!(head.cookies, Cookies::parse(&parts.headers));
            assert_eq!(head.media.is_some(), types == 1);
            if let Some(media) = &head.media {
                let text = parts.headers[CONTENT_TYPE].to_str().expect("accepted as text");
                assert_eq!(Ok(media), MediaType::parse(text).as_ref());
            }
            let length = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            assert_eq!(head.content_length, length);
            // The notes see every field: an underscore in any name.
            assert_eq!(
                head.fields.underscored.is_some(),
                parts.headers.keys().any(|n| n.as_str().contains('_'))
            );
            match &head.host {
                Some(h) => check_host(h),
                None => assert!(
                    version < Version::HTTP_11,
                    "no host accepted on {version:?}"
                ),
            }
        }
        Err(HeadError::Path(e)) => {
            assert_eq!(CanonicalPath::parse(parts.uri.path()), Err(e));
        }
        Err(HeadError::Repeated(field)) => match field {
            SingleField::Host => assert!(hosts >= 2),
            SingleField::ContentType => assert!(types >= 2),
        },
        Err(HeadError::MissingHost) => {
            assert_eq!(hosts, 0);
            assert!(parts.uri.authority().is_none());
            assert!(version >= Version::HTTP_11);
        }
        Err(HeadError::InvalidHost) => {
            assert!(hosts == 1 || parts.uri.authority().is_some());
        }
        Err(HeadError::MediaType(_)) => assert_eq!(types, 1),
        Err(HeadError::TransferCoding) => {
            let codings: Vec<String> = parts
                .headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect();
            assert!(codings != ["chunked"] && !codings.is_empty(), "{codings:?} refused");
        }
    }
});
