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

use super::shared::{About, Measure, Share, SharedCount, SharedTouch, Tally, measured};
use super::table::{Entry, Keyer, Table};
use super::window::{SlidingCount, learn};
use super::{BanReach, EventSubject, Observation, SecurityEvent, Who, due, millis, span};

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
    /// How long an idle subject is kept.
    idle_after: u64,
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
            idle_after,
            ban: config.ban,
        }
    }

    /// Counts a request.
    pub fn observe(&self, obs: &Observation<'_>, events: &mut Vec<SecurityEvent>) {
        self.observe_with(obs, Share::LOCAL, events, &mut Vec::new());
    }

    pub(crate) fn observe_with(
        &self,
        obs: &Observation<'_>,
        share: Share<'_>,
        events: &mut Vec<SecurityEvent>,
        touches: &mut Vec<SharedTouch>,
    ) {
        let now = obs.now;
        let who = Who::of(obs);
        let local = who.key(&self.keyer);
        let (burst, sustained) = self.subjects.upsert(
            local,
            now,
            || self.fresh(now),
            |e| self.count(e, now, share.local_decides),
        );
        let reach = || who.reach(|| BanReach::Anonymous);
        if let Some((observed, baseline)) = burst {
            events.push(self.burst_event(who.subject(), reach(), observed, baseline));
        }
        if let Some(observed) = sustained {
            events.push(self.sustained_event(who.subject(), reach(), observed));
        }
        if let Some(keyer) = share.keyer {
            let shared = keyer.who(&who);
            let about = || About {
                subject: who.subject(),
                reach: reach(),
                detail: String::new(),
            };
            let requests = |baseline, keep| Measure::Sliding {
                add: 1,
                flagged: 0,
                create: true,
                baseline,
                keep,
            };
            touches.push(measured(
                Tally::ScrapingBurst,
                shared,
                now,
                self.window,
                requests(Some(self.alpha), self.idle_after),
                local,
                about(),
            ));
            if self.sustained_requests > 0 {
                touches.push(measured(
                    Tally::ScrapingSustained,
                    shared,
                    now,
                    self.sustained_window,
                    requests(None, self.sustained_window.saturating_mul(2)),
                    local,
                    about(),
                ));
            }
        }
    }

    /// The event a cluster-wide count for `t` raises, if any.
    pub(crate) fn decide_shared(
        &self,
        t: &SharedTouch,
        count: SharedCount,
    ) -> Option<SecurityEvent> {
        let SharedCount::Sliding {
            count,
            baseline,
            windows,
            ..
        } = count
        else {
            return None;
        };
        let now = t.now();
        let (subject, reach) = (t.about.subject.clone(), t.about.reach.clone());
        match t.tally() {
            Tally::ScrapingBurst => {
                let (observed, baseline) = self.subjects.upsert(
                    t.local,
                    now,
                    || self.fresh(now),
                    |e| self.burst_due(e, count, baseline, windows, now),
                )?;
                Some(self.burst_event(subject, reach, observed, baseline))
            }
            Tally::ScrapingSustained => {
                let observed = self.subjects.upsert(
                    t.local,
                    now,
                    || self.fresh(now),
                    |e| self.sustained_due(e, count, now),
                )?;
                Some(self.sustained_event(subject, reach, observed))
            }
            _ => None,
        }
    }

    fn fresh(&self, now: u64) -> Rate {
        Rate {
            short: SlidingCount::starting(now, self.window),
            long: SlidingCount::starting(now, self.sustained_window),
            baseline: 0.0,
            windows: 0,
            last_seen: now,
            last_burst: None,
            last_sustained: None,
        }
    }

    /// Counts the request in `e`; a burst (count, baseline) and a sustained
    /// count when due and `decides`.
    fn count(&self, e: &mut Rate, now: u64, decides: bool) -> (Option<(u64, f64)>, Option<u64>) {
        let rolled = e.short.roll(now, self.window);
        learn(&mut e.baseline, &mut e.windows, rolled, self.alpha);
        e.short.add(1);
        e.long.roll(now, self.sustained_window);
        e.long.add(1);
        e.last_seen = e.last_seen.max(now);
        if !decides {
            return (None, None);
        }
        let count = e.short.estimate(now, self.window);
        let (baseline, windows) = (e.baseline, e.windows);
        let burst = self.burst_due(e, count, baseline, windows, now);
        let long = e.long.estimate(now, self.sustained_window);
        (burst, self.sustained_due(e, long, now))
    }

    /// `(count, baseline)` when `count` requests in the window are a burst
    /// over `baseline` (learnt over `windows` windows) and an event is due
    /// (then recorded in `e`).
    fn burst_due(
        &self,
        e: &mut Rate,
        count: u64,
        baseline: f64,
        windows: u32,
        now: u64,
    ) -> Option<(u64, f64)> {
        (windows >= self.warmup
            && count >= self.burst_threshold(baseline)
            && due(e.last_burst, now, self.window))
        .then(|| {
            e.last_burst = Some(now);
            (count, baseline)
        })
    }

    /// `long` when that many requests in the long window are sustained
    /// scraping and an event is due (then recorded in `e`).
    fn sustained_due(&self, e: &mut Rate, long: u64, now: u64) -> Option<u64> {
        (self.sustained_requests > 0
            && long >= self.sustained_requests
            && due(e.last_sustained, now, self.sustained_window))
        .then(|| {
            e.last_sustained = Some(now);
            long
        })
    }

    fn burst_event(
        &self,
        subject: EventSubject,
        reach: BanReach,
        observed: u64,
        baseline: f64,
    ) -> SecurityEvent {
        SecurityEvent {
            detector: "scraping_burst",
            summary: format!(
                "{subject} sent {observed} requests within {}, more than {}× its baseline \
                 of {baseline:.0} per {}",
                span(self.window),
                self.factor,
                span(self.window)
            ),
            subject,
            observed,
            threshold: self.burst_threshold(baseline),
            window_secs: self.window / 1000,
            ban: self.ban,
            reach,
        }
    }

    fn sustained_event(
        &self,
        subject: EventSubject,
        reach: BanReach,
        observed: u64,
    ) -> SecurityEvent {
        SecurityEvent {
            detector: "scraping_sustained",
            summary: format!(
                "{subject} sent {observed} requests within {}",
                span(self.sustained_window)
            ),
            subject,
            observed,
            threshold: self.sustained_requests,
            window_secs: self.sustained_window / 1000,
            ban: self.ban,
            reach,
        }
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
