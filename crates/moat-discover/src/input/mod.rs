//! Reading observed traffic: HAR files and JSON-lines access logs, one
//! exchange at a time.
//!
//! Both readers stream: a HAR's `log.entries` are deserialized one entry at
//! a time and a log is read one line at a time, so memory stays bounded by
//! the largest entry or line (plus the caller's own state), not by the
//! file. Each exchange is handed to a callback as a [`Sample`]; the
//! callback returns [`ControlFlow::Break`](std::ops::ControlFlow) to stop
//! early.
//!
//! Malformed entries and lines are skipped and counted, with the position
//! and a [`SkipReason`] kept for the first [`MAX_SKIP_REASONS`]. Reasons
//! name fields, never their values: traffic carries credentials.
//!
//! - [`har`]: HTTP Archive files (`log.entries[]`), with request and
//!   response headers and text-like bodies.
//! - [`jsonl`]: one JSON object per line: moat's own access log, or any log
//!   with `method`, `path` or `url`, and `status`.

pub mod har;
pub mod jsonl;

use std::fmt;

pub use har::{HarStats, read_har, read_har_with};
pub use jsonl::{JsonlStats, read_jsonl, read_jsonl_with};

/// At most this many skipped entries or lines keep their reason.
pub const MAX_SKIP_REASONS: usize = 100;

/// Bodies longer than this (decoded) are dropped by default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Log lines longer than this are skipped by default.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// One observed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The request method, as sent (`GET`, `POST`, …).
    pub method: String,
    /// The request target in origin form: path and query as sent, without
    /// scheme, authority or fragment (`/v1/users?page=2`).
    pub url: String,
    /// The API's response status; `None` when there was no response from
    /// the API (a HAR entry with status 0, a request the gateway answered
    /// itself).
    pub status: Option<u16>,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub request_body: Option<Body>,
    pub response_body: Option<Body>,
}

/// A text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The declared media type, as written (`application/json; charset=utf-8`).
    pub mime: Option<String>,
    /// The body as text (HAR base64 bodies decoded when text-like).
    pub text: String,
}

/// Limits applied while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bodies longer than this many bytes (decoded) are dropped and counted.
    pub max_body_bytes: usize,
    /// Log lines longer than this many bytes are skipped and counted; the
    /// rest of such a line is read past without being kept.
    pub max_line_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// Why an entry or a line was skipped. Names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry or line is not a JSON object.
    NotAnObject,
    /// The line is not well-formed JSON.
    NotJson,
    /// The line is longer than [`ReadLimits::max_line_bytes`].
    TooLong,
    /// A required field is missing.
    Missing(&'static str),
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// The method is not an HTTP token.
    BadMethod,
    /// The URL is neither absolute (`http(s)://…`) nor origin-form (`/…`).
    BadUrl,
    /// The status is not a number from 100 to 599 (or 0 for none).
    BadStatus,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotAnObject => f.write_str("not a JSON object"),
            SkipReason::NotJson => f.write_str("not well-formed JSON"),
            SkipReason::TooLong => f.write_str("longer than the line limit"),
            SkipReason::Missing(field) => write!(f, "`{field}` is missing"),
            SkipReason::WrongType(field) => write!(f, "`{field}` has the wrong type"),
            SkipReason::BadMethod => f.write_str("the method is not an HTTP method token"),
            SkipReason::BadUrl => f.write_str("the URL is neither absolute nor a path"),
            SkipReason::BadStatus => f.write_str("the status is not an HTTP status code"),
        }
    }
}

/// One skipped entry (HAR: its index in `log.entries`, from 0) or line
/// (JSON lines: its line number, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub at: u64,
    pub reason: SkipReason,
}

/// Skipped items: all counted, the first [`MAX_SKIP_REASONS`] kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skips {
    pub count: u64,
    pub first: Vec<Skipped>,
}

impl Skips {
    pub(crate) fn record(&mut self, at: u64, reason: SkipReason) {
        self.count += 1;
        if self.first.len() < MAX_SKIP_REASONS {
            self.first.push(Skipped { at, reason });
        }
    }
}

/// Why reading stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading the input failed: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not well-formed JSON where a HAR was being read.
    #[error("not well-formed JSON at line {line}, column {column} (after {entries} entries)")]
    Syntax {
        line: usize,
        column: usize,
        /// Entries read (delivered or skipped) before the error.
        entries: u64,
    },
    /// The input ends in the middle of the document.
    #[error("the HAR ends early (after {entries} entries): the file is cut off")]
    Truncated { entries: u64 },
    /// Well-formed JSON, but not a HAR.
    #[error("not a HAR file: expected a JSON object with `log.entries` (an array), but {found}")]
    NotHar { found: NotHarReason },
}

/// What a non-HAR JSON document has instead of `log.entries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHarReason {
    /// The document is not a JSON object.
    NotAnObject,
    /// The object has no `log`.
    NoLog,
    /// `log` is not an object.
    LogNotAnObject,
    /// `log` has no `entries`.
    NoEntries,
    /// `log.entries` is not an array.
    EntriesNotAnArray,
}

impl fmt::Display for NotHarReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotHarReason::NotAnObject => "the document is not a JSON object",
            NotHarReason::NoLog => "the object has no `log` key",
            NotHarReason::LogNotAnObject => "`log` is not an object",
            NotHarReason::NoEntries => "`log` has no `entries` key",
            NotHarReason::EntriesNotAnArray => "`log.entries` is not an array",
        })
    }
}

/// `method` if it is an HTTP method token (RFC 9110 `token`).
pub(crate) fn checked_method(method: &str) -> Result<String, SkipReason> {
    let token = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Ok(method.to_owned())
    } else {
        Err(SkipReason::BadMethod)
    }
}

/// The origin-form request target (path and query) of an absolute URL
/// (`https://host/p?q#f` → `/p?q`) or of a target already in origin form.
/// The fragment, never sent, is dropped; an authority with no path gives `/`.
pub(crate) fn origin_form(url: &str) -> Result<String, SkipReason> {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    if url.starts_with('/') {
        return Ok(url.to_owned());
    }
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| {
            let head = url.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme)
                .then(|| &url[scheme.len()..])
        })
        .ok_or(SkipReason::BadUrl)?;
    match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => Ok(rest[at..].to_owned()),
        Some(at) => Ok(format!("/{}", &rest[at..])),
        None if rest.is_empty() => Err(SkipReason::BadUrl),
        None => Ok("/".to_owned()),
    }
}

/// A status code, where 0 (a HAR's "no response") is `None`.
pub(crate) fn checked_status(status: u64) -> Result<Option<u16>, SkipReason> {
    match status {
        0 => Ok(None),
        100..=599 => Ok(u16::try_from(status).ok()),
        _ => Err(SkipReason::BadStatus),
    }
}

#[cfg(test)]
mod tests;
