//! Error storms: one subject causing a burst of `4xx`/`5xx` answers that
//! make up most of its requests (fuzzing, a broken or hostile client).

use std::time::Duration;

use moat_config::anomaly::ErrorStormConfig;

use super::table::{Entry, Keyer, Table};
use super::window::SlidingCount;
use super::{BanReach, Observation, SecurityEvent, Who, due, millis, span};

/// The error storm detector.
pub struct ErrorStorm {
    subjects: Table<Counts>,
    keyer: Keyer,
    min_errors: u64,
    min_error_percent: u64,
    window: u64,
    ban: Option<Duration>,
}

struct Counts {
    requests: SlidingCount,
    errors: SlidingCount,
    last_seen: u64,
    last_event: Option<u64>,
}

impl Entry for Counts {
    fn last_active(&self) -> u64 {
        self.last_seen.max(self.last_event.unwrap_or(0))
    }
}

impl ErrorStorm {
    /// A detector with `config`'s thresholds, tracking at most
    /// `max_subjects` subjects.
    pub fn new(config: &ErrorStormConfig, max_subjects: usize) -> Self {
        let window = millis(config.window);
        Self {
            // Two fixed windows make up the sliding one.
            subjects: Table::new(max_subjects, window.saturating_mul(2)),
            keyer: Keyer::default(),
            min_errors: u64::from(config.min_errors.max(1)),
            min_error_percent: u64::from(config.min_error_percent.min(100)),
            window,
            ban: config.ban,
        }
    }

    /// Counts a request. A subject is tracked from its first error on, so
    /// error-free traffic costs one lookup and no memory; its share of
    /// errors is taken over the requests since then.
    pub fn observe(&self, obs: &Observation<'_>, events: &mut Vec<SecurityEvent>) {
        let now = obs.now;
        let window = self.window;
        let who = Who::of(obs);
        let key = who.key(&self.keyer);
        let count = |e: &mut Counts, error: bool| {
            e.requests.roll(now, window);
            e.errors.roll(now, window);
            e.requests.add(1);
            e.last_seen = e.last_seen.max(now);
            if !error {
                return None;
            }
            e.errors.add(1);
            let errors = e.errors.estimate(now, window);
            let requests = e.requests.estimate(now, window).max(errors);
            (errors >= self.min_errors
                && errors * 100 >= self.min_error_percent * requests
                && due(e.last_event, now, window))
            .then(|| {
                e.last_event = Some(now);
                (errors, requests)
            })
        };
        let fired = if obs.status >= 400 {
            let create = || Counts {
                requests: SlidingCount::starting(now, window),
                errors: SlidingCount::starting(now, window),
                last_seen: now,
                last_event: None,
            };
            self.subjects.upsert(key, now, create, |e| count(e, true))
        } else {
            self.subjects.update(key, |e| count(e, false)).flatten()
        };
        if let Some((observed, requests)) = fired {
            let subject = who.subject();
            events.push(SecurityEvent {
                detector: "error_storm",
                summary: format!(
                    "{subject} caused {observed} error answers within {}, {}% of its requests",
                    span(window),
                    observed * 100 / requests.max(1)
                ),
                subject,
                observed,
                threshold: self.min_errors,
                window_secs: window / 1000,
                ban: self.ban,
                reach: who.reach(|| BanReach::Anonymous),
            });
        }
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
