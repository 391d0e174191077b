//! `GET /admin/discovery`: the operations captured from the gateway's own
//! traffic (`discovery.capture`), each with its standing against the
//! served document (documented, zombie, shadow) and its shape, and the
//! documented operations no sample reached (orphans).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use moat_discover::drift::Standing;
use serde_json::json;

use super::{AdminState, json};
use crate::capture::CapturedOperation;
use crate::capture::view::{judge, operation_json};

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
        let base = api.base_path();
        let judged = judge(&ops, &api.table);
        for (op, (standing, documented_as, index)) in ops.iter().zip(&judged.standings) {
            let risk = crate::risk::of_captured(op, *standing, index.map(|i| (api, i)));
            operations.push(operation_json(
                op,
                &format!("{base}{}", op.template),
                standing.as_str(),
                documented_as.as_deref(),
                &risk,
            ));
        }
        for (method, template) in judged.orphans {
            orphans.push(json!({"api": api.name, "method": method,
                "path": format!("{base}{template}")}));
        }
    }
    // Operations of APIs no longer configured: shown, with no standing.
    for op in by_api.into_values().flatten() {
        let risk = crate::risk::of_captured(op, Standing::Shadow, None);
        operations.push(operation_json(op, &op.template, "unknown-api", None, &risk));
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
