//! Captured operations as they are shown (`GET /admin/discovery`,
//! `moat discover --state`): each judged against an API's document, and
//! its shape as JSON. Shapes hold no value, so neither does the view.

use std::collections::BTreeMap;

use moat_discover::drift::{Standing, compare};
use moat_discover::risk::Risk;
use moat_discover::template::DiscoveredOperation;
use moat_spec::OperationTable;
use serde_json::{Value, json};

use super::CapturedOperation;

/// How the operations of one API stand against its document.
#[derive(Debug)]
pub struct Judgement {
    /// Per operation, in order: its standing, the documented operation's
    /// id and its index in the document.
    pub standings: Vec<(Standing, Option<String>, Option<usize>)>,
    /// Documented operations no sample reached: method and template.
    pub orphans: Vec<(String, String)>,
}

/// Judges `ops` (of one API) against `table`, each by its template's own
/// segments: its parameters match the document's, its literals must be
/// equal.
pub fn judge(ops: &[&CapturedOperation], table: &OperationTable) -> Judgement {
    let discovered: Vec<DiscoveredOperation> = ops
        .iter()
        .map(|op| DiscoveredOperation {
            method: op.method.clone(),
            parts: Vec::new(),
            requests: op.shape.profile.requests,
            example: op.template.split('/').skip(1).map(str::to_string).collect(),
        })
        .collect();
    let drift = compare(&discovered, table);
    Judgement {
        standings: drift
            .operations
            .into_iter()
            .map(|j| (j.standing, j.documented_as, j.documented_index))
            .collect(),
        orphans: drift.orphans,
    }
}

/// One operation as JSON: `path` is its template as the caller sees it
/// (with the API's base path), `standing` what it is against a document.
pub fn operation_json(
    op: &CapturedOperation,
    path: &str,
    standing: &str,
    documented_as: Option<&str>,
    risk: &Risk,
) -> Value {
    let profile = &op.shape.profile;
    let parameters: Vec<Value> = profile.parameter_objects().collect();
    let request_body =
        (profile.request_body().samples() > 0).then(|| profile.request_body().to_schema());
    let responses: BTreeMap<String, Value> = profile
        .responses()
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
    let mut entry = json!({
        "api": op.api,
        "method": op.method,
        "path": path,
        "standing": standing,
        "operation": documented_as,
        "requests": profile.requests,
        "first_seen": op.first_seen,
        "last_seen": op.last_seen,
        "parameters": parameters,
        "request_body": request_body,
        "statuses": op.shape.statuses,
        "responses": responses,
        "content_types": profile.content_types(),
        "auth": op.shape.auth,
        "sensitive": sensitive,
    });
    if let Some(map) = entry.as_object_mut() {
        map.extend(crate::risk::fields(risk));
    }
    entry
}
