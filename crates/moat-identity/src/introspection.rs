//! OAuth 2.0 token introspection (RFC 7662) for opaque bearer tokens.
//!
//! An opaque token means nothing to moat; only the authorization server
//! that issued it can say whether it is valid. One
//! [`IntrospectionVerifier`] per security scheme, built from an
//! [`IntrospectionConfig`], asks the server's introspection endpoint:
//!
//! - **The call**: `POST` of `token=…&token_type_hint=access_token` as
//!   `application/x-www-form-urlencoded`, authenticated as moat's client
//!   with `client_secret_basic` (default) or `client_secret_post` (RFC 6749
//!   §2.3.1). https only (plain http to loopback), no redirects, a timeout
//!   for the whole exchange and a 64 KiB cap on the answer
//!   ([`MAX_RESPONSE_BYTES`]).
//! - **The answer**: a token is active only if `active` is the JSON
//!   literal `true`, `exp` (when present) has not passed, `nbf` (when
//!   present) has (with `leeway`), and `iss`/`aud` match when configured.
//!   Otherwise it is [`IntrospectionError::Inactive`] (401).
//! - **Cache**: by SHA-256 of the token; active answers until
//!   `min(exp, fetched + cache_ttl)`, inactive ones for `negative_ttl`, so
//!   neither a busy client nor a flood of one bad token turns every
//!   request into a call. Concurrent requests with the same uncached token
//!   share one call.
//! - **Shared level** (clusters): with
//!   [`IntrospectionVerifier::with_shared`], a miss of the node's cache
//!   looks in a store every node shares ([`SharedAnswers`]) before calling
//!   the endpoint, and the endpoint's answer is stored in both, with the
//!   same expiry; a failing store only means calls to the endpoint (see
//!   the `shared` module).
//! - **Unavailable**: an unreachable endpoint, a timeout, a status other
//!   than 200 or an unreadable answer give [`IntrospectionError::Unavailable`]
//!   (503) unless a cached answer still decides. A 401 or 403 from the
//!   endpoint is about *moat's* client credentials, not the token: it is a
//!   misconfiguration (wrong `client_id`, `client_secret` or
//!   `auth_method`), logged as such, and answered 503 rather than blamed on
//!   the client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::SystemTime;
//! use moat_identity::introspection::{IntrospectionConfig, IntrospectionVerifier};
//!
//! let mut config = IntrospectionConfig::new(
//!     "https://as.example.com/oauth2/introspect",
//!     "moat-gateway",
//!     "s3cret-from-the-vault",
//! );
//! config.audiences = vec!["https://api.example.com".into()];
//! let verifier = IntrospectionVerifier::new(config)?;
//! match verifier.verify("2YotnFZFEjr1zCsicMWpAA", SystemTime::now()).await {
//!     Ok(token) => println!("subject {:?}, scopes {:?}", token.subject, token.scopes),
//!     Err(e) => println!("{} {:?}", e.http_status(), e.bearer_error()),
//! }
//! # Ok(()) }
//! ```

mod cache;
mod client;
mod error;
mod response;
mod shared;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

pub use client::MAX_RESPONSE_BYTES;
pub use error::{IntrospectionConfigError, IntrospectionError};
pub use response::IntrospectedToken;
pub use shared::{SharedAnswers, SharedAnswersError};

use cache::{AnswerCache, Cached, TokenHash};
use error::EndpointError;
use response::{Active, Rules, Verdict};
use shared::{Lookup, SharedLevel};

/// The largest token sent to the endpoint. Opaque tokens are tens of
/// bytes; the cap leaves room for servers that introspect JWTs, and keeps
/// a client from making moat hash and relay megabytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How often, at most, a failing endpoint is logged at `warn`; the
/// failures in between are logged at `debug`. An outage under load would
/// otherwise log once per request.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// How moat authenticates to the introspection endpoint (RFC 6749
/// §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and
    /// secret. The default, as RFC 6749 requires servers to support it.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form
    /// body, for servers that do not accept Basic.
    Post,
}

/// How one introspection security scheme is verified.
#[derive(Clone)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint: https, or http on loopback only.
    pub url: String,
    /// moat's client id at the authorization server.
    pub client_id: String,
    /// moat's client secret. Never printed by `Debug`.
    pub client_secret: String,
    /// How the id and secret are sent. Default [`ClientAuth::Basic`].
    pub auth_method: ClientAuth,
    /// Longest time an active answer is served from cache, whatever its
    /// `exp`: bounds how long a revoked token keeps being honoured.
    /// Default 5 min; zero disables caching of active answers.
    pub cache_ttl: Duration,
    /// How long an inactive answer is served from cache. Short, so that a
    /// token refused by mistake (or not yet valid) recovers quickly, but
    /// long enough that repeating a bad token is not one call per
    /// request. Default 10 s; zero disables negative caching.
    pub negative_ttl: Duration,
    /// Timeout of one call, connect to last byte. Default 5 s.
    pub timeout: Duration,
    /// Answers kept, active and inactive each; 0 disables the cache.
    /// Default 10 000.
    pub cache_size: u64,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// Accepted audiences: the answer's `aud` must contain one of them.
    /// Empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `nbf`. Default 60 s. `exp` gets none (see
    /// the module docs).
    pub leeway: Duration,
    /// The roots the endpoint's server is verified against. Default
    /// `None`: the system's.
    pub trust: Option<crate::trust::Trust>,
}

impl IntrospectionConfig {
    /// A configuration with the defaults above.
    pub fn new(
        url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            auth_method: ClientAuth::Basic,
            cache_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            cache_size: 10_000,
            issuer: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            trust: None,
        }
    }
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is a credential: configs end up in logs and panics.
        f.debug_struct("IntrospectionConfig")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth_method", &self.auth_method)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("timeout", &self.timeout)
            .field("cache_size", &self.cache_size)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("trust", &self.trust)
            .finish()
    }
}

/// Verifies the opaque bearer tokens of one security scheme by asking its
/// authorization server. Cheap to clone; clones share the HTTP client, the
/// cache and the calls in flight.
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    client: client::Client,
    client_id: String,
    auth_method: ClientAuth,
    rules: Rules,
    leeway: Duration,
    cache: AnswerCache,
    /// The cluster's shared answers, behind `cache`.
    shared: Option<SharedLevel>,
    /// Calls in flight by token hash, with the number of requests waiting
    /// on each.
    in_flight: Mutex<HashMap<TokenHash, Flight>>,
    /// When a failure was last logged at `warn`, and how many were logged
    /// at `debug` since.
    warned: Mutex<(Option<Instant>, u64)>,
}

/// One call in flight, shared by every request for the same token.
struct Flight {
    cell: Arc<OnceCell<Outcome>>,
    waiting: usize,
}

/// The result of one call (or a cache hit), before it is judged at a
/// particular request's `now`.
#[derive(Debug, Clone)]
enum Outcome {
    Active(Active),
    Inactive,
    Unavailable,
}

impl From<Cached> for Outcome {
    fn from(cached: Cached) -> Self {
        match cached {
            Cached::Active(active) => Outcome::Active(active),
            Cached::Inactive => Outcome::Inactive,
        }
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("url", &self.inner.client.url().as_str())
            .field("client_id", &self.inner.client_id)
            .field("auth_method", &self.inner.auth_method)
            .field("issuer", &self.inner.rules.issuer)
            .field("audiences", &self.inner.rules.audiences)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// Validates the configuration and builds the HTTP client. Does no
    /// network I/O: an unreachable endpoint shows on first use, as 503s.
    pub fn new(config: IntrospectionConfig) -> Result<Self, IntrospectionConfigError> {
        Self::build(config, None)
    }

    /// The same verifier with a second cache level shared by the nodes of
    /// a cluster: a miss of this node's cache looks in `shared` before
    /// calling the endpoint, and answers from the endpoint are stored in
    /// both. Nothing goes to `shared` for a half of the cache that
    /// `config` disables (`cache_ttl`, `negative_ttl` or `cache_size`
    /// zero).
    pub fn with_shared(
        config: IntrospectionConfig,
        shared: Arc<dyn SharedAnswers>,
    ) -> Result<Self, IntrospectionConfigError> {
        Self::build(config, Some(shared))
    }

    fn build(
        config: IntrospectionConfig,
        shared: Option<Arc<dyn SharedAnswers>>,
    ) -> Result<Self, IntrospectionConfigError> {
        let url = client::parse_url(&config.url)?;
        if config.client_id.is_empty() {
            return Err(IntrospectionConfigError::EmptyClientId);
        }
        if config.client_secret.is_empty() {
            return Err(IntrospectionConfigError::EmptyClientSecret);
        }
        if config.timeout.is_zero() {
            return Err(IntrospectionConfigError::ZeroTimeout);
        }
        let client = client::Client::new(
            url,
            &config.client_id,
            &config.client_secret,
            config.auth_method,
            config.timeout,
            config.trust.as_ref(),
        )?;
        let rules = Rules {
            issuer: config.issuer,
            audiences: config.audiences,
        };
        let shared = shared
            .map(|store| SharedLevel::new(store, client.url().as_str(), &config.client_id, &rules));
        let inner = Inner {
            client,
            client_id: config.client_id,
            auth_method: config.auth_method,
            rules,
            leeway: config.leeway,
            cache: AnswerCache::new(config.cache_size, config.cache_ttl, config.negative_ttl),
            shared,
            in_flight: Mutex::new(HashMap::new()),
            warned: Mutex::new((None, 0)),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Verifies a bearer token (the credential alone, without `Bearer `)
    /// at time `now`. The result is shared with the cache.
    pub async fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<IntrospectedToken>, IntrospectionError> {
        check_token(token)?;
        let now = unix_seconds(now);
        let key = cache::hash(token);
        let outcome = match self.inner.cache.get(&key, now) {
            Some(cached) => cached.into(),
            None => self.inner.shared_call(token, key, now).await,
        };
        match outcome {
            Outcome::Active(active) => {
                active.check(now, self.inner.leeway.as_secs_f64())?;
                Ok(active.token)
            }
            Outcome::Inactive => Err(IntrospectionError::Inactive),
            Outcome::Unavailable => Err(IntrospectionError::Unavailable),
        }
    }

    /// What [`verify`](Self::verify) concludes at `now` from `body`, an
    /// answer of the endpoint, without calling it and without the caches:
    /// the token when the answer makes it active, `Inactive`, or
    /// `Unavailable` for an answer that is not a valid introspection
    /// response. The same reading and the same rules as a real call's
    /// answer (for checking a server's answers, and for fuzzing).
    pub fn judge_answer(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Arc<IntrospectedToken>, IntrospectionError> {
        let now = unix_seconds(now);
        match response::evaluate(body, &self.inner.rules, now) {
            Ok(Verdict::Active(active)) => {
                active.check(now, self.inner.leeway.as_secs_f64())?;
                Ok(active.token)
            }
            Ok(Verdict::Inactive) => Err(IntrospectionError::Inactive),
            Err(_) => Err(IntrospectionError::Unavailable),
        }
    }

    /// Forgets every cached answer (after tokens were revoked out of band,
    /// for instance).
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }
}

impl Inner {
    /// Joins the call in flight for `key`, or starts one. If the request
    /// running the call is cancelled (its client went away), one of the
    /// waiting requests takes it over, as `OnceCell` guarantees.
    async fn shared_call(&self, token: &str, key: TokenHash, now: f64) -> Outcome {
        let seat = Seat::take(self, key);
        seat.cell
            .get_or_init(|| self.call(token, key, now))
            .await
            .clone()
    }

    /// The shared level's answer, or one call to the endpoint; the answer
    /// goes to the cache (and from the endpoint, to the shared level).
    async fn call(&self, token: &str, key: TokenHash, now: f64) -> Outcome {
        // A call that finished between this request's cache miss and its
        // joining the (then new) flight has already cached its answer.
        if let Some(cached) = self.cache.get(&key, now) {
            return cached.into();
        }
        let shared = match &self.shared {
            Some(shared) => match shared.lookup(&key, &self.rules, now).await {
                Lookup::Found(Verdict::Active(active), fresh_until) => {
                    self.cache
                        .insert_active(key, active.clone(), now, fresh_until);
                    return Outcome::Active(active);
                }
                Lookup::Found(Verdict::Inactive, until) => {
                    self.cache.insert_inactive(key, now, until);
                    return Outcome::Inactive;
                }
                Lookup::Missing => Some(shared),
                Lookup::Failed => None,
            },
            None => None,
        };
        let verdict = match self.client.introspect(token).await {
            Ok(body) => response::evaluate(&body, &self.rules, now),
            Err(error) => Err(error),
        };
        match verdict {
            Ok(Verdict::Active(active)) => {
                if let Some(fresh_until) = self.cache.fresh_until(now) {
                    self.cache
                        .insert_active(key, active.clone(), now, fresh_until);
                    if let Some(shared) = shared {
                        shared.store_active(&key, &active, now, fresh_until).await;
                    }
                }
                Outcome::Active(active)
            }
            Ok(Verdict::Inactive) => {
                if let Some(until) = self.cache.negative_until(now) {
                    self.cache.insert_inactive(key, now, until);
                    if let Some(shared) = shared {
                        shared.store_inactive(&key, now, until).await;
                    }
                }
                Outcome::Inactive
            }
            Err(error) => {
                self.log_failure(&error);
                Outcome::Unavailable
            }
        }
    }

    fn log_failure(&self, error: &EndpointError) {
        let url = self.client.url().as_str();
        let mut warned = lock(&self.warned);
        let (last, suppressed) = &mut *warned;
        if last.is_none_or(|at| at.elapsed() >= WARN_INTERVAL) {
            tracing::warn!(
                url,
                %error,
                suppressed = *suppressed,
                "token introspection failed; requests it cannot decide get 503"
            );
            *last = Some(Instant::now());
            *suppressed = 0;
        } else {
            tracing::debug!(url, %error, "token introspection failed");
            *suppressed += 1;
        }
    }
}

/// A request's place in a flight. Dropping it (when the request finishes
/// or is cancelled) removes the flight once it has an outcome (later
/// requests find the answer in the cache) or nobody waits on it any more,
/// so the map holds only calls that are really in flight.
struct Seat<'a> {
    inner: &'a Inner,
    key: TokenHash,
    cell: Arc<OnceCell<Outcome>>,
}

impl<'a> Seat<'a> {
    fn take(inner: &'a Inner, key: TokenHash) -> Self {
        let mut flights = lock(&inner.in_flight);
        let flight = flights.entry(key).or_insert_with(|| Flight {
            cell: Arc::new(OnceCell::new()),
            waiting: 0,
        });
        flight.waiting += 1;
        let cell = Arc::clone(&flight.cell);
        Self { inner, key, cell }
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.inner.in_flight);
        // The flight may already have been removed (and even replaced by
        // a newer one) by another request of this one.
        let Some(flight) = flights.get_mut(&self.key) else {
            return;
        };
        if !Arc::ptr_eq(&flight.cell, &self.cell) {
            return;
        }
        flight.waiting = flight.waiting.saturating_sub(1);
        if flight.waiting == 0 || flight.cell.initialized() {
            flights.remove(&self.key);
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a few assignments).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Refuses what cannot be a bearer token before it is hashed or sent:
/// empty, over the cap, or with a byte outside visible ASCII (RFC 6749
/// Appendix A.12 allows `%x20-7E`; a space cannot survive the
/// `Authorization` header, and control or non-ASCII bytes are never part
/// of a token).
fn check_token(token: &str) -> Result<(), IntrospectionError> {
    if token.is_empty() {
        return Err(IntrospectionError::Malformed("empty token"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IntrospectionError::Malformed("larger than the size cap"));
    }
    if !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(IntrospectionError::Malformed(
            "a character outside visible ASCII",
        ));
    }
    Ok(())
}

/// Seconds since the epoch; times before it count as 0.
fn unix_seconds(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_before_any_call() {
        assert!(check_token("2YotnFZFEjr1zCsicMWpAA").is_ok());
        assert!(check_token("a.b-c_d~e+f/g==").is_ok());
        for bad in ["", "a b", "a\tb", "a\nb", "tok\u{e9}n", "a\0"] {
            assert!(
                matches!(check_token(bad), Err(IntrospectionError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(check_token(&"a".repeat(MAX_TOKEN_BYTES)).is_ok());
        assert!(check_token(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
    }

    #[test]
    fn the_secret_is_never_printed() {
        let config = IntrospectionConfig::new("https://as.example.com/i", "moat", "hunter2-secret");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("moat"), "{shown}");
    }
}
