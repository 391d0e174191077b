//! Bans and anomaly detection at the gateway.
//!
//! Bans live in the state store (written by `moat bans` and by the
//! detectors) and are mirrored in memory, reloaded every
//! [`BAN_REFRESH`], so checking one costs a hash lookup. Every finished
//! request is shown to the anomaly detectors; an event is logged as a
//! security event, counted in `moat_security_events_total`, and — when the
//! detector's config says so — bans its subject for a while.

use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use moat_guard::anomaly::{AnomalyEngine, EventSubject, Observation, SecurityEvent};
use moat_state::{Ban, BanList, BanStore, BanSubject, IpPrefix, UnixTime, unix_now};

use crate::telemetry;

/// How often the ban list is reloaded from the store.
pub const BAN_REFRESH: Duration = Duration::from_secs(2);

/// Bans and detectors, kept across reloads.
pub struct Abuse {
    bans: RwLock<BanList>,
    store: Option<Arc<dyn BanStore>>,
    engine: Option<AnomalyEngine>,
}

impl Abuse {
    /// `store` holds the bans (none: bans live only in memory); `engine`
    /// runs the detectors (none: detection is off).
    pub fn new(store: Option<Arc<dyn BanStore>>, engine: Option<AnomalyEngine>) -> Self {
        Self {
            bans: RwLock::new(BanList::new()),
            store,
            engine,
        }
    }

    /// The ban on `client` or `consumer` in force now, and how long it has
    /// left (`None`: permanent).
    pub fn banned(&self, client: IpAddr, consumer: Option<&str>) -> Option<Option<Duration>> {
        let now = unix_now();
        let bans = self.bans.read().unwrap_or_else(PoisonError::into_inner);
        let ban = bans.is_banned(client, consumer, now)?;
        Some(ban.expires_at.map(|at| {
            Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0).max(1))
        }))
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
        for event in engine.observe(obs) {
            self.report(api, &event).await;
        }
    }

    /// Forgets detector state that has run out.
    pub fn purge(&self, now_ms: u64) {
        if let Some(engine) = &self.engine {
            engine.purge(now_ms);
        }
    }

    async fn report(&self, api: &str, event: &SecurityEvent) {
        telemetry::security_event(event.detector);
        let subject = match &event.subject {
            EventSubject::Address { ip, prefix } => format!("address {ip}/{prefix}"),
            EventSubject::Consumer(c) => format!("consumer {c}"),
            EventSubject::Credential(label) => format!("credential {label}"),
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
            "security event: {}",
            event.summary
        );
        let Some(ban_for) = event.ban else {
            return;
        };
        let subject = match &event.subject {
            EventSubject::Address { ip, prefix } => match IpPrefix::new(*ip, *prefix) {
                Some(p) => BanSubject::Address(p),
                None => return,
            },
            EventSubject::Consumer(c) => BanSubject::Consumer(c.clone()),
            EventSubject::Credential(_) => return,
        };
        let now = unix_now();
        let ban = Ban {
            subject,
            reason: event.summary.clone(),
            source: event.detector.to_string(),
            created_at: now,
            expires_at: Some(now + UnixTime::try_from(ban_for.as_secs()).unwrap_or(3600)),
        };
        self.bans
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ban.clone());
        if let Some(store) = &self.store
            && let Err(e) = store.add(&ban).await
        {
            tracing::error!(error = %e, "cannot store a ban; it holds on this node only");
        }
    }
}
