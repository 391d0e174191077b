//! HTTP/2 through the real binary: h2c with prior knowledge on a plain
//! listener and h2 over TLS. Well-formed traffic goes through the `h2`
//! client; malformed traffic is written frame by frame on a socket.
//! Pseudo-header abuse, rapid reset, header floods, and connections that
//! sit idle holding a slot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(listener: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config_with_listener(&up.url(), listener, ""),
    );
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

// ---------------------------------------------------------------------------
// Well-formed traffic: the h2 client.

type H2 = h2::client::SendRequest<Bytes>;

/// An h2c (prior knowledge) connection; the connection task runs in the
/// background and its end is sent on the returned channel.
async fn h2c(addr: SocketAddr) -> (H2, tokio::sync::oneshot::Receiver<Instant>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    let (done, ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = conn.await;
        let _ = done.send(Instant::now());
    });
    (send, ended)
}

/// Sends `req` (no body) and reads the whole answer: status and body.
async fn h2_get(send: &mut H2, req: http::Request<()>) -> (u16, Bytes) {
    let mut ready = send.clone().ready().await.unwrap();
    let (resp, _) = ready.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut all = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        all.extend_from_slice(&chunk);
    }
    (status, Bytes::from(all))
}

fn get(uri: &str) -> http::Request<()> {
    http::Request::get(uri).body(()).unwrap()
}

#[tokio::test]
async fn h2c_requests_are_served_and_authority_must_agree_with_host() {
    let (_dir, up, moat) = start("").await;
    let base = format!("http://{}", moat.addrs[0]);
    let (mut send, _) = h2c(moat.addrs[0]).await;
    let (status, _) = h2_get(&mut send, get(&format!("{base}/items"))).await;
    assert_eq!(status, 200);
    // `:authority` and a `host` field naming another host: two readings.
    let conflict = http::Request::get(format!("{base}/items"))
        .header("host", "evil.example")
        .body(())
        .unwrap();
    let (status, body) = h2_get(&mut send, conflict).await;
    assert_eq!(status, 400, "{body:?}");
    // The same host twice is one reading.
    let same = http::Request::get(format!("{base}/items"))
        .header("host", moat.addrs[0].to_string())
        .body(())
        .unwrap();
    assert_eq!(h2_get(&mut send, same).await.0, 200);
    assert_eq!(*up.state.seen.lock().unwrap(), ["GET /items", "GET /items"]);
}

#[tokio::test]
async fn h2_over_tls_is_negotiated_and_served() {
    let up = upstream(None).await;
    let dir = tempdir();
    let pki = pki();
    write(dir.path(), "cert.pem", &pki.cert_pem);
    write(dir.path(), "key.pem", &pki.key_pem);
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &config(&up.url(), "").replacen(
            "  - bind: 127.0.0.1:0\n",
            "  - bind: 127.0.0.1:0\n    tls: {cert: cert.pem, key: key.pem}\n",
            1,
        ),
    );
    let moat = Moat::start(dir.path());
    let url = format!("https://localhost:{}", moat.addrs[0].port());
    let c = tls_client(&pki);
    let r = c.get(format!("{url}/items")).send().await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{url}/items/a%2Fb")).send().await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 400);
    assert_eq!(*up.state.seen.lock().unwrap(), ["GET /items"]);
}

// ---------------------------------------------------------------------------
// Frames by hand.

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// RST_STREAM / GOAWAY codes.
const PROTOCOL_ERROR: u32 = 0x1;
const CANCEL: u32 = 0x8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK integer with a 7-bit prefix (no Huffman flag).
fn hpack_int(mut n: usize, out: &mut Vec<u8>) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

/// A header block of literal fields, without indexing, exactly as given
/// (order, case, repeats): what a careless or hostile client sends.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0);
        hpack_int(name.len(), &mut out);
        out.extend_from_slice(name.as_bytes());
        hpack_int(value.len(), &mut out);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

struct Frame {
    kind: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// The `:status` of a response HEADERS frame: a static-table entry, or
    /// a literal with the `:status` name and a plain or Huffman-coded value.
    fn status(&self) -> Option<u16> {
        let b = *self.payload.first()?;
        match b {
            0x88..=0x8e => Some([200, 204, 206, 304, 400, 404, 500][usize::from(b - 0x88)]),
            // A literal whose name is `:status` (static index 8-14).
            _ if b & 0x80 == 0 && (8..=14).contains(&(b & 0x0f)) => {
                let len_byte = *self.payload.get(1)?;
                let len = usize::from(len_byte & 0x7f);
                let value = self.payload.get(2..2 + len)?;
                let text = if len_byte & 0x80 == 0 {
                    String::from_utf8(value.to_vec()).ok()?
                } else {
                    huffman_digits(value)?
                };
                text.parse().ok()
            }
            _ => None,
        }
    }
}

/// Decodes an HPACK Huffman string of digits (all a status has): `0`-`2`
/// are the 5-bit codes `00000`-`00010`, `3`-`9` the 6-bit codes
/// `011001`-`011111`; the padding is all ones.
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let value = |from: usize, n: usize| {
        bits.get(from..from + n)
            .map(|b| b.iter().fold(0u8, |acc, bit| acc << 1 | bit))
    };
    let mut out = String::new();
    let mut at = 0;
    while at < bits.len() {
        if bits[at..].iter().all(|b| *b == 1) && bits.len() - at < 8 {
            break;
        }
        match value(at, 5)? {
            v @ 0..=2 => {
                out.push(char::from(b'0' + v));
                at += 5;
            }
            _ => match value(at, 6)? {
                v @ 0b011001..=0b011111 => {
                    out.push(char::from(b'3' + v - 0b011001));
                    at += 6;
                }
                _ => return None,
            },
        }
    }
    Some(out)
}

/// A raw HTTP/2 connection that has exchanged prefaces and settings.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        s.write_all(&hello).await.unwrap();
        let mut raw = Raw { s, buf: Vec::new() };
        // The server's SETTINGS; acknowledge it.
        let f = raw.next().await.expect("the server's SETTINGS");
        assert_eq!(f.kind, SETTINGS);
        raw.send(&frame(SETTINGS, 0x1, 0, &[])).await;
        raw
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may close while a flood is still being written.
        let _ = self.s.write_all(bytes).await;
    }

    /// The next frame, `None` once the server closed (or after 10 s).
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 9 {
                let len = (usize::from(self.buf[0]) << 16)
                    | (usize::from(self.buf[1]) << 8)
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        stream: u32::from_be_bytes(self.buf[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 16384];
            let n = match tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut chunk))
                .await
            {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Frames until one on `stream` (a response HEADERS or a RST_STREAM)
    /// or a GOAWAY; `None` if the server closed first.
    async fn answer(&mut self, stream: u32) -> Option<Frame> {
        while let Some(f) = self.next().await {
            if (f.stream == stream && (f.kind == HEADERS || f.kind == RST_STREAM))
                || f.kind == GOAWAY
            {
                return Some(f);
            }
        }
        None
    }
}

fn request_fields<'a>(addr: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", addr),
        (":path", path),
    ]
}

#[tokio::test]
async fn malformed_pseudo_headers_and_connection_fields_reset_the_stream() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0].to_string();
    let ok = request_fields(&addr, "/items");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("two :path", {
            let mut f = ok.clone();
            f.push((":path", "/items/1"));
            f
        }),
        ("two :method", {
            let mut f = ok.clone();
            f.insert(1, (":method", "DELETE"));
            f
        }),
        (
            "no :path",
            ok.iter().copied().filter(|f| f.0 != ":path").collect(),
        ),
        (
            "no :method",
            ok.iter().copied().filter(|f| f.0 != ":method").collect(),
        ),
        (
            "no :scheme",
            ok.iter().copied().filter(|f| f.0 != ":scheme").collect(),
        ),
        ("an empty :path", {
            let mut f = ok.clone();
            f[3] = (":path", "");
            f
        }),
        ("a pseudo-header after a field", {
            let mut f = vec![("x-before", "1")];
            f.extend(ok.iter().copied());
            f
        }),
        ("an unknown pseudo-header", {
            let mut f = ok.clone();
            f.push((":admin", "1"));
            f
        }),
        ("a response pseudo-header", {
            let mut f = ok.clone();
            f.push((":status", "200"));
            f
        }),
        ("an upper-case field name", {
            let mut f = ok.clone();
            f.push(("X-Upper", "1"));
            f
        }),
        ("connection", {
            let mut f = ok.clone();
            f.push(("connection", "keep-alive"));
            f
        }),
        ("transfer-encoding", {
            let mut f = ok.clone();
            f.push(("transfer-encoding", "chunked"));
            f
        }),
        ("keep-alive", {
            let mut f = ok.clone();
            f.push(("keep-alive", "timeout=5"));
            f
        }),
        ("upgrade", {
            let mut f = ok.clone();
            f.push(("upgrade", "websocket"));
            f
        }),
        ("proxy-connection", {
            let mut f = ok.clone();
            f.push(("proxy-connection", "keep-alive"));
            f
        }),
        ("te other than trailers", {
            let mut f = ok.clone();
            f.push(("te", "gzip"));
            f
        }),
        ("a field name with a space", {
            let mut f = ok.clone();
            f.push(("x y", "1"));
            f
        }),
        ("a value with a CR LF", {
            let mut f = ok.clone();
            f.push(("x-a", "1\r\nx-b: 2"));
            f
        }),
    ];
    let mut wrong = Vec::new();
    for (what, fields) in &cases {
        let mut raw = Raw::open(moat.addrs[0]).await;
        raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block(fields)))
            .await;
        // Refused as a malformed stream (RST_STREAM or GOAWAY with
        // PROTOCOL_ERROR), or answered 400 by moat; never forwarded.
        match raw.answer(1).await {
            Some(f) if f.kind == RST_STREAM || f.kind == GOAWAY => {
                if f.code() != PROTOCOL_ERROR {
                    wrong.push(format!("{what}: code {}", f.code()));
                }
            }
            Some(f) if f.status() == Some(400) => {}
            Some(f) => wrong.push(format!("{what}: frame {} status {:?}", f.kind, f.status())),
            None => wrong.push(format!("{what}: closed without an answer")),
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert_eq!(*up.state.seen.lock().unwrap(), Vec::<String>::new());

    // The same client, well-formed, is served: the cases above failed for
    // what they are, not for the framing of the test.
    let mut raw = Raw::open(moat.addrs[0]).await;
    raw.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block(&ok)))
        .await;
    let f = raw.answer(1).await.unwrap();
    assert_eq!((f.kind, f.status()), (HEADERS, Some(200)));
    assert_eq!(*up.state.seen.lock().unwrap(), ["GET /items"]);
}

#[tokio::test]
async fn rapid_reset_ends_the_connection_and_bounds_what_reaches_the_upstream() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0].to_string();
    let mut raw = Raw::open(moat.addrs[0]).await;
    let fields = block(&request_fields(&addr, "/items"));
    let streams = 2000u32;
    let mut burst = Vec::new();
    for i in 0..streams {
        let id = 2 * i + 1;
        burst.extend(frame(HEADERS, END_STREAM | END_HEADERS, id, &fields));
        burst.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    raw.send(&burst).await;
    let mut goaway = None;
    while let Some(f) = raw.next().await {
        if f.kind == GOAWAY {
            goaway = Some(f.code());
        }
    }
    // ENHANCE_YOUR_CALM (0xb) and then the connection closes.
    assert_eq!(goaway, Some(0xb));
    let reached = up.hits();
    eprintln!("rapid reset: {reached} of {streams} requests reached the upstream");
    assert!(
        reached < 200,
        "{reached} of {streams} reset requests reached the upstream"
    );
}

#[tokio::test]
async fn header_floods_are_cut_off() {
    let (_dir, up, moat) = start("").await;
    let addr = moat.addrs[0].to_string();

    // CONTINUATION frames without END_HEADERS, forever: the header list
    // limit ends it, long before the client stops.
    let mut raw = Raw::open(moat.addrs[0]).await;
    raw.send(&frame(
        HEADERS,
        END_STREAM,
        1,
        &block(&request_fields(&addr, "/items")),
    ))
    .await;
    let filler = block(&[("x-filler", &"a".repeat(4000))]);
    let mut sent = 0usize;
    let mut closed_after = None;
    for _ in 0..2000 {
        if raw
            .s
            .write_all(&frame(CONTINUATION, 0, 1, &filler))
            .await
            .is_err()
        {
            closed_after = Some(sent);
            break;
        }
        sent += filler.len();
    }
    eprintln!("CONTINUATION flood: {sent} bytes written, write failed: {closed_after:?}");
    let mut ended = false;
    while let Some(f) = raw.next().await {
        assert!(f.kind != HEADERS || f.status() != Some(200));
        if f.kind == GOAWAY || f.kind == RST_STREAM {
            ended = true;
        }
    }
    assert!(
        ended || closed_after.is_some(),
        "the server read {sent} bytes of CONTINUATION and kept the connection"
    );

    // One HEADERS frame with a huge header list.
    let mut raw = Raw::open(moat.addrs[0]).await;
    let mut fields = request_fields(&addr, "/items");
    let big = "b".repeat(1000);
    for _ in 0..64 {
        fields.push(("x-big", &big));
    }
    let header_block = block(&fields);
    // In frames of at most the default 16 KiB.
    let mut chunks = header_block.chunks(16_000).peekable();
    let first = chunks.next().unwrap();
    let mut bytes = frame(
        HEADERS,
        END_STREAM
            | if chunks.peek().is_none() {
                END_HEADERS
            } else {
                0
            },
        1,
        first,
    );
    while let Some(c) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        bytes.extend(frame(CONTINUATION, flags, 1, c));
    }
    raw.send(&bytes).await;
    match raw.answer(1).await {
        Some(f) if f.kind == HEADERS => assert_eq!(f.status(), Some(431), "{:x?}", f.payload),
        Some(_) | None => {}
    }
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_its_idle_time() {
    let (_dir, up, moat) = start("    http2_idle_timeout: 1s\n").await;
    let base = format!("http://{}", moat.addrs[0]);
    let (mut send, ended) = h2c(moat.addrs[0]).await;
    let (status, _) = h2_get(&mut send, get(&format!("{base}/items"))).await;
    assert_eq!(status, 200);
    let idle_from = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("the idle connection was closed")
        .unwrap();
    assert!(closed - idle_from >= Duration::from_millis(900));
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn an_http2_connection_with_an_open_stream_is_not_closed_as_idle() {
    let (_dir, up, moat) = start("    http2_idle_timeout: 1s\n").await;
    let base = format!("http://{}", moat.addrs[0]);
    let (send, _) = h2c(moat.addrs[0]).await;
    // `/download` sends its first 64 KiB, then waits until released.
    let mut ready = send.ready().await.unwrap();
    let (resp, _) = ready
        .send_request(get(&format!("{base}/download")), true)
        .unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.data().await.unwrap().unwrap();
    let _ = body.flow_control().release_capacity(first.len());
    // Three idle times with the stream open, then the rest.
    tokio::time::sleep(Duration::from_secs(3)).await;
    up.state.download_resume.notify_one();
    let mut total = first.len();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the stream was not cut");
        let _ = body.flow_control().release_capacity(chunk.len());
        total += chunk.len();
    }
    assert_eq!(total, 256 * 64 * 1024);
}

#[tokio::test]
async fn an_idle_http1_connection_is_closed_after_the_header_read_timeout() {
    let (_dir, _up, moat) = start("    header_read_timeout: 1s\n").await;
    let mut s = TcpStream::connect(moat.addrs[0]).await.unwrap();
    s.write_all(b"GET /items HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // Read the answer (framed by its length), then wait on the idle
    // keep-alive connection.
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let idle_from = loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&chunk[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if got.len() == end + 4 + len {
            assert!(head.starts_with("http/1.1 200"), "{head}");
            break Instant::now();
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
        .await
        .expect("the idle connection was closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(idle_from.elapsed() >= Duration::from_millis(900));
}
