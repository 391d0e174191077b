use std::ops::ControlFlow;

use super::*;
use crate::input::{MAX_SKIP_REASONS, Skipped};

fn read(har: &str) -> Result<(Vec<Sample>, HarStats), InputError> {
    read_limited(har, ReadLimits::default())
}

fn read_limited(har: &str, limits: ReadLimits) -> Result<(Vec<Sample>, HarStats), InputError> {
    let mut samples = Vec::new();
    let stats = read_har_with(har.as_bytes(), limits, |sample| {
        samples.push(sample);
        ControlFlow::Continue(())
    })?;
    Ok((samples, stats))
}

fn b64(text: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A HAR as browsers write it: `creator` and `pages` before `entries`, a
/// key after them, and an unknown top-level key.
fn har(entries: &[String]) -> String {
    format!(
        r#"{{"comment": "x", "log": {{"version": "1.2", "creator": {{"name": "t", "version": "1"}},
        "pages": [{{"id": "p", "title": "t"}}], "entries": [{}], "browser": {{"name": "b"}}}}}}"#,
        entries.join(",\n")
    )
}

fn entry(method: &str, url: &str, status: u16, extra_request: &str, content: &str) -> String {
    format!(
        r#"{{"startedDateTime": "2026-01-01T00:00:00Z", "time": 12,
        "request": {{"method": "{method}", "url": "{url}", "httpVersion": "HTTP/1.1",
          "headers": [{{"name": ":authority", "value": "api.example.com"}},
                      {{"name": "Accept", "value": "application/json"}}],
          "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 {extra_request}}},
        "response": {{"status": {status}, "statusText": "", "httpVersion": "HTTP/1.1",
          "headers": [{{"name": "Content-Type", "value": "application/json"}}],
          "cookies": [], "content": {content}, "redirectURL": "", "headersSize": -1, "bodySize": -1}},
        "cache": {{}}, "timings": {{"send": 0, "wait": 1, "receive": 0}}}}"#
    )
}

#[test]
fn entries_become_samples_with_path_query_headers_and_bodies() {
    let entries = [
        entry(
            "GET",
            "https://api.example.com/v1/books?author=herbert&page=2",
            200,
            "",
            r#"{"size": 13, "mimeType": "application/json", "text": "[{\"id\": 1}]"}"#,
        ),
        entry(
            "POST",
            "https://api.example.com/v1/books",
            201,
            r#", "postData": {"mimeType": "application/json", "text": "{\"title\": \"Dune\"}"}"#,
            &format!(
                r#"{{"size": 9, "mimeType": "application/json; charset=utf-8", "text": "{}", "encoding": "base64"}}"#,
                b64(br#"{"id": 7}"#)
            ),
        ),
    ];
    let (samples, stats) = read(&har(&entries)).unwrap();
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.samples, 2);
    assert_eq!(stats.skipped.count, 0);
    assert!(!stats.stopped_early);

    let get = &samples[0];
    assert_eq!(get.method, "GET");
    assert_eq!(get.url, "/v1/books?author=herbert&page=2");
    assert_eq!(get.status, Some(200));
    assert_eq!(
        get.request_headers,
        vec![("Accept".to_owned(), "application/json".to_owned())],
        "pseudo-headers are left out"
    );
    assert_eq!(
        get.response_headers,
        vec![("Content-Type".to_owned(), "application/json".to_owned())]
    );
    assert_eq!(get.request_body, None);
    assert_eq!(
        get.response_body,
        Some(Body {
            mime: Some("application/json".to_owned()),
            text: r#"[{"id": 1}]"#.to_owned()
        })
    );

    let post = &samples[1];
    assert_eq!(post.method, "POST");
    assert_eq!(post.url, "/v1/books");
    assert_eq!(post.status, Some(201));
    assert_eq!(
        post.request_body,
        Some(Body {
            mime: Some("application/json".to_owned()),
            text: r#"{"title": "Dune"}"#.to_owned()
        })
    );
    assert_eq!(
        post.response_body,
        Some(Body {
            mime: Some("application/json; charset=utf-8".to_owned()),
            text: r#"{"id": 7}"#.to_owned()
        }),
        "base64 JSON is decoded"
    );
}

#[test]
fn binary_base64_bodies_are_dropped_and_counted() {
    let png = b64(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let not_utf8 = b64(b"\xff\xfe\xfd");
    let entries = [
        entry(
            "GET",
            "/logo.png",
            200,
            "",
            &format!(r#"{{"mimeType": "image/png", "text": "{png}", "encoding": "base64"}}"#),
        ),
        entry(
            "GET",
            "/t",
            200,
            "",
            &format!(r#"{{"mimeType": "text/plain", "text": "{not_utf8}", "encoding": "base64"}}"#),
        ),
        entry(
            "GET",
            "/bad",
            200,
            "",
            r#"{"mimeType": "text/plain", "text": "%%%not base64", "encoding": "base64"}"#,
        ),
        entry(
            "GET",
            "/plain",
            200,
            "",
            &format!(r#"{{"text": "{}", "encoding": "base64"}}"#, b64(b"hello")),
        ),
    ];
    let (samples, stats) = read(&har(&entries)).unwrap();
    assert_eq!(
        stats.samples, 4,
        "the entries are kept, only their bodies dropped"
    );
    assert_eq!(stats.bodies_not_text, 3);
    assert_eq!(samples[0].response_body, None);
    assert_eq!(samples[1].response_body, None);
    assert_eq!(samples[2].response_body, None);
    assert_eq!(
        samples[3].response_body,
        Some(Body {
            mime: None,
            text: "hello".to_owned()
        }),
        "no media type: decoded when the bytes are UTF-8"
    );
}

#[test]
fn missing_optional_fields_give_empty_parts() {
    let entries = [
        r#"{"request": {"method": "DELETE", "url": "https://h/v1/books/7"}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "https://h/x", "headers": []},
            "response": {"status": 0, "headers": [], "content": {"size": 0, "mimeType": "x-unknown"}}}"#
            .to_owned(),
        r#"{"request": {"method": "PUT", "url": "/v1/x", "postData": {"mimeType": "application/x-www-form-urlencoded", "params": [{"name": "a", "value": "b"}]}},
            "response": {"status": 204, "content": {"size": 0, "text": ""}}}"#
            .to_owned(),
    ];
    let (samples, stats) = read(&har(&entries)).unwrap();
    assert_eq!(stats.samples, 3);
    assert_eq!(samples[0].status, None, "no response");
    assert!(samples[0].request_headers.is_empty() && samples[0].response_headers.is_empty());
    assert_eq!(
        samples[1].status, None,
        "status 0: no response was received"
    );
    assert_eq!(samples[1].response_body, None);
    assert_eq!(samples[2].request_body, None, "form params without text");
    assert_eq!(samples[2].status, Some(204));
    assert_eq!(samples[2].response_body, None, "an empty body is no body");
}

#[test]
fn malformed_entries_are_skipped_with_their_index_and_reason() {
    let good = |path: &str| entry("GET", &format!("https://h{path}"), 200, "", "{}");
    let entries = [
        good("/first"),
        r#"{"request": "GET /secret-token-value"}"#.to_owned(),
        r#"{"request": {"url": "https://h/x"}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": 42}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "not a url"}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "/x"}, "response": {"status": 1000}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "/x"}, "response": {"status": "200"}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "/x"}, "response": {"headers": []}}"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "/x", "headers": [{"name": "a"}]}}"#.to_owned(),
        r#"{"request": {"method": "GET /x", "url": "/x"}}"#.to_owned(),
        r#"[1, 2]"#.to_owned(),
        r#"{"request": {"method": "GET", "url": "/x"}, "response": {"status": 200, "content": {"text": 5}}}"#.to_owned(),
        good("/last"),
    ];
    let (samples, stats) = read(&har(&entries)).unwrap();
    assert_eq!(stats.entries, 13);
    assert_eq!(stats.samples, 2);
    assert_eq!(
        samples.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(),
        ["/first", "/last"]
    );
    assert_eq!(stats.skipped.count, 11);
    let expected = [
        (1, SkipReason::WrongType("request")),
        (2, SkipReason::Missing("request.method")),
        (3, SkipReason::WrongType("request.url")),
        (4, SkipReason::BadUrl),
        (5, SkipReason::BadStatus),
        (6, SkipReason::WrongType("response.status")),
        (7, SkipReason::Missing("response.status")),
        (8, SkipReason::WrongType("request.headers")),
        (9, SkipReason::BadMethod),
        (10, SkipReason::NotAnObject),
        (11, SkipReason::WrongType("response.content.text")),
    ]
    .map(|(at, reason)| Skipped { at, reason });
    assert_eq!(stats.skipped.first, expected);
    let described = stats
        .skipped
        .first
        .iter()
        .map(|s| s.reason.to_string())
        .collect::<Vec<_>>();
    assert_eq!(described[0], "`request` has the wrong type");
    assert!(
        described.iter().all(|d| !d.contains("secret")),
        "reasons never carry the values they refuse: {described:?}"
    );
}

#[test]
fn skip_reasons_are_capped_but_every_skip_is_counted() {
    let entries = vec!["7".to_owned(); 150];
    let (_, stats) = read(&har(&entries)).unwrap();
    assert_eq!(stats.skipped.count, 150);
    assert_eq!(stats.skipped.first.len(), MAX_SKIP_REASONS);
}

#[test]
fn bodies_over_the_limit_are_dropped_and_counted() {
    let limits = ReadLimits {
        max_body_bytes: 16,
        ..ReadLimits::default()
    };
    let long = "x".repeat(17);
    let entries = [
        entry(
            "POST",
            "/a",
            200,
            &format!(r#", "postData": {{"mimeType": "text/plain", "text": "{long}"}}"#),
            r#"{"text": "short"}"#,
        ),
        entry(
            "GET",
            "/b",
            200,
            "",
            &format!(
                r#"{{"mimeType": "text/plain", "text": "{}", "encoding": "base64"}}"#,
                b64(long.as_bytes())
            ),
        ),
        entry(
            "GET",
            "/c",
            200,
            "",
            &format!(
                r#"{{"mimeType": "text/plain", "text": "{}", "encoding": "base64"}}"#,
                b64(&long.as_bytes()[..16])
            ),
        ),
        entry(
            "GET",
            "/d",
            200,
            "",
            &format!(
                r#"{{"mimeType": "text/plain", "text": "{}", "encoding": "base64"}}"#,
                b64("y".repeat(1000).as_bytes())
            ),
        ),
    ];
    let (samples, stats) = read_limited(&har(&entries), limits).unwrap();
    assert_eq!(stats.samples, 4);
    assert_eq!(stats.bodies_over_limit, 3);
    assert_eq!(samples[0].request_body, None);
    assert_eq!(
        samples[0].response_body.as_ref().map(|b| b.text.as_str()),
        Some("short")
    );
    assert_eq!(samples[1].response_body, None, "17 bytes once decoded");
    assert_eq!(
        samples[2].response_body.as_ref().map(|b| b.text.len()),
        Some(16),
        "at the limit"
    );
    assert_eq!(samples[3].response_body, None, "far over: not even decoded");
}

#[test]
fn the_callback_can_stop_the_read() {
    let entries: Vec<String> = (0..10)
        .map(|i| entry("GET", &format!("/n/{i}"), 200, "", "{}"))
        .collect();
    let mut seen = Vec::new();
    let stats = read_har(har(&entries).as_bytes(), |sample| {
        seen.push(sample.url);
        if seen.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, ["/n/0", "/n/1", "/n/2"]);
    assert!(stats.stopped_early);
    assert_eq!(stats.samples, 3);
}

#[test]
fn documents_that_are_not_hars_are_refused_saying_what_was_expected() {
    let cases = [
        ("[1, 2]", NotHarReason::NotAnObject),
        (r#""log""#, NotHarReason::NotAnObject),
        (r#"{"openapi": "3.1.0", "paths": {}}"#, NotHarReason::NoLog),
        (r#"{"log": "entries"}"#, NotHarReason::LogNotAnObject),
        (
            r#"{"log": {"version": "1.2", "pages": []}}"#,
            NotHarReason::NoEntries,
        ),
        (
            r#"{"log": {"entries": {"0": {}}}}"#,
            NotHarReason::EntriesNotAnArray,
        ),
        (
            "{\"method\": \"GET\", \"path\": \"/a\"}\n{\"method\": \"GET\", \"path\": \"/b\"}\n",
            NotHarReason::NoLog,
        ),
    ];
    for (document, reason) in cases {
        match read(document) {
            Err(InputError::NotHar { found }) => assert_eq!(found, reason, "{document}"),
            other => panic!("{document}: expected NotHar, got {other:?}"),
        }
    }
    let message = read(r#"{"openapi": "3.1.0"}"#).unwrap_err().to_string();
    assert_eq!(
        message,
        "not a HAR file: expected a JSON object with `log.entries` (an array), but the object has no `log` key"
    );
}

#[test]
fn an_empty_entries_array_is_a_har_with_nothing_in_it() {
    let (samples, stats) = read(r#"{"log": {"entries": []}}"#).unwrap();
    assert!(samples.is_empty());
    assert_eq!(stats, HarStats::default());
}

#[test]
fn broken_json_ends_the_read_with_its_position_and_what_was_read() {
    let good = entry("GET", "/ok", 200, "", "{}");
    let broken = format!("{{\"log\": {{\"entries\": [{good},\n{good},\n{{\"request\": nope}}]}}}}");
    let mut seen = 0;
    match read_har(broken.as_bytes(), |_| {
        seen += 1;
        ControlFlow::Continue(())
    }) {
        Err(InputError::Syntax { line, entries, .. }) => {
            assert_eq!(entries, 2);
            assert!(line > 1, "line {line}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert_eq!(seen, 2, "entries before the error were delivered");

    let cut = format!("{{\"log\": {{\"entries\": [{good}, {good}, {{\"request\": {{\"meth");
    match read(&cut) {
        Err(InputError::Truncated { entries: 2 }) => {}
        other => panic!("expected a truncated file, got {other:?}"),
    }

    match read(r#"{"log": {"entries": []}} trailing"#) {
        Err(InputError::Syntax { .. }) => {}
        other => panic!("expected trailing characters refused, got {other:?}"),
    }
}

#[test]
fn text_like_media_types() {
    for text in [
        "text/plain",
        "TEXT/HTML; charset=utf-8",
        "application/json",
        "application/problem+json",
        "application/vnd.api+json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
    ] {
        assert!(is_text_like(text), "{text}");
    }
    for binary in [
        "image/png",
        "application/octet-stream",
        "application/pdf",
        "font/woff2",
        "json",
    ] {
        assert!(!is_text_like(binary), "{binary}");
    }
}
