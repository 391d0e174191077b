//! The request view: a request parsed once, strictly, at entry.
//!
//! A gateway that reads a request differently from the application behind
//! it can be walked around: it inspects one value while the application
//! acts on another. moat therefore parses each part of a request once, with
//! one parser, into one view that every control borrows — routing,
//! identity, authorization, validation, inspection — and where two readings
//! are possible (a key or parameter given twice, two boundaries, two
//! `Content-Type`s or `Host`s, LF-only multipart framing) it refuses the
//! request instead of choosing one.
//!
//! - [`CanonicalPath`]: one spelling of the path.
//! - [`Query`] and [`Cookies`]: decoded once, duplicates visible.
//! - [`MediaType`]: the `Content-Type`, parsed by the `mime` crate, a
//!   repeated parameter refused.
//! - [`json::parse`]: a JSON body parsed once into a value under the shape
//!   limits, a duplicate key refused.
//! - [`multipart::parse`]: a `multipart/form-data` body read the way the
//!   frameworks behind the gateway read it, or refused.
//! - [`FieldNotes`]: header fields some applications read otherwise
//!   (method overrides, underscores in names, content codings).
//! - [`Head`]: the above, built from a request head.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod body;
pub mod canonical_path;
pub mod cookies;
pub mod fields;
pub mod head;
pub mod json;
pub mod media;
pub mod multipart;
pub mod percent;
pub mod query;

pub use body::{BodyError, BodyKind, BodyLimits, ParsedBody};
pub use canonical_path::{CanonicalPath, PathError};
pub use cookies::Cookies;
pub use fields::{FieldNotes, MethodOverride};
pub use head::{Head, HeadError, SingleField};
pub use media::{MediaType, MediaTypeError};
pub use query::Query;

/// A value that a control asked for by name was given more than once, so
/// the application behind the gateway may read another one than the
/// control did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is given more than once")]
pub struct Repeated {
    /// The repeated name.
    pub name: String,
}

/// The values of `name` among decoded `pairs`, in order.
fn values_of<'a, 'n>(
    pairs: &'a [(String, String)],
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The one value of `name` among `pairs`; `Err` when it is given twice.
fn unique_of<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, Repeated> {
    let mut values = values_of(pairs, name);
    let first = values.next();
    if values.next().is_some() {
        return Err(Repeated {
            name: name.to_string(),
        });
    }
    Ok(first)
}
