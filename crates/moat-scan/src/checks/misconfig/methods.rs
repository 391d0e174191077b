//! `methods.trace` (TRACE echoes a marker header back) and
//! `methods.undocumented` (OPTIONS advertises, in `Allow` or
//! `Access-Control-Allow-Methods`, methods the document does not have on
//! the path). Both send only safe methods: nothing advertised is tried
//! here.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;

use crate::canary;
use crate::checks::{Context, Outcome};
use crate::client::Probe;
use crate::finding::Finding;
use crate::target::Op;

use super::{METHODS_TRACE, METHODS_UNDOCUMENTED};

/// The most documented paths asked with OPTIONS.
const MAX_PATHS: usize = 20;

/// Methods whose mention is not reported: OPTIONS and HEAD go with any
/// path, TRACE has its own rule.
const IGNORED: &[&str] = &["OPTIONS", "HEAD", "TRACE"];

pub(super) fn plan(cx: &Context) -> Vec<String> {
    vec![
        "TRACE one documented path with a marker header: is it echoed?".to_string(),
        format!(
            "OPTIONS each of up to {} documented paths (as a CORS preflight): which methods do `Allow` and `Access-Control-Allow-Methods` advertise?",
            paths(cx).len().min(MAX_PATHS)
        ),
    ]
}

/// Each documented path once (its first operation), with the methods the
/// document has on it.
fn paths(cx: &Context) -> Vec<(&Op, BTreeSet<String>)> {
    let mut by_path: BTreeMap<&str, (&Op, BTreeSet<String>)> = BTreeMap::new();
    let mut order = Vec::new();
    for op in &cx.ops {
        let entry = by_path.entry(op.full_template.as_str()).or_insert_with(|| {
            order.push(op.full_template.as_str());
            (op, BTreeSet::new())
        });
        entry.1.insert(op.method.as_str().to_ascii_uppercase());
    }
    order
        .into_iter()
        .filter_map(|p| by_path.remove(p))
        .collect()
}

/// The path of `op` with values anyone may use, without its query.
fn path_of(cx: &Context, op: &Op) -> Option<String> {
    op.path_with(&cx.path_values(op, None)?)
}

pub(super) async fn trace(cx: &Context, out: &mut Outcome) {
    let Some((op, path)) = cx.ops.iter().find_map(|op| Some((op, path_of(cx, op)?))) else {
        return;
    };
    let marker = canary::token();
    let probe = Probe::new(Method::TRACE, path).header("X-Moat-Trace", marker.as_str());
    let Ok(exchange) = cx.send(&probe, &cx.identities.anonymous).await else {
        return;
    };
    if !exchange.is_success() || !exchange.text().contains(&marker) {
        return;
    }
    out.found(
        Finding::new(
            &METHODS_TRACE,
            "TRACE echoes the request",
            format!(
                "TRACE was answered {} with the request's own headers, the marker header included.",
                exchange.status
            ),
        )
        .at(op.reference())
        .by(exchange.identity.clone())
        .evidence(Context::evidence(
            &exchange,
            "the answer echoes the X-Moat-Trace header sent",
        ))
        .fix("# moat answers 405 to methods the document does not list, so TRACE\n# never reaches the API:\nmode: enforce")
        .fix_api("Turn TRACE off in the server (answer 405)."),
    );
}

pub(super) async fn undocumented(cx: &Context, out: &mut Outcome) {
    for (op, documented) in paths(cx).into_iter().take(MAX_PATHS) {
        let Some(path) = path_of(cx, op) else {
            continue;
        };
        let probe = Probe::new(Method::OPTIONS, path)
            .header("Origin", "https://moat-scan.example")
            .header("Access-Control-Request-Method", "GET");
        let Ok(exchange) = cx.send(&probe, &cx.identities.anonymous).await else {
            continue;
        };
        let mut advertised = BTreeSet::new();
        for name in ["allow", "access-control-allow-methods"] {
            for value in exchange.headers.get_all(name) {
                let Ok(value) = value.to_str() else {
                    continue;
                };
                advertised.extend(
                    value
                        .split(',')
                        .map(|m| m.trim().to_ascii_uppercase())
                        .filter(|m| !m.is_empty() && m != "*"),
                );
            }
        }
        let extra: Vec<String> = advertised
            .into_iter()
            .filter(|m| !documented.contains(m) && !IGNORED.contains(&m.as_str()))
            .collect();
        if extra.is_empty() {
            continue;
        }
        let list = extra.join(", ");
        out.found(
            Finding::new(
                &METHODS_UNDOCUMENTED,
                format!("OPTIONS advertises undocumented {list}"),
                format!(
                    "OPTIONS {} advertises {list}, which the document does not have on this path (it has {}). Nothing advertised was tried.",
                    op.template,
                    documented.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(
                &exchange,
                format!("Allow / Access-Control-Allow-Methods include {list}"),
            ))
            .fix("# moat forwards only the methods the document lists on each path\n# (405 for the others) and answers CORS preflights itself:\nmode: enforce\ncors:\n  allowed_origins: [\"https://app.example.com\"]")
            .fix_api("Serve and advertise only the documented methods; document any others that are meant to exist."),
        );
    }
}
