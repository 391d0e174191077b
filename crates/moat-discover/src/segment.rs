//! What a path segment's value looks like.

/// The shape of one segment's value, from the most to the least certain
/// identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// Decimal digits (`42`).
    Integer,
    /// A UUID (`0b6e…-…`).
    Uuid,
    /// A 24-hex-digit ObjectId-like id.
    ObjectId,
    /// Hex of 8 or more digits with at least one digit and one letter
    /// (a hash, a hex id).
    Hex,
    /// An ISO 8601 date (`2024-03-14`) or date-time.
    Date,
    /// An email address.
    Email,
    /// Text no API names a route with: spaces, quotes, other punctuation,
    /// or mixed case with digits inside (`Dune Messiah`, `it's`, `aB3xQ9`).
    Text,
    /// A word that could be a literal route name: lower-case letters,
    /// digits, `-`, `_` and `.` (`v1`, `login`, `_debug`, `alice`,
    /// `my-first-post`).
    Word,
}

impl SegmentKind {
    /// The kind of `value` (a decoded segment).
    pub fn of(value: &str) -> SegmentKind {
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return SegmentKind::Integer;
        }
        if is_uuid(value) {
            return SegmentKind::Uuid;
        }
        let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && value.len() == 24 {
            return SegmentKind::ObjectId;
        }
        if hex
            && value.len() >= 8
            && value.bytes().any(|b| b.is_ascii_digit())
            && value.bytes().any(|b| b.is_ascii_alphabetic())
        {
            return SegmentKind::Hex;
        }
        if is_date(value) {
            return SegmentKind::Date;
        }
        if is_email(value) {
            return SegmentKind::Email;
        }
        if is_word(value) {
            return SegmentKind::Word;
        }
        SegmentKind::Text
    }

    /// Whether a segment of this kind is a parameter whatever its
    /// siblings: anything but a word.
    pub fn is_identifier(self) -> bool {
        self != SegmentKind::Word
    }

    /// The OpenAPI schema `(type, format)` of a parameter of this kind.
    pub fn schema(self) -> (&'static str, Option<&'static str>) {
        match self {
            SegmentKind::Integer => ("integer", None),
            SegmentKind::Uuid => ("string", Some("uuid")),
            SegmentKind::Date => ("string", Some("date")),
            SegmentKind::Email => ("string", Some("email")),
            _ => ("string", None),
        }
    }
}

fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T' || b[10] == b' ')
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.contains(char::is_whitespace)
}

/// Lower-case letters, digits, `-`, `_` and `.`, starting with a letter,
/// a digit or `_`: how route names are spelled. Upper case is allowed
/// only at the start of a word part (`GetUser`-style names are rare in
/// paths; mixed case with digits is an id).
fn is_word(v: &str) -> bool {
    let mut chars = v.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return false;
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    let lower = v.chars().skip(1).all(allowed);
    lower && (first.is_ascii_lowercase() || first.is_ascii_digit() || first == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let cases = [
            ("42", SegmentKind::Integer),
            ("0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b", SegmentKind::Uuid),
            ("507f1f77bcf86cd799439011", SegmentKind::ObjectId),
            ("9f86d081884c", SegmentKind::Hex),
            ("2024-03-14", SegmentKind::Date),
            ("2024-03-14T09:26:53Z", SegmentKind::Date),
            ("alice@example.com", SegmentKind::Email),
            ("Dune Messiah", SegmentKind::Text),
            ("it's", SegmentKind::Text),
            ("aB3xQ9", SegmentKind::Text),
            ("v1", SegmentKind::Word),
            ("_debug", SegmentKind::Word),
            ("login", SegmentKind::Word),
            ("my-first-post", SegmentKind::Word),
            ("report.pdf", SegmentKind::Word),
            ("deadbeef", SegmentKind::Word),
        ];
        for (value, kind) in cases {
            assert_eq!(SegmentKind::of(value), kind, "{value}");
        }
        assert!(!SegmentKind::Word.is_identifier());
        assert!(SegmentKind::Text.is_identifier());
    }
}
