//! HTTP/1.1 framing attacks through the real binary: every request is
//! written as raw bytes, followed where it matters by a second request a
//! confused parser would take from the first one's body. For each, what
//! the client gets and exactly what the upstream (which records every
//! request) received: nothing, or the one request read the one way moat
//! reads it, never a smuggled second one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// A request a parser that reads the framing otherwise would find after
/// the first request's body. `/items/{id}` is documented, so moat would
/// forward it if it ever read it as a request.
const SMUGGLED: &str = "GET /items/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// `POST /items` (text) with `fields` (lines, each ending in CRLF) and the
/// raw `body` after the head.
fn post(fields: &str, body: &str) -> String {
    format!(
        "POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n{fields}\r\n{body}"
    )
}

/// A chunked `hello`.
const CHUNKED_HELLO: &str = "5\r\nhello\r\n0\r\n\r\n";

/// What one case must come to.
#[derive(Clone, Copy)]
struct Expect {
    /// The status of every answer the client gets, in order.
    statuses: &'static [u16],
    /// Every request the upstream receives (method, path and query).
    upstream: &'static [&'static str],
    /// The body the upstream echoes back, when it gets a request.
    body: Option<&'static str>,
}

const REFUSED: Expect = Expect {
    statuses: &[400],
    upstream: &[],
    body: None,
};

const HELLO: Expect = Expect {
    statuses: &[200],
    upstream: &["POST /items"],
    body: Some("hello"),
};

async fn start() -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    // An idle keep-alive connection is closed after a second: the end of
    // what the client is answered.
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener(&up.url(), "    header_read_timeout: 1s\n", ""),
    );
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// Sends each case on its own connection and checks the answers and what
/// the upstream received; reports every case that differs at once.
async fn run(cases: Vec<(&str, String, Expect)>) {
    let (_dir, up, moat) = start().await;
    let mut wrong = Vec::new();
    for (what, bytes, expect) in cases {
        let before = up.hits();
        let answers = raw_exchange(moat.addrs[0], bytes.as_bytes()).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        let seen: Vec<String> = up.state.seen.lock().unwrap()[before..].to_vec();
        if statuses != expect.statuses || seen != expect.upstream {
            wrong.push(format!(
                "{what}: answers {statuses:?} (want {:?}), upstream saw {seen:?} (want {:?}); {:?}",
                expect.statuses,
                expect.upstream,
                answers.first().map(|a| &a.body)
            ));
            continue;
        }
        if let Some(body) = expect.body {
            let echo = answers[0].json();
            if echo["body"] != body {
                wrong.push(format!(
                    "{what}: the upstream got the body {}",
                    echo["body"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_pipelined_second_request_is_served_when_it_is_one() {
    // The control: a second request after a body that ends where its
    // length says is a request, and the harness sees both.
    run(vec![(
        "two pipelined requests",
        format!("{}{SMUGGLED}", post("Content-Length: 5\r\n", "hello")),
        Expect {
            statuses: &[200, 200],
            upstream: &["POST /items", "GET /items/smuggled"],
            body: Some("hello"),
        },
    )])
    .await;
}

#[tokio::test]
async fn content_length_and_transfer_encoding_together_are_read_as_chunked_and_close() {
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, which is
    // dropped, and the connection is closed after the answer; what a
    // Content-Length reader would take for a second request is never read.
    let cl_te = format!(
        "{}{SMUGGLED}",
        post(
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
            CHUNKED_HELLO
        )
    );
    let te_cl = format!(
        "{}{SMUGGLED}",
        post(
            "Transfer-Encoding: chunked\r\nContent-Length: 64\r\n",
            CHUNKED_HELLO
        )
    );
    // The classic CL.TE: the length covers the chunked terminator and the
    // smuggled request.
    let body = format!("0\r\n\r\n{SMUGGLED}");
    let classic = post(
        &format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            body.len()
        ),
        &body,
    );
    let empty = Expect {
        statuses: &[200],
        upstream: &["POST /items"],
        body: Some(""),
    };
    run(vec![
        ("Content-Length then Transfer-Encoding", cl_te, HELLO),
        ("Transfer-Encoding then Content-Length", te_cl, HELLO),
        ("CL.TE with the request in the length", classic, empty),
    ])
    .await;
}

#[tokio::test]
async fn content_length_must_be_one_decimal_number() {
    let cl = |fields: &str, body: &str| format!("{}{SMUGGLED}", post(fields, body));
    let mut cases = vec![
        (
            "two equal Content-Lengths",
            cl("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            Expect {
                statuses: &[200, 200],
                upstream: &["POST /items", "GET /items/smuggled"],
                body: Some("hello"),
            },
        ),
        (
            "Content-Length with spaces around it",
            cl("Content-Length:  5 \r\n", "hello"),
            Expect {
                statuses: &[200, 200],
                upstream: &["POST /items", "GET /items/smuggled"],
                body: Some("hello"),
            },
        ),
        (
            "two different Content-Lengths",
            cl("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
            REFUSED,
        ),
        (
            "different Content-Lengths, the longer first",
            cl("Content-Length: 6\r\nContent-Length: 5\r\n", "hello!"),
            REFUSED,
        ),
        (
            "a list of lengths",
            cl("Content-Length: 5, 5\r\n", "hello"),
            REFUSED,
        ),
    ];
    for bad in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5.0",
        "5e0",
        "\u{0}5",
        "99999999999999999999",
        "18446744073709551616",
    ] {
        cases.push((
            "an invalid Content-Length",
            cl(&format!("Content-Length: {bad}\r\n"), "hello"),
            REFUSED,
        ));
    }
    run(cases).await;
}

#[tokio::test]
async fn transfer_encoding_is_chunked_alone_or_refused() {
    let te = |fields: &str| format!("{}{SMUGGLED}", post(fields, CHUNKED_HELLO));
    let unsupported = Expect {
        statuses: &[501],
        upstream: &[],
        body: None,
    };
    let mut cases = vec![
        // Spellings of `chunked` itself: case-insensitive, with optional
        // white space (space or tab) around it. The connection then stays
        // open, so the request after it is a request.
        (
            "Chunked",
            te("Transfer-Encoding: Chunked\r\n"),
            Expect {
                statuses: &[200, 200],
                upstream: &["POST /items", "GET /items/smuggled"],
                body: Some("hello"),
            },
        ),
        (
            "a space before chunked",
            te("Transfer-Encoding:  chunked\r\n"),
            Expect {
                statuses: &[200, 200],
                upstream: &["POST /items", "GET /items/smuggled"],
                body: Some("hello"),
            },
        ),
        (
            "a tab before chunked",
            te("Transfer-Encoding:\tchunked\r\n"),
            Expect {
                statuses: &[200, 200],
                upstream: &["POST /items", "GET /items/smuggled"],
                body: Some("hello"),
            },
        ),
        // Codings moat cannot remove: the body would be forwarded still
        // coded.
        (
            "gzip then chunked in two fields",
            te("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            unsupported,
        ),
        (
            "chunked twice in two fields",
            te("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
            Expect {
                statuses: &[501],
                upstream: &[],
                body: None,
            },
        ),
        (
            "chunked, chunked",
            te("Transfer-Encoding: chunked, chunked\r\n"),
            Expect {
                statuses: &[501],
                upstream: &[],
                body: None,
            },
        ),
    ];
    // Not ending in `chunked`: no way to find the end of the body.
    for bad in [
        "chunked, identity",
        "xchunked",
        "chunkedx",
        "chunked;q=1.0",
        "chunked;q=",
        "identity",
        "\"chunked\"",
        "chunked\r\nTransfer-Encoding: gzip",
        "ch unked",
    ] {
        cases.push((
            "a Transfer-Encoding that does not end in chunked",
            te(&format!("Transfer-Encoding: {bad}\r\n")),
            REFUSED,
        ));
    }
    cases.push((
        "Transfer-Encoding in HTTP/1.0",
        format!(
            "POST /items HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n{CHUNKED_HELLO}{SMUGGLED}"
        ),
        REFUSED,
    ));
    run(cases).await;
}

#[tokio::test]
async fn heads_with_folded_lines_or_stray_line_ends_are_refused() {
    let get = |fields: &str| format!("GET /items HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n");
    run(vec![
        (
            "an obs-fold continuation",
            get("X-Note: a\r\n b\r\n"),
            REFUSED,
        ),
        (
            "a folded Transfer-Encoding",
            format!(
                "{}{SMUGGLED}",
                post(
                    "Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n",
                    "hello"
                )
            ),
            REFUSED,
        ),
        ("a tab-folded line", get("X-Note: a\r\n\tb\r\n"), REFUSED),
        ("a bare CR in a value", get("X-Note: a\rb\r\n"), REFUSED),
        (
            "a bare CR ending a field",
            get("X-Note: a\rTransfer-Encoding: chunked\r\n"),
            REFUSED,
        ),
        (
            "a bare CR in the request line",
            "GET /items HTTP/1.1\rHost: localhost\r\n\r\n".into(),
            REFUSED,
        ),
        (
            "a space before the colon",
            get("Transfer-Encoding : chunked\r\n"),
            REFUSED,
        ),
        // A bare LF ends a line (RFC 9112 §2.2 lets a recipient read it so);
        // the request forwarded is written with CRLF, so the upstream reads
        // the same lines.
        (
            "bare LF line ends",
            "GET /items HTTP/1.1\nHost: localhost\nX-Note: a\n\n".into(),
            Expect {
                statuses: &[200],
                upstream: &["GET /items"],
                body: None,
            },
        ),
    ])
    .await;
}

#[tokio::test]
async fn chunk_sizes_and_extensions_are_read_once() {
    let chunked =
        |body: &str| format!("{}{SMUGGLED}", post("Transfer-Encoding: chunked\r\n", body));
    let both = Expect {
        statuses: &[200, 200],
        upstream: &["POST /items", "GET /items/smuggled"],
        body: Some("hello"),
    };
    let long = "x".repeat(20 * 1024);
    run(vec![
        (
            "a chunk size over 64 bits",
            chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"),
            REFUSED,
        ),
        (
            "a negative chunk size",
            chunked("-5\r\nhello\r\n0\r\n\r\n"),
            REFUSED,
        ),
        (
            "a chunk size with a 0x prefix",
            chunked("0x5\r\nhello\r\n0\r\n\r\n"),
            REFUSED,
        ),
        (
            "a chunk longer than its size",
            chunked("3\r\nhello\r\n0\r\n\r\n"),
            REFUSED,
        ),
        (
            "a chunk extension",
            chunked("5;name=value\r\nhello\r\n0\r\n\r\n"),
            both,
        ),
        (
            "a quoted chunk extension",
            chunked("5;name=\"a;b \\\" c\"\r\nhello\r\n0;x=\"y\"\r\n\r\n"),
            both,
        ),
        (
            "a 20 KiB chunk extension",
            chunked(&format!("5;{long}\r\nhello\r\n0\r\n\r\n")),
            REFUSED,
        ),
        (
            "a bare LF in a chunk extension",
            chunked("5;a\nb\r\nhello\r\n0\r\n\r\n"),
            REFUSED,
        ),
    ])
    .await;
}

#[tokio::test]
async fn trailers_never_reach_the_upstream() {
    // Framing and credentials in trailers: read with the body and dropped,
    // never merged into the head nor forwarded.
    let trailers = "5\r\nhello\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nX-Trailer: t\r\n\r\n";
    let (_dir, up, moat) = start().await;
    let bytes = format!(
        "{}{SMUGGLED}",
        post(
            "Transfer-Encoding: chunked\r\nTrailer: Content-Length, Transfer-Encoding, Host, Authorization, X-Trailer\r\n",
            trailers
        )
    );
    let answers = raw_exchange(moat.addrs[0], bytes.as_bytes()).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200]);
    let echo = answers[0].json();
    assert_eq!(echo["body"], "hello");
    let headers = echo["headers"].as_object().unwrap();
    for name in ["authorization", "x-trailer", "trailer", "transfer-encoding"] {
        assert!(!headers.contains_key(name), "{name}: {headers:?}");
    }
    assert_ne!(headers["host"], "evil.example");
    assert_eq!(
        *up.state.seen.lock().unwrap(),
        ["POST /items", "GET /items/smuggled"]
    );
}

#[tokio::test]
async fn the_target_and_host_name_one_host() {
    let target = |t: &str, fields: &str| format!("GET {t} HTTP/1.1\r\n{fields}\r\n");
    run(vec![
        (
            "an absolute-form target matching Host",
            target("http://localhost/items", "Host: localhost\r\n"),
            Expect {
                statuses: &[200],
                upstream: &["GET /items"],
                body: None,
            },
        ),
        (
            "an absolute-form target with a port, matching Host",
            target("http://LOCALHOST:80/items?a=1", "Host: localhost\r\n"),
            Expect {
                statuses: &[200],
                upstream: &["GET /items?a=1"],
                body: None,
            },
        ),
        (
            "an absolute-form target not matching Host",
            target("http://evil.example/items", "Host: localhost\r\n"),
            REFUSED,
        ),
        (
            "an absolute-form target with user information",
            target("http://user:pw@localhost/items", "Host: localhost\r\n"),
            REFUSED,
        ),
        (
            "an absolute-form target with user information for another host",
            target("http://localhost@evil.example/items", "Host: localhost\r\n"),
            REFUSED,
        ),
        (
            "two Hosts",
            target("/items", "Host: localhost\r\nHost: evil.example\r\n"),
            REFUSED,
        ),
        (
            "two equal Hosts",
            target("/items", "Host: localhost\r\nHost: localhost\r\n"),
            REFUSED,
        ),
        ("no Host", target("/items", ""), REFUSED),
        (
            "a Host list",
            target("/items", "Host: localhost, evil.example\r\n"),
            REFUSED,
        ),
        (
            "a Host with user information",
            target("/items", "Host: user@localhost\r\n"),
            REFUSED,
        ),
    ])
    .await;
}
