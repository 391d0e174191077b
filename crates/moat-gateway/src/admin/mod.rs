//! The admin listener: the admin API, the web console, health, readiness
//! and metrics.
//!
//! Loopback by default (another address needs TLS or an explicit
//! `allow_plaintext_remote`). `/healthz` and `/readyz` answer anyone
//! (orchestrators probe them without credentials and they reveal
//! nothing), and so do the console's static files (they hold no data and
//! no secret: the console asks for a token and calls the API with it).
//! Everything else needs an admin token: `/metrics` any role, the API
//! under `/admin/` the role its document names, enforced by moat's own
//! guards from that document ([`guard`]).

mod auth;
mod bans;
mod config;
mod console;
mod discovery;
mod events;
mod guard;
mod inventory;
mod keys;
mod serve;
mod static_files;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use crate::pipeline::Shared;
use crate::server::Core;
use crate::telemetry;

pub(crate) use auth::Caller;
pub use serve::serve;

/// What the admin handlers share.
pub(crate) struct AdminState {
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
    core: Arc<Core>,
    api: guard::AdminApi,
    /// Turns true when the gateway stops: live streams end.
    shutdown: watch::Receiver<bool>,
}

/// The admin router.
pub(crate) fn router(
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
    core: Arc<Core>,
    shutdown: watch::Receiver<bool>,
) -> Result<Router, String> {
    let console_on = shared
        .runtime
        .load()
        .loaded
        .config
        .admin
        .as_ref()
        .is_some_and(|a| a.console);
    let state = Arc::new(AdminState {
        shared,
        ready,
        core,
        api: guard::AdminApi::compile()?,
        shutdown,
    });
    let api = Router::new()
        .route("/admin/session", get(auth::session))
        .route("/admin/events", get(events::list))
        .route("/admin/events/stream", get(events::stream))
        .route("/admin/events/{id}", get(events::one))
        .route("/admin/overview", get(events::overview))
        .route("/admin/inventory", get(inventory::inventory))
        .route("/admin/consumers", get(inventory::consumers))
        .route("/admin/discovery", get(discovery::discovery))
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{key_id}/rotate", post(keys::rotate))
        .route("/admin/keys/{key_id}/revoke", post(keys::revoke))
        .route("/admin/bans", get(bans::list).post(bans::add))
        .route("/admin/bans/lift", post(bans::lift))
        .route("/admin/config", get(config::effective))
        .route("/admin/reload", post(config::reload))
        .route("/admin/openapi.json", get(openapi))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::enforce,
        ));
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api);
    if console_on {
        app = app
            .route("/", get(static_files::redirect))
            .route("/console", get(static_files::redirect))
            .route("/console/", get(static_files::index))
            .route("/console/{*file}", get(static_files::file));
    }
    Ok(app
        .route("/admin", get(|| async { StatusCode::NOT_FOUND }))
        .route_layer(axum::middleware::from_fn(no_store))
        .with_state(state))
}

/// Admin answers are never cached.
async fn no_store(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

/// A problem+json answer.
pub(crate) fn problem(status: StatusCode, slug: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:moat:problem:{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, moat_guard::PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// Alive: always 200 (the gateway serves, limits follow their fail modes),
/// with the reasons it is degraded, if it is.
async fn healthz(State(s): State<Arc<AdminState>>) -> String {
    match degraded(&s) {
        None => "ok\n".to_string(),
        Some(why) => format!("ok (degraded: {why})\n"),
    }
}

/// Ready: 200 once listening and until shutdown starts, 503 otherwise. A
/// node whose shared backends are down still serves (limits, lockouts,
/// bans and keys fall back as documented), so it stays ready; the body
/// says why it is degraded for the operator and the load balancer's log.
async fn readyz(State(s): State<Arc<AdminState>>) -> Response {
    if !s.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response();
    }
    match degraded(&s) {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (StatusCode::OK, format!("ready (degraded: {why})\n")).into_response(),
    }
}

/// Why this node is degraded: the backends it shares that do not answer.
fn degraded(s: &AdminState) -> Option<String> {
    let mut reasons = s.shared.state.problems();
    if !s.shared.limiter.shared_is_up() {
        reasons.push("the rate-limit backend is unreachable".to_string());
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

async fn metrics(
    State(s): State<Arc<AdminState>>,
    peer: Option<axum::Extension<Peer>>,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = auth::authenticate(&s, &headers, peer.map(|p| p.0.0)).await {
        return *resp;
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render(),
    )
        .into_response()
}

async fn openapi(State(s): State<Arc<AdminState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.api.json.clone(),
    )
        .into_response()
}

/// The client address of an admin request (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub SocketAddr);

/// Writes the audit event of an admin action now, naming the caller.
pub(crate) async fn audit(
    s: &AdminState,
    caller: &Caller,
    action: moat_state::events::admin::AdminAction,
) {
    record(
        s,
        moat_state::events::admin::event(&action, &caller.actor()),
    )
    .await;
    if let Some(notice) = action.notice() {
        s.shared.state.notify(notice).await;
    }
}

/// Writes an admin action's audit event now.
pub(crate) async fn record(s: &AdminState, event: moat_state::events::Event) {
    if let Err(e) = s.shared.events.record_now(event).await {
        tracing::error!(error = %e, "cannot write the audit event of an admin action");
    }
}
