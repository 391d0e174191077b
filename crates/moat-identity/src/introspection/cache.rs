//! The answer cache.
//!
//! A client sends the same token with every request, and a round trip to
//! the authorization server costs milliseconds and load on a shared
//! service. So answers are kept, keyed by the SHA-256 of the token (the
//! token itself, a credential, is not kept):
//!
//! - **Active** answers until `min(exp, fetched + cache_ttl)`. `cache_ttl`
//!   bounds how long a revoked token keeps being honoured. A hit past
//!   `exp` is refused without a call; a hit past `cache_ttl` is a miss.
//! - **Inactive** answers for `negative_ttl`, so that a client repeating a
//!   revoked or made-up token does not turn each request into a call.
//!
//! The two live in separate moka caches (bounded by entry count, TinyLFU
//! admission), so a flood of distinct bad tokens cannot evict the good
//! answers. moka's expiry runs on the monotonic clock and is housekeeping;
//! the rule is checked on every hit against the caller's `now`.

use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use ring::digest;

use super::response::Active;

/// The cache key: SHA-256 of the token.
pub(crate) type TokenHash = [u8; 32];

/// Hashes a token for the cache.
pub(crate) fn hash(token: &str) -> TokenHash {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// What a cache hit says.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    /// An active answer, still to be checked against `exp` and `nbf`.
    Active(Active),
    /// An inactive answer within `negative_ttl`.
    Inactive,
}

#[derive(Clone)]
struct Positive {
    active: Active,
    /// `fetched + cache_ttl`, seconds since the epoch.
    fresh_until: f64,
    ttl: Duration,
}

#[derive(Clone)]
struct Negative {
    /// `fetched + negative_ttl`, seconds since the epoch.
    until: f64,
    ttl: Duration,
}

struct PositiveExpiry;

impl Expiry<TokenHash, Positive> for PositiveExpiry {
    fn expire_after_create(&self, _: &TokenHash, entry: &Positive, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

struct NegativeExpiry;

impl Expiry<TokenHash, Negative> for NegativeExpiry {
    fn expire_after_create(&self, _: &TokenHash, entry: &Negative, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Active and inactive answers by token hash; each half is disabled when
/// its TTL or the size is zero.
pub(crate) struct AnswerCache {
    positive: Option<Cache<TokenHash, Positive>>,
    negative: Option<Cache<TokenHash, Negative>>,
    cache_ttl: Duration,
    negative_ttl: Duration,
}

impl AnswerCache {
    pub(crate) fn new(size: u64, cache_ttl: Duration, negative_ttl: Duration) -> Self {
        let positive = (size > 0 && !cache_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(size)
                .expire_after(PositiveExpiry)
                .build()
        });
        let negative = (size > 0 && !negative_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(size)
                .expire_after(NegativeExpiry)
                .build()
        });
        Self {
            positive,
            negative,
            cache_ttl,
            negative_ttl,
        }
    }

    /// The cached answer about `key` that is still fresh at `now`.
    pub(crate) fn get(&self, key: &TokenHash, now: f64) -> Option<Cached> {
        if let Some(entry) = self.positive.as_ref().and_then(|c| c.get(key))
            && now < entry.fresh_until
        {
            return Some(Cached::Active(entry.active));
        }
        if let Some(entry) = self.negative.as_ref().and_then(|c| c.get(key))
            && now < entry.until
        {
            return Some(Cached::Inactive);
        }
        None
    }

    /// When an active answer fetched at `now` stops being believed:
    /// `now + cache_ttl` (its `exp` is checked on every hit, without a
    /// call). `None` when active answers are not cached.
    pub(crate) fn fresh_until(&self, now: f64) -> Option<f64> {
        self.positive
            .as_ref()
            .map(|_| now + self.cache_ttl.as_secs_f64())
    }

    /// When an inactive answer fetched at `now` stops being believed:
    /// `now + negative_ttl`. `None` when inactive answers are not cached.
    pub(crate) fn negative_until(&self, now: f64) -> Option<f64> {
        self.negative
            .as_ref()
            .map(|_| now + self.negative_ttl.as_secs_f64())
    }

    /// Keeps an active answer until `min(exp, fresh_until)` (`fresh_until`
    /// from [`AnswerCache::fresh_until`] at the time it was fetched, here
    /// or by another node).
    pub(crate) fn insert_active(&self, key: TokenHash, active: Active, now: f64, fresh_until: f64) {
        if let Some(negative) = &self.negative {
            negative.invalidate(&key);
        }
        let Some(cache) = &self.positive else { return };
        let end = active.exp.map_or(fresh_until, |exp| exp.min(fresh_until));
        let ttl = Duration::try_from_secs_f64((end - now).max(0.0))
            .unwrap_or(self.cache_ttl)
            .min(self.cache_ttl);
        if !ttl.is_zero() {
            cache.insert(
                key,
                Positive {
                    active,
                    fresh_until,
                    ttl,
                },
            );
        }
    }

    /// Keeps an inactive answer until `until` (from
    /// [`AnswerCache::negative_until`] at the time it was fetched).
    pub(crate) fn insert_inactive(&self, key: TokenHash, now: f64, until: f64) {
        if let Some(positive) = &self.positive {
            positive.invalidate(&key);
        }
        let Some(cache) = &self.negative else { return };
        let ttl = Duration::try_from_secs_f64((until - now).max(0.0))
            .unwrap_or(self.negative_ttl)
            .min(self.negative_ttl);
        if !ttl.is_zero() {
            cache.insert(key, Negative { until, ttl });
        }
    }

    /// Drops every answer.
    pub(crate) fn clear(&self) {
        if let Some(cache) = &self.positive {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.negative {
            cache.invalidate_all();
        }
    }
}
