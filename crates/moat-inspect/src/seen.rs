//! Header values an inspector found clean, remembered so that the same
//! value is not inspected again at every request.
//!
//! Real traffic repeats its header values: one `User-Agent`, `Accept` or
//! `Accept-Language` per browser build and locale, sent with every request.
//! Inspecting each header costs about as much as a query value, and a
//! browser sends a dozen; a value seen clean before is looked up instead.
//!
//! Only clean verdicts are kept, keyed by the header's name and the whole
//! value (compared in full: a hash collision cannot make a value clean),
//! for one inspector (so one set of options). A client can only fill the
//! table with values that are clean anyway. The table is direct-mapped:
//! a fixed number of slots chosen by a keyed hash (SipHash with a random
//! key, so a client cannot aim at a slot), each holding one value and
//! replaced by the next clean value that maps there; long values are not
//! kept. Each slot has its own lock, held for one comparison.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// Slots in the table.
const SLOTS: usize = 1024;

/// Longer values are inspected every time (and not held in memory).
pub(crate) const MAX_VALUE: usize = 512;

/// A remembered clean value.
struct Entry {
    name: Box<str>,
    value: Box<str>,
}

/// Clean header values of one inspector.
pub(crate) struct SeenClean {
    slots: Box<[Mutex<Option<Entry>>]>,
    hasher: RandomState,
}

impl Default for SeenClean {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl SeenClean {
    fn slot(&self, name: &str, value: &str) -> &Mutex<Option<Entry>> {
        let hash = self.hasher.hash_one((name, value));
        // SLOTS is a power of two.
        &self.slots[(hash as usize) & (SLOTS - 1)]
    }

    /// Whether `value` of header `name` was found clean before.
    pub(crate) fn contains(&self, name: &str, value: &str) -> bool {
        if value.len() > MAX_VALUE {
            return false;
        }
        let slot = self
            .slot(name, value)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .is_some_and(|e| &*e.name == name && &*e.value == value)
    }

    /// Remembers that `value` of header `name` is clean.
    pub(crate) fn insert(&self, name: &str, value: &str) {
        if value.len() > MAX_VALUE {
            return;
        }
        let entry = Entry {
            name: name.into(),
            value: value.into(),
        };
        *self
            .slot(name, value)
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_remembered_by_name_and_whole_value() {
        let seen = SeenClean::default();
        assert!(!seen.contains("user-agent", "curl/8.5.0"));
        seen.insert("user-agent", "curl/8.5.0");
        assert!(seen.contains("user-agent", "curl/8.5.0"));
        assert!(!seen.contains("referer", "curl/8.5.0"));
        assert!(!seen.contains("user-agent", "curl/8.5.1"));
        let long = "a".repeat(MAX_VALUE + 1);
        seen.insert("x-long", &long);
        assert!(!seen.contains("x-long", &long));
    }

    #[test]
    fn a_slot_holds_the_latest_value() {
        let seen = SeenClean::default();
        for i in 0..(SLOTS * 4) {
            seen.insert("accept-language", &format!("v{i}"));
        }
        // The last value is there; the table never grew past its slots.
        assert!(seen.contains("accept-language", &format!("v{}", SLOTS * 4 - 1)));
        let kept = (0..SLOTS * 4)
            .filter(|i| seen.contains("accept-language", &format!("v{i}")))
            .count();
        assert!(kept <= SLOTS, "{kept}");
    }
}
