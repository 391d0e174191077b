//! Phase **validate**: parameters and body against the document.
//!
//! Runs for every request that reached an API. Parameters are checked from
//! the request view; the body is read (under its cap) only when a JSON or
//! form schema needs it or inspection will read it, and then parsed once by
//! the request view into the value validation and inspection share. A body
//! with two readings is `400 ambiguous-request`; broken parameters or
//! bodies are `400 invalid-request`, `415` or `422 schema-violation` with
//! the list of violations — applied by the mode. Other bodies stream
//! through untouched.

use http::{Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use moat_guard::request::{BodyLimits, Head, ParsedBody};
use moat_guard::validate::{MediaPlan, Violation, Violations};
use moat_guard::{Finding, ProblemKind};
use moat_spec::Match;

use super::exchange::Exchange;
use super::refusal::{Refusal, answer, apply_mode};
use crate::body::{Body, boxed, full};
use crate::runtime::Api;

/// A request body read once, under its cap, and parsed once: the bytes are
/// forwarded as they are, and every control reads `parsed`.
pub(super) struct ReadBody {
    pub bytes: bytes::Bytes,
    pub parsed: ParsedBody,
}

/// Validates the request against the operation's parameters and body
/// schema, reading the body (under the caps) when a JSON or form schema
/// needs it or when `inspect_body` asks for it; every other body streams
/// through. A body that is read is parsed once by the request view: one
/// that has two readings (a duplicate JSON key, ambiguous multipart) is
/// refused, one that is not what it claims to be is invalid. Returns the
/// request and, when it was read, the body.
pub(super) async fn validate(
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
                return Err(answer(
                    &api.name,
                    ex,
                    Finding::new(ProblemKind::PayloadTooLarge),
                ));
            }
            Err(_) => {
                return Err(answer(
                    &api.name,
                    ex,
                    Finding::with_detail(
                        ProblemKind::InvalidRequest,
                        "the request body could not be read",
                    ),
                ));
            }
        };
        let limits = BodyLimits {
            json: api.json_limits,
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
                if let Some(detail) = e.ambiguity() {
                    let f = Finding::with_detail(ProblemKind::AmbiguousRequest, detail);
                    if let Some(resp) = apply_mode(api.mode, &api.name, ex, f) {
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
    let refusal = Refusal {
        violations: Some(violations.to_problem_details()),
        ..Refusal::new(Finding::new(kind))
    };
    match apply_mode(api.mode, &api.name, ex, refusal) {
        Some(resp) => Err(resp),
        None => Ok((req, body)),
    }
}
