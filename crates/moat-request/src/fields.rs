//! Header fields the application behind the gateway may read otherwise
//! than the gateway: noted once, while the head is read, for the gateway's
//! policy to refuse, strip or allow.
//!
//! - **Method overrides.** Rails, Laravel, Symfony, Express's
//!   `method-override`, ASP.NET and others run a request as the method
//!   named in `X-HTTP-Method-Override`, `X-Method-Override`,
//!   `X-HTTP-Method` or a `_method` parameter: a `POST` the gateway
//!   authorized becomes a `DELETE` it never saw.
//! - **Underscores in field names.** CGI, WSGI (gunicorn before 22,
//!   waitress), PHP-FPM and Rack expose fields as variables in which `-`
//!   and `_` are the same character: `x_moat_roles` reaches the
//!   application as `X-Moat-Roles`, a field the gateway removes and sets
//!   itself.
//! - **Content codings.** A `Content-Encoding: gzip` body is bytes the
//!   gateway would validate and inspect as they are while the application
//!   decompresses them first.

use http::HeaderMap;
use http::header::{self, HeaderName};

/// The fields that name a second method, as `HeaderName`s (lower case).
pub const METHOD_OVERRIDE_FIELDS: [HeaderName; 3] = [
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-http-method"),
];

/// The query or form parameter that names a second method.
pub const METHOD_OVERRIDE_PARAMETER: &str = "_method";

/// Where a request names a second method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodOverride {
    /// One of [`METHOD_OVERRIDE_FIELDS`].
    Field(HeaderName),
    /// The [`METHOD_OVERRIDE_PARAMETER`] query parameter.
    Parameter,
}

impl std::fmt::Display for MethodOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MethodOverride::Field(name) => f.write_str(name.as_str()),
            MethodOverride::Parameter => write!(f, "the `{METHOD_OVERRIDE_PARAMETER}` parameter"),
        }
    }
}

/// What the head's fields say that some application reads otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldNotes {
    /// The first field whose name has an underscore.
    pub underscored: Option<HeaderName>,
    /// The first place the request names a second method.
    pub method_override: Option<MethodOverride>,
    /// The body has a content coding other than `identity`.
    pub content_coded: bool,
}

impl FieldNotes {
    /// Notes the fields of `headers` (one pass over them) and whether the
    /// decoded query has a `_method` parameter. `Err` when
    /// `Transfer-Encoding` names a coding other than `chunked` alone.
    pub fn of(headers: &HeaderMap, query: &crate::Query) -> Result<FieldNotes, CodingError> {
        let mut notes = FieldNotes::default();
        let mut codings = Codings::default();
        for (name, value) in headers {
            if *name == header::TRANSFER_ENCODING {
                codings.transfer(value.as_bytes());
                continue;
            }
            if *name == header::CONTENT_ENCODING {
                notes.content_coded |=
                    tokens(value.as_bytes()).any(|t| !t.eq_ignore_ascii_case(b"identity"));
                continue;
            }
            let text = name.as_str();
            if notes.underscored.is_none() && memchr::memchr(b'_', text.as_bytes()).is_some() {
                notes.underscored = Some(name.clone());
            }
            if notes.method_override.is_none()
                && text.starts_with("x-")
                && METHOD_OVERRIDE_FIELDS.iter().any(|f| f == name)
            {
                notes.method_override = Some(MethodOverride::Field(name.clone()));
            }
        }
        if !codings.only_chunked() {
            return Err(CodingError);
        }
        if notes.method_override.is_none()
            && query.values(METHOD_OVERRIDE_PARAMETER).next().is_some()
        {
            notes.method_override = Some(MethodOverride::Parameter);
        }
        Ok(notes)
    }
}

/// `Transfer-Encoding` names a coding besides the one `chunked` the HTTP
/// parser removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodingError;

/// The transfer codings of a head, counted as they are seen.
#[derive(Default)]
struct Codings {
    chunked: usize,
    other: bool,
}

impl Codings {
    fn transfer(&mut self, value: &[u8]) {
        for t in tokens(value) {
            if t.eq_ignore_ascii_case(b"chunked") {
                self.chunked += 1;
            } else {
                self.other = true;
            }
        }
    }

    /// Absent, or `chunked` alone: the one coding the parser removes.
    fn only_chunked(&self) -> bool {
        !self.other && self.chunked <= 1
    }
}

/// The non-empty, trimmed tokens of a comma-separated field value.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Whether a field name is `name` once underscores are read as dashes (the
/// reading of CGI-style servers). Both are lower case.
pub fn reads_as(field: &HeaderName, name: &HeaderName) -> bool {
    let (a, b) = (field.as_str().as_bytes(), name.as_str().as_bytes());
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (x == b'_' && y == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn overrides_are_found_in_any_case_and_in_the_query() {
        for name in [
            "X-HTTP-Method-Override",
            "x-method-override",
            "X-Http-Method",
        ] {
            let notes =
                FieldNotes::of(&headers(&[(name, "DELETE")]), &crate::Query::default()).unwrap();
            assert_eq!(
                notes.method_override,
                Some(MethodOverride::Field(
                    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap()
                )),
                "{name}"
            );
        }
        let q = crate::Query::parse("a=1&_method=DELETE");
        assert_eq!(
            FieldNotes::of(&HeaderMap::new(), &q)
                .unwrap()
                .method_override,
            Some(MethodOverride::Parameter)
        );
        // An escaped name is the same parameter to the application.
        let q = crate::Query::parse("%5Fmethod=PUT");
        assert_eq!(
            FieldNotes::of(&HeaderMap::new(), &q)
                .unwrap()
                .method_override,
            Some(MethodOverride::Parameter)
        );
        let plain = FieldNotes::of(
            &headers(&[("x-http-methods", "x"), ("accept", "*/*")]),
            &crate::Query::parse("method=DELETE"),
        )
        .unwrap();
        assert_eq!(plain, FieldNotes::default());
    }

    #[test]
    fn underscores_and_codings_are_noted() {
        let notes = FieldNotes::of(
            &headers(&[("accept", "*/*"), ("x_moat_roles", "admin")]),
            &crate::Query::default(),
        )
        .unwrap();
        assert_eq!(notes.underscored.unwrap().as_str(), "x_moat_roles");
        for (value, coded) in [
            ("gzip", true),
            ("identity", false),
            ("Identity, br", true),
            (" ", false),
        ] {
            let notes = FieldNotes::of(
                &headers(&[("content-encoding", value)]),
                &crate::Query::default(),
            )
            .unwrap();
            assert_eq!(notes.content_coded, coded, "{value:?}");
        }
    }

    #[test]
    fn underscores_read_as_dashes() {
        let n = |s: &str| HeaderName::from_bytes(s.as_bytes()).unwrap();
        assert!(reads_as(&n("x_moat_consumer"), &n("x-moat-consumer")));
        assert!(reads_as(&n("x-moat_consumer"), &n("x-moat-consumer")));
        assert!(reads_as(&n("x-moat-consumer"), &n("x-moat-consumer")));
        assert!(!reads_as(&n("x_moat_consumers"), &n("x-moat-consumer")));
        assert!(!reads_as(&n("x-moat-consumer"), &n("x_moat_consumer")));
    }
}
