//! Bans: client addresses (or networks) and consumers the gateway refuses
//! outright, for a time or for good.
//!
//! Bans are set by an operator (`moat bans add`). They live in the state
//! store ([`BanStore`]) so that they survive restarts and reach every
//! gateway sharing the file (the bans anomaly detectors impose are the
//! gateway's own, kept in its memory); the gateway keeps a [`BanList`] in memory,
//! reloaded from the store now and then, and checks it on every request
//! without any I/O.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use crate::record::UnixTime;
use crate::store::StoreError;

/// An IP address or network: an address and a prefix length. Host bits
/// below the prefix are always zero, and an IPv4-mapped IPv6 address
/// (`::ffff:192.0.2.1`) is held as its IPv4 address, so equal networks
/// compare and hash equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Text that is not an address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not an IP address or network ({why}); write e.g. `203.0.113.7`, `203.0.113.0/24` or `2001:db8::/48`"
)]
pub struct InvalidPrefix {
    text: String,
    why: &'static str,
}

impl IpPrefix {
    /// The network of `len` bits containing `addr`, host bits cleared;
    /// `None` when `len` exceeds the address's width.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let (addr, len) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if len >= 96 => (IpAddr::V4(v4), len - 96),
                _ => (addr, len),
            },
            IpAddr::V4(_) => (addr, len),
        };
        let addr = match addr {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            _ => return None,
        };
        Some(Self { addr, len })
    }

    /// A client as it is counted and limited: an IPv4 address (an
    /// IPv4-mapped IPv6 address as its IPv4 address) alone, an IPv6
    /// address by its /64, which one host, customer or VM routinely holds
    /// whole.
    pub fn client(addr: IpAddr) -> Self {
        let addr = unmap(addr);
        match addr {
            IpAddr::V4(_) => Self { addr, len: 32 },
            IpAddr::V6(v6) => Self {
                addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
                len: 64,
            },
        }
    }

    /// One address (a /32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let addr = unmap(addr);
        Self {
            addr,
            len: full_len(addr),
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this names exactly one address.
    pub fn is_host(&self) -> bool {
        self.len == full_len(self.addr)
    }

    /// Whether `ip` is inside (IPv4-mapped addresses match IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn full_len(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl FromStr for IpPrefix {
    type Err = InvalidPrefix;

    /// `203.0.113.7`, `203.0.113.0/24`, `2001:db8::1`, `2001:db8::/32`.
    /// Host bits below the prefix are dropped: `203.0.113.7/24` is
    /// `203.0.113.0/24`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why| InvalidPrefix {
            text: text.chars().take(100).collect(),
            why,
        };
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let len = match len {
            None => {
                return Ok(Self::host(addr));
            }
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => l
                .parse::<u8>()
                .map_err(|_| err("the prefix length is too long"))?,
            Some(_) => return Err(err("the prefix length after `/` is not a number")),
        };
        Self::new(addr, len).ok_or_else(|| match addr {
            IpAddr::V4(_) => err("an IPv4 prefix length is at most 32"),
            IpAddr::V6(_) => err("an IPv6 prefix length is at most 128"),
        })
    }
}

impl fmt::Display for IpPrefix {
    /// The address alone for a single host, `address/length` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// Who a ban applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BanSubject {
    /// Requests from this address or network.
    Address(IpPrefix),
    /// Requests authenticated as this consumer.
    Consumer(String),
}

impl BanSubject {
    /// The store's key: `address:<address>[/<length>]` or
    /// `consumer:<id>`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// Parses [`key`](Self::key)'s format.
    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(a) = key.strip_prefix("address:") {
            return a.parse().ok().map(BanSubject::Address);
        }
        key.strip_prefix("consumer:")
            .filter(|c| !c.is_empty())
            .map(|c| BanSubject::Consumer(c.to_string()))
    }

    /// `address` or `consumer`.
    pub fn kind(&self) -> &'static str {
        match self {
            BanSubject::Address(_) => "address",
            BanSubject::Consumer(_) => "consumer",
        }
    }
}

impl fmt::Display for BanSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanSubject::Address(p) => write!(f, "address:{p}"),
            BanSubject::Consumer(c) => write!(f, "consumer:{c}"),
        }
    }
}

/// One ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Who is banned.
    pub subject: BanSubject,
    /// Why, for people (the operator's text or the detector's summary).
    pub reason: String,
    /// Who imposed it: `cli`, or the name of the detector.
    pub source: String,
    /// When it was imposed.
    pub created_at: UnixTime,
    /// It ends at this time; permanent when absent.
    pub expires_at: Option<UnixTime>,
}

impl Ban {
    /// Whether the ban is in force at `now`.
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    /// Whether this ban ends no earlier than `other` (permanent is latest).
    fn lasts_as_long_as(&self, other: &Ban) -> bool {
        match (self.expires_at, other.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        }
    }
}

/// Storage of bans.
///
/// A ban never gets shorter by [`add`](Self::add): adding a ban for a
/// subject already banned at least as long changes nothing (so a
/// detector's one-hour ban cannot cut short an operator's permanent one);
/// [`remove`](Self::remove) ends a ban.
#[async_trait]
pub trait BanStore: Send + Sync {
    /// Stores `ban`, replacing an expired ban of the same subject or one
    /// that ends sooner. `false` when an active ban of the subject lasts at
    /// least as long; it is kept unchanged.
    async fn add(&self, ban: &Ban) -> Result<bool, StoreError>;

    /// Deletes the ban of `subject`. `false` when none was stored.
    async fn remove(&self, subject: &BanSubject) -> Result<bool, StoreError>;

    /// The bans in force at `now`, oldest first.
    async fn list(&self, now: UnixTime) -> Result<Vec<Ban>, StoreError>;

    /// The ban of `subject` in force at `now`, if any.
    async fn active(&self, subject: &BanSubject, now: UnixTime) -> Result<Option<Ban>, StoreError>;

    /// Deletes bans that ended before `now`; how many.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Bans in a hash map, for tests and runs without a file.
#[derive(Debug, Default)]
pub struct MemoryBans {
    bans: RwLock<HashMap<BanSubject, Ban>>,
}

impl MemoryBans {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl BanStore for MemoryBans {
    async fn add(&self, ban: &Ban) -> Result<bool, StoreError> {
        // Every update is one map operation: a poisoned lock is consistent.
        let mut bans = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = bans.get(&ban.subject)
            && old.is_active(ban.created_at)
            && old.lasts_as_long_as(ban)
        {
            return Ok(false);
        }
        bans.insert(ban.subject.clone(), ban.clone());
        Ok(true)
    }

    async fn remove(&self, subject: &BanSubject) -> Result<bool, StoreError> {
        let mut bans = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        Ok(bans.remove(subject).is_some())
    }

    async fn list(&self, now: UnixTime) -> Result<Vec<Ban>, StoreError> {
        let bans = self.bans.read().unwrap_or_else(PoisonError::into_inner);
        let mut active: Vec<Ban> = bans
            .values()
            .filter(|b| b.is_active(now))
            .cloned()
            .collect();
        active.sort_by_cached_key(|b| (b.created_at, b.subject.key()));
        Ok(active)
    }

    async fn active(&self, subject: &BanSubject, now: UnixTime) -> Result<Option<Ban>, StoreError> {
        let bans = self.bans.read().unwrap_or_else(PoisonError::into_inner);
        Ok(bans.get(subject).filter(|b| b.is_active(now)).cloned())
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut bans = self.bans.write().unwrap_or_else(PoisonError::into_inner);
        let before = bans.len();
        bans.retain(|_, b| b.is_active(now));
        Ok((before - bans.len()) as u64)
    }
}

/// The gateway's view of the bans, checked on every request without I/O.
///
/// Single addresses and consumers are hash lookups; networks are a short
/// list scanned in order (a ban list holds a handful of networks, not
/// thousands). Expired bans are skipped by [`is_banned`](Self::is_banned)
/// and dropped at the next [`replace`](Self::replace) or
/// [`prune`](Self::prune). Share it behind an `ArcSwap` or `RwLock`.
#[derive(Debug, Clone, Default)]
pub struct BanList {
    hosts: HashMap<IpAddr, Ban>,
    networks: Vec<(IpPrefix, Ban)>,
    consumers: HashMap<String, Ban>,
}

impl BanList {
    /// No bans.
    pub fn new() -> Self {
        Self::default()
    }

    /// A list holding `bans` (see [`replace`](Self::replace)).
    pub fn from_bans(bans: Vec<Ban>) -> Self {
        let mut list = Self::new();
        list.replace(bans);
        list
    }

    /// The ban in force at `now` on the client address `ip` or on
    /// `consumer`, if any. An address ban is checked first: an exact
    /// address, then the networks containing it.
    pub fn is_banned(&self, ip: IpAddr, consumer: Option<&str>, now: UnixTime) -> Option<&Ban> {
        let ip = unmap(ip);
        if let Some(ban) = self.hosts.get(&ip).filter(|b| b.is_active(now)) {
            return Some(ban);
        }
        if let Some((_, ban)) = self
            .networks
            .iter()
            .find(|(net, ban)| net.contains(ip) && ban.is_active(now))
        {
            return Some(ban);
        }
        consumer
            .and_then(|c| self.consumers.get(c))
            .filter(|b| b.is_active(now))
    }

    /// Replaces every ban with `bans` (the store's list after a reload).
    /// When `bans` names a subject twice, the longer ban wins.
    pub fn replace(&mut self, bans: Vec<Ban>) {
        self.hosts.clear();
        self.networks.clear();
        self.consumers.clear();
        for ban in bans {
            self.insert(ban);
        }
    }

    /// Adds a ban (one the gateway imposes; the caller also writes it to
    /// the store). Like [`BanStore::add`], an active ban of the same
    /// subject that lasts at least as long is kept instead; whether `ban`
    /// was taken.
    pub fn insert(&mut self, ban: Ban) -> bool {
        let keep_old = |old: &Ban| old.is_active(ban.created_at) && old.lasts_as_long_as(&ban);
        match &ban.subject {
            BanSubject::Address(p) if p.is_host() => {
                if self.hosts.get(&p.addr()).is_some_and(keep_old) {
                    return false;
                }
                self.hosts.insert(p.addr(), ban);
            }
            BanSubject::Address(p) => {
                let p = *p;
                match self.networks.iter_mut().find(|(net, _)| *net == p) {
                    Some((_, old)) if keep_old(old) => return false,
                    Some((_, old)) => *old = ban,
                    None => self.networks.push((p, ban)),
                }
            }
            BanSubject::Consumer(c) => {
                if self.consumers.get(c).is_some_and(keep_old) {
                    return false;
                }
                self.consumers.insert(c.clone(), ban);
            }
        }
        true
    }

    /// Removes the ban of `subject`; whether there was one.
    pub fn remove(&mut self, subject: &BanSubject) -> bool {
        match subject {
            BanSubject::Address(p) if p.is_host() => self.hosts.remove(&p.addr()).is_some(),
            BanSubject::Address(p) => {
                let before = self.networks.len();
                self.networks.retain(|(net, _)| net != p);
                self.networks.len() != before
            }
            BanSubject::Consumer(c) => self.consumers.remove(c).is_some(),
        }
    }

    /// Drops the bans that ended before `now`.
    pub fn prune(&mut self, now: UnixTime) {
        self.hosts.retain(|_, b| b.is_active(now));
        self.networks.retain(|(_, b)| b.is_active(now));
        self.consumers.retain(|_, b| b.is_active(now));
    }

    /// How many bans are held (expired ones not yet pruned included).
    pub fn len(&self) -> usize {
        self.hosts.len() + self.networks.len() + self.consumers.len()
    }

    /// Whether no ban is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(subject: &str, expires_at: Option<UnixTime>) -> Ban {
        Ban {
            subject: BanSubject::from_key(subject).unwrap(),
            reason: "test".into(),
            source: "cli".into(),
            created_at: 100,
            expires_at,
        }
    }

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_64s() {
        let c = |s: &str| IpPrefix::client(s.parse().unwrap()).to_string();
        assert_eq!(c("192.0.2.7"), "192.0.2.7");
        assert_eq!(c("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(c("2001:db8:1:2::5"), "2001:db8:1:2::/64");
        assert_eq!(
            IpPrefix::client("2001:db8:1:2::5".parse().unwrap()),
            IpPrefix::client("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap())
        );
        assert_ne!(
            IpPrefix::client("2001:db8:1:2::5".parse().unwrap()),
            IpPrefix::client("2001:db8:1:3::5".parse().unwrap())
        );
        assert_eq!(c("::1"), "::/64");
    }

    #[test]
    fn prefixes_parse_normalise_and_match() {
        let p: IpPrefix = "203.0.113.7/24".parse().unwrap();
        assert_eq!(p.to_string(), "203.0.113.0/24");
        assert!(p.contains("203.0.113.200".parse().unwrap()));
        assert!(p.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!p.contains("203.0.114.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        let h: IpPrefix = "203.0.113.7".parse().unwrap();
        assert!(h.is_host());
        assert_eq!(h.to_string(), "203.0.113.7");
        assert_eq!("203.0.113.7/32".parse::<IpPrefix>().unwrap(), h);
        assert_eq!("::ffff:203.0.113.7".parse::<IpPrefix>().unwrap(), h);
        let v6: IpPrefix = "2001:db8:1:2::5/64".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8:1:2::/64");
        assert!(v6.contains("2001:db8:1:2:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:1:3::1".parse().unwrap()));
        let all: IpPrefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("198.51.100.1".parse().unwrap()));
        for bad in [
            "",
            "nope",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/x",
            "::/129",
            "1.2.3.4/0024",
        ] {
            assert!(bad.parse::<IpPrefix>().is_err(), "{bad}");
        }
        let e = "1.2.3.4/33".parse::<IpPrefix>().unwrap_err().to_string();
        assert!(e.contains("at most 32"), "{e}");
    }

    #[test]
    fn subject_keys_round_trip() {
        for key in [
            "address:203.0.113.7",
            "address:10.0.0.0/8",
            "address:2001:db8::/32",
            "consumer:alice",
        ] {
            assert_eq!(BanSubject::from_key(key).unwrap().key(), key);
        }
        assert!(BanSubject::from_key("consumer:").is_none());
        assert!(BanSubject::from_key("user:x").is_none());
    }

    #[test]
    fn ban_list_matches_hosts_networks_and_consumers() {
        let mut list = BanList::from_bans(vec![
            ban("address:203.0.113.7", None),
            ban("address:198.51.100.0/24", Some(200)),
            ban("consumer:mallory", None),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(list.is_banned(ip("203.0.113.7"), None, 150).is_some());
        assert!(
            list.is_banned(ip("::ffff:203.0.113.7"), None, 150)
                .is_some()
        );
        assert!(list.is_banned(ip("203.0.113.8"), None, 150).is_none());
        assert!(list.is_banned(ip("198.51.100.99"), None, 150).is_some());
        assert!(
            list.is_banned(ip("198.51.100.99"), None, 200).is_none(),
            "expired"
        );
        let b = list
            .is_banned(ip("192.0.2.1"), Some("mallory"), 150)
            .unwrap();
        assert_eq!(b.subject, BanSubject::Consumer("mallory".into()));
        assert!(
            list.is_banned(ip("192.0.2.1"), Some("alice"), 150)
                .is_none()
        );

        // A shorter ban does not replace a longer one; a longer one does.
        assert!(!list.insert(ban("address:203.0.113.7", Some(500))));
        assert!(list.insert(ban("address:198.51.100.0/24", Some(900))));
        assert!(list.is_banned(ip("198.51.100.1"), None, 800).is_some());
        assert_eq!(list.len(), 3);
        list.prune(1000);
        assert_eq!(list.len(), 2);
        assert!(list.remove(&BanSubject::Consumer("mallory".into())));
        assert!(!list.remove(&BanSubject::Consumer("mallory".into())));
        list.replace(Vec::new());
        assert!(list.is_empty());
    }

    #[tokio::test]
    async fn memory_store_keeps_the_longer_ban() {
        let store = MemoryBans::new();
        assert!(store.add(&ban("consumer:a", Some(300))).await.unwrap());
        assert!(!store.add(&ban("consumer:a", Some(200))).await.unwrap());
        assert!(store.add(&ban("consumer:a", None)).await.unwrap());
        assert_eq!(store.list(1000).await.unwrap().len(), 1);
        assert!(store.add(&ban("consumer:b", Some(150))).await.unwrap());
        assert_eq!(store.list(120).await.unwrap().len(), 2);
        assert_eq!(store.purge_expired(1000).await.unwrap(), 1);
        let subject = BanSubject::Consumer("a".into());
        assert!(store.active(&subject, 5000).await.unwrap().is_some());
        assert!(store.remove(&subject).await.unwrap());
        assert!(store.active(&subject, 5000).await.unwrap().is_none());
    }
}
