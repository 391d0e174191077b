//! Phase **authorize**: function-level and object-level authorization.
//!
//! Runs for documented operations once the caller is known. Roles must
//! grant the operation (deny by default); binding rules (`x-moat-owner`,
//! `object_access.bindings`) must hold; objects the request names must be
//! the caller's where ownership is learned. A bound or naming query
//! parameter given twice is ambiguous and refused. The result: the tracked
//! objects the request names (forgotten when a `DELETE` of them succeeds).
//! A refusal is `403` (`forbidden`, `ownership-violation`), `400
//! ambiguous-request`, or `503 state-unavailable` when owners cannot be
//! read — applied by the mode.

use http::Response;
use moat_guard::identity::Identity;
use moat_guard::ownership::NamedObject;
use moat_guard::request::Head;
use moat_guard::{Finding, ProblemKind, Verdict};
use moat_state::ObjectKey;

use super::exchange::Exchange;
use super::refusal::{Refusal, apply_mode};
use super::route::Routed;
use crate::body::Body;

/// Authorizes the request; `Ok` holds the tracked objects it names.
pub(super) async fn authorize(
    routed: &Routed<'_>,
    head: &Head,
    identity: Option<&Identity>,
    ex: &mut Exchange,
) -> Result<Vec<ObjectKey>, Response<Body>> {
    let api = routed.api;
    let Some(index) = routed.index() else {
        return Ok(Vec::new());
    };
    let params = routed.params();
    let mode =
        |ex: &mut Exchange, refusal: Refusal| match apply_mode(api.mode, &api.name, ex, refusal) {
            Some(resp) => Err(resp),
            None => Ok(()),
        };

    // Function level: roles.
    let roles = identity.map(|i| i.roles.as_slice()).unwrap_or_default();
    if !api.grants.allows(index, roles) {
        mode(ex, Finding::new(ProblemKind::Forbidden).into())?;
    }

    // Object level: binding rules.
    if let Verdict::Deny(f) = api
        .object_access
        .check(index, params, &head.query, identity)
    {
        mode(ex, f.into())?;
    }

    // Object level: learned owners.
    let mut objects = Vec::new();
    let Some(store) = &api.owners else {
        return Ok(objects);
    };
    let named = match api.learning.named(index, params, &head.query) {
        Ok(named) => named,
        Err(f) => {
            mode(ex, f.into())?;
            Vec::new()
        }
    };
    for named in named {
        let key = ObjectKey {
            api: api.name.clone(),
            kind: named.kind.to_string(),
            id: named.id,
        };
        let verdict = match store.owner(&key).await {
            Ok(owner) => api.learning.decide(owner.as_deref(), identity),
            Err(e) => {
                tracing::error!(request_id = %ex.request_id, api = %api.name, error = %e,
                    "cannot read object owners");
                Verdict::Deny(Finding::new(ProblemKind::StateUnavailable))
            }
        };
        if let Verdict::Deny(f) = verdict {
            if f.kind == ProblemKind::OwnershipViolation {
                tracing::warn!(request_id = %ex.request_id, api = %api.name,
                    consumer = identity.map(|i| i.consumer.as_str()).unwrap_or("-"),
                    kind = %key.kind, "ownership violation");
            }
            let unavailable = f.kind == ProblemKind::StateUnavailable;
            let mut refusal = Refusal::new(f);
            if unavailable {
                refusal = refusal.retry_after(5);
            }
            mode(ex, refusal)?;
        }
        objects.push(key);
    }
    Ok(objects)
}

/// The object a create request names itself (a learning rule with
/// `request_pointer` or `request_parameter`), read from the request view
/// and the JSON body parsed once (`json`); recorded as the caller's when the create
/// succeeds. A naming query parameter given twice is refused as ambiguous
/// (by the mode).
pub(super) fn created_by_request(
    routed: &Routed<'_>,
    head: &Head,
    json: Option<&serde_json::Value>,
    ex: &mut Exchange,
) -> Result<Option<NamedObject>, Response<Body>> {
    let api = routed.api;
    let Some(index) = routed.index().filter(|_| api.owners.is_some()) else {
        return Ok(None);
    };
    match api
        .learning
        .created_by_request(index, routed.params(), &head.query, json)
    {
        Ok(created) => Ok(created),
        Err(f) => match apply_mode(api.mode, &api.name, ex, f) {
            Some(resp) => Err(resp),
            None => Ok(None),
        },
    }
}
