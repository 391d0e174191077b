//! Bans and anomaly detection at the gateway.
//!
//! Operator bans live in the state store (written by `moat bans`) and are
//! mirrored in memory, reloaded every [`BAN_REFRESH`], so checking one
//! costs a hash lookup. Every finished request is shown to the anomaly
//! detectors; an event is logged as a security event, counted in
//! `moat_security_events_total`, and — when the detector's config says so
//! — bans its subject for a while, in this node's memory, with the reach
//! its evidence earned (see `auto_bans`).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use moat_guard::anomaly::{AnomalyEngine, BanReach, EventSubject, Observation, SecurityEvent};
use moat_state::detector_bans::{
    DetectorBan, DetectorBanReach, DetectorBanSubject, RedisDetectorBans,
};
use moat_state::{BanList, BanStore, UnixTime, unix_now};

use crate::anomaly_share::Outbox;
use crate::auto_bans::AutoBans;

use crate::telemetry;

/// How often the ban list is reloaded from the store.
pub const BAN_REFRESH: Duration = Duration::from_secs(2);

/// Bans and detectors, kept across reloads.
pub struct Abuse {
    bans: RwLock<BanList>,
    automatic: RwLock<AutoBans>,
    store: Option<Arc<dyn BanStore>>,
    engine: Option<AnomalyEngine>,
    /// Where detector reports go as security events.
    events: Option<Arc<crate::events::Events>>,
    /// Where detector bans are shared with the other nodes of a cluster.
    shared: Option<RedisDetectorBans>,
    /// Where the detectors' touches go to be counted cluster-wide.
    outbox: OnceLock<Outbox>,
}

impl Abuse {
    /// `store` holds the bans (none: bans live only in memory); `engine`
    /// runs the detectors (none: detection is off).
    pub fn new(store: Option<Arc<dyn BanStore>>, engine: Option<AnomalyEngine>) -> Self {
        Self {
            bans: RwLock::new(BanList::new()),
            automatic: RwLock::new(AutoBans::default()),
            store,
            engine,
            events: None,
            shared: None,
            outbox: OnceLock::new(),
        }
    }

    /// The detectors, if on.
    pub(crate) fn engine(&self) -> Option<&AnomalyEngine> {
        self.engine.as_ref()
    }

    /// Sends the detectors' touches to `outbox` from now on; false if
    /// already set.
    pub(crate) fn set_outbox(&self, outbox: Outbox) -> bool {
        self.outbox.set(outbox).is_ok()
    }

    /// Shares the detectors' bans with every node of a cluster, and
    /// applies theirs here.
    pub fn with_shared_bans(mut self, shared: Option<RedisDetectorBans>) -> Self {
        self.shared = shared;
        self
    }

    /// Applies a ban another node's detector imposed.
    pub fn apply_shared(&self, ban: &DetectorBan) {
        let now = unix_now();
        if ban.expires_at <= now {
            return;
        }
        let subject = match &ban.subject {
            DetectorBanSubject::Address { ip, prefix } => EventSubject::Address {
                ip: *ip,
                prefix: *prefix,
            },
            DetectorBanSubject::Consumer { id } => EventSubject::Consumer(id.clone()),
        };
        let reach = match &ban.reach {
            DetectorBanReach::All => BanReach::All,
            DetectorBanReach::Anonymous => BanReach::Anonymous,
            DetectorBanReach::AnonymousObjects { kind } => BanReach::AnonymousObjects(kind.clone()),
        };
        self.automatic
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(&subject, &reach, ban.expires_at, now);
    }

    /// Applies every ban the cluster holds (at start, and after notices
    /// may have been missed).
    pub async fn load_shared(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        match shared.all(unix_now()).await {
            Ok(bans) => bans.iter().for_each(|b| self.apply_shared(b)),
            Err(e) => tracing::warn!(error = %e, "cannot read the cluster's detector bans"),
        }
    }

    /// Reports what the detectors find as security events too.
    pub fn with_events(mut self, events: Arc<crate::events::Events>) -> Self {
        self.events = Some(events);
        self
    }

    /// The ban on every request from `client` in force now (an operator's
    /// ban of the address or its network, or a detector's ban of all the
    /// address sends), and how long it has left (`None`: permanent).
    pub fn banned_address(&self, client: IpAddr) -> Option<Option<Duration>> {
        let now = unix_now();
        self.operator(client, None, now).or_else(|| {
            self.automatic
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .address(client, now)
                .map(Some)
        })
    }

    /// The ban on `consumer` (calling from `client`) in force now.
    pub fn banned_consumer(&self, client: IpAddr, consumer: &str) -> Option<Option<Duration>> {
        let now = unix_now();
        self.operator(client, Some(consumer), now).or_else(|| {
            self.automatic
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .consumer(consumer, now)
                .map(Some)
        })
    }

    /// The detector ban on an anonymous request from `client` naming an
    /// object of `kind` (if any) in force now.
    pub fn banned_anonymous(&self, client: IpAddr, kind: Option<&str>) -> Option<Option<Duration>> {
        self.automatic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .anonymous(client, kind, unix_now())
            .map(Some)
    }

    fn operator(
        &self,
        client: IpAddr,
        consumer: Option<&str>,
        now: UnixTime,
    ) -> Option<Option<Duration>> {
        let bans = self.bans.read().unwrap_or_else(PoisonError::into_inner);
        let ban = bans.is_banned(client, consumer, now)?;
        Some(ban.expires_at.map(|at| {
            Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0).max(1))
        }))
    }

    /// The detector bans in force on this node.
    pub(crate) fn detector_bans(&self) -> Vec<crate::auto_bans::DetectorBan> {
        self.automatic
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .list(unix_now())
    }

    /// Lifts a detector ban by its subject key; whether there was one.
    pub(crate) fn lift_detector_ban(&self, subject: &str) -> bool {
        self.automatic
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .lift(subject)
    }

    /// Reloads the ban list from the store.
    pub async fn refresh(&self) {
        let Some(store) = &self.store else {
            return;
        };
        match store.list(unix_now()).await {
            Ok(list) => {
                let mut bans = self.bans.write().unwrap_or_else(PoisonError::into_inner);
                bans.replace(list);
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload the ban list"),
        }
    }

    /// Shows one finished request to the detectors and acts on what they
    /// report.
    pub async fn observe(&self, api: &str, obs: &Observation<'_>) {
        let Some(engine) = &self.engine else {
            return;
        };
        let Some(outbox) = self.outbox.get() else {
            for event in engine.observe(obs) {
                self.report(api, &event);
            }
            return;
        };
        let mut touches = Vec::new();
        for event in engine.observe_sharing(obs, &mut touches) {
            self.report(api, &event);
        }
        if !touches.is_empty() {
            let api: Arc<str> = Arc::from(api);
            for touch in touches {
                outbox.send(&api, touch);
            }
        }
    }

    /// Forgets detector state that has run out.
    pub fn purge(&self, now_ms: u64) {
        if let Some(engine) = &self.engine {
            engine.purge(now_ms);
        }
    }

    pub(crate) fn report(&self, api: &str, event: &SecurityEvent) {
        telemetry::security_event(event.detector);
        let subject = match &event.subject {
            EventSubject::Address { ip, prefix } => format!("address {ip}/{prefix}"),
            EventSubject::Consumer(c) => format!("consumer {c}"),
            EventSubject::Credential(label) => format!("credential {label}"),
        };
        let reach = match &event.reach {
            BanReach::All => "all requests".to_string(),
            BanReach::Anonymous => "anonymous requests".to_string(),
            BanReach::AnonymousObjects(kind) => format!("anonymous requests for `{kind}` objects"),
        };
        tracing::warn!(
            target: "moat::security",
            api,
            detector = event.detector,
            subject = %subject,
            observed = event.observed,
            threshold = event.threshold,
            window_secs = event.window_secs,
            ban_secs = event.ban.map(|d| d.as_secs()),
            ban_reach = %reach,
            "security event: {}",
            event.summary
        );
        if let Some(events) = &self.events {
            events.emit(crate::events::anomaly(api, event, &subject, &reach));
        }
        let Some(ban_for) = event.ban else {
            return;
        };
        let now = unix_now();
        let expires_at = now.saturating_add(UnixTime::try_from(ban_for.as_secs()).unwrap_or(3600));
        self.automatic
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(&event.subject, &event.reach, expires_at, now);
        if let Some(shared) = &self.shared
            && let Some(ban) = shared_ban(&event.subject, &event.reach, expires_at)
        {
            // Off the request's path; the ban already holds here.
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Err(e) = shared.impose(&ban, now).await {
                    tracing::warn!(error = %e, "cannot share a detector ban; it holds on this node only");
                }
            });
        }
    }
}

/// A detector's ban as the cluster shares it; none for a credential, which
/// is never banned.
fn shared_ban(
    subject: &EventSubject,
    reach: &BanReach,
    expires_at: UnixTime,
) -> Option<DetectorBan> {
    let subject = match subject {
        EventSubject::Address { ip, prefix } => DetectorBanSubject::Address {
            ip: *ip,
            prefix: *prefix,
        },
        EventSubject::Consumer(id) => DetectorBanSubject::Consumer { id: id.clone() },
        EventSubject::Credential(_) => return None,
    };
    let reach = match reach {
        BanReach::All => DetectorBanReach::All,
        BanReach::Anonymous => DetectorBanReach::Anonymous,
        BanReach::AnonymousObjects(kind) => {
            DetectorBanReach::AnonymousObjects { kind: kind.clone() }
        }
    };
    Some(DetectorBan {
        subject,
        reach,
        expires_at,
    })
}
