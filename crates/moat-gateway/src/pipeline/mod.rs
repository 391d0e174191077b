//! The request pipeline: one request view, named phases, one outcome.
//!
//! Every request runs the same visible sequence. Each phase reads the
//! request view (see `moat-request`: the request parsed once at entry) and
//! either goes on or ends the exchange with an answer; every refusal goes
//! through one function that applies the API's mode ([`refusal`]), and the
//! exchange carries one typed [`Outcome`] (allowed < flagged < monitored <
//! denied).
//!
//! | phase | runs | result |
//! |---|---|---|
//! | [route] | always | the head read once; API and operation; shadow/zombie verdict; method overrides and underscored field names |
//! | [admit] | around identify, after validate | bans, declared body size, limits (on the head, the caller, the JSON body), requests in flight |
//! | [identify] | documented operations | the caller's identity |
//! | [authorize] | documented operations | roles, binding rules, learned owners |
//! | [validate] | requests that reached an API | parameters and the body (read and parsed once) |
//! | [login] | operations in `apis[].logins` | the named account's lockouts; after the upstream, failures counted and made uniform |
//! | [inspect] | APIs with inspection | attack findings on every value |
//! | [upstream] | what was let through | upstream request, then the answer's head |
//! | [response] | every upstream answer | learning, masking, filtering on one read |
//! | [record] | once, when answered | access log line, metrics (shared with listener refusals) |

// A phase's `Err` is the answer that ends the exchange: it is returned
// once per request and moved straight to the client, so its size does not
// matter.
#![allow(clippy::result_large_err)]

mod admit;
mod authorize;
mod exchange;
mod identify;
mod inspect;
mod login;
mod record;
mod refusal;
mod response;
mod route;
mod upstream;
mod validate;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use moat_config::Mode;
use moat_guard::anomaly::{ObjectRef, Observation};

pub use exchange::Outcome;
pub(crate) use exchange::{Detail, Exchange};
pub use login::Logins;
pub(crate) use record::{Pending, record};
pub(crate) use refusal::answer;
pub use refusal::problem_response;

use crate::abuse::Abuse;
use crate::access_log::AccessLog;
use crate::body::{Body, BodyProgress, ClientBody, boxed};
use crate::client_cert::ClientCert;
use crate::forwarding::{PeerFields, RequestId, client_ip, is_trusted};
use crate::limits::{InFlight, Limiter};
use crate::runtime::Runtime;
use crate::timer::Deadlines;

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
    /// The security event queue; read at start-up.
    pub events: Arc<crate::events::Events>,
    /// Requests by outcome over time and by operation, for the admin API.
    pub traffic: Arc<crate::traffic::Traffic>,
    /// Shapes of sampled exchanges (`discovery.capture`).
    pub capture: Arc<crate::capture::Capture>,
    /// The state store and the key cache; opened at start-up.
    pub(crate) state: Arc<crate::state::GatewayState>,
}

/// What is known of the connection a request came on.
#[derive(Debug)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The listener's index in `listeners`.
    pub listener: usize,
    /// The client certificate the TLS layer verified, if any.
    pub client_cert: Option<Arc<ClientCert>>,
    /// The forwarding fields of this connection, formatted once.
    pub forwarding: PeerFields,
    /// The connection's reused timer for the upstream response deadline of
    /// each of its requests.
    pub deadlines: Arc<Deadlines>,
}

impl ConnInfo {
    /// What is known of a connection from `peer` on listener `listener`.
    pub fn new(
        peer: SocketAddr,
        tls: bool,
        listener: usize,
        client_cert: Option<Arc<ClientCert>>,
    ) -> Self {
        Self {
            peer,
            tls,
            listener,
            client_cert,
            forwarding: PeerFields::new(peer, tls),
            deadlines: Deadlines::new(),
        }
    }
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
    let mut pending = Pending::new(
        &shared,
        Exchange::new(
            request_id(&rt, trusted, req.headers()),
            client_ip(conn.peer, req.headers(), &rt.trusted_proxies),
            req.method().clone(),
        ),
        arrived,
        started,
    );
    let ex = &mut pending.ex;
    ex.capture = shared.capture.sample();
    let guards = Guards {
        lockout: shared.lockout.as_deref(),
        limiter: &shared.limiter,
        in_flight: &shared.in_flight,
        abuse: &shared.abuse,
        capture_body: shared.capture.max_body_bytes(),
    };
    let mut resp = match run(&rt, &conn, trusted, &guards, req, ex).await {
        Ok(resp) | Err(resp) => resp,
    };
    finish_headers(&rt, &conn, ex, &mut resp);

    let status = resp.status().as_u16();
    if let Some(draft) = ex.capture.take() {
        resp = capture_answer(&shared, ex, *draft, status, resp, arrived);
    }
    let now = u64::try_from(
        arrived
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(0);
    shared
        .abuse
        .observe(
            ex.api_name(),
            &Observation {
                now,
                client: ex.client,
                consumer: ex.consumer.as_deref(),
                credential_id: ex.credential_id.as_deref(),
                auth_failed: ex.auth_failed,
                object: ex.object.as_ref().map(|o| ObjectRef {
                    kind: &o.kind,
                    id: &o.id,
                }),
                answered_by: ex.answered_by(),
                status,
            },
        )
        .await;
    pending.answered(status);
    Ok(resp)
}

/// Hands a sampled exchange's shape to the capture (exchanges that
/// reached no API have none): at once, or, for a JSON answer that may be
/// small enough, when its body has streamed to the client (copied on the
/// way, never held back).
fn capture_answer(
    shared: &Shared,
    ex: &Exchange,
    draft: crate::capture::Draft,
    status: u16,
    resp: Response<Body>,
    arrived: SystemTime,
) -> Response<Body> {
    if draft.api.is_empty() {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let max = shared.capture.max_body_bytes() as u64;
    let json = content_type
        .as_deref()
        .and_then(|c| moat_guard::request::MediaType::parse(c).ok())
        .is_some_and(|m| m.is_json());
    let small = http_body::Body::size_hint(resp.body())
        .exact()
        .is_none_or(|n| n > 0 && n <= max);
    let at = arrived
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let captured = crate::capture::Captured {
        auth: ex.auth_kind(draft.presented),
        draft,
        method: ex.method.as_str().to_string(),
        status,
        content_type,
        at,
        answer: None,
    };
    if json && small && max > 0 && !http_body::Body::is_end_stream(resp.body()) {
        let capture = shared.capture.clone();
        resp.map(|b| boxed(crate::capture::CaptureBody::new(b, captured, capture)))
    } else {
        shared.capture.submit(captured);
        resp
    }
}

/// What a sampled exchange's draft takes from the routed request: the
/// operation's template or the path within the API, the query string, the
/// header fields and the presented `Authorization` scheme.
/// Filled when the request is routed, before a refusal of an undocumented
/// path (so that enforce mode captures what clients try too).
pub(super) fn fill_capture(
    draft: &mut crate::capture::Draft,
    api: &crate::runtime::Api,
    operation: Option<&moat_spec::Operation>,
    head: &moat_guard::request::Head,
    req: &Request<Incoming>,
) {
    draft.api = api.name.clone();
    draft.template = operation.map(|op| op.path_template.clone());
    draft.path = head.path.encoded_after(api.base_len()).to_string();
    draft.query = req.uri().query().map(str::to_string);
    draft.headers = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    draft.media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    draft.presented = crate::capture::presented_scheme(req.headers());
}

/// The request id: the client's when it comes through a trusted proxy and
/// is acceptable, a new one otherwise.
pub(crate) fn request_id(rt: &Runtime, trusted: bool, headers: &http::HeaderMap) -> RequestId {
    headers
        .get(&rt.request_id_header)
        .filter(|_| trusted)
        .and_then(RequestId::acceptable)
        .unwrap_or_default()
}

/// Fields every answer carries: request id, HSTS, `nosniff`; and those the
/// exchange earned: `Deprecation`, `Cache-Control: no-store` for an
/// identified caller, CORS, `RateLimit`.
pub(crate) fn finish_headers(
    rt: &Runtime,
    conn: &ConnInfo,
    ex: &mut Exchange,
    resp: &mut Response<Body>,
) {
    let headers = resp.headers_mut();
    headers.insert(rt.request_id_header.clone(), ex.request_id.header_value());
    if let Some(hsts) = rt.hsts(conn.listener) {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if ex.deprecation {
        headers.insert(DEPRECATION, HeaderValue::from_static("true"));
    }
    // Browsers must not guess content types, and a response for an
    // authenticated caller must not be kept by shared caches.
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
        headers.insert(RATELIMIT_POLICY, policy);
        if let Some(v) = current {
            headers.insert(RATELIMIT, v);
        }
    }
}

/// `Deprecation` (RFC 9745). Names are constants: a `&str` name is parsed
/// again at every insert.
const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The body read timeout of a listener the runtime does not know (a
/// connection accepted just before a reload removed its listener).
const DEFAULT_BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The guards' state that outlives a runtime.
pub(crate) struct Guards<'a> {
    lockout: Option<&'a dyn moat_state::LockoutStore>,
    limiter: &'a Limiter,
    in_flight: &'a Arc<InFlight>,
    abuse: &'a Abuse,
    /// The largest JSON body a sampled exchange's shape is learned from.
    capture_body: usize,
}

/// The phases, in order; `Err` is an answer given before the upstream.
async fn run(
    rt: &Runtime,
    conn: &ConnInfo,
    trusted: bool,
    guards: &Guards<'_>,
    req: Request<Incoming>,
    ex: &mut Exchange,
) -> Result<Response<Body>, Response<Body>> {
    // admit (address): a banned address gets nothing else.
    if let Some(left) = guards.abuse.banned_address(ex.client) {
        return Err(admit::banned(ex, "-", left));
    }
    // route: the view, the API and the operation.
    let head = route::read_head(&req, ex)?;
    let routed = route::route(rt, &head, &req, ex)?;
    let api = routed.api;
    let mut req = req;
    let screened =
        route::screen_fields(&rt.loaded.config.proxy, api, &head, req.headers_mut(), ex)?;

    // admit: the declared body size, and limits keyed on the request.
    let body_cap = api.body_cap(routed.index(), head.media.as_ref());
    let mut limits = admit::LimitState::default();
    admit::before_identity(
        guards,
        &routed,
        body_cap,
        head.content_length,
        &req,
        &mut limits,
        ex,
    )
    .await?;

    // identify.
    let identity = match routed.operation() {
        Some(op) => {
            identify::identify(
                api,
                op,
                &req,
                &head,
                conn.client_cert.as_deref(),
                guards.lockout,
                ex,
            )
            .await?
        }
        None => None,
    };
    if let Some(id) = &identity {
        ex.consumer = Some(id.consumer.clone());
    }

    // admit: the consumer's bans, limits and requests in flight.
    admit::after_identity(guards, &routed, &req, identity.as_ref(), &mut limits, ex).await?;

    // authorize.
    let objects = authorize::authorize(&routed, &head, identity.as_ref(), ex).await?;

    // validate: parameters, and the body read and parsed once.
    let inspect_body =
        api.inspection.is_some() && head.media.as_ref().is_some_and(inspect::inspectable);
    let body_timeout = rt
        .listeners()
        .get(conn.listener)
        .map_or(DEFAULT_BODY_READ_TIMEOUT, |l| l.body_read_timeout);
    let learn_body = routed.index().is_some_and(|i| {
        api.learning.learns_from_request_body(i)
            || api.limits.keys_on_body(i)
            || api.logins.rule(i).is_some()
    });
    // A sampled exchange's small JSON body is read for its shape.
    let capture_body = ex.capture.is_some()
        && head.media.as_ref().is_some_and(|m| m.is_json())
        && head
            .content_length
            .is_some_and(|n| n <= guards.capture_body as u64);
    let reading = validate::Reading {
        cap: body_cap,
        inspect: inspect_body || learn_body,
        capture: capture_body,
        method_override: rt.loaded.config.proxy.method_override,
        timeout: body_timeout,
        deadlines: &conn.deadlines,
    };
    let (req, body) = validate::validate(api, &routed.found, req, &head, &reading, ex).await?;
    if capture_body
        && let (Some(draft), Some(read)) = (ex.capture.as_deref_mut(), body.as_ref())
        && read.bytes.len() <= guards.capture_body
    {
        draft.body = Some(read.bytes.clone());
    }
    // admit: limits keyed on the body.
    let json = body.as_ref().and_then(|b| match &b.parsed {
        moat_guard::request::ParsedBody::Json(v) => Some(v),
        _ => None,
    });
    // (Most operations have neither body limits nor a login: their
    // futures are not even made.)
    let index = routed.index();
    if index.is_some_and(|i| api.limits.keys_on_body(i)) {
        admit::after_body(
            guards,
            &routed,
            req.headers(),
            identity.as_ref(),
            json,
            &mut limits,
            ex,
        )
        .await?;
    }
    let created = authorize::created_by_request(&routed, &head, json, ex)?;

    // login: the account a login names, against its lockouts.
    let login = match index.and_then(|i| api.logins.rule(i)) {
        Some(rule) => {
            Some(login::before(api, rule, json, guards.lockout, api.identity.slowdown(), ex).await?)
        }
        None => None,
    };

    // inspect.
    inspect::inspect(
        api,
        &routed.found,
        &req,
        &head,
        body.as_ref(),
        identity.as_ref(),
        ex,
    )
    .map_err(|resp| *resp)?;

    // upstream request: bodies that stream are cut off at the cap (in
    // enforce mode) and when the client stops sending them.
    let (req, progress) = if http_body::Body::is_end_stream(req.body()) {
        (req, None)
    } else {
        let cap = (api.mode == Mode::Enforce).then_some(body_cap);
        let progress = Arc::new(BodyProgress::default());
        let body = progress.clone();
        let req = req.map(|b| boxed(ClientBody::new(b, cap, body_timeout, body)));
        (req, Some(progress))
    };
    let target = upstream::Forward {
        api,
        index: routed.index(),
        identity: identity.as_ref(),
        objects,
        progress,
        screened,
        created,
    };
    // upstream response and response body.
    let resp = upstream::forward(
        &target,
        conn,
        trusted,
        &head.path,
        head.host.as_deref(),
        req,
        ex,
    )
    .await;
    Ok(match login {
        Some(attempt) => login::after(api, attempt, guards.lockout, ex.client, resp, ex).await,
        None => resp,
    })
}
