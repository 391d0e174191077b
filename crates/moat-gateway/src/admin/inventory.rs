//! The inventory: every documented operation with its authentication,
//! traffic and flags, and the undocumented paths clients tried; and the
//! consumers moat knows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use moat_spec::{ApiSpec, Operation};
use moat_state::KeyStore;
use serde_json::{Value, json};

use super::{AdminState, json};

/// The requirement in words: `apiKey OR (bearer AND mtls)`, `none`.
fn auth_of(op: &Operation) -> String {
    if op.policy.allows_anonymous() {
        return "none".to_string();
    }
    op.policy
        .alternatives
        .iter()
        .map(|r| {
            let names: Vec<&str> = r.schemes.iter().map(|(n, _)| n.as_str()).collect();
            if names.len() > 1 {
                format!("({})", names.join(" AND "))
            } else {
                names.concat()
            }
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn scopes_of(op: &Operation) -> Vec<&str> {
    let mut scopes: Vec<&str> = op
        .policy
        .alternatives
        .iter()
        .flat_map(|r| {
            r.schemes
                .iter()
                .flat_map(|(_, s)| s.iter().map(String::as_str))
        })
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

fn operation_entry(api: &crate::runtime::Api, spec: &ApiSpec, i: usize) -> Option<Value> {
    let op = spec.operations.get(i)?;
    let stats = api.telemetry.operation_stats(i);
    let (requests, denials, last_seen) = stats.map_or((0, 0, 0), |s| {
        (
            s.requests.load(Ordering::Relaxed),
            s.denied.load(Ordering::Relaxed),
            s.last_seen.load(Ordering::Relaxed),
        )
    });
    let anonymous = op.policy.allows_anonymous();
    let mut flags = Vec::new();
    if op.deprecated {
        flags.push("zombie");
    }
    if anonymous {
        flags.push("unauthenticated");
    }
    let risk = crate::risk::of_documented(api, op, i);
    let mut entry = json!({
        "api": api.name,
        "operation": op.id(),
        "method": op.method.as_str(),
        "path": format!("{}{}", api.base_path(), op.path_template),
        "auth": auth_of(op),
        "scopes": scopes_of(op),
        "deprecated": op.deprecated,
        "requests": requests,
        "denials": denials,
        "last_seen": (last_seen > 0).then_some(last_seen),
        "flags": flags,
    });
    if let Some(map) = entry.as_object_mut() {
        map.extend(crate::risk::fields(&risk));
    }
    Some(entry)
}

/// `GET /admin/inventory`.
pub(crate) async fn inventory(State(s): State<Arc<AdminState>>) -> Response {
    let rt = s.shared.runtime.load();
    let mut operations = Vec::new();
    for api in rt.apis() {
        let spec = api.table.spec();
        operations.extend((0..spec.operations.len()).filter_map(|i| operation_entry(api, spec, i)));
    }
    let shadow: Vec<Value> = s
        .shared
        .traffic
        .shadow_paths()
        .into_iter()
        .map(|p| {
            json!({"api": p.api, "method": p.method, "path": p.path,
                   "requests": p.requests, "last_seen": p.last_seen})
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({"operations": operations, "shadow": shadow}),
    )
}

/// `GET /admin/consumers`: consumers from the config, and owners of keys.
pub(crate) async fn consumers(State(s): State<Arc<AdminState>>) -> Response {
    let rt = s.shared.runtime.load();
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for c in &rt.loaded.config.consumers {
        out.insert(
            c.id.clone(),
            json!({"id": c.id, "source": "config", "keys": 0, "roles": c.roles}),
        );
    }
    let keys = match s.shared.state.keys.list(None).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::error!(error = %e, "cannot list keys");
            Vec::new()
        }
    };
    for k in keys {
        let entry = out.entry(k.consumer_id.clone()).or_insert_with(
            || json!({"id": k.consumer_id, "source": "keys", "keys": 0, "roles": []}),
        );
        if let Some(n) = entry.get_mut("keys") {
            *n = json!(n.as_u64().unwrap_or(0) + 1);
        }
    }
    json(
        StatusCode::OK,
        &json!({"consumers": out.into_values().collect::<Vec<_>>()}),
    )
}
