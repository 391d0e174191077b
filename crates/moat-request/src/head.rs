//! The head of a request, parsed once at entry.

use http::Version;
use http::header::{self, HeaderMap};

use crate::canonical_path::{CanonicalPath, PathError};
use crate::cookies::Cookies;
use crate::fields::FieldNotes;
use crate::media::{MediaType, MediaTypeError};
use crate::query::Query;

/// Why a request head has no single reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The path has no canonical form.
    #[error("{0}")]
    Path(PathError),
    /// A field that must appear once appears more than once.
    #[error("the {0} header is given more than once")]
    Repeated(SingleField),
    /// `Host` is missing on HTTP/1.1 or HTTP/2 (RFC 9112 §3.2).
    #[error("the Host header is missing")]
    MissingHost,
    /// `Host` is not a host and optional port, or disagrees with the
    /// target's authority.
    #[error("the Host header is invalid")]
    InvalidHost,
    /// The `Content-Type` cannot be read one way only.
    #[error("the Content-Type is invalid: {0}")]
    MediaType(MediaTypeError),
    /// `Transfer-Encoding` names a coding besides the one `chunked` the
    /// HTTP parser removed (`gzip, chunked`): the body the parser hands on
    /// is still coded, and forwarding it without the coding would change
    /// it (RFC 9112 §6.1: `501`).
    #[error("the Transfer-Encoding names a coding other than chunked")]
    TransferCoding,
}

/// A field a request may carry at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingleField {
    /// `Host`.
    Host,
    /// `Content-Type`.
    ContentType,
}

impl SingleField {
    fn name(self) -> header::HeaderName {
        match self {
            SingleField::Host => header::HOST,
            SingleField::ContentType => header::CONTENT_TYPE,
        }
    }
}

impl std::fmt::Display for SingleField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SingleField::Host => "Host",
            SingleField::ContentType => "Content-Type",
        })
    }
}

/// What every control reads of a request head.
#[derive(Debug, Clone)]
pub struct Head {
    /// The canonical path.
    pub path: CanonicalPath,
    /// The requested host, lower case, without port or trailing dot.
    pub host: Option<String>,
    /// The decoded query.
    pub query: Query,
    /// The cookies.
    pub cookies: Cookies,
    /// The body's media type, when a `Content-Type` is given.
    pub media: Option<MediaType>,
    /// The declared body length.
    pub content_length: Option<u64>,
    /// Fields some applications read otherwise than the gateway.
    pub fields: FieldNotes,
}

impl Head {
    /// Reads the head of `req` (its body untouched) into one view, or says
    /// why there is more than one.
    pub fn of<B>(req: &http::Request<B>) -> Result<Head, HeadError> {
        let (uri, headers) = (req.uri(), req.headers());
        let path = CanonicalPath::parse(uri.path()).map_err(HeadError::Path)?;
        let host = host(uri, headers, req.version())?;
        let media = match one(headers, SingleField::ContentType)? {
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| HeadError::MediaType(MediaTypeError::Invalid))
                    .and_then(|t| MediaType::parse(t).map_err(HeadError::MediaType))?,
            ),
            None => None,
        };
        let content_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let query = uri.query().map(Query::parse).unwrap_or_default();
        let fields = FieldNotes::of(headers, &query).map_err(|_| HeadError::TransferCoding)?;
        Ok(Head {
            path,
            host,
            fields,
            query,
            cookies: Cookies::parse(headers),
            media,
            content_length,
        })
    }
}

/// The one value of a field that may appear once.
fn one(headers: &HeaderMap, field: SingleField) -> Result<Option<&http::HeaderValue>, HeadError> {
    let mut all = headers.get_all(field.name()).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(HeadError::Repeated(field));
    }
    Ok(first)
}

/// The requested host: the target's authority (HTTP/2 `:authority`, or an
/// absolute-form target) or the `Host` field; both must agree when both are
/// given.
pub fn host(
    uri: &http::Uri,
    headers: &HeaderMap,
    version: Version,
) -> Result<Option<String>, HeadError> {
    let field = match one(headers, SingleField::Host)? {
        Some(v) => {
            let text = v.to_str().map_err(|_| HeadError::InvalidHost)?;
            Some(authority_host(text)?)
        }
        None => None,
    };
    let target = match uri.authority() {
        Some(a) => Some(authority_host(a.as_str())?),
        None => None,
    };
    match (target, field) {
        (Some(t), Some(f)) if t != f => Err(HeadError::InvalidHost),
        (Some(h), _) | (None, Some(h)) => Ok(Some(h)),
        (None, None) if version >= Version::HTTP_11 => Err(HeadError::MissingHost),
        (None, None) => Ok(None),
    }
}

/// The host of an authority (`host[:port]`), lower case, trailing dot
/// removed. User information and anything but a host and port are refused.
fn authority_host(text: &str) -> Result<String, HeadError> {
    let parsed;
    let (host, name_checked) = match plain_host(text) {
        Some(host) => (host, true),
        None => {
            parsed = text
                .parse::<http::uri::Authority>()
                .map_err(|_| HeadError::InvalidHost)?;
            if parsed.as_str().contains('@') || parsed.host().is_empty() {
                return Err(HeadError::InvalidHost);
            }
            (parsed.host(), false)
        }
    };
    let valid = if name_checked {
        // `plain_host` checked every byte already.
        !host.contains("..")
    } else if let Some(ip6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        ip6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !host.contains("..")
    };
    // Checked after the trailing dot goes: `Host: .` names no host.
    let host = host.trim_end_matches('.');
    if !valid || host.is_empty() {
        return Err(HeadError::InvalidHost);
    }
    Ok(host.to_ascii_lowercase())
}

/// The host of the common authority, `name[:port]` with a name of letters,
/// digits, `.`, `-` and `_` and a port that fits 16 bits, without the
/// copy and the general parse; `None` sends anything else to
/// [`http::uri::Authority`]'s parser. What it accepts, that parser accepts
/// with the same host.
fn plain_host(text: &str) -> Option<&str> {
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    (!host.is_empty() && host.bytes().all(name) && port_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_refused() {
        let te = |values: &[&str]| {
            let pairs: Vec<(&str, &str)> = std::iter::once(("host", "h"))
                .chain(values.iter().map(|v| ("transfer-encoding", *v)))
                .collect();
            Head::of(&request("/x", &pairs)).err()
        };
        assert_eq!(te(&[]), None);
        assert_eq!(te(&["chunked"]), None);
        assert_eq!(te(&["Chunked"]), None);
        for bad in [
            &["gzip, chunked"][..],
            &["gzip", "chunked"],
            &["chunked, chunked"],
            &["identity"],
            &["deflate"],
        ] {
            assert_eq!(te(bad), Some(HeadError::TransferCoding), "{bad:?}");
        }
    }

    #[test]
    fn host_is_normalised() {
        let h = |v: &str| Head::of(&request("/x", &[("host", v)])).map(|h| h.host);
        assert_eq!(
            h("API.Example.com:8443"),
            Ok(Some("api.example.com".into()))
        );
        assert_eq!(h("example.com."), Ok(Some("example.com".into())));
        assert_eq!(h("[::1]:8080"), Ok(Some("[::1]".into())));
        for bad in ["a/b", "a..b", "\"x\"", "u@host", "a b", "", "[zz]"] {
            assert_eq!(h(bad), Err(HeadError::InvalidHost), "{bad}");
        }
        // Found by fuzzing (fuzz/fuzz_targets/head.rs): a host that is only
        // the trailing dot was read as the empty host.
        for bad in [".", ".:8080"] {
            assert_eq!(h(bad), Err(HeadError::InvalidHost), "{bad}");
        }
        assert_eq!(
            Head::of(&request("https://./x", &[])).err(),
            Some(HeadError::InvalidHost)
        );
        let abs = Head::of(&request("https://Other.example/x", &[])).unwrap();
        assert_eq!(abs.host.as_deref(), Some("other.example"));
        assert_eq!(
            Head::of(&request("https://a.example/x", &[("host", "b.example")])).err(),
            Some(HeadError::InvalidHost)
        );
        assert_eq!(
            Head::of(&request("/x", &[])).err(),
            Some(HeadError::MissingHost)
        );
    }

    /// The full authority parse, as `authority_host` falls back to it.
    fn by_authority_parser(text: &str) -> Option<String> {
        let a: http::uri::Authority = text.parse().ok()?;
        (!a.as_str().contains('@')).then(|| a.host().to_string())
    }

    #[test]
    fn the_plain_host_shortcut_agrees_with_the_authority_parser() {
        for text in [
            "example.com",
            "example.com:8080",
            "a_b-c.d:65535",
            "x:0",
            "127.0.0.1:80",
        ] {
            assert_eq!(
                plain_host(text).map(str::to_string),
                by_authority_parser(text),
                "{text}"
            );
        }
        // Left to the parser: empty or oversized ports, IPv6, user info,
        // anything outside the name bytes.
        for text in [
            "", "a:", ":80", "a:65536", "a:123456", "a:8x", "[::1]", "u@h", "a:1:2", "%41",
        ] {
            assert_eq!(plain_host(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn whatever_the_shortcut_accepts_the_parser_reads_alike(
            text in "[a-zA-Z0-9._:@%\\[\\]-]{0,12}",
        ) {
            if let Some(host) = plain_host(&text) {
                proptest::prop_assert_eq!(Some(host.to_string()), by_authority_parser(&text));
            }
        }
    }

    #[test]
    fn fields_given_twice_are_refused() {
        let two_hosts = request("/x", &[("host", "a"), ("host", "b")]);
        assert_eq!(
            Head::of(&two_hosts).err(),
            Some(HeadError::Repeated(SingleField::Host))
        );
        let two_types = request(
            "/x",
            &[
                ("host", "a"),
                ("content-type", "application/json"),
                ("content-type", "text/plain"),
            ],
        );
        assert_eq!(
            Head::of(&two_types).err(),
            Some(HeadError::Repeated(SingleField::ContentType))
        );
        let two_boundaries = request(
            "/x",
            &[
                ("host", "a"),
                (
                    "content-type",
                    "multipart/form-data; boundary=a; boundary=b",
                ),
            ],
        );
        assert!(matches!(
            Head::of(&two_boundaries).err(),
            Some(HeadError::MediaType(MediaTypeError::Repeated(_)))
        ));
    }

    #[test]
    fn the_query_and_cookies_are_read_once() {
        let head = Head::of(&request(
            "/a/%62?x=1&y=a+b",
            &[("host", "h"), ("cookie", "s=1")],
        ))
        .unwrap();
        assert_eq!(head.path.as_str(), "/a/b");
        assert_eq!(head.query.unique("y"), Ok(Some("a b")));
        assert_eq!(head.cookies.unique("s"), Ok(Some("1")));
    }
}
