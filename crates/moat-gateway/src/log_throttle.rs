//! Repeated log lines, thinned: a warning that every request of an outage
//! would write (a failed upstream call, an unreachable store) is written
//! the first time, then at most once per [`INTERVAL`] per call site, with
//! `suppressed` saying how many were left out since the last one written.
//! Use [`warn_throttled!`] in place of `tracing::warn!` at such sites.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The shortest time between two lines of one call site.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Process start, the origin of [`Throttle`]'s times.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// No line written yet.
const NEVER: u64 = u64::MAX;

/// The state of one call site.
#[derive(Debug)]
pub struct Throttle {
    interval_ms: u64,
    /// When the last line was written, in ms since [`EPOCH`].
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    /// A call site that writes at most one line per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval_ms: interval.as_millis() as u64,
            last_ms: AtomicU64::new(NEVER),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line is due now (`n` were left out since the last
    /// one); `None` when this one is left out (and counted).
    pub fn admit(&self) -> Option<u64> {
        let now = u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(NEVER - 1);
        self.admit_at(now)
    }

    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == NEVER || now_ms.saturating_sub(last) >= self.interval_ms;
        if due
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// `tracing::warn!` for a call site that may fire on every request: the
/// first line, then at most one per [`INTERVAL`], each with the field
/// `suppressed` (lines left out since the previous one).
macro_rules! warn_throttled {
    ($($arg:tt)+) => {{
        static SITE: $crate::log_throttle::Throttle =
            $crate::log_throttle::Throttle::new($crate::log_throttle::INTERVAL);
        if let Some(suppressed) = SITE.admit() {
            tracing::warn!(suppressed, $($arg)+);
        }
    }};
}
pub(crate) use warn_throttled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_then_one_per_interval_with_the_count() {
        let t = Throttle::new(Duration::from_millis(1000));
        assert_eq!(t.admit_at(5), Some(0));
        for ms in 6..1005 {
            assert_eq!(t.admit_at(ms), None, "{ms}");
        }
        assert_eq!(t.admit_at(1005), Some(999));
        assert_eq!(t.admit_at(1006), None);
        assert_eq!(t.admit_at(9000), Some(1));
        assert_eq!(t.admit_at(9001), None);
    }

    #[test]
    fn many_threads_write_one_line_per_interval() {
        let t = std::sync::Arc::new(Throttle::new(Duration::from_secs(3600)));
        let written: u64 = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..10_000).filter(|_| t.admit().is_some()).count())
            })
            .map(|h| h.join().unwrap() as u64)
            .sum();
        assert_eq!(written, 1);
        assert_eq!(t.suppressed.load(Ordering::Relaxed), 39_999);
    }
}
