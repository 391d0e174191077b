//! Scraping: a subject's request volume in a short window far above its
//! own baseline (an exponentially weighted average of its earlier
//! windows), and an absolute volume sustained over a longer window.
//!
//! A subject new to the detector has no baseline: bursts are reported only
//! after `warmup_windows` windows, and until then only the sustained rule
//! applies. A subject forgotten (idle, or pushed out by newer ones) starts
//! over, which errs on the side of silence.

use std::time::Duration;

use moat_config::anomaly::ScrapingConfig;

use super::table::{Entry, Keyer, Table};
use super::window::SlidingCount;
use super::{BanReach, Observation, SecurityEvent, Who, due, millis, span};

/// The scraping detector.
pub struct Scraping {
    subjects: Table<Rate>,
    keyer: Keyer,
    window: u64,
    min_requests: u64,
    factor: f64,
    /// The weight of the newest window in the baseline.
    alpha: f64,
    warmup: u32,
    sustained_requests: u64,
    sustained_window: u64,
    ban: Option<Duration>,
}

struct Rate {
    short: SlidingCount,
    long: SlidingCount,
    /// Requests per window, on average (exponentially weighted).
    baseline: f64,
    /// Windows completed since the subject was first seen (saturating).
    windows: u32,
    last_seen: u64,
    last_burst: Option<u64>,
    last_sustained: Option<u64>,
}

impl Entry for Rate {
    fn last_active(&self) -> u64 {
        self.last_seen
            .max(self.last_burst.unwrap_or(0))
            .max(self.last_sustained.unwrap_or(0))
    }
}

impl Scraping {
    /// A detector with `config`'s thresholds, tracking at most
    /// `max_subjects` subjects.
    pub fn new(config: &ScrapingConfig, max_subjects: usize) -> Self {
        let window = millis(config.window);
        let sustained_window = millis(config.sustained_window);
        let span_windows = f64::from(config.baseline_windows.max(1));
        // A subject idle this long has decayed to (almost) no baseline and
        // counts nothing in either window.
        let idle_after = window
            .saturating_mul(u64::from(config.baseline_windows.max(1)))
            .max(sustained_window)
            .saturating_mul(2);
        Self {
            subjects: Table::new(max_subjects, idle_after),
            keyer: Keyer::default(),
            window,
            min_requests: u64::from(config.min_requests.max(1)),
            factor: f64::from(config.baseline_factor.max(1)),
            alpha: 2.0 / (span_windows + 1.0),
            warmup: config.warmup_windows.max(1),
            sustained_requests: u64::from(config.sustained_requests),
            sustained_window,
            ban: config.ban,
        }
    }

    /// Counts a request.
    pub fn observe(&self, obs: &Observation<'_>, events: &mut Vec<SecurityEvent>) {
        let now = obs.now;
        let who = Who::of(obs);
        let (window, long_window) = (self.window, self.sustained_window);
        let create = || Rate {
            short: SlidingCount::starting(now, window),
            long: SlidingCount::starting(now, long_window),
            baseline: 0.0,
            windows: 0,
            last_seen: now,
            last_burst: None,
            last_sustained: None,
        };
        let (burst, sustained) = self
            .subjects
            .upsert(who.key(&self.keyer), now, create, |e| self.count(e, now));
        if let Some((observed, baseline)) = burst {
            let subject = who.subject();
            let threshold = self.burst_threshold(baseline);
            events.push(SecurityEvent {
                detector: "scraping_burst",
                summary: format!(
                    "{subject} sent {observed} requests within {}, more than {}× its baseline \
                     of {baseline:.0} per {}",
                    span(window),
                    self.factor,
                    span(window)
                ),
                subject,
                observed,
                threshold,
                window_secs: window / 1000,
                ban: self.ban,
                reach: who.reach(|| BanReach::Anonymous),
            });
        }
        if let Some(observed) = sustained {
            let subject = who.subject();
            events.push(SecurityEvent {
                detector: "scraping_sustained",
                summary: format!(
                    "{subject} sent {observed} requests within {}",
                    span(long_window)
                ),
                subject,
                observed,
                threshold: self.sustained_requests,
                window_secs: long_window / 1000,
                ban: self.ban,
                reach: who.reach(|| BanReach::Anonymous),
            });
        }
    }

    /// Counts the request in `e`; a burst (count, baseline) and a sustained
    /// count when due.
    fn count(&self, e: &mut Rate, now: u64) -> (Option<(u64, f64)>, Option<u64>) {
        let rolled = e.short.roll(now, self.window);
        if rolled.ended > 0 {
            let last = f64::from(rolled.last);
            e.baseline = if e.windows == 0 {
                last
            } else {
                self.alpha * last + (1.0 - self.alpha) * e.baseline
            };
            // Windows without a request weigh in as zeros.
            let idle = rolled.ended.saturating_sub(1).min(1000);
            if idle > 0 {
                e.baseline *= (1.0 - self.alpha).powi(idle as i32);
            }
            e.windows = e
                .windows
                .saturating_add(u32::try_from(rolled.ended).unwrap_or(u32::MAX));
        }
        e.short.add(1);
        e.long.roll(now, self.sustained_window);
        e.long.add(1);
        e.last_seen = e.last_seen.max(now);

        let count = e.short.estimate(now, self.window);
        let burst = (e.windows >= self.warmup
            && count >= self.burst_threshold(e.baseline)
            && due(e.last_burst, now, self.window))
        .then(|| {
            e.last_burst = Some(now);
            (count, e.baseline)
        });
        let long = e.long.estimate(now, self.sustained_window);
        let sustained = (self.sustained_requests > 0
            && long >= self.sustained_requests
            && due(e.last_sustained, now, self.sustained_window))
        .then(|| {
            e.last_sustained = Some(now);
            long
        });
        (burst, sustained)
    }

    /// The least count within the window that is a burst over `baseline`:
    /// more than `factor` times it, and at least `min_requests`.
    fn burst_threshold(&self, baseline: f64) -> u64 {
        let over = (self.factor * baseline).floor();
        // Saturating float-to-int conversion.
        let over = if over.is_finite() {
            over as u64
        } else {
            u64::MAX
        };
        over.saturating_add(1).max(self.min_requests)
    }

    /// Subjects tracked.
    pub fn tracked(&self) -> usize {
        self.subjects.len()
    }

    /// Drops subjects whose windows have passed; how many.
    pub fn purge(&self, now: u64) -> usize {
        self.subjects.purge(now)
    }
}
