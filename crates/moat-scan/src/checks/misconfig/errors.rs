//! `errors.verbose`: malformed input (a JSON body cut short, a number
//! parameter given text) answered with a stack trace, source paths or
//! framework and database internals, which the well-formed request's
//! answer does not show. One finding per kind of input, at the first
//! operation that shows it.

use std::collections::BTreeMap;

use crate::checks::{Context, Outcome, sampling};
use crate::client::{Exchange, Probe};
use crate::finding::Finding;
use crate::schema;
use crate::target::Op;

use super::ERRORS_VERBOSE;

/// The most operations given each kind of malformed input.
const MAX_OPS: usize = 8;

/// A JSON body cut short.
const MALFORMED_JSON: &str = "{\"moat-scan\": ";

/// What in an answer shows internals: stack frames, source files with
/// line numbers, and framework and database error texts.
const MARKERS: &[&str] = &[
    "Traceback (most recent call last)",
    "panicked at",
    "stack backtrace",
    "Exception in thread",
    "at java.",
    "at org.springframework",
    "System.NullReferenceException",
    "NullPointerException",
    "SQLSTATE",
    "syntax error at or near",
    "You have an error in your SQL syntax",
    "SQLITE_ERROR",
    "psycopg2.",
    "ORA-0",
];

/// Source file extensions that, followed by `:<line>`, name a source line.
const SOURCE_FILES: &[&str] = &[
    ".rs:",
    ".py\", line ",
    ".java:",
    ".go:",
    ".js:",
    ".ts:",
    ".php:",
    ".rb:",
    ".cs:line ",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    MalformedBody,
    WrongType,
}

impl Kind {
    fn title(self) -> &'static str {
        match self {
            Kind::MalformedBody => "a malformed JSON body is answered with internals",
            Kind::WrongType => "a wrongly typed parameter is answered with internals",
        }
    }
}

pub(super) fn plan(cx: &Context) -> Vec<String> {
    let bodies = cx
        .ops
        .iter()
        .filter(|o| o.body.is_some())
        .count()
        .min(MAX_OPS);
    let typed = cx
        .ops
        .iter()
        .filter(|op| op.is_read() && numeric_place(op).is_some())
        .count()
        .min(MAX_OPS);
    vec![format!(
        "send a cut-short JSON body to {bodies} operations that take one (writes only, and the identities' logins), and text in a number parameter of {typed} read operations; look for stack traces, source paths, SQL errors"
    )]
}

pub(super) async fn run(cx: &Context, out: &mut Outcome) {
    let mut found: BTreeMap<Kind, Vec<(&Op, Exchange, &'static str)>> = BTreeMap::new();
    let mut not_allowed = 0;
    // The well-formed control is sent too: never to an update or delete,
    // where it would overwrite an existing object with sample values.
    let bodies = cx
        .ops
        .iter()
        .filter(|op| op.body.is_some() && !op.changes_existing())
        .take(MAX_OPS);
    for op in bodies {
        let Some((identity, _, probe)) = well_formed(cx, op) else {
            continue;
        };
        let malformed = probe.clone().body("application/json", MALFORMED_JSON);
        if !cx.client.may_send(&malformed) {
            not_allowed += 1;
            continue;
        }
        if let Some(hit) = leaks(cx, identity, &malformed, &probe).await {
            found
                .entry(Kind::MalformedBody)
                .or_default()
                .push((op, hit.0, hit.1));
        }
    }
    if not_allowed > 0 {
        out.skip(
            "security misconfiguration",
            format!(
                "{not_allowed} operations not sent a malformed body: writes are not allowed (--allow-writes)"
            ),
        );
    }
    let typed = cx
        .ops
        .iter()
        .filter(|op| op.is_read())
        .filter_map(|op| Some((op, numeric_place(op)?)))
        .take(MAX_OPS);
    for (op, place) in typed {
        let Some((identity, values, probe)) = well_formed(cx, op) else {
            continue;
        };
        let Some(wrong) = sampling::with_value(op, &place, &values, probe.clone(), "moat-scan")
        else {
            continue;
        };
        if let Some(hit) = leaks(cx, identity, &wrong, &probe).await {
            found
                .entry(Kind::WrongType)
                .or_default()
                .push((op, hit.0, hit.1));
        }
    }
    for (kind, hits) in found {
        let Some((op, exchange, marker)) = hits.first() else {
            continue;
        };
        let others: Vec<String> = hits
            .iter()
            .skip(1)
            .map(|(op, _, _)| format!("{} {}", op.method.as_str(), op.template))
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" Also: {}.", others.join(", "))
        };
        out.found(
            Finding::new(
                &ERRORS_VERBOSE,
                kind.title(),
                format!(
                    "The answer ({}) contains `{marker}`, which the well-formed request's answer does not.{also}",
                    exchange.status
                ),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(exchange, format!("the answer contains `{marker}`")))
            .fix("# moat replaces the bodies of error statuses the operation does not\n# document with a generic problem, and validates requests first:\nresponses:\n  scrub_errors: true\nvalidation:\n  enabled: true")
            .fix_api("Answer malformed input with a generic problem; log the details server-side only."),
        );
    }
}

type WellFormed<'a> = (
    &'a crate::identity::Identity,
    BTreeMap<String, String>,
    Probe,
);

/// Who may call `op`, the path values and the well-formed probe.
fn well_formed<'a>(cx: &'a Context, op: &Op) -> Option<WellFormed<'a>> {
    let identity = sampling::reader(cx, op)?;
    let values = cx.path_values(op, Some(identity.name()))?;
    let probe = cx.probe(op, &values)?;
    Some((identity, values, probe))
}

/// The first integer, number or boolean path or query parameter.
fn numeric_place(op: &Op) -> Option<sampling::Place> {
    op.parameters.iter().find_map(|p| {
        if !matches!(
            schema::type_of(&p.schema),
            Some("integer" | "number" | "boolean")
        ) {
            return None;
        }
        match p.location {
            moat_spec::ParameterLocation::Path => Some(sampling::Place::Path(p.name.clone())),
            moat_spec::ParameterLocation::Query => Some(sampling::Place::Query(p.name.clone())),
            _ => None,
        }
    })
}

/// Sends `bad`; when its error answer shows a marker, sends `control`
/// (the well-formed request) and keeps the hit only if the control's
/// answer does not show it too.
async fn leaks(
    cx: &Context,
    identity: &crate::identity::Identity,
    bad: &Probe,
    control: &Probe,
) -> Option<(Exchange, &'static str)> {
    let exchange = cx.send(bad, identity).await.ok()?;
    if exchange.status < 400 {
        return None;
    }
    let marker = marker_in(&exchange.text())?;
    if cx.client.may_send(control)
        && let Ok(answer) = cx.send(control, identity).await
        && marker_in(&answer.text()) == Some(marker)
    {
        return None;
    }
    Some((exchange, marker))
}

/// The first marker of internals in `text`.
fn marker_in(text: &str) -> Option<&'static str> {
    if let Some(marker) = MARKERS.iter().find(|m| text.contains(*m)) {
        return Some(marker);
    }
    SOURCE_FILES.iter().copied().find(|ext| {
        text.match_indices(ext).any(|(at, m)| {
            text[at + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::marker_in;

    #[test]
    fn traces_and_source_lines_are_markers_and_parser_positions_are_not() {
        assert_eq!(
            marker_in("thread 'main' panicked at src/x.rs:4:2"),
            Some("panicked at")
        );
        assert_eq!(marker_in("at /srv/app/src/router.rs:118:9"), Some(".rs:"));
        assert_eq!(
            marker_in("File \"/app/views.py\", line 12, in get"),
            Some(".py\", line ")
        );
        assert_eq!(marker_in("ERROR: SQLSTATE[42000]"), Some("SQLSTATE"));
        assert_eq!(
            marker_in(
                "the request body is not valid JSON: EOF while parsing an object at line 1 column 14"
            ),
            None
        );
        assert_eq!(marker_in("bookId must be a positive integer"), None);
        assert_eq!(marker_in("see docs.rs: the crate"), None);
    }
}
