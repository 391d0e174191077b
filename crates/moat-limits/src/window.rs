//! Sliding window counters for quotas: `limit` units per `window`.

use std::time::Duration;

use crate::LimitDecision;

/// A quota rule, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlidingWindow {
    /// Units per window.
    pub limit: u64,
    /// The window's length.
    pub window: u64,
}

/// The counts kept for one key: the fixed window `index` (time / window)
/// and the units counted in it and in the one before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowState {
    /// The fixed window the counts are for.
    pub index: u64,
    /// Units in window `index`.
    pub current: u64,
    /// Units in window `index - 1`.
    pub previous: u64,
}

/// The outcome of a decision, with the state to store if allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOutcome {
    /// The report for the caller.
    pub decision: LimitDecision,
    /// The state after this request (rolled forward to now's window, and
    /// counting the request when allowed).
    pub state: WindowState,
}

impl SlidingWindow {
    /// `limit` units per `window`; `None` for zero values.
    pub fn new(limit: u64, window: Duration) -> Option<Self> {
        let window = u64::try_from(window.as_nanos()).ok()?;
        (limit > 0 && window > 0).then_some(Self { limit, window })
    }

    /// `state` rolled forward to the window that holds `now`.
    pub fn roll(&self, state: WindowState, now: u64) -> WindowState {
        let index = now / self.window;
        match index.saturating_sub(state.index) {
            0 => state,
            1 => WindowState {
                index,
                current: 0,
                previous: state.current,
            },
            _ => WindowState {
                index,
                current: 0,
                previous: 0,
            },
        }
    }

    /// Decides a request of `cost` units at `now`.
    pub fn decide(&self, state: WindowState, now: u64, cost: u32) -> WindowOutcome {
        let s = self.roll(state, now);
        let cost = u64::from(cost.max(1));
        let w = u128::from(self.window);
        let offset = u128::from(now - s.index * self.window);
        // The previous window's share: its count times the part of it the
        // sliding window still covers (rounded up, so never generous).
        let carried = (u128::from(s.previous) * (w - offset)).div_ceil(w);
        let used = carried + u128::from(s.current);
        let limit = u128::from(self.limit);
        let end_of_window = (w - offset) as u64;
        let reset = Duration::from_nanos(if s.current > 0 {
            end_of_window + self.window
        } else if s.previous > 0 {
            end_of_window
        } else {
            0
        });
        if used + u128::from(cost) <= limit {
            let state = WindowState {
                current: s.current + cost,
                ..s
            };
            let remaining = (limit - used - u128::from(cost)) as u64;
            return WindowOutcome {
                decision: LimitDecision {
                    allowed: true,
                    remaining,
                    reset,
                    retry_after: None,
                },
                state,
            };
        }
        WindowOutcome {
            decision: LimitDecision {
                allowed: false,
                remaining: 0,
                reset,
                retry_after: Some(Duration::from_nanos(self.wait(s, offset, cost))),
            },
            state: s,
        }
    }

    /// How long until `cost` more units fit, from `offset` into window
    /// `s.index`.
    fn wait(&self, s: WindowState, offset: u128, cost: u64) -> u64 {
        let w = u128::from(self.window);
        let limit = u128::from(self.limit);
        let cost = u128::from(cost);
        // Later in this window, as the previous window's share shrinks:
        // previous * (w - t) / w + current + cost <= limit.
        if s.previous > 0 && u128::from(s.current) + cost <= limit {
            let room = limit - u128::from(s.current) - cost;
            let t = w - (room * w) / u128::from(s.previous);
            if t < w {
                return (t.saturating_sub(offset)).max(1) as u64;
            }
        }
        // In the next window, this window's count becomes the shrinking one.
        let until_next = w - offset;
        if cost > limit {
            return u64::MAX;
        }
        let room = limit - cost;
        let t = if s.current == 0 {
            0
        } else {
            w - (room * w) / u128::from(s.current).max(1)
        };
        (until_next + t).min(u128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600 * 1_000_000_000;

    #[test]
    fn at_most_the_limit_in_any_window() {
        // 5 per hour, tried every minute for 5 hours: never more than 5
        // allowed in any 60-minute span.
        let q = SlidingWindow::new(5, Duration::from_secs(3600)).unwrap();
        let mut state = WindowState::default();
        let mut allowed = Vec::new();
        let start = 1000 * H;
        for m in 0..300u64 {
            let now = start + m * H / 60;
            let o = q.decide(state, now, 1);
            state = o.state;
            if o.decision.allowed {
                allowed.push(m);
            }
        }
        for (i, &m) in allowed.iter().enumerate() {
            let in_hour = allowed[i..].iter().take_while(|&&x| x < m + 60).count();
            assert!(
                in_hour <= 5,
                "{in_hour} allowed in the hour from minute {m}"
            );
        }
        // And the long-run rate is the limit (the approximation errs strict).
        assert!((20..=25).contains(&allowed.len()), "{}", allowed.len());
    }

    #[test]
    fn refusals_say_when_to_come_back() {
        let q = SlidingWindow::new(2, Duration::from_secs(3600)).unwrap();
        let now = 10 * H + H / 2;
        let a = q.decide(WindowState::default(), now, 1);
        let b = q.decide(a.state, now, 1);
        assert_eq!(b.decision.remaining, 0);
        let c = q.decide(b.state, now, 1);
        assert!(!c.decision.allowed);
        assert_eq!(c.state, b.state, "a refusal counts nothing");
        let wait = c.decision.retry_after.unwrap();
        let then = now + u64::try_from(wait.as_nanos()).unwrap();
        assert!(q.decide(c.state, then, 1).decision.allowed);
        assert!(!q.decide(c.state, then - 1_000_000_000, 1).decision.allowed);
        // A window later everything is forgotten.
        let fresh = q.decide(c.state, now + 2 * H, 1);
        assert_eq!(fresh.decision.remaining, 1);
    }
}
