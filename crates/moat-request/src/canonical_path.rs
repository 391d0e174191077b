//! One spelling per path, decided once when a request enters.
//!
//! Proxies and the servers behind them have been bypassed for decades by
//! spelling one path several ways (`/admin`, `/%61dmin`, `//admin`,
//! `/x/../admin`, `/admin%2f..`): the gateway decides on one spelling and the
//! upstream acts on another. moat therefore turns the request path into a
//! single canonical form before anything looks at it, uses that form for
//! routing, for every guard and in the request it forwards, and refuses what
//! has no safe canonical form.
//!
//! The rule:
//!
//! 1. The path must be in origin form (start with `/`).
//! 2. Percent escapes are decoded. An escape that is malformed (`%zz`, `%4`),
//!    decodes to a separator (`%2F`, `%5C`), to NUL or another control
//!    character, or leaves bytes that are not UTF-8 (this includes overlong
//!    forms such as `%C0%AE`) is refused. A raw `\` is refused: some servers
//!    treat it as `/`.
//! 3. Empty segments (`//`) are removed and dot segments (`.`, `..`, also when
//!    written `%2e`) are resolved as RFC 3986 §5.2.4 says. A `..` that would
//!    climb above the root is refused.
//! 4. A trailing slash is kept and is significant: `/books/` is not `/books`.
//! 5. The forwarded form re-encodes each decoded segment: unreserved
//!    characters, sub-delimiters other than `;`, `:` and `@` stay literal,
//!    everything else (including `;`, so that servers which strip `;params`
//!    cannot see a different path) is percent-encoded with upper-case hex.

use std::fmt;

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/` (e.g. `*` or an absolute URL).
    NotOriginForm,
    /// A `%` not followed by two hex digits.
    InvalidPercentEncoding,
    /// `%2F` or `%5C`: an encoded `/` or `\`, which servers disagree about.
    EncodedSeparator,
    /// A raw `\`.
    Backslash,
    /// NUL or another control character.
    ControlCharacter,
    /// Decoded bytes that are not UTF-8, including overlong encodings.
    InvalidUtf8,
    /// A `..` segment above the root.
    AboveRoot,
}

impl PathError {
    /// A short explanation, safe to show to the client.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotOriginForm => "the request target must be a path starting with `/`",
            PathError::InvalidPercentEncoding => "the path has an invalid percent-encoding",
            PathError::EncodedSeparator => "the path has an encoded `/` or `\\` (`%2F`, `%5C`)",
            PathError::Backslash => "the path has a `\\`",
            PathError::ControlCharacter => "the path has a control character",
            PathError::InvalidUtf8 => "the path's percent-encoded bytes are not valid UTF-8",
            PathError::AboveRoot => "the path's `..` segments climb above the root",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for PathError {}

/// A request path in its one canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// The encoded form, as forwarded: `/books/caf%C3%A9`.
    encoded: String,
    /// The decoded segments: `["books", "café"]`; a trailing slash is a final
    /// empty segment.
    segments: Vec<String>,
}

impl CanonicalPath {
    /// Canonicalises the path part of a request target (no query).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        match Self::already_canonical(raw) {
            Some(path) => Ok(path),
            None => Self::canonicalise(raw),
        }
    }

    /// The common case: a path already in its canonical spelling (only
    /// literal characters, no empty segment but a trailing slash, no dot
    /// segment) is its own encoded form and its segments need no decoding.
    /// `None` for anything else, which [`Self::canonicalise`] reads.
    fn already_canonical(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix('/')?;
        if !rest.bytes().all(|b| b == b'/' || is_literal(b)) {
            return None;
        }
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let mut parts = rest.split('/').peekable();
            while let Some(segment) = parts.next() {
                let last = parts.peek().is_none();
                if (segment.is_empty() && !last) || segment == "." || segment == ".." {
                    return None;
                }
                segments.push(segment.to_string());
            }
        }
        Some(Self {
            encoded: raw.to_string(),
            segments,
        })
    }

    /// Decodes, resolves and re-encodes any path.
    fn canonicalise(raw: &str) -> Result<Self, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::NotOriginForm)?;
        let mut segments: Vec<String> = Vec::new();
        let mut trailing_slash = false;
        for raw_segment in rest.split('/') {
            let segment = decode_segment(raw_segment)?;
            trailing_slash = false;
            match segment.as_str() {
                "" => trailing_slash = true,
                "." => trailing_slash = true,
                ".." => {
                    segments.pop().ok_or(PathError::AboveRoot)?;
                    trailing_slash = true;
                }
                _ => segments.push(segment),
            }
        }
        if trailing_slash && !segments.is_empty() {
            segments.push(String::new());
        }
        let mut encoded = String::with_capacity(raw.len());
        if segments.is_empty() {
            encoded.push('/');
        }
        for s in &segments {
            encoded.push('/');
            encode_segment(s, &mut encoded);
        }
        Ok(Self { encoded, segments })
    }

    /// The encoded form, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The decoded segments. The root path has none.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The segments after `prefix` (whole segments), if the path starts with it.
    pub fn strip_prefix<'a>(&'a self, prefix: &[String]) -> Option<&'a [String]> {
        let rest = self.segments.strip_prefix(prefix)?;
        Some(rest)
    }

    /// The encoded form of the segments after the first `n`, starting with `/`.
    pub fn encoded_after(&self, n: usize) -> &str {
        if n >= self.segments.len() {
            return "/";
        }
        // The encoded form is `/` and the encoding of each segment, and an
        // encoded segment holds no `/`: the rest starts at the n-th `/`.
        match self.encoded.match_indices('/').nth(n) {
            Some((at, _)) => &self.encoded[at..],
            None => "/",
        }
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        check_bytes(bytes, false)?;
        return Ok(raw.to_string());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::InvalidPercentEncoding);
            };
            let decoded = h << 4 | l;
            if decoded == b'/' || decoded == b'\\' {
                return Err(PathError::EncodedSeparator);
            }
            out.push(decoded);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    check_bytes(&out, true)?;
    String::from_utf8(out).map_err(|_| PathError::InvalidUtf8)
}

fn check_bytes(bytes: &[u8], decoded: bool) -> Result<(), PathError> {
    for &b in bytes {
        if b == b'\\' {
            return Err(if decoded {
                PathError::EncodedSeparator
            } else {
                PathError::Backslash
            });
        }
        if b < 0x20 || b == 0x7f {
            return Err(PathError::ControlCharacter);
        }
    }
    Ok(())
}

/// Characters left literal in a canonical segment (RFC 3986 pchar minus `;`).
fn is_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&b)
}

fn encode_segment(segment: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment.as_bytes() {
        if is_literal(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, PathError> {
        CanonicalPath::parse(raw).map(|p| p.as_str().to_string())
    }

    #[test]
    fn alternative_spellings_reach_one_form() {
        for raw in [
            "/api/books/1",
            "/api//books/1",
            "/api/./books/1",
            "/api/x/../books/1",
            "/%61pi/books/%31",
            "/api/%2e/books/1",
            "/api/x/%2E%2E/books/1",
            "///api/books/1",
        ] {
            assert_eq!(canon(raw).unwrap(), "/api/books/1", "{raw}");
        }
    }

    #[test]
    fn the_shortcut_for_canonical_paths_agrees_with_the_general_reading() {
        let pieces = [
            "a",
            "books",
            "1",
            "",
            ".",
            "..",
            "...",
            "%2e",
            "%41",
            "caf%C3%A9",
            "é",
            ";",
            "a;b",
            "~",
            "!$&'()*+,=:@",
            " ",
            "%20",
            "\\",
            "%00",
            "x%2Fy",
            "%zz",
        ];
        let mut seen = 0;
        for a in pieces {
            for b in pieces {
                for c in ["", "/", "/x", "//", "/."] {
                    let raw = format!("/{a}/{b}{c}");
                    let general = CanonicalPath::canonicalise(&raw);
                    if let Some(quick) = CanonicalPath::already_canonical(&raw) {
                        seen += 1;
                        assert_eq!(Ok(&quick), general.as_ref(), "{raw}");
                    }
                    assert_eq!(CanonicalPath::parse(&raw), general, "{raw}");
                }
            }
        }
        assert!(seen > 100, "the shortcut was taken {seen} times");
        for raw in ["/", "/a/", "/a/b", "/a/.../b/"] {
            assert!(CanonicalPath::already_canonical(raw).is_some(), "{raw}");
        }
        for raw in ["", "a", "//", "/./a", "/a/../b", "/a//b", "/%61", "/a;b"] {
            assert!(CanonicalPath::already_canonical(raw).is_none(), "{raw}");
        }
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(canon("/api/books/").unwrap(), "/api/books/");
        assert_eq!(canon("/api/books/.").unwrap(), "/api/books/");
        assert_eq!(canon("/api/books/x/..").unwrap(), "/api/books/");
        assert_eq!(canon("/").unwrap(), "/");
        assert_eq!(canon("/.").unwrap(), "/");
        let p = CanonicalPath::parse("/a/").unwrap();
        assert_eq!(p.segments(), ["a", ""]);
    }

    #[test]
    fn refuses_what_has_no_safe_form() {
        assert_eq!(canon("*"), Err(PathError::NotOriginForm));
        assert_eq!(canon("/a%2fb"), Err(PathError::EncodedSeparator));
        assert_eq!(canon("/a%5Cb"), Err(PathError::EncodedSeparator));
        assert_eq!(canon("/a\\b"), Err(PathError::Backslash));
        assert_eq!(canon("/a%zz"), Err(PathError::InvalidPercentEncoding));
        assert_eq!(canon("/a%4"), Err(PathError::InvalidPercentEncoding));
        assert_eq!(canon("/a%00b"), Err(PathError::ControlCharacter));
        assert_eq!(canon("/a%0d%0aX"), Err(PathError::ControlCharacter));
        assert_eq!(canon("/%c0%ae%c0%ae/etc"), Err(PathError::InvalidUtf8));
        assert_eq!(canon("/a/%ff"), Err(PathError::InvalidUtf8));
        assert_eq!(canon("/../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(canon("/a/../../b"), Err(PathError::AboveRoot));
    }

    #[test]
    fn encoding_is_normalised() {
        assert_eq!(canon("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/café").unwrap(), "/caf%C3%A9");
        assert_eq!(canon("/a b").unwrap(), "/a%20b");
        assert_eq!(canon("/a;jsessionid=1").unwrap(), "/a%3Bjsessionid=1");
        assert_eq!(canon("/..;/admin").unwrap(), "/..%3B/admin");
        assert_eq!(canon("/a%2525").unwrap(), "/a%2525");
        assert_eq!(canon("/~user/a:b@c").unwrap(), "/~user/a:b@c");
        let p = CanonicalPath::parse("/caf%C3%A9/x%20y").unwrap();
        assert_eq!(p.segments(), ["café", "x y"]);
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        for raw in ["/a/b/", "/caf%c3%a9", "/a;b", "/x/%2e%2e/y", "/%7Euser"] {
            let once = canon(raw).unwrap();
            assert_eq!(canon(&once).unwrap(), once, "{raw}");
        }
    }

    #[test]
    fn prefix_stripping_is_by_whole_segments() {
        let p = CanonicalPath::parse("/shop/api/books").unwrap();
        let shop = vec!["shop".to_string()];
        assert_eq!(p.strip_prefix(&shop).unwrap(), ["api", "books"]);
        assert_eq!(p.encoded_after(1), "/api/books");
        let sh = vec!["sh".to_string()];
        assert!(p.strip_prefix(&sh).is_none());
    }

    #[test]
    fn the_rest_after_whole_segments_is_their_encoding() {
        // The rest is read off the encoded form: it must be the segments'
        // own encoding, joined.
        let joined = |p: &CanonicalPath, n: usize| {
            let rest = &p.segments()[n.min(p.segments().len())..];
            if rest.is_empty() {
                return "/".to_string();
            }
            let mut out = String::new();
            for s in rest {
                out.push('/');
                encode_segment(s, &mut out);
            }
            out
        };
        for raw in [
            "/",
            "/a",
            "/a/",
            "/a/b%20c/",
            "/caf%C3%A9/x/./y/../z",
            "/a//b",
            "/%7E/~",
        ] {
            let p = CanonicalPath::parse(raw).unwrap();
            for n in 0..5 {
                assert_eq!(p.encoded_after(n), joined(&p, n), "{raw} after {n}");
            }
        }
    }
}
