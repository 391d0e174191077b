//! Sliding-window counting: distinct ids (an exact, bounded log) and
//! request counts (two fixed windows weighted, as moat-state's quota
//! counters do).

/// The distinct ids a subject touched within a sliding window, each with
/// the time it was last touched and one flag (e.g. "was refused"). Holds
/// at most `cap` ids: when full, a new id pushes out the least recently
/// touched, so the count saturates at `cap` (a detector sets `cap` to its
/// threshold, which is all it needs to know).
#[derive(Debug, Default)]
pub(crate) struct DistinctLog {
    /// `(id, last touched, flag)`, least recently touched first.
    ids: Vec<(u64, u64, bool)>,
}

impl DistinctLog {
    /// Records `id` at `now`; `window` and `cap` as described above.
    pub(crate) fn touch(&mut self, id: u64, now: u64, flag: bool, window: u64, cap: usize) {
        self.expire(now, window);
        // A clock stepped back must not unsort the log.
        let at = self.ids.last().map_or(now, |&(_, t, _)| t.max(now));
        if let Some(pos) = self.ids.iter().position(|&(i, _, _)| i == id) {
            self.ids.remove(pos);
        } else if self.ids.len() >= cap.max(1) {
            self.ids.remove(0);
        }
        self.ids.push((id, at, flag));
    }

    /// Forgets ids last touched `window` or more before `now`.
    pub(crate) fn expire(&mut self, now: u64, window: u64) {
        let stale = self
            .ids
            .iter()
            .take_while(|&&(_, t, _)| t.saturating_add(window) <= now)
            .count();
        if stale > 0 {
            self.ids.drain(..stale);
        }
    }

    /// Distinct ids held.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Ids held whose flag is set.
    pub(crate) fn flagged(&self) -> usize {
        self.ids.iter().filter(|&&(_, _, f)| f).count()
    }

    /// The last time any id was touched.
    pub(crate) fn last(&self) -> Option<u64> {
        self.ids.last().map(|&(_, t, _)| t)
    }
}

/// A count over a sliding window, approximated from the current fixed
/// window and the one before: `previous × (part of the sliding window in
/// the previous fixed window) + current`. Exact when the previous window's
/// events were spread evenly; never off by more than the previous window's
/// count. Sixteen bytes whatever the rate.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SlidingCount {
    index: u64,
    current: u32,
    previous: u32,
}

impl SlidingCount {
    /// An empty count whose fixed window is the one of `now`.
    pub(crate) fn starting(now: u64, window: u64) -> Self {
        Self {
            index: now / window.max(1),
            current: 0,
            previous: 0,
        }
    }

    /// Moves to the fixed window of `now`; the counts of the windows that
    /// ended, most recent first (at most two are non-zero), for callers
    /// that learn from them.
    pub(crate) fn roll(&mut self, now: u64, window: u64) -> Rolled {
        let index = now / window.max(1);
        if index <= self.index {
            return Rolled::default();
        }
        let ended = index - self.index;
        let rolled = Rolled {
            last: self.current,
            ended,
        };
        self.previous = if ended == 1 { self.current } else { 0 };
        self.current = 0;
        self.index = index;
        rolled
    }

    /// Counts `n` events at `now` (after [`roll`](Self::roll)).
    pub(crate) fn add(&mut self, n: u32) {
        self.current = self.current.saturating_add(n);
    }

    /// The estimated count within the window ending at `now`.
    pub(crate) fn estimate(&self, now: u64, window: u64) -> u64 {
        let window = window.max(1);
        let into = now
            .saturating_sub(self.index.saturating_mul(window))
            .min(window);
        let previous = u64::from(self.previous) * (window - into) / window;
        previous + u64::from(self.current)
    }
}

/// Learns a baseline of requests per window, an exponentially weighted
/// average in which the newest window weighs `alpha`, from what
/// [`SlidingCount::roll`] moved past: the window that ended, then the idle
/// windows after it as zeros. `windows` counts the windows completed
/// (saturating). The cluster's counts (moat-state's anomaly counters)
/// learn theirs with the same arithmetic.
pub(crate) fn learn(baseline: &mut f64, windows: &mut u32, rolled: Rolled, alpha: f64) {
    if rolled.ended == 0 {
        return;
    }
    let last = f64::from(rolled.last);
    *baseline = if *windows == 0 {
        last
    } else {
        alpha * last + (1.0 - alpha) * *baseline
    };
    let idle = rolled.ended.saturating_sub(1).min(1000);
    if idle > 0 {
        *baseline *= (1.0 - alpha).powi(idle as i32);
    }
    *windows = windows.saturating_add(u32::try_from(rolled.ended).unwrap_or(u32::MAX));
}

/// What [`SlidingCount::roll`] moved past.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rolled {
    /// The count of the window that just ended.
    pub last: u32,
    /// How many windows ended (0: still the same window).
    pub ended: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_log_slides_saturates_and_flags() {
        let mut log = DistinctLog::default();
        for id in 0..10 {
            log.touch(id, 1000 + id * 10, id % 2 == 0, 100, 5);
        }
        assert_eq!(log.len(), 5, "capped");
        log.touch(9, 1095, true, 100, 5);
        assert_eq!(log.len(), 5, "a repeat is not a new id");
        assert_eq!(log.flagged(), 3);
        log.expire(1175, 100);
        assert_eq!(log.len(), 2);
        log.expire(10_000, 100);
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn sliding_count_weighs_the_previous_window() {
        let mut c = SlidingCount::default();
        c.roll(60_000, 60_000);
        c.add(100);
        assert_eq!(c.estimate(60_000, 60_000), 100);
        assert_eq!(
            c.roll(120_000, 60_000),
            Rolled {
                last: 100,
                ended: 1
            }
        );
        assert_eq!(c.estimate(120_000, 60_000), 100);
        assert_eq!(c.estimate(150_000, 60_000), 50);
        c.add(10);
        assert_eq!(c.estimate(150_000, 60_000), 60);
        let r = c.roll(300_000, 60_000);
        assert_eq!(r, Rolled { last: 10, ended: 3 });
        assert_eq!(c.estimate(300_000, 60_000), 0);
    }
}
