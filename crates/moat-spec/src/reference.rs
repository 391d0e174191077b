//! What a `$ref` string says, and every way following one can fail.
//!
//! moat reads a spec once, at startup or reload, from files the operator
//! controls. So it resolves references to the same document and to files next
//! to it, and refuses anything that would need the network: a gateway that
//! fetched `https://…` while loading its own policy could be steered by
//! whoever controls that host, and would fail to start when the host is down.

use std::borrow::Cow;

use crate::pointer::percent_decode;

/// The longest chain of references followed before giving up, so that a
/// chain of refs to refs is bounded however it was written.
pub const MAX_REF_CHAIN: usize = 32;

/// A `$ref` split into where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference<'a> {
    /// A document in the same tree of files: `file` is `None` for the
    /// referring document itself, otherwise the path as written (still
    /// percent-encoded: it is the key under which the loader recorded it).
    Relative {
        file: Option<&'a str>,
        /// The percent-decoded fragment: a JSON pointer, a plain-name
        /// anchor (OpenAPI 3.1 schemas), or empty for the whole document.
        fragment: Cow<'a, str>,
    },
    /// An absolute URI (`https://…`, `urn:…`): only resolvable when some
    /// loaded schema declares it as its `$id`.
    Absolute {
        /// The URI without its fragment.
        uri: &'a str,
        /// The percent-decoded fragment.
        fragment: Cow<'a, str>,
    },
}

impl<'a> Reference<'a> {
    /// Parses a `$ref` string.
    pub(crate) fn parse(reference: &'a str) -> Result<Self, ResolveError> {
        let (location, fragment) = match reference.split_once('#') {
            Some((l, f)) => (l, f),
            None => (reference, ""),
        };
        let fragment = percent_decode(fragment).ok_or_else(|| ResolveError::Malformed {
            reference: reference.to_string(),
            reason: "its fragment has an invalid percent-escape (`%` must be followed by two hex digits of UTF-8)"
                .to_string(),
        })?;
        if has_scheme(location) {
            return Ok(Self::Absolute {
                uri: location,
                fragment,
            });
        }
        if location.starts_with("//") {
            // A network-path reference: a host without a scheme.
            return Err(ResolveError::Remote {
                reference: reference.to_string(),
            });
        }
        if location.contains('?') {
            return Err(ResolveError::Malformed {
                reference: reference.to_string(),
                reason: "a file reference cannot have a query string".to_string(),
            });
        }
        Ok(Self::Relative {
            file: (!location.is_empty()).then_some(location),
            fragment,
        })
    }
}

/// RFC 3986: `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` then `:`.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    // One letter before `:` is a Windows drive (`C:\…`), not a scheme anyone
    // would write in a `$ref`.
    scheme.len() > 1
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// True for the schemes that would mean fetching over the network.
pub(crate) fn is_remote(uri: &str) -> bool {
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Why a `$ref` could not be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// `http://` or `https://` (or `//host`): moat never fetches over the
    /// network.
    #[error("`{reference}` is a remote reference; moat does not fetch documents over the network")]
    Remote {
        /// The `$ref` as written.
        reference: String,
    },
    /// Another URI scheme (`urn:`, `file:`, …) that no loaded schema declares
    /// as its `$id`.
    #[error("`{reference}` uses a URI scheme moat cannot resolve")]
    UnsupportedScheme {
        /// The `$ref` as written.
        reference: String,
    },
    /// Not a valid reference: a bad escape, a fragment that is neither a
    /// JSON pointer nor an anchor, a query string.
    #[error("`{reference}` is malformed: {reason}")]
    Malformed {
        /// The `$ref` as written.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The document exists but has nothing at the pointer.
    #[error("`{reference}` points to nothing: {what}")]
    NotFound {
        /// The `$ref` as written.
        reference: String,
        /// Which part is missing, e.g. "`#/components/schemas` has no `Pets`".
        what: String,
        /// A close reference that does resolve, when there is one.
        suggestion: Option<String>,
    },
    /// A file reference to a file that was not loaded with the spec (or could
    /// not be read when it was).
    #[error("`{reference}` names a file that was not loaded with this spec")]
    FileNotLoaded {
        /// The `$ref` as written.
        reference: String,
    },
    /// References that lead back to themselves without reaching a value.
    #[error("`$ref` loop: {}", chain.join(" -> "))]
    Loop {
        /// The references followed, the last one repeating an earlier one.
        chain: Vec<String>,
    },
    /// More than [`MAX_REF_CHAIN`] references in a row.
    #[error("`{reference}` starts a chain of more than {MAX_REF_CHAIN} references")]
    TooDeep {
        /// The first `$ref` of the chain.
        reference: String,
    },
    /// A [`crate::DocId`] from another spec.
    #[error("the document id does not belong to this spec")]
    UnknownDocument,
}

impl ResolveError {
    /// A way forward for the person who wrote the reference.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Remote { .. } => Some(
                "download the document next to this file and refer to it by a relative path, e.g. `$ref: './pet.yaml#/components/schemas/Pet'`"
                    .to_string(),
            ),
            Self::UnsupportedScheme { .. } => Some(
                "use `#/…` for this document or a relative file path such as `common.yaml#/…`".to_string(),
            ),
            Self::Malformed { .. } => Some(
                "write `#/components/schemas/Name` (escape `/` in names as `~1` and `~` as `~0`)".to_string(),
            ),
            Self::NotFound { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "check the spelling; names in JSON pointers are case-sensitive".to_string(),
            }),
            Self::FileNotLoaded { .. } => Some(
                "file references are resolved relative to the file that contains them".to_string(),
            ),
            Self::Loop { .. } => Some(
                "make one of these references point to an actual object instead of another `$ref`".to_string(),
            ),
            Self::TooDeep { .. } => Some("point the reference at the final object directly".to_string()),
            Self::UnknownDocument => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_file_and_fragment() {
        assert_eq!(
            Reference::parse("#/components/schemas/Pet").unwrap(),
            Reference::Relative {
                file: None,
                fragment: Cow::Borrowed("/components/schemas/Pet")
            }
        );
        assert_eq!(
            Reference::parse("common.yaml#/a%20b").unwrap(),
            Reference::Relative {
                file: Some("common.yaml"),
                fragment: Cow::Owned("/a b".to_string())
            }
        );
        assert_eq!(
            Reference::parse("other.json").unwrap(),
            Reference::Relative {
                file: Some("other.json"),
                fragment: Cow::Borrowed("")
            }
        );
    }

    #[test]
    fn classifies_absolute_and_remote() {
        assert!(matches!(
            Reference::parse("https://example.com/pet.yaml#/Pet").unwrap(),
            Reference::Absolute {
                uri: "https://example.com/pet.yaml",
                ..
            }
        ));
        assert!(matches!(
            Reference::parse("//example.com/pet.yaml"),
            Err(ResolveError::Remote { .. })
        ));
        assert!(is_remote("HTTPS://x"));
        assert!(!is_remote("urn:x"));
        assert!(matches!(
            Reference::parse("a.yaml?x=1"),
            Err(ResolveError::Malformed { .. })
        ));
        assert!(matches!(
            Reference::parse("#/a%zz"),
            Err(ResolveError::Malformed { .. })
        ));
    }
}
