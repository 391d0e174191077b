//! JWT (JWS compact) bearer-token verification.
//!
//! One [`JwtVerifier`] per security scheme, built from a [`JwtConfig`]:
//!
//! - **Algorithms**: an explicit allow-list per scheme from HS256/384/512,
//!   RS256/384/512, PS256/384/512, ES256/384 and EdDSA. `none` cannot be
//!   listed. A token's `alg` must be in the list *and* fit the key it is
//!   checked with: HMAC algorithms only with secrets, the others only with
//!   public keys of the matching type and curve, and a JWK's own `alg`,
//!   `use` and `key_ops` are respected. The header's `jku`, `x5u` and `jwk`
//!   are never followed: a token does not choose its key.
//! - **Keys** from a secret, PEM, an inline JWK (or set), a JWKS URL or
//!   OIDC discovery. Remote keys are fetched over https (plain http only to
//!   loopback) with a timeout and a 1 MiB cap; they are cached, refreshed
//!   on an unknown `kid` at most once per `jwks_min_refresh` (one fetch in
//!   flight at a time, shared by every waiting request), refreshed in the
//!   background after `jwks_max_age`, and kept when the provider is
//!   unreachable. A token no held key can decide while the provider is
//!   unreachable gets [`JwtError::Unavailable`] (503).
//! - **Claims**: `exp` (required by default), `nbf` and `iat` (not in the
//!   future) with a leeway; `iss` and `aud` when configured.
//! - **Cache**: verified tokens, by SHA-256, until their `exp` (capped).
//! - **Weak secrets** are refused at construction (see [`weak_secrets`]).
//!
//! Signatures are checked with ring through jsonwebtoken's provider
//! interface ([`provider`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::SystemTime;
//! use moat_identity::jwt::{Algorithm, JwtConfig, JwtVerifier, KeySource};
//!
//! let mut config = JwtConfig::new(
//!     KeySource::OidcDiscovery("https://idp.example.com".into()),
//!     vec![Algorithm::RS256, Algorithm::ES256],
//! );
//! config.audiences = vec!["https://api.example.com".into()];
//! let verifier = JwtVerifier::new(config)?;
//! match verifier.verify("eyJ...", SystemTime::now()).await {
//!     Ok(token) => println!("subject {:?}, scopes {:?}", token.subject, token.scopes),
//!     Err(e) => println!("{} {:?}", e.http_status(), e.bearer_error()),
//! }
//! # Ok(()) }
//! ```

pub mod algorithms;
mod cache;
mod der;
mod error;
mod fetch;
mod jwks;
mod keys;
pub mod provider;
mod token;
pub mod weak_secrets;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use algorithms::{Algorithm, parse_algorithm};
pub use error::{AlgorithmRejection, JwtConfigError, JwtError, KeyFetchError, WeakSecretReason};
pub use fetch::MAX_DOCUMENT_BYTES;
pub use token::{MAX_TOKEN_BYTES, VerifiedToken};

use jwks::{Location, Refresh, RemoteKeys, Trigger};
use keys::{KeySet, Selection};
use token::ClaimRules;

/// Where a scheme's verification keys come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// An HMAC shared secret (raw bytes; decode base64 before). At least
    /// 32 bytes and not a published default.
    Secret(Vec<u8>),
    /// A `PUBLIC KEY` PEM block (RSA, P-256, P-384 or Ed25519).
    Pem(Vec<u8>),
    /// A file holding a `PUBLIC KEY` PEM block, read at construction.
    PemFile(PathBuf),
    /// An inline JWK, or an inline JWK set (`{"keys": [...]}`).
    Jwk(serde_json::Value),
    /// A JWKS URL (https, or http on loopback).
    JwksUrl(String),
    /// An OIDC issuer URL: the JWKS is found through
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must
    /// equal this URL exactly. Unless [`JwtConfig::issuer`] is set, tokens'
    /// `iss` must equal it too.
    OidcDiscovery(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets (and inline JWKs, which may hold one) are never printed.
        match self {
            KeySource::Secret(_) => f.write_str("Secret([redacted])"),
            KeySource::Pem(_) => f.write_str("Pem(..)"),
            KeySource::PemFile(path) => f.debug_tuple("PemFile").field(path).finish(),
            KeySource::Jwk(_) => f.write_str("Jwk([redacted])"),
            KeySource::JwksUrl(url) => f.debug_tuple("JwksUrl").field(url).finish(),
            KeySource::OidcDiscovery(url) => f.debug_tuple("OidcDiscovery").field(url).finish(),
        }
    }
}

/// How one JWT security scheme is verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwtConfig {
    /// The algorithms accepted; must not be empty. Parse names with
    /// [`parse_algorithm`], which refuses `none`.
    pub algorithms: Vec<Algorithm>,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// Accepted audiences: the token's `aud` must contain one of them.
    /// Empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 60 s.
    pub leeway: Duration,
    /// Where the keys come from.
    pub keys: KeySource,
    /// Whether a token without `exp` is refused. Default true: a token
    /// that never expires cannot be withdrawn short of rotating the key.
    pub require_exp: bool,
    /// Minimum time between fetches caused by tokens (unknown `kid`, no
    /// keys yet). Default 30 s.
    pub jwks_min_refresh: Duration,
    /// Age after which remote keys are refreshed in the background.
    /// Default 10 min.
    pub jwks_max_age: Duration,
    /// Timeout of one key-document fetch, connect to last byte. Default
    /// 5 s.
    pub fetch_timeout: Duration,
    /// The roots key documents' servers are verified against. Default
    /// `None`: the system's.
    pub trust: Option<crate::trust::Trust>,
    /// Verified tokens kept; 0 disables the cache. Default 10 000.
    pub token_cache_size: u64,
    /// Longest time a verified token is served from cache, whatever its
    /// `exp`: bounds how long a withdrawn key keeps being honoured.
    /// Default 5 min.
    pub token_cache_max_ttl: Duration,
    /// Whether [`JwtVerifier::new`] starts fetching remote keys in the
    /// background (inside a Tokio runtime). Default true; false for a
    /// verifier built only to check a configuration, which must connect
    /// nowhere. Keys are then fetched on first use.
    pub prefetch: bool,
    /// Accept a weak HMAC secret (short, well known, repetitive). Default
    /// false; only for an operator's explicit, time-boxed override while
    /// the secret is rotated. Key material is refused whatever this says.
    pub accept_weak_secret: bool,
}

impl JwtConfig {
    /// A configuration with the defaults above.
    pub fn new(keys: KeySource, algorithms: Vec<Algorithm>) -> Self {
        Self {
            algorithms,
            issuer: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            keys,
            require_exp: true,
            jwks_min_refresh: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(600),
            fetch_timeout: Duration::from_secs(5),
            trust: None,
            token_cache_size: 10_000,
            token_cache_max_ttl: Duration::from_secs(300),
            prefetch: true,
            accept_weak_secret: false,
        }
    }
}

/// Verifies the bearer tokens of one security scheme. Cheap to clone;
/// clones share keys and caches.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    algorithms: Vec<Algorithm>,
    rules: ClaimRules,
    keys: Keys,
    cache: cache::TokenCache,
}

enum Keys {
    Static(KeySet),
    /// Boxed: the remote machinery is several times the size of a key set.
    Remote(Box<RemoteKeys>),
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.inner.algorithms)
            .field("issuer", &self.inner.rules.issuer)
            .field("audiences", &self.inner.rules.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Validates the configuration and loads static keys. Does no network
    /// I/O itself; for remote keys, when called inside a Tokio runtime and
    /// unless [`JwtConfig::prefetch`] is off, it starts fetching them in
    /// the background (a failure is not fatal: keys are then fetched on
    /// first use).
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        provider::install_ring_provider();
        let mut algorithms = Vec::new();
        for alg in config.algorithms {
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            return Err(JwtConfigError::NoAlgorithms);
        }
        let mut issuer = config.issuer;
        let timing = Timing {
            fetch_timeout: config.fetch_timeout,
            trust: config.trust,
            min_refresh: config.jwks_min_refresh,
            max_age: config.jwks_max_age,
        };
        let keys = match config.keys {
            KeySource::Secret(secret) => Keys::Static(KeySet::new(
                vec![keys::from_secret(
                    &secret,
                    &algorithms,
                    config.accept_weak_secret,
                )?],
                1,
            )),
            KeySource::Pem(pem) => {
                Keys::Static(KeySet::new(vec![keys::from_pem(&pem, &algorithms)?], 1))
            }
            KeySource::PemFile(path) => {
                let pem = std::fs::read(&path).map_err(|source| JwtConfigError::KeyFile {
                    path: path.clone(),
                    source,
                })?;
                Keys::Static(KeySet::new(vec![keys::from_pem(&pem, &algorithms)?], 1))
            }
            KeySource::Jwk(value) => {
                Keys::Static(KeySet::new(keys::from_inline_jwk(&value, &algorithms)?, 1))
            }
            KeySource::JwksUrl(url) => {
                let location = Location::Jwks(fetch::parse_key_url(&url)?);
                Keys::Remote(Box::new(remote(location, &algorithms, timing)?))
            }
            KeySource::OidcDiscovery(url) => {
                let location = Location::discovery(&url)?;
                issuer.get_or_insert(url);
                Keys::Remote(Box::new(remote(location, &algorithms, timing)?))
            }
        };
        let inner = Arc::new(Inner {
            algorithms,
            rules: ClaimRules {
                issuer,
                audiences: config.audiences,
                leeway: config.leeway,
                require_exp: config.require_exp,
            },
            keys,
            cache: cache::TokenCache::new(config.token_cache_size, config.token_cache_max_ttl),
        });
        let verifier = Self { inner };
        if config.prefetch
            && matches!(verifier.inner.keys, Keys::Remote(_))
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let inner = Arc::clone(&verifier.inner);
            runtime.spawn(async move {
                let _ = inner.refresh(Trigger::Prefetch).await;
            });
        }
        Ok(verifier)
    }

    /// Fetches remote keys now unless a fetch succeeded within
    /// `jwks_min_refresh`; a no-op for static keys. A failure is returned
    /// (for `moat check` or a start-up log line) but does not delay the
    /// fetch the next token triggers.
    pub async fn prefetch(&self) -> Result<(), KeyFetchError> {
        match self.inner.refresh(Trigger::Prefetch).await {
            Refresh::Failed(error) => Err(error),
            Refresh::Skipped | Refresh::Fetched { .. } => Ok(()),
        }
    }

    /// Verifies a bearer token (the credential alone, without `Bearer `)
    /// at time `now`. The result is shared with the token cache.
    pub async fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<VerifiedToken>, JwtError> {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed("larger than the size cap"));
        }
        let now = token::unix_seconds(now);
        let leeway = inner.rules.leeway;
        // Before the cache lookup, so that hot cached tokens do not keep
        // old keys alive past `jwks_max_age`.
        self.refresh_in_background();
        let hash = cache::hash(token);
        if let Some(entry) = inner.cache.get(&hash) {
            return match entry.times.check(now, leeway.as_secs_f64()) {
                Ok(()) => Ok(entry.token),
                Err(error) => {
                    inner.cache.remove(&hash);
                    Err(error)
                }
            };
        }
        let parsed = token::parse(token)?;
        if !inner.algorithms.contains(&parsed.alg) {
            return Err(JwtError::Algorithm(AlgorithmRejection::NotAllowed(
                parsed.alg,
            )));
        }
        inner.check_signature(&parsed).await?;
        let claims = token::claims(parsed.payload)?;
        let times = token::check_claims(&claims, &inner.rules, now)?;
        let verified = Arc::new(VerifiedToken::new(claims, times, parsed.alg, parsed.kid)?);
        inner
            .cache
            .insert(hash, Arc::clone(&verified), times, now, leeway);
        Ok(verified)
    }

    /// Forgets every cached verification (after a key was revoked out of
    /// band, for instance).
    pub fn clear_token_cache(&self) {
        self.inner.cache.clear();
    }

    /// Starts a background refresh when remote keys are older than
    /// `jwks_max_age`; the current request goes on with the keys in hand.
    fn refresh_in_background(&self) {
        let Keys::Remote(remote) = &self.inner.keys else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if remote.claim_background_refresh() {
            let inner = Arc::clone(&self.inner);
            runtime.spawn(async move {
                let _ = inner.refresh(Trigger::MaxAge).await;
                if let Keys::Remote(remote) = &inner.keys {
                    remote.background_done();
                }
            });
        }
    }
}

/// The timing settings of remote keys.
#[derive(Clone)]
struct Timing {
    fetch_timeout: Duration,
    trust: Option<crate::trust::Trust>,
    min_refresh: Duration,
    max_age: Duration,
}

fn remote(
    location: Location,
    algorithms: &[Algorithm],
    timing: Timing,
) -> Result<RemoteKeys, JwtConfigError> {
    if let Some(alg) = algorithms.iter().find(|alg| algorithms::is_hmac(**alg)) {
        return Err(JwtConfigError::AlgorithmKeyMismatch {
            algorithm: *alg,
            key: "keys fetched from a JWKS",
            hint: "a JWKS is a public document, so it cannot carry an HMAC secret; use the issuer's asymmetric algorithms (RS256, ES256, ...) or configure the secret itself",
        });
    }
    Ok(RemoteKeys::new(
        fetch::Fetcher::new(timing.fetch_timeout, timing.trust.as_ref())?,
        location,
        algorithms.to_vec(),
        timing.min_refresh,
        timing.max_age,
    ))
}

impl Inner {
    async fn refresh(&self, trigger: Trigger) -> Refresh {
        let Keys::Remote(remote) = &self.keys else {
            return Refresh::Skipped;
        };
        let outcome = remote.refresh(trigger).await;
        if let Refresh::Fetched { lost_keys: true } = outcome {
            // A key was withdrawn: tokens it verified must be checked again.
            self.cache.clear();
        }
        outcome
    }

    async fn check_signature(&self, parsed: &token::Parsed<'_>) -> Result<(), JwtError> {
        let kid = parsed.kid.as_deref();
        let remote = match &self.keys {
            Keys::Static(set) => {
                let selection = set.select(kid, parsed.alg);
                return verify_with(&selection, parsed)
                    .unwrap_or_else(|| Err(keys::selection_error(&selection, parsed.alg)));
            }
            Keys::Remote(remote) => remote,
        };
        // At most one refresh per token: look, refresh if the key is
        // missing (or there are no keys yet), look again.
        for attempt in 0..2 {
            let set = remote.current();
            if let Some(set) = &set {
                let selection = set.select(kid, parsed.alg);
                if let Some(result) = verify_with(&selection, parsed) {
                    return result;
                }
                if let Selection::Mismatch = selection {
                    return Err(keys::selection_error(&selection, parsed.alg));
                }
            }
            if attempt == 0 {
                let seen = set.as_ref().map_or(0, |s| s.generation);
                self.refresh(Trigger::Missing { seen }).await;
            }
        }
        if remote.current().is_none() || remote.last_fetch_failed() {
            Err(JwtError::Unavailable)
        } else {
            Err(JwtError::UnknownKey)
        }
    }
}

/// Tries the selected keys; `None` when there were none to try.
fn verify_with(
    selection: &Selection<'_>,
    parsed: &token::Parsed<'_>,
) -> Option<Result<(), JwtError>> {
    let Selection::Found(keys) = selection else {
        return None;
    };
    let input = parsed.signing_input.as_bytes();
    let ok = keys
        .iter()
        .any(|key| key.verify(parsed.alg, input, &parsed.signature));
    Some(if ok { Ok(()) } else { Err(JwtError::Signature) })
}
