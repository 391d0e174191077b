//! Counting shared by a cluster's nodes.
//!
//! The distinct-id detectors (credential stuffing, enumeration) count
//! through [`DistinctLog`](super::window::DistinctLog) in their local
//! tables. In a cluster each such touch is also handed out as a
//! [`SharedTouch`]: the gateway sends a batch of them to a counter all
//! nodes share and gives each answer back to
//! [`AnomalyEngine::decide_shared`](super::AnomalyEngine::decide_shared),
//! which applies the detector's own threshold to the cluster-wide count.
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
}

impl Tally {
    /// A short name, fit for a key.
    pub fn name(self) -> &'static str {
        match self {
            Tally::StuffingAddress => "stuffing-address",
            Tally::StuffingCredential => "stuffing-credential",
            Tally::Enumeration => "enumeration",
        }
    }
}

/// One distinct-id touch, for the cluster-wide counter.
#[derive(Debug, Clone)]
pub struct SharedTouch {
    tally: Tally,
    subject: u64,
    id: u64,
    flag: bool,
    now: u64,
    window: u64,
    cap: u32,
    /// The subject's key in the local table (where the last event is kept).
    pub(crate) local: u64,
    pub(crate) about: About,
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
    /// The id's shared key.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The id's flag (enumeration: the object was refused or not found).
    pub fn flag(&self) -> bool {
        self.flag
    }
    /// When, in unix milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// The sliding window, in milliseconds.
    pub fn window(&self) -> u64 {
        self.window
    }
    /// How many ids the count keeps at most (the threshold).
    pub fn cap(&self) -> u32 {
        self.cap
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
    SharedTouch {
        tally,
        subject,
        id,
        flag,
        now,
        window,
        cap: u32::try_from(cap).unwrap_or(u32::MAX),
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
