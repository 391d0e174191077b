//! The admin listener: liveness, readiness and metrics.
//!
//! Loopback by default. `/healthz` and `/readyz` answer anyone (orchestrators
//! probe them without credentials and they reveal nothing); everything else
//! needs `Authorization: Bearer <admin.token>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moat_config::Secret;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::pipeline::Shared;
use crate::telemetry;

#[derive(Clone)]
struct AdminState {
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
}

/// Serves the admin API until `shutdown` turns true. The token is read from
/// the current config on each request, so a reload rotates it.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let state = AdminState { shared, ready };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "admin listener failed");
    }
}

/// Alive: always 200 (the gateway serves, limits follow their fail modes),
/// with a note when the shared rate-limit backend is unreachable.
async fn healthz(State(s): State<AdminState>) -> &'static str {
    if s.shared.limiter.shared_is_up() {
        "ok\n"
    } else {
        "ok (degraded: the rate-limit backend is unreachable)\n"
    }
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    let rt = s.shared.runtime.load();
    let token = rt
        .loaded
        .config
        .admin
        .as_ref()
        .and_then(|a| a.token.as_ref());
    if !token.is_some_and(|t| authorized(&headers, t)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"moat-admin\"")],
            "admin token required\n",
        )
            .into_response();
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

fn authorized(headers: &HeaderMap, token: &Secret) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in constant time, so timing does not reveal how much of a
    // guess was right (only the length, which is not secret-bearing here).
    bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check() {
        let t = Secret::new("0123456789abcdef");
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdeX".parse().unwrap(),
        );
        assert!(!authorized(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            "Bearer 0123456789abcdef".parse().unwrap(),
        );
        assert!(authorized(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            "Basic 0123456789abcdef".parse().unwrap(),
        );
        assert!(!authorized(&h, &t));
    }
}
