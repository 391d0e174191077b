//! JSON-lines traffic logs, read one line at a time.
//!
//! Each line is one JSON object with:
//! - `method`: the request method (required);
//! - `path` (moat's access log: the canonical path, no query) or `url`
//!   (absolute, or a path with its query) (one of them required; `path`
//!   wins when both are present);
//! - `status`: a number, or a string of digits (optional).
//!
//! moat's own access log is read as is. Its lines where `upstream_ms` is
//! `null` were answered by the gateway itself (a denial, a rate limit), so
//! their status is not the API's and is `None`.
//!
//! Blank lines are passed over; lines that are not such an object are
//! skipped and counted. A line longer than [`ReadLimits::max_line_bytes`]
//! is read past without being kept, so one runaway line cannot exhaust
//! memory. A UTF-8 byte order mark and `\r\n` line ends are accepted.

use std::io::{self, BufRead};
use std::ops::ControlFlow;

use serde_json::Value;

use super::{
    InputError, ReadLimits, Sample, SkipReason, Skips, checked_method, checked_status, origin_form,
};

/// What reading a log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonlStats {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Blank lines passed over.
    pub blank: u64,
    /// Lines handed to the callback.
    pub samples: u64,
    /// Lines skipped as malformed.
    pub skipped: Skips,
    /// The callback asked to stop before the last line.
    pub stopped_early: bool,
}

/// Reads a log from `reader` with the default [`ReadLimits`].
pub fn read_jsonl<R: BufRead>(
    reader: R,
    each: impl FnMut(Sample) -> ControlFlow<()>,
) -> Result<JsonlStats, InputError> {
    read_jsonl_with(reader, ReadLimits::default(), each)
}

/// Reads a log from `reader`, handing each usable line to `each` until it
/// returns [`ControlFlow::Break`].
pub fn read_jsonl_with<R: BufRead>(
    mut reader: R,
    limits: ReadLimits,
    mut each: impl FnMut(Sample) -> ControlFlow<()>,
) -> Result<JsonlStats, InputError> {
    let mut stats = JsonlStats::default();
    let mut line = Vec::new();
    while let Some(read) = next_line(&mut reader, &mut line, limits.max_line_bytes)? {
        stats.lines += 1;
        let number = stats.lines;
        if read == LineRead::TooLong {
            stats.skipped.record(number, SkipReason::TooLong);
            continue;
        }
        let mut text = line.as_slice();
        if number == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        if text.trim_ascii().is_empty() {
            stats.blank += 1;
            continue;
        }
        match sample(text) {
            Ok(sample) => {
                stats.samples += 1;
                if each(sample).is_break() {
                    stats.stopped_early = true;
                    break;
                }
            }
            Err(reason) => stats.skipped.record(number, reason),
        }
    }
    Ok(stats)
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// `line` holds the line, without its end.
    Whole,
    /// The line was longer than the limit; `line` holds a part of it.
    TooLong,
}

/// Reads the next line into `line` (cleared first), keeping at most `max`
/// bytes of it. `None` at the end of the input.
fn next_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<LineRead>> {
    line.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, end) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if end {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(if too_long {
        LineRead::TooLong
    } else {
        LineRead::Whole
    }))
}

/// One line as a [`Sample`], or why it is not usable.
fn sample(line: &[u8]) -> Result<Sample, SkipReason> {
    let value: Value = serde_json::from_slice(line).map_err(|_| SkipReason::NotJson)?;
    let Value::Object(mut fields) = value else {
        return Err(SkipReason::NotAnObject);
    };
    let method = match fields.remove("method") {
        Some(Value::String(method)) => checked_method(&method)?,
        None | Some(Value::Null) => return Err(SkipReason::Missing("method")),
        Some(_) => return Err(SkipReason::WrongType("method")),
    };
    let url = match (fields.remove("path"), fields.remove("url")) {
        (Some(Value::String(target)), _) => origin_form(&target)?,
        (Some(Value::Null) | None, Some(Value::String(target))) => origin_form(&target)?,
        (Some(Value::Null) | None, Some(Value::Null) | None) => {
            return Err(SkipReason::Missing("path"));
        }
        (Some(Value::Null) | None, Some(_)) => return Err(SkipReason::WrongType("url")),
        (Some(_), _) => return Err(SkipReason::WrongType("path")),
    };
    let status = match fields.remove("status") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => checked_status(n.as_u64().ok_or(SkipReason::BadStatus)?)?,
        Some(Value::String(s)) => {
            checked_status(s.trim().parse().map_err(|_| SkipReason::BadStatus)?)?
        }
        Some(_) => return Err(SkipReason::WrongType("status")),
    };
    // moat's access log: no upstream time means the API never answered.
    let answered_by_gateway = matches!(fields.get("upstream_ms"), Some(Value::Null));
    Ok(Sample {
        method,
        url,
        status: if answered_by_gateway { None } else { status },
        request_headers: Vec::new(),
        response_headers: Vec::new(),
        request_body: None,
        response_body: None,
    })
}

#[cfg(test)]
mod tests;
