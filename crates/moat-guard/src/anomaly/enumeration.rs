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

use super::stuffing::{Distinct, threshold};
use super::table::{Keyer, Table};
use super::{AnsweredBy, BanReach, Observation, SecurityEvent, Who, due, millis, span};

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
        let (threshold, window, percent) =
            (self.distinct_objects, self.window, self.min_denied_percent);
        let fired = self
            .subjects
            .upsert(subject_key, now, Distinct::default, |e| {
                e.log.touch(object_key, now, denied, window, threshold);
                let (distinct, refused) = (e.log.len() as u64, e.log.flagged() as u64);
                if distinct as usize >= threshold
                    && refused * 100 >= percent * distinct
                    && due(e.last_event, now, window)
                {
                    e.last_event = Some(now);
                    Some((distinct, refused))
                } else {
                    None
                }
            });
        if let Some((observed, refused)) = fired {
            let subject = who.subject();
            events.push(SecurityEvent {
                detector: "enumeration",
                summary: format!(
                    "{subject} requested {observed} distinct objects of kind `{}` within {}, \
                     {}% of them refused or not found",
                    object
                        .kind
                        .chars()
                        .take(64)
                        .collect::<String>()
                        .escape_debug(),
                    span(window),
                    refused * 100 / observed.max(1)
                ),
                subject,
                observed,
                threshold: threshold as u64,
                window_secs: window / 1000,
                ban: self.ban,
                reach: who.reach(|| BanReach::AnonymousObjects(object.kind.to_string())),
            });
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
