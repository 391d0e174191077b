//! Phase **admit**: bans, declared body size, rate limits and quotas, and
//! requests in flight.
//!
//! Runs twice around **identify**, and once more after **validate**.
//! Before identify: bans of the address, the declared body size, and the
//! limits keyed on what the request head carries (address, network, API,
//! operation, header) — so they shield the verifiers too. After it: bans
//! of the consumer (or, for an anonymous caller, the detector bans that
//! reach anonymous requests from its address), limits keyed on the
//! caller, and the consumer's requests in flight. After the body is read:
//! limits keyed on a member of the JSON body (the account a login names).
//! A refusal is `429`
//! (`Retry-After`, `RateLimit` fields), `413`, `403 banned` (whatever the
//! mode: a ban is an explicit decision), or `503` for a `fail: closed`
//! limit whose store is unreachable.

use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use moat_config::LimitStage;
use moat_guard::identity::Identity;
use moat_guard::limits::{KeyContext, Limit, LimitRule, ceil_secs, rate_limit_field};
use moat_guard::{Finding, ProblemKind};
use moat_state::limits::LimitDecision;

use super::Guards;
use super::exchange::Exchange;
use super::refusal::{Refusal, answer, apply_mode};
use super::route::Routed;
use crate::body::Body;
use crate::limits::{Taken, Verdict as LimitVerdict};
use crate::runtime::Api;

/// The answer to a banned client or consumer.
pub(super) fn banned(ex: &mut Exchange, api: &str, left: Option<Duration>) -> Response<Body> {
    let mut refusal = Refusal::new(Finding::new(ProblemKind::Banned));
    if let Some(left) = left {
        refusal = refusal.retry_after(left.as_secs().max(1));
    }
    answer(api, ex, refusal)
}

/// The rate limits a request has met so far.
#[derive(Default)]
pub(super) struct LimitState<'a> {
    taken: Taken,
    decided: Vec<(&'a Limit, LimitDecision)>,
}

/// Admission before credentials are read: the declared body size, then the
/// limits that do not depend on the caller.
pub(super) async fn before_identity<'a>(
    guards: &Guards<'_>,
    routed: &Routed<'a>,
    body_cap: u64,
    declared: Option<u64>,
    req: &Request<Incoming>,
    limits: &mut LimitState<'a>,
    ex: &mut Exchange,
) -> Result<(), Response<Body>> {
    let api = routed.api;
    if declared.is_some_and(|len| len > body_cap)
        && let Some(resp) = apply_mode(
            api.mode,
            &api.name,
            ex,
            Finding::new(ProblemKind::PayloadTooLarge),
        )
    {
        return Err(resp);
    }
    if let (Some(index), Some(op)) = (routed.index(), routed.operation()) {
        let ctx = context(api, op.id(), req.headers(), None, None, ex);
        limit(
            guards,
            api,
            index,
            LimitStage::BeforeIdentity,
            &ctx,
            limits,
            ex,
        )
        .await?;
    }
    Ok(())
}

/// Admission once the caller is known: bans of the consumer, limits keyed
/// on the caller, and the consumer's requests in flight.
pub(super) async fn after_identity<'a>(
    guards: &Guards<'_>,
    routed: &Routed<'a>,
    req: &Request<Incoming>,
    identity: Option<&Identity>,
    limits: &mut LimitState<'a>,
    ex: &mut Exchange,
) -> Result<(), Response<Body>> {
    let api = routed.api;
    // A consumer's bans; an anonymous caller's, which reach only
    // anonymous requests from its address (for the kind of object it
    // probed), so identified neighbours behind a shared address go on.
    let ban = match identity {
        Some(id) => guards.abuse.banned_consumer(ex.client, &id.consumer),
        None => guards
            .abuse
            .banned_anonymous(ex.client, ex.object.as_ref().map(|o| &*o.kind)),
    };
    if let Some(left) = ban {
        return Err(banned(ex, &api.name, left));
    }
    if let (Some(index), Some(op)) = (routed.index(), routed.operation()) {
        let ctx = context(api, op.id(), req.headers(), identity, None, ex);
        limit(
            guards,
            api,
            index,
            LimitStage::AfterIdentity,
            &ctx,
            limits,
            ex,
        )
        .await?;
    }
    let max_in_flight = api.request_limits.max_concurrent_per_consumer;
    if max_in_flight > 0
        && let Some(id) = identity
    {
        let key = format!("{}:{}", api.name, id.consumer);
        match guards.in_flight.try_acquire(key, max_in_flight) {
            Some(slot) => ex.in_flight = Some(slot),
            None => {
                let refusal = Refusal::new(Finding::with_detail(
                    ProblemKind::RateLimited,
                    "too many requests in flight for this consumer",
                ))
                .retry_after(1);
                if let Some(resp) = apply_mode(api.mode, &api.name, ex, refusal) {
                    return Err(resp);
                }
            }
        }
    }
    Ok(())
}

/// Admission once the body is read: limits keyed on a member of the JSON
/// body (`body:/username`), such as the account a login names.
pub(super) async fn after_body<'a>(
    guards: &Guards<'_>,
    routed: &Routed<'a>,
    headers: &http::HeaderMap,
    identity: Option<&Identity>,
    body: Option<&serde_json::Value>,
    limits: &mut LimitState<'a>,
    ex: &mut Exchange,
) -> Result<(), Response<Body>> {
    let api = routed.api;
    if let (Some(index), Some(op)) = (routed.index(), routed.operation()) {
        let ctx = context(api, op.id(), headers, identity, body, ex);
        limit(guards, api, index, LimitStage::AfterBody, &ctx, limits, ex).await?;
    }
    Ok(())
}

/// What a limit key may read of the request.
fn context<'r>(
    api: &'r Api,
    operation: &'r str,
    headers: &'r http::HeaderMap,
    identity: Option<&'r Identity>,
    body: Option<&'r serde_json::Value>,
    ex: &Exchange,
) -> KeyContext<'r> {
    KeyContext {
        api: &api.name,
        operation,
        client: ex.client,
        headers,
        identity,
        body,
    }
}

/// Applies the limits of operation `index` decided at `stage`. A refusal
/// gives back what earlier limits took.
async fn limit<'a>(
    guards: &Guards<'_>,
    api: &'a Api,
    index: usize,
    stage: LimitStage,
    ctx: &KeyContext<'_>,
    state: &mut LimitState<'a>,
    ex: &mut Exchange,
) -> Result<(), Response<Body>> {
    let applicable: Vec<&Limit> = api.limits.for_operation(index, stage).collect();
    if applicable.is_empty() {
        return Ok(());
    }
    let policy = api.limits.policy(index).cloned();
    let headers = api.limit_headers;
    let refusal = match guards
        .limiter
        .decide(&api.name, &applicable, ctx, &mut state.taken)
        .await
    {
        LimitVerdict::Allowed(decided) => {
            state.decided.extend(decided);
            if headers && let Some(policy) = policy {
                ex.rate_limit = Some((policy, rate_limit_field(&state.decided)));
            }
            return Ok(());
        }
        LimitVerdict::Refused(l, d) => {
            let kind = match l.rule {
                LimitRule::Rate(_) => ProblemKind::RateLimited,
                LimitRule::Quota(_) => ProblemKind::QuotaExceeded,
            };
            tracing::debug!(request_id = %ex.request_id, api = %api.name, limit = %l.name,
                "request over its limit");
            let wait = d.retry_after.map(ceil_secs).unwrap_or(1).max(1);
            if api.mode == moat_config::Mode::Enforce
                && headers
                && let Some(policy) = policy
            {
                ex.rate_limit = Some((policy, rate_limit_field(&[(l, d)])));
            }
            Refusal::new(Finding::new(kind)).retry_after(wait)
        }
        LimitVerdict::Unavailable(l) => {
            if api.mode == moat_config::Mode::Enforce {
                crate::log_throttle::warn_throttled!(request_id = %ex.request_id, api = %api.name, limit = %l.name,
                    "refused: the limit's store is unreachable and it fails closed");
            }
            Refusal::new(Finding::new(ProblemKind::LimitUnavailable)).retry_after(1)
        }
    };
    match apply_mode(api.mode, &api.name, ex, refusal) {
        Some(resp) => Err(resp),
        None => Ok(()),
    }
}
