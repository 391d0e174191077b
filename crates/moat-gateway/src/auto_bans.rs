//! Bans the anomaly detectors impose: held in this node's memory, each
//! with the reach its evidence earned (see [`BanReach`]).
//!
//! They are not written to the state store. The evidence behind them (the
//! detectors' counts) lives in this process, so do the bans: they run out
//! on their own, a restart starts from a clean slate, and an anonymous
//! client behind a shared address is not banned for good on every node by
//! one burst. Operator bans (`moat bans`) are the ones that persist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use moat_guard::anomaly::{BanReach, EventSubject, address_subject};
use moat_state::UnixTime;

/// Detector bans by reach, each with the time it expires (unix seconds).
#[derive(Debug, Default)]
pub(crate) struct AutoBans {
    /// Consumers: everything they send.
    consumers: HashMap<String, UnixTime>,
    /// Addresses (IPv6: /64s): every request from them.
    addresses: HashMap<EventSubject, UnixTime>,
    /// Addresses: their anonymous requests.
    anonymous: HashMap<EventSubject, UnixTime>,
    /// Addresses: their anonymous requests naming an object of a kind.
    anonymous_kinds: HashMap<(EventSubject, String), UnixTime>,
}

impl AutoBans {
    /// Bans `subject` until `expires_at`, with `reach`; a longer ban
    /// already in place is kept. A credential is never banned.
    pub(crate) fn insert(
        &mut self,
        subject: &EventSubject,
        reach: &BanReach,
        expires_at: UnixTime,
        now: UnixTime,
    ) {
        self.prune(now);
        match (subject, reach) {
            (EventSubject::Credential(_), _) => {}
            (EventSubject::Consumer(c), _) => extend(&mut self.consumers, c.clone(), expires_at),
            (a @ EventSubject::Address { .. }, BanReach::All) => {
                extend(&mut self.addresses, a.clone(), expires_at)
            }
            (a @ EventSubject::Address { .. }, BanReach::Anonymous) => {
                extend(&mut self.anonymous, a.clone(), expires_at)
            }
            (a @ EventSubject::Address { .. }, BanReach::AnonymousObjects(kind)) => extend(
                &mut self.anonymous_kinds,
                (a.clone(), kind.clone()),
                expires_at,
            ),
        }
    }

    /// The ban on every request from `client`: time left.
    pub(crate) fn address(&self, client: IpAddr, now: UnixTime) -> Option<Duration> {
        if self.addresses.is_empty() {
            return None;
        }
        left(self.addresses.get(&address_subject(client)), now)
    }

    /// The ban on `consumer`: time left.
    pub(crate) fn consumer(&self, consumer: &str, now: UnixTime) -> Option<Duration> {
        left(self.consumers.get(consumer), now)
    }

    /// The ban on an anonymous request from `client` naming an object of
    /// `kind` (if any): time left.
    pub(crate) fn anonymous(
        &self,
        client: IpAddr,
        kind: Option<&str>,
        now: UnixTime,
    ) -> Option<Duration> {
        if self.anonymous.is_empty() && self.anonymous_kinds.is_empty() {
            return None;
        }
        let subject = address_subject(client);
        left(self.anonymous.get(&subject), now).or_else(|| {
            let kind = kind.filter(|_| !self.anonymous_kinds.is_empty())?;
            left(self.anonymous_kinds.get(&(subject, kind.to_string())), now)
        })
    }

    /// Every ban in force: its subject key (as [`DetectorBan::subject`]
    /// says), and when it ends.
    pub(crate) fn list(&self, now: UnixTime) -> Vec<DetectorBan> {
        let live = |at: &UnixTime| *at > now;
        let mut out = Vec::new();
        for (c, at) in self.consumers.iter().filter(|(_, at)| live(at)) {
            out.push(DetectorBan::new(
                format!("consumer:{c}"),
                "all requests",
                *at,
            ));
        }
        for (a, at) in self.addresses.iter().filter(|(_, at)| live(at)) {
            out.push(DetectorBan::new(
                format!("address:{}", address(a)),
                "all requests",
                *at,
            ));
        }
        for (a, at) in self.anonymous.iter().filter(|(_, at)| live(at)) {
            out.push(DetectorBan::new(
                format!("anonymous:{}", address(a)),
                "anonymous requests",
                *at,
            ));
        }
        for ((a, kind), at) in self.anonymous_kinds.iter().filter(|(_, at)| live(at)) {
            out.push(DetectorBan::new(
                format!("anonymous:{}:{kind}", address(a)),
                "anonymous requests for one kind of object",
                *at,
            ));
        }
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        out
    }

    /// Lifts the ban whose subject key is `subject`; whether there was one.
    pub(crate) fn lift(&mut self, subject: &str) -> bool {
        let before = self.len();
        self.consumers
            .retain(|c, _| format!("consumer:{c}") != subject);
        self.addresses
            .retain(|a, _| format!("address:{}", address(a)) != subject);
        self.anonymous
            .retain(|a, _| format!("anonymous:{}", address(a)) != subject);
        self.anonymous_kinds
            .retain(|(a, kind), _| format!("anonymous:{}:{kind}", address(a)) != subject);
        self.len() != before
    }

    fn len(&self) -> usize {
        self.consumers.len()
            + self.addresses.len()
            + self.anonymous.len()
            + self.anonymous_kinds.len()
    }

    /// Drops the bans that ran out.
    fn prune(&mut self, now: UnixTime) {
        self.consumers.retain(|_, at| *at > now);
        self.addresses.retain(|_, at| *at > now);
        self.anonymous.retain(|_, at| *at > now);
        self.anonymous_kinds.retain(|_, at| *at > now);
    }
}

/// A detector's ban as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DetectorBan {
    /// `consumer:<id>`, `address:<ip>[/64]`, `anonymous:<ip>[/64]` or
    /// `anonymous:<ip>[/64]:<kind>`.
    pub subject: String,
    /// What it refuses.
    pub reach: &'static str,
    /// When it ends.
    pub expires_at: UnixTime,
}

impl DetectorBan {
    fn new(subject: String, reach: &'static str, expires_at: UnixTime) -> Self {
        Self {
            subject,
            reach,
            expires_at,
        }
    }
}

/// An address subject as text: the address, with `/64` for IPv6.
fn address(subject: &EventSubject) -> String {
    match subject {
        EventSubject::Address { ip, prefix: 32 } => ip.to_string(),
        EventSubject::Address { ip, prefix } => format!("{ip}/{prefix}"),
        EventSubject::Consumer(c) => c.clone(),
        EventSubject::Credential(c) => c.clone(),
    }
}

/// Bans `key` until `at`, or longer if it already is.
fn extend<K: std::hash::Hash + Eq>(map: &mut HashMap<K, UnixTime>, key: K, at: UnixTime) {
    let slot = map.entry(key).or_insert(at);
    *slot = (*slot).max(at);
}

/// The time left of a ban expiring at `at`, if it has not run out.
fn left(at: Option<&UnixTime>, now: UnixTime) -> Option<Duration> {
    let secs = at?.checked_sub(now).filter(|s| *s > 0)?;
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reach_bans_only_what_it_says() {
        let client: IpAddr = [192, 0, 2, 7].into();
        let neighbour_v6: IpAddr = "2001:db8::1".parse().unwrap();
        let mut bans = AutoBans::default();
        let now = 1_000;
        bans.insert(
            &address_subject(client),
            &BanReach::AnonymousObjects("getRecord".into()),
            now + 900,
            now,
        );
        assert_eq!(
            bans.anonymous(client, Some("getRecord"), now),
            Some(Duration::from_secs(900))
        );
        assert_eq!(bans.anonymous(client, Some("getFile"), now), None);
        assert_eq!(bans.anonymous(client, None, now), None);
        assert_eq!(bans.address(client, now), None);
        assert_eq!(bans.anonymous(neighbour_v6, Some("getRecord"), now), None);
        assert_eq!(bans.anonymous(client, Some("getRecord"), now + 900), None);

        bans.insert(
            &EventSubject::Consumer("mallory".into()),
            &BanReach::All,
            now + 60,
            now,
        );
        assert!(bans.consumer("mallory", now).is_some());
        assert!(bans.consumer("alice", now).is_none());

        // IPv6 clients are banned per /64.
        bans.insert(
            &address_subject("2001:db8::1".parse().unwrap()),
            &BanReach::All,
            now + 60,
            now,
        );
        assert!(
            bans.address("2001:db8::ffff".parse().unwrap(), now)
                .is_some()
        );
        assert!(
            bans.address("2001:db8:0:1::1".parse().unwrap(), now)
                .is_none()
        );
        // Run-out bans are dropped when the next one arrives.
        bans.insert(
            &address_subject(client),
            &BanReach::Anonymous,
            now + 5000,
            now + 1000,
        );
        assert!(bans.consumers.is_empty() && bans.anonymous_kinds.is_empty());
    }
}
