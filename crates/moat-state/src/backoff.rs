//! Waiting between attempts on a store that does not answer: exponential
//! backoff with jitter, and the circuit breaker built on it.
//!
//! [`Breaker`] stands in front of every command on one connection. After
//! [`TRIP_AFTER`] failures in a row (timeouts, refused or dropped
//! connections) it opens: for one backoff every command fails at once,
//! without touching the network, so a frozen or dead server costs a request
//! nothing and is not hammered with connection attempts. Then one command
//! goes through as a probe: its success closes the breaker, its failure
//! opens it again for the next, longer backoff.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first wait, doubled after each failed attempt up to [`MAX_BACKOFF`].
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Failures in a row that open the breaker.
pub(crate) const TRIP_AFTER: u32 = 3;

/// The wait before attempt `failures` (1 for the first retry): exponential
/// from [`MIN_BACKOFF`] to [`MAX_BACKOFF`], with up to a quarter taken off
/// by `jitter` (a random number) so nodes that lost a server together do
/// not come back in step.
pub(crate) fn backoff(failures: u32, jitter: u64) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let base = MIN_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
    let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    let off = jitter % (base_ms / 4).max(1);
    Duration::from_millis(base_ms - off)
}

/// A change of the breaker, to log once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Closed to open: the store is marked down.
    Down,
    /// Open to closed: a probe succeeded.
    Up,
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    /// The breaker is open now (the store is considered down).
    pub open: bool,
    /// It opened with this failure.
    pub change: Option<Change>,
}

#[derive(Debug, Default)]
struct State {
    /// Failures in a row while closed.
    failures: u32,
    /// Open until then; `None` while closed.
    open_until: Option<Instant>,
    /// Failed probes in a row since it opened (sets the backoff).
    trips: u32,
    /// A probe is out.
    probing: bool,
}

/// The circuit breaker of one connection (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    random: std::collections::hash_map::RandomState,
}

/// Permission to send one command; report its outcome with
/// [`Breaker::success`] or [`Breaker::failure`]. A probe dropped without a
/// report (its request was cancelled) lets the next command probe.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Ticket<'_> {
    /// Whether this command is the probe of an open breaker.
    pub(crate) fn is_probe(&self) -> bool {
        self.probe
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.lock().probing = false;
        }
    }
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the breaker is open (the server is considered down).
    pub(crate) fn is_open(&self) -> bool {
        self.lock().open_until.is_some()
    }

    /// A ticket for one command, or how long the breaker stays open.
    pub(crate) fn admit(&self, now: Instant) -> Result<Ticket<'_>, Duration> {
        let mut s = self.lock();
        let Some(until) = s.open_until else {
            return Ok(Ticket {
                breaker: self,
                probe: false,
            });
        };
        if now < until {
            return Err(until - now);
        }
        if s.probing {
            return Err(Duration::ZERO);
        }
        s.probing = true;
        Ok(Ticket {
            breaker: self,
            probe: true,
        })
    }

    /// The command succeeded.
    pub(crate) fn success(&self, ticket: Ticket<'_>) -> Option<Change> {
        let mut s = self.lock();
        s.failures = 0;
        let was_open = s.open_until.is_some();
        // A success that started before the breaker opened says nothing
        // about now; only the probe closes it.
        if was_open && !ticket.probe {
            return None;
        }
        s.open_until = None;
        s.trips = 0;
        s.probing = false;
        was_open.then_some(Change::Up)
    }

    /// The command failed in a way that says the server is down or
    /// unreachable (not an error reply).
    pub(crate) fn failure(&self, ticket: Ticket<'_>, now: Instant) -> Failed {
        let mut s = self.lock();
        if ticket.probe {
            s.probing = false;
            s.trips = s.trips.saturating_add(1);
            s.open_until = Some(now + self.wait(s.trips));
            return Failed {
                open: true,
                change: None,
            };
        }
        if s.open_until.is_some() {
            // Started before the breaker opened.
            return Failed {
                open: true,
                change: None,
            };
        }
        s.failures = s.failures.saturating_add(1);
        if s.failures < TRIP_AFTER {
            return Failed {
                open: false,
                change: None,
            };
        }
        s.failures = 0;
        s.trips = 1;
        s.open_until = Some(now + self.wait(1));
        Failed {
            open: true,
            change: Some(Change::Down),
        }
    }

    fn wait(&self, trips: u32) -> Duration {
        backoff(trips, self.random.hash_one(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        assert_eq!(backoff(1, 0), MIN_BACKOFF);
        assert_eq!(backoff(2, 0), 2 * MIN_BACKOFF);
        assert_eq!(backoff(30, 0), MAX_BACKOFF);
        for jitter in [1, 77, u64::MAX] {
            for failures in 1..40 {
                let d = backoff(failures, jitter);
                let full = backoff(failures, 0);
                assert!(d <= full && d >= full * 3 / 4, "{failures} {jitter} {d:?}");
            }
        }
    }

    fn fail(b: &Breaker, now: Instant) -> Failed {
        let t = b.admit(now).unwrap();
        b.failure(t, now)
    }

    #[test]
    fn opens_after_failures_in_a_row_then_probes_once() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(fail(&b, t0).change, None);
        // A success in between resets the count.
        let t = b.admit(t0).unwrap();
        assert_eq!(b.success(t), None);
        for _ in 1..TRIP_AFTER {
            assert!(!fail(&b, t0).open);
        }
        let opened = fail(&b, t0);
        assert_eq!(opened.change, Some(Change::Down));
        // Open: refused at once for at most the first backoff.
        let wait = b.admit(t0).unwrap_err();
        assert!(
            wait <= MIN_BACKOFF && wait >= MIN_BACKOFF * 3 / 4,
            "{wait:?}"
        );
        // Then one probe, and no second one while it is out.
        let later = t0 + MIN_BACKOFF;
        let probe = b.admit(later).unwrap();
        assert!(b.admit(later).is_err());
        // A failed probe opens it again for longer.
        assert_eq!(b.failure(probe, later).change, None);
        let wait = b.admit(later).unwrap_err();
        assert!(wait > MIN_BACKOFF, "{wait:?}");
        // A successful probe closes it.
        let later = later + MAX_BACKOFF;
        let probe = b.admit(later).unwrap();
        assert_eq!(b.success(probe), Some(Change::Up));
        assert!(b.admit(later).is_ok());
    }

    #[test]
    fn a_dropped_probe_lets_the_next_command_probe() {
        let b = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..TRIP_AFTER {
            fail(&b, t0);
        }
        let later = t0 + MAX_BACKOFF;
        drop(b.admit(later).unwrap());
        let probe = b.admit(later).unwrap();
        assert_eq!(b.success(probe), Some(Change::Up));
    }

    #[test]
    fn late_outcomes_of_commands_sent_before_it_opened_change_nothing() {
        let b = Breaker::default();
        let t0 = Instant::now();
        let early = b.admit(t0).unwrap();
        let late_failure = b.admit(t0).unwrap();
        for _ in 0..TRIP_AFTER {
            fail(&b, t0);
        }
        assert_eq!(b.success(early), None);
        assert!(b.admit(t0).is_err());
        assert_eq!(b.failure(late_failure, t0).change, None);
        let wait = b.admit(t0).unwrap_err();
        assert!(wait <= MIN_BACKOFF, "{wait:?}");
    }
}
