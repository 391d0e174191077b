//! Taking a request apart into the values inspection looks at.

use crate::engine::{Hints, Inspector};
use crate::report::{Location, Report, ValueKind};

/// The headers whose values are inspected: the ones applications read or
/// log. Others (`accept`, `content-length`, …) are protocol, and
/// credentials are never inspected (their content is the credential).
pub const INSPECTED_HEADERS: &[&str] = &[
    "user-agent",
    "referer",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "origin",
    "x-api-version",
    "x-requested-with",
];

/// The parts of a request, as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The path, percent-encoded as received.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// Header names (lower case) and values.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body's media type (without parameters, lower case) and bytes,
    /// when the caller has the body in memory.
    pub body: Option<(&'a str, &'a [u8])>,
    /// The `boundary` parameter of a `multipart/form-data` body.
    pub boundary: Option<&'a str>,
}

/// Hints for each place of a request, from the API's document.
pub trait HintSource {
    /// Hints for a query parameter, path parameter, header or cookie.
    fn param(&self, part: &'static str, name: &str) -> Hints;
    /// Hints for a JSON pointer into the body.
    fn body(&self, pointer: &str) -> Hints;
}

/// No hints: every value is free text.
pub struct NoHints;

impl HintSource for NoHints {
    fn param(&self, _: &'static str, _: &str) -> Hints {
        Hints::default()
    }
    fn body(&self, _: &str) -> Hints {
        Hints::default()
    }
}

/// Why a body could not be inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// A JSON body that does not parse.
    Json,
}

impl Inspector {
    /// Inspects every place of a request: path segments, query names and
    /// values, [`INSPECTED_HEADERS`], cookies, and JSON or form bodies.
    /// Other media types are left to their own inspectors (GraphQL, XML).
    pub fn inspect_request(
        &self,
        parts: &RequestParts<'_>,
        hints: &dyn HintSource,
        report: &mut Report,
    ) -> Result<(), BodyError> {
        for (i, segment) in parts.path.split('/').filter(|s| !s.is_empty()).enumerate() {
            let decoded = percent_decode(segment);
            self.inspect_value(
                &Location::new("path", i.to_string()),
                &decoded,
                ValueKind::Path,
                &Hints::default(),
                report,
            );
        }
        if let Some(q) = parts.query {
            self.inspect_form(q, "query", ValueKind::Query, hints, report);
        }
        for (name, value) in parts.headers {
            if *name == "cookie" {
                for pair in value.split(';') {
                    let (k, v) = pair.trim().split_once('=').unwrap_or((pair.trim(), ""));
                    let h = hints.param("cookie", k);
                    self.inspect_value(
                        &Location::new("cookie", k),
                        v,
                        ValueKind::Cookie,
                        &h,
                        report,
                    );
                }
            } else if INSPECTED_HEADERS.contains(name) {
                let h = hints.param("header", name);
                self.inspect_value(
                    &Location::new("header", *name),
                    value,
                    ValueKind::Header,
                    &h,
                    report,
                );
            }
        }
        if let Some((media, body)) = parts.body {
            if media == "application/json" || media.ends_with("+json") {
                let value: serde_json::Value =
                    serde_json::from_slice(body).map_err(|_| BodyError::Json)?;
                self.inspect_json(&value, &|p| hints.body(p), report);
            } else if media == "application/x-www-form-urlencoded" {
                let text = String::from_utf8_lossy(body);
                self.inspect_form(&text, "body", ValueKind::FormField, hints, report);
            } else if media == "multipart/form-data" {
                if let Some(boundary) = parts.boundary {
                    self.inspect_multipart(body, boundary, hints, report);
                }
            } else if media.starts_with("text/") {
                let text = String::from_utf8_lossy(body);
                self.inspect_value(
                    &Location::body(""),
                    &text,
                    ValueKind::FormField,
                    &Hints::default(),
                    report,
                );
            }
        }
        Ok(())
    }

    /// Inspects the fields of a `multipart/form-data` body: each part's
    /// name, file name, and value when it is text (no `Content-Type`, or a
    /// `text/*` one). File contents of other types are not inspected.
    fn inspect_multipart(
        &self,
        body: &[u8],
        boundary: &str,
        hints: &dyn HintSource,
        report: &mut Report,
    ) {
        for part in multipart_parts(body, boundary) {
            let name = part.name.unwrap_or_default();
            self.inspect_value(
                &Location::new("body", format!("{name}#name")),
                name,
                ValueKind::ParamName,
                &Hints::default(),
                report,
            );
            if let Some(file) = part.filename {
                self.inspect_value(
                    &Location::new("body", format!("{name}#filename")),
                    file,
                    ValueKind::FormField,
                    &Hints::default(),
                    report,
                );
            }
            let text = part
                .content_type
                .is_none_or(|c| c.to_ascii_lowercase().starts_with("text/"));
            if text {
                let value = String::from_utf8_lossy(part.data);
                let h = hints.body(&format!("/{name}"));
                self.inspect_value(
                    &Location::new("body", name),
                    &value,
                    ValueKind::FormField,
                    &h,
                    report,
                );
            }
        }
    }

    /// Inspects `a=b&c=d` names and values.
    fn inspect_form(
        &self,
        text: &str,
        part: &'static str,
        kind: ValueKind,
        hints: &dyn HintSource,
        report: &mut Report,
    ) {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(k);
            let value = form_decode(v);
            self.inspect_value(
                &Location::new(part, format!("{name}#name")),
                &name,
                ValueKind::ParamName,
                &Hints::default(),
                report,
            );
            let h = if part == "query" {
                hints.param("query", &name)
            } else {
                hints.body(&format!("/{name}"))
            };
            self.inspect_value(&Location::new(part, name.clone()), &value, kind, &h, report);
        }
    }
}

/// `+` as space, then percent-decoding (once: the normaliser decodes
/// further layers).
fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// One round of percent-decoding; invalid escapes are kept as they are,
/// invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return s.to_string();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// One part of a `multipart/form-data` body.
struct Part<'a> {
    name: Option<&'a str>,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    data: &'a [u8],
}

/// Most parts read from one body.
const MAX_PARTS: usize = 1000;

/// The parts of a multipart body (RFC 7578), in one pass; a malformed body
/// yields the parts read before the damage.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<Part<'a>> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut parts = Vec::new();
    let Some(mut at) = find(body, d, 0) else {
        return parts;
    };
    while parts.len() < MAX_PARTS {
        let mut start = at + d.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        // The rest of the delimiter line.
        match find(body, b"\r\n", start) {
            Some(eol) => start = eol + 2,
            None => break,
        }
        let Some(head_end) = find(body, b"\r\n\r\n", start) else {
            break;
        };
        let head = std::str::from_utf8(&body[start..head_end]).unwrap_or_default();
        let data_start = head_end + 4;
        let Some(next) = find(body, d, data_start) else {
            break;
        };
        let data_end = next.saturating_sub(2).max(data_start);
        let mut part = Part {
            name: None,
            filename: None,
            content_type: None,
            data: &body[data_start..data_end],
        };
        for line in head.split("\r\n") {
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            if field.trim().eq_ignore_ascii_case("content-disposition") {
                part.name = disposition_param(value, "name");
                part.filename = disposition_param(value, "filename");
            } else if field.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim());
            }
        }
        parts.push(part);
        at = next;
    }
    parts
}

/// A `name="value"` parameter of a `Content-Disposition` value.
fn disposition_param<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"'))
    })
}

/// The first position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InspectOptions;

    #[test]
    fn multipart_fields_are_inspected() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello O'Brien\r\n--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' UNION SELECT password FROM users--\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG' OR '1'='1\r\n--XyZ--\r\n";
        let parts = multipart_parts(body, "XyZ");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, Some("title"));
        assert_eq!(parts[0].data, b"Hello O'Brien");
        assert_eq!(parts[2].filename, Some("a.png"));
        let inspector = Inspector::new(InspectOptions::default());
        let mut report = Report::default();
        let req = RequestParts {
            path: "/upload",
            query: None,
            headers: &[],
            body: Some(("multipart/form-data", body)),
            boundary: Some("XyZ"),
        };
        inspector
            .inspect_request(&req, &NoHints, &mut report)
            .unwrap();
        assert!(inspector.blocks(&report));
        let places: Vec<String> = report
            .findings()
            .iter()
            .map(|f| f.location.to_string())
            .collect();
        assert_eq!(places, ["body:q"], "binary file contents are not inspected");
        // Malformed bodies yield what was read, never panic.
        for bad in [
            &b"--XyZ"[..],
            b"--XyZ\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx",
            b"",
            b"no boundary here",
        ] {
            let _ = multipart_parts(bad, "XyZ");
        }
    }
}
