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
