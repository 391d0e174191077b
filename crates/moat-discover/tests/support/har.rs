//! Generated HAR files of a chosen size, written as they are generated (the
//! generator itself holds one entry at a time).

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Writes a HAR of about `bytes` bytes to `out` and returns how many
/// entries it holds. Entries cycle through a GET with a query and a JSON
/// list, a POST with a JSON body, and a GET whose JSON answer is base64.
pub fn write_har(out: &mut impl Write, bytes: u64) -> io::Result<u64> {
    let mut counted = Counting { out, written: 0 };
    counted.write_all(
        br#"{"log": {"version": "1.2", "creator": {"name": "generator", "version": "1"}, "pages": [], "entries": ["#,
    )?;
    let mut entries = 0u64;
    while counted.written < bytes {
        if entries > 0 {
            counted.write_all(b",\n")?;
        }
        write_entry(&mut counted, entries)?;
        entries += 1;
    }
    counted.write_all(b"]}}\n")?;
    counted.flush()?;
    Ok(entries)
}

fn write_entry(out: &mut impl Write, n: u64) -> io::Result<()> {
    let list: String = (0..8)
        .map(|i| format!(r#"{{\"id\": {}, \"title\": \"Book number {i}\", \"author\": \"Someone\", \"year\": 1965}}"#, n * 8 + i))
        .collect::<Vec<_>>()
        .join(", ");
    let (method, url, post, content) = match n % 3 {
        0 => (
            "GET",
            format!(
                "https://api.example.com/v1/books?author=a{n}&page={}",
                n % 17
            ),
            String::new(),
            format!(r#"{{"size": 600, "mimeType": "application/json", "text": "[{list}]"}}"#),
        ),
        1 => (
            "POST",
            "https://api.example.com/v1/books".to_owned(),
            format!(
                r#", "postData": {{"mimeType": "application/json", "text": "{{\"title\": \"Book {n}\", \"year\": 1965}}"}}"#
            ),
            format!(r#"{{"size": 20, "mimeType": "application/json", "text": "{{\"id\": {n}}}"}}"#),
        ),
        _ => (
            "GET",
            format!("https://api.example.com/v1/books/{n}"),
            String::new(),
            format!(
                r#"{{"size": 80, "mimeType": "application/json", "text": "{}", "encoding": "base64"}}"#,
                STANDARD.encode(
                    format!(
                        r#"{{"id": {n}, "title": "Book {n}", "author": "Someone", "year": 1965}}"#
                    )
                    .as_bytes()
                )
            ),
        ),
    };
    write!(
        out,
        r#"{{"startedDateTime": "2026-12-01T10:00:00.000Z", "time": 12.5,
 "request": {{"method": "{method}", "url": "{url}", "httpVersion": "HTTP/2",
  "headers": [{{"name": ":authority", "value": "api.example.com"}}, {{"name": "accept", "value": "application/json"}}, {{"name": "user-agent", "value": "Mozilla/5.0 (X11; Linux x86_64)"}}, {{"name": "authorization", "value": "Bearer token-{n}"}}],
  "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0{post}}},
 "response": {{"status": 200, "statusText": "", "httpVersion": "HTTP/2",
  "headers": [{{"name": "content-type", "value": "application/json"}}, {{"name": "cache-control", "value": "no-store"}}, {{"name": "date", "value": "Tue, 01 Dec 2026 10:00:00 GMT"}}],
  "cookies": [], "content": {content}, "redirectURL": "", "headersSize": -1, "bodySize": -1}},
 "cache": {{}}, "timings": {{"blocked": 0.1, "dns": -1, "connect": -1, "send": 0.1, "wait": 10, "receive": 0.3, "ssl": -1}}}}"#
    )
}

struct Counting<'w, W> {
    out: &'w mut W,
    written: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
