//! Matching a body's media type against the documented ones: the request
//! view's one media type parser, with the document's keys read by it too.

pub(crate) use moat_request::media::{best_match, essence_of as essence, is_json};

/// Whether a media type is an HTML form without files:
/// `application/x-www-form-urlencoded`.
pub(crate) fn is_form(essence: &str) -> bool {
    essence == "application/x-www-form-urlencoded"
}
