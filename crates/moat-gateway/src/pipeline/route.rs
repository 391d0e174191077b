//! Phase **route**: the request view is read, and the request matched to
//! an API and an operation.
//!
//! Runs first, for every request. The head is parsed once
//! ([`Head`]); a head with two readings (or a path with no canonical form)
//! is refused whatever the mode, as nothing safe can be forwarded, and so
//! is a request that matches no API. CORS preflights for documented
//! operations are answered here. The result: the API, the operation match
//! (found, method not allowed, not found) and the route guard's verdict
//! (shadow and zombie endpoints) applied by the mode.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use moat_config::{MethodOverridePolicy, ProxyConfig, UnderscorePolicy};
use moat_guard::request::fields::METHOD_OVERRIDE_FIELDS;
use moat_guard::request::{Head, HeadError, MediaTypeError, SingleField};
use moat_guard::{Finding, ProblemKind, Verdict, route_verdict};
use moat_spec::Match;

use super::exchange::{Exchange, Outcome};
use super::refusal::{Refusal, answer, apply_mode};
use crate::body::Body;
use crate::runtime::{Api, Runtime};

/// Reads the head once; `Err` is the answer to a head with two readings,
/// which closes an HTTP/1.x connection.
pub(super) fn read_head(
    req: &Request<Incoming>,
    ex: &mut Exchange,
) -> Result<Head, Response<Body>> {
    match Head::of(req) {
        Ok(head) => {
            ex.path = head.path.as_str().to_string();
            Ok(head)
        }
        Err(e) => {
            ex.path = truncate(req.uri().path(), 256);
            let mut refusal = Refusal::new(head_refusal(&e));
            // A head read two ways may frame what follows it two ways as
            // well: on HTTP/1.x nothing more is read from the connection.
            if req.version() < http::Version::HTTP_2 {
                refusal = refusal.header(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Err(answer("-", ex, refusal))
        }
    }
}

/// The refusal of a head that has no single reading.
fn head_refusal(e: &HeadError) -> Finding {
    let (kind, detail) = match e {
        HeadError::Path(p) => (ProblemKind::InvalidPath, p.reason()),
        HeadError::Repeated(SingleField::Host) => (
            ProblemKind::AmbiguousRequest,
            "the Host header is given more than once",
        ),
        HeadError::Repeated(SingleField::ContentType) => (
            ProblemKind::AmbiguousRequest,
            "the Content-Type header is given more than once",
        ),
        HeadError::MissingHost => (ProblemKind::InvalidRequest, "the Host header is missing"),
        HeadError::InvalidHost => (
            ProblemKind::InvalidRequest,
            "the Host header is not a host name and port, or disagrees with the target",
        ),
        HeadError::MediaType(MediaTypeError::Repeated(_)) => (
            ProblemKind::AmbiguousRequest,
            "a Content-Type parameter is given more than once",
        ),
        HeadError::MediaType(MediaTypeError::Invalid) => (
            ProblemKind::UnsupportedMediaType,
            "the Content-Type is not a media type",
        ),
        HeadError::TransferCoding => (
            ProblemKind::UnsupportedTransferCoding,
            "the Transfer-Encoding names a coding other than chunked",
        ),
    };
    Finding::with_detail(kind, detail)
}

/// What the fields screen leaves for the upstream request to do.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Screened {
    /// Remove `_method` from the forwarded query.
    pub strip_override_parameter: bool,
}

/// Applies the proxy's policies to the fields some applications read
/// otherwise (see [`moat_guard::request::fields`]): a field name with an
/// underscore is refused whatever the mode (two readings), or dropped; a
/// second method is refused (by the mode), or stripped. Fields that read
/// as moat's identity fields never pass.
pub(super) fn screen_fields(
    proxy: &ProxyConfig,
    api: &Api,
    head: &Head,
    headers: &mut HeaderMap,
    ex: &mut Exchange,
) -> Result<Screened, Response<Body>> {
    let notes = &head.fields;
    if notes.underscored.is_some() {
        match proxy.underscores_in_headers {
            UnderscorePolicy::Refuse => {
                return Err(answer(
                    &api.name,
                    ex,
                    Finding::with_detail(
                        ProblemKind::AmbiguousRequest,
                        "a header field name has an underscore, which some servers read as a dash",
                    ),
                ));
            }
            UnderscorePolicy::Drop => drop_fields(headers, |n| n.as_str().contains('_')),
            UnderscorePolicy::Allow => drop_fields(headers, |n| {
                n.as_str().contains('_') && api.identity.reads_as_identity(n)
            }),
        }
    }
    let mut screened = Screened::default();
    if let Some(found) = &notes.method_override {
        match proxy.method_override {
            MethodOverridePolicy::Refuse => {
                let f = Finding::with_detail(
                    ProblemKind::AmbiguousRequest,
                    "the request names a second method (X-HTTP-Method-Override, \
                     X-Method-Override, X-HTTP-Method or _method)",
                );
                if let Some(resp) = apply_mode(api.mode, &api.name, ex, f) {
                    return Err(resp);
                }
            }
            MethodOverridePolicy::Strip => {
                tracing::debug!(request_id = %ex.request_id, field = %found,
                    "method override removed");
                for name in &METHOD_OVERRIDE_FIELDS {
                    headers.remove(name);
                }
                screened.strip_override_parameter = true;
            }
            MethodOverridePolicy::Allow => {}
        }
    }
    Ok(screened)
}

/// Removes every field whose name `drop` picks.
fn drop_fields(headers: &mut HeaderMap, drop: impl Fn(&HeaderName) -> bool) {
    let names: Vec<HeaderName> = headers.keys().filter(|n| drop(n)).cloned().collect();
    for name in names {
        headers.remove(&name);
    }
}

/// Where a request goes.
pub(super) struct Routed<'a> {
    pub api: &'a Api,
    pub found: Match<'a>,
}

impl<'a> Routed<'a> {
    /// The matched operation's index.
    pub fn index(&self) -> Option<usize> {
        match &self.found {
            Match::Found { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The matched operation.
    pub fn operation(&self) -> Option<&'a moat_spec::Operation> {
        match &self.found {
            Match::Found { operation, .. } => Some(*operation),
            _ => None,
        }
    }

    /// The decoded path parameters of the matched operation.
    pub fn params(&self) -> &[(String, String)] {
        match &self.found {
            Match::Found { params, .. } => params,
            _ => &[],
        }
    }
}

/// Matches the request to an API and an operation, answers CORS
/// preflights, and applies the route guard.
pub(super) fn route<'a>(
    rt: &'a Runtime,
    head: &'a Head,
    req: &Request<Incoming>,
    ex: &mut Exchange,
) -> Result<Routed<'a>, Response<Body>> {
    let Some((api, segments)) = rt.select(head.host.as_deref(), &head.path) else {
        // No API is mounted here: nothing to forward to, whatever the mode.
        return Err(answer("-", ex, Finding::new(ProblemKind::ShadowEndpoint)));
    };
    ex.api = Some(api.telemetry.clone());

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
            let documented = matches!(api.table.find(&requested, segments), Match::Found { .. });
            let headers_ok =
                cors.allows_headers(req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS));
            if allowed && documented && headers_ok {
                let mut resp = Response::new(crate::body::empty());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                cors.preflight_headers(&requested, resp.headers_mut());
                return Err(resp);
            }
            ex.cors = None;
            return Err(answer(
                &api.name,
                ex,
                Finding::with_detail(ProblemKind::Forbidden, "cross-origin request refused"),
            ));
        }
    }

    let found = api.table.find(req.method().as_str(), segments);
    if let Match::Found {
        operation,
        params,
        index,
        ..
    } = &found
    {
        ex.operation = Some(operation.id().to_string());
        ex.operation_index = Some(*index);
        ex.object = api.objects.named(*index, params);
    }
    if let Some(draft) = ex.capture.as_deref_mut() {
        let operation = match &found {
            Match::Found { operation, .. } => Some(*operation),
            _ => None,
        };
        super::fill_capture(draft, api, operation, head, req);
    }
    match route_verdict(&found, api.deprecated) {
        Verdict::Allow => {}
        Verdict::Flag(f) => {
            ex.deprecation = f.kind == ProblemKind::ZombieEndpoint;
            ex.note(&api.name, f.kind.slug(), Outcome::Flagged);
        }
        Verdict::Deny(f) => {
            let mut refusal = Refusal::new(f);
            if let Match::MethodNotAllowed { allowed } = &found {
                let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                    refusal = refusal.header(header::ALLOW, v);
                }
            }
            if let Some(resp) = apply_mode(api.mode, &api.name, ex, refusal) {
                return Err(resp);
            }
        }
    }
    Ok(Routed { api, found })
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
