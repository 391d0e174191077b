//! The state a serving gateway uses, opened once at start-up and kept
//! across reloads: the durable store (the SQLite file, or a cluster's
//! PostgreSQL) behind its traits, with the API key cache in front of it.
//!
//! Every part of the gateway reaches state through [`GatewayState`], so
//! the same code serves one node or a cluster.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moat_config::{LoadedConfig, StateConfig};
use moat_state::detector_bans::RedisDetectorBans;
use moat_state::events::EventStore;
use moat_state::limits::QuotaStore;
use moat_state::notices::{LocalNotices, Notice, NoticeSink, Notices};
use moat_state::redis_conn::{RedisConn, RedisOptions};
use moat_state::{
    AdminTokenStore, BanStore, CachedKeyStore, DiscoveryStore, KeyCacheSettings, KeyLookup,
    KeyStore, OwnershipStore,
};

use crate::telemetry;

/// The durable store's parts, as trait objects.
pub(crate) struct GatewayState {
    /// Where state lives, for messages (never a password).
    pub(crate) name: String,
    /// The settings it was opened with (secrets included; never shown).
    settings: String,
    /// API keys, through the cache.
    pub(crate) keys: Arc<CachedKeyStore>,
    /// Learned object owners.
    pub(crate) owners: Arc<dyn OwnershipStore>,
    /// Operator and automatic bans.
    pub(crate) bans: Arc<dyn BanStore>,
    /// Security events and the audit chain.
    pub(crate) events: Arc<dyn EventStore>,
    /// Admin API tokens.
    pub(crate) admin_tokens: Arc<dyn AdminTokenStore>,
    /// Operations discovered in traffic.
    pub(crate) discovery: Arc<dyn DiscoveryStore>,
    /// Quota counters, when they are not in Redis.
    pub(crate) quotas: Arc<dyn QuotaStore>,
    durable: moat_state::DurableStore,
    /// Notices to and from the other nodes (this process alone when
    /// embedded).
    pub(crate) notices: Arc<dyn NoticeSink>,
    /// The cluster's Redis (lockouts, detector bans), when clustered.
    pub(crate) redis: Option<RedisConn>,
    /// Detector bans shared by the cluster.
    pub(crate) detector_bans: Option<RedisDetectorBans>,
    /// Whether the durable store answered its last ping, and if not, why.
    durable_problem: Problem,
    /// Whether the cluster's Redis answered its last ping, and if not, why.
    redis_problem: Problem,
}

/// How often the durable store is pinged for readiness.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(1);

impl GatewayState {
    /// Opens the store the config names (creating and migrating a SQLite
    /// file; connecting to PostgreSQL and, with `migrate: on_start`,
    /// migrating it). The error is a message for the `/state` section.
    pub(crate) async fn open(loaded: &LoadedConfig) -> Result<Self, OpenError> {
        let cfg = &loaded.config.state;
        let durable = moat_state::DurableStore::open(&durable_target(cfg))
            .await
            .map_err(|e| OpenError::Durable(e.to_string()))?;
        let mut state = Self::over(durable, cfg);
        if let Some(redis) = cluster_redis(cfg) {
            let failed = |e: moat_state::StoreError| OpenError::Redis(e.to_string());
            let conn = RedisConn::connect(&redis).await.map_err(failed)?;
            // The subscriber connects in the background and resyncs
            // whenever it (re)connects.
            let notices = Notices::on(conn.clone());
            state.detector_bans = Some(RedisDetectorBans::new(conn.clone()).await.map_err(failed)?);
            state.redis = Some(conn);
            state.notices = Arc::new(notices);
        }
        Ok(state)
    }

    fn over(durable: moat_state::DurableStore, cfg: &StateConfig) -> Self {
        let settings = KeyCacheSettings {
            revalidate: cfg.key_cache.revalidate,
            stale_if_error: cfg.key_cache.stale_if_error,
            max_entries: cfg.key_cache.max_entries,
        };
        let observer: Arc<dyn Fn(KeyLookup) + Send + Sync> = Arc::new(telemetry::key_lookup);
        let keys = CachedKeyStore::new(durable.keys(), settings).with_observer(observer);
        Self {
            name: durable.name(),
            settings: settings_of(cfg),
            keys: Arc::new(keys),
            owners: durable.owners(),
            bans: durable.bans(),
            events: durable.events(),
            admin_tokens: durable.admin_tokens(),
            discovery: durable.discovery(),
            quotas: durable.quotas(),
            durable,
            notices: Arc::new(LocalNotices::new()),
            redis: None,
            detector_bans: None,
            durable_problem: Problem::default(),
            redis_problem: Problem::default(),
        }
    }

    /// Tells every node (this one too) that `notice` happened. A notice
    /// that cannot be sent is logged: the caches' revalidation and the ban
    /// refresh still bring every node up to date, only later.
    pub(crate) async fn notify(&self, notice: Notice) {
        if let Err(e) = self.notices.publish(&notice).await {
            tracing::warn!(error = %e, ?notice, "cannot tell the other nodes; they catch up within seconds");
        }
    }

    /// Whether `cfg` names the state this gateway opened: a reload cannot
    /// change it.
    pub(crate) fn fits(&self, cfg: &StateConfig) -> bool {
        self.settings == settings_of(cfg)
    }

    /// The keys as the key manager takes them.
    pub(crate) fn key_store(&self) -> Arc<dyn KeyStore> {
        self.keys.clone()
    }

    /// Pings the durable store and remembers the answer for readiness;
    /// logs a change of state once, not every ping.
    pub(crate) async fn check(&self) {
        let answer = tokio::time::timeout(PING_EVERY, self.durable.ping()).await;
        let problem = match answer {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "no answer within {}",
                humantime::format_duration(PING_EVERY)
            )),
        };
        let what = format!("the state store ({})", self.name);
        self.durable_problem.set(problem, &what);
        if let Some(redis) = &self.redis {
            let problem = redis.ping().await.err().map(|e| e.to_string());
            self.redis_problem.set(problem, "the cluster's Redis");
        }
    }

    /// Why the state is degraded, if it is: the durable store, the
    /// cluster's Redis, or both.
    pub(crate) fn problems(&self) -> Vec<String> {
        let durable = format!("the state store ({})", self.name);
        [
            self.durable_problem.describe(&durable),
            self.redis_problem.describe("the cluster's Redis"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Why a backend did not answer its last ping, if it did not; a change is
/// logged once, not every ping.
#[derive(Default)]
struct Problem(Mutex<Option<String>>);

impl Problem {
    fn set(&self, problem: Option<String>, what: &str) {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match (&problem, last.is_some()) {
            (Some(p), false) => tracing::error!(problem = %p, "{what} is unreachable"),
            (None, true) => tracing::info!("{what} answers again"),
            _ => {}
        }
        *last = problem;
    }

    fn describe(&self, what: &str) -> Option<String> {
        let last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_ref().map(|p| format!("{what} is unreachable: {p}"))
    }
}

/// Every setting of the `state` section, compared across reloads.
fn settings_of(cfg: &StateConfig) -> String {
    let redis = cfg
        .redis
        .as_ref()
        .map(|r| format!("{}|{}|{:?}|{:?}", r.url.expose(), r.prefix, r.timeout, r.ca));
    let pg = cfg.postgres.as_ref().map(|p| {
        format!(
            "{}|{}|{:?}|{:?}",
            p.url.expose(),
            p.max_connections,
            p.timeout,
            p.migrate
        )
    });
    let cache = &cfg.key_cache;
    format!(
        "{:?}|{}|{pg:?}|{redis:?}|{:?}|{:?}|{}",
        cfg.backend,
        cfg.sqlite.display(),
        cache.revalidate,
        cache.stale_if_error,
        cache.max_entries
    )
}

/// What stops the state from opening.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The SQLite file or PostgreSQL.
    Durable(String),
    /// The cluster's Redis.
    Redis(String),
}

/// The Redis of a cluster, as the Redis users take it.
pub(crate) fn cluster_redis(cfg: &StateConfig) -> Option<RedisOptions> {
    let redis = cfg
        .redis
        .as_ref()
        .filter(|_| cfg.backend == moat_config::StateBackend::Cluster)?;
    Some(crate::limits::redis_options(redis))
}

/// The durable store the `state` section names.
pub fn durable_target(cfg: &StateConfig) -> moat_state::DurableTarget {
    match (&cfg.backend, &cfg.postgres) {
        (moat_config::StateBackend::Cluster, Some(pg)) => moat_state::DurableTarget::Postgres {
            options: moat_state::PostgresOptions {
                url: pg.url.expose().to_string(),
                max_connections: pg.max_connections,
                timeout: pg.timeout,
            },
            migrate: pg.migrate == moat_config::MigratePolicy::OnStart,
        },
        _ => moat_state::DurableTarget::Sqlite(cfg.sqlite.clone()),
    }
}
