//! GCRA: a rate of `limit` units per `period`, of which up to `burst` may
//! arrive at once.

use std::time::Duration;

use crate::LimitDecision;

/// A GCRA rule, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gcra {
    /// The emission interval: `period / limit`, the steady gap between units.
    pub interval: u64,
    /// How far ahead of now the TAT may run: `(burst - 1) * interval`.
    pub tolerance: u64,
    /// The burst, for reporting.
    pub burst: u64,
}

/// The outcome of a decision on one key, with the TAT to store if allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    /// The report for the caller.
    pub decision: LimitDecision,
    /// The TAT after this request, when allowed (unchanged otherwise).
    pub new_tat: u64,
}

impl Gcra {
    /// `limit` units per `period`, up to `burst` at once. `None` when a
    /// number is zero or the interval would be under a nanosecond.
    pub fn new(limit: u64, period: Duration, burst: u64) -> Option<Self> {
        if limit == 0 || burst == 0 {
            return None;
        }
        let period = u64::try_from(period.as_nanos()).ok()?;
        let interval = period / limit;
        if interval == 0 {
            return None;
        }
        Some(Self {
            interval,
            tolerance: interval.checked_mul(burst - 1)?,
            burst,
        })
    }

    /// Decides a request of `cost` units at `now` on a key whose TAT is
    /// `tat` (0 for a key never seen).
    pub fn decide(&self, tat: u64, now: u64, cost: u32) -> GcraOutcome {
        let increment = self.interval.saturating_mul(u64::from(cost.max(1)));
        let base = tat.max(now);
        let new_tat = base.saturating_add(increment);
        // Allowed when the new TAT stays within one interval plus the
        // tolerance of now.
        let allow_at = new_tat.saturating_sub(self.tolerance + self.interval);
        if allow_at > now {
            let remaining_time = base.saturating_sub(now);
            return GcraOutcome {
                decision: LimitDecision {
                    allowed: false,
                    remaining: 0,
                    reset: Duration::from_nanos(remaining_time),
                    retry_after: Some(Duration::from_nanos(allow_at - now)),
                },
                new_tat: tat,
            };
        }
        let ahead = new_tat - now;
        let room = (self.tolerance + self.interval).saturating_sub(ahead);
        GcraOutcome {
            decision: LimitDecision {
                allowed: true,
                remaining: room / self.interval,
                reset: Duration::from_nanos(ahead),
                retry_after: None,
            },
            new_tat,
        }
    }

    /// The TAT after giving back `cost` units taken at an earlier decision.
    pub fn refund(&self, tat: u64, cost: u32) -> u64 {
        tat.saturating_sub(self.interval.saturating_mul(u64::from(cost.max(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_steady_rate() {
        // 10 per second, 5 at once.
        let g = Gcra::new(10, Duration::from_secs(1), 5).unwrap();
        let now = 1000 * SEC;
        let mut tat = 0;
        for i in 0..5 {
            let o = g.decide(tat, now, 1);
            assert!(o.decision.allowed, "request {i}");
            assert_eq!(o.decision.remaining, 4 - i);
            tat = o.new_tat;
        }
        let refused = g.decide(tat, now, 1);
        assert!(!refused.decision.allowed);
        assert_eq!(refused.new_tat, tat, "a refusal consumes nothing");
        assert_eq!(
            refused.decision.retry_after,
            Some(Duration::from_millis(100))
        );
        // One interval later, exactly one more.
        let later = now + SEC / 10;
        let o = g.decide(tat, later, 1);
        assert!(o.decision.allowed);
        assert!(!g.decide(o.new_tat, later, 1).decision.allowed);
    }

    #[test]
    fn the_long_run_rate_is_exact() {
        // Offered 3x the rate for 100 s: exactly rate * time + burst pass.
        let g = Gcra::new(50, Duration::from_secs(1), 10).unwrap();
        let mut tat = 0;
        let mut passed = 0u64;
        let start = 5 * SEC;
        let step = SEC / 150;
        for i in 0..(150 * 100) {
            let o = g.decide(tat, start + i * step, 1);
            if o.decision.allowed {
                passed += 1;
                tat = o.new_tat;
            }
        }
        assert!((5000..=5010).contains(&passed), "{passed}");
    }

    #[test]
    fn refunds_and_costs() {
        let g = Gcra::new(1, Duration::from_secs(1), 3).unwrap();
        let o = g.decide(0, SEC, 2);
        assert!(o.decision.allowed);
        assert_eq!(o.decision.remaining, 1);
        assert!(!g.decide(o.new_tat, SEC, 2).decision.allowed);
        let back = g.refund(o.new_tat, 2);
        assert_eq!(g.decide(back, SEC, 3).decision.remaining, 0);
        assert!(Gcra::new(0, Duration::from_secs(1), 1).is_none());
        assert!(Gcra::new(1, Duration::from_secs(1), 0).is_none());
        assert!(Gcra::new(u64::MAX, Duration::from_secs(1), 1).is_none());
    }
}
