//! A bounded table of per-subject state: sharded hash maps with a hard cap
//! on entries, after moat-state's lockout memory store.
//!
//! Keys are 64-bit keyed hashes (SipHash with a random key per detector,
//! see [`Keyer`]), so they are already uniformly spread and unpredictable
//! to clients: the maps use them as their own hash, and the shard is taken
//! from their top bits. Two subjects share an entry only on a 64-bit
//! collision (about 3 in 10^10 for 100 000 subjects).
//!
//! When a shard is full and a new subject arrives, the shard frees room
//! for a batch of newcomers in one pass, so a flood of new subjects pays
//! one scan per batch rather than per request: first entries that carry no
//! information any more (idle for longer than the detector's windows),
//! then the least recently seen, until an eighth of the shard is free.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// More shards than cores only costs memory.
const MAX_SHARDS: usize = 16;

/// A shard smaller than this gets no company: below it, contention is not
/// worth an eviction order that is only approximate across shards.
const MIN_SHARD_CAPACITY: usize = 4096;

/// The part of a full shard freed in one pass (one eighth).
const EVICTION_BATCH_SHIFT: u32 = 3;

/// Keyed 64-bit hashes of subjects and ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyer(RandomState);

impl Keyer {
    pub(crate) fn key<T: Hash + ?Sized>(&self, value: &T) -> u64 {
        self.0.hash_one(value)
    }
}

/// Passes a `u64` key through: the keys are keyed hashes already.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in, in case.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// What the table needs to know of an entry to evict it.
pub(crate) trait Entry {
    /// The last time (unix ms) the subject was observed or an event about
    /// it was reported.
    fn last_active(&self) -> u64;
}

pub(crate) struct Table<E> {
    shards: Box<[Mutex<Shard<E>>]>,
    /// An entry inactive for this long (ms) carries no information any
    /// more: every window it counted in has passed.
    idle_after: u64,
}

struct Shard<E> {
    map: KeyMap<E>,
    capacity: usize,
}

impl<E: Entry> Table<E> {
    /// `capacity` (at least 1) split as evenly as possible over the shards;
    /// `idle_after` as described on the field.
    pub(crate) fn new(capacity: usize, idle_after: u64) -> Self {
        let capacity = capacity.max(1);
        let count = (capacity / MIN_SHARD_CAPACITY).clamp(1, MAX_SHARDS);
        let (each, extra) = (capacity / count, capacity % count);
        let shards = (0..count)
            .map(|i| {
                Mutex::new(Shard {
                    map: KeyMap::default(),
                    capacity: each + usize::from(i < extra),
                })
            })
            .collect();
        Self { shards, idle_after }
    }

    fn shard(&self, key: u64) -> &Mutex<Shard<E>> {
        // The top bits: the map's buckets use the low ones.
        let index = ((key >> 32) as usize) % self.shards.len();
        &self.shards[index]
    }

    /// Runs `f` on the entry of `key`, creating it with `create` (making
    /// room if the shard is full) when there is none.
    // Entries are updated by plain assignments that cannot panic half-way,
    // so a lock poisoned by a panic elsewhere still guards consistent data.
    pub(crate) fn upsert<R>(
        &self,
        key: u64,
        now: u64,
        create: impl FnOnce() -> E,
        f: impl FnOnce(&mut E) -> R,
    ) -> R {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.map.len() >= shard.capacity && !shard.map.contains_key(&key) {
            shard.make_room(now, self.idle_after);
        }
        f(shard.map.entry(key).or_insert_with(create))
    }

    /// Runs `f` on the entry of `key` if there is one.
    pub(crate) fn update<R>(&self, key: u64, f: impl FnOnce(&mut E) -> R) -> Option<R> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.map.get_mut(&key).map(f)
    }

    /// Drops the idle entries; how many.
    pub(crate) fn purge(&self, now: u64) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                let before = shard.map.len();
                shard
                    .map
                    .retain(|_, e| e.last_active().saturating_add(self.idle_after) > now);
                before - shard.map.len()
            })
            .sum()
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

impl<E: Entry> Shard<E> {
    fn make_room(&mut self, now: u64, idle_after: u64) {
        self.map
            .retain(|_, e| e.last_active().saturating_add(idle_after) > now);
        let batch = (self.capacity >> EVICTION_BATCH_SHIFT).max(1);
        let keep = self.capacity.saturating_sub(batch);
        let Some(excess) = self.map.len().checked_sub(keep).filter(|&n| n > 0) else {
            return;
        };
        let mut by_age: Vec<(u64, u64)> = self
            .map
            .iter()
            .map(|(k, e)| (e.last_active(), *k))
            .collect();
        if by_age.len() > excess {
            by_age.select_nth_unstable(excess);
            by_age.truncate(excess);
        }
        for (_, key) in &by_age {
            self.map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Seen(u64);
    impl Entry for Seen {
        fn last_active(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn capacity_is_split_exactly_and_kept() {
        for capacity in [1, 7, 4095, 4096, 8191, 100_000] {
            let table = Table::<Seen>::new(capacity, 1000);
            let total: usize = table
                .shards
                .iter()
                .map(|s| s.lock().unwrap().capacity)
                .sum();
            assert_eq!(total, capacity);
        }
        let keyer = Keyer::default();
        let table = Table::<Seen>::new(100, 1000);
        for i in 0..10_000u64 {
            table.upsert(keyer.key(&i), i, || Seen(i), |e| e.0 = i);
            assert!(table.len() <= 100);
        }
        // The most recent survive eviction.
        assert!(table.update(keyer.key(&9_999u64), |_| ()).is_some());
        assert!(table.update(keyer.key(&0u64), |_| ()).is_none());
        let held = table.len();
        assert_eq!(table.purge(1_000_000), held);
        assert_eq!(table.len(), 0);
    }
}
