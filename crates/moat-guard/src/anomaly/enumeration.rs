//! Enumeration of object ids (BOLA probing): one subject requesting many
//! distinct objects of one kind and mostly being refused (`403`, `404`),
//! which is what walking through other people's ids looks like. Paging
//! through one's own objects is answered `200` and does not count as
//! probing.
//!
//! Evidence is kept per subject *and kind of object* (see
//! [`ObjectParameters`](super::ObjectParameters)): reading 40 orders, 40
//! invoices and 40 files is not 120 objects. Only answers that say
//! something about the object count: the upstream's, and the gateway's
//! object-level refusals. A request another control refused (an attack
//! detected, an invalid parameter, a failed login, a limit) never reached
//! the object and is not counted at all.

use std::time::Duration;

use moat_config::anomaly::EnumerationConfig;

use super::shared::{About, Share, SharedCount, SharedTouch, Tally, touch};
use super::stuffing::{Distinct, threshold};
use super::table::{Keyer, Table};
use super::{
    AnsweredBy, BanReach, EventSubject, Observation, SecurityEvent, Who, due, millis, span,
};

/// The enumeration detector.
pub struct Enumeration {
    subjects: Table<Distinct>,
    keyer: Keyer,
    distinct_objects: usize,
    window: u64,
    min_denied_percent: u64,
    ban: Option<Duration>,
}

impl Enumeration {
    /// A detector with `config`'s thresholds, tracking at most
    /// `max_subjects` subjects.
    pub fn new(config: &EnumerationConfig, max_subjects: usize) -> Self {
        let window = millis(config.window);
        Self {
            subjects: Table::new(max_subjects, window),
            keyer: Keyer::default(),
            distinct_objects: threshold(config.distinct_objects),
            window,
            min_denied_percent: u64::from(config.min_denied_percent.min(100)),
            ban: config.ban,
        }
    }

    /// Counts a request naming an object; other requests cost nothing.
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
        let Some(object) = obs.object else {
            return;
        };
        let denied = match obs.answered_by {
            AnsweredBy::Upstream => matches!(obs.status, 403 | 404),
            AnsweredBy::ObjectAccess => true,
            AnsweredBy::Gateway => return,
        };
        let now = obs.now;
        let who = Who::of(obs);
        let object_key = self.keyer.key(object.id);
        let subject_key = self.keyer.key(&(who.key(&self.keyer), object.kind));
        let (threshold, window) = (self.distinct_objects, self.window);
        let fired = self
            .subjects
            .upsert(subject_key, now, Distinct::default, |e| {
                e.log.touch(object_key, now, denied, window, threshold);
                let (distinct, refused) = (e.log.len() as u64, e.log.flagged() as u64);
                share
                    .local_decides
                    .then(|| self.check(e, distinct, refused, now))
                    .flatten()
            });
        let reach = || who.reach(|| BanReach::AnonymousObjects(object.kind.to_string()));
        if let Some((observed, refused)) = fired {
            events.push(self.event(who.subject(), reach(), object.kind, observed, refused));
        }
        if let Some(keyer) = share.keyer {
            let shared_who = keyer.who(&who).to_be_bytes();
            touches.push(touch(
                Tally::Enumeration,
                keyer.key(&[&shared_who, object.kind.as_bytes()]),
                keyer.key(&[object.id.as_bytes()]),
                denied,
                now,
                window,
                threshold,
                subject_key,
                About {
                    subject: who.subject(),
                    reach: reach(),
                    detail: object.kind.to_string(),
                },
            ));
        }
    }

    /// The event a cluster-wide count (distinct objects, the flagged ones
    /// refused) for `t` raises, if any.
    pub(crate) fn decide_shared(
        &self,
        t: &SharedTouch,
        count: SharedCount,
    ) -> Option<SecurityEvent> {
        let SharedCount::Distinct {
            distinct,
            flagged: refused,
        } = count
        else {
            return None;
        };
        let now = t.now();
        let (observed, refused) = self.subjects.upsert(t.local, now, Distinct::default, |e| {
            self.check(e, distinct, refused, now)
        })?;
        let about = &t.about;
        Some(self.event(
            about.subject.clone(),
            about.reach.clone(),
            &about.detail,
            observed,
            refused,
        ))
    }

    /// `(distinct, refused)` if they crossed the thresholds and an event
    /// is due (then recorded as reported).
    fn check(&self, e: &mut Distinct, distinct: u64, refused: u64, now: u64) -> Option<(u64, u64)> {
        (distinct >= self.distinct_objects as u64
            && refused * 100 >= self.min_denied_percent * distinct
            && due(e.last_event, now, self.window))
        .then(|| {
            e.last_event = Some(now);
            (distinct, refused)
        })
    }

    fn event(
        &self,
        subject: EventSubject,
        reach: BanReach,
        kind: &str,
        observed: u64,
        refused: u64,
    ) -> SecurityEvent {
        SecurityEvent {
            detector: "enumeration",
            summary: format!(
                "{subject} requested {observed} distinct objects of kind `{}` within {}, \
                 {}% of them refused or not found",
                kind.chars().take(64).collect::<String>().escape_debug(),
                span(self.window),
                refused * 100 / observed.max(1)
            ),
            subject,
            observed,
            threshold: self.distinct_objects as u64,
            window_secs: self.window / 1000,
            ban: self.ban,
            reach,
        }
    }

    /// Subjects tracked (one per kind of object each probed).
    pub fn tracked(&self) -> usize {
        self.subjects.len()
    }

    /// Drops subjects whose windows have passed; how many.
    pub fn purge(&self, now: u64) -> usize {
        self.subjects.purge(now)
    }
}
