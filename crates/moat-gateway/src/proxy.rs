//! The request pipeline, phase by phase.
//!
//! `accept → canonicalise → route → guards → forward → respond → record`.
//! Each phase is a function here; the guards themselves live in `moat-guard`
//! and only decide. This module applies their verdicts according to the API's
//! mode and does the socket work.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use moat_config::Mode;
use moat_guard::identity::{Identity, IdentityDecision};

use crate::abuse::Abuse;
use crate::body::Capped;
use crate::identity::RequestSide;
use crate::limits::{InFlight, InFlightSlot, Limiter, Taken, Verdict as LimitVerdict};
use moat_guard::anomaly::Observation;
use moat_guard::limits::{KeyContext, Limit, LimitRule, ceil_secs, rate_limit_field};
use moat_guard::request::json::JsonRule;
use moat_guard::request::multipart::MultipartError;
use moat_guard::request::{
    BodyError, BodyLimits, Head, HeadError, MediaType, MediaTypeError, ParsedBody,
};
use moat_guard::validate::Violation;
use moat_guard::{
    CanonicalPath, Finding, PROBLEM_JSON, Problem, ProblemKind, Verdict, route_verdict,
};
use moat_spec::Match;
use moat_state::limits::LimitDecision;
use moat_state::{ObjectKey, OwnershipStore, Recorded};

use crate::access_log::{AccessLog, AccessRecord, millis, timestamp};
use crate::body::{Body, boxed, full};
use crate::client_cert::ClientCert;
use crate::forwarding::{
    ClientSide, acceptable_request_id, client_ip, is_trusted, is_upgrade, new_request_id,
    set_forwarding_headers, strip_hop_by_hop,
};
use crate::runtime::{Api, Runtime};
use crate::telemetry;
use crate::upstream::UpstreamFailure;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use moat_guard::response_filter::ResponseFilter;
use moat_guard::validate::{MediaPlan, Violations};

/// State shared by every connection of the gateway.
pub struct Shared {
    /// The current compiled config; replaced whole on reload.
    pub runtime: ArcSwap<Runtime>,
    /// The access log.
    pub access_log: AccessLog,
    /// Failure counts for brute-force lockout; kept across reloads.
    pub lockout: Option<Arc<dyn moat_state::LockoutStore>>,
    /// Rate-limit and quota counters; kept across reloads.
    pub limiter: Arc<Limiter>,
    /// Requests in flight per API and consumer; kept across reloads.
    pub in_flight: Arc<InFlight>,
    /// Bans and anomaly detectors; kept across reloads.
    pub abuse: Arc<Abuse>,
}

/// What is known of the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The listener's index in `listeners`.
    pub listener: usize,
    /// The client certificate the TLS layer verified, if any.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// The record of one exchange, filled in as the pipeline runs.
struct Exchange {
    request_id: String,
    client: IpAddr,
    method: Method,
    path: String,
    api: Option<Arc<str>>,
    operation: Option<String>,
    verdict: &'static str,
    finding: Option<&'static str>,
    upstream_latency: Option<Duration>,
    deprecation: bool,
    consumer: Option<String>,
    /// The API's CORS policy and the allowed request origin.
    cors: Option<(Arc<crate::cors::Cors>, HeaderValue)>,
    /// `RateLimit-Policy` and `RateLimit` fields for the response.
    rate_limit: Option<(HeaderValue, Option<HeaderValue>)>,
    /// The consumer's in-flight slot, held until the exchange is recorded.
    in_flight: Option<InFlightSlot>,
    /// The presented credential's id (never its secret).
    credential_id: Option<String>,
    /// Presented credentials were refused.
    auth_failed: bool,
    /// The last path parameter of the matched operation (the object named).
    object_id: Option<String>,
}

/// Serves one request: never fails, every problem becomes a response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let arrived = SystemTime::now();
    let started = Instant::now();
    let rt = shared.runtime.load_full();

    let trusted = is_trusted(conn.peer.ip(), &rt.trusted_proxies);
    let request_id = req
        .headers()
        .get(&rt.request_id_header)
        .filter(|_| trusted)
        .and_then(acceptable_request_id)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    let mut ex = Exchange {
        request_id,
        client: client_ip(conn.peer, req.headers(), &rt.trusted_proxies),
        method: req.method().clone(),
        path: String::new(),
        api: None,
        operation: None,
        verdict: "allowed",
        finding: None,
        upstream_latency: None,
        deprecation: false,
        consumer: None,
        cors: None,
        rate_limit: None,
        in_flight: None,
        credential_id: None,
        auth_failed: false,
        object_id: None,
    };

    let guards = Guards {
        lockout: shared.lockout.as_deref(),
        limiter: &shared.limiter,
        in_flight: &shared.in_flight,
        abuse: &shared.abuse,
    };
    let mut resp = pipeline(&rt, &conn, trusted, &guards, req, &mut ex).await;

    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ex.request_id) {
        headers.insert(rt.request_id_header.clone(), v);
    }
    if let Some(hsts) = rt.hsts(conn.listener) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if ex.deprecation {
        headers.insert("deprecation", HeaderValue::from_static("true"));
    }
    // Security headers: browsers must not guess content types, and a
    // response for an authenticated caller must not be kept by shared caches.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if ex.consumer.is_some() {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some((cors, origin)) = &ex.cors {
        cors.response_headers(origin, headers);
    }
    if let Some((policy, current)) = ex.rate_limit.take() {
        headers.insert("ratelimit-policy", policy);
        if let Some(v) = current {
            headers.insert("ratelimit", v);
        }
    }

    let total = started.elapsed();
    shared
        .abuse
        .observe(
            ex.api.as_deref().unwrap_or("-"),
            &Observation {
                now: u64::try_from(
                    arrived
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis(),
                )
                .unwrap_or(0),
                client: ex.client,
                consumer: ex.consumer.as_deref(),
                credential_id: ex.credential_id.as_deref(),
                auth_failed: ex.auth_failed,
                operation: ex.operation.as_deref(),
                object_id: ex.object_id.as_deref(),
                status: resp.status().as_u16(),
            },
        )
        .await;
    let api = ex.api.as_deref().unwrap_or("-");
    let operation = ex.operation.as_deref().unwrap_or("-");
    let status = resp.status().as_u16();
    telemetry::request(api, operation, status, ex.verdict, total);
    shared.access_log.log(&AccessRecord {
        time: timestamp(arrived),
        request_id: &ex.request_id,
        client: ex.client,
        method: ex.method.as_str(),
        path: &ex.path,
        api,
        operation,
        status,
        upstream_ms: ex.upstream_latency.map(millis),
        total_ms: millis(total),
        verdict: ex.verdict,
        finding: ex.finding,
        consumer: ex.consumer.as_deref(),
    });
    Ok(resp)
}

/// The guards' state that outlives a runtime.
struct Guards<'a> {
    lockout: Option<&'a dyn moat_state::LockoutStore>,
    limiter: &'a Limiter,
    in_flight: &'a Arc<InFlight>,
    abuse: &'a Abuse,
}

async fn pipeline(
    rt: &Runtime,
    conn: &ConnInfo,
    trusted: bool,
    guards: &Guards<'_>,
    req: Request<Incoming>,
    ex: &mut Exchange,
) -> Response<Body> {
    let lockout = guards.lockout;
    // Bans: a banned address gets nothing else.
    if let Some(left) = guards.abuse.banned(ex.client, None) {
        return banned(ex, "-", left);
    }

    // Read the head once: one canonical path, host, query, cookies and
    // media type for every decision below; a head with two readings is
    // refused whatever the mode, as there is nothing safe to forward.
    let (parts, body) = req.into_parts();
    let head = match Head::parse(&parts) {
        Ok(h) => h,
        Err(e) => {
            ex.path = truncate(parts.uri.path(), 256);
            return deny_always(ex, head_refusal(&e));
        }
    };
    let req = Request::from_parts(parts, body);
    let path = &head.path;
    ex.path = path.as_str().to_string();

    // Route: which API, which operation.
    let host = head.host.clone();
    let Some((api, rest)) = rt.select(host.as_deref(), path) else {
        // No API is mounted here: there is nothing to forward to, whatever
        // the mode.
        return deny_always(ex, Finding::new(ProblemKind::ShadowEndpoint));
    };
    ex.api = Some(Arc::from(api.name.as_str()));
    let segments: Vec<&str> = rest.iter().map(String::as_str).collect();

    // Cross-origin: note an allowed origin; answer preflights here, for
    // documented operations only.
    if let (Some(cors), Some(origin)) = (&api.cors, req.headers().get(header::ORIGIN)) {
        let allowed = origin.to_str().is_ok_and(|o| cors.allows(o));
        if allowed {
            ex.cors = Some((cors.clone(), origin.clone()));
        }
        if crate::cors::is_preflight(req.method(), req.headers()) {
            let requested = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let documented = matches!(api.table.find(&requested, &segments), Match::Found { .. });
            let headers_ok =
                cors.allows_headers(req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS));
            if allowed && documented && headers_ok {
                let mut resp = Response::new(crate::body::empty());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                cors.preflight_headers(&requested, resp.headers_mut());
                return resp;
            }
            ex.cors = None;
            return deny(
                ex,
                &api.name,
                &Finding::with_detail(ProblemKind::Forbidden, "cross-origin request refused"),
            );
        }
    }

    let found = api.table.find(req.method().as_str(), &segments);
    if let Match::Found {
        operation, params, ..
    } = &found
    {
        ex.operation = Some(operation.id().to_string());
        ex.object_id = params.last().map(|(_, v)| v.clone());
    }

    // Guards: route.
    match route_verdict(&found, api.deprecated) {
        Verdict::Allow => {}
        Verdict::Flag(f) => {
            ex.verdict = "flagged";
            ex.finding = Some(f.kind.slug());
            ex.deprecation = f.kind == ProblemKind::ZombieEndpoint;
            telemetry::finding(&api.name, f.kind.slug(), "flagged");
            tracing::debug!(request_id = %ex.request_id, api = %api.name, path = %ex.path,
                finding = f.kind.slug(), "request flagged");
        }
        Verdict::Deny(f) => {
            if api.mode == Mode::Enforce {
                let mut resp = deny(ex, &api.name, &f);
                if let Match::MethodNotAllowed { allowed } = &found {
                    let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                    if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                        resp.headers_mut().insert(header::ALLOW, v);
                    }
                }
                return resp;
            }
            ex.verdict = "monitored";
            ex.finding = Some(f.kind.slug());
            telemetry::finding(&api.name, f.kind.slug(), "monitored");
            tracing::debug!(request_id = %ex.request_id, api = %api.name, path = %ex.path,
                finding = f.kind.slug(), "request would be denied (monitor mode)");
        }
    }

    // Guards: rate limits that do not depend on the caller (address,
    // network, API, operation, header), before credentials are checked, so
    // they also shield the verifiers.
    let operation = match &found {
        Match::Found { operation, .. } => Some(*operation),
        _ => None,
    };
    // Guards: the declared body size, before anything else is spent on it.
    let index = match &found {
        Match::Found { index, .. } => Some(*index),
        _ => None,
    };
    let body_cap = api.body_cap(index, head.media.as_ref());
    if head.content_length.is_some_and(|len| len > body_cap) {
        let f = Finding::new(ProblemKind::PayloadTooLarge);
        if let Some(resp) = enforce(api, ex, &f) {
            return resp;
        }
    }

    let mut limits = LimitState::default();
    if let Match::Found {
        index, operation, ..
    } = &found
        && let Err(resp) = limit(
            guards.limiter,
            api,
            *index,
            operation.id(),
            false,
            &req,
            None,
            &mut limits,
            ex,
        )
        .await
    {
        return resp;
    }

    // Guards: identity.
    let identity = match operation {
        Some(op) => match identify(
            api,
            op,
            &req,
            &head,
            conn.client_cert.as_deref(),
            lockout,
            ex,
        )
        .await
        {
            Ok(identity) => identity,
            Err(resp) => return resp,
        },
        None => None,
    };
    if let Some(id) = &identity {
        ex.consumer = Some(id.consumer.clone());
        if let Some(left) = guards.abuse.banned(ex.client, Some(&id.consumer)) {
            return banned(ex, &api.name, left);
        }
    }

    // Guards: rate limits and quotas by caller.
    if let Match::Found {
        index, operation, ..
    } = &found
        && let Err(resp) = limit(
            guards.limiter,
            api,
            *index,
            operation.id(),
            true,
            &req,
            identity.as_ref(),
            &mut limits,
            ex,
        )
        .await
    {
        return resp;
    }

    // Guards: requests in flight per consumer.
    let max_in_flight = api.request_limits.max_concurrent_per_consumer;
    if max_in_flight > 0
        && let Some(id) = &identity
    {
        let key = format!("{}:{}", api.name, id.consumer);
        match guards.in_flight.try_acquire(key, max_in_flight) {
            Some(slot) => ex.in_flight = Some(slot),
            None => {
                let f = Finding::with_detail(
                    ProblemKind::RateLimited,
                    "too many requests in flight for this consumer",
                );
                if let Some(mut resp) = enforce(api, ex, &f) {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return resp;
                }
            }
        }
    }

    // Guards: function-level authorization by role.
    if let Match::Found { index, .. } = &found {
        let roles = identity
            .as_ref()
            .map(|i| i.roles.as_slice())
            .unwrap_or_default();
        if !api.grants.allows(*index, roles) {
            let f = Finding::new(ProblemKind::Forbidden);
            if let Some(resp) = enforce(api, ex, &f) {
                return resp;
            }
        }
    }

    // Guards: object-level authorization (binding rules).
    if let Match::Found { index, params, .. } = &found
        && let Verdict::Deny(f) =
            api.object_access
                .check(*index, params, &head.query, identity.as_ref())
        && let Some(resp) = enforce(api, ex, &f)
    {
        return resp;
    }

    // Guards: object-level authorization (learned owners).
    let mut objects = Vec::new();
    if let (Match::Found { index, params, .. }, Some(store)) = (&found, &api.owners) {
        let named = match api.learning.named(*index, params, &head.query) {
            Ok(named) => named,
            Err(f) => match enforce(api, ex, &f) {
                Some(resp) => return resp,
                None => Vec::new(),
            },
        };
        for named in named {
            let key = ObjectKey {
                api: api.name.clone(),
                kind: named.kind.to_string(),
                id: named.id,
            };
            let verdict = match store.owner(&key).await {
                Ok(owner) => api.learning.decide(owner.as_deref(), identity.as_ref()),
                Err(e) => {
                    tracing::error!(request_id = %ex.request_id, api = %api.name, error = %e,
                        "cannot read object owners");
                    Verdict::Deny(Finding::new(ProblemKind::StateUnavailable))
                }
            };
            if let Verdict::Deny(f) = verdict {
                if f.kind == ProblemKind::OwnershipViolation {
                    tracing::warn!(request_id = %ex.request_id, api = %api.name,
                        consumer = identity.as_ref().map(|i| i.consumer.as_str()).unwrap_or("-"),
                        kind = %key.kind, "ownership violation");
                }
                if let Some(mut resp) = enforce(api, ex, &f) {
                    if f.kind == ProblemKind::StateUnavailable {
                        resp.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                    }
                    return resp;
                }
            }
            objects.push(key);
        }
    }

    // Guards: positive validation of parameters and body.
    let inspect_body = api.inspection.is_some() && head.media.as_ref().is_some_and(inspectable);
    let (req, body) = match validate(api, &found, req, &head, body_cap, inspect_body, ex).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };

    // Guards: attack inspection of every value.
    if let Err(resp) = inspect(
        api,
        &found,
        &req,
        &head,
        body.as_ref(),
        identity.as_ref(),
        ex,
    ) {
        return *resp;
    }
    // Bodies that stream are cut off at the cap.
    let tripped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = if api.mode == Mode::Enforce && !http_body::Body::is_end_stream(req.body()) {
        let flag = tripped.clone();
        req.map(|b| boxed(Capped::new(b, body_cap, flag)))
    } else {
        req
    };

    let target = Forward {
        api,
        operation,
        index: match &found {
            Match::Found { index, .. } => Some(*index),
            _ => None,
        },
        identity: identity.as_ref(),
        objects,
        tripped,
    };
    forward(&target, conn, trusted, path, host.as_deref(), req, ex).await
}

/// The refusal of a head that has no single reading.
fn head_refusal(e: &HeadError) -> Finding {
    match e {
        HeadError::Path(p) => Finding::with_detail(ProblemKind::InvalidPath, p.reason()),
        HeadError::Repeated("Host") => Finding::with_detail(
            ProblemKind::AmbiguousRequest,
            "the Host header is given more than once",
        ),
        HeadError::Repeated(_) => Finding::with_detail(
            ProblemKind::AmbiguousRequest,
            "the Content-Type header is given more than once",
        ),
        HeadError::MissingHost => {
            Finding::with_detail(ProblemKind::InvalidRequest, "the Host header is missing")
        }
        HeadError::InvalidHost => Finding::with_detail(
            ProblemKind::InvalidRequest,
            "the Host header is not a host name and port, or disagrees with the target",
        ),
        HeadError::MediaType(MediaTypeError::Repeated(_)) => Finding::with_detail(
            ProblemKind::AmbiguousRequest,
            "a Content-Type parameter is given more than once",
        ),
        HeadError::MediaType(MediaTypeError::Invalid) => Finding::with_detail(
            ProblemKind::UnsupportedMediaType,
            "the Content-Type is not a media type",
        ),
    }
}

/// The rate limits a request has met so far.
#[derive(Default)]
struct LimitState<'a> {
    taken: Taken,
    decided: Vec<(&'a Limit, LimitDecision)>,
}

/// Applies the limits of operation `index` decided before or after
/// authentication. A refusal gives back what earlier limits took and
/// answers `429` (or `503` for an unreachable `fail: closed` store).
#[allow(clippy::too_many_arguments)]
async fn limit<'a>(
    limiter: &Limiter,
    api: &'a Api,
    index: usize,
    operation: &str,
    after_identity: bool,
    req: &Request<Incoming>,
    identity: Option<&Identity>,
    state: &mut LimitState<'a>,
    ex: &mut Exchange,
) -> Result<(), Response<Body>> {
    let applicable: Vec<&Limit> = api.limits.for_operation(index, after_identity).collect();
    if applicable.is_empty() {
        return Ok(());
    }
    let ctx = KeyContext {
        api: &api.name,
        operation,
        client: ex.client,
        headers: req.headers(),
        identity,
    };
    let policy = api.limits.policy(index).cloned();
    let headers = api.limit_headers;
    match limiter
        .decide(&api.name, &applicable, &ctx, &mut state.taken)
        .await
    {
        LimitVerdict::Allowed(decided) => {
            state.decided.extend(decided);
            if headers && let Some(policy) = policy {
                ex.rate_limit = Some((policy, rate_limit_field(&state.decided)));
            }
            Ok(())
        }
        LimitVerdict::Refused(l, d) => {
            let kind = match l.rule {
                LimitRule::Rate(_) => ProblemKind::RateLimited,
                LimitRule::Quota(_) => ProblemKind::QuotaExceeded,
            };
            let f = Finding::new(kind);
            if api.mode != Mode::Enforce {
                ex.verdict = "monitored";
                ex.finding = Some(kind.slug());
                telemetry::finding(&api.name, kind.slug(), "monitored");
                return Ok(());
            }
            tracing::debug!(request_id = %ex.request_id, api = %api.name, limit = %l.name,
                "request over its limit");
            let mut resp = deny(ex, &api.name, &f);
            let wait = d.retry_after.map(ceil_secs).unwrap_or(1).max(1);
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            if headers && let Some(policy) = policy {
                ex.rate_limit = Some((policy, rate_limit_field(&[(l, d)])));
            }
            Err(resp)
        }
        LimitVerdict::Unavailable(l) => {
            let f = Finding::new(ProblemKind::LimitUnavailable);
            if api.mode != Mode::Enforce {
                ex.verdict = "monitored";
                ex.finding = Some(f.kind.slug());
                return Ok(());
            }
            tracing::warn!(request_id = %ex.request_id, api = %api.name, limit = %l.name,
                "refused: the limit's store is unreachable and it fails closed");
            let mut resp = deny(ex, &api.name, &f);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Err(resp)
        }
    }
}

/// A request body read once, under its cap, and parsed once: the bytes are
/// forwarded as they are, and every control reads `parsed`.
struct ReadBody {
    bytes: bytes::Bytes,
    parsed: ParsedBody,
}

/// Validates the request against the operation's parameters and body
/// schema, reading the body (under the caps) when a JSON or form schema
/// needs it or when `inspect_body` asks for it; every other body streams
/// through. A body that is read is parsed once by the request view: one
/// that has two readings (a duplicate JSON key, ambiguous multipart) is
/// refused, one that is not what it claims to be is invalid. Returns the
/// request and, when it was read, the body.
async fn validate(
    api: &Api,
    found: &Match<'_>,
    req: Request<Incoming>,
    head: &Head,
    body_cap: u64,
    inspect_body: bool,
    ex: &mut Exchange,
) -> Result<(Request<Body>, Option<ReadBody>), Response<Body>> {
    let (validator, params) = match found {
        Match::Found { index, params, .. } => (api.validators.get(*index), params.as_slice()),
        _ => (None, &[][..]),
    };
    let has_body = !http_body::Body::is_end_stream(req.body());
    if validator.is_none() && !(inspect_body && has_body) {
        return Ok((req.map(boxed), None));
    }
    let media = head.media.as_ref();
    let mut violations = Violations::new();
    if let Some(v) = validator
        && let Err(vs) = v.validate_params(params, &head.query, req.headers(), &head.cookies)
    {
        vs.iter().cloned().for_each(|x| violations.push(x));
    }
    let plan = match validator {
        Some(v) if !has_body => {
            if let Err(vs) = v.validate_body(media, &ParsedBody::Empty) {
                vs.iter().cloned().for_each(|x| violations.push(x));
            }
            MediaPlan::Stream
        }
        Some(v) => v.media_plan(media),
        None => MediaPlan::Stream,
    };
    let schema_body = matches!(plan, MediaPlan::Buffer);
    if let MediaPlan::Refuse(vs) = &plan {
        vs.iter().cloned().for_each(|x| violations.push(x));
    }
    let read = has_body && (schema_body || inspect_body && !matches!(plan, MediaPlan::Refuse(_)));
    let (req, body) = if read {
        let (parts, body) = req.into_parts();
        let cap = if schema_body {
            api.max_body_bytes.min(body_cap)
        } else {
            body_cap
        };
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(deny(
                    ex,
                    &api.name,
                    &Finding::new(ProblemKind::PayloadTooLarge),
                ));
            }
            Err(_) => {
                return Err(deny_always(
                    ex,
                    Finding::with_detail(
                        ProblemKind::InvalidRequest,
                        "the request body could not be read",
                    ),
                ));
            }
        };
        let limits = BodyLimits {
            json: api.json_shape,
            ..BodyLimits::default()
        };
        let req = Request::from_parts(parts, full(bytes.clone()));
        match ParsedBody::parse(media, &bytes, &limits) {
            Ok(parsed) => {
                if schema_body
                    && let Some(v) = validator
                    && let Err(vs) = v.validate_body(media, &parsed)
                {
                    vs.iter().cloned().for_each(|x| violations.push(x));
                }
                (req, Some(ReadBody { bytes, parsed }))
            }
            Err(e) => {
                if let Some(detail) = ambiguity(&e) {
                    let f = Finding::with_detail(ProblemKind::AmbiguousRequest, detail);
                    if let Some(resp) = enforce(api, ex, &f) {
                        return Err(resp);
                    }
                } else {
                    violations.push(Violation::unreadable_body(&e));
                }
                (req, None)
            }
        }
    } else {
        (req.map(boxed), None)
    };
    if violations.iter().next().is_none() {
        return Ok((req, body));
    }
    let kind = match violations.status().as_u16() {
        415 => ProblemKind::UnsupportedMediaType,
        422 => ProblemKind::UnprocessableRequest,
        _ => ProblemKind::InvalidRequest,
    };
    if api.mode == Mode::Enforce {
        ex.verdict = "denied";
        ex.finding = Some(kind.slug());
        telemetry::finding(&api.name, kind.slug(), "denied");
        let mut problem = Problem::new(kind, None, &ex.request_id);
        problem.violations = Some(violations.to_problem_details());
        return Err(problem_response(&problem));
    }
    ex.verdict = "monitored";
    ex.finding = Some(kind.slug());
    telemetry::finding(&api.name, kind.slug(), "monitored");
    Ok((req, body))
}

/// Why a body that cannot be parsed has two readings (the detail of an
/// `ambiguous-request`); `None` when it is merely invalid.
fn ambiguity(e: &BodyError) -> Option<&'static str> {
    match e {
        BodyError::Json(j) if j.rule == JsonRule::DuplicateKey => {
            Some("a JSON object gives the same key twice")
        }
        BodyError::Multipart(MultipartError::Framing) => {
            Some("the multipart body has a boundary that is not on its own CRLF line")
        }
        BodyError::Multipart(MultipartError::Boundary) => {
            Some("the multipart boundary is missing or invalid")
        }
        BodyError::Multipart(MultipartError::Repeated(_)) => {
            Some("a multipart part gives a header or parameter twice")
        }
        BodyError::Multipart(_) => Some("the multipart body is malformed"),
        BodyError::Json(_) | BodyError::FormEncoding => None,
    }
}

/// A GraphQL request: parsed under the API's limits (introspection only for
/// the configured roles, queries only from the allow-list when one is set),
/// then its argument and variable values inspected.
fn graphql(
    api: &Api,
    insp: &crate::inspection::ApiInspection,
    media: &str,
    body: &[u8],
    identity: Option<&Identity>,
    report: &mut moat_inspect::Report,
    ex: &mut Exchange,
) -> Result<(), Refusal> {
    let may_introspect =
        identity.is_some_and(|i| i.roles.iter().any(|r| insp.introspection_roles.contains(r)));
    let limits = moat_inspect::graphql::GraphqlLimits {
        allow_introspection: may_introspect,
        ..insp.graphql.clone()
    };
    let refused = |ex: &mut Exchange, rule| refuse(api, ex, ProblemKind::GraphqlRejected, rule);
    let request = match moat_inspect::graphql::check(body, media, &limits) {
        Ok(r) => r,
        Err(v) => return refused(ex, v.rule()),
    };
    if let Some(allowed) = &insp.persisted_queries {
        let listed = request.operations().iter().all(|op| {
            !op.hash_mismatch()
                && op
                    .query_hash
                    .as_ref()
                    .or(op.persisted_hash.as_ref())
                    .is_some_and(|h| allowed.contains(h))
        });
        if !listed {
            return refused(ex, "persisted_query");
        }
    }
    request.inspect(&insp.inspector, report);
    Ok(())
}

/// An XML body: parsed under the API's limits (a DOCTYPE is always
/// refused), the SOAP action checked against the envelope, then its text
/// and attribute values inspected.
fn xml(
    api: &Api,
    insp: &crate::inspection::ApiInspection,
    req: &Request<Body>,
    media: &str,
    body: &[u8],
    report: &mut moat_inspect::Report,
    ex: &mut Exchange,
) -> Result<(), Refusal> {
    let refused = |ex: &mut Exchange, rule| refuse(api, ex, ProblemKind::XmlRejected, rule);
    let doc = match moat_inspect::xml::check(body, &insp.xml) {
        Ok(d) => d,
        Err(v) => return refused(ex, v.rule()),
    };
    if insp.soap_action_consistency {
        let action = req
            .headers()
            .get("soapaction")
            .and_then(|v| v.to_str().ok());
        let content_type = content_type(req.headers()).unwrap_or(media);
        if !moat_inspect::xml::soap_action_consistent(action, content_type, &doc) {
            return refused(ex, "soap_action");
        }
    }
    doc.inspect(&insp.inspector, report);
    Ok(())
}

/// Whether inspection reads bodies of this media type (text it can take
/// apart; binary bodies stream through).
fn inspectable(media: &MediaType) -> bool {
    media.is_json()
        || media.is_form()
        || media.essence() == "application/graphql"
        || media.essence() == "multipart/form-data"
        || media.is_xml()
        || media.is_text()
}

/// Attack inspection of every value of the request; `Err` is the answer.
fn inspect(
    api: &Api,
    found: &Match<'_>,
    req: &Request<Body>,
    head: &Head,
    body: Option<&ReadBody>,
    identity: Option<&Identity>,
    ex: &mut Exchange,
) -> Result<(), Refusal> {
    let Some(insp) = &api.inspection else {
        return Ok(());
    };
    let (index, operation) = match found {
        Match::Found {
            index, operation, ..
        } => (Some(*index), Some(*operation)),
        _ => (None, None),
    };
    // Header names are already lower case in a `HeaderMap`.
    let header_refs: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let media = head.media.as_ref().map(MediaType::essence);
    let mut body = match (body, media) {
        (Some(b), Some(m)) if (b.bytes.len() as u64) <= insp.max_body_bytes => Some((m, b)),
        (Some(_), Some(_)) => {
            telemetry::finding(&api.name, "uninspected-body", "flagged");
            None
        }
        _ => None,
    };
    let mut report = moat_inspect::Report::default();
    // GraphQL and XML bodies are parsed with their own limits, and their
    // values (arguments, variables, text, attributes) inspected one by one.
    if let Some((m, b)) = body {
        if insp.is_graphql(index) && (m == "application/json" || m == "application/graphql") {
            graphql(api, insp, m, &b.bytes, identity, &mut report, ex)?;
            body = None;
        } else if matches!(b.parsed, ParsedBody::Xml) {
            xml(api, insp, req, m, &b.bytes, &mut report, ex)?;
            body = None;
        }
    }
    let parts = moat_inspect::RequestParts {
        segments: head.path.segments(),
        query: &head.query,
        headers: &header_refs,
        cookies: &head.cookies,
        body: body.map(|(_, b)| (&b.bytes[..], &b.parsed)),
    };
    let hints = operation.filter(|_| api.validated && api.mode == Mode::Enforce);
    match hints {
        Some(op) => insp.inspector.inspect_request(
            &parts,
            &crate::inspection::SchemaHints {
                spec: api.table.spec(),
                operation: op,
            },
            &mut report,
        ),
        None => insp
            .inspector
            .inspect_request(&parts, &moat_inspect::NoHints, &mut report),
    }
    let report = insp.apply_exclusions(index, report);
    if report.is_empty() {
        return Ok(());
    }
    let described = crate::inspection::describe(&report);
    if !insp.inspector.blocks(&report) {
        if ex.verdict == "allowed" {
            ex.verdict = "flagged";
        }
        ex.finding.get_or_insert("attack-suspected");
        telemetry::finding(&api.name, "attack-suspected", "flagged");
        tracing::info!(target: "moat::security", request_id = %ex.request_id, api = %api.name,
            score = report.score(), findings = %described, "suspicious values below the threshold");
        return Ok(());
    }
    let f = Finding::new(ProblemKind::AttackDetected);
    if api.mode == Mode::Enforce {
        tracing::warn!(target: "moat::security", request_id = %ex.request_id, api = %api.name,
            score = report.score(), findings = %described, "attack refused");
        return Err(Box::new(deny(ex, &api.name, &f)));
    }
    tracing::warn!(target: "moat::security", request_id = %ex.request_id, api = %api.name,
        score = report.score(), findings = %described, "attack detected (monitor mode: forwarded)");
    ex.verdict = "monitored";
    ex.finding = Some(f.kind.slug());
    telemetry::finding(&api.name, f.kind.slug(), "monitored");
    Ok(())
}

/// Verifies the credentials `op` requires; `Err` is the answer to send.
async fn identify(
    api: &Api,
    op: &moat_spec::Operation,
    req: &Request<Incoming>,
    head: &Head,
    client_cert: Option<&ClientCert>,
    lockout: Option<&dyn moat_state::LockoutStore>,
    ex: &mut Exchange,
) -> Result<Option<Identity>, Response<Body>> {
    let side = RequestSide {
        headers: req.headers(),
        query: &head.query,
        cookies: &head.cookies,
        client_cert,
        client: ex.client,
    };
    let result = api.identity.identify(op, &side, lockout).await;
    ex.credential_id = result.credential_id.clone();
    ex.auth_failed =
        result.locked_out.is_some() || matches!(result.decision, IdentityDecision::Invalid { .. });
    let kind = match result.decision {
        _ if result.locked_out.is_some() => ProblemKind::LockedOut,
        IdentityDecision::Allowed(identity) => return Ok(identity),
        IdentityDecision::Unauthenticated => ProblemKind::Unauthenticated,
        IdentityDecision::Invalid { .. } => ProblemKind::InvalidCredentials,
        IdentityDecision::InsufficientScope { .. } => ProblemKind::InsufficientScope,
        IdentityDecision::Unavailable => ProblemKind::VerifierUnavailable,
    };
    let finding = Finding::new(kind);
    if api.mode == Mode::Enforce {
        let mut resp = deny(ex, &api.name, &finding);
        for challenge in &result.challenges {
            if let Ok(v) = HeaderValue::from_str(challenge) {
                resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        let retry_after = match result.locked_out {
            Some(remaining) => Some(moat_state::retry_after_secs(remaining)),
            None => (kind == ProblemKind::VerifierUnavailable).then_some(5),
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Err(resp);
    }
    ex.verdict = "monitored";
    ex.finding = Some(kind.slug());
    telemetry::finding(&api.name, kind.slug(), "monitored");
    Ok(None)
}

/// Where and as whom a request is forwarded.
struct Forward<'a> {
    api: &'a Api,
    operation: Option<&'a moat_spec::Operation>,
    index: Option<usize>,
    identity: Option<&'a Identity>,
    /// The tracked objects the request names (forgotten when a `DELETE`
    /// of them succeeds).
    objects: Vec<ObjectKey>,
    /// Set when the request body ran past its cap while streaming.
    tripped: Arc<std::sync::atomic::AtomicBool>,
}

/// Forwards to the upstream and streams its answer back.
async fn forward(
    fwd: &Forward<'_>,
    conn: &ConnInfo,
    trusted: bool,
    path: &CanonicalPath,
    host: Option<&str>,
    mut req: Request<Body>,
    ex: &mut Exchange,
) -> Response<Body> {
    let api = fwd.api;
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let target = api.upstream.pick();
    let query = api
        .identity
        .forwarded_query(fwd.operation, req.uri().query());
    let uri = match target.uri(&path.encoded_after(api.base_len()), query.as_deref()) {
        Ok(u) => u,
        Err(_) => {
            return deny_always(
                ex,
                Finding::with_detail(ProblemKind::InvalidPath, "the request target is invalid"),
            );
        }
    };

    let (mut parts, body) = req.into_parts();
    let deleting = parts.method == Method::DELETE;
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrade);
    headers.remove(header::HOST);
    set_forwarding_headers(
        &mut headers,
        &ClientSide {
            peer: conn.peer,
            trusted,
            proto: if conn.tls { "https" } else { "http" },
            host,
        },
    );
    if let Ok(v) = HeaderValue::from_str(&ex.request_id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    api.identity
        .prepare_upstream_headers(fwd.operation, fwd.identity, &mut headers);

    let mut up_req = Request::new(body);
    *up_req.method_mut() = parts.method;
    *up_req.uri_mut() = uri;
    *up_req.version_mut() = Version::HTTP_11;
    *up_req.headers_mut() = headers;

    let sent = Instant::now();
    let result = api.upstream.send(up_req).await;
    let took = sent.elapsed();
    let mut resp = match result {
        Ok(r) => r,
        Err(_) if fwd.tripped.load(std::sync::atomic::Ordering::Relaxed) => {
            return deny(ex, &api.name, &Finding::new(ProblemKind::PayloadTooLarge));
        }
        Err(failure) => {
            telemetry::upstream_error(&api.name, api.upstream.name(), failure.label());
            tracing::warn!(request_id = %ex.request_id, api = %api.name,
                upstream = api.upstream.name(), target = target.authority(),
                kind = failure.label(), "upstream call failed");
            let kind = match failure {
                UpstreamFailure::Timeout => ProblemKind::UpstreamTimeout,
                UpstreamFailure::Connect => ProblemKind::UpstreamUnavailable,
                UpstreamFailure::Protocol => ProblemKind::UpstreamError,
            };
            return problem_response(&Problem::new(kind, None, &ex.request_id));
        }
    };
    ex.upstream_latency = Some(took);
    telemetry::upstream_latency(&api.name, api.upstream.name(), took);

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = client_upgrade {
            let upstream_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(tunnel(client_side, upstream_side, ex.request_id.clone()));
        }
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, crate::body::empty());
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    // Do not advertise the upstream's software and version.
    resp.headers_mut().remove(header::SERVER);
    resp.headers_mut().remove("x-powered-by");
    let mut resp = resp.map(boxed);
    if resp.status().is_success()
        && let Some(store) = &api.owners
    {
        if let Some(index) = fwd.index.filter(|&i| api.learning.creates(i)) {
            resp = learn_owner(api, store.as_ref(), index, fwd.identity, resp, ex).await;
        }
        if deleting {
            for key in &fwd.objects {
                if let Err(e) = store.forget(key).await {
                    tracing::error!(request_id = %ex.request_id, api = %api.name, error = %e,
                        "cannot forget the owner of a deleted object");
                }
            }
        }
    }
    if let Some(insp) = &api.inspection
        && insp.mask_suggestions
        && insp.is_graphql(fwd.index)
    {
        resp = mask_graphql_suggestions(api, resp).await;
    }
    match fwd.index.and_then(|i| api.response_filters.get(i)) {
        Some(filter) => protect_response(api, filter, resp, ex).await,
        None => resp,
    }
}

/// Excessive data exposure: scrubs undocumented error bodies, and filters
/// documented JSON bodies (undeclared and `writeOnly` properties removed,
/// secrets masked) when they are small enough to read.
async fn protect_response(
    api: &Api,
    filter: &ResponseFilter,
    resp: Response<Body>,
    ex: &mut Exchange,
) -> Response<Body> {
    let cfg = &api.responses;
    let status = resp.status().as_u16();
    if cfg.scrub_errors && status >= 400 && !filter.documents_status(status) {
        telemetry::finding(&api.name, "error-scrubbed", "flagged");
        ex.finding.get_or_insert("error-scrubbed");
        if ex.verdict == "allowed" {
            ex.verdict = "flagged";
        }
        let mut problem = Problem::new(ProblemKind::UpstreamError, None, &ex.request_id);
        problem.status = status;
        let mut scrubbed = problem_response(&problem);
        *scrubbed.status_mut() = resp.status();
        return scrubbed;
    }
    let content_type = content_type(resp.headers()).map(str::to_string);
    if !filter.wants_body(status, content_type.as_deref()) {
        return resp;
    }
    let limit = usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX);
    let declared = declared_length(resp.headers());
    if declared.is_some_and(|len| len > cfg.max_body_bytes) {
        return oversize(api, resp, ex);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match read_capped(body, limit).await {
        Some(bytes) => bytes,
        // Too large without a Content-Length, or broken mid-way: what was
        // read cannot be forwarded unfiltered.
        None => {
            telemetry::upstream_error(&api.name, api.upstream.name(), "unfilterable");
            return problem_response(&Problem::new(
                ProblemKind::UpstreamError,
                None,
                &ex.request_id,
            ));
        }
    };
    match filter.filter(status, &bytes) {
        None => Response::from_parts(parts, full(bytes)),
        Some((filtered, report)) => {
            if ex.verdict == "allowed" {
                ex.verdict = "flagged";
            }
            if !report.removed.is_empty() {
                if cfg.undeclared == moat_config::UndeclaredPolicy::Block {
                    ex.verdict = "denied";
                    ex.finding = Some("undeclared-property");
                    telemetry::finding(&api.name, "undeclared-property", "denied");
                    tracing::warn!(request_id = %ex.request_id, api = %api.name,
                        removed = ?report.removed, "response blocked: undeclared properties");
                    return problem_response(&Problem::new(
                        ProblemKind::UpstreamError,
                        Some(
                            "the upstream's response carried properties its document does not declare",
                        ),
                        &ex.request_id,
                    ));
                }
                telemetry::finding(&api.name, "undeclared-property", "flagged");
                ex.finding.get_or_insert("undeclared-property");
            }
            if !report.masked.is_empty() {
                telemetry::finding(&api.name, "sensitive-value", "flagged");
                ex.finding.get_or_insert("sensitive-value");
            }
            tracing::debug!(request_id = %ex.request_id, removed = ?report.removed,
                masked = ?report.masked, "response filtered");
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, full(filtered))
        }
    }
}

/// Removes "Did you mean …?" field suggestions from a GraphQL JSON answer,
/// so the schema cannot be mapped by guessing. Answers too large to read
/// (over `responses.max_body_bytes`) pass unchanged.
async fn mask_graphql_suggestions(api: &Api, resp: Response<Body>) -> Response<Body> {
    let json =
        content_type(resp.headers()).is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let declared = declared_length(resp.headers());
    if !json || declared.is_some_and(|len| len > api.responses.max_body_bytes) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let limit = usize::try_from(api.responses.max_body_bytes).unwrap_or(usize::MAX);
    let Some(bytes) = read_capped(body, limit).await else {
        return problem_response(&Problem::new(ProblemKind::UpstreamError, None, "-"));
    };
    match moat_inspect::graphql::mask_suggestions(&bytes) {
        Some(masked) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, full(masked))
        }
        None => Response::from_parts(parts, full(bytes)),
    }
}

/// Ownership learning: records the caller as the owner of the object a
/// successful create answer names. The body is read (under the response
/// cap) before it is passed on, so the record exists before the creator —
/// or anyone else — can name the object.
async fn learn_owner(
    api: &Api,
    store: &dyn OwnershipStore,
    index: usize,
    identity: Option<&Identity>,
    resp: Response<Body>,
    ex: &mut Exchange,
) -> Response<Body> {
    let Some(identity) = identity else {
        // Nobody to record: an anonymous create (or monitor mode).
        tracing::debug!(request_id = %ex.request_id, api = %api.name,
            "object created without a known consumer: no owner recorded");
        return resp;
    };
    let declared = declared_length(resp.headers());
    if declared.is_some_and(|len| len > api.responses.max_body_bytes) {
        unrecorded(
            api,
            ex,
            "the create answer is larger than responses.max_body_bytes",
        );
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let limit = usize::try_from(api.responses.max_body_bytes).unwrap_or(usize::MAX);
    let Some(bytes) = read_capped(body, limit).await else {
        telemetry::upstream_error(&api.name, api.upstream.name(), "unreadable");
        return problem_response(&Problem::new(
            ProblemKind::UpstreamError,
            None,
            &ex.request_id,
        ));
    };
    match api.learning.created(index, &bytes) {
        None => unrecorded(api, ex, "the create answer has no id at id_pointer"),
        Some(object) => {
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
                    telemetry::finding(&api.name, "ownership-conflict", "flagged");
                    ex.finding.get_or_insert("ownership-conflict");
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
    }
    Response::from_parts(parts, full(bytes))
}

fn unrecorded(api: &Api, ex: &mut Exchange, why: &'static str) {
    telemetry::finding(&api.name, "ownership-unrecorded", "flagged");
    ex.finding.get_or_insert("ownership-unrecorded");
    tracing::warn!(request_id = %ex.request_id, api = %api.name, why, "no owner recorded for a created object");
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

fn oversize(api: &Api, resp: Response<Body>, ex: &mut Exchange) -> Response<Body> {
    match api.responses.oversize {
        moat_config::OversizePolicy::Pass => {
            telemetry::finding(&api.name, "unfiltered-oversize", "flagged");
            resp
        }
        moat_config::OversizePolicy::Block => {
            ex.finding = Some("unfiltered-oversize");
            problem_response(&Problem::new(
                ProblemKind::UpstreamError,
                None,
                &ex.request_id,
            ))
        }
    }
}

/// Copies bytes both ways between an upgraded client and upstream connection.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    request_id: String,
) {
    match tokio::try_join!(client, upstream) {
        Ok((c, u)) => {
            let mut c = TokioIo::new(c);
            let mut u = TokioIo::new(u);
            if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
                tracing::debug!(%request_id, error = %e, "upgraded connection closed");
            }
        }
        Err(e) => tracing::warn!(%request_id, error = %e, "protocol upgrade failed"),
    }
}

/// Applies a denial according to the API's mode: in enforce mode the
/// answer to send; in monitor mode `None`, with the would-be denial
/// recorded.
fn enforce(api: &Api, ex: &mut Exchange, f: &Finding) -> Option<Response<Body>> {
    if api.mode == Mode::Enforce {
        return Some(deny(ex, &api.name, f));
    }
    ex.verdict = "monitored";
    ex.finding = Some(f.kind.slug());
    telemetry::finding(&api.name, f.kind.slug(), "monitored");
    None
}

/// [`enforce`] for a problem `kind` whose `detail` names the broken `rule`.
fn refuse(
    api: &Api,
    ex: &mut Exchange,
    kind: ProblemKind,
    rule: &'static str,
) -> Result<(), Refusal> {
    match enforce(api, ex, &Finding::with_detail(kind, rule)) {
        Some(resp) => Err(Box::new(resp)),
        None => Ok(()),
    }
}

/// The answer a guard gives instead of forwarding (boxed: a response is
/// large, and most calls go on).
type Refusal = Box<Response<Body>>;

/// Records a denial and answers it (enforce mode).
fn deny(ex: &mut Exchange, api: &str, f: &Finding) -> Response<Body> {
    ex.verdict = "denied";
    ex.finding = Some(f.kind.slug());
    telemetry::finding(api, f.kind.slug(), "denied");
    tracing::debug!(request_id = %ex.request_id, api, path = %ex.path,
        finding = f.kind.slug(), "request denied");
    problem_response(&Problem::new(f.kind, f.detail, &ex.request_id))
}

/// The answer to a banned client or consumer (whatever the mode: a ban is
/// an operator's or a detector's explicit decision).
fn banned(ex: &mut Exchange, api: &str, left: Option<Duration>) -> Response<Body> {
    let mut resp = deny(ex, api, &Finding::new(ProblemKind::Banned));
    if let Some(left) = left
        && let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// A denial that does not depend on an API's mode (no API matched, or the
/// request cannot be forwarded at all).
fn deny_always(ex: &mut Exchange, f: Finding) -> Response<Body> {
    deny(ex, "-", &f)
}

/// The `Content-Type` header, when it is text.
fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The `Content-Length` header, when it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A problem+json response.
pub fn problem_response(p: &Problem) -> Response<Body> {
    let mut resp = Response::new(full(p.to_json()));
    *resp.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let h: &mut HeaderMap = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
