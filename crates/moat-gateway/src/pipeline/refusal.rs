//! Refusals, and the one rule that applies them by the API's mode.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use moat_config::Mode;
use moat_guard::{Finding, PROBLEM_JSON, Problem};

use super::exchange::{Detail, Exchange, Outcome};
use crate::body::{Body, full};

/// What a phase answers instead of going on: the finding, and what the
/// answer carries besides the problem body.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub finding: Finding,
    /// Fields for the answer (`Retry-After`, `Allow`, `WWW-Authenticate`…),
    /// appended in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The `violations` member of a validation refusal.
    pub violations: Option<serde_json::Value>,
    /// The finding recorded in logs and metrics, when it is more precise
    /// than the problem type the client sees (a response refused for
    /// `undeclared-property` is answered as `upstream-error`).
    pub recorded_as: Option<&'static str>,
    /// The rule, where, and redacted evidence, for the security event.
    pub detail: Option<Box<Detail>>,
}

impl Refusal {
    /// A refusal with a problem body only.
    pub fn new(finding: Finding) -> Self {
        Self {
            finding,
            headers: Vec::new(),
            violations: None,
            recorded_as: None,
            detail: None,
        }
    }

    /// Adds what the phase knows of the finding, for the security event.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    /// The slug logs and metrics record.
    fn slug(&self) -> &'static str {
        self.recorded_as.unwrap_or(self.finding.kind.slug())
    }

    /// Adds a field to the answer.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds `Retry-After: secs`.
    pub fn retry_after(self, secs: u64) -> Self {
        match HeaderValue::from_str(&secs.to_string()) {
            Ok(v) => self.header(header::RETRY_AFTER, v),
            Err(_) => self,
        }
    }
}

impl From<Finding> for Refusal {
    fn from(finding: Finding) -> Self {
        Refusal::new(finding)
    }
}

/// The one place the mode is applied: in `enforce` mode the refusal is
/// answered (recorded as denied); in `monitor` mode it is recorded as
/// monitored and `None` says to go on.
pub(crate) fn apply_mode(
    mode: Mode,
    api: &str,
    ex: &mut Exchange,
    refusal: impl Into<Refusal>,
) -> Option<Response<Body>> {
    let refusal = refusal.into();
    if mode == Mode::Enforce {
        return Some(answer(api, ex, refusal));
    }
    let slug = refusal.slug();
    ex.note_with(api, slug, Outcome::Monitored, refusal.detail);
    tracing::debug!(request_id = %ex.request_id, api, path = %ex.path, finding = slug,
        "request would be denied (monitor mode)");
    None
}

/// Answers a refusal whatever the mode (recorded as denied): for requests
/// with nothing safe to forward, bans, and enforce mode.
pub(crate) fn answer(api: &str, ex: &mut Exchange, refusal: impl Into<Refusal>) -> Response<Body> {
    let mut refusal = refusal.into();
    let slug = refusal.slug();
    ex.note_with(api, slug, Outcome::Denied, refusal.detail.take());
    let f = &refusal.finding;
    tracing::debug!(request_id = %ex.request_id, api, path = %ex.path,
        finding = slug, "request denied");
    let mut problem = Problem::new(f.kind, f.detail, ex.request_id.as_str());
    problem.violations = refusal.violations;
    let mut resp = problem_response(&problem);
    for (name, value) in refusal.headers {
        resp.headers_mut().append(name, value);
    }
    resp
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
