//! The counters behind rate limits and quotas, kept across reloads, and the
//! decision for one request's limits.
//!
//! Rate limits are counted in this process ([`MemoryLimiter`]) or in Redis;
//! quotas in the SQLite state file or in Redis. When Redis cannot be reached,
//! each limit follows its `fail` mode: `open` limits are decided by this
//! node's own memory limiter, `closed` ones answer `503`.

use std::sync::Arc;
use std::time::Duration;

use moat_config::{LimitBackend, RateLimitingConfig};
use moat_guard::limits::{KeyContext, Limit, LimitRule};
use moat_state::StoreError;
use moat_state::limits::{
    Gcra, LimitCheck, LimitDecision, MemoryLimiter, QuotaStore, RateLimitStore, RedisLimiter,
    SlidingWindow,
};

use crate::telemetry;

/// The stores, created at start-up and kept across reloads.
pub struct Limiter {
    /// Rate limits on a single node, and the fallback when Redis is down.
    memory: Arc<MemoryLimiter>,
    /// Shared rate limits and quotas, when `backend: redis`.
    shared: Option<Arc<SharedBackend>>,
    /// Quotas on a single node (the SQLite state file).
    local_quotas: Option<Arc<dyn QuotaStore>>,
    /// What the stores were made from, to refuse reloads that change it.
    fingerprint: String,
}

/// A backend reached over the network, with its health.
pub struct SharedBackend {
    /// Rate limits.
    pub rates: Arc<dyn RateLimitStore>,
    /// Quotas.
    pub quotas: Arc<dyn QuotaStore>,
    /// Whether the last command succeeded.
    pub is_up: Box<dyn Fn() -> bool + Send + Sync>,
    /// Sends one command, so that `is_up` follows the backend when no
    /// request uses it.
    pub probe: Arc<dyn Probe>,
    /// Rate limits and quotas decided together, in one round trip.
    pub both: Arc<dyn BothStore>,
}

/// A store that decides a request's rate limits and quotas together.
#[async_trait::async_trait]
pub trait BothStore: Send + Sync {
    /// As [`RedisLimiter::acquire_all`]: all or nothing, answers in the
    /// order of `rates`, then of `quotas`.
    async fn acquire_all(
        &self,
        rates: &[LimitCheck<Gcra>],
        quotas: &[LimitCheck<SlidingWindow>],
    ) -> Result<(Vec<LimitDecision>, Vec<LimitDecision>), StoreError>;
}

/// A backend that can be asked whether it answers.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// One command to the backend; its outcome updates `is_up`.
    async fn probe(&self);
}

/// The limits one request took, to give back if a later one refuses.
#[derive(Default)]
pub struct Taken {
    memory: Vec<LimitCheck<Gcra>>,
    shared: Vec<LimitCheck<Gcra>>,
}

/// The answer for a set of limits.
pub enum Verdict<'a> {
    /// Every limit allowed; their decisions, for the `RateLimit` header.
    Allowed(Vec<(&'a Limit, LimitDecision)>),
    /// A limit refused: it, and its decision (with `retry_after`).
    Refused(&'a Limit, LimitDecision),
    /// A `fail: closed` limit's store cannot be reached.
    Unavailable(&'a Limit),
}

impl Limiter {
    /// The stores `cfg` asks for. `quotas` is the SQLite state store, used
    /// for quotas unless the backend is Redis.
    pub fn new(
        cfg: &RateLimitingConfig,
        quotas: Option<Arc<dyn QuotaStore>>,
        shared: Option<Arc<SharedBackend>>,
    ) -> Self {
        Self {
            memory: Arc::new(MemoryLimiter::new(cfg.max_keys)),
            shared,
            local_quotas: quotas,
            fingerprint: fingerprint(cfg),
        }
    }

    /// Whether a reload's `rate_limiting` section can keep these stores.
    pub fn fits(&self, cfg: &RateLimitingConfig) -> bool {
        self.fingerprint == fingerprint(cfg)
    }

    /// The in-memory limiter (for sweeping and metrics).
    pub fn memory(&self) -> &MemoryLimiter {
        &self.memory
    }

    /// Whether the shared backend answers (always true without one).
    pub fn shared_is_up(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| (s.is_up)())
    }

    /// Asks the shared backend whether it answers (readiness follows it
    /// even while no request uses a limit).
    pub async fn probe_shared(&self) {
        if let Some(shared) = &self.shared {
            shared.probe.probe().await;
        }
    }

    /// Decides `limits` for one request, all or nothing. Rate limits come
    /// first, then quotas; a quota refusal gives the rate limits back, as
    /// does a refusal reported later through [`Limiter::refund`].
    pub async fn decide<'a>(
        &self,
        api: &str,
        limits: &[&'a Limit],
        ctx: &KeyContext<'_>,
        taken: &mut Taken,
    ) -> Verdict<'a> {
        let mut rates: Vec<(&Limit, LimitCheck<Gcra>)> = Vec::new();
        let mut quotas: Vec<(&Limit, LimitCheck<SlidingWindow>)> = Vec::new();
        for l in limits {
            let key = l.key_for(ctx);
            match l.rule {
                LimitRule::Rate(rule) => rates.push((l, LimitCheck { key, rule, cost: 1 })),
                LimitRule::Quota(rule) => quotas.push((l, LimitCheck { key, rule, cost: 1 })),
            }
        }
        // Set when the shared store failed this request: each limit's fail
        // mode then decides without asking it again.
        let mut unreachable = false;
        if let Some(shared) = &self.shared
            && !rates.is_empty()
            && !quotas.is_empty()
        {
            // Both kinds on the shared store: one round trip for all.
            let rate_checks: Vec<LimitCheck<Gcra>> = rates.iter().map(|(_, c)| c.clone()).collect();
            let quota_checks: Vec<LimitCheck<SlidingWindow>> =
                quotas.iter().map(|(_, c)| c.clone()).collect();
            match shared.both.acquire_all(&rate_checks, &quota_checks).await {
                Ok((on_rates, on_quotas)) => {
                    let limits = rates
                        .iter()
                        .map(|(l, _)| *l)
                        .chain(quotas.iter().map(|(l, _)| *l));
                    let decided: Vec<(&Limit, LimitDecision)> =
                        limits.zip(on_rates.into_iter().chain(on_quotas)).collect();
                    if let Some((l, d)) = decided.iter().find(|(_, d)| !d.allowed) {
                        // The store kept nothing of this request.
                        self.refund(taken).await;
                        return Verdict::Refused(l, *d);
                    }
                    taken.shared.extend(rate_checks);
                    return Verdict::Allowed(decided);
                }
                Err(e) => {
                    unreachable_store(api, "rate-limit backend unreachable", &e);
                    unreachable = true;
                }
            }
        }
        let mut decided = Vec::with_capacity(limits.len());
        if !rates.is_empty() {
            let checks: Vec<LimitCheck<Gcra>> = rates.iter().map(|(_, c)| c.clone()).collect();
            let answer = match &self.shared {
                None => None,
                Some(_) if unreachable => Some(Err(())),
                Some(shared) => Some(shared.rates.acquire(&checks).await.map_err(|e| {
                    unreachable_store(api, "rate-limit backend unreachable", &e);
                })),
            };
            let (decisions, on_memory) = match answer {
                None => (self.memory.acquire_rate(&checks), true),
                Some(Ok(d)) => (d, false),
                Some(Err(())) => {
                    if let Some((l, _)) = rates.iter().find(|(l, _)| l.fail_closed) {
                        return Verdict::Unavailable(l);
                    }
                    (self.memory.acquire_rate(&checks), true)
                }
            };
            if let Some(i) = decisions.iter().position(|d| !d.allowed) {
                self.refund(taken).await;
                return Verdict::Refused(rates[i].0, decisions[i]);
            }
            if on_memory {
                taken.memory.extend(checks);
            } else {
                taken.shared.extend(checks);
            }
            decided.extend(rates.iter().map(|(l, _)| *l).zip(decisions));
        }
        if !quotas.is_empty() {
            let checks: Vec<LimitCheck<SlidingWindow>> =
                quotas.iter().map(|(_, c)| c.clone()).collect();
            let store = match &self.shared {
                Some(shared) => Some(shared.quotas.clone()),
                None => self.local_quotas.clone(),
            };
            let answer = match store {
                Some(_) if unreachable => Err(()),
                Some(store) => store.acquire(&checks).await.map(Some).map_err(|e| {
                    unreachable_store(api, "quota store unreachable", &e);
                }),
                // Quotas without a store: counted in memory (not persisted).
                None => Ok(Some(self.memory.acquire_quota(&checks))),
            };
            let decisions = match answer {
                Ok(d) => d,
                Err(()) => {
                    if let Some((l, _)) = quotas.iter().find(|(l, _)| l.fail_closed) {
                        self.refund(taken).await;
                        return Verdict::Unavailable(l);
                    }
                    None
                }
            };
            if let Some(decisions) = decisions {
                if let Some(i) = decisions.iter().position(|d| !d.allowed) {
                    self.refund(taken).await;
                    return Verdict::Refused(quotas[i].0, decisions[i]);
                }
                decided.extend(quotas.iter().map(|(l, _)| *l).zip(decisions));
            }
        }
        Verdict::Allowed(decided)
    }

    /// Gives back every rate limit `taken` holds.
    pub async fn refund(&self, taken: &mut Taken) {
        if !taken.memory.is_empty() {
            self.memory.refund_rate(&taken.memory);
            taken.memory.clear();
        }
        if !taken.shared.is_empty() {
            if let Some(shared) = &self.shared
                && let Err(e) = shared.rates.refund(&taken.shared).await
            {
                tracing::debug!(error = %e, "rate-limit refund lost");
            }
            taken.shared.clear();
        }
    }
}

/// The parts of the config the stores are built from. The Redis URL is
/// part of it but never logged.
fn fingerprint(cfg: &RateLimitingConfig) -> String {
    let redis = cfg
        .redis
        .as_ref()
        .map(|r| format!("{}|{:?}|{}|{:?}", r.url.expose(), r.timeout, r.prefix, r.ca))
        .unwrap_or_default();
    let backend = match cfg.backend {
        LimitBackend::Memory => "memory",
        LimitBackend::Redis => "redis",
    };
    format!("{backend}|{}|{redis}", cfg.max_keys)
}

/// A limit store did not answer: counted and logged.
fn unreachable_store(api: &str, what: &str, e: &StoreError) {
    telemetry::limit_backend_error(api);
    crate::log_throttle::warn_throttled!(api, error = %e, "{what}");
}

/// The Redis settings as the Redis users take them.
pub(crate) fn redis_options(
    redis: &moat_config::RedisConfig,
) -> moat_state::redis_conn::RedisOptions {
    moat_state::redis_conn::RedisOptions {
        url: redis.url.expose().to_string(),
        prefix: redis.prefix.clone(),
        timeout: redis.timeout,
        ca: redis.ca.clone(),
    }
}

/// How often idle keys are swept from the memory limiter.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// The shared backend `cfg` names, if any. A Redis that does not answer at
/// start-up does not stop the gateway: limits follow their `fail` mode and
/// the connection is retried in the background until it succeeds.
pub async fn connect_shared(
    cfg: &RateLimitingConfig,
) -> Result<Option<Arc<SharedBackend>>, String> {
    if cfg.backend != LimitBackend::Redis {
        return Ok(None);
    }
    let Some(redis) = &cfg.redis else {
        return Err("`backend: redis` without a `redis` section".to_string());
    };
    let lazy = Arc::new(LazyRedis {
        options: redis_options(redis),
        connected: tokio::sync::OnceCell::new(),
        last_attempt: std::sync::Mutex::new(None),
    });
    if let Err(e) = lazy.get().await {
        tracing::error!(error = %e, "Redis is unreachable; limits follow their `fail` mode until it answers");
    }
    let probe = lazy.clone();
    Ok(Some(Arc::new(SharedBackend {
        rates: lazy.clone(),
        quotas: lazy.clone(),
        probe: lazy.clone(),
        both: lazy,
        is_up: Box::new(move || probe.connected.get().is_some_and(|r| r.is_up())),
    })))
}

/// How often a Redis that could not be reached at all is tried again.
const CONNECT_RETRY: Duration = Duration::from_secs(1);

/// A Redis limiter connected on first success. Once connected, the client
/// reconnects by itself.
struct LazyRedis {
    options: moat_state::redis_conn::RedisOptions,
    connected: tokio::sync::OnceCell<RedisLimiter>,
    last_attempt: std::sync::Mutex<Option<std::time::Instant>>,
}

impl LazyRedis {
    async fn get(&self) -> Result<&RedisLimiter, StoreError> {
        if let Some(r) = self.connected.get() {
            return Ok(r);
        }
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < CONNECT_RETRY) {
                return Err(StoreError::Redis("not connected yet".to_string()));
            }
            *last = Some(std::time::Instant::now());
        }
        self.connected
            .get_or_try_init(|| async {
                let conn = moat_state::redis_conn::RedisConn::connect(&self.options).await?;
                RedisLimiter::new(conn).await
            })
            .await
    }
}

#[async_trait::async_trait]
impl BothStore for LazyRedis {
    async fn acquire_all(
        &self,
        rates: &[LimitCheck<Gcra>],
        quotas: &[LimitCheck<SlidingWindow>],
    ) -> Result<(Vec<LimitDecision>, Vec<LimitDecision>), StoreError> {
        self.get().await?.acquire_all(rates, quotas).await
    }
}

#[async_trait::async_trait]
impl Probe for LazyRedis {
    async fn probe(&self) {
        if let Ok(limiter) = self.get().await {
            let _ = limiter.ping().await;
        }
    }
}

#[async_trait::async_trait]
impl RateLimitStore for LazyRedis {
    async fn acquire(&self, checks: &[LimitCheck<Gcra>]) -> Result<Vec<LimitDecision>, StoreError> {
        RateLimitStore::acquire(self.get().await?, checks).await
    }

    async fn refund(&self, checks: &[LimitCheck<Gcra>]) -> Result<(), StoreError> {
        self.get().await?.refund(checks).await
    }
}

#[async_trait::async_trait]
impl QuotaStore for LazyRedis {
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError> {
        QuotaStore::acquire(self.get().await?, checks).await
    }
}

/// Requests in flight per API and consumer, for
/// `max_concurrent_per_consumer`.
pub type InFlight = crate::slots::Slots<String>;

/// One request's slot in [`InFlight`]; given back when dropped.
pub type InFlightSlot = crate::slots::Slot<String>;
