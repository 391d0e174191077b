//! The errors of token introspection: per token ([`IntrospectionError`]),
//! at config load ([`IntrospectionConfigError`]) and, for logs only, why
//! one call to the endpoint failed ([`EndpointError`]).
//!
//! Token errors never carry the token or anything the endpoint said about
//! it: they end up in logs and in `WWW-Authenticate` headers, and a token
//! is a credential.

/// Why a token was refused. [`IntrospectionError::Inactive`] and
/// [`IntrospectionError::Malformed`] are the client's problem (401);
/// [`IntrospectionError::Unavailable`] is moat's (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The authorization server says the token is not active (unknown,
    /// revoked, expired), or it said `active: true` but `exp` has passed,
    /// `nbf` is still ahead, or `iss`/`aud` is not the configured one.
    /// Which of these it was is deliberately not kept: the answer to the
    /// client is the same, and the detail helps an attacker more than it.
    #[error("token not active")]
    Inactive,
    /// Empty, larger than the size cap, or with characters a bearer token
    /// cannot hold. Refused without asking the endpoint, so junk cannot
    /// fill the cache or be relayed. The reason is for logs only.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The endpoint could not decide and nothing cached could: it is
    /// unreachable, timed out, answered with an error status (including
    /// 401/403 for moat's own client credentials, a misconfiguration) or
    /// with a body that is not a valid introspection response. The gateway
    /// answers 503: refusing a possibly valid token with 401 would tell the
    /// client to drop it, while the fault is on the server side. The cause
    /// is logged (at `warn`) where it happens.
    #[error("introspection endpoint unavailable and no cached answer can decide")]
    Unavailable,
}

impl IntrospectionError {
    /// The RFC 6750 `error` code for the `WWW-Authenticate: Bearer` answer,
    /// or `None` for [`IntrospectionError::Unavailable`], which is answered
    /// with 503 and no bearer challenge.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            IntrospectionError::Unavailable => None,
            // RFC 6750 §3.1: "expired, revoked, malformed, or invalid for
            // other reasons" are all `invalid_token`.
            _ => Some("invalid_token"),
        }
    }

    /// The `error_description` to send: generic on purpose, as for JWTs.
    pub fn bearer_description(&self) -> &'static str {
        match self {
            IntrospectionError::Unavailable => "The authorization server is unavailable",
            _ => "The access token is invalid",
        }
    }

    /// The HTTP status the gateway should answer with: 401, or 503 for
    /// [`IntrospectionError::Unavailable`].
    pub fn http_status(&self) -> u16 {
        match self {
            IntrospectionError::Unavailable => 503,
            _ => 401,
        }
    }
}

/// A configuration the verifier refuses to start with. Each message says
/// what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionConfigError {
    /// The endpoint URL is malformed, not https, or carries credentials.
    #[error("bad introspection URL `{url}`: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// `client_id` is empty.
    #[error(
        "the introspection client_id is empty; RFC 7662 endpoints require moat to authenticate as a client registered with the authorization server"
    )]
    EmptyClientId,
    /// `client_secret` is empty.
    #[error(
        "the introspection client_secret is empty; set the secret the authorization server issued for moat's client"
    )]
    EmptyClientSecret,
    /// `timeout` is zero, which would fail every call.
    #[error("the introspection timeout must be greater than zero (default 5s)")]
    ZeroTimeout,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for token introspection: {0}")]
    HttpClient(String),
}

/// Why one call to the introspection endpoint gave no usable answer. Only
/// logged: every variant becomes [`IntrospectionError::Unavailable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    /// The exchange did not complete within the timeout.
    #[error("the call timed out")]
    Timeout,
    /// Connecting, TLS or the HTTP exchange failed.
    #[error("the call failed: {0}")]
    Request(String),
    /// 401 or 403: the endpoint refused moat's own client authentication.
    #[error(
        "the endpoint refused moat's client credentials (HTTP {0}); check client_id, client_secret and auth_method (client_secret_basic or client_secret_post) against the client registered with the authorization server"
    )]
    ClientRejected(u16),
    /// Any other status than 200.
    #[error("the endpoint answered HTTP {0}")]
    Status(u16),
    /// The body exceeded the cap.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a valid introspection response.
    #[error("the response is not a valid introspection response: {0}")]
    Invalid(String),
}
