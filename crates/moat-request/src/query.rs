//! The query string, decoded once.
//!
//! `a=1&b=x+y&c=%41` is read as the pairs `(a, 1)`, `(b, x y)`, `(c, A)`:
//! `application/x-www-form-urlencoded` rules, as every web framework reads a
//! query. Decoding uses the `percent-encoding` crate; a malformed escape
//! (`%zz`, `%4`) or an escape that decodes to bytes that are not UTF-8 is
//! one the frameworks disagree about (some keep it literal, some replace it,
//! some refuse the request), so the query is marked
//! [`malformed`](Query::is_malformed) and the gateway refuses it. The
//! lossy reading is kept for inspection.

use std::borrow::Cow;

use percent_encoding::percent_decode;

use crate::Repeated;
use crate::percent::escapes_well_formed;

/// A decoded query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
    malformed: bool,
}

impl Query {
    /// Decodes `raw` (the text after `?`, without it). Empty pieces
    /// (`a=1&&b=2`) are skipped; a piece without `=` is a name with an
    /// empty value.
    pub fn parse(raw: &str) -> Query {
        Self::parse_form(raw.as_bytes())
    }

    /// Decodes an `application/x-www-form-urlencoded` body, by the same
    /// rules as a query string.
    pub fn parse_form(raw: &[u8]) -> Query {
        let mut query = Query::default();
        for piece in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match memchr::memchr(b'=', piece) {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &b""[..]),
            };
            let (name, bad_name) = decode(name);
            let (value, bad_value) = decode(value);
            query.malformed |= bad_name || bad_value;
            query.pairs.push((name, value));
        }
        query
    }

    /// The decoded pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every value of `name`, in order.
    pub fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        crate::values_of(&self.pairs, name)
    }

    /// The one value of `name`: `Ok(None)` when absent, `Err` when given
    /// more than once (frameworks disagree on which one counts: Express and
    /// PHP take the last, Flask and Django's `get` the first or last).
    pub fn unique(&self, name: &str) -> Result<Option<&str>, Repeated> {
        crate::unique_of(&self.pairs, name)
    }

    /// Whether some name or value had a malformed escape or was not UTF-8
    /// once decoded.
    pub fn is_malformed(&self) -> bool {
        self.malformed
    }
}

/// The raw query without the pairs `drop` picks (given each pair's decoded
/// name and value): borrowed when nothing goes, `None` when nothing is
/// left. Kept pairs keep their spelling, so the application reads them as
/// the client wrote them.
pub fn without_pairs<'q>(
    raw: &'q str,
    mut drop: impl FnMut(&str, &str) -> bool,
) -> Option<Cow<'q, str>> {
    let mut kept: Vec<&str> = Vec::new();
    let mut dropped = false;
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        if drop(&decode(name.as_bytes()).0, &decode(value.as_bytes()).0) {
            dropped = true;
        } else {
            kept.push(piece);
        }
    }
    if !dropped {
        return (!raw.is_empty()).then_some(Cow::Borrowed(raw));
    }
    (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
}

/// Form-decodes one query name or value; `None` when it is malformed.
pub fn decode_component(raw: &str) -> Option<String> {
    match decode(raw.as_bytes()) {
        (text, false) => Some(text),
        (_, true) => None,
    }
}

/// Form-decodes one name or value: `+` is a space, `%XX` a byte. Returns
/// the text (lossy where it is not UTF-8) and whether it was malformed.
///
/// Raw bytes that are not UTF-8 are malformed even when escapes complete
/// them (`\xDA%92` decodes to `ڒ`): a framework that reads the body as
/// UTF-8 text before decoding escapes (Express) sees `\u{FFFD}%92`
/// instead.
fn decode(raw: &[u8]) -> (String, bool) {
    let bad_escape = !escapes_well_formed(raw) || std::str::from_utf8(raw).is_err();
    let plus: Cow<'_, [u8]> = if memchr::memchr(b'+', raw).is_some() {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Cow<'_, [u8]> = percent_decode(&plus).into();
    match String::from_utf8(bytes.into_owned()) {
        Ok(text) => (text, bad_escape),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_dropped_by_their_decoded_name_or_value() {
        let drop_key = |n: &str, v: &str| n == "api_key" || v == "secret";
        assert_eq!(
            without_pairs("a=1&api%5Fkey=x&b=%41&c=secr%65t", drop_key).as_deref(),
            Some("a=1&b=%41")
        );
        assert!(matches!(
            without_pairs("a=1&b=2", drop_key),
            Some(Cow::Borrowed("a=1&b=2"))
        ));
        assert_eq!(without_pairs("api_key=x", drop_key), None);
        assert_eq!(without_pairs("", drop_key), None);
    }

    #[test]
    fn decodes_form_style() {
        let q = Query::parse("a=1&b=x+y&c=%41%2b&&flag&e=");
        let pairs: Vec<(&str, &str)> = q
            .pairs()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", "x y"),
                ("c", "A+"),
                ("flag", ""),
                ("e", "")
            ]
        );
        assert!(!q.is_malformed());
    }

    #[test]
    fn repeated_names_are_visible() {
        let q = Query::parse("id=1&id=2&x=3");
        assert_eq!(q.unique("x"), Ok(Some("3")));
        assert_eq!(q.unique("nope"), Ok(None));
        assert_eq!(
            q.unique("id"),
            Err(Repeated {
                name: "id".to_string()
            })
        );
        assert_eq!(q.values("id").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_marked() {
        for raw in ["a=%zz", "a=%4", "a=%", "%ff=1", "a=%C0%AE"] {
            let q = Query::parse(raw);
            assert!(q.is_malformed(), "{raw}");
            assert_eq!(q.pairs().len(), 1, "{raw}: the lossy reading is kept");
        }
        assert!(!Query::parse("a=%C3%A9").is_malformed());
        assert_eq!(Query::parse("a=%C3%A9").unique("a"), Ok(Some("é")));
    }

    /// Found by fuzzing (fuzz/fuzz_targets/query.rs): a raw byte that is not
    /// UTF-8 is malformed even when the escape after it completes a UTF-8
    /// sequence, as `\xDA%92` decodes to `ڒ` (U+0692).
    #[test]
    fn raw_bytes_completed_by_an_escape_are_malformed() {
        assert!(Query::parse_form(b"c\xda%92=1").is_malformed());
        assert!(Query::parse_form(b"a=\xda%92").is_malformed());
        assert!(!Query::parse_form("a=\u{692}".as_bytes()).is_malformed());
        assert!(!Query::parse_form(b"a=%DA%92").is_malformed());
    }
}
