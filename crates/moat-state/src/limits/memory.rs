//! Limits in process memory: the single-node default, and the fallback when
//! Redis is unreachable.
//!
//! Keys are spread over shards, each a hash map behind its own mutex (SipHash:
//! keys are attacker-chosen). A decision locks the shards of its keys in
//! ascending order, so several limits are decided atomically without
//! deadlock. Memory is bounded: an entry whose state has run out (a GCRA
//! TAT in the past, a quota whose windows have both passed) carries no
//! information and is dropped by [`MemoryLimiter::sweep`] or when its shard
//! is full; when a shard is full of live entries, the eighth closest to
//! running out is dropped, which can only forgive a little, never block.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{
    Gcra, LimitCheck, LimitDecision, QuotaStore, RateLimitStore, SlidingWindow, WindowState,
    unix_nanos,
};
use crate::store::StoreError;

const SHARDS: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Slot {
    Tat(u64),
    Window(WindowState),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: Slot,
    /// When the entry stops mattering (nanoseconds since the epoch).
    expires_at: u64,
}

type Shard = HashMap<String, Entry>;

/// Counts for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryLimiterStats {
    /// Keys tracked now.
    pub keys: usize,
    /// Live keys dropped because their shard was full.
    pub evicted_live: u64,
}

/// GCRA and quota state in memory, at most `max_keys` keys.
pub struct MemoryLimiter {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    evicted_live: AtomicU64,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("per_shard", &self.per_shard)
            .finish_non_exhaustive()
    }
}

impl MemoryLimiter {
    /// A limiter tracking at most `max_keys` keys (at least one per shard).
    pub fn new(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Arc::new(unix_nanos))
    }

    /// The same, on a clock of nanoseconds since the epoch (for tests).
    pub fn with_clock(max_keys: usize, clock: Arc<dyn Fn() -> u64 + Send + Sync>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            evicted_live: AtomicU64::new(0),
            clock,
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        use std::hash::{BuildHasher, Hasher};
        // A fixed hasher picks the shard; the maps inside use random SipHash
        // keys, so shard choice is predictable but map layout is not.
        let mut h =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .build_hasher();
        h.write(key.as_bytes());
        (h.finish() as usize) % SHARDS
    }

    /// Locks the shards `keys` live in, in ascending order.
    fn lock<'a>(
        &'a self,
        keys: impl Iterator<Item = &'a str>,
    ) -> Vec<(usize, MutexGuard<'a, Shard>)> {
        let mut idx: Vec<usize> = keys.map(|k| self.shard_of(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter()
            .map(|i| {
                (
                    i,
                    self.shards[i]
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner),
                )
            })
            .collect()
    }

    /// Drops every entry that has run out; returns how many.
    pub fn sweep(&self) -> usize {
        let now = (self.clock)();
        self.shards
            .iter()
            .map(|s| {
                let mut shard = s.lock().unwrap_or_else(PoisonError::into_inner);
                let before = shard.len();
                shard.retain(|_, e| e.expires_at > now);
                before - shard.len()
            })
            .sum()
    }

    /// Keys tracked and live evictions so far.
    pub fn stats(&self) -> MemoryLimiterStats {
        MemoryLimiterStats {
            keys: self
                .shards
                .iter()
                .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
                .sum(),
            evicted_live: self.evicted_live.load(Ordering::Relaxed),
        }
    }

    /// Stores `entry` under `key`, making room in a full shard first.
    fn store(&self, shard: &mut Shard, key: &str, entry: Entry, now: u64) {
        if let Some(e) = shard.get_mut(key) {
            *e = entry;
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, e| e.expires_at > now);
        }
        if shard.len() >= self.per_shard {
            // Drop the eighth of the shard closest to running out in one
            // pass, so a flood of new keys costs O(1) per key, amortised,
            // rather than a scan each.
            let mut expiries: Vec<u64> = shard.values().map(|e| e.expires_at).collect();
            let nth = expiries.len() / 8;
            let (_, cut, _) = expiries.select_nth_unstable(nth);
            let cut = *cut;
            // Everything before `cut`, and of the entries at `cut` only as
            // many as make up the eighth (they may all share one time).
            let mut at_cut = nth + 1 - expiries.iter().filter(|&&x| x < cut).count();
            let before = shard.len();
            shard.retain(|_, e| {
                if e.expires_at < cut {
                    false
                } else if e.expires_at == cut && at_cut > 0 {
                    at_cut -= 1;
                    false
                } else {
                    true
                }
            });
            let dropped = before - shard.len();
            self.evicted_live
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        shard.insert(key.to_string(), entry);
    }

    /// The shared shape of both decisions: read each key's state, decide,
    /// and store the new states only if every check allowed.
    fn decide_all<R, S: Copy>(
        &self,
        checks: &[LimitCheck<R>],
        read: impl Fn(Option<&Entry>) -> S,
        decide: impl Fn(&LimitCheck<R>, S, u64) -> (LimitDecision, Entry),
    ) -> Vec<LimitDecision> {
        let now = (self.clock)();
        let mut guards = self.lock(checks.iter().map(|c| c.key.as_str()));
        let mut outcomes = Vec::with_capacity(checks.len());
        for c in checks {
            let i = self.shard_of(&c.key);
            let shard = guards.iter().find(|(j, _)| *j == i).map(|(_, g)| &**g);
            let state = read(shard.and_then(|s| s.get(&c.key)));
            outcomes.push(decide(c, state, now));
        }
        if outcomes.iter().all(|(d, _)| d.allowed) {
            for (c, (_, entry)) in checks.iter().zip(&outcomes) {
                let i = self.shard_of(&c.key);
                if let Some((_, g)) = guards.iter_mut().find(|(j, _)| *j == i) {
                    self.store(g, &c.key, *entry, now);
                }
            }
        }
        outcomes.into_iter().map(|(d, _)| d).collect()
    }

    fn tat_of(e: Option<&Entry>) -> u64 {
        match e {
            Some(Entry {
                slot: Slot::Tat(t), ..
            }) => *t,
            _ => 0,
        }
    }

    /// GCRA decisions, synchronously (the async trait wraps this).
    pub fn acquire_rate(&self, checks: &[LimitCheck<Gcra>]) -> Vec<LimitDecision> {
        self.decide_all(checks, Self::tat_of, |c, tat, now| {
            let o = c.rule.decide(tat, now, c.cost);
            (
                o.decision,
                Entry {
                    slot: Slot::Tat(o.new_tat),
                    expires_at: o.new_tat,
                },
            )
        })
    }

    /// Quota decisions, synchronously.
    pub fn acquire_quota(&self, checks: &[LimitCheck<SlidingWindow>]) -> Vec<LimitDecision> {
        self.decide_all(
            checks,
            |e| match e {
                Some(Entry {
                    slot: Slot::Window(w),
                    ..
                }) => *w,
                _ => WindowState::default(),
            },
            |c, state, now| {
                let o = c.rule.decide(state, now, c.cost);
                (
                    o.decision,
                    Entry {
                        slot: Slot::Window(o.state),
                        expires_at: (o.state.index + 2).saturating_mul(c.rule.window),
                    },
                )
            },
        )
    }

    /// Gives back GCRA units.
    pub fn refund_rate(&self, checks: &[LimitCheck<Gcra>]) {
        let mut guards = self.lock(checks.iter().map(|c| c.key.as_str()));
        for c in checks {
            let i = self.shard_of(&c.key);
            if let Some((_, g)) = guards.iter_mut().find(|(j, _)| *j == i)
                && let Some(e) = g.get_mut(&c.key)
                && let Slot::Tat(t) = e.slot
            {
                let back = c.rule.refund(t, c.cost);
                *e = Entry {
                    slot: Slot::Tat(back),
                    expires_at: back,
                };
            }
        }
    }
}

#[async_trait]
impl RateLimitStore for MemoryLimiter {
    async fn acquire(&self, checks: &[LimitCheck<Gcra>]) -> Result<Vec<LimitDecision>, StoreError> {
        Ok(self.acquire_rate(checks))
    }

    async fn refund(&self, checks: &[LimitCheck<Gcra>]) -> Result<(), StoreError> {
        self.refund_rate(checks);
        Ok(())
    }
}

#[async_trait]
impl QuotaStore for MemoryLimiter {
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError> {
        Ok(self.acquire_quota(checks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    fn clock(start: u64) -> (Arc<AtomicU64>, Arc<dyn Fn() -> u64 + Send + Sync>) {
        let t = Arc::new(AtomicU64::new(start));
        let c = t.clone();
        (t, Arc::new(move || c.load(Ordering::SeqCst)))
    }

    fn check(key: &str, limit: u64, burst: u64) -> LimitCheck<Gcra> {
        LimitCheck {
            key: key.into(),
            rule: Gcra::new(limit, Duration::from_secs(1), burst).unwrap(),
            cost: 1,
        }
    }

    #[test]
    fn a_refusal_by_one_limit_consumes_from_none() {
        let (_, c) = clock(100 * SEC);
        let l = MemoryLimiter::with_clock(1000, c);
        let wide = check("ip:1", 100, 100);
        let narrow = check("user:a", 1, 2);
        let both = [wide.clone(), narrow.clone()];
        assert!(l.acquire_rate(&both).iter().all(|d| d.allowed));
        assert!(l.acquire_rate(&both).iter().all(|d| d.allowed));
        let third = l.acquire_rate(&both);
        assert!(third[0].allowed && !third[1].allowed);
        // The wide limit was not charged for the refused request: 98 left.
        let alone = l.acquire_rate(std::slice::from_ref(&wide));
        assert_eq!(alone[0].remaining, 97);
        // A refund gives units back.
        l.refund_rate(std::slice::from_ref(&wide));
        assert_eq!(l.acquire_rate(std::slice::from_ref(&wide))[0].remaining, 97);
    }

    #[test]
    fn memory_is_bounded_and_idle_keys_are_swept() {
        let (t, c) = clock(100 * SEC);
        let l = MemoryLimiter::with_clock(64 * 100, c);
        for i in 0..100_000 {
            assert!(l.acquire_rate(&[check(&format!("ip:{i}"), 10, 5)])[0].allowed);
        }
        let s = l.stats();
        assert!(s.keys <= 64 * 100, "{s:?}");
        assert!(s.evicted_live > 0);
        // Every TAT is at most one interval ahead: a second later all are idle.
        t.fetch_add(SEC, Ordering::SeqCst);
        assert_eq!(l.sweep(), s.keys);
        assert_eq!(l.stats().keys, 0);
    }

    #[test]
    fn quotas_share_the_store() {
        let (t, c) = clock(3600 * SEC * 10);
        let l = MemoryLimiter::with_clock(1000, c);
        let q = LimitCheck {
            key: "orders:alice".to_string(),
            rule: SlidingWindow::new(2, Duration::from_secs(3600)).unwrap(),
            cost: 1,
        };
        assert!(l.acquire_quota(std::slice::from_ref(&q))[0].allowed);
        assert!(l.acquire_quota(std::slice::from_ref(&q))[0].allowed);
        assert!(!l.acquire_quota(std::slice::from_ref(&q))[0].allowed);
        t.fetch_add(3 * 3600 * SEC, Ordering::SeqCst);
        assert_eq!(l.sweep(), 1);
    }

    #[test]
    fn concurrent_decisions_never_overshoot() {
        let l = Arc::new(MemoryLimiter::new(10_000));
        // 1000 per hour with a burst of 1000: exactly 1000 pass at once.
        let rule = Gcra::new(1000, Duration::from_secs(3600), 1000).unwrap();
        let passed = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        let c = LimitCheck {
                            key: "k".to_string(),
                            rule,
                            cost: 1,
                        };
                        if l.acquire_rate(&[c])[0].allowed {
                            passed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(passed.load(Ordering::Relaxed), 1000);
    }
}
