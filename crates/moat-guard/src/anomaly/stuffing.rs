//! Credential stuffing: many distinct credentials failing from one client
//! address, and one credential failing from many addresses (a botnet
//! spreading its guesses at one account thin enough to pass lockout).

use std::time::Duration;

use moat_config::anomaly::CredentialStuffingConfig;

use super::shared::{About, Share, SharedCount, SharedTouch, Tally, touch};
use super::table::{Entry, Keyer, Table};
use super::window::DistinctLog;
use super::{
    Address, BanReach, EventSubject, Observation, SecurityEvent, credential_label, due, millis,
    span,
};

/// The credential stuffing detector.
pub struct CredentialStuffing {
    by_address: Table<Distinct>,
    by_credential: Table<Distinct>,
    keyer: Keyer,
    distinct_credentials: usize,
    window: u64,
    distinct_addresses: usize,
    credential_window: u64,
    ban: Option<Duration>,
}

/// The distinct ids a subject failed with, and its last event.
#[derive(Debug, Default)]
pub(crate) struct Distinct {
    pub(crate) log: DistinctLog,
    pub(crate) last_event: Option<u64>,
}

impl Entry for Distinct {
    fn last_active(&self) -> u64 {
        self.log
            .last()
            .unwrap_or(0)
            .max(self.last_event.unwrap_or(0))
    }
}

impl CredentialStuffing {
    /// A detector with `config`'s thresholds, tracking at most
    /// `max_subjects` addresses and as many credentials.
    pub fn new(config: &CredentialStuffingConfig, max_subjects: usize) -> Self {
        let window = millis(config.window);
        let credential_window = millis(config.credential_window);
        Self {
            by_address: Table::new(max_subjects, window),
            by_credential: Table::new(max_subjects, credential_window),
            keyer: Keyer::default(),
            distinct_credentials: threshold(config.distinct_credentials),
            window,
            distinct_addresses: threshold(config.distinct_addresses),
            credential_window,
            ban: config.ban,
        }
    }

    /// Counts a failed authentication; other requests cost nothing.
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
        let (true, Some(credential)) = (obs.auth_failed, obs.credential_id) else {
            return;
        };
        let now = obs.now;
        let address = Address::of(obs.client);
        let credential_key = self.keyer.key(credential);
        let address_key = self.keyer.key(&address);

        let (threshold, window) = (self.distinct_credentials, self.window);
        let fired = self
            .by_address
            .upsert(address_key, now, Distinct::default, |e| {
                e.log.touch(credential_key, now, false, window, threshold);
                let count = e.log.len() as u64;
                share
                    .local_decides
                    .then(|| check(e, count, now, threshold, window))
                    .flatten()
            });
        if let Some(observed) = fired {
            events.push(self.address_event(address.subject(), observed));
        }

        let (threshold, window) = (self.distinct_addresses, self.credential_window);
        let fired = self
            .by_credential
            .upsert(credential_key, now, Distinct::default, |e| {
                e.log.touch(address_key, now, false, window, threshold);
                let count = e.log.len() as u64;
                share
                    .local_decides
                    .then(|| check(e, count, now, threshold, window))
                    .flatten()
            });
        if let Some(observed) = fired {
            let subject = EventSubject::Credential(credential_label(credential));
            events.push(self.credential_event(subject, observed));
        }

        if let Some(keyer) = share.keyer {
            let shared_address = keyer.address(&address);
            let shared_credential = keyer.key(&[b"k", credential.as_bytes()]);
            touches.push(touch(
                Tally::StuffingAddress,
                shared_address,
                shared_credential,
                false,
                now,
                self.window,
                self.distinct_credentials,
                address_key,
                About {
                    subject: address.subject(),
                    reach: BanReach::All,
                    detail: String::new(),
                },
            ));
            touches.push(touch(
                Tally::StuffingCredential,
                shared_credential,
                shared_address,
                false,
                now,
                self.credential_window,
                self.distinct_addresses,
                credential_key,
                About {
                    subject: EventSubject::Credential(credential_label(credential)),
                    reach: BanReach::All,
                    detail: String::new(),
                },
            ));
        }
    }

    /// The event a cluster-wide count of `distinct` ids for `t` raises, if
    /// any.
    pub(crate) fn decide_shared(
        &self,
        t: &SharedTouch,
        count: SharedCount,
    ) -> Option<SecurityEvent> {
        let SharedCount::Distinct { distinct, .. } = count else {
            return None;
        };
        let (table, threshold, window) = match t.tally() {
            Tally::StuffingAddress => (&self.by_address, self.distinct_credentials, self.window),
            Tally::StuffingCredential => (
                &self.by_credential,
                self.distinct_addresses,
                self.credential_window,
            ),
            _ => return None,
        };
        let now = t.now();
        let observed = table.upsert(t.local, now, Distinct::default, |e| {
            check(e, distinct, now, threshold, window)
        })?;
        let subject = t.about.subject.clone();
        Some(match t.tally() {
            Tally::StuffingAddress => self.address_event(subject, observed),
            _ => self.credential_event(subject, observed),
        })
    }

    fn address_event(&self, subject: EventSubject, observed: u64) -> SecurityEvent {
        SecurityEvent {
            detector: "credential_stuffing",
            summary: format!(
                "{subject} failed authentication with {observed} distinct credentials within {}",
                span(self.window)
            ),
            subject,
            observed,
            threshold: self.distinct_credentials as u64,
            window_secs: self.window / 1000,
            ban: self.ban,
            reach: BanReach::All,
        }
    }

    fn credential_event(&self, subject: EventSubject, observed: u64) -> SecurityEvent {
        SecurityEvent {
            detector: "credential_stuffing",
            summary: format!(
                "{subject} failed authentication from {observed} distinct client addresses \
                 within {}",
                span(self.credential_window)
            ),
            subject,
            observed,
            threshold: self.distinct_addresses as u64,
            window_secs: self.credential_window / 1000,
            ban: None,
            reach: BanReach::All,
        }
    }

    /// Addresses and credentials tracked.
    pub fn tracked(&self) -> (usize, usize) {
        (self.by_address.len(), self.by_credential.len())
    }

    /// Drops subjects whose windows have passed; how many.
    pub fn purge(&self, now: u64) -> usize {
        self.by_address.purge(now) + self.by_credential.purge(now)
    }
}

pub(crate) fn threshold(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).max(1)
}

/// The distinct `count` (this node's or the cluster's) if it reached
/// `threshold` and an event is due (then recorded as reported).
pub(crate) fn check(
    e: &mut Distinct,
    count: u64,
    now: u64,
    threshold: usize,
    window: u64,
) -> Option<u64> {
    if count >= threshold as u64 && due(e.last_event, now, window) {
        e.last_event = Some(now);
        Some(count)
    } else {
        None
    }
}
