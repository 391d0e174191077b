//! `methods.trace` (TRACE echoes a marker header back) and
//! `methods.undocumented` (OPTIONS advertises, in `Allow` or
//! `Access-Control-Allow-Methods`, methods the document does not have on
//! the path). Both send only safe methods: nothing advertised is tried
//! here.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;

use crate::canary;
use crate::checks::{Context, Outcome};
use crate::client::{Exchange, Probe};
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
    // What CORS preflights allow is usually one setting for the whole
    // API: one finding for it, naming every path, rather than one a path.
    let mut preflights: Vec<(&Op, Exchange, Vec<String>)> = Vec::new();
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
        let undocumented = |header: &str| -> Vec<String> {
            advertised(&exchange, header)
                .into_iter()
                .filter(|m| !documented.contains(m) && !IGNORED.contains(&m.as_str()))
                .collect()
        };
        let allowed = undocumented("access-control-allow-methods");
        let extra = undocumented("allow");
        if !allowed.is_empty() {
            preflights.push((op, exchange.clone(), allowed));
        }
        if extra.is_empty() {
            continue;
        }
        let list = extra.join(", ");
        out.found(
            Finding::new(
                &METHODS_UNDOCUMENTED,
                format!("OPTIONS advertises undocumented {list}"),
                format!(
                    "`Allow` on OPTIONS {} names {list}, which the document does not have on this path (it has {}). Nothing advertised was tried.",
                    op.template,
                    documented.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(&exchange, format!("Allow includes {list}")))
            .fix(FIX)
            .fix_api("Serve and advertise only the documented methods; document any others that are meant to exist."),
        );
    }
    let Some((op, exchange, _)) = preflights.first() else {
        return;
    };
    let paths: Vec<String> = preflights
        .iter()
        .map(|(op, _, extra)| format!("{} ({})", op.template, extra.join(", ")))
        .collect();
    out.found(
        Finding::new(
            &METHODS_UNDOCUMENTED,
            "CORS preflights allow undocumented methods",
            format!(
                "`Access-Control-Allow-Methods` on OPTIONS names methods the document does not have on {} of the paths asked: {}. Nothing advertised was tried.",
                preflights.len(),
                paths.join("; ")
            ),
        )
        .at(op.reference())
        .by(exchange.identity.clone())
        .evidence(Context::evidence(
            exchange,
            "Access-Control-Allow-Methods includes undocumented methods",
        ))
        .fix(FIX)
        .fix_api("Allow in preflights only the methods each path has."),
    );
}

const FIX: &str = "# moat forwards only the methods the document lists on each path\n# (405 for the others) and answers CORS preflights itself, with the\n# documented methods:\nmode: enforce\ncors:\n  allowed_origins: [\"https://app.example.com\"]";

/// The methods a header of `exchange` lists, upper case.
fn advertised(exchange: &Exchange, header: &str) -> BTreeSet<String> {
    exchange
        .headers
        .get_all(header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m != "*")
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::*;
    use crate::checks::sampling::test_context;

    const DOC: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /items:\n    get:\n      responses:\n        '200': {description: ok}\n  /items/{id}:\n    get:\n      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n      responses:\n        '200': {description: ok}\n    delete:\n      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n      responses:\n        '204': {description: gone}\n";

    /// A server whose OPTIONS answers `Allow: GET, DELETE` everywhere, and
    /// TRACE with 405.
    async fn serve() -> reqwest::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service =
                        service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                            let status = if req.method() == Method::TRACE {
                                405
                            } else {
                                204
                            };
                            http::Response::builder()
                                .status(status)
                                .header("allow", "GET, DELETE, OPTIONS")
                                .body(Full::new(Bytes::new()))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()
    }

    #[tokio::test]
    async fn allow_is_compared_with_each_path_s_documented_methods() {
        let cx = test_context(&serve().await, DOC);
        let mut out = Outcome::default();
        undocumented(&cx, &mut out).await;
        trace(&cx, &mut out).await;
        let found: Vec<(&str, String)> = out
            .findings
            .iter()
            .map(|f| (f.rule, f.operation.as_ref().unwrap().path.clone()))
            .collect();
        // DELETE is documented on /items/{id}, not on /items; a 405 to
        // TRACE is no echo.
        assert_eq!(found, [("methods.undocumented", "/items".to_string())]);
        assert_eq!(
            out.findings[0].title,
            "OPTIONS advertises undocumented DELETE"
        );
    }
}
