//! The effective configuration (secrets redacted) and reloads.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{AdminState, Caller, json, problem};

/// `GET /admin/config`: the config the gateway runs, as JSON, every value
/// that holds a secret replaced by `"[redacted]"`.
pub(crate) async fn effective(State(s): State<Arc<AdminState>>) -> Response {
    let rt = s.shared.runtime.load();
    json(StatusCode::OK, &rt.loaded.redacted())
}

/// `POST /admin/reload`: reloads now; a refused reload changes nothing
/// and says why.
pub(crate) async fn reload(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match s.core.reload(&caller.actor()).await {
        Ok(()) => json(StatusCode::OK, &json!({"reloaded": true})),
        Err(e) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload-refused",
            &e.to_string(),
        ),
    }
}
