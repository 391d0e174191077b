//! HTTP Archive (HAR 1.2) files, streamed one entry at a time.
//!
//! The document is walked with serde visitors: top-level keys other than
//! `log`, and keys of `log` other than `entries` (`version`, `creator`,
//! `pages`, …), are skipped without being kept ([`IgnoredAny`]); each
//! element of `log.entries` is deserialized on its own, turned into a
//! [`Sample`] and dropped before the next is read. Memory is bounded by the
//! largest single entry, not by the file.
//!
//! An entry that is well-formed JSON but not a usable exchange (no
//! `request.method`, a number where the URL should be, …) is skipped and
//! counted. JSON that is not well-formed ends the read: a stream cannot be
//! resynchronised after a syntax error.
//!
//! What is taken from an entry:
//! - `request.method`, `request.url` (reduced to path and query),
//!   `request.headers` and `request.postData.text` (with `mimeType`);
//! - `response.status` (0, written for requests that got no response, is
//!   `None`), `response.headers`, and `response.content.text` (with
//!   `mimeType`), decoded when `encoding` is `base64` and the media type is
//!   text-like (`text/*`, JSON, XML, JavaScript, form data, GraphQL, or
//!   none declared) and the bytes are UTF-8; other base64 bodies are
//!   binary and dropped (counted).
//!
//! HTTP/2 pseudo-headers (`:authority`, `:path`, …), which some browsers
//! list among the headers, are left out: the method and URL already carry
//! them. Empty bodies are `None`. Bodies longer than
//! [`ReadLimits::max_body_bytes`] are dropped (counted); the entry is kept.

use std::fmt;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    Body, InputError, NotHarReason, ReadLimits, Sample, SkipReason, Skips, checked_method,
    checked_status, origin_form,
};

/// What reading a HAR found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HarStats {
    /// Entries read, usable or not.
    pub entries: u64,
    /// Entries handed to the callback.
    pub samples: u64,
    /// Entries skipped as malformed.
    pub skipped: Skips,
    /// Bodies dropped for being longer than the limit.
    pub bodies_over_limit: u64,
    /// Base64 bodies dropped for not being text (a binary media type, bytes
    /// that are not UTF-8, or base64 that does not decode).
    pub bodies_not_text: u64,
    /// The callback asked to stop before the last entry.
    pub stopped_early: bool,
}

/// Reads a HAR from `reader` with the default [`ReadLimits`], handing each
/// usable entry to `each`.
pub fn read_har<R: Read>(
    reader: R,
    each: impl FnMut(Sample) -> ControlFlow<()>,
) -> Result<HarStats, InputError> {
    read_har_with(reader, ReadLimits::default(), each)
}

/// Reads a HAR from `reader`, handing each usable entry to `each` until it
/// returns [`ControlFlow::Break`]. `reader` need not be buffered.
pub fn read_har_with<R: Read>(
    reader: R,
    limits: ReadLimits,
    each: impl FnMut(Sample) -> ControlFlow<()>,
) -> Result<HarStats, InputError> {
    let mut state = State {
        each,
        limits,
        stats: HarStats::default(),
        expecting: NotHarReason::NotAnObject,
        saw_log: false,
        saw_entries: false,
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, reader));
    match (&mut de).deserialize_map(TopVisitor(&mut state)) {
        Ok(()) => {}
        Err(_) if state.stats.stopped_early => return Ok(state.stats),
        Err(error) => return Err(state.error(error)),
    }
    // The structure is judged before what follows it, so that a JSON-lines
    // file read as a HAR is refused as not a HAR, not as trailing data.
    let found = if !state.saw_log {
        Some(NotHarReason::NoLog)
    } else if !state.saw_entries {
        Some(NotHarReason::NoEntries)
    } else {
        None
    };
    if let Some(found) = found {
        return Err(InputError::NotHar { found });
    }
    de.end().map_err(|error| state.error(error))?;
    Ok(state.stats)
}

struct State<F> {
    each: F,
    limits: ReadLimits,
    stats: HarStats,
    /// What the document is not, should the structure being read now turn
    /// out to have the wrong type.
    expecting: NotHarReason,
    saw_log: bool,
    saw_entries: bool,
}

impl<F> State<F> {
    fn error(&self, error: serde_json::Error) -> InputError {
        if error.is_io() {
            InputError::Io(error.into())
        } else if error.is_data() {
            // Entries are read as any JSON value, so only the document's
            // structure (`log`, `log.entries`) can have the wrong type.
            InputError::NotHar {
                found: self.expecting,
            }
        } else if error.is_eof() {
            InputError::Truncated {
                entries: self.stats.entries,
            }
        } else {
            InputError::Syntax {
                line: error.line(),
                column: error.column(),
                entries: self.stats.entries,
            }
        }
    }
}

/// The top-level object: `log` is read, everything else skipped.
struct TopVisitor<'s, F>(&'s mut State<F>);

impl<'de, F: FnMut(Sample) -> ControlFlow<()>> Visitor<'de> for TopVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a HAR document (an object with `log`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Wanted && !self.0.saw_log {
                self.0.saw_log = true;
                self.0.expecting = NotHarReason::LogNotAnObject;
                map.next_value_seed(LogSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `log`: `entries` is read, everything else skipped.
struct LogSeed<'s, F>(&'s mut State<F>);

impl<'de, F: FnMut(Sample) -> ControlFlow<()>> DeserializeSeed<'de> for LogSeed<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Sample) -> ControlFlow<()>> Visitor<'de> for LogSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR `log` object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<EntriesKey>()? {
            if key.0 == Key::Wanted && !self.0.saw_entries {
                self.0.expecting = NotHarReason::EntriesNotAnArray;
                map.next_value_seed(EntriesSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// `log.entries`: one entry at a time.
struct EntriesSeed<'s, F>(&'s mut State<F>);

impl<'de, F: FnMut(Sample) -> ControlFlow<()>> DeserializeSeed<'de> for EntriesSeed<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Sample) -> ControlFlow<()>> Visitor<'de> for EntriesSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR `log.entries` array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        state.saw_entries = true;
        while let Some(entry) = seq.next_element::<Value>()? {
            let index = state.stats.entries;
            state.stats.entries += 1;
            match sample(entry, state.limits, &mut state.stats) {
                Ok(sample) => {
                    state.stats.samples += 1;
                    if (state.each)(sample).is_break() {
                        state.stats.stopped_early = true;
                        // Unwinds the deserializer; `read_har_with` sees
                        // `stopped_early` and returns the stats.
                        return Err(de::Error::custom("stopped by the caller"));
                    }
                }
                Err(reason) => state.stats.skipped.record(index, reason),
            }
        }
        Ok(())
    }
}

/// A key compared with the one key a map is read for, without keeping it.
#[derive(PartialEq, Eq)]
enum Key {
    Wanted,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor("log"))
    }
}

/// `Key` for `entries`.
struct EntriesKey(Key);

impl<'de> de::Deserialize<'de> for EntriesKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(KeyVisitor("entries"))
            .map(EntriesKey)
    }
}

struct KeyVisitor(&'static str);

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(if key == self.0 {
            Key::Wanted
        } else {
            Key::Other
        })
    }
}

/// One entry as a [`Sample`], or why it is not usable.
fn sample(entry: Value, limits: ReadLimits, stats: &mut HarStats) -> Result<Sample, SkipReason> {
    let Value::Object(mut entry) = entry else {
        return Err(SkipReason::NotAnObject);
    };
    let mut request =
        object(entry.remove("request"), "request")?.ok_or(SkipReason::Missing("request"))?;
    let method = checked_method(
        &string(request.remove("method"), "request.method")?
            .ok_or(SkipReason::Missing("request.method"))?,
    )?;
    let url = origin_form(
        &string(request.remove("url"), "request.url")?.ok_or(SkipReason::Missing("request.url"))?,
    )?;
    let request_headers = headers(request.remove("headers"), "request.headers")?;
    let request_body = match object(request.remove("postData"), "request.postData")? {
        Some(mut post) => body(&mut post, &POST_DATA, limits, stats)?,
        None => None,
    };
    let (status, response_headers, response_body) =
        match object(entry.remove("response"), "response")? {
            None => (None, Vec::new(), None),
            Some(mut response) => {
                let status = match response.remove("status") {
                    None => return Err(SkipReason::Missing("response.status")),
                    Some(Value::Number(n)) => {
                        checked_status(n.as_u64().ok_or(SkipReason::BadStatus)?)?
                    }
                    Some(_) => return Err(SkipReason::WrongType("response.status")),
                };
                let headers = headers(response.remove("headers"), "response.headers")?;
                let body = match object(response.remove("content"), "response.content")? {
                    Some(mut content) => body(&mut content, &CONTENT, limits, stats)?,
                    None => None,
                };
                (status, headers, body)
            }
        };
    Ok(Sample {
        method,
        url,
        status,
        request_headers,
        response_headers,
        request_body,
        response_body,
    })
}

fn object(
    value: Option<Value>,
    field: &'static str,
) -> Result<Option<Map<String, Value>>, SkipReason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(SkipReason::WrongType(field)),
    }
}

fn string(value: Option<Value>, field: &'static str) -> Result<Option<String>, SkipReason> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SkipReason::WrongType(field)),
    }
}

/// A HAR header list (`[{"name": …, "value": …}]`), pseudo-headers left out.
fn headers(value: Option<Value>, field: &'static str) -> Result<Vec<(String, String)>, SkipReason> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(SkipReason::WrongType(field)),
    };
    let mut headers = Vec::with_capacity(list.len());
    for header in list {
        let Value::Object(mut header) = header else {
            return Err(SkipReason::WrongType(field));
        };
        let (Some(Value::String(name)), Some(Value::String(value))) =
            (header.remove("name"), header.remove("value"))
        else {
            return Err(SkipReason::WrongType(field));
        };
        if !name.starts_with(':') {
            headers.push((name, value));
        }
    }
    Ok(headers)
}

/// Where a body's parts are, named in skip reasons.
struct BodyFields {
    mime: &'static str,
    text: &'static str,
    /// `None` where a body cannot be encoded (`postData`).
    encoding: Option<&'static str>,
}

const POST_DATA: BodyFields = BodyFields {
    mime: "request.postData.mimeType",
    text: "request.postData.text",
    encoding: None,
};

const CONTENT: BodyFields = BodyFields {
    mime: "response.content.mimeType",
    text: "response.content.text",
    encoding: Some("response.content.encoding"),
};

/// The body in `postData` or `content` (`mimeType`, `text`, and for
/// content `encoding`). `Ok(None)` when there is none or it was dropped.
fn body(
    holder: &mut Map<String, Value>,
    fields: &BodyFields,
    limits: ReadLimits,
    stats: &mut HarStats,
) -> Result<Option<Body>, SkipReason> {
    let mime = string(holder.remove("mimeType"), fields.mime)?.filter(|m| !m.is_empty());
    let Some(text) = string(holder.remove("text"), fields.text)?.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let base64 = match fields.encoding {
        Some(field) => string(holder.remove("encoding"), field)?
            .is_some_and(|e| e.eq_ignore_ascii_case("base64")),
        None => false,
    };
    let text = if base64 {
        // Base64 is 4 characters for every 3 bytes: longer than this, the
        // decoded body is surely over the limit; it is not decoded.
        if text.len() / 4 > limits.max_body_bytes / 3 + 1 {
            stats.bodies_over_limit += 1;
            return Ok(None);
        }
        let text_like = mime.as_deref().is_none_or(is_text_like);
        match text_like.then(|| decode(&text)).flatten() {
            Some(decoded) => decoded,
            None => {
                stats.bodies_not_text += 1;
                return Ok(None);
            }
        }
    } else {
        text
    };
    if text.len() > limits.max_body_bytes {
        stats.bodies_over_limit += 1;
        return Ok(None);
    }
    Ok(Some(Body { mime, text }))
}

/// Standard base64, padded or not, as UTF-8 text.
fn decode(text: &str) -> Option<String> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = ENGINE.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether a media type names text: `text/*`, JSON, XML, JavaScript, form
/// data, GraphQL, and `+json` / `+xml` suffixes.
fn is_text_like(mime: &str) -> bool {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || matches!(
            subtype,
            "json"
                | "xml"
                | "javascript"
                | "ecmascript"
                | "x-www-form-urlencoded"
                | "graphql"
                | "x-ndjson"
                | "problem+json"
                | "problem+xml"
        )
        || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
}

#[cfg(test)]
mod tests;
