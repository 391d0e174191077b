//! The errors of JWT verification: per token ([`JwtError`]), at config
//! load ([`JwtConfigError`]) and when keys are fetched ([`KeyFetchError`]).
//!
//! Token errors never carry the token or any of its claims: they end up in
//! logs and in `WWW-Authenticate` headers, and a token is a credential.

use std::path::PathBuf;

use super::algorithms::Algorithm;

/// Why a token was refused. Every variant but [`JwtError::Unavailable`] is
/// the client's problem (401); `Unavailable` is moat's (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a compact JWS of three base64url parts with a JSON header and a
    /// JSON object as payload, larger than the size cap, or with a claim of
    /// the wrong type. The reason is for logs only.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not accepted.
    #[error("algorithm refused: {0}")]
    Algorithm(AlgorithmRejection),
    /// The signature does not verify with the selected key.
    #[error("bad signature")]
    Signature,
    /// No key matches the token's `kid` (after a refresh, when the keys are
    /// remote), or several keys could match a token without `kid`.
    #[error("no key for this token")]
    UnknownKey,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, or `iat` is in the future (both beyond the
    /// leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// A claim the configuration requires (`exp` by default) is absent.
    #[error("missing claim `{0}`")]
    MissingClaim(&'static str),
    /// `iss` is absent or is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// None of the token's audiences is a configured one.
    #[error("wrong audience")]
    Audience,
    /// The keys are remote, the identity provider cannot be reached, and no
    /// key already held can decide about this token. The gateway answers
    /// 503: refusing a valid token with 401 would tell the client to drop
    /// it, while the fault is on the server side.
    #[error("identity provider unavailable and no cached key can verify the token")]
    Unavailable,
}

/// Why the header's `alg` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlgorithmRejection {
    /// `alg: none` (any spelling): an unsigned token is never accepted.
    #[error("`none` (unsigned token)")]
    None,
    /// An algorithm name moat does not implement.
    #[error("unknown algorithm")]
    Unknown,
    /// A real algorithm, not in this scheme's allow-list.
    #[error("{0:?} is not in the allow-list")]
    NotAllowed(Algorithm),
    /// The key the token names cannot be used with this algorithm: an HMAC
    /// algorithm against a public key (algorithm confusion), or a key whose
    /// JWK `alg`, `kty` or curve says otherwise.
    #[error("{0:?} does not fit the key")]
    KeyMismatch(Algorithm),
}

impl JwtError {
    /// The RFC 6750 `error` code for the `WWW-Authenticate: Bearer` answer,
    /// or `None` for [`JwtError::Unavailable`], which is answered with 503
    /// and no bearer challenge.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            JwtError::Unavailable => None,
            // RFC 6750 §3.1: "expired, revoked, malformed, or invalid for
            // other reasons" are all `invalid_token`.
            _ => Some("invalid_token"),
        }
    }

    /// The `error_description` to send. Deliberately generic: which check
    /// failed (signature, issuer, audience) helps an attacker more than a
    /// client, and the token itself is never echoed. Expiry is the one
    /// detail a legitimate client acts on (it refreshes its token).
    pub fn bearer_description(&self) -> &'static str {
        match self {
            JwtError::Expired => "The access token expired",
            JwtError::Unavailable => "The identity provider is unavailable",
            _ => "The access token is invalid",
        }
    }

    /// The HTTP status the gateway should answer with: 401, or 503 for
    /// [`JwtError::Unavailable`].
    pub fn http_status(&self) -> u16 {
        match self {
            JwtError::Unavailable => 503,
            _ => 401,
        }
    }
}

/// A configuration the verifier refuses to start with. Each message says
/// what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// The allow-list is empty.
    #[error(
        "no JWT algorithm allowed; list the algorithms your identity provider signs with (for example RS256 or ES256)"
    )]
    NoAlgorithms,
    /// `none` in the allow-list.
    #[error(
        "`none` is not an algorithm moat accepts: it means unsigned tokens, which anyone can forge; remove it from the list"
    )]
    NoneAlgorithm,
    /// An algorithm name moat does not know.
    #[error(
        "unknown JWT algorithm `{name}`; expected one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
    )]
    UnknownAlgorithm {
        /// The name as configured.
        name: String,
    },
    /// An allowed algorithm that the configured key cannot verify.
    #[error("{algorithm:?} cannot be verified with {key}: {hint}")]
    AlgorithmKeyMismatch {
        /// The algorithm from the allow-list.
        algorithm: Algorithm,
        /// What kind of key is configured.
        key: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// An HMAC secret that can be guessed.
    #[error(
        "weak HMAC secret: {reason}. Such secrets are cracked offline from a single token (hashcat, jwt_tool), and forged tokens then pass any verifier. Generate one with `openssl rand -base64 48` and configure it on both sides"
    )]
    WeakSecret {
        /// Why the secret is weak.
        reason: WeakSecretReason,
    },
    /// The PEM key file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    KeyFile {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PEM text is not a usable public key.
    #[error("unusable PEM key: {reason}")]
    Pem {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The inline JWK or JWK set is not usable.
    #[error("unusable JWK: {reason}")]
    Jwk {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A JWKS or discovery URL that is malformed or not https.
    #[error("bad key URL `{url}`: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// The HTTP client for key fetching could not be built.
    #[error("cannot build the HTTP client for key fetching: {0}")]
    HttpClient(String),
}

/// Why an HMAC secret is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakSecretReason {
    /// Shorter than 32 bytes (256 bits, the HS256 output size, RFC 7518
    /// §3.2).
    #[error("it is {len} bytes long, at least 32 are needed")]
    TooShort {
        /// The secret's length in bytes.
        len: usize,
    },
    /// On the bundled list of published default and example secrets.
    #[error("it is a well-known default or example secret")]
    KnownSecret,
    /// Made of so few distinct bytes (`aaaa…`, `0000…`) that its length
    /// gives no strength.
    #[error("it repeats a handful of characters")]
    LowVariety,
    /// It is key material (a PEM block, a JWK): with a public key as the
    /// HMAC secret, anyone holding that public key can sign tokens (the
    /// algorithm-confusion attack). A public key goes in `public_key` or
    /// `jwk`.
    #[error(
        "it is key material (a PEM block or a JWK), not a random secret; a public key goes in `public_key` or `jwk`"
    )]
    KeyMaterial,
}

/// Why fetching keys (a JWKS document or the OIDC discovery document)
/// failed. The previously fetched keys, if any, stay in use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFetchError {
    /// The request did not complete within the fetch timeout.
    #[error("fetching {url} timed out")]
    Timeout {
        /// The URL fetched.
        url: String,
    },
    /// Connecting, TLS or the HTTP exchange failed.
    #[error("fetching {url} failed: {message}")]
    Request {
        /// The URL fetched.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The server answered with a non-2xx status.
    #[error("fetching {url} returned HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body exceeded the size cap.
    #[error("the document at {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not the JSON document expected.
    #[error("the document at {url} is not valid: {message}")]
    Invalid {
        /// The URL fetched.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A URL (a redirect target or the discovered `jwks_uri`) is not https
    /// and not loopback.
    #[error(
        "refusing to fetch keys over plain http from {url}; key documents must come over https (loopback is allowed for tests)"
    )]
    Insecure {
        /// The refused URL.
        url: String,
    },
    /// The discovery document names another issuer than the configured one
    /// (OpenID Connect Discovery §4.3), which would let one provider vouch
    /// for another's tokens.
    #[error("the discovery document names issuer `{found}`, expected `{expected}`")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// The JWKS has no key usable with the allowed algorithms.
    #[error("the JWKS at {url} has no key usable with the allowed algorithms")]
    NoUsableKeys {
        /// The URL fetched.
        url: String,
    },
}
