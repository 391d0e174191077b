//! RFC 9457 problem details: how moat says no.
//!
//! Each control has a stable `type` URI so clients and SIEM rules can key on
//! it; the body never echoes the request's payload or internal detail.

use serde::Serialize;

/// Every kind of problem moat answers with, one per control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The path has no canonical form (see `canonical_path`).
    InvalidPath,
    /// No documented operation matches (shadow endpoint).
    ShadowEndpoint,
    /// The path is documented, the method is not.
    MethodNotAllowed,
    /// The operation is deprecated and the policy blocks it (zombie endpoint).
    ZombieEndpoint,
    /// The upstream could not be reached.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// Every target of the upstream is marked down by its health checks:
    /// answered at once, without trying.
    UpstreamDown,
    /// The upstream's response could not be read.
    UpstreamError,
    /// The operation requires credentials and none were presented.
    Unauthenticated,
    /// Presented credentials were refused (unknown, wrong, expired, revoked
    /// or malformed: all answered alike).
    InvalidCredentials,
    /// Verified credentials lack a scope the operation requires.
    InsufficientScope,
    /// The caller's roles do not grant this operation.
    Forbidden,
    /// The object named by the request belongs to someone else.
    OwnershipViolation,
    /// Parameters or body break the document's rules (malformed).
    InvalidRequest,
    /// The request can be read two ways (a field, parameter, key or
    /// boundary given twice, LF-only multipart framing, a malformed
    /// escape): the application behind the gateway may read it the other
    /// way, so it is refused rather than one reading chosen.
    AmbiguousRequest,
    /// The body is well-formed but breaks its schema.
    UnprocessableRequest,
    /// The body's media type is not one the operation documents.
    UnsupportedMediaType,
    /// The body is larger than can be validated.
    PayloadTooLarge,
    /// The request target (path and query) is longer than the listener
    /// accepts.
    UriTooLong,
    /// The request head has more header fields, or more bytes, than the
    /// listener accepts.
    HeadersTooLarge,
    /// Too many refused credentials from this client or for this credential
    /// id: locked out for a while.
    LockedOut,
    /// A credential verifier (key store, identity provider) is unreachable
    /// and nothing cached could decide.
    VerifierUnavailable,
    /// The state store that records object owners cannot be read, so
    /// object-level access cannot be decided.
    StateUnavailable,
    /// A GraphQL request broke a GraphQL limit (depth, aliases, cost,
    /// introspection, persisted queries, syntax…).
    GraphqlRejected,
    /// An XML body was refused (DOCTYPE, limits, syntax, SOAP action).
    XmlRejected,
    /// Attack inspection found an injection (or another attack) in the
    /// request.
    AttackDetected,
    /// The client address or the consumer is banned (by an operator with
    /// `moat bans`, or by an anomaly detector for a while).
    Banned,
    /// A rate limit refused the request (`Retry-After` says when to retry).
    RateLimited,
    /// A quota (a long window, such as requests per day) is used up.
    QuotaExceeded,
    /// The store of a `fail: closed` limit cannot be reached.
    LimitUnavailable,
    /// `Transfer-Encoding` names a coding other than `chunked`, which the
    /// gateway does not implement.
    UnsupportedTransferCoding,
    /// The body has a `Content-Encoding` and the gateway must read it.
    UnsupportedContentEncoding,
    /// The client stopped sending the body it announced.
    RequestTimeout,
    /// Plain HTTP on a listener that only redirects (never a body, kept for
    /// completeness of metrics labels).
    HttpsRequired,
}

impl ProblemKind {
    /// Every problem type.
    pub const ALL: [ProblemKind; 34] = [
        ProblemKind::InvalidPath,
        ProblemKind::ShadowEndpoint,
        ProblemKind::MethodNotAllowed,
        ProblemKind::ZombieEndpoint,
        ProblemKind::UpstreamUnavailable,
        ProblemKind::UpstreamTimeout,
        ProblemKind::UpstreamDown,
        ProblemKind::UpstreamError,
        ProblemKind::HttpsRequired,
        ProblemKind::Unauthenticated,
        ProblemKind::InvalidCredentials,
        ProblemKind::VerifierUnavailable,
        ProblemKind::StateUnavailable,
        ProblemKind::AttackDetected,
        ProblemKind::GraphqlRejected,
        ProblemKind::XmlRejected,
        ProblemKind::Banned,
        ProblemKind::RateLimited,
        ProblemKind::QuotaExceeded,
        ProblemKind::LimitUnavailable,
        ProblemKind::LockedOut,
        ProblemKind::InsufficientScope,
        ProblemKind::Forbidden,
        ProblemKind::OwnershipViolation,
        ProblemKind::InvalidRequest,
        ProblemKind::AmbiguousRequest,
        ProblemKind::UnprocessableRequest,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UriTooLong,
        ProblemKind::HeadersTooLarge,
        ProblemKind::UnsupportedTransferCoding,
        ProblemKind::UnsupportedContentEncoding,
        ProblemKind::RequestTimeout,
    ];

    /// The stable short name, used in the `type` URI, logs and metrics.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::InvalidPath => "invalid-path",
            ProblemKind::ShadowEndpoint => "shadow-endpoint",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::ZombieEndpoint => "zombie-endpoint",
            ProblemKind::UpstreamUnavailable => "upstream-unavailable",
            ProblemKind::UpstreamTimeout => "upstream-timeout",
            ProblemKind::UpstreamDown => "upstream-down",
            ProblemKind::UpstreamError => "upstream-error",
            ProblemKind::HttpsRequired => "https-required",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::InvalidCredentials => "invalid-credentials",
            ProblemKind::VerifierUnavailable => "verifier-unavailable",
            ProblemKind::StateUnavailable => "state-unavailable",
            ProblemKind::AttackDetected => "attack-detected",
            ProblemKind::GraphqlRejected => "graphql-rejected",
            ProblemKind::XmlRejected => "xml-rejected",
            ProblemKind::Banned => "banned",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::QuotaExceeded => "quota-exceeded",
            ProblemKind::LimitUnavailable => "rate-limit-unavailable",
            ProblemKind::LockedOut => "locked-out",
            ProblemKind::InsufficientScope => "insufficient-scope",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::OwnershipViolation => "ownership-violation",
            ProblemKind::InvalidRequest => "invalid-request",
            ProblemKind::AmbiguousRequest => "ambiguous-request",
            ProblemKind::UnprocessableRequest => "schema-violation",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UriTooLong => "uri-too-long",
            ProblemKind::HeadersTooLarge => "headers-too-large",
            ProblemKind::UnsupportedTransferCoding => "unsupported-transfer-coding",
            ProblemKind::UnsupportedContentEncoding => "unsupported-content-encoding",
            ProblemKind::RequestTimeout => "request-timeout",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ProblemKind::InvalidPath => 400,
            ProblemKind::ShadowEndpoint => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::ZombieEndpoint => 410,
            ProblemKind::UpstreamUnavailable | ProblemKind::UpstreamError => 502,
            ProblemKind::UpstreamTimeout => 504,
            ProblemKind::HttpsRequired => 308,
            ProblemKind::Unauthenticated | ProblemKind::InvalidCredentials => 401,
            ProblemKind::VerifierUnavailable
            | ProblemKind::UpstreamDown
            | ProblemKind::StateUnavailable
            | ProblemKind::LimitUnavailable => 503,
            ProblemKind::RateLimited | ProblemKind::QuotaExceeded => 429,
            ProblemKind::LockedOut => 429,
            ProblemKind::InsufficientScope
            | ProblemKind::Forbidden
            | ProblemKind::OwnershipViolation
            | ProblemKind::Banned
            | ProblemKind::AttackDetected => 403,
            ProblemKind::InvalidRequest
            | ProblemKind::AmbiguousRequest
            | ProblemKind::GraphqlRejected
            | ProblemKind::XmlRejected => 400,
            ProblemKind::UnprocessableRequest => 422,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UriTooLong => 414,
            ProblemKind::HeadersTooLarge => 431,
            ProblemKind::UnsupportedTransferCoding => 501,
            ProblemKind::UnsupportedContentEncoding => 415,
            ProblemKind::RequestTimeout => 408,
        }
    }

    /// A short, fixed title.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::InvalidPath => "Invalid request path",
            ProblemKind::ShadowEndpoint => "Not a documented operation",
            ProblemKind::MethodNotAllowed => "Method not documented for this path",
            ProblemKind::ZombieEndpoint => "Operation retired",
            ProblemKind::UpstreamUnavailable => "Upstream unavailable",
            ProblemKind::UpstreamTimeout => "Upstream timed out",
            ProblemKind::UpstreamDown => "Upstream down",
            ProblemKind::UpstreamError => "Upstream error",
            ProblemKind::HttpsRequired => "HTTPS required",
            ProblemKind::Unauthenticated => "Authentication required",
            ProblemKind::InvalidCredentials => "Invalid credentials",
            ProblemKind::VerifierUnavailable => "Credentials cannot be verified now",
            ProblemKind::StateUnavailable => "Access to this object cannot be decided now",
            ProblemKind::AttackDetected => "Request refused by attack inspection",
            ProblemKind::GraphqlRejected => "GraphQL request refused",
            ProblemKind::XmlRejected => "XML body refused",
            ProblemKind::Banned => "Access suspended",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::QuotaExceeded => "Quota exceeded",
            ProblemKind::LimitUnavailable => "Rate limits cannot be checked now",
            ProblemKind::LockedOut => "Too many failed attempts",
            ProblemKind::InsufficientScope => "Insufficient scope",
            ProblemKind::Forbidden => "Operation not allowed for this caller",
            ProblemKind::OwnershipViolation => "Object not accessible to this caller",
            ProblemKind::InvalidRequest => "Invalid request",
            ProblemKind::AmbiguousRequest => "Request has more than one reading",
            ProblemKind::UnprocessableRequest => "Request body does not match its schema",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::PayloadTooLarge => "Request body too large",
            ProblemKind::UriTooLong => "Request target too long",
            ProblemKind::HeadersTooLarge => "Request header fields too large",
            ProblemKind::UnsupportedTransferCoding => "Transfer coding not implemented",
            ProblemKind::UnsupportedContentEncoding => "Request body content coding not supported",
            ProblemKind::RequestTimeout => "Request body not received in time",
        }
    }

    /// The `type` URI.
    pub fn type_uri(self) -> String {
        format!("urn:moat:problem:{}", self.slug())
    }
}

/// A problem details body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// `urn:moat:problem:<slug>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The kind's fixed title.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// A fixed explanation; never the client's input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
    /// The request id, to find the request in moat's logs.
    pub request_id: String,
    /// For validation failures: each violation's location, JSON pointer and
    /// rule (never the submitted value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<serde_json::Value>,
}

impl Problem {
    /// The problem for `kind` on request `request_id`.
    pub fn new(kind: ProblemKind, detail: Option<&'static str>, request_id: &str) -> Self {
        Self {
            type_uri: kind.type_uri(),
            title: kind.title(),
            status: kind.status(),
            detail,
            request_id: request_id.to_string(),
            violations: None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing this struct of strings and integers cannot fail; fall
        // back to a minimal body rather than panic if it ever did.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_rfc9457_members() {
        let p = Problem::new(ProblemKind::ShadowEndpoint, None, "r-1");
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["type"], "urn:moat:problem:shadow-endpoint");
        assert_eq!(v["status"], 404);
        assert_eq!(v["title"], "Not a documented operation");
        assert_eq!(v["request_id"], "r-1");
        assert!(v.get("detail").is_none());
    }
}
