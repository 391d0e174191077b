//! Counted slots per key: requests in flight per consumer, connections per
//! client address. One counter for both, so both forget a key as soon as
//! its last slot is given back (the map never holds more keys than there
//! are slots taken).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// Slots per key, at most `max` each (the limit is given per call, as it
/// may differ per API).
pub struct Slots<K> {
    taken: Mutex<HashMap<K, u32>>,
}

impl<K> Default for Slots<K> {
    fn default() -> Self {
        Self {
            taken: Mutex::new(HashMap::new()),
        }
    }
}

/// One slot; given back when dropped.
pub struct Slot<K: Hash + Eq> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Slots<K> {
    /// Takes a slot for `key` unless `max` are taken.
    pub fn try_acquire(self: &Arc<Self>, key: K, max: u32) -> Option<Slot<K>> {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let n = taken.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                taken.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            key,
        })
    }

    /// How many keys hold a slot.
    pub fn tracked(&self) -> usize {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut taken = self
            .slots
            .taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = taken.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                taken.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_key_and_forget_idle_ones() {
        let slots: Arc<Slots<&str>> = Arc::default();
        let a1 = slots.try_acquire("a", 2).unwrap();
        let a2 = slots.try_acquire("a", 2).unwrap();
        assert!(slots.try_acquire("a", 2).is_none());
        let b1 = slots.try_acquire("b", 2).unwrap();
        assert!(slots.try_acquire("c", 0).is_none());
        assert_eq!(slots.tracked(), 2);
        drop(a1);
        let a3 = slots.try_acquire("a", 2).unwrap();
        drop((a2, a3, b1));
        assert_eq!(slots.tracked(), 0);
    }
}
