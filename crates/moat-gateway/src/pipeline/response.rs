//! Phase **response body**: ownership learning, GraphQL suggestion masking
//! and response filtering, on one read of the answer.
//!
//! Runs for every answer the upstream gave. Undocumented error bodies are
//! scrubbed first. Then the controls that need the body are decided once;
//! when any does, the body is read once under `responses.max_body_bytes`,
//! parsed once, and each control works on that one value: the owner of a
//! created object is recorded (before the creator can name it), "Did you
//! mean" suggestions are masked, undeclared and `writeOnly` properties are
//! removed and secrets masked. The value is serialised once, only if it
//! changed. When filtering is the only control, an answer it leaves alone
//! is recognised while it is read, and never built. Schema drift —
//! undeclared properties, values of a type the document does not allow —
//! is recorded and follows `responses.undeclared` (refused by the mode
//! under `block`); an answer too large to read follows
//! `responses.oversize`.

use http::Response;
use http::header;
use moat_config::{OversizePolicy, UndeclaredPolicy};
use moat_guard::identity::Identity;
use moat_guard::ownership::NamedObject;
use moat_guard::{Finding, Problem, ProblemKind, Verdict};
use moat_state::{ObjectKey, Recorded};

use super::exchange::{Exchange, Outcome};
use super::refusal::{Refusal, apply_mode, problem_response};
use crate::body::{Body, full};
use crate::runtime::Api;
use crate::telemetry;
use http_body_util::BodyExt;

/// What is known of the exchange when the answer arrives.
pub(super) struct Answered<'a> {
    pub api: &'a Api,
    pub index: Option<usize>,
    pub identity: Option<&'a Identity>,
    /// The tracked objects the request named.
    pub objects: &'a [ObjectKey],
    pub deleting: bool,
    /// The object a create request named itself (a rule with
    /// `request_pointer` or `request_parameter`), recorded on success.
    pub created: Option<&'a NamedObject>,
}

/// Which controls read the body of this answer.
struct Needs {
    learn: bool,
    mask: bool,
    filter: bool,
    /// An answer binding: the answer must name the caller as its owner.
    owner: bool,
}

pub(super) async fn respond(
    a: &Answered<'_>,
    resp: Response<Body>,
    ex: &mut Exchange,
) -> Response<Body> {
    let api = a.api;
    let status = resp.status();
    let filter = a.index.and_then(|i| api.response_filters.get(i));
    let cfg = &api.responses;

    // Undocumented error bodies are replaced, unread.
    if let Some(filter) = filter
        && cfg.scrub_errors
        && status.as_u16() >= 400
        && !filter.documents_status(status.as_u16())
    {
        ex.note(&api.name, "error-scrubbed", Outcome::Flagged);
        let mut problem = Problem::new(ProblemKind::UpstreamError, None, ex.request_id.as_str());
        problem.status = status.as_u16();
        let mut scrubbed = problem_response(&problem);
        *scrubbed.status_mut() = status;
        return scrubbed;
    }

    if status.is_success()
        && a.deleting
        && let Some(store) = &api.owners
    {
        for key in a.objects {
            if let Err(e) = store.forget(key).await {
                tracing::error!(request_id = %ex.request_id, api = %api.name, error = %e,
                    "cannot forget the owner of a deleted object");
            }
        }
    }

    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if status.is_success()
        && let (Some(object), Some(identity), Some(store)) = (a.created, a.identity, &api.owners)
    {
        record_owner(api, store.as_ref(), object.clone(), identity, ex).await;
    }
    let creates = a.index.filter(|&i| api.learning.learns_from_answer(i));
    let needs = Needs {
        learn: status.is_success() && api.owners.is_some() && creates.is_some(),
        owner: status.is_success() && a.index.is_some_and(|i| api.object_access.checks_answer(i)),
        // Only a GraphQL operation's answer is read as media type at all.
        mask: api
            .inspection
            .as_ref()
            .is_some_and(|i| i.mask_suggestions && i.is_graphql(a.index))
            && content_type
                .and_then(|c| moat_guard::request::MediaType::parse(c).ok())
                .is_some_and(|m| m.is_json()),
        filter: filter.is_some_and(|f| f.wants_body(status.as_u16(), content_type)),
    };
    if !(needs.learn || needs.mask || needs.filter || needs.owner) {
        return resp;
    }
    if needs.learn && a.identity.is_none() {
        // Nobody to record: an anonymous create (or monitor mode).
        tracing::debug!(request_id = %ex.request_id, api = %api.name,
            "object created without a known consumer: no owner recorded");
    }

    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cfg.max_body_bytes) {
        if needs.learn && a.identity.is_some() {
            unrecorded(
                api,
                ex,
                "the create answer is larger than responses.max_body_bytes",
            );
        }
        // An answer too large to read cannot be shown to be the caller's.
        if needs.owner
            && let Some(refused) = withhold(api, ex)
        {
            return refused;
        }
        if needs.filter {
            return oversize(api, resp, ex);
        }
        return resp;
    }

    let (mut parts, body) = resp.into_parts();
    let limit = usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX);
    let Some(bytes) = read_capped(body, limit).await else {
        // Too large without a Content-Length, or broken mid-way: what was
        // read cannot be forwarded unchecked.
        telemetry::upstream_error(&api.name, api.upstream.name(), "unreadable");
        return problem_response(&Problem::new(
            ProblemKind::UpstreamError,
            None,
            ex.request_id.as_str(),
        ));
    };
    // Filtering alone, on an answer it leaves as it is (the common case):
    // decided while reading, without building the value.
    if !(needs.learn || needs.mask || needs.owner)
        && let Some(filter) = filter
        && filter.unchanged(status.as_u16(), &bytes) != Some(false)
    {
        return Response::from_parts(parts, full(bytes));
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        if needs.learn && a.identity.is_some() {
            unrecorded(api, ex, "the create answer has no id at id_pointer");
        }
        if needs.owner
            && let Some(refused) = withhold(api, ex)
        {
            return refused;
        }
        return Response::from_parts(parts, full(bytes));
    };
    if needs.owner
        && let Some(index) = a.index
        && let Verdict::Deny(_) = api.object_access.check_answer(index, &value, a.identity)
        && let Some(refused) = withhold(api, ex)
    {
        return refused;
    }

    if let (Some(index), Some(identity), Some(store)) = (creates, a.identity, &api.owners)
        && needs.learn
    {
        learn_owner(api, store.as_ref(), index, identity, &value, ex).await;
    }
    let mut changed = false;
    if needs.mask {
        changed |= moat_inspect::graphql::mask_suggestions_in(&mut value);
    }
    if let Some(filter) = filter.filter(|_| needs.filter) {
        let report = filter.filter_value(status.as_u16(), &mut value);
        let removes = cfg.undeclared != UndeclaredPolicy::Allow;
        changed |= !report.removed.is_empty()
            || !report.masked.is_empty()
            || (removes && !report.mismatched.is_empty());
        if let Some(refused) = drift(api, &report, ex) {
            return refused;
        }
        if !report.masked.is_empty() {
            ex.note(&api.name, "sensitive-value", Outcome::Flagged);
        }
        if !report.is_empty() {
            tracing::debug!(request_id = %ex.request_id, removed = ?report.removed,
                masked = ?report.masked, mismatched = ?report.mismatched, "response filtered");
        }
    }
    if !changed {
        return Response::from_parts(parts, full(bytes));
    }
    match serde_json::to_vec(&value) {
        Ok(out) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, full(out))
        }
        Err(_) => problem_response(&Problem::new(
            ProblemKind::UpstreamError,
            None,
            ex.request_id.as_str(),
        )),
    }
}

/// An answer binding refused the answer: it names another owner (or
/// none), so it is withheld (`403`, recorded only in monitor mode).
fn withhold(api: &Api, ex: &mut Exchange) -> Option<Response<Body>> {
    tracing::warn!(request_id = %ex.request_id, api = %api.name,
        "answer withheld: it names another owner than the caller");
    apply_mode(
        api.mode,
        &api.name,
        ex,
        Finding::with_detail(
            ProblemKind::OwnershipViolation,
            "the answer names another owner than the caller",
        ),
    )
}

/// Schema drift in an answer — properties its document does not declare
/// (`undeclared-property`), values of a type it does not allow
/// (`response-type-mismatch`) — recorded, and handled as
/// `responses.undeclared` says: `remove` and `allow` forward the answer
/// (a mismatched whole answer has nothing left to forward under `remove`,
/// and is refused); `block` refuses it. A refusal is a `502` applied by the
/// mode.
fn drift(
    api: &Api,
    report: &moat_guard::response_filter::FilterReport,
    ex: &mut Exchange,
) -> Option<Response<Body>> {
    let undeclared = !report.removed.is_empty();
    let mismatched = !report.mismatched.is_empty();
    let refuse = match api.responses.undeclared {
        UndeclaredPolicy::Block => undeclared || mismatched,
        UndeclaredPolicy::Remove => report.root_mismatched(),
        UndeclaredPolicy::Allow => false,
    };
    if refuse {
        tracing::warn!(request_id = %ex.request_id, api = %api.name,
            removed = ?report.removed, mismatched = ?report.mismatched,
            "response does not match its document");
        let (finding, detail) = if mismatched {
            (
                "response-type-mismatch",
                "the upstream's response holds a value of a type its document does not allow",
            )
        } else {
            (
                "undeclared-property",
                "the upstream's response carried properties its document does not declare",
            )
        };
        let refusal = Refusal {
            recorded_as: Some(finding),
            ..Refusal::new(Finding::with_detail(ProblemKind::UpstreamError, detail))
        };
        // `upstream-error` is a 502; `None` in monitor mode, where the
        // answer goes on (recorded as monitored).
        return apply_mode(api.mode, &api.name, ex, refusal);
    }
    if undeclared {
        ex.note(&api.name, "undeclared-property", Outcome::Flagged);
    }
    if mismatched {
        ex.note(&api.name, "response-type-mismatch", Outcome::Flagged);
    }
    None
}

/// Ownership learning: records the caller as the owner of the object a
/// successful create answer names.
async fn learn_owner(
    api: &Api,
    store: &dyn moat_state::OwnershipStore,
    index: usize,
    identity: &Identity,
    value: &serde_json::Value,
    ex: &mut Exchange,
) {
    let Some(object) = api.learning.created_in(index, value) else {
        unrecorded(api, ex, "the create answer has no id at id_pointer");
        return;
    };
    record_owner(api, store, object, identity, ex).await;
}

/// Records the caller as the owner of a created object; the first owner
/// keeps it.
async fn record_owner(
    api: &Api,
    store: &dyn moat_state::OwnershipStore,
    object: NamedObject,
    identity: &Identity,
    ex: &mut Exchange,
) {
    let key = ObjectKey {
        api: api.name.clone(),
        kind: object.kind.to_string(),
        id: object.id,
    };
    match store
        .record(&key, &identity.consumer, moat_state::unix_now())
        .await
    {
        Ok(Recorded::New | Recorded::Unchanged) => {}
        Ok(Recorded::Conflict { owner }) => {
            ex.note(&api.name, "ownership-conflict", Outcome::Flagged);
            tracing::warn!(request_id = %ex.request_id, api = %api.name,
                kind = %key.kind, consumer = %identity.consumer, %owner,
                "the upstream created an object that another consumer owns; the first owner is kept");
        }
        Err(e) => {
            tracing::error!(request_id = %ex.request_id, api = %api.name, error = %e,
                "cannot record an object's owner");
            unrecorded(api, ex, "the state store refused the record");
        }
    }
}

fn unrecorded(api: &Api, ex: &mut Exchange, why: &'static str) {
    ex.note(&api.name, "ownership-unrecorded", Outcome::Flagged);
    crate::log_throttle::warn_throttled!(request_id = %ex.request_id, api = %api.name, why, "no owner recorded for a created object");
}

/// Reads a whole body of at most `limit` bytes; `None` if it is larger or
/// fails. (A plain loop: `Limited` over a boxed body trips a compiler
/// limitation on `Send` futures.)
async fn read_capped(mut body: Body, limit: usize) -> Option<bytes::Bytes> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return None;
            }
            out.extend_from_slice(&data);
        }
    }
    Some(out.freeze())
}

/// An answer too large to filter: passed (flagged) or refused, as
/// `responses.oversize` says — refused answers are recorded as denied.
fn oversize(api: &Api, resp: Response<Body>, ex: &mut Exchange) -> Response<Body> {
    match api.responses.oversize {
        OversizePolicy::Pass => {
            ex.note(&api.name, "unfiltered-oversize", Outcome::Flagged);
            resp
        }
        OversizePolicy::Block => {
            ex.note(&api.name, "unfiltered-oversize", Outcome::Denied);
            problem_response(&Problem::new(
                ProblemKind::UpstreamError,
                None,
                ex.request_id.as_str(),
            ))
        }
    }
}
