//! Phase **inspect**: attack inspection of every value of the request.
//!
//! Runs for every request that reached an API with inspection on, after
//! **validate** (so schema hints can skip values validation pinned down).
//! Path segments, query, headers (all but transport ones, the API's
//! exclusions and the credentials a verifier consumed), cookies and the
//! body — as the request view parsed them — are inspected; GraphQL and XML bodies are
//! parsed under their own limits and their values inspected one by one. A
//! score at the threshold is `403 attack-detected`, a GraphQL or XML limit
//! `400` — applied by the mode; findings below it flag the exchange.

use http::Request;
use moat_config::Mode;
use moat_guard::identity::Identity;
use moat_guard::request::{BodyKind, Head, MediaType, ParsedBody};
use moat_guard::{Finding, ProblemKind};
use moat_spec::Match;

use super::exchange::{Exchange, Outcome};
use super::refusal::{Refusal, apply_mode};
use super::validate::ReadBody;
use crate::body::Body;
use crate::runtime::Api;

/// The answer a phase gives instead of going on (boxed: a response is
/// large, and most calls go on).
type Refused = Box<http::Response<Body>>;

/// Whether inspection reads bodies of this media type: every kind the
/// request view parses; binary bodies stream through.
pub(super) fn inspectable(media: &MediaType) -> bool {
    BodyKind::of(media) != BodyKind::Opaque
}

/// Applies a GraphQL or XML refusal naming the broken `rule` by the mode.
fn refuse(
    api: &Api,
    ex: &mut Exchange,
    kind: ProblemKind,
    rule: &'static str,
) -> Result<(), Refused> {
    match apply_mode(api.mode, &api.name, ex, Finding::with_detail(kind, rule)) {
        Some(resp) => Err(Box::new(resp)),
        None => Ok(()),
    }
}

/// A GraphQL request: parsed under the API's limits (introspection only for
/// the configured roles, queries only from the allow-list when one is set),
/// then its argument and variable values inspected.
fn graphql(
    api: &Api,
    insp: &crate::inspection::ApiInspection,
    media: &str,
    body: &ReadBody,
    identity: Option<&Identity>,
    report: &mut moat_inspect::Report,
    ex: &mut Exchange,
) -> Result<(), Refused> {
    let may_introspect =
        identity.is_some_and(|i| i.roles.iter().any(|r| insp.introspection_roles.contains(r)));
    let limits = moat_inspect::graphql::GraphqlLimits {
        allow_introspection: may_introspect,
        ..insp.graphql.clone()
    };
    let refused = |ex: &mut Exchange, rule| refuse(api, ex, ProblemKind::GraphqlRejected, rule);
    // A JSON body is the value the request view parsed; a query document
    // (`application/graphql`) is read by the GraphQL parser itself.
    let checked = match &body.parsed {
        ParsedBody::Json(json) => moat_inspect::graphql::check_json(json, &limits),
        _ => moat_inspect::graphql::check(&body.bytes, media, &limits),
    };
    let request = match checked {
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
) -> Result<(), Refused> {
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
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(media);
        if !moat_inspect::xml::soap_action_consistent(action, content_type, &doc) {
            return refused(ex, "soap_action");
        }
    }
    doc.inspect(&insp.inspector, report);
    Ok(())
}

/// Attack inspection of every value of the request; `Err` is the answer.
pub(super) fn inspect(
    api: &Api,
    found: &Match<'_>,
    req: &Request<Body>,
    head: &Head,
    body: Option<&ReadBody>,
    identity: Option<&Identity>,
    ex: &mut Exchange,
) -> Result<(), Refused> {
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
            ex.note(&api.name, "uninspected-body", Outcome::Flagged);
            None
        }
        _ => None,
    };
    let mut report = moat_inspect::Report::default();
    // GraphQL and XML bodies are parsed with their own limits, and their
    // values (arguments, variables, text, attributes) inspected one by one.
    if let Some((m, b)) = body {
        if insp.is_graphql(index) && (m == "application/json" || m == "application/graphql") {
            graphql(api, insp, m, b, identity, &mut report, ex)?;
            body = None;
        } else if matches!(b.parsed, ParsedBody::Xml) {
            xml(api, insp, req, m, &b.bytes, &mut report, ex)?;
            body = None;
        }
    }
    // Credentials a verifier read are not inspected; header names in a
    // `HeaderMap` are lower case, an API key's name may not be.
    let consumed: Vec<String> = operation
        .map(|op| crate::inspection::consumed_credentials(api.table.spec(), op, identity.is_some()))
        .unwrap_or_default()
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect();
    let credentials: Vec<&str> = consumed.iter().map(String::as_str).collect();
    let parts = moat_inspect::RequestParts {
        segments: head.path.segments(),
        documented_segments: documented_segments(api.base_len(), head.path.segments().len(), found),
        query: &head.query,
        headers: &header_refs,
        credentials: &credentials,
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
                body: index.and_then(|i| insp.body_hints(i)),
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
    let detail = crate::inspection::event_detail(&report);
    if !insp.inspector.blocks(&report) {
        ex.note_with(
            &api.name,
            "attack-suspected",
            Outcome::Flagged,
            Some(Box::new(detail)),
        );
        tracing::info!(target: "moat::security", request_id = %ex.request_id, api = %api.name,
            score = report.score(), findings = %described, "suspicious values below the threshold");
        return Ok(());
    }
    let refused = if api.mode == Mode::Enforce {
        "attack refused"
    } else {
        "attack detected (monitor mode: forwarded)"
    };
    tracing::warn!(target: "moat::security", request_id = %ex.request_id, api = %api.name,
        score = report.score(), findings = %described, "{refused}");
    match apply_mode(
        api.mode,
        &api.name,
        ex,
        Refusal::new(Finding::new(ProblemKind::AttackDetected)).detail(detail),
    ) {
        Some(resp) => Err(Box::new(resp)),
        None => Ok(()),
    }
}

/// The segments that are the document's own words: the API's base path
/// and the literal segments of the matched template (bit `i` for segment
/// `i`, the first 64). Nothing when no operation matched.
fn documented_segments(base: usize, total: usize, found: &Match<'_>) -> u64 {
    let Match::Found { captured, .. } = found else {
        return 0;
    };
    (0..total.min(64))
        .filter(|&i| i < base || captured & (1 << (i - base)) == 0)
        .fold(0, |bits, i| bits | 1 << i)
}

#[cfg(test)]
mod tests {
    use moat_spec::OperationTable;

    use super::*;

    #[test]
    fn only_the_templates_literals_and_the_base_are_documented() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.yaml");
        std::fs::write(
            &path,
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  \
             /notes/{id}/tags/{tag}.json:\n    get:\n      parameters:\n        \
             - {name: id, in: path, required: true, schema: {type: string}}\n        \
             - {name: tag, in: path, required: true, schema: {type: string}}\n      \
             responses: {'200': {description: ok}}\n",
        )
        .unwrap();
        let table = OperationTable::new(moat_spec::load(&path).unwrap());
        let found = table.find("GET", &["notes", "7", "tags", "x.json"]);
        // Mounted under `/api`: the base, `notes` and `tags` are the
        // document's; `7` and `x.json` the client's.
        assert_eq!(documented_segments(1, 5, &found), 0b01011);
        assert_eq!(documented_segments(0, 4, &found), 0b0101);
        let missing = table.find("GET", &["notes"]);
        assert_eq!(documented_segments(1, 2, &missing), 0);
    }
}
