//! Anomaly detection: patterns across requests that no single request
//! shows — credential stuffing, enumeration of object ids (BOLA probing),
//! scraping and error storms.
//!
//! The gateway feeds one [`Observation`] per finished request to
//! [`AnomalyEngine::observe`] and gets back the [`SecurityEvent`]s that
//! request completed. Detection is pure: no I/O, no clock (time comes in
//! the observation, as unix milliseconds), so it is tested by scripting
//! traffic. What to do with an event (log it, count it, impose its
//! suggested ban) is the gateway's decision.
//!
//! # Counting
//!
//! Each detector keeps per-subject state in a bounded table (a cap on
//! subjects, least recently active forgotten first, idle ones dropped; see
//! moat-state's lockout store, whose approach this follows). Subjects are
//! the consumer when the request was authenticated, else the client
//! address: IPv4 per address, IPv6 per /64 (one host routinely has a whole
//! /64), an IPv4-mapped IPv6 address as its IPv4 address. Credential ids
//! and object ids are kept as keyed 64-bit hashes, so a long id costs no
//! more than a short one, and per subject at most as many as the
//! detector's threshold. Windows slide: distinct ids keep the time they
//! were last seen; request counts weigh the previous fixed window by how
//! much of it the sliding window still covers.
//!
//! An event for the same detector and subject is not repeated within the
//! detector's window: an attack that goes on is reported once per window.
//!
//! # In a cluster
//!
//! Every detector's counts can be made cluster-wide: seeded with
//! [`AnomalyEngine::share`], the engine hands out a [`SharedTouch`] per
//! touch of a count from [`AnomalyEngine::observe_sharing`], and
//! [`AnomalyEngine::decide_shared`] applies the same thresholds to the
//! cluster-wide counts the gateway gets back (see `shared`).

mod enumeration;
mod error_storm;
mod objects;
mod scraping;
mod shared;
mod stuffing;
mod table;
mod window;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use moat_config::anomaly::{AnomalyConfig, AnomalyConfigError};

pub use enumeration::Enumeration;
pub use error_storm::ErrorStorm;
pub use objects::{NamedObject, ObjectParameter, ObjectParameters};
pub use scraping::Scraping;
pub use shared::{Measure, SharedCount, SharedTouch, Tally};
pub use stuffing::CredentialStuffing;

use shared::Sharing;
use table::Keyer;

/// What the gateway knows about one finished request.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// When it finished, in milliseconds since the Unix epoch.
    pub now: u64,
    /// The client address (after trusted-proxy resolution).
    pub client: IpAddr,
    /// The authenticated consumer, if any.
    pub consumer: Option<&'a str>,
    /// The credential presented, named with its scheme as for lockout
    /// (`apikey:<key id>`, `basic:<user name>`), whether it was accepted or
    /// not. Never a secret.
    pub credential_id: Option<&'a str>,
    /// Authentication was attempted and failed.
    pub auth_failed: bool,
    /// The object the request named, if any (see [`ObjectParameters`]).
    pub object: Option<ObjectRef<'a>>,
    /// Who gave the answer.
    pub answered_by: AnsweredBy,
    /// The status of the answer.
    pub status: u16,
}

/// An object a request named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    /// Its kind: an ownership learning rule's kind, or the operation.
    pub kind: &'a str,
    /// Its id, as the request gave it.
    pub id: &'a str,
}

/// Who gave the answer a request got; what its status says about the
/// object the request named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnsweredBy {
    /// The upstream: a `403` or `404` says the object is not the caller's
    /// or does not exist.
    Upstream,
    /// The gateway's object-level authorization refused access to the
    /// object (`ownership-violation`): as telling as an upstream `403`.
    ObjectAccess,
    /// Another control of the gateway (attack detection, validation,
    /// authentication, limits, bans): the object was never looked up, so
    /// the answer says nothing about it.
    Gateway,
}

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventSubject {
    /// A client address: an IPv4 address (`prefix` 32) or an IPv6 /64
    /// (`prefix` 64, `ip` with the host bits cleared).
    Address {
        /// The address or network address.
        ip: IpAddr,
        /// The prefix length: 32 or 64.
        prefix: u8,
    },
    /// An authenticated consumer.
    Consumer(String),
    /// A credential, by its label (see [`credential_label`]); not
    /// something a ban applies to.
    Credential(String),
}

impl fmt::Display for EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventSubject::Address { ip, prefix: 32 } => write!(f, "address {ip}"),
            EventSubject::Address { ip, prefix } => write!(f, "network {ip}/{prefix}"),
            EventSubject::Consumer(c) => {
                let shown: String = c.chars().take(64).collect();
                write!(f, "consumer `{}`", shown.escape_debug())
            }
            EventSubject::Credential(label) => write!(f, "credential {label}"),
        }
    }
}

/// A pattern a detector recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// The detector: `credential_stuffing`, `enumeration`,
    /// `scraping_burst`, `scraping_sustained` or `error_storm` (fit for a
    /// metrics label).
    pub detector: &'static str,
    /// Who did it.
    pub subject: EventSubject,
    /// What happened, for people. Holds no secret and no user name (those
    /// appear as a digest, see [`credential_label`]).
    pub summary: String,
    /// The value that crossed the threshold (distinct ids, requests,
    /// errors).
    pub observed: u64,
    /// The threshold it crossed.
    pub threshold: u64,
    /// The window it was counted in, in seconds.
    pub window_secs: u64,
    /// The temporary ban the config suggests for the subject, if any.
    /// Always `None` for a [`EventSubject::Credential`].
    pub ban: Option<Duration>,
    /// Which requests of the subject the ban applies to.
    pub reach: BanReach,
}

/// Which requests of its subject a suggested ban applies to.
///
/// A consumer is one caller: its ban applies to all it sends. An address
/// may be shared (a NAT, a proxy, an office): a ban earned by anonymous
/// requests applies only to anonymous requests from it, so the
/// identified callers behind it keep working; and a ban earned by
/// probing one kind of object applies only to that kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BanReach {
    /// Every request of the subject (a consumer; an address failing
    /// authentication with many credentials, whose callers cannot be told
    /// apart before their credentials are checked).
    All,
    /// The anonymous requests from the address.
    Anonymous,
    /// The anonymous requests from the address that name an object of this
    /// kind.
    AnonymousObjects(String),
}

/// How many subjects each detector tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracked {
    /// Client addresses failing authentication.
    pub stuffing_addresses: usize,
    /// Credentials failing authentication.
    pub stuffing_credentials: usize,
    /// Subjects requesting object ids.
    pub enumeration: usize,
    /// Subjects counted for scraping.
    pub scraping: usize,
    /// Subjects that caused an error recently.
    pub error_storm: usize,
}

impl Tracked {
    /// All of them.
    pub fn total(&self) -> usize {
        self.stuffing_addresses
            + self.stuffing_credentials
            + self.enumeration
            + self.scraping
            + self.error_storm
    }
}

/// Every detector, each enabled or not by the config, behind `&self`.
///
/// Each detector's state is sharded behind mutexes held for a few
/// arithmetic operations, so `observe` can run after every request on any
/// thread.
pub struct AnomalyEngine {
    stuffing: Option<CredentialStuffing>,
    enumeration: Option<Enumeration>,
    scraping: Option<Scraping>,
    error_storm: Option<ErrorStorm>,
    sharing: Sharing,
}

impl fmt::Debug for AnomalyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnomalyEngine")
            .field("tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl AnomalyEngine {
    /// The detectors `config` enables (none when `anomaly.enabled` is
    /// false), each tracking at most `config.max_subjects` subjects per
    /// table.
    pub fn new(config: &AnomalyConfig) -> Result<Self, AnomalyConfigError> {
        config.validate()?;
        let cap = config.max_subjects;
        let on = |enabled: bool| config.enabled && enabled;
        Ok(Self {
            stuffing: on(config.credential_stuffing.enabled)
                .then(|| CredentialStuffing::new(&config.credential_stuffing, cap)),
            enumeration: on(config.enumeration.enabled)
                .then(|| Enumeration::new(&config.enumeration, cap)),
            scraping: on(config.scraping.enabled).then(|| Scraping::new(&config.scraping, cap)),
            error_storm: on(config.error_storm.enabled)
                .then(|| ErrorStorm::new(&config.error_storm, cap)),
            sharing: Sharing::default(),
        })
    }

    /// Counts one finished request; the events it completes (usually none).
    pub fn observe(&self, obs: &Observation<'_>) -> Vec<SecurityEvent> {
        self.observe_sharing(obs, &mut Vec::new())
    }

    /// As [`observe`](Self::observe), and once [`share`](Self::share)d,
    /// adds to `touches` what the cluster-wide counts need to learn of the
    /// request. While the cluster decides (see
    /// [`set_cluster_decides`](Self::set_cluster_decides)), the detectors
    /// raise no event from this node's counts.
    pub fn observe_sharing(
        &self,
        obs: &Observation<'_>,
        touches: &mut Vec<SharedTouch>,
    ) -> Vec<SecurityEvent> {
        let share = self.sharing.now();
        let mut events = Vec::new();
        if let Some(d) = &self.stuffing {
            d.observe_with(obs, share, &mut events, touches);
        }
        if let Some(d) = &self.enumeration {
            d.observe_with(obs, share, &mut events, touches);
        }
        if let Some(d) = &self.scraping {
            d.observe_with(obs, share, &mut events, touches);
        }
        if let Some(d) = &self.error_storm {
            d.observe_with(obs, share, &mut events, touches);
        }
        events
    }

    /// Starts handing out touches keyed under `seed`, which every node of
    /// the cluster must share; false (and nothing changes) if already
    /// seeded.
    pub fn share(&self, seed: &[u8]) -> bool {
        self.sharing.seed(seed)
    }

    /// Whether the cluster-wide counts decide (they answered) or this
    /// node's (they did not).
    pub fn set_cluster_decides(&self, on: bool) {
        self.sharing.set_cluster_decides(on);
    }

    /// The event the cluster-wide `count` after `touch` raises, if any
    /// (not repeated within the detector's window on this node).
    pub fn decide_shared(&self, touch: &SharedTouch, count: SharedCount) -> Option<SecurityEvent> {
        match touch.tally() {
            Tally::Enumeration => self.enumeration.as_ref()?.decide_shared(touch, count),
            Tally::StuffingAddress | Tally::StuffingCredential => {
                self.stuffing.as_ref()?.decide_shared(touch, count)
            }
            Tally::ScrapingBurst | Tally::ScrapingSustained => {
                self.scraping.as_ref()?.decide_shared(touch, count)
            }
            Tally::ErrorStorm => self.error_storm.as_ref()?.decide_shared(touch, count),
        }
    }

    /// Subjects tracked, for metrics and tests.
    pub fn tracked(&self) -> Tracked {
        let (stuffing_addresses, stuffing_credentials) = self
            .stuffing
            .as_ref()
            .map_or((0, 0), CredentialStuffing::tracked);
        Tracked {
            stuffing_addresses,
            stuffing_credentials,
            enumeration: self.enumeration.as_ref().map_or(0, Enumeration::tracked),
            scraping: self.scraping.as_ref().map_or(0, Scraping::tracked),
            error_storm: self.error_storm.as_ref().map_or(0, ErrorStorm::tracked),
        }
    }

    /// Drops subjects whose windows have all passed at `now`; how many.
    /// Never needed for the memory bound; calling it now and then returns
    /// memory sooner after a burst.
    pub fn purge(&self, now: u64) -> usize {
        self.stuffing.as_ref().map_or(0, |d| d.purge(now))
            + self.enumeration.as_ref().map_or(0, |d| d.purge(now))
            + self.scraping.as_ref().map_or(0, |d| d.purge(now))
            + self.error_storm.as_ref().map_or(0, |d| d.purge(now))
    }
}

/// A credential id as events show it. An API key id (`apikey:` and up to
/// 32 letters, digits, `-` or `_`) is shown as is: it is public, and
/// already a metrics label. Anything else — a user name above all — is
/// shown as its scheme and the first 12 hex digits of the SHA-256 of the
/// whole id: `basic:sha256:1a2b3c4d5e6f`, which an operator can reproduce
/// with `printf %s 'basic:alice' | sha256sum`.
pub fn credential_label(id: &str) -> String {
    if let Some(key_id) = id.strip_prefix("apikey:")
        && (1..=32).contains(&key_id.len())
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return id.to_string();
    }
    let scheme = id
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| {
            (1..=16).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .unwrap_or("credential");
    format!("{scheme}:sha256:{}", sha256_hex_prefix(id.as_bytes(), 6))
}

/// The subject a client address is counted (and banned) as: the address
/// for IPv4, its /64 for IPv6.
pub fn address_subject(ip: IpAddr) -> EventSubject {
    Address::of(ip).subject()
}

/// A client address as counted: IPv4 per address, IPv6 per /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Address {
    ip: IpAddr,
    prefix: u8,
}

impl Address {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self { ip, prefix: 32 },
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self {
                    ip: IpAddr::V4(v4),
                    prefix: 32,
                },
                None => Self {
                    ip: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
                    prefix: 64,
                },
            },
        }
    }

    pub(crate) fn subject(self) -> EventSubject {
        EventSubject::Address {
            ip: self.ip,
            prefix: self.prefix,
        }
    }
}

/// The subject of the per-subject detectors: the consumer, else the
/// address.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Who<'a> {
    Address(Address),
    Consumer(&'a str),
}

impl<'a> Who<'a> {
    pub(crate) fn of(obs: &Observation<'a>) -> Self {
        match obs.consumer {
            Some(c) => Who::Consumer(c),
            None => Who::Address(Address::of(obs.client)),
        }
    }

    /// The table key; consumers and addresses never share one.
    pub(crate) fn key(&self, keyer: &Keyer) -> u64 {
        match self {
            Who::Address(a) => keyer.key(&(0u8, a)),
            Who::Consumer(c) => keyer.key(&(1u8, c)),
        }
    }

    pub(crate) fn subject(&self) -> EventSubject {
        match self {
            Who::Address(a) => a.subject(),
            Who::Consumer(c) => EventSubject::Consumer((*c).to_string()),
        }
    }

    /// The reach of a ban of this subject: everything a consumer sends;
    /// for an address, `anonymous`.
    pub(crate) fn reach(&self, anonymous: impl FnOnce() -> BanReach) -> BanReach {
        match self {
            Who::Address(_) => anonymous(),
            Who::Consumer(_) => BanReach::All,
        }
    }
}

/// Whether an event last reported at `last` may be reported again at
/// `now`.
pub(crate) fn due(last: Option<u64>, now: u64, window: u64) -> bool {
    last.is_none_or(|t| t.saturating_add(window) <= now)
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `90s`, `5m`, `1h`: the window as people write it.
pub(crate) fn span(ms: u64) -> String {
    let s = ms / 1000;
    if s == 0 {
        format!("{ms}ms")
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests;

/// The first `bytes` bytes of SHA-256(`data`), in lower-case hex.
fn sha256_hex_prefix(data: &[u8], bytes: usize) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest
        .as_ref()
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}
