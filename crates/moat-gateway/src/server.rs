//! Starting, reloading and stopping the gateway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use moat_config::{Diagnostic, Diagnostics, ListenerConfig, LoadedConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::access_log::AccessLog;
use crate::executor::{self, Workers};
use crate::limits::Limiter;
use crate::pipeline::Shared;
use crate::runtime::{Purpose, Runtime};
use crate::state::GatewayState;
use crate::{admin, listener, reload, telemetry};

/// Produces a validated config: from a file for `moat serve`, from a file
/// plus overrides for `moat demo`. Called again on every reload.
pub type ConfigLoader = Arc<dyn Fn() -> Result<LoadedConfig, Diagnostics> + Send + Sync>;

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config or a document it references is invalid.
    #[error("{0}")]
    Config(Diagnostics),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log: {0}")]
    AccessLog(std::io::Error),
    /// The worker threads could not be started.
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
    /// The admin API's own document does not compile (a defect of the
    /// build, not of the config).
    #[error("the admin API's document is invalid: {0}")]
    AdminApi(String),
}

/// What a reload can run into besides an invalid config.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid; the old one keeps serving.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// Listener sockets cannot change without a restart.
    #[error("the listeners changed (address, TLS or redirect); restart moat to apply that")]
    ListenersChanged,
    /// The rate-limit stores cannot change without a restart.
    #[error("`rate_limiting` changed (backend, Redis or max_keys); restart moat to apply that")]
    LimiterChanged,
    /// The state is opened once, at start-up.
    #[error("`state` changed; restart moat to apply that")]
    StateChanged,
    /// The reload task could not run.
    #[error("reload failed to run")]
    Aborted,
}

/// The part of the gateway that reloads share.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    loader: ConfigLoader,
    listener_shape: Vec<ListenerShape>,
    reloading: tokio::sync::Mutex<()>,
}

/// What of a listener cannot change while its socket is open.
#[derive(Debug, PartialEq, Eq)]
struct ListenerShape {
    bind: SocketAddr,
    backlog: u32,
    tls: bool,
    redirect: Option<u16>,
}

fn shapes(listeners: &[ListenerConfig]) -> Vec<ListenerShape> {
    listeners
        .iter()
        .map(|l| ListenerShape {
            bind: l.bind,
            backlog: l.backlog,
            tls: l.tls.is_some(),
            redirect: l.redirect_to_https.as_ref().map(|r| r.port),
        })
        .collect()
}

impl Core {
    /// Loads, validates and compiles the config again and swaps it in. A bad
    /// config changes nothing. `by` names who asked (`signal:SIGHUP`,
    /// `file-watch`, `token:<name>`): the audit event says it.
    pub(crate) async fn reload(&self, by: &str) -> Result<(), ReloadError> {
        let result = self.reload_quietly(by).await;
        if result.is_ok() {
            // The other nodes of a cluster reload their own files too.
            let digest = config_digest(&self.shared.runtime.load());
            self.shared
                .state
                .notify(moat_state::notices::Notice::ConfigChanged { digest })
                .await;
        }
        result
    }

    /// [`Self::reload`], without telling the other nodes: for a reload
    /// that another node's notice asked for.
    async fn reload_quietly(&self, by: &str) -> Result<(), ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        let loader = self.loader.clone();
        let loaded = tokio::task::spawn_blocking(move || loader())
            .await
            .map_err(|_| ReloadError::Aborted)?;
        let built = match loaded {
            Ok(loaded) => {
                let current = self.shared.runtime.load_full();
                let state = Some(self.shared.state.as_ref());
                Runtime::build_replacing(loaded, Purpose::Serve, Some(&current), state).await
            }
            Err(d) => Err(d),
        };
        let result = match built {
            Err(d) => Err(ReloadError::Invalid(d)),
            Ok(rt) if shapes(rt.listeners()) != self.listener_shape => {
                Err(ReloadError::ListenersChanged)
            }
            Ok(rt) if !self.shared.limiter.fits(&rt.loaded.config.rate_limiting) => {
                Err(ReloadError::LimiterChanged)
            }
            Ok(rt) if !self.shared.state.fits(&rt.loaded.config.state) => {
                Err(ReloadError::StateChanged)
            }
            Ok(rt) => {
                log_warnings(&rt);
                self.shared.runtime.store(Arc::new(rt));
                Ok(())
            }
        };
        match &result {
            Ok(()) => {
                telemetry::reload("success");
                tracing::info!(by, "config reloaded");
                let action = moat_state::events::admin::AdminAction::ConfigReloaded;
                self.shared
                    .events
                    .emit(moat_state::events::admin::event(&action, by));
            }
            Err(e) => {
                telemetry::reload("failure");
                tracing::error!(
                    by,
                    "config reload refused; the previous config keeps serving:\n{e}"
                );
                self.shared
                    .events
                    .emit(crate::events::reload_refused(by, e));
            }
        }
        result
    }

    /// Files whose change triggers a reload.
    pub(crate) fn watched_files(&self) -> Vec<std::path::PathBuf> {
        self.shared.runtime.load().watched_files()
    }
}

/// A running gateway.
pub struct Gateway {
    core: Arc<Core>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    listen_addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    _watcher: Option<reload::Watcher>,
    /// Ends the event writer once the listeners are done.
    close_events: watch::Sender<bool>,
    event_writer: Option<tokio::task::JoinHandle<()>>,
    /// Writes captured shapes; ends with the event writer.
    recorder: Option<tokio::task::JoinHandle<()>>,
    /// Dropped last: the workers' runtimes end with the gateway.
    _workers: Option<Workers>,
}

impl Gateway {
    /// Loads the config, binds every listener and starts serving.
    pub async fn start(loader: ConfigLoader) -> Result<Self, StartError> {
        crate::tls::install_default_provider();
        telemetry::install();
        let load = loader.clone();
        let loaded = tokio::task::spawn_blocking(move || load())
            .await
            .map_err(|_| StartError::Config(Diagnostics::default()))?
            .map_err(StartError::Config)?;
        // Settings the state's clients would refuse are not tried: the
        // compile below reports them.
        let opened = if crate::runtime::state_problems(&loaded).0.is_empty() {
            state_store(&loaded).await
        } else {
            Err(StartError::Config(Diagnostics::default()))
        };
        let state = match opened {
            Ok(state) => state,
            Err(StartError::Config(mut found)) => {
                // With every other problem of the config, as `moat check`
                // reports them.
                if let Err(more) = Runtime::build_for(loaded, Purpose::Check).await {
                    found.0.extend(more.0);
                }
                return Err(StartError::Config(found));
            }
            Err(e) => return Err(e),
        };
        let runtime = Runtime::build(loaded, &state)
            .await
            .map_err(StartError::Config)?;
        log_warnings(&runtime);
        let cfg = runtime.loaded.config.clone();
        let access_log = AccessLog::open(&cfg.access_log).map_err(StartError::AccessLog)?;
        let lockout = lockout_store(&runtime, &state).await?;
        let limiter = limiter(&runtime, &state).await?;
        let (events, event_writer) = events(&runtime, &state)?;
        let abuse = abuse(&runtime, &state, &events).await?;
        let (capture, recorder) = capture(&runtime, &state).await;
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            access_log,
            lockout,
            limiter,
            in_flight: Arc::default(),
            abuse,
            events,
            traffic: Arc::default(),
            capture,
            state: state.clone(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        // The event writer stops last, after the listeners have answered
        // every request in flight, so that it writes their events too.
        let (close_events, close_events_rx) = watch::channel(false);
        let recorder = recorder.map(|r| tokio::spawn(r.run(close_events_rx.clone())));
        let event_writer = event_writer.map(|w| tokio::spawn(w.run(close_events_rx)));

        let mut sockets = Vec::new();
        for l in &cfg.listeners {
            let socket = listener::bind(l.bind, l.backlog).map_err(|source| StartError::Bind {
                addr: l.bind,
                source,
            })?;
            sockets.push(socket);
        }
        let admin_socket = match &cfg.admin {
            Some(a) => {
                Some(
                    TcpListener::bind(a.bind)
                        .await
                        .map_err(|source| StartError::Bind {
                            addr: a.bind,
                            source,
                        })?,
                )
            }
            None => None,
        };

        // One worker: the listeners are served on this runtime. More: on
        // worker threads of their own (crate::executor).
        let workers = match executor::count() {
            1 => None,
            n => Some(Workers::start(n).map_err(StartError::Workers)?),
        };
        let runtimes = match &workers {
            None => vec![tokio::runtime::Handle::current()],
            Some(workers) => workers.handles().to_vec(),
        };
        let mut listen_addrs = Vec::new();
        for (i, (socket, l)) in sockets.into_iter().zip(cfg.listeners.iter()).enumerate() {
            let bound = |source| StartError::Bind {
                addr: l.bind,
                source,
            };
            let addr = socket.local_addr().map_err(bound)?;
            listen_addrs.push(addr);
            let socket = socket.into_std().map_err(bound)?;
            let gate = listener::Gate::new(l);
            let serve = |socket| {
                listener::serve(
                    socket,
                    i,
                    l.clone(),
                    gate.clone(),
                    shared.clone(),
                    shutdown_rx.clone(),
                    cfg.shutdown.grace_period,
                )
            };
            for runtime in &runtimes {
                tasks.spawn_on(serve(socket.try_clone().map_err(bound)?), runtime);
            }
        }
        let ready = Arc::new(AtomicBool::new(false));
        tasks.spawn(upkeep(shared.clone(), shutdown_rx.clone()));
        tasks.spawn(refresh_bans(shared.clone(), shutdown_rx.clone()));
        tasks.spawn(watch_state(shared.clone(), shutdown_rx.clone()));

        let core = Arc::new(Core {
            listener_shape: shapes(&cfg.listeners),
            shared: shared.clone(),
            loader,
            reloading: tokio::sync::Mutex::new(()),
        });
        tasks.spawn(follow_notices(core.clone(), shutdown_rx.clone()));
        let admin_addr = match admin_socket {
            Some(socket) => {
                let addr = socket.local_addr().ok();
                let tls = shared.runtime.load().admin_tls().cloned();
                let router = admin::router(
                    shared.clone(),
                    ready.clone(),
                    core.clone(),
                    shutdown_rx.clone(),
                )
                .map_err(StartError::AdminApi)?;
                tasks.spawn(admin::serve(socket, router, tls, shutdown_rx.clone()));
                addr
            }
            None => None,
        };
        let watcher = if cfg.reload.watch {
            match reload::Watcher::start(core.clone(), cfg.reload.debounce, shutdown_rx) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch config files; reload with SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        ready.store(true, Ordering::Release);
        Ok(Self {
            core,
            shutdown,
            tasks,
            listen_addrs,
            admin_addr,
            _watcher: watcher,
            close_events,
            event_writer,
            recorder,
            _workers: workers,
        })
    }

    /// The bound addresses of the listeners, in config order.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// The bound address of the admin listener.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Reloads the config now.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        self.core.reload("api").await
    }

    /// Stops accepting and drains connections (up to the grace period), then
    /// returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        // Every request is answered: write the events still queued.
        let _ = self.close_events.send(true);
        if let Some(writer) = self.event_writer.take() {
            let _ = writer.await;
        }
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.await;
        }
        // Every request has its line queued: write them before exiting.
        let log = self.core.shared.access_log.clone();
        let _ = tokio::task::spawn_blocking(move || log.flush()).await;
    }

    /// Serves until SIGTERM or SIGINT (then shuts down gracefully), reloading
    /// on SIGHUP and reopening the access log on SIGUSR1.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading config");
                    let _ = self.core.reload("signal:SIGHUP").await;
                }
                _ = usr1.recv() => {
                    tracing::info!("SIGUSR1: reopening the access log");
                    self.core.shared.access_log.reopen();
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        tracing::info!("shutting down");
        self.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The lockout store from the start-up config (kept across reloads): in
/// the cluster's Redis (with a local fallback) or in this process.
async fn lockout_store(
    rt: &Runtime,
    state: &GatewayState,
) -> Result<Option<Arc<dyn moat_state::LockoutStore>>, StartError> {
    let cfg = &rt.loaded.config.lockout;
    if !cfg.enabled {
        return Ok(None);
    }
    let policy = moat_state::LockoutPolicy {
        max_failures: cfg.max_failures,
        credential_max_failures: cfg.credential_max_failures,
        window: cfg.window,
        base_lockout: cfg.base_lockout,
        max_lockout: cfg.max_lockout,
    };
    let store: Result<Arc<dyn moat_state::LockoutStore>, _> = match &state.redis {
        Some(conn) => moat_state::lockout::RedisLockout::new(conn.clone(), policy)
            .await
            .map(|s| Arc::new(s) as Arc<dyn moat_state::LockoutStore>),
        None => moat_state::MemoryLockout::new(policy)
            .map(|s| Arc::new(s) as Arc<dyn moat_state::LockoutStore>),
    };
    match store {
        Ok(store) => Ok(Some(store)),
        Err(e) => Err(StartError::Config(
            rt.loaded
                .document
                .error_at("/lockout", e.to_string())
                .with_hint("thresholds are 1 to 100; durations above zero; max_lockout at least base_lockout")
                .into(),
        )),
    }
}

/// The state (the SQLite file or the cluster's PostgreSQL), opened once at
/// start-up and kept across reloads.
async fn state_store(loaded: &LoadedConfig) -> Result<Arc<GatewayState>, StartError> {
    use crate::state::OpenError;
    let error = |pointer: &str, message: String, hint: &str| {
        StartError::Config(
            loaded
                .document
                .secret_error_at(pointer, message)
                .with_hint(hint)
                .into(),
        )
    };
    match GatewayState::open(loaded).await {
        Ok(state) => Ok(Arc::new(state)),
        Err(OpenError::Durable(message)) => Err(match loaded.config.state.backend {
            moat_config::StateBackend::Embedded => error(
                "/state/sqlite",
                format!("cannot open the state store: {message}"),
                "the directory must exist and be writable by the user moat runs as",
            ),
            moat_config::StateBackend::Cluster => error(
                "/state/postgres/url",
                format!("cannot open the state store: {message}"),
                "check that PostgreSQL runs and that the URL, user and password are right",
            ),
        }),
        Err(OpenError::Redis(message)) => Err(error(
            "/state/redis/url",
            format!("cannot use the cluster's Redis: {message}"),
            "a cluster node starts only with its Redis reachable; check the URL, password and `ca`",
        )),
    }
}

/// The rate-limit and quota stores from the start-up config (kept across
/// reloads); quotas go to `state` unless Redis holds them.
async fn limiter(rt: &Runtime, state: &GatewayState) -> Result<Arc<Limiter>, StartError> {
    let cfg = &rt.loaded.config;
    let quotas = (cfg.rate_limiting.backend == moat_config::LimitBackend::Memory)
        .then(|| state.quotas.clone());
    let shared = crate::limits::connect_shared(&cfg.rate_limiting)
        .await
        .map_err(|message| {
            StartError::Config(
                rt.loaded
                    .document
                    .error_at("/rate_limiting/redis", message)
                    .with_hint("`backend: redis` needs `redis.url` (redis://host:port/db)")
                    .into(),
            )
        })?;
    Ok(Arc::new(Limiter::new(&cfg.rate_limiting, quotas, shared)))
}

/// Bans (from the state file, which `moat bans` writes) and the anomaly
/// detectors, from the start-up config.
async fn abuse(
    rt: &Runtime,
    state: &GatewayState,
    events: &Arc<crate::events::Events>,
) -> Result<Arc<crate::abuse::Abuse>, StartError> {
    let cfg = &rt.loaded.config;
    let engine = moat_guard::anomaly::AnomalyEngine::new(&cfg.anomaly).map_err(|e| {
        StartError::Config(
            rt.loaded
                .document
                .error_at("/anomaly", e.to_string())
                .with_hint("thresholds and windows must be above zero")
                .into(),
        )
    })?;
    let abuse = crate::abuse::Abuse::new(Some(state.bans.clone()), Some(engine))
        .with_events(events.clone())
        .with_shared_bans(state.detector_bans.clone());
    abuse.refresh().await;
    abuse.load_shared().await;
    let abuse = Arc::new(abuse);
    if let Some(conn) = &state.redis {
        crate::anomaly_share::start(&abuse, conn.clone());
    }
    Ok(abuse)
}

/// Capture (`discovery.capture`) from the start-up config, starting from
/// the operations the state file holds, and its recorder.
async fn capture(
    rt: &Runtime,
    state: &GatewayState,
) -> (
    Arc<crate::capture::Capture>,
    Option<crate::capture::Recorder>,
) {
    let cfg = &rt.loaded.config.discovery.capture;
    if !cfg.enabled {
        return (Arc::new(crate::capture::Capture::disabled()), None);
    }
    let stored = match state.discovery.discovered().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "cannot read discovered operations; capture starts empty");
            Vec::new()
        }
    };
    crate::capture::Capture::start(cfg, state.discovery.clone(), stored)
}

/// The event queue and its writer, from the start-up config: events go to
/// the state file (the audit trail) unless its store is off, and to the
/// configured sinks.
fn events(
    rt: &Runtime,
    state: &GatewayState,
) -> Result<(Arc<crate::events::Events>, Option<crate::events::Writer>), StartError> {
    let cfg = &rt.loaded.config.events;
    if !cfg.enabled {
        return Ok((Arc::new(crate::events::Events::disabled()), None));
    }
    let store = cfg.store.enabled.then(|| state.events.clone());
    let retention = moat_state::events::Retention {
        max_age_ms: Some(i64::try_from(cfg.store.max_age.as_millis()).unwrap_or(i64::MAX)),
        max_events: Some(cfg.store.max_events),
        max_bytes: Some(cfg.store.max_bytes),
    };
    let sinks = crate::events::sinks_of(cfg, rt.trust()).map_err(|(pointer, e)| {
        // A webhook URL is a secret: its line is not quoted.
        StartError::Config(
            rt.loaded
                .document
                .secret_error_at(&pointer, e.to_string())
                .with_hint("the events file's directory must exist and be writable; webhooks must be https (http only to loopback)")
                .into(),
        )
    })?;
    let coalesce = cfg.coalesce.enabled.then_some(&cfg.coalesce);
    let (events, writer) =
        crate::events::Events::start(cfg.queue, store, sinks, Some(retention), coalesce);
    Ok((events, Some(writer.with_buffer(cfg.store.buffer))))
}

/// What the other nodes tell this one: drop a changed key from the cache,
/// reload the bans, apply a detector's ban, reload the config; and after
/// notices may have been missed (a reconnection to Redis, a receiver
/// that fell behind), revalidate every cached key and reload every ban.
async fn follow_notices(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    use moat_state::notices::Notice;
    use tokio::sync::broadcast::error::RecvError;
    let shared = core.shared.clone();
    let mut notices = shared.state.notices.subscribe();
    loop {
        let notice = tokio::select! {
            notice = notices.recv() => notice,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        };
        match notice {
            Ok(Notice::KeyChanged { key_id }) => shared.state.keys.invalidate(&key_id),
            Ok(Notice::BansChanged) => shared.abuse.refresh().await,
            Ok(Notice::DetectorBan(ban)) => shared.abuse.apply_shared(&ban),
            Ok(Notice::ConfigChanged { digest }) => {
                if digest != config_digest(&shared.runtime.load()) {
                    tracing::info!("another node reloaded its config; reloading this node's");
                    let _ = core.reload_quietly("notice:config-changed").await;
                    if digest != config_digest(&shared.runtime.load()) {
                        tracing::warn!(
                            "this node's config files differ from those another node reloaded"
                        );
                    }
                }
            }
            Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => {
                shared.state.keys.resync();
                shared.abuse.refresh().await;
                shared.abuse.load_shared().await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// A digest of the config file and every file it names (documents,
/// certificates): equal on two nodes when they run the same config.
fn config_digest(rt: &Runtime) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for file in rt.watched_files() {
        match std::fs::read(&file) {
            Ok(bytes) => ctx.update(&bytes),
            Err(_) => ctx.update(b"\0unreadable"),
        }
        ctx.update(&[0]);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Pings the state store every [`crate::state::PING_EVERY`], for
/// readiness.
async fn watch_state(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(crate::state::PING_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {
                shared.state.check().await;
                shared.limiter.probe_shared().await;
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Reloads the ban list every [`crate::abuse::BAN_REFRESH`].
async fn refresh_bans(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(crate::abuse::BAN_REFRESH);
    loop {
        tokio::select! {
            _ = every.tick() => shared.abuse.refresh().await,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Periodic chores: histogram upkeep, closing idle upstream connections,
/// writing API keys' last-used times (so
/// they are at most this interval stale, and flushed once more on
/// shutdown), and dropping idle rate-limit keys.
async fn upkeep(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
        };
        telemetry::upkeep();
        let runtime = shared.runtime.load_full();
        runtime.sweep_upstreams();
        runtime.flush_last_used().await;
        let limiter = &shared.limiter;
        limiter.memory().sweep();
        let stats = limiter.memory().stats();
        telemetry::limiter_state(stats.keys, stats.evicted_live, limiter.shared_is_up());
        shared.abuse.purge(
            u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(0),
        );
        if stopping {
            return;
        }
    }
}

/// What `moat check` found in a valid config.
#[derive(Debug)]
pub struct CheckReport {
    /// APIs served.
    pub apis: usize,
    /// Documented operations, all APIs together.
    pub operations: usize,
    /// Likely mistakes that do not stop the config working.
    pub warnings: Vec<Diagnostic>,
}

/// Runs the compile `moat serve` runs on a config, without starting
/// anything: what `moat check` runs. No file is created (API keys and
/// learned owners are compiled against in-memory stores) and no connection
/// is made (remote JWT keys are not fetched; Redis is reached only by a
/// gateway that starts).
pub async fn check(loaded: LoadedConfig) -> Result<CheckReport, Diagnostics> {
    let rt = Runtime::build_for(loaded, Purpose::Check).await?;
    Ok(CheckReport {
        apis: rt.api_count(),
        operations: rt.operation_count(),
        warnings: rt.warnings.clone(),
    })
}

/// Logs the runtime's warnings (at start and at each reload), and
/// exports the weak-secret overrides in force as metrics.
fn log_warnings(rt: &Runtime) {
    for w in &rt.warnings {
        tracing::warn!("{w}");
    }
    telemetry::clear_weak_secret_overrides();
    for (api, w) in rt.weak_secret_overrides() {
        telemetry::weak_secret_override(api, &w.scheme, w.until_unix);
    }
}

impl From<Diagnostic> for StartError {
    fn from(d: Diagnostic) -> Self {
        StartError::Config(d.into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_validation_bounds_lockout_like_the_store() {
        // `moat check` and `moat serve` refuse a lockout threshold in config
        // validation; the store must accept everything validation accepts.
        assert_eq!(
            moat_config::load::MAX_LOCKOUT_FAILURES,
            moat_state::lockout::MAX_FAILURE_THRESHOLD
        );
    }

    #[test]
    fn config_validation_bounds_json_depth_like_the_parser() {
        // A `request_limits.json.max_depth` above what the request view's
        // parser can honour would be a limit that does not hold.
        assert_eq!(
            moat_config::load::MAX_JSON_DEPTH,
            moat_guard::request::json::MAX_DEPTH_LIMIT
        );
    }
}
