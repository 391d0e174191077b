//! Which request headers are the API's own parameters, and which belong to
//! HTTP, browsers, proxies and tracing.
//!
//! A header is left out of an operation's parameters when its lower-cased
//! name is in [`STANDARD`] or starts with one of [`STANDARD_PREFIXES`]:
//! the fields HTTP itself, content negotiation, caching, conditional
//! requests, browsers (fetch metadata, client hints), proxies and
//! distributed tracing add to any request. Credentials (`Authorization`,
//! `Cookie` and API key headers) are security schemes, not parameters
//! (see [`crate::auth`]).

/// Request header names (lower case) that are not API parameters.
pub const STANDARD: &[&str] = &[
    // HTTP itself and HTTP/2 pseudo-headers as HAR files record them.
    ":authority",
    ":method",
    ":path",
    ":scheme",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "transfer-encoding",
    "expect",
    "range",
    "priority",
    "early-data",
    // Content negotiation and the body's description.
    "accept",
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "content-md5",
    // Caching and conditional requests.
    "cache-control",
    "pragma",
    // Browsers.
    "user-agent",
    "origin",
    "referer",
    "dnt",
    "upgrade-insecure-requests",
    "save-data",
    "x-requested-with",
    // Credentials: security schemes, not parameters.
    "authorization",
    "proxy-authorization",
    "cookie",
    // Proxies.
    "forwarded",
    "via",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "client-ip",
    // Tracing.
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-request-id",
    "x-correlation-id",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
];

/// Prefixes of request header names (lower case) that are not API
/// parameters: `accept-*`, `content-*`, `if-*`, `sec-*` (fetch metadata,
/// client hints, WebSocket), `x-forwarded-*`, `proxy-*`, `access-control-*`
/// (CORS preflight), `x-b3-*`, `cf-*` (Cloudflare), `x-amz-cf-*`.
pub const STANDARD_PREFIXES: &[&str] = &[
    "accept-",
    "content-",
    "if-",
    "sec-",
    "x-forwarded-",
    "proxy-",
    "access-control-",
    "x-b3-",
    "cf-",
    "x-amz-cf-",
];

/// Whether the header `name` (any case) is a standard one, not an API
/// parameter.
pub fn is_standard(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    STANDARD.contains(&lower.as_str()) || STANDARD_PREFIXES.iter().any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::is_standard;

    #[test]
    fn standard_headers_are_not_parameters_and_the_api_s_own_are() {
        for name in [
            "Host",
            ":authority",
            "User-Agent",
            "Accept",
            "Accept-Encoding",
            "Content-Type",
            "If-None-Match",
            "Sec-Fetch-Site",
            "sec-ch-ua",
            "X-Forwarded-For",
            "Authorization",
            "Cookie",
            "Upgrade-Insecure-Requests",
            "traceparent",
        ] {
            assert!(is_standard(name), "{name}");
        }
        for name in [
            "X-Api-Version",
            "X-Tenant",
            "Idempotency-Key",
            "Prefer",
            "X-Page",
        ] {
            assert!(!is_standard(name), "{name}");
        }
    }
}
