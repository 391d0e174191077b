//! The in-process lockout store: sharded hash maps with a sliding-window log
//! per subject and a hard cap on tracked subjects.
//!
//! # Counting
//!
//! Each subject keeps the times of its recent failures (a sliding-window
//! log), at most one per failure below the threshold, because the failure
//! that reaches the threshold clears the log. The log is exact: the
//! threshold-th failure within any span of `window` locks, there is no
//! window edge at which twice the threshold fits, and "failures older than
//! `window` are forgotten" holds to the millisecond. A decaying counter
//! (leaky bucket, GCRA) would need one number instead of up to `threshold`
//! of them, but it forgets failures gradually rather than after `window`,
//! which makes the policy harder to state; with thresholds capped at
//! [`MAX_FAILURE_THRESHOLD`](super::MAX_FAILURE_THRESHOLD) the log costs at
//! most a few hundred bytes per subject. The same log is a Redis sorted set
//! in the cluster store ([`super::RedisLockout`]).
//!
//! # Bounded memory
//!
//! Client subjects and credential subjects live in separate tables, each
//! capped at the capacity given to [`MemoryLockout::with_capacity`], so a
//! flood of random addresses cannot push out the count against a credential
//! and a flood of random user names cannot push out the count against an
//! address. Credential strings are kept as a 128-bit SHA-256 prefix, so a
//! long name costs no more than a short one. [`LockoutStore::locked`] never
//! adds a subject; only a recorded failure does.
//!
//! When a table shard is full and a new subject fails, the shard makes room
//! for a batch of newcomers in one pass, so a flood pays for one scan per
//! batch rather than per request. In order, it drops:
//!
//! 1. subjects that carry no information any more (no failure within
//!    `window`, not locked out, backoff level zero or forgotten);
//! 2. the least recently active of the subjects that are not locked out,
//!    until an eighth of the shard is free;
//! 3. only if every subject is locked out, the one whose lockout ends
//!    soonest, to make room for exactly one.
//!
//! A subject that is locked out is therefore never dropped while a subject
//! that is not could be. If an attacker manages to fill a whole shard with
//! locked-out subjects, each further newcomer costs one scan of the shard
//! and ends the lockout closest to its end anyway; the alternative, not
//! tracking newcomers, would let that attacker switch lockout off for
//! everyone else.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ring::digest;

use super::{LockoutPolicy, LockoutPolicyError, LockoutStore, LockoutSubject, SubjectState};
use crate::bans::IpPrefix;
use crate::store::StoreError;

/// More shards than cores only costs memory; 16 covers the machines moat
/// runs on while keeping each shard's scan short.
const MAX_SHARDS: usize = 16;

/// A shard smaller than this gets no company: below it, contention is not
/// worth an eviction order that is only approximate across shards (and
/// small test stores stay exactly least-recently-used).
const MIN_SHARD_CAPACITY: usize = 4096;

/// The part of a full shard freed in one pass (one eighth).
const EVICTION_BATCH_SHIFT: u32 = 3;

/// The highest backoff level kept: `2^63` times any base is past any
/// `max_lockout`.
const MAX_LEVEL: u8 = 63;

/// How many subjects each table is tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracked {
    /// Client addresses (IPv4 addresses and IPv6 /64s).
    pub clients: usize,
    /// Credentials.
    pub credentials: usize,
}

/// The per-process [`LockoutStore`]. Counts are lost on restart and not
/// shared between processes; that is what the cluster store will add.
pub struct MemoryLockout {
    policy: LockoutPolicy,
    clients: Table<ClientKey>,
    credentials: Table<CredentialKey>,
}

impl fmt::Debug for MemoryLockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLockout")
            .field("policy", &self.policy)
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl MemoryLockout {
    /// Subjects of each kind tracked at most by [`new`](Self::new). Both
    /// tables full take about 27 MB (one failure per subject) to 36 MB
    /// (every subject one failure short of the default thresholds), which
    /// is affordable next to the far larger number of requests it takes an
    /// attacker to fill them within one window.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A store for `policy` tracking at most
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) clients and as many
    /// credentials.
    pub fn new(policy: LockoutPolicy) -> Result<Self, LockoutPolicyError> {
        Self::with_capacity(policy, Self::DEFAULT_CAPACITY)
    }

    /// A store for `policy` tracking at most `capacity` client subjects
    /// and, separately, at most `capacity` credential subjects.
    pub fn with_capacity(
        policy: LockoutPolicy,
        capacity: usize,
    ) -> Result<Self, LockoutPolicyError> {
        policy.validate()?;
        if capacity == 0 {
            return Err(LockoutPolicyError::ZeroCapacity);
        }
        let limits = |threshold: u32| Limits {
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX),
            window: millis(policy.window),
            base: millis(policy.base_lockout),
            max: millis(policy.max_lockout),
        };
        Ok(Self {
            clients: Table::new(capacity, limits(policy.max_failures)),
            credentials: Table::new(capacity, limits(policy.credential_max_failures)),
            policy,
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    /// How many subjects are tracked, for metrics and tests.
    pub fn tracked(&self) -> Tracked {
        Tracked {
            clients: self.clients.len(),
            credentials: self.credentials.len(),
        }
    }

    /// Drops every subject that carries no information at `now` (see the
    /// module documentation) and returns how many. Never needed for the
    /// memory bound; calling it now and then just returns memory sooner
    /// after a burst.
    pub fn purge(&self, now: SystemTime) -> usize {
        let now = epoch_millis(now);
        self.clients.purge(now) + self.credentials.purge(now)
    }
}

#[async_trait]
impl LockoutStore for MemoryLockout {
    async fn locked(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError> {
        let now = epoch_millis(now);
        let remaining = match *subject {
            LockoutSubject::Client(ip) => self.clients.locked(client_key(ip), now),
            LockoutSubject::Credential(c) => self.credentials.locked(credential_key(c), now),
            LockoutSubject::CredentialFrom(c, ip) => {
                self.credentials.locked(credential_from_key(c, ip), now)
            }
        };
        Ok(remaining.map(Duration::from_millis))
    }

    async fn states(
        &self,
        subjects: &[LockoutSubject<'_>],
        now: SystemTime,
    ) -> Result<Vec<SubjectState>, StoreError> {
        let now = epoch_millis(now);
        Ok(subjects
            .iter()
            .map(|subject| {
                let state = match *subject {
                    LockoutSubject::Client(ip) => self.clients.state(client_key(ip), now),
                    LockoutSubject::Credential(c) => self.credentials.state(credential_key(c), now),
                    LockoutSubject::CredentialFrom(c, ip) => {
                        self.credentials.state(credential_from_key(c, ip), now)
                    }
                };
                SubjectState {
                    locked: state.locked.map(Duration::from_millis),
                    failures: state.failures,
                }
            })
            .collect())
    }

    async fn record_failure(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError> {
        let now = epoch_millis(now);
        let lockout = match *subject {
            LockoutSubject::Client(ip) => self.clients.record_failure(client_key(ip), now),
            LockoutSubject::Credential(c) => {
                self.credentials.record_failure(credential_key(c), now)
            }
            LockoutSubject::CredentialFrom(c, ip) => self
                .credentials
                .record_failure(credential_from_key(c, ip), now),
        };
        Ok(lockout.map(Duration::from_millis))
    }

    async fn record_success(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let now = epoch_millis(now);
        match *subject {
            LockoutSubject::Client(ip) => self.clients.record_success(client_key(ip), now),
            LockoutSubject::Credential(c) => {
                self.credentials.record_success(credential_key(c), now)
            }
            LockoutSubject::CredentialFrom(c, ip) => self
                .credentials
                .record_success(credential_from_key(c, ip), now),
        }
        Ok(())
    }
}

/// A client address as counted: IPv4 per address, IPv6 per /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ClientKey {
    V4(u32),
    V6Prefix(u64),
}

/// The client as [`IpPrefix::client`] counts it, in a compact form.
pub(super) fn client_key(ip: IpAddr) -> ClientKey {
    match IpPrefix::client(ip).addr() {
        IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
        // The upper 64 bits (the rest are zero), losslessly.
        IpAddr::V6(v6) => ClientKey::V6Prefix((u128::from(v6) >> 64) as u64),
    }
}

/// The first 128 bits of SHA-256 of the credential name: fixed size
/// whatever the name, and no accidental collisions among any number of
/// subjects a table can hold.
pub(super) type CredentialKey = [u8; 16];

pub(super) fn credential_key(name: &str) -> CredentialKey {
    let digest = digest::digest(&digest::SHA256, name.as_bytes());
    let mut key = [0u8; 16];
    for (k, d) in key.iter_mut().zip(digest.as_ref()) {
        *k = *d;
    }
    key
}

/// The key of a credential tried from one address: the digest of the name,
/// a separator no name's digest input ends with, and the counted address.
pub(super) fn credential_from_key(name: &str, ip: IpAddr) -> CredentialKey {
    let mut input = Vec::with_capacity(name.len() + 10);
    input.extend_from_slice(name.as_bytes());
    input.push(0);
    match client_key(ip) {
        ClientKey::V4(v4) => {
            input.push(4);
            input.extend_from_slice(&v4.to_be_bytes());
        }
        ClientKey::V6Prefix(p) => {
            input.push(6);
            input.extend_from_slice(&p.to_be_bytes());
        }
    }
    let digest = digest::digest(&digest::SHA256, &input);
    let mut key = [0u8; 16];
    for (k, d) in key.iter_mut().zip(digest.as_ref()) {
        *k = *d;
    }
    key
}

/// Milliseconds since the Unix epoch; a clock before 1970 reads as 0, as in
/// [`crate::unix_now`]. Milliseconds are what Redis expiries and sorted-set
/// scores will use too.
pub(super) fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis)
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a table holds of one key.
#[derive(Debug, Default, Clone, Copy)]
struct KeyState {
    locked: Option<u64>,
    failures: bool,
}

/// A policy as one table applies it, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    threshold: usize,
    window: u64,
    base: u64,
    /// The longest lockout, and the quiet period that resets the backoff.
    max: u64,
}

impl Limits {
    /// The length of a lockout at backoff `level` (0 for the first).
    fn lockout(&self, level: u8) -> u64 {
        let factor = 1u64.checked_shl(u32::from(level)).unwrap_or(u64::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// What is known about one subject.
#[derive(Debug)]
struct Entry {
    /// Times of the failures counted towards the next lockout, oldest
    /// first; shorter than the threshold between calls.
    failures: VecDeque<u64>,
    /// The subject is locked out while `now < locked_until` (0: never was).
    locked_until: u64,
    /// The latest failure, counted or not.
    last_failure: u64,
    /// Lockouts so far without a quiet period; the next one lasts
    /// `base * 2^level`.
    level: u8,
}

impl Entry {
    fn new() -> Self {
        Self {
            failures: VecDeque::new(),
            locked_until: 0,
            last_failure: 0,
            level: 0,
        }
    }

    fn is_locked(&self, now: u64) -> bool {
        now < self.locked_until
    }

    /// When the subject was last heard of: its latest failure or the end
    /// of its latest lockout. Eviction order and the quiet period both
    /// count from here, so a long lockout is not itself a quiet period.
    fn last_active(&self) -> u64 {
        self.last_failure.max(self.locked_until)
    }

    fn backoff_forgotten(&self, now: u64, limits: &Limits) -> bool {
        self.last_active().saturating_add(limits.max) <= now
    }

    /// No failure within the window, no lockout and no backoff to keep:
    /// dropping the entry changes nothing.
    fn is_dead(&self, now: u64, limits: &Limits) -> bool {
        !self.is_locked(now)
            && self
                .failures
                .back()
                .is_none_or(|&t| t.saturating_add(limits.window) <= now)
            && (self.level == 0 || self.backoff_forgotten(now, limits))
    }

    /// Counts a failure at `now`; the lockout length if it starts one.
    fn fail(&mut self, now: u64, limits: &Limits) -> Option<u64> {
        if self.is_locked(now) {
            self.last_failure = self.last_failure.max(now);
            return None;
        }
        if self.level > 0 && self.backoff_forgotten(now, limits) {
            self.level = 0;
        }
        while self
            .failures
            .front()
            .is_some_and(|&t| t.saturating_add(limits.window) <= now)
        {
            self.failures.pop_front();
        }
        // A clock that stepped back must not unsort the log.
        let at = self.failures.back().map_or(now, |&t| t.max(now));
        self.failures.push_back(at);
        self.last_failure = self.last_failure.max(now);
        if self.failures.len() < limits.threshold {
            return None;
        }
        self.failures.clear();
        let length = limits.lockout(self.level);
        self.locked_until = now.saturating_add(length);
        self.level = self.level.saturating_add(1).min(MAX_LEVEL);
        Some(length)
    }
}

/// One kind of subject: a fixed number of independently locked shards.
struct Table<K> {
    shards: Box<[Mutex<Shard<K>>]>,
    /// Keyed (SipHash with a random key), because the keys are chosen by
    /// clients: a fixed hash would let them aim every subject at one
    /// shard and one bucket.
    hasher: RandomState,
    limits: Limits,
}

struct Shard<K> {
    map: HashMap<K, Entry>,
    capacity: usize,
}

impl<K: Copy + Eq + Hash> Table<K> {
    /// `capacity` split as evenly as possible over the shards; the shards'
    /// capacities add up to exactly `capacity`.
    fn new(capacity: usize, limits: Limits) -> Self {
        let count = (capacity / MIN_SHARD_CAPACITY).clamp(1, MAX_SHARDS);
        let (each, extra) = (capacity / count, capacity % count);
        let shards = (0..count)
            .map(|i| {
                Mutex::new(Shard {
                    map: HashMap::new(),
                    capacity: each + usize::from(i < extra),
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            limits,
        }
    }

    // Every update of an entry is a few plain assignments that cannot
    // panic half-way, so a lock poisoned by a panic elsewhere still guards
    // consistent data and is used as is.
    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K>> {
        let index = if self.shards.len() == 1 {
            0
        } else {
            (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
        };
        let shard = &self.shards[index];
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn locked(&self, key: K, now: u64) -> Option<u64> {
        self.state(key, now).locked
    }

    /// Whether `key` is locked out (for how long yet) and has failures
    /// within the window.
    fn state(&self, key: K, now: u64) -> KeyState {
        let shard = self.shard(&key);
        let Some(entry) = shard.map.get(&key) else {
            return KeyState::default();
        };
        KeyState {
            // Capped so that a wall clock stepped back cannot stretch a
            // lockout beyond the longest one the policy allows.
            locked: entry
                .is_locked(now)
                .then(|| (entry.locked_until - now).min(self.limits.max)),
            failures: entry
                .failures
                .back()
                .is_some_and(|&t| t.saturating_add(self.limits.window) > now),
        }
    }

    fn record_failure(&self, key: K, now: u64) -> Option<u64> {
        let mut shard = self.shard(&key);
        if shard.map.len() >= shard.capacity && !shard.map.contains_key(&key) {
            shard.make_room(now, &self.limits);
        }
        shard
            .map
            .entry(key)
            .or_insert_with(Entry::new)
            .fail(now, &self.limits)
    }

    fn record_success(&self, key: K, now: u64) {
        let mut shard = self.shard(&key);
        if let Some(entry) = shard.map.get_mut(&key) {
            entry.failures.clear();
            if entry.is_dead(now, &self.limits) {
                shard.map.remove(&key);
            }
        }
    }

    fn purge(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let before = shard.map.len();
                shard.map.retain(|_, e| !e.is_dead(now, &self.limits));
                before - shard.map.len()
            })
            .sum()
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

impl<K: Copy + Eq + Hash> Shard<K> {
    /// Frees at least one slot, preferring (in order) dead entries, the
    /// least recently active entries that are not locked out, and only
    /// then the lockout that ends soonest. See the module documentation.
    fn make_room(&mut self, now: u64, limits: &Limits) {
        self.map.retain(|_, e| !e.is_dead(now, limits));
        let batch = (self.capacity >> EVICTION_BATCH_SHIFT).max(1);
        let keep = self.capacity.saturating_sub(batch);
        let Some(excess) = self.map.len().checked_sub(keep).filter(|&n| n > 0) else {
            return;
        };
        let mut idle: Vec<(u64, K)> = self
            .map
            .iter()
            .filter(|(_, e)| !e.is_locked(now))
            .map(|(k, e)| (e.last_active(), *k))
            .collect();
        if idle.len() > excess {
            idle.select_nth_unstable_by_key(excess, |&(active, _)| active);
            idle.truncate(excess);
        }
        for (_, key) in &idle {
            self.map.remove(key);
        }
        if self.map.len() >= self.capacity {
            let soonest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.locked_until)
                .map(|(k, _)| *k);
            if let Some(key) = soonest {
                self.map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn client_keys_group_ipv6_per_64_and_unmap_ipv4() {
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            client_key(IpAddr::V6(v4.to_ipv6_mapped())),
            client_key(IpAddr::V4(v4))
        );
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a.into()), client_key(b.into()));
        assert_ne!(client_key(a.into()), client_key(c.into()));
        assert_eq!(
            client_key(a.into()),
            ClientKey::V6Prefix(0x2001_0db8_0001_0002)
        );
    }

    #[test]
    fn lockout_lengths_double_and_saturate() {
        let limits = Limits {
            threshold: 1,
            window: 1,
            base: 1_000,
            max: 5_000,
        };
        let lengths: Vec<u64> = [0, 1, 2, 3, 63].map(|l| limits.lockout(l)).to_vec();
        assert_eq!(lengths, [1_000, 2_000, 4_000, 5_000, 5_000]);
        let huge = Limits {
            base: u64::MAX / 2,
            max: u64::MAX,
            ..limits
        };
        assert_eq!(huge.lockout(MAX_LEVEL), u64::MAX);
    }

    #[test]
    fn capacity_is_split_exactly() {
        let limits = Limits {
            threshold: 1,
            window: 1,
            base: 1,
            max: 1,
        };
        for capacity in [1, 7, 4095, 4096, 8191, 100_000, 1_000_003] {
            let table = Table::<u32>::new(capacity, limits);
            let total: usize = table
                .shards
                .iter()
                .map(|s| s.lock().unwrap().capacity)
                .sum();
            assert_eq!(total, capacity);
            assert!(table.shards.iter().all(|s| s.lock().unwrap().capacity > 0));
        }
    }
}
