//! Error storms: one subject causing a burst of `4xx`/`5xx` answers that
//! make up most of its requests (fuzzing, a broken or hostile client).

use std::time::Duration;

use moat_config::anomaly::ErrorStormConfig;

use super::shared::{About, Measure, Share, SharedCount, SharedTouch, Tally, measured};
use super::table::{Entry, Keyer, Table};
use super::window::SlidingCount;
use super::{BanReach, EventSubject, Observation, SecurityEvent, Who, due, millis, span};

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
        self.observe_with(obs, Share::LOCAL, events, &mut Vec::new());
    }

    /// As [`observe`](Self::observe); in a cluster, every request is also
    /// a touch of the subject's shared count, which (as the local one)
    /// starts at its first error.
    pub(crate) fn observe_with(
        &self,
        obs: &Observation<'_>,
        share: Share<'_>,
        events: &mut Vec<SecurityEvent>,
        touches: &mut Vec<SharedTouch>,
    ) {
        let now = obs.now;
        let window = self.window;
        let who = Who::of(obs);
        let key = who.key(&self.keyer);
        let error = obs.status >= 400;
        let count = |e: &mut Counts| {
            e.requests.roll(now, window);
            e.errors.roll(now, window);
            e.requests.add(1);
            e.last_seen = e.last_seen.max(now);
            if !error {
                return None;
            }
            e.errors.add(1);
            let errors = e.errors.estimate(now, window);
            let requests = e.requests.estimate(now, window);
            share
                .local_decides
                .then(|| self.check(e, errors, requests, now))
                .flatten()
        };
        let fired = if error {
            self.subjects.upsert(key, now, || self.fresh(now), count)
        } else {
            self.subjects.update(key, count).flatten()
        };
        let reach = || who.reach(|| BanReach::Anonymous);
        if let Some((observed, requests)) = fired {
            events.push(self.event(who.subject(), reach(), observed, requests));
        }
        if let Some(keyer) = share.keyer {
            touches.push(measured(
                Tally::ErrorStorm,
                keyer.who(&who),
                now,
                window,
                Measure::Sliding {
                    add: 1,
                    flagged: u32::from(error),
                    create: error,
                    baseline: None,
                    keep: window.saturating_mul(2),
                },
                key,
                About {
                    subject: who.subject(),
                    reach: reach(),
                    detail: String::new(),
                },
            ));
        }
    }

    /// The event a cluster-wide count for `t` (its requests, flagged: the
    /// errors) raises, if any.
    pub(crate) fn decide_shared(
        &self,
        t: &SharedTouch,
        count: SharedCount,
    ) -> Option<SecurityEvent> {
        let SharedCount::Sliding {
            count: requests,
            flagged: errors,
            ..
        } = count
        else {
            return None;
        };
        let now = t.now();
        let (observed, requests) = self.subjects.upsert(
            t.local,
            now,
            || self.fresh(now),
            |e| self.check(e, errors, requests, now),
        )?;
        Some(self.event(
            t.about.subject.clone(),
            t.about.reach.clone(),
            observed,
            requests,
        ))
    }

    fn fresh(&self, now: u64) -> Counts {
        Counts {
            requests: SlidingCount::starting(now, self.window),
            errors: SlidingCount::starting(now, self.window),
            last_seen: now,
            last_event: None,
        }
    }

    /// `(errors, requests)` when `errors` of `requests` in the window make
    /// a storm and an event is due (then recorded in `e`).
    fn check(&self, e: &mut Counts, errors: u64, requests: u64, now: u64) -> Option<(u64, u64)> {
        let requests = requests.max(errors);
        (errors >= self.min_errors
            && errors * 100 >= self.min_error_percent * requests
            && due(e.last_event, now, self.window))
        .then(|| {
            e.last_event = Some(now);
            (errors, requests)
        })
    }

    fn event(
        &self,
        subject: EventSubject,
        reach: BanReach,
        observed: u64,
        requests: u64,
    ) -> SecurityEvent {
        SecurityEvent {
            detector: "error_storm",
            summary: format!(
                "{subject} caused {observed} error answers within {}, {}% of its requests",
                span(self.window),
                observed * 100 / requests.max(1)
            ),
            subject,
            observed,
            threshold: self.min_errors,
            window_secs: self.window / 1000,
            ban: self.ban,
            reach,
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
