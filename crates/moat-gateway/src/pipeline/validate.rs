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

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT_ENCODING, HeaderValue};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use moat_config::MethodOverridePolicy;
use moat_guard::request::fields::METHOD_OVERRIDE_PARAMETER;
use moat_guard::request::{BodyKind, BodyLimits, Head, ParsedBody};
use moat_guard::validate::{MediaPlan, Violation, Violations};
use moat_guard::{Finding, ProblemKind};
use moat_spec::Match;

use super::exchange::{Detail, Exchange};
use super::refusal::{Refusal, answer, apply_mode};
use crate::body::{Body, boxed, full};
use crate::runtime::Api;
use crate::timer::Deadlines;

/// A request body read once, under its cap, and parsed once: the bytes are
/// forwarded as they are, and every control reads `parsed`.
pub(super) struct ReadBody {
    pub bytes: bytes::Bytes,
    pub parsed: ParsedBody,
}

/// How the body may be read.
pub(super) struct Reading<'a> {
    /// The body's cap.
    pub cap: u64,
    /// Inspection will read the body.
    pub inspect: bool,
    /// The capture wants the (small, JSON) body of this sampled exchange:
    /// read when nothing else reads it, and then never refused for what it
    /// holds (an unsampled exchange would not have been).
    pub capture: bool,
    /// The proxy's method override policy: unless `allow`, a form body is
    /// read to see whether it names a second method.
    pub method_override: MethodOverridePolicy,
    /// Longest wait for the next piece of the body.
    pub timeout: Duration,
    /// The connection's reused timer.
    pub deadlines: &'a Arc<Deadlines>,
}

/// Validates the request against the operation's parameters and body
/// schema, reading the body (under the caps) when a JSON or form schema
/// needs it, when inspection asks for it, or when a form might name a
/// second method; every other body streams through. A body that is read is
/// parsed once by the request view: one that has two readings (a duplicate
/// JSON key, ambiguous multipart, a `_method` field) is refused, one that
/// is not what it claims to be is invalid, one with a content coding is
/// `415` (the gateway would read other bytes than the application), one
/// the client stops sending is `408`. Returns the request and, when it was
/// read, the body.
pub(super) async fn validate(
    api: &Api,
    found: &Match<'_>,
    req: Request<Incoming>,
    head: &Head,
    reading: &Reading<'_>,
    ex: &mut Exchange,
) -> Result<(Request<Body>, Option<ReadBody>), Response<Body>> {
    let (validator, params) = match found {
        Match::Found { index, params, .. } => (api.validators.get(*index), params.as_slice()),
        _ => (None, &[][..]),
    };
    let has_body = !http_body::Body::is_end_stream(req.body());
    let media = head.media.as_ref();
    // An HTML form is read to see whether it names a second method; a
    // multipart body (an upload, maybe large) only when it is read anyway.
    let override_policy = reading.method_override != MethodOverridePolicy::Allow;
    let form_override =
        has_body && override_policy && media.is_some_and(|m| BodyKind::of(m) == BodyKind::Form);
    let inspect_body = reading.inspect || form_override;
    if validator.is_none() && !((inspect_body || reading.capture) && has_body) {
        return Ok((req.map(boxed), None));
    }
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
    let capture_only = reading.capture && !schema_body && !inspect_body;
    if let MediaPlan::Refuse(vs) = &plan {
        vs.iter().cloned().for_each(|x| violations.push(x));
    }
    let mut read = has_body
        && (schema_body
            || (inspect_body || reading.capture) && !matches!(plan, MediaPlan::Refuse(_)));
    if read && head.fields.content_coded && capture_only {
        read = false;
    } else if read && head.fields.content_coded {
        let refusal = Refusal::new(Finding::with_detail(
            ProblemKind::UnsupportedContentEncoding,
            "the body has a Content-Encoding; send it without one",
        ))
        .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if let Some(resp) = apply_mode(api.mode, &api.name, ex, refusal) {
            return Err(resp);
        }
        read = false;
    }
    let (req, body) = if read {
        let (parts, body) = req.into_parts();
        let cap = if schema_body {
            api.max_body_bytes.min(reading.cap)
        } else {
            reading.cap
        };
        let bytes = match read_body(body, cap, reading).await {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => {
                return Err(answer(
                    &api.name,
                    ex,
                    Finding::new(ProblemKind::PayloadTooLarge),
                ));
            }
            Err(ReadError::Stalled) => return Err(super::upstream::stalled(&api.name, ex)),
            Err(ReadError::Broken) => {
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
                if override_policy && names_a_method(&parsed) {
                    let f = Finding::with_detail(
                        ProblemKind::AmbiguousRequest,
                        "the form names a second method (_method)",
                    );
                    if let Some(resp) = apply_mode(api.mode, &api.name, ex, f) {
                        return Err(resp);
                    }
                }
                if schema_body
                    && let Some(v) = validator
                    && let Err(vs) = v.validate_body(media, &parsed)
                {
                    vs.iter().cloned().for_each(|x| violations.push(x));
                }
                (req, Some(ReadBody { bytes, parsed }))
            }
            // Read for the capture alone: streamed on as it was.
            Err(_) if capture_only => (req, None),
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
    // Violations name where and which rule, never a value.
    let first = violations.iter().next();
    let detail = Detail {
        rule: first.map(|v| v.rule.to_string()),
        location: first.map(|v| format!("{}:{}", v.location.as_str(), v.pointer)),
        evidence: Some(match violations.len() {
            1 => "1 violation".to_string(),
            n => format!("{n} violations"),
        }),
        ..Detail::default()
    };
    let refusal = Refusal {
        violations: Some(violations.to_problem_details()),
        ..Refusal::new(Finding::new(kind))
    }
    .detail(detail);
    match apply_mode(api.mode, &api.name, ex, refusal) {
        Some(resp) => Err(resp),
        None => Ok((req, body)),
    }
}

/// Why a body could not be read.
enum ReadError {
    /// Longer than its cap.
    TooLarge,
    /// The client sent no more within the body read timeout.
    Stalled,
    /// The connection broke or the framing was invalid.
    Broken,
}

/// Reads the whole body, at most `cap` bytes, waiting at most the body
/// read timeout for each piece (on the connection's reused timer).
async fn read_body(
    mut body: Incoming,
    cap: u64,
    reading: &Reading<'_>,
) -> Result<Bytes, ReadError> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut len = 0u64;
    loop {
        let mut next = std::pin::pin!(body.frame());
        let frame = match reading
            .deadlines
            .within(reading.timeout, next.as_mut())
            .await
        {
            Err(_) => return Err(ReadError::Stalled),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(ReadError::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        len += data.len() as u64;
        if len > cap {
            return Err(ReadError::TooLarge);
        }
        // Most bodies come in one piece: keep it without a copy.
        match &first {
            None if rest.is_empty() => first = Some(data),
            _ => {
                if let Some(f) = first.take() {
                    rest.extend_from_slice(&f);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Whether a form body has a `_method` field.
fn names_a_method(parsed: &ParsedBody) -> bool {
    match parsed {
        ParsedBody::Form(form) => form.values(METHOD_OVERRIDE_PARAMETER).next().is_some(),
        ParsedBody::Multipart(parts) => parts
            .iter()
            .any(|p| p.name.as_deref() == Some(METHOD_OVERRIDE_PARAMETER)),
        _ => false,
    }
}
