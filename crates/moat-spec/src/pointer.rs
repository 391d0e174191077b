//! JSON pointers (RFC 6901) as they appear in `$ref` fragments.
//!
//! A `$ref` is a URI reference, so its fragment is percent-encoded first
//! (`%7Bid%7D` is `{id}`) and a JSON pointer second (`~1` is `/`, `~0` is
//! `~`). Both layers are undone here, and nowhere else, so that every place
//! that follows a reference agrees on what it names.

use std::borrow::Cow;

use serde_json::Value;

/// Undoes `%XX` escapes (the request view's strict decoder).
///
/// `None` when a `%` is not followed by two hex digits or the decoded bytes
/// are not UTF-8: such a reference cannot name anything in a document.
pub(crate) fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    moat_request::percent::decode_strict(s).map(Cow::Owned)
}

/// Why a fragment is not a JSON pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointerError {
    /// A non-empty pointer must start with `/`.
    NoLeadingSlash,
    /// `~` must be followed by `0` or `1`.
    BadEscape,
}

impl PointerError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::NoLeadingSlash => "a JSON pointer must start with `/`",
            Self::BadEscape => {
                "in a JSON pointer `~` must be followed by `0` (for `~`) or `1` (for `/`)"
            }
        }
    }
}

/// Splits a JSON pointer (already percent-decoded) into its unescaped
/// reference tokens. The empty pointer names the whole document.
pub(crate) fn tokens(pointer: &str) -> Result<Vec<String>, PointerError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or(PointerError::NoLeadingSlash)?;
    rest.split('/').map(unescape).collect()
}

fn unescape(token: &str) -> Result<String, PointerError> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(PointerError::BadEscape),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// One step down: an object member, or an array element by its index.
///
/// Array indices follow RFC 6901: decimal digits with no leading zero.
pub(crate) fn child<'a>(value: &'a Value, token: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => {
            let valid = !token.is_empty()
                && token.bytes().all(|b| b.is_ascii_digit())
                && (token == "0" || !token.starts_with('0'));
            if valid {
                items.get(token.parse::<usize>().ok()?)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%7Bb%7d").as_deref(), Some("a{b}"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn pointer_tokens() {
        assert_eq!(tokens("").unwrap(), Vec::<String>::new());
        assert_eq!(tokens("/a~1b/c~0d/").unwrap(), vec!["a/b", "c~d", ""]);
        assert_eq!(tokens("~01").unwrap_err(), PointerError::NoLeadingSlash);
        assert_eq!(tokens("/a~2").unwrap_err(), PointerError::BadEscape);
        assert_eq!(tokens("/a~").unwrap_err(), PointerError::BadEscape);
    }

    #[test]
    fn array_indices() {
        let v = serde_json::json!([10, 11]);
        assert_eq!(child(&v, "1"), Some(&serde_json::json!(11)));
        assert_eq!(child(&v, "01"), None);
        assert_eq!(child(&v, "-"), None);
        assert_eq!(child(&v, "2"), None);
    }
}
