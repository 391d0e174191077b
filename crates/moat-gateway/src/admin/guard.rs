//! moat's own guards on its admin API, driven by the admin API's OpenAPI
//! document (`openapi.yaml`, served at `/admin/openapi.json`) like any API
//! moat protects: the request is read once into the request view (a head
//! with two readings is refused); only documented operations are
//! reachable; the caller's admin token must carry the operation's role
//! (`x-moat-role`); parameters and JSON bodies are validated against the
//! document, and a query parameter the document does not name, or one
//! given twice, is refused.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_body_util::BodyExt;
use moat_guard::request::{BodyLimits, Head, ParsedBody};
use moat_guard::validate::{OperationValidator, ValidationOptions};
use moat_spec::{ApiSpec, Match, OperationTable};
use moat_state::admin_tokens::AdminRole;

use super::{AdminState, problem};

/// The admin API's document.
pub(crate) const DOCUMENT: &str = include_str!("openapi.yaml");

/// The largest admin request body.
const MAX_BODY: usize = 64 * 1024;

/// The compiled document.
pub(crate) struct AdminApi {
    table: OperationTable,
    validators: Vec<OperationValidator>,
    /// The role each operation needs, by operation index.
    roles: Vec<AdminRole>,
    /// The query parameters each operation documents, by index.
    query_names: Vec<Vec<String>>,
    /// The document as JSON, for `/admin/openapi.json`.
    pub json: bytes::Bytes,
}

impl AdminApi {
    /// Compiles the embedded document. It is part of the binary, so a
    /// failure is a build defect that the tests catch; it is still
    /// reported, not panicked on.
    pub(crate) fn compile() -> Result<Self, String> {
        let spec: ApiSpec =
            moat_spec::load_text("admin-openapi.yaml", DOCUMENT).map_err(|d| d.to_string())?;
        let mut options = ValidationOptions::default();
        options.refuse_unknown_properties = true;
        let validators =
            moat_guard::validate::compile_spec(&spec, &options).map_err(|d| d.to_string())?;
        let mut roles = Vec::new();
        let mut query_names = Vec::new();
        for op in &spec.operations {
            let role = spec
                .value_at(op.doc, &format!("{}/x-moat-role", op.pointer))
                .and_then(|v| v.as_str())
                .and_then(AdminRole::parse)
                .ok_or_else(|| format!("{} has no valid x-moat-role", op.id()))?;
            roles.push(role);
            query_names.push(
                op.parameters
                    .iter()
                    .filter(|p| p.location == moat_spec::ParameterLocation::Query)
                    .map(|p| p.name.clone())
                    .collect(),
            );
        }
        let json = serde_json::to_vec_pretty(&spec.documents()[0].value)
            .map_err(|e| e.to_string())?
            .into();
        Ok(Self {
            table: OperationTable::new(spec),
            validators,
            roles,
            query_names,
            json,
        })
    }
}

/// The middleware: route, authenticate, authorize, validate; then the
/// handler.
pub(crate) async fn enforce(
    State(state): State<Arc<AdminState>>,
    req: Request,
    next: Next,
) -> Response {
    let head = match Head::of(&req) {
        Ok(h) => h,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "ambiguous-request", &e.to_string()),
    };
    let api = &state.api;
    let segments: Vec<&str> = head.path.segments().iter().map(String::as_str).collect();
    let found = api.table.find(req.method().as_str(), &segments);
    let (index, params) = match &found {
        Match::Found { index, params, .. } => (*index, params.clone()),
        Match::MethodNotAllowed { .. } => {
            return problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "the admin API does not document this method for this path",
            );
        }
        _ => {
            return problem(
                StatusCode::NOT_FOUND,
                "shadow-endpoint",
                "not an operation of the admin API (see /admin/openapi.json)",
            );
        }
    };
    let peer = req.extensions().get::<super::Peer>().map(|p| p.0);
    let caller = match super::auth::authenticate(&state, req.headers(), peer).await {
        Ok(c) => c,
        Err(resp) => return *resp,
    };
    if !caller.role.allows(api.roles[index]) {
        return problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this operation needs an operator token",
        );
    }
    // Query parameters: documented ones only, each once.
    let names = &api.query_names[index];
    let pairs = head.query.pairs();
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !names.iter().any(|n| n == name) {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                &format!("`{}` is not a parameter of this operation", escape(name)),
            );
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return problem(
                StatusCode::BAD_REQUEST,
                "ambiguous-request",
                &format!("`{}` is given twice", escape(name)),
            );
        }
    }
    let validator = &api.validators[index];
    if let Err(v) = validator.validate_params(&params, &head.query, req.headers(), &head.cookies) {
        return violations(StatusCode::BAD_REQUEST, &v);
    }
    // The body: read once under its cap, parsed once, validated.
    let (parts, body) = req.into_parts();
    let bytes = match read_capped(body).await {
        Some(b) => b,
        None => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "admin request bodies are at most 64 KiB",
            );
        }
    };
    let parsed = match ParsedBody::parse(head.media.as_ref(), &bytes, &BodyLimits::default()) {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "invalid-request", &e.to_string()),
    };
    if let Err(v) = validator.validate_body(head.media.as_ref(), &parsed) {
        return violations(v.status(), &v);
    }
    let mut req = Request::from_parts(parts, AxumBody::from(bytes));
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(AdminBody(parsed));
    req.extensions_mut()
        .insert(AdminQuery(head.query.pairs().to_vec()));
    next.run(req).await
}

/// The query as the guard read (and validated) it.
#[derive(Clone, Debug, Default)]
pub(crate) struct AdminQuery(pub Vec<(String, String)>);

impl AdminQuery {
    /// The value of parameter `name` (each is given at most once).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request body as the guard parsed it.
#[derive(Clone)]
pub(crate) struct AdminBody(pub ParsedBody);

async fn read_capped(body: AxumBody) -> Option<bytes::Bytes> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    limited.collect().await.ok().map(|c| c.to_bytes())
}

fn violations(status: StatusCode, v: &moat_guard::validate::Violations) -> Response {
    let mut body = serde_json::json!({
        "type": "urn:moat:problem:invalid-request",
        "title": "Invalid admin request",
        "status": status.as_u16(),
    });
    body["violations"] = v.to_problem_details();
    (
        status,
        [(http::header::CONTENT_TYPE, moat_guard::PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// A client-chosen name, safe to quote back.
fn escape(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}
