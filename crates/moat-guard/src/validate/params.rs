//! Reading parameter values out of their serialisation (style/explode) and
//! into typed JSON, so that their schema can be checked.

use serde_json::{Number, Value};

/// Decodes `%XX` escapes (and `+` as a space when `form` is set, as in
/// `application/x-www-form-urlencoded` query strings). `None` for a bad
/// escape or a result that is not UTF-8.
pub(crate) fn percent_decode(s: &str, form: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a query string into decoded name/value pairs; `Err` when some
/// pair cannot be decoded.
pub(crate) fn parse_query(query: &str) -> Result<Vec<(String, String)>, ()> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode(k, true).ok_or(())?;
        let v = percent_decode(v, true).ok_or(())?;
        pairs.push((k, v));
    }
    Ok(pairs)
}

/// The JSON type a scalar parameter value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Integer,
    Number,
    Boolean,
    String,
}

impl Scalar {
    /// From a schema's `type` (the first non-`null` one of a 3.1 list);
    /// anything else is read as a string.
    pub(crate) fn of(schema: Option<&Value>) -> Scalar {
        let t = match schema.and_then(|s| s.get("type")) {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        match t {
            Some("integer") => Scalar::Integer,
            Some("number") => Scalar::Number,
            Some("boolean") => Scalar::Boolean,
            _ => Scalar::String,
        }
    }

    /// The typed value, or `None` when the text is not of the type.
    pub(crate) fn coerce(self, s: &str) -> Option<Value> {
        match self {
            Scalar::Integer => s
                .parse::<i64>()
                .map(Number::from)
                .or_else(|_| s.parse::<u64>().map(Number::from))
                .ok()
                .map(Value::Number),
            Scalar::Number => {
                if let Ok(i) = s.parse::<i64>() {
                    return Some(Value::Number(i.into()));
                }
                s.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            }
            Scalar::Boolean => match s {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Scalar::String => Some(Value::String(s.to_string())),
        }
    }
}

/// How a parameter's value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One value.
    Scalar(Scalar),
    /// An array; `explode` repeats the parameter (`a=1&a=2`), otherwise the
    /// items are joined by `delimiter` (`a=1,2`).
    Array {
        item: Scalar,
        explode: bool,
        delimiter: char,
    },
    /// Objects and anything else: not deserialised; its schema is not checked.
    Opaque,
}

/// The cookies of a request, from every `Cookie` header (RFC 6265:
/// `a=b; c=d`), in order. Values are unquoted and, where they hold valid
/// `%XX` escapes, percent-decoded (otherwise taken as they are, as cookie
/// values need not be percent-encoded). The flag is set when some header is
/// not visible ASCII; such a header is skipped.
pub(crate) fn parse_cookies(headers: &http::HeaderMap) -> (Vec<(String, String)>, bool) {
    let mut jar = Vec::new();
    let mut undecodable = false;
    for header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else {
            undecodable = true;
            continue;
        };
        for pair in text.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let value = percent_decode(value, false).unwrap_or_else(|| value.to_string());
            jar.push((name.to_string(), value));
        }
    }
    (jar, undecodable)
}
