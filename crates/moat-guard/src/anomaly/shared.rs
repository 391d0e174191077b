//! Counting shared by a cluster's nodes.
//!
//! Every detector counts in its local table: distinct ids through
//! [`DistinctLog`](super::window::DistinctLog) (credential stuffing,
//! enumeration), requests through
//! [`SlidingCount`](super::window::SlidingCount) (scraping, error storms).
//! In a cluster each such touch is also handed out as a [`SharedTouch`]:
//! the gateway sends a batch of them to a counter all nodes share and gives
//! each answer ([`SharedCount`]) back to
//! [`AnomalyEngine::decide_shared`](super::AnomalyEngine::decide_shared),
//! which applies the detector's own thresholds to the cluster-wide count.
//! While the shared counts answer, local counts only keep the fallback
//! warm; when they stop answering, the local counts decide again.
//!
//! Shared keys must be equal on every node, so they are HMAC-SHA256 (cut to
//! 64 bits) under a seed the cluster shares, over explicitly encoded
//! subjects and ids: no client-chosen string leaves the node, and no
//! client can predict where its ids land.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use ring::hmac;

use super::{Address, BanReach, EventSubject, Who};

/// Which distinct count a touch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tally {
    /// Credentials failing from one address (credential stuffing).
    StuffingAddress,
    /// Addresses failing with one credential (credential stuffing).
    StuffingCredential,
    /// Objects of one kind a subject requested (enumeration).
    Enumeration,
    /// A subject's requests in the short window, with its baseline
    /// (scraping bursts).
    ScrapingBurst,
    /// A subject's requests in the long window (sustained scraping).
    ScrapingSustained,
    /// A subject's requests, flagged when answered with an error (error
    /// storms).
    ErrorStorm,
}

impl Tally {
    /// A short name, fit for a key.
    pub fn name(self) -> &'static str {
        match self {
            Tally::StuffingAddress => "stuffing-address",
            Tally::StuffingCredential => "stuffing-credential",
            Tally::Enumeration => "enumeration",
            Tally::ScrapingBurst => "scraping-burst",
            Tally::ScrapingSustained => "scraping-sustained",
            Tally::ErrorStorm => "error-storm",
        }
    }
}

/// One touch of a cluster-wide count.
#[derive(Debug, Clone)]
pub struct SharedTouch {
    tally: Tally,
    subject: u64,
    now: u64,
    window: u64,
    measure: Measure,
    /// The subject's key in the local table (where the last event is kept).
    pub(crate) local: u64,
    pub(crate) about: About,
}

/// What a touch does to its count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// One id into a count of distinct ids.
    Distinct {
        /// The id's shared key.
        id: u64,
        /// The id's flag as of this touch (enumeration: the object was
        /// refused or not found).
        flag: bool,
        /// How many ids the count keeps at most (the threshold).
        cap: u32,
    },
    /// Requests into a sliding request count (the previous fixed window
    /// weighed by how much of it the sliding window still covers).
    Sliding {
        /// Requests counted.
        add: u32,
        /// Of them, those flagged (error storms: answered with an error).
        flagged: u32,
        /// Whether the touch starts a count not held yet (a count only
        /// updated otherwise).
        create: bool,
        /// The weight of the newest window in a baseline of the subject's
        /// earlier windows (an exponentially weighted average), when the
        /// detector learns one.
        baseline: Option<f64>,
        /// How long the count is kept after its last touch, in
        /// milliseconds.
        keep: u64,
    },
}

/// A cluster-wide count after a touch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum SharedCount {
    /// A distinct-id count: ids within the window (at most the cap), and
    /// of them those with their flag set.
    Distinct {
        /// Ids held.
        distinct: u64,
        /// Ids held whose flag is set.
        flagged: u64,
    },
    /// A sliding request count.
    Sliding {
        /// Requests within the sliding window.
        count: u64,
        /// Of them, those flagged.
        flagged: u64,
        /// The baseline: requests per window, on average over the earlier
        /// windows (0 where none is learnt).
        baseline: f64,
        /// Windows completed since the count began (0 where no baseline is
        /// learnt).
        windows: u32,
    },
    /// Nothing is counted (a sliding count that a touch did not create).
    #[default]
    Nothing,
}

/// What an event raised from a shared count is about.
#[derive(Debug, Clone)]
pub(crate) struct About {
    pub(crate) subject: EventSubject,
    pub(crate) reach: BanReach,
    /// The object kind (enumeration) or the credential id (stuffing by
    /// credential).
    pub(crate) detail: String,
}

impl SharedTouch {
    /// The count it belongs to.
    pub fn tally(&self) -> Tally {
        self.tally
    }
    /// The subject's shared key.
    pub fn subject(&self) -> u64 {
        self.subject
    }
    /// What it does to the count.
    pub fn measure(&self) -> Measure {
        self.measure
    }
    /// When, in unix milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// The sliding window, in milliseconds.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Takes `later`, a touch of the same sliding count, into this one:
    /// their requests add up, and the count is decided once, as of the
    /// later. False (and nothing changes) when `later` is of another count
    /// or either is a distinct-id touch, whose ids do not add up.
    pub fn absorb(&mut self, later: &SharedTouch) -> bool {
        let same = self.tally == later.tally
            && self.subject == later.subject
            && self.window == later.window
            && self.local == later.local;
        let (
            Measure::Sliding {
                add,
                flagged,
                create,
                ..
            },
            Measure::Sliding {
                add: more,
                flagged: more_flagged,
                create: creates,
                ..
            },
        ) = (&mut self.measure, later.measure)
        else {
            return false;
        };
        if !same {
            return false;
        }
        *add = add.saturating_add(more);
        *flagged = flagged.saturating_add(more_flagged);
        *create |= creates;
        self.now = self.now.max(later.now);
        true
    }
}

/// Keyed 64-bit hashes equal on every node holding the same seed.
pub(crate) struct SharedKeyer(hmac::Key);

impl SharedKeyer {
    pub(crate) fn new(seed: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, seed))
    }

    /// The key of `parts`, each length-prefixed so no two lists of parts
    /// encode alike.
    pub(crate) fn key(&self, parts: &[&[u8]]) -> u64 {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let tag = ctx.sign();
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(first)
    }

    pub(crate) fn address(&self, a: &Address) -> u64 {
        match a.ip {
            std::net::IpAddr::V4(v4) => self.key(&[b"a", &v4.octets(), &[a.prefix]]),
            std::net::IpAddr::V6(v6) => self.key(&[b"a", &v6.octets(), &[a.prefix]]),
        }
    }

    pub(crate) fn who(&self, who: &Who<'_>) -> u64 {
        match who {
            Who::Address(a) => self.address(a),
            Who::Consumer(c) => self.key(&[b"c", c.as_bytes()]),
        }
    }
}

/// The engine's sharing state.
#[derive(Default)]
pub(crate) struct Sharing {
    keyer: OnceLock<SharedKeyer>,
    /// The shared counts answered last: they decide, not the local ones.
    cluster_decides: AtomicBool,
}

impl Sharing {
    pub(crate) fn seed(&self, seed: &[u8]) -> bool {
        self.keyer.set(SharedKeyer::new(seed)).is_ok()
    }

    pub(crate) fn set_cluster_decides(&self, on: bool) {
        self.cluster_decides.store(on, Ordering::Relaxed);
    }

    /// What a detector needs for one observation.
    pub(crate) fn now(&self) -> Share<'_> {
        let keyer = self.keyer.get();
        Share {
            keyer,
            local_decides: keyer.is_none() || !self.cluster_decides.load(Ordering::Relaxed),
        }
    }
}

/// How a detector counts one observation.
#[derive(Clone, Copy)]
pub(crate) struct Share<'a> {
    /// Set in a cluster: touches are handed out.
    pub(crate) keyer: Option<&'a SharedKeyer>,
    /// Whether the local counts raise events.
    pub(crate) local_decides: bool,
}

impl Share<'_> {
    /// A node counting alone.
    pub(crate) const LOCAL: Share<'static> = Share {
        keyer: None,
        local_decides: true,
    };
}

/// A touch of `tally` by subject `subject` (shared key) of id `id`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn touch(
    tally: Tally,
    subject: u64,
    id: u64,
    flag: bool,
    now: u64,
    window: u64,
    cap: usize,
    local: u64,
    about: About,
) -> SharedTouch {
    let measure = Measure::Distinct {
        id,
        flag,
        cap: u32::try_from(cap).unwrap_or(u32::MAX),
    };
    measured(tally, subject, now, window, measure, local, about)
}

/// A touch of `tally`'s count of `subject` (shared key) by `measure`:
/// a distinct id ([`touch`]) or a request of a sliding count.
pub(crate) fn measured(
    tally: Tally,
    subject: u64,
    now: u64,
    window: u64,
    measure: Measure,
    local: u64,
    about: About,
) -> SharedTouch {
    SharedTouch {
        tally,
        subject,
        now,
        window,
        measure,
        local,
        about,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_the_seed_and_every_part() {
        let a = SharedKeyer::new(b"seed-one");
        let b = SharedKeyer::new(b"seed-one");
        let c = SharedKeyer::new(b"seed-two");
        assert_eq!(a.key(&[b"x", b"y"]), b.key(&[b"x", b"y"]));
        assert_ne!(a.key(&[b"x", b"y"]), c.key(&[b"x", b"y"]));
        assert_ne!(a.key(&[b"xy", b""]), a.key(&[b"x", b"y"]));
    }
}
