//! `multipart/form-data` bodies, read as the frameworks behind the gateway
//! read them, or refused.
//!
//! Frameworks disagree about malformed multipart bodies: some split on a
//! delimiter preceded by a bare LF, some take the last `boundary`
//! parameter, some treat a part with a non-text type and no file name as a
//! field, some decode RFC 5987 `filename*`. A body that two of them would
//! read differently is refused here, so that what moat inspects is what the
//! application gets:
//!
//! - every occurrence of `--boundary` must be a delimiter line preceded by
//!   CRLF (LF-only framing, or the boundary inside content, is refused);
//! - no preamble, nothing but white space after the closing delimiter, and
//!   the closing delimiter must be there;
//! - part headers end in CRLF, are not folded, are UTF-8, and each of
//!   `Content-Disposition`, `Content-Type` and `Content-Transfer-Encoding`
//!   is given at most once; a transfer encoding other than `7bit`, `8bit` or
//!   `binary` is refused (some frameworks decode base64 parts, some do not);
//! - a disposition parameter given twice is refused; `filename*` is decoded
//!   (RFC 5987) and reported beside `filename`;
//! - a `multipart/mixed` part is parsed as nested parts (one level).
//!
//! Parts are reported by byte range into the body, so nothing is copied.

use std::ops::Range;

use memchr::memmem;
use percent_encoding::percent_decode_str;

use crate::Repeated;
use crate::media::MediaType;

/// Limits on a multipart body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Most parts, nested ones included.
    pub max_parts: usize,
    /// Most bytes in one part's header block.
    pub max_header_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            max_parts: 1000,
            max_header_bytes: 8 * 1024,
        }
    }
}

/// Why a multipart body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// No `boundary` parameter, or one that RFC 2046 does not allow.
    #[error("the multipart boundary is missing or invalid")]
    Boundary,
    /// A delimiter that is not preceded by CRLF, or followed by neither
    /// CRLF nor `--`: LF-only framing, or the boundary inside content.
    #[error("the multipart framing is ambiguous (a boundary not on its own CRLF line)")]
    Framing,
    /// Content before the first delimiter.
    #[error("the multipart body has a preamble")]
    Preamble,
    /// No closing delimiter, or content after it.
    #[error("the multipart body is not closed, or has content after its end")]
    Unterminated,
    /// A part's headers are malformed: bare LF, folding, not UTF-8, too
    /// large, a field without a colon, or no `form-data` disposition.
    #[error("a multipart part has malformed headers")]
    Headers,
    /// A header or disposition parameter given twice.
    #[error("a multipart part gives {0}")]
    Repeated(Repeated),
    /// A `Content-Transfer-Encoding` other than `7bit`, `8bit`, `binary`.
    #[error("a multipart part has a transfer encoding")]
    TransferEncoding,
    /// Nested deeper than one `multipart/mixed` level.
    #[error("multipart parts are nested too deep")]
    Nesting,
    /// More parts than the limit.
    #[error("the multipart body has too many parts")]
    TooManyParts,
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The `name` disposition parameter (nested parts have none).
    pub name: Option<String>,
    /// The `filename` parameter.
    pub filename: Option<String>,
    /// The `filename*` parameter, decoded (RFC 5987).
    pub filename_ext: Option<String>,
    /// The part's `Content-Type`, parsed.
    pub content_type: Option<MediaType>,
    /// Where the part's content is in the body.
    pub data: Range<usize>,
    /// The parts of a `multipart/mixed` part.
    pub nested: Vec<Part>,
}

impl Part {
    /// Whether frameworks read the part as a form field (text): it has no
    /// file name, whatever its `Content-Type`.
    pub fn is_field(&self) -> bool {
        self.filename.is_none() && self.filename_ext.is_none()
    }

    /// The file names the part gives (`filename`, then `filename*`).
    pub fn filenames(&self) -> impl Iterator<Item = &str> {
        self.filename
            .iter()
            .chain(&self.filename_ext)
            .map(String::as_str)
    }
}

/// Parses `body`, framed by `boundary`, into its parts.
pub fn parse(
    body: &[u8],
    boundary: &str,
    limits: &MultipartLimits,
) -> Result<Vec<Part>, MultipartError> {
    let mut count = 0;
    parse_level(body, 0..body.len(), boundary, limits, 0, &mut count)
}

fn valid_boundary(b: &str) -> bool {
    // RFC 2046 §5.1.1: 1 to 70 of these, not ending in a space.
    (1..=70).contains(&b.len())
        && !b.ends_with(' ')
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

fn parse_level(
    body: &[u8],
    span: Range<usize>,
    boundary: &str,
    limits: &MultipartLimits,
    depth: usize,
    count: &mut usize,
) -> Result<Vec<Part>, MultipartError> {
    if !valid_boundary(boundary) {
        return Err(MultipartError::Boundary);
    }
    let base = span.start;
    let text = &body[span];
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let positions: Vec<usize> = memmem::find_iter(text, d).collect();
    match positions.first() {
        None => return Err(MultipartError::Unterminated),
        Some(&0) => {}
        Some(_) => return Err(MultipartError::Preamble),
    }
    let mut parts = Vec::new();
    let mut closed = false;
    for (i, &at) in positions.iter().enumerate() {
        if closed {
            return Err(MultipartError::Unterminated);
        }
        if at > 0 && !text[..at].ends_with(b"\r\n") {
            return Err(MultipartError::Framing);
        }
        let after = at + d.len();
        let rest = &text[after..];
        if rest.starts_with(b"--") {
            closed = true;
            let epilogue = &rest[2..];
            if !epilogue.iter().all(|b| b.is_ascii_whitespace()) {
                // Content after the end, or another delimiter (caught above).
                if positions.get(i + 1).is_none() {
                    return Err(MultipartError::Unterminated);
                }
            }
            continue;
        }
        // Transport padding, then CRLF.
        let pad = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return Err(MultipartError::Framing);
        }
        let start = after + pad + 2;
        let Some(&next) = positions.get(i + 1) else {
            return Err(MultipartError::Unterminated);
        };
        // The CRLF before the next delimiter belongs to it.
        let end = next.checked_sub(2).filter(|&e| e >= start);
        let Some(end) = end else {
            return Err(MultipartError::Headers);
        };
        *count += 1;
        if *count > limits.max_parts {
            return Err(MultipartError::TooManyParts);
        }
        parts.push(part(body, base + start..base + end, limits, depth, count)?);
    }
    if !closed {
        return Err(MultipartError::Unterminated);
    }
    Ok(parts)
}

fn part(
    body: &[u8],
    span: Range<usize>,
    limits: &MultipartLimits,
    depth: usize,
    count: &mut usize,
) -> Result<Part, MultipartError> {
    let raw = &body[span.clone()];
    // Headers end at the first empty line; a part may have none.
    let head_len = if raw.starts_with(b"\r\n") {
        0
    } else {
        memmem::find(raw, b"\r\n\r\n").ok_or(MultipartError::Headers)? + 2
    };
    if head_len > limits.max_header_bytes {
        return Err(MultipartError::Headers);
    }
    let head = std::str::from_utf8(&raw[..head_len]).map_err(|_| MultipartError::Headers)?;
    let data = span.start + head_len + 2..span.end;
    let mut disposition: Option<&str> = None;
    let mut content_type: Option<&str> = None;
    let mut transfer: Option<&str> = None;
    for line in head.split_terminator("\r\n") {
        if line.contains(['\r', '\n']) || line.starts_with([' ', '\t']) {
            return Err(MultipartError::Headers);
        }
        let (field, value) = line.split_once(':').ok_or(MultipartError::Headers)?;
        let slot = match field.to_ascii_lowercase().as_str() {
            "content-disposition" => &mut disposition,
            "content-type" => &mut content_type,
            "content-transfer-encoding" => &mut transfer,
            _ => continue,
        };
        if slot.is_some() {
            return Err(MultipartError::Repeated(Repeated {
                name: field.to_ascii_lowercase(),
            }));
        }
        *slot = Some(value.trim());
    }
    if let Some(t) = transfer
        && !["7bit", "8bit", "binary"]
            .iter()
            .any(|ok| t.eq_ignore_ascii_case(ok))
    {
        return Err(MultipartError::TransferEncoding);
    }
    let content_type = match content_type {
        Some(ct) => Some(MediaType::parse(ct).map_err(|e| match e {
            crate::MediaTypeError::Repeated(r) => MultipartError::Repeated(r),
            crate::MediaTypeError::Invalid => MultipartError::Headers,
        })?),
        None => None,
    };
    let params = match disposition {
        Some(d) => disposition_params(d, depth == 0)?,
        None if depth > 0 => Vec::new(),
        None => return Err(MultipartError::Headers),
    };
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let filename_ext = match get("filename*") {
        Some(v) => Some(decode_ext_value(&v).ok_or(MultipartError::Headers)?),
        None => None,
    };
    let mut nested = Vec::new();
    if let Some(ct) = &content_type
        && ct.is_multipart()
    {
        if depth > 0 {
            return Err(MultipartError::Nesting);
        }
        let boundary = ct.param("boundary").ok_or(MultipartError::Boundary)?;
        nested = parse_level(body, data.clone(), boundary, limits, depth + 1, count)?;
    }
    Ok(Part {
        name: get("name"),
        filename: get("filename"),
        filename_ext,
        content_type,
        data,
        nested,
    })
}

/// The parameters of a `Content-Disposition` value, names lower case,
/// values unquoted. At the top level the type must be `form-data` with a
/// `name`.
fn disposition_params(value: &str, top: bool) -> Result<Vec<(String, String)>, MultipartError> {
    let mut rest = value;
    let kind = take_token(&mut rest);
    if top && !kind.eq_ignore_ascii_case("form-data") {
        return Err(MultipartError::Headers);
    }
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(';')
            .ok_or(MultipartError::Headers)?
            .trim_start();
        if rest.is_empty() {
            break;
        }
        let name = take_token(&mut rest).to_ascii_lowercase();
        rest = rest
            .trim_start()
            .strip_prefix('=')
            .ok_or(MultipartError::Headers)?
            .trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) = take_quoted(quoted).ok_or(MultipartError::Headers)?;
            rest = after;
            v
        } else {
            take_token(&mut rest).to_string()
        };
        if name.is_empty() {
            return Err(MultipartError::Headers);
        }
        if params.iter().any(|(k, _)| *k == name) {
            return Err(MultipartError::Repeated(Repeated { name }));
        }
        params.push((name, value));
    }
    if top && !params.iter().any(|(k, _)| k == "name") {
        return Err(MultipartError::Headers);
    }
    Ok(params)
}

fn take_token<'a>(rest: &mut &'a str) -> &'a str {
    let end = rest
        .find(|c: char| c == ';' || c == '=' || c == '"' || c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let (token, after) = rest.split_at(end);
    *rest = after;
    token.trim()
}

/// A quoted string's content (backslash escapes resolved) and what follows
/// its closing quote.
fn take_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// An RFC 5987 `ext-value`: `charset'language'percent-encoded`. UTF-8 and
/// ISO-8859-1 are read; anything else is refused.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut pieces = v.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !crate::percent::escapes_well_formed(encoded.as_bytes()) {
        return None;
    }
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
