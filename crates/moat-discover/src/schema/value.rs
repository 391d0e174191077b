//! The scalar type of one textual value (a query, header, cookie or path
//! parameter, or a JSON string's format).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::segment::SegmentKind;

/// What a textual value is, from the most to the least specific.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ValueType {
    /// A decimal integer that fits 64 bits, without leading zeros (`42`,
    /// `-7`; `007` is a string: the zeros matter).
    Integer,
    /// A decimal number (`3.14`, `-1e5`).
    Number,
    /// `true` or `false`.
    Boolean,
    /// A UUID.
    Uuid,
    /// An email address.
    Email,
    /// An RFC 3339 date-time (`2024-03-14T09:26:53Z`).
    DateTime,
    /// An RFC 3339 full date (`2024-03-14`).
    Date,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An absolute URI with an authority (`https://example.com/a`).
    Uri,
    /// Anything else.
    String,
}

impl ValueType {
    /// The type of `value`.
    pub fn of(value: &str) -> ValueType {
        if is_integer(value) {
            ValueType::Integer
        } else if is_number(value) {
            ValueType::Number
        } else if value == "true" || value == "false" {
            ValueType::Boolean
        } else if is_date(value) {
            ValueType::Date
        } else if is_date_time(value) {
            ValueType::DateTime
        } else if value.parse::<Ipv4Addr>().is_ok() {
            ValueType::Ipv4
        } else if value.contains(':') && value.parse::<Ipv6Addr>().is_ok() {
            ValueType::Ipv6
        } else {
            // UUIDs and emails are recognised as path segments are.
            match SegmentKind::of(value) {
                SegmentKind::Uuid => ValueType::Uuid,
                SegmentKind::Email => ValueType::Email,
                _ if is_uri(value) => ValueType::Uri,
                _ => ValueType::String,
            }
        }
    }

    /// The most specific type that both `self` and `other` values have:
    /// the same type, a number for integers and numbers, else a string.
    pub fn join(self, other: ValueType) -> ValueType {
        match (self, other) {
            (a, b) if a == b => a,
            (ValueType::Integer | ValueType::Number, ValueType::Integer | ValueType::Number) => {
                ValueType::Number
            }
            _ => ValueType::String,
        }
    }

    /// The JSON Schema `type` of values of this type.
    pub fn json_type(self) -> &'static str {
        match self {
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Boolean => "boolean",
            _ => "string",
        }
    }

    /// The JSON Schema `format` of strings of this type, if any.
    pub fn format(self) -> Option<&'static str> {
        match self {
            ValueType::Uuid => Some("uuid"),
            ValueType::Email => Some("email"),
            ValueType::DateTime => Some("date-time"),
            ValueType::Date => Some("date"),
            ValueType::Ipv4 => Some("ipv4"),
            ValueType::Ipv6 => Some("ipv6"),
            ValueType::Uri => Some("uri"),
            ValueType::Integer | ValueType::Number | ValueType::Boolean | ValueType::String => None,
        }
    }
}

fn is_integer(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && v.parse::<i64>().is_ok()
}

/// JSON's number grammar: `-? int (. digits)? ([eE] [+-]? digits)?`.
fn is_number(v: &str) -> bool {
    let v = v.strip_prefix('-').unwrap_or(v);
    let (mantissa, exponent) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && (int == "0" || !int.starts_with('0'))
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// `YYYY-MM-DD` naming a real day.
fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (num(&b[0..4]), num(&b[5..7]), num(&b[8..10]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339 `date-time`: a date, `T`, `hh:mm:ss`, optional fraction, and
/// `Z` or a `±hh:mm` offset.
fn is_date_time(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || !v.is_char_boundary(10) {
        return false;
    }
    let time = &b[11..];
    let clock = |t: &[u8], max_h: u32| {
        t.len() == 5
            && t[2] == b':'
            && num(&t[..2]).is_some_and(|h| h <= max_h)
            && num(&t[3..5]).is_some_and(|m| m <= 59)
    };
    if time.len() < 9 || !clock(&time[..5], 23) || time[5] != b':' {
        return false;
    }
    if num(&time[6..8]).is_none_or(|s| s > 60) {
        return false;
    }
    let mut rest = &time[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let offset_ok = match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', t @ ..] => clock(t, 23),
        _ => false,
    };
    offset_ok && is_date(&v[..10])
}

/// An absolute URI with an authority: `scheme://` then at least one
/// character, all of them characters a URI may hold (RFC 3986).
fn is_uri(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c))
}

fn num(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::ValueType::{self, *};

    #[test]
    fn types_of_values() {
        let cases = [
            ("42", Integer),
            ("-7", Integer),
            ("0", Integer),
            ("007", String),
            ("99999999999999999999", Number),
            ("3.14", Number),
            ("-1e5", Number),
            ("1.", String),
            (".5", String),
            ("true", Boolean),
            ("True", String),
            ("0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b", Uuid),
            ("alice@example.com", Email),
            ("2024-03-14T09:26:53Z", DateTime),
            ("2024-03-14T09:26:53.123+01:00", DateTime),
            ("2024-03-14 09:26:53", String),
            ("2024-03-14T25:00:00Z", String),
            ("2024-03-14", Date),
            ("2024-02-29", Date),
            ("2023-02-29", String),
            ("2024-13-01", String),
            ("192.168.0.1", Ipv4),
            ("256.1.1.1", String),
            ("::1", Ipv6),
            ("2001:db8::8a2e:370:7334", Ipv6),
            ("https://example.com/a?b=c", Uri),
            ("https://", String),
            ("key:value", String),
            ("hello world", String),
            ("", String),
        ];
        for (value, expected) in cases {
            assert_eq!(ValueType::of(value), expected, "{value:?}");
        }
    }

    #[test]
    fn join_widens() {
        assert_eq!(Integer.join(Integer), Integer);
        assert_eq!(Integer.join(Number), Number);
        assert_eq!(Number.join(Integer), Number);
        assert_eq!(Integer.join(Boolean), String);
        assert_eq!(Uuid.join(Email), String);
        assert_eq!(Date.join(DateTime), String);
        assert_eq!(Uuid.format(), Some("uuid"));
        assert_eq!(Number.json_type(), "number");
    }
}
