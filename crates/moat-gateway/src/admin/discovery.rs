//! `GET /admin/discovery`: the operations captured from the gateway's own
//! traffic (`discovery.capture`), each with its standing against the
//! served document (documented, zombie, shadow) and its shape, and the
//! documented operations no sample reached (orphans).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use moat_discover::drift::{Standing, compare};
use moat_discover::template::DiscoveredOperation;
use serde_json::{Value, json};

use super::{AdminState, json};
use crate::capture::CapturedOperation;

/// `GET /admin/discovery`.
pub(crate) async fn discovery(State(s): State<Arc<AdminState>>) -> Response {
    let rt = s.shared.runtime.load();
    let capture = &s.shared.capture;
    let captured = capture.operations();
    let mut by_api: BTreeMap<&str, Vec<&CapturedOperation>> = BTreeMap::new();
    for op in &captured {
        by_api.entry(op.api.as_str()).or_default().push(op);
    }
    let mut operations = Vec::new();
    let mut orphans = Vec::new();
    for api in rt.apis() {
        let ops = by_api.remove(api.name.as_str()).unwrap_or_default();
        let discovered: Vec<DiscoveredOperation> = ops
            .iter()
            .map(|op| DiscoveredOperation {
                method: op.method.clone(),
                parts: Vec::new(),
                requests: op.shape.profile.requests,
                // The template's own segments: its parameters match the
                // document's, its literals must be equal.
                example: op.template.split('/').skip(1).map(str::to_string).collect(),
            })
            .collect();
        let drift = compare(&discovered, &api.table);
        for (op, judged) in ops.iter().zip(&drift.operations) {
            operations.push(entry(
                op,
                &api.base_path(),
                judged.standing,
                judged.documented_as.as_deref(),
            ));
        }
        for (method, template) in drift.orphans {
            orphans.push(json!({"api": api.name, "method": method,
                "path": format!("{}{template}", api.base_path())}));
        }
    }
    // Operations of APIs no longer configured: shown, with no standing.
    for ops in by_api.into_values() {
        for op in ops {
            let mut e = entry(op, "", Standing::Shadow, None);
            e["standing"] = json!("unknown-api");
            operations.push(e);
        }
    }
    json(
        StatusCode::OK,
        &json!({
            "enabled": capture.enabled(),
            "dropped": capture.dropped(),
            "operations": operations,
            "orphans": orphans,
        }),
    )
}

fn entry(
    op: &CapturedOperation,
    base: &str,
    standing: Standing,
    documented_as: Option<&str>,
) -> Value {
    let profile = &op.shape.profile;
    let parameters: Vec<Value> = profile
        .params()
        .iter()
        .map(|(name, stats)| {
            let summary = stats.summary();
            json!({"name": name, "in": "query", "required": summary.required,
                   "schema": summary.to_schema()})
        })
        .collect();
    let request_body =
        (profile.request_body().samples() > 0).then(|| profile.request_body().to_schema());
    let responses: BTreeMap<String, Value> = profile
        .responses()
        .iter()
        .map(|(status, schema)| {
            let body = (schema.samples() > 0).then(|| schema.to_schema());
            (status.to_string(), json!({"schema": body}))
        })
        .collect();
    let sensitive: Vec<Value> = profile
        .findings
        .iter()
        .map(|f| json!({"location": f.location, "kind": f.kind.as_str(), "count": f.count}))
        .collect();
    json!({
        "api": op.api,
        "method": op.method,
        "path": format!("{base}{}", op.template),
        "standing": standing.as_str(),
        "operation": documented_as,
        "requests": profile.requests,
        "first_seen": op.first_seen,
        "last_seen": op.last_seen,
        "parameters": parameters,
        "request_body": request_body,
        "statuses": op.shape.statuses,
        "responses": responses,
        "content_types": op.shape.content_types,
        "auth": op.shape.auth,
        "sensitive": sensitive,
    })
}
