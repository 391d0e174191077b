//! Rate limits and quotas: the arithmetic, and the stores that keep their
//! state.
//!
//! - **Rate limits** use GCRA (the generic cell rate algorithm): one
//!   timestamp per key, the *theoretical arrival time* (TAT), no fixed
//!   windows and so no bursts at window edges. A key whose TAT has passed
//!   holds no information and can be forgotten at any time, which is what
//!   makes the memory store's eviction free of consequences.
//! - **Quotas** (long windows: hours, days, months) use a sliding window
//!   counter: the count of the current fixed window plus the previous
//!   window's count weighted by how much of it still overlaps the sliding
//!   window. It is persisted (SQLite, Redis) so a restart does not reset it.
//!
//! A request usually meets several limits (per address, per consumer, per
//! operation). Every store decides them together: all must allow, and a
//! request that one of them refuses consumes from none.

mod memory;
mod redis;

use async_trait::async_trait;

pub use memory::{MemoryLimiter, MemoryLimiterStats};
pub use moat_limits::{
    Gcra, GcraOutcome, LimitDecision, SlidingWindow, WindowOutcome, WindowState,
};
pub use redis::{RedisLimiter, RedisOptions, RedisSetting};

use crate::store::StoreError;

/// One limit to check for one request: the key it is counted under (already
/// namespaced by the caller, e.g. `shop:per-client:203.0.113.7`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck<R> {
    /// The counter's key.
    pub key: String,
    /// The rule.
    pub rule: R,
    /// How many units the request costs (1 for a plain request).
    pub cost: u32,
}

/// A store of GCRA state (theoretical arrival times).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Decides every check together: when all allow, each consumes its cost;
    /// when any refuses, none consumes. Answers in the order of `checks`.
    async fn acquire(&self, checks: &[LimitCheck<Gcra>]) -> Result<Vec<LimitDecision>, StoreError>;

    /// Gives back what an earlier successful `acquire` of `checks` took,
    /// when a later limit (a quota) refuses the same request.
    async fn refund(&self, checks: &[LimitCheck<Gcra>]) -> Result<(), StoreError>;
}

/// A store of sliding window counters (quotas).
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Decides every check together, as [`RateLimitStore::acquire`] does.
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError>;
}

/// Nanoseconds since the Unix epoch, the clock every limit is computed on
/// (Redis scripts read the server's clock in the same unit, so several
/// gateways agree).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
