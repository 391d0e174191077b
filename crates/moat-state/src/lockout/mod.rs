//! Brute-force lockout: repeated failed verifications per client address and
//! per credential lead to a temporary lockout with growing backoff.
//!
//! The gateway asks [`LockoutStore::locked`] before verifying a credential
//! (and answers `429` with `Retry-After` when locked, without verifying, so
//! a locked-out attacker learns nothing more), then reports the outcome with
//! [`LockoutStore::record_failure`] or [`LockoutStore::record_success`].
//! Counting lives in the state store, behind a trait: [`MemoryLockout`] is
//! the per-process backend, [`RedisLockout`] shares the counts between the
//! gateway nodes of a cluster.
//!
//! # What is counted
//!
//! Failures are counted against a [`LockoutSubject`]: the client address,
//! the credential that was tried, and the credential as tried from one
//! address. They catch different attacks: one address trying many keys or
//! passwords, one address guessing one user's password, and many addresses
//! (a botnet) trying one user's password. What each lockout does is the
//! gateway's decision: a credential locked everywhere must not lock its
//! owner out (anyone who knows a user name could), so the gateway slows it
//! down instead.
//!
//! # The rule
//!
//! A subject is locked out when it reaches its failure threshold within any
//! window of [`LockoutPolicy::window`] (a sliding window, so there is no
//! window edge at which twice the threshold fits). The lockout lasts
//! [`LockoutPolicy::base_lockout`], doubled for each further consecutive
//! lockout of the same subject up to [`LockoutPolicy::max_lockout`]. The
//! doubling is forgotten after a quiet period of `max_lockout` with neither
//! a failure nor a lockout, so an address that was once noisy is not
//! punished forever. A lockout clears the failure count: after it ends the
//! subject starts counting again from zero, towards a longer lockout.

mod memory;
mod redis;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::store::StoreError;

pub use memory::{MemoryLockout, Tracked};
pub use redis::{PROBE_INTERVAL, RedisLockout};

/// The largest failure threshold accepted. The memory backend keeps one
/// timestamp per counted failure, so the threshold bounds the memory per
/// subject; a threshold above this no longer protects against guessing.
pub const MAX_FAILURE_THRESHOLD: u32 = 100;

/// What failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutSubject<'a> {
    /// The client's address. IPv4 addresses are counted one by one. IPv6
    /// addresses are counted per /64 prefix: a single host, customer or VM
    /// is routinely given a whole /64, so counting per address would let
    /// an attacker take 2^64 fresh addresses. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`, what a dual-stack socket reports) is counted as
    /// its IPv4 address.
    Client(IpAddr),
    /// The credential that was tried, named by the gateway with its scheme:
    /// `apikey:<key id>`, `basic:<user name>`. Never the secret itself.
    /// Only a fixed-size digest of the string is kept, so an attacker
    /// sending long or random names cannot grow the store per entry.
    Credential(&'a str),
    /// One credential tried from one client address (counted as
    /// [`Client`](Self::Client) counts addresses). Locking this pair stops
    /// the guessing without locking the credential's owner out: the owner
    /// comes from another address.
    CredentialFrom(&'a str, IpAddr),
}

/// When a subject is locked out and for how long.
///
/// Fields are public so the gateway can build one from config with
/// `..LockoutPolicy::default()`; [`validate`](Self::validate) checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one client address within `window` that start a
    /// lockout. Default 10: enough for a person mistyping a password a few
    /// times from a shared (NATed) address.
    pub max_failures: u32,
    /// How far back failures count; older ones are forgotten. Default one
    /// minute.
    pub window: Duration,
    /// The first lockout's length. Default one minute.
    pub base_lockout: Duration,
    /// The longest lockout, and the quiet period after which the doubling
    /// is forgotten. Default one hour.
    pub max_lockout: Duration,
    /// Failures of one credential within `window` that start a lockout of
    /// that credential. Default 5: lower than the per-address threshold
    /// because a legitimate owner fails a few times at most, and a
    /// distributed attack on one account shows up only here.
    pub credential_max_failures: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(60),
            base_lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(3600),
            credential_max_failures: 5,
        }
    }
}

/// A [`LockoutPolicy`] that cannot work as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockoutPolicyError {
    /// A failure threshold of zero (every request locked out) or above
    /// [`MAX_FAILURE_THRESHOLD`].
    #[error("lockout `{field}` is {value}; it must be between 1 and {MAX_FAILURE_THRESHOLD}")]
    Threshold {
        /// `max_failures` or `credential_max_failures`.
        field: &'static str,
        /// The value given.
        value: u32,
    },
    /// A duration below one millisecond, the store's resolution.
    #[error("lockout `{field}` must be at least one millisecond")]
    TooShort {
        /// `window`, `base_lockout` or `max_lockout`.
        field: &'static str,
    },
    /// `max_lockout` shorter than `base_lockout`.
    #[error(
        "lockout `max_lockout` ({max:?}) is shorter than `base_lockout` ({base:?}); \
         it must be at least as long"
    )]
    MaxBelowBase {
        /// `base_lockout`.
        base: Duration,
        /// `max_lockout`.
        max: Duration,
    },
    /// A memory store that may track no subject would never lock anyone out.
    #[error("the lockout store capacity must be at least 1")]
    ZeroCapacity,
}

impl LockoutPolicy {
    /// Checks the policy; [`MemoryLockout::new`] calls it, and config
    /// loading can call it to report a bad value early.
    pub fn validate(&self) -> Result<(), LockoutPolicyError> {
        for (field, value) in [
            ("max_failures", self.max_failures),
            ("credential_max_failures", self.credential_max_failures),
        ] {
            if value == 0 || value > MAX_FAILURE_THRESHOLD {
                return Err(LockoutPolicyError::Threshold { field, value });
            }
        }
        for (field, value) in [
            ("window", self.window),
            ("base_lockout", self.base_lockout),
            ("max_lockout", self.max_lockout),
        ] {
            if value < Duration::from_millis(1) {
                return Err(LockoutPolicyError::TooShort { field });
            }
        }
        if self.max_lockout < self.base_lockout {
            return Err(LockoutPolicyError::MaxBelowBase {
                base: self.base_lockout,
                max: self.max_lockout,
            });
        }
        Ok(())
    }

    /// The failure threshold for `subject`.
    pub fn threshold(&self, subject: &LockoutSubject<'_>) -> u32 {
        match subject {
            LockoutSubject::Client(_) => self.max_failures,
            LockoutSubject::Credential(_) | LockoutSubject::CredentialFrom(..) => {
                self.credential_max_failures
            }
        }
    }
}

/// Counting of failed verifications and the lockouts they cause.
///
/// Object safe (`Arc<dyn LockoutStore>`), so the gateway picks the backend
/// from config. `now` is passed in rather than read, so tests can move time
/// and so every process of a cluster compares the same kind of clock (wall
/// time, which a shared store needs; a monotonic `Instant` means nothing in
/// another process). Errors are [`StoreError`]s: the store could not be
/// asked. Whether to fail open or closed then is the gateway's decision.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Before verifying: whether `subject` is locked out at `now`, and if
    /// so for how much longer. Never starts tracking a subject, so asking
    /// about every request's address costs no memory.
    async fn locked(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError>;

    /// Before verifying, every subject of one request at once (one round
    /// trip where the store is remote): whether each is locked out, and
    /// whether it has failures within the window (which a success then
    /// clears, and which make a further failure a repeat).
    async fn states(
        &self,
        subjects: &[LockoutSubject<'_>],
        now: SystemTime,
    ) -> Result<Vec<SubjectState>, StoreError>;

    /// After a failed verification: counts it, and returns the lockout's
    /// length when this failure starts one. A failure reported while the
    /// subject is already locked out (a request that was checked just
    /// before the lockout began) is not counted and returns `None`: it was
    /// not meant to be verified, and counting it would shorten the way to
    /// the next, longer lockout.
    async fn record_failure(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError>;

    /// After a successful verification: forgets the subject's failures, so
    /// an owner who mistyped a few times starts afresh. Keeps a lockout in
    /// progress and the backoff level, so success from one request cannot
    /// reset the escalation an attack has earned.
    async fn record_success(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<(), StoreError>;
}

/// What [`LockoutStore::states`] says of one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectState {
    /// Locked out, for this much longer.
    pub locked: Option<Duration>,
    /// Failures are on record within the window.
    pub failures: bool,
}

/// `remaining` as a `Retry-After` value in whole seconds, rounded up and at
/// least 1: rounding down would tell the client to come back while still
/// locked out, and `Retry-After: 0` invites an immediate retry.
pub fn retry_after_secs(remaining: Duration) -> u64 {
    let secs = remaining.as_secs();
    let secs = if remaining.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    };
    secs.max(1)
}
