//! Matching a request's `Content-Type` against the documented media types.

/// The media type without parameters, lower-cased: `Application/JSON;
/// charset=utf-8` is `application/json`. Parameters are ignored because
/// OpenAPI keys rarely spell them and charset does not change what the
/// schema means.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type is JSON: `application/json` or any `+json` suffix
/// (`application/merge-patch+json`, `application/problem+json`, …).
pub(crate) fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

/// Which documented key (an essence, possibly `type/*` or `*/*`) best
/// matches `essence`: an exact key first, then the type range, then `*/*`,
/// as OpenAPI says the more specific key wins.
pub(crate) fn best_match<'a>(
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

/// Whether a media type is an HTML form without files:
/// `application/x-www-form-urlencoded`.
pub(crate) fn is_form(essence: &str) -> bool {
    essence == "application/x-www-form-urlencoded"
}
