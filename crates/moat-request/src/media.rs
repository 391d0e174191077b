//! The media type of a body, parsed by the `mime` crate.

use std::fmt;

use crate::Repeated;

/// Why a `Content-Type` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaTypeError {
    /// Not a media type (`type/subtype *(; name=value)`).
    #[error("the media type cannot be parsed")]
    Invalid,
    /// A parameter is given twice (`boundary=a; boundary=b`): parsers
    /// disagree on which one counts.
    #[error("the media type parameter {0}")]
    Repeated(Repeated),
}

/// A parsed `Content-Type`: the essence (`type/subtype`, lower case) and its
/// parameters, each given once.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaType {
    mime: mime::Mime,
}

impl MediaType {
    /// Parses a `Content-Type` value.
    pub fn parse(text: &str) -> Result<MediaType, MediaTypeError> {
        let mime: mime::Mime = text.trim().parse().map_err(|_| MediaTypeError::Invalid)?;
        // The `mime` crate takes `text/` (an empty subtype) for a media type;
        // it is not one.
        if mime.subtype().as_str().is_empty() {
            return Err(MediaTypeError::Invalid);
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in mime.params() {
            // The `mime` crate does not end a quoted value at a quote right
            // after the opening one: it reads `a=""; b="` as one `a` whose
            // value is `"; b=`, where other parsers see an empty `a` and a
            // broken `b`. No token or quoted string holds a bare `"`, so a
            // value with one is such a second reading.
            if value.as_str().contains('"') {
                return Err(MediaTypeError::Invalid);
            }
            let name = name.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return Err(MediaTypeError::Repeated(Repeated {
                    name: name.to_ascii_lowercase(),
                }));
            }
            seen.push(name);
        }
        Ok(MediaType { mime })
    }

    /// `type/subtype`, lower case, without parameters.
    pub fn essence(&self) -> &str {
        self.mime.essence_str()
    }

    /// A parameter's value (names are case-insensitive), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.mime
            .params()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// JSON: `application/json` or any `+json` suffix.
    pub fn is_json(&self) -> bool {
        is_json(self.essence())
    }

    /// An HTML form without files.
    pub fn is_form(&self) -> bool {
        self.essence() == "application/x-www-form-urlencoded"
    }

    /// Any `multipart/*` type.
    pub fn is_multipart(&self) -> bool {
        self.mime.type_() == mime::MULTIPART
    }

    /// XML: `*/xml` or any `+xml` suffix.
    pub fn is_xml(&self) -> bool {
        let e = self.essence();
        e.ends_with("/xml") || e.ends_with("+xml")
    }

    /// `text/*`.
    pub fn is_text(&self) -> bool {
        self.mime.type_() == mime::TEXT
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mime)
    }
}

/// The essence of a media type written in a document (a key of an OpenAPI
/// `content` map, which may be a range such as `text/*`), lower case.
/// Text that is not a media type is kept, lower-cased, for exact matching.
pub fn essence_of(text: &str) -> String {
    match MediaType::parse(text) {
        Ok(m) => m.essence().to_string(),
        Err(_) => text.trim().to_ascii_lowercase(),
    }
}

/// Whether an essence is JSON: `application/json` or a `+json` suffix
/// (`application/merge-patch+json`, `application/problem+json`, …).
pub fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

/// Which documented key (an essence, possibly `type/*` or `*/*`) best
/// matches `essence`: an exact key first, then the type range, then `*/*`,
/// as OpenAPI says the more specific key wins.
pub fn best_match<'a>(
    documented: impl Iterator<Item = &'a str> + Clone,
    essence: &str,
) -> Option<&'a str> {
    if let Some(exact) = documented.clone().find(|k| *k == essence) {
        return Some(exact);
    }
    let main = essence.split('/').next().unwrap_or("");
    if let Some(range) = documented
        .clone()
        .find(|k| k.strip_suffix("/*").is_some_and(|t| t == main && t != "*"))
    {
        return Some(range);
    }
    documented.clone().find(|k| *k == "*/*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_essence_and_params() {
        let m = MediaType::parse("Multipart/Form-Data; Boundary=\"a b\"; charset=utf-8").unwrap();
        assert_eq!(m.essence(), "multipart/form-data");
        assert_eq!(m.param("boundary"), Some("a b"));
        assert!(m.is_multipart());
        assert!(
            MediaType::parse("application/vnd.api+json")
                .unwrap()
                .is_json()
        );
        assert!(MediaType::parse("application/soap+xml").unwrap().is_xml());
    }

    #[test]
    fn repeated_parameters_are_refused() {
        for text in [
            "multipart/form-data; boundary=aaa; boundary=xyz",
            "multipart/form-data; boundary=aaa; BOUNDARY=xyz",
            "application/json; charset=utf-8; charset=latin1",
        ] {
            assert!(
                matches!(MediaType::parse(text), Err(MediaTypeError::Repeated(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn garbage_is_invalid() {
        // Found by fuzzing (fuzz/fuzz_targets/media_type.rs): an empty
        // subtype, and a quote in a parameter value (see `parse`).
        for text in [
            "",
            "json",
            "/",
            "a/b; =x",
            "a/b c",
            "text/",
            "multipart/; boundary=x",
            "a/a; n=\"\"\"",
            "application/json; charset=\"\"; x=\"",
            "multipart/form-data; boundary=\"\";boundary=\"",
        ] {
            assert_eq!(
                MediaType::parse(text),
                Err(MediaTypeError::Invalid),
                "{text}"
            );
        }
    }

    #[test]
    fn document_keys_have_an_essence() {
        assert_eq!(
            essence_of("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence_of("text/*"), "text/*");
        assert_eq!(essence_of("*/*"), "*/*");
    }

    #[test]
    fn documented_keys_match_most_specific_first() {
        let keys = ["*/*", "text/*", "text/plain"];
        assert_eq!(
            best_match(keys.iter().copied(), "text/plain"),
            Some("text/plain")
        );
        assert_eq!(best_match(keys.iter().copied(), "text/csv"), Some("text/*"));
        assert_eq!(best_match(keys.iter().copied(), "image/png"), Some("*/*"));
    }
}
