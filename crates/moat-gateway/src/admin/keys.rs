//! API keys: list, create, rotate, revoke. A new key is in the answer
//! once and nowhere else; every change is an audit event naming the token
//! that made it.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use moat_state::events::admin::AdminAction;
use moat_state::{IssuedKey, KeyError, KeyManager, KeyRecord, UnixTime, unix_now};
use serde_json::{Value, json};

use super::guard::{AdminBody, AdminQuery};
use super::{AdminState, Caller, audit, json, problem};

/// A key record for the API: everything but the hash.
pub(crate) fn record_json(r: &KeyRecord, now: UnixTime) -> Value {
    json!({
        "key_id": r.key_id,
        "consumer": r.consumer_id,
        "name": r.name,
        "scopes": r.scopes,
        "status": r.status(now).as_str(),
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "last_used_at": r.last_used_at,
        "revoked_at": r.revoked_at,
        "rotated_from": r.rotated_from,
    })
}

fn manager(s: &AdminState) -> Result<Arc<KeyManager>, Box<Response>> {
    s.shared
        .runtime
        .load()
        .key_manager()
        .cloned()
        .ok_or_else(|| {
            Box::new(problem(
                StatusCode::CONFLICT,
                "keys-off",
                "API keys are not configured (the config has no `keys` section)",
            ))
        })
}

fn key_error(e: &KeyError) -> Response {
    match e {
        KeyError::NotFound(_) => problem(StatusCode::NOT_FOUND, "not-found", &e.to_string()),
        KeyError::Revoked(_) | KeyError::Expired(_) => {
            problem(StatusCode::CONFLICT, "conflict", &e.to_string())
        }
        KeyError::Invalid { .. } => {
            problem(StatusCode::BAD_REQUEST, "invalid-request", &e.to_string())
        }
        other => {
            tracing::error!(error = %other, "key management failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "state-unavailable",
                "the key store cannot be changed now",
            )
        }
    }
}

/// A duration the API accepts (`30d`, `12h`).
pub(crate) fn duration(field: &str, text: &str) -> Result<Duration, Box<Response>> {
    humantime::parse_duration(text).map_err(|_| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            &format!("`{field}` is a duration such as 30d, 12h or 15m"),
        ))
    })
}

fn field<'a>(body: &'a AdminBody, name: &str) -> Option<&'a Value> {
    match &body.0 {
        moat_guard::request::ParsedBody::Json(v) => v.get(name),
        _ => None,
    }
}

/// `GET /admin/keys?consumer=`.
pub(crate) async fn list(
    State(s): State<Arc<AdminState>>,
    Extension(q): Extension<AdminQuery>,
) -> Response {
    let keys = match manager(&s) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    match keys.list(q.get("consumer")).await {
        Ok(records) => {
            let now = unix_now();
            let keys: Vec<Value> = records.iter().map(|r| record_json(r, now)).collect();
            json(StatusCode::OK, &json!({"keys": keys}))
        }
        Err(e) => key_error(&e),
    }
}

/// `POST /admin/keys`.
pub(crate) async fn create(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Extension(body): Extension<AdminBody>,
) -> Response {
    let keys = match manager(&s) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    // The document requires `consumer` and types every field.
    let consumer = field(&body, "consumer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = field(&body, "name").and_then(Value::as_str);
    let scopes: Vec<String> = field(&body, "scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let expires_at = match field(&body, "expires_in").and_then(Value::as_str) {
        Some(t) => match duration("expires_in", t) {
            Ok(d) => {
                Some(unix_now().saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
            }
            Err(resp) => return *resp,
        },
        None => None,
    };
    let issued = keys.create(consumer, name, &scopes, expires_at).await;
    answer_issued(&s, &caller, issued, |record| AdminAction::KeyCreated {
        key_id: record.key_id.clone(),
        consumer: record.consumer_id.clone(),
    })
    .await
}

/// The answer to a new key (shown once), after its audit event.
async fn answer_issued(
    s: &AdminState,
    caller: &Caller,
    issued: Result<(KeyRecord, IssuedKey), KeyError>,
    action: impl FnOnce(&KeyRecord) -> AdminAction,
) -> Response {
    match issued {
        Ok((record, issued)) => {
            audit(s, caller, action(&record)).await;
            json(
                StatusCode::CREATED,
                &json!({"key": issued.expose(), "record": record_json(&record, unix_now())}),
            )
        }
        Err(e) => key_error(&e),
    }
}

/// `POST /admin/keys/{key_id}/rotate`.
pub(crate) async fn rotate(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Extension(body): Extension<AdminBody>,
    Path(key_id): Path<String>,
) -> Response {
    let keys = match manager(&s) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    let grace = match field(&body, "grace").and_then(Value::as_str) {
        Some(t) => match duration("grace", t) {
            Ok(d) => d,
            Err(resp) => return *resp,
        },
        None => Duration::ZERO,
    };
    let issued = keys.rotate(&key_id, grace).await;
    answer_issued(&s, &caller, issued, |record| AdminAction::KeyRotated {
        old_key_id: key_id,
        new_key_id: record.key_id.clone(),
        consumer: record.consumer_id.clone(),
    })
    .await
}

/// `POST /admin/keys/{key_id}/revoke`.
pub(crate) async fn revoke(
    State(s): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    Path(key_id): Path<String>,
) -> Response {
    let keys = match manager(&s) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    match keys.revoke(&key_id).await {
        Ok(record) => {
            audit(
                &s,
                &caller,
                AdminAction::KeyRevoked {
                    key_id: record.key_id.clone(),
                    consumer: record.consumer_id.clone(),
                },
            )
            .await;
            json(
                StatusCode::OK,
                &json!({"record": record_json(&record, unix_now())}),
            )
        }
        Err(e) => key_error(&e),
    }
}
