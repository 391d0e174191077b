//! Phases **upstream request** and **upstream response**.
//!
//! Runs for every request the earlier phases let through. The request is
//! forwarded on the canonical path with hop-by-hop fields removed,
//! forwarding fields set and the verified identity in fields a client can
//! never set; a streamed body is cut off at its cap. The answer's head is
//! checked (`502`/`504` as problem+json when the upstream fails, upgrades
//! tunnelled), hop-by-hop and server-identifying fields removed, and the
//! body handed to the **response body** phase.

use std::sync::Arc;
use std::time::Instant;

use http::header;
use http::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use moat_guard::identity::Identity;
use moat_guard::{CanonicalPath, Finding, Problem, ProblemKind};
use moat_state::ObjectKey;

use super::ConnInfo;
use super::exchange::Exchange;
use super::refusal::{answer, problem_response};
use crate::body::{Body, BodyProgress, Trip, boxed};
use crate::forwarding::{ClientSide, is_upgrade, set_forwarding_headers, strip_hop_by_hop};
use crate::runtime::Api;
use crate::telemetry;
use crate::upstream::{Failed, UpstreamFailure};

/// The field the request id reaches the upstream in.
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Where and as whom a request is forwarded.
pub(super) struct Forward<'a> {
    pub api: &'a Api,
    pub index: Option<usize>,
    pub identity: Option<&'a Identity>,
    /// The tracked objects the request names (forgotten when a `DELETE`
    /// of them succeeds).
    pub objects: Vec<ObjectKey>,
    /// How the client's body is streaming, when it streams.
    pub progress: Option<Arc<BodyProgress>>,
    /// What the fields screen left to remove.
    pub screened: super::route::Screened,
    /// The object a create request names itself, recorded on success.
    pub created: Option<moat_guard::ownership::NamedObject>,
}

/// Forwards to the upstream and streams its answer back.
pub(super) async fn forward(
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
    let query = api
        .identity
        .forwarded_query(req.uri().query(), fwd.screened.strip_override_parameter);
    let uri = match origin_form(path.encoded_after(api.base_len()), query.as_deref()) {
        Ok(u) => u,
        Err(_) => {
            return answer(
                "-",
                ex,
                Finding::with_detail(ProblemKind::InvalidPath, "the request target is invalid"),
            );
        }
    };

    let (mut parts, body) = req.into_parts();
    let deleting = parts.method == Method::DELETE;
    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, upgrade);
    // `Host` is the target's, set when one is chosen.
    headers.remove(header::HOST);
    set_forwarding_headers(
        &mut headers,
        &ClientSide {
            peer: &conn.forwarding,
            trusted,
            host,
        },
    );
    headers.insert(X_REQUEST_ID, ex.request_id.header_value());
    normalise_content_length(&mut headers);
    api.identity
        .prepare_upstream_headers(fwd.identity, &mut headers);

    let mut up_req = Request::new(body);
    *up_req.method_mut() = parts.method;
    *up_req.uri_mut() = uri;
    *up_req.version_mut() = Version::HTTP_11;
    *up_req.headers_mut() = headers;

    let sent = Instant::now();
    let result = api
        .upstream
        .send(up_req, &conn.deadlines, fwd.progress.as_deref())
        .await;
    let took = sent.elapsed();
    let mut resp = match result {
        Ok((r, _)) => r,
        Err(_) if let Some(trip) = fwd.progress.as_ref().and_then(|p| p.tripped()) => {
            return match trip {
                Trip::Stalled => stalled(&api.name, ex),
                Trip::TooLarge => answer(&api.name, ex, Finding::new(ProblemKind::PayloadTooLarge)),
            };
        }
        Err(Failed { failure, target }) => {
            telemetry::upstream_error(&api.name, api.upstream.name(), failure.label());
            crate::log_throttle::warn_throttled!(request_id = %ex.request_id, api = %api.name,
                upstream = api.upstream.name(), target = target.map_or("-", |t| t.authority()),
                kind = failure.label(), "upstream call failed");
            let kind = match failure {
                UpstreamFailure::Timeout => ProblemKind::UpstreamTimeout,
                UpstreamFailure::Connect => ProblemKind::UpstreamUnavailable,
                UpstreamFailure::Reset | UpstreamFailure::Protocol => ProblemKind::UpstreamError,
                UpstreamFailure::Down => ProblemKind::UpstreamDown,
            };
            let mut resp = problem_response(&Problem::new(kind, None, ex.request_id.as_str()));
            if failure == UpstreamFailure::Down {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, api.upstream.retry_after().into());
            }
            return resp;
        }
    };
    ex.upstream_latency = Some(took);
    api.telemetry.upstream_latency(took);

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
    const POWERED_BY: header::HeaderName = header::HeaderName::from_static("x-powered-by");
    crate::forwarding::remove_fields(resp.headers_mut(), &[&header::SERVER, &POWERED_BY]);
    let resp = resp.map(boxed);
    super::response::respond(
        &super::response::Answered {
            api,
            index: fwd.index,
            identity: fwd.identity,
            objects: &fwd.objects,
            deleting,
            created: fwd.created.as_ref(),
        },
        resp,
        ex,
    )
    .await
}

/// The answer to a client that stopped sending its body: `408`, and the
/// connection closed (what is left of the body cannot be told from the
/// next request).
pub(super) fn stalled(api: &str, ex: &mut Exchange) -> Response<Body> {
    let mut resp = answer(api, ex, Finding::new(ProblemKind::RequestTimeout));
    resp.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    resp
}

/// The origin-form request target of `path` (canonical, starting with
/// `/`) plus `query`; the target's prefix is put before it when a target
/// is chosen.
fn origin_form(path: &str, query: Option<&str>) -> Result<http::Uri, http::Error> {
    let mut pq = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    pq.push_str(path);
    if let Some(q) = query {
        pq.push('?');
        pq.push_str(q);
    }
    Ok(http::Uri::from(http::uri::PathAndQuery::try_from(pq)?))
}

/// Forwards `Content-Length` as the number the HTTP parser read (`013` as
/// `13`, `13, 13` as `13`): the upstream's parser may read another spelling
/// otherwise (as octal, or as invalid).
fn normalise_content_length(headers: &mut http::HeaderMap) {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return; // the common case: one lookup
    };
    let bytes = first.as_bytes();
    let canonical = values.next().is_none()
        && !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    // Repeated values: the parser checked that they agree.
    if !canonical && let Some(n) = content_length(headers) {
        headers.insert(header::CONTENT_LENGTH, n.into());
    }
}

/// The length every `Content-Length` value agrees on.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    let mut length = None;
    for piece in headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
    {
        let n: u64 = std::str::from_utf8(piece).ok()?.trim().parse().ok()?;
        if length.is_some_and(|l| l != n) {
            return None;
        }
        length = Some(n);
    }
    length
}

/// Copies bytes both ways between an upgraded client and upstream connection.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    request_id: crate::forwarding::RequestId,
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
