//! Keys fetched from a JWKS URL, directly or found by OIDC discovery.
//!
//! The rules:
//!
//! - **Reads never wait for the network** while a key for the token is
//!   held: the key set is an `ArcSwap` snapshot.
//! - **Single flight**: fetches run one at a time under an async mutex;
//!   tasks that needed a refresh wait for the one in progress and then use
//!   its result instead of fetching again.
//! - **At most one fetch per `min_refresh`** for fetches caused by tokens
//!   (an unknown `kid`, no keys yet, or keys older than `max_age`). Tokens
//!   with random `kid`s therefore cost the identity provider one request
//!   per interval, however many arrive. An explicit prefetch (at start)
//!   that fails does not count, so the first token still triggers a fetch.
//! - **Stale keys are kept** when a fetch fails or returns no usable key;
//!   a key disappears only when a successful fetch no longer lists it.
//! - Keys older than `max_age` are refreshed in the background on the next
//!   verification; the token being verified uses the keys in hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use serde_json::Value;

use super::algorithms::Algorithm;
use super::error::KeyFetchError;
use super::fetch::{self, Fetcher};
use super::keys::{self, KeySet};

/// Where the JWKS comes from.
pub(crate) enum Location {
    /// A JWKS URL.
    Jwks(Url),
    /// OIDC discovery: the issuer as configured (compared exactly with the
    /// document's `issuer`) and the discovery document's URL.
    Discovery { issuer: String, url: Url },
}

impl Location {
    /// The discovery location for an issuer URL (OpenID Connect Discovery
    /// §4: a trailing `/` is removed before the well-known path is
    /// appended).
    pub(crate) fn discovery(issuer: &str) -> Result<Self, super::error::JwtConfigError> {
        let base = issuer.strip_suffix('/').unwrap_or(issuer);
        let url = fetch::parse_key_url(&format!("{base}/.well-known/openid-configuration"))?;
        Ok(Location::Discovery {
            issuer: issuer.to_owned(),
            url,
        })
    }
}

/// What caused a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Fetching at start; a failure does not use up the interval.
    Prefetch,
    /// A token's key is missing from the set of generation `seen` (0: no
    /// set yet).
    Missing { seen: u64 },
    /// The set is older than `max_age`.
    MaxAge,
}

/// The result of a refresh request.
#[derive(Debug)]
pub(crate) enum Refresh {
    /// No fetch: another task refreshed meanwhile, or the interval since
    /// the last attempt is not over.
    Skipped,
    /// A new set is in force; `lost_keys` if a key of the previous set is
    /// gone.
    Fetched { lost_keys: bool },
    /// The fetch failed; the previous set (if any) stays in force.
    Failed(KeyFetchError),
}

/// The state only the fetching task touches.
struct FetchState {
    /// The `jwks_uri` found by discovery, kept until a fetch fails.
    jwks_uri: Option<Url>,
    generation: u64,
}

/// A remote key set and its refresh machinery.
pub(crate) struct RemoteKeys {
    fetcher: Fetcher,
    location: Location,
    allowed: Vec<Algorithm>,
    min_refresh: Duration,
    max_age: Duration,
    current: ArcSwapOption<KeySet>,
    fetching: tokio::sync::Mutex<FetchState>,
    /// Reference point for `last_attempt_ms`.
    epoch: Instant,
    /// Milliseconds after `epoch` of the last counted fetch attempt, or
    /// `NEVER`. Atomic so the verification path can decide without the
    /// lock whether a background refresh is due.
    last_attempt_ms: AtomicU64,
    last_failed: AtomicBool,
    background_running: AtomicBool,
}

const NEVER: u64 = u64::MAX;

impl RemoteKeys {
    pub(crate) fn new(
        fetcher: Fetcher,
        location: Location,
        allowed: Vec<Algorithm>,
        min_refresh: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            fetcher,
            location,
            allowed,
            min_refresh,
            max_age,
            current: ArcSwapOption::empty(),
            fetching: tokio::sync::Mutex::new(FetchState {
                jwks_uri: None,
                generation: 0,
            }),
            epoch: Instant::now(),
            last_attempt_ms: AtomicU64::new(NEVER),
            last_failed: AtomicBool::new(false),
            background_running: AtomicBool::new(false),
        }
    }

    /// The key set in force, if any was fetched.
    pub(crate) fn current(&self) -> Option<Arc<KeySet>> {
        self.current.load_full()
    }

    /// Whether the most recent fetch attempt failed: an unknown `kid` then
    /// cannot be decided (the key may be new), so the answer is 503.
    pub(crate) fn last_fetch_failed(&self) -> bool {
        self.last_failed.load(Ordering::Acquire)
    }

    fn since_last_attempt(&self) -> Option<Duration> {
        match self.last_attempt_ms.load(Ordering::Acquire) {
            NEVER => None,
            ms => Some(
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms)),
            ),
        }
    }

    fn interval_over(&self) -> bool {
        self.since_last_attempt()
            .is_none_or(|since| since >= self.min_refresh)
    }

    fn record_attempt(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1);
        self.last_attempt_ms.store(ms, Ordering::Release);
    }

    /// Claims the right to start a background refresh: the set is older
    /// than `max_age`, the interval is over and no background refresh is
    /// running. The caller must call [`RemoteKeys::background_done`].
    pub(crate) fn claim_background_refresh(&self) -> bool {
        let Some(set) = self.current.load().as_ref().map(|s| s.fetched_at) else {
            return false;
        };
        set.elapsed() >= self.max_age
            && self.interval_over()
            && !self.background_running.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn background_done(&self) {
        self.background_running.store(false, Ordering::Release);
    }

    /// Refreshes the key set if the trigger still calls for it once the
    /// fetch lock is held.
    pub(crate) async fn refresh(&self, trigger: Trigger) -> Refresh {
        let mut state = self.fetching.lock().await;
        let current = self.current();
        let fresh_enough = match trigger {
            Trigger::Prefetch => {
                current.is_some() && !self.last_fetch_failed() && !self.interval_over()
            }
            Trigger::Missing { seen } => {
                let generation = current.as_ref().map_or(0, |s| s.generation);
                generation != seen || !self.interval_over()
            }
            Trigger::MaxAge => {
                current
                    .as_ref()
                    .is_some_and(|s| s.fetched_at.elapsed() < self.max_age)
                    || !self.interval_over()
            }
        };
        if fresh_enough {
            return Refresh::Skipped;
        }
        let result = self.fetch(&mut state).await;
        match result {
            Ok(keys) => {
                self.record_attempt();
                self.last_failed.store(false, Ordering::Release);
                state.generation += 1;
                let set = KeySet::new(keys, state.generation);
                let lost_keys = current.as_ref().is_some_and(|old| old.lost_keys_in(&set));
                tracing::debug!(keys = set.keys.len(), "fetched JWKS");
                self.current.store(Some(Arc::new(set)));
                Refresh::Fetched { lost_keys }
            }
            Err(error) => {
                if trigger != Trigger::Prefetch {
                    self.record_attempt();
                }
                self.last_failed.store(true, Ordering::Release);
                tracing::warn!(%error, keeping = current.is_some(), "JWKS refresh failed");
                Refresh::Failed(error)
            }
        }
    }

    async fn fetch(
        &self,
        state: &mut FetchState,
    ) -> Result<Vec<keys::VerificationKey>, KeyFetchError> {
        let jwks_url = match &self.location {
            Location::Jwks(url) => url.clone(),
            Location::Discovery { issuer, url } => match &state.jwks_uri {
                Some(found) => found.clone(),
                None => {
                    let found = self.discover(issuer, url).await?;
                    state.jwks_uri = Some(found.clone());
                    found
                }
            },
        };
        let result = self.fetch_jwks(&jwks_url).await;
        if result.is_err() {
            // The provider may have moved its JWKS: discover again next time.
            state.jwks_uri = None;
        }
        result
    }

    async fn discover(&self, issuer: &str, url: &Url) -> Result<Url, KeyFetchError> {
        let doc = self.fetcher.get_json(url).await?;
        let invalid = |message: &str| KeyFetchError::Invalid {
            url: url.as_str().to_owned(),
            message: message.to_owned(),
        };
        let found = doc
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `issuer`"))?;
        if found != issuer {
            return Err(KeyFetchError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: found.to_owned(),
            });
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `jwks_uri`"))?;
        let jwks_uri = Url::parse(jwks_uri).map_err(|_| invalid("`jwks_uri` is not a URL"))?;
        if !fetch::is_secure(&jwks_uri) {
            return Err(KeyFetchError::Insecure {
                url: jwks_uri.as_str().to_owned(),
            });
        }
        Ok(jwks_uri)
    }

    async fn fetch_jwks(&self, url: &Url) -> Result<Vec<keys::VerificationKey>, KeyFetchError> {
        let doc = self.fetcher.get_json(url).await?;
        let keys = keys::from_jwks_document(&doc, &self.allowed).map_err(|message| {
            KeyFetchError::Invalid {
                url: url.as_str().to_owned(),
                message,
            }
        })?;
        if keys.is_empty() {
            return Err(KeyFetchError::NoUsableKeys {
                url: url.as_str().to_owned(),
            });
        }
        Ok(keys)
    }
}
