//! The shared level: answers kept where every node of a cluster finds
//! them, behind each node's own cache.
//!
//! A node that misses its own cache looks in the shared level before
//! calling the endpoint, and stores what the endpoint said in both; so a
//! cluster of N nodes makes one call per token rather than N. The store is
//! anything implementing [`SharedAnswers`] (Redis in moat's clusters); this
//! module decides what is stored and when it may be believed.
//!
//! - **Key**: the SHA-256 of the token, in lowercase hex; never the token.
//! - **Value**: the answer as the node's own cache keeps it, as JSON:
//!   `{"v":1,"src":…,"until":…,"answer":{…}}`. `answer` is the endpoint's
//!   members of an active answer (judged again on every read, with the same
//!   rules as a fresh one: `exp`, `nbf`, `iss`, `aud`), or
//!   `{"active":false}`; `until` is when the node's cache would stop
//!   believing it (`fetched + cache_ttl`, or `fetched + negative_ttl`);
//!   `src` is a digest of the endpoint, the client id, the issuer and the
//!   audiences the answer was obtained and judged with. An answer with
//!   another `src` is a miss: a token one scheme's server vouches for is
//!   never accepted by a scheme that asks another server or requires
//!   another audience.
//! - **Expiry**: the store drops an active answer at `min(exp, until)`, an
//!   inactive one at `until`: the same bound as the node's own cache.
//! - **Failure**: a store that errs or times out is a miss, never an error
//!   to the client: the endpoint is called, as without a shared level. The
//!   store is not written to after a failed read (it would cost a second
//!   timeout), and after a failure it is left alone for [`RETRY_AFTER`],
//!   so a hung store costs one timeout per interval, not one per token. A
//!   change between working and failing is logged once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cache::TokenHash;
use super::response::{self, Active, Rules, Verdict};

/// The version of the stored value; another version is a miss.
const VERSION: u32 = 1;

/// After the store failed, how long it is not asked again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A store of introspection answers shared by the nodes of a cluster: a
/// key-value store with expiry. Implementations bound every call by a
/// timeout of their own; an error is treated as a miss.
#[async_trait]
pub trait SharedAnswers: Send + Sync {
    /// The value stored under `key` (the lowercase hex SHA-256 of a
    /// token), if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SharedAnswersError>;

    /// Stores `value` under `key` for `ttl` (never zero), replacing what
    /// was there.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration)
    -> Result<(), SharedAnswersError>;
}

/// Why the shared store did not answer. The message must not hold
/// credentials (it is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SharedAnswersError(pub String);

/// The stored value.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    src: String,
    until: f64,
    answer: Map<String, Value>,
}

/// What the shared level said about a token.
pub(crate) enum Lookup {
    /// A stored answer, judged now, and when the node's cache stops
    /// believing it.
    Found(Verdict, f64),
    /// Nothing usable is stored.
    Missing,
    /// The store failed: do not write to it either.
    Failed,
}

/// One verifier's view of the shared store.
pub(crate) struct SharedLevel {
    store: Arc<dyn SharedAnswers>,
    /// Digest of what the answers depend on besides the token.
    source: String,
    /// Whether the last call to the store worked (for logging changes).
    up: AtomicBool,
    /// Until when the store is not asked, after a failure.
    resting_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for SharedLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedLevel")
            .field("source", &self.source)
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SharedLevel {
    /// The level for answers from `url` to `client_id`, judged by `rules`.
    pub(crate) fn new(
        store: Arc<dyn SharedAnswers>,
        url: &str,
        client_id: &str,
        rules: &Rules,
    ) -> Self {
        let parts = serde_json::json!([url, client_id, rules.issuer, rules.audiences]);
        let source = hex(digest::digest(&digest::SHA256, parts.to_string().as_bytes()).as_ref());
        Self {
            store,
            source,
            up: AtomicBool::new(true),
            resting_until: Mutex::new(None),
        }
    }

    /// Looks `key` up and judges what is stored at `now`.
    pub(crate) async fn lookup(&self, key: &TokenHash, rules: &Rules, now: f64) -> Lookup {
        if self.resting() {
            return Lookup::Failed;
        }
        let bytes = match self.store.get(&hex(key)).await {
            Ok(Some(bytes)) => {
                self.mark(None);
                bytes
            }
            Ok(None) => {
                self.mark(None);
                return Lookup::Missing;
            }
            Err(error) => {
                self.mark(Some(&error));
                return Lookup::Failed;
            }
        };
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            tracing::debug!("a shared introspection answer is unreadable; treated as a miss");
            return Lookup::Missing;
        };
        if stored.v != VERSION || stored.src != self.source || now >= stored.until {
            return Lookup::Missing;
        }
        let body = Value::Object(stored.answer).to_string();
        match response::evaluate(body.as_bytes(), rules, now) {
            Ok(verdict) => Lookup::Found(verdict, stored.until),
            Err(error) => {
                tracing::debug!(%error, "a shared introspection answer is invalid; treated as a miss");
                Lookup::Missing
            }
        }
    }

    /// Stores an active answer the node's cache believes until
    /// `fresh_until`; the store drops it at `min(exp, fresh_until)`.
    pub(crate) async fn store_active(
        &self,
        key: &TokenHash,
        active: &Active,
        now: f64,
        fresh_until: f64,
    ) {
        let end = active.exp.map_or(fresh_until, |exp| exp.min(fresh_until));
        let answer = active.token.claims.clone();
        self.store(key, answer, now, fresh_until, end).await;
    }

    /// Stores an inactive answer until `until`.
    pub(crate) async fn store_inactive(&self, key: &TokenHash, now: f64, until: f64) {
        let mut answer = Map::new();
        answer.insert("active".to_owned(), Value::Bool(false));
        self.store(key, answer, now, until, until).await;
    }

    async fn store(
        &self,
        key: &TokenHash,
        answer: Map<String, Value>,
        now: f64,
        until: f64,
        end: f64,
    ) {
        let Ok(ttl) = Duration::try_from_secs_f64(end - now) else {
            return;
        };
        if ttl.is_zero() {
            return;
        }
        let stored = Stored {
            v: VERSION,
            src: self.source.clone(),
            until,
            answer,
        };
        let Ok(value) = serde_json::to_vec(&stored) else {
            return;
        };
        let result = self.store.put(&hex(key), value, ttl).await;
        self.mark(result.as_ref().err());
    }

    /// Whether the store failed less than [`RETRY_AFTER`] ago.
    fn resting(&self) -> bool {
        let until = *self
            .resting_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|until| Instant::now() < until)
    }

    /// Rests the store after a failure, and logs a change between working
    /// and failing.
    fn mark(&self, error: Option<&SharedAnswersError>) {
        if error.is_some() {
            *self
                .resting_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now().checked_add(RETRY_AFTER);
        }
        let was_up = self.up.swap(error.is_none(), Ordering::AcqRel);
        match (error, was_up) {
            (Some(error), true) => tracing::warn!(
                %error,
                "the shared introspection cache does not answer; each node asks the endpoint itself until it does"
            ),
            (None, false) => {
                tracing::info!("the shared introspection cache answers again");
            }
            _ => {}
        }
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_hex_of_the_token_digest() {
        let key = super::super::cache::hash("abc");
        assert_eq!(
            hex(&key),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_source_depends_on_endpoint_client_and_rules() {
        struct Nothing;
        #[async_trait]
        impl SharedAnswers for Nothing {
            async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, SharedAnswersError> {
                Ok(None)
            }
            async fn put(
                &self,
                _: &str,
                _: Vec<u8>,
                _: Duration,
            ) -> Result<(), SharedAnswersError> {
                Ok(())
            }
        }
        let rules = |aud: &[&str]| Rules {
            issuer: None,
            audiences: aud.iter().map(|s| s.to_string()).collect(),
        };
        let src =
            |url: &str, id: &str, r: &Rules| SharedLevel::new(Arc::new(Nothing), url, id, r).source;
        let base = src("https://as/i", "moat", &rules(&["a"]));
        assert_eq!(base, src("https://as/i", "moat", &rules(&["a"])));
        assert_ne!(base, src("https://other/i", "moat", &rules(&["a"])));
        assert_ne!(base, src("https://as/i", "moat2", &rules(&["a"])));
        assert_ne!(base, src("https://as/i", "moat", &rules(&["b"])));
        assert_ne!(base, src("https://as/i", "moat", &rules(&[])));
    }
}
