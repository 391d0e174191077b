//! The verified-token cache.
//!
//! A client sends the same token with every request for its lifetime, and
//! a signature check (tens of microseconds for RSA) dwarfs everything else
//! the gateway does per request. So verified tokens are kept, keyed by the
//! SHA-256 of the token (the token itself, a credential, is not kept), for
//! at most until their `exp` and never longer than a cap, so a withdrawn
//! key stops being honoured soon even for long-lived tokens.
//!
//! Built on `moka` (the architecture's cache): bounded by entry count with
//! TinyLFU admission, so a burst of one-off tokens does not evict the hot
//! ones, and with per-entry expiry. A hit still re-checks `exp` and `nbf`
//! against the caller's clock: moka's expiry is housekeeping, not the rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use ring::digest;

use super::token::{Times, VerifiedToken};

/// The cache key: SHA-256 of the token.
pub(crate) type TokenHash = [u8; 32];

/// Hashes a token for the cache.
pub(crate) fn hash(token: &str) -> TokenHash {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) token: Arc<VerifiedToken>,
    pub(crate) times: Times,
    ttl: Duration,
}

struct EntryExpiry;

impl Expiry<TokenHash, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &TokenHash, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A bounded map from token hash to verified token; disabled when built
/// with size 0.
pub(crate) struct TokenCache {
    cache: Option<Cache<TokenHash, Entry>>,
    max_ttl: Duration,
}

impl TokenCache {
    pub(crate) fn new(size: u64, max_ttl: Duration) -> Self {
        let cache = (size > 0 && !max_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(size)
                .expire_after(EntryExpiry)
                .build()
        });
        Self { cache, max_ttl }
    }

    pub(crate) fn get(&self, key: &TokenHash) -> Option<Entry> {
        self.cache.as_ref()?.get(key)
    }

    /// Keeps a verified token until `min(exp + leeway, now + max_ttl)`.
    pub(crate) fn insert(
        &self,
        key: TokenHash,
        token: Arc<VerifiedToken>,
        times: Times,
        now: f64,
        leeway: Duration,
    ) {
        let Some(cache) = &self.cache else { return };
        let ttl = match times.exp {
            Some(exp) => {
                let left = exp + leeway.as_secs_f64() - now;
                Duration::try_from_secs_f64(left.max(0.0))
                    .unwrap_or(self.max_ttl)
                    .min(self.max_ttl)
            }
            None => self.max_ttl,
        };
        if !ttl.is_zero() {
            cache.insert(key, Entry { token, times, ttl });
        }
    }

    pub(crate) fn remove(&self, key: &TokenHash) {
        if let Some(cache) = &self.cache {
            cache.invalidate(key);
        }
    }

    /// Drops every entry: a key was withdrawn.
    pub(crate) fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }
}
