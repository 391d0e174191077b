//! API9 Improper Inventory Management: what the API serves beyond (or
//! despite) its document. Every probe is a GET, sent as anonymous (or as
//! an operation's reader), and an undocumented path counts only when it
//! answers 2xx with content unlike a made-up path's answer, so a
//! catch-all route (a single-page app's index) is not taken for one.

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::canary;
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::Identity;
use crate::target::Op;

use super::sampling::{probe_for, reader};
use super::{Check, Context, Outcome};

pub static OLD_VERSION: Rule = Rule {
    id: "inventory.old-version",
    name: "Another version is served",
    category: Category::Api9,
    severity: Severity::Medium,
    cwe: Some(1059),
    description: "A version of a documented path that the document does not have (`/v0/…` beside `/v1/…`) answers: an older version, usually with older and weaker controls, is still live.",
};

pub static DEPRECATED_LIVE: Rule = Rule {
    id: "inventory.deprecated-live",
    name: "Deprecated operation still answers",
    category: Category::Api9,
    severity: Severity::Low,
    cwe: Some(1059),
    description: "An operation the document marks deprecated still answers 2xx: clients keep using it and it keeps its weaknesses.",
};

pub static DEBUG_ROUTE: Rule = Rule {
    id: "inventory.debug-route",
    name: "Debug or admin route exposed",
    category: Category::Api9,
    severity: Severity::High,
    cwe: Some(489),
    description: "A common debugging, administration or configuration path that the document does not have answers with content: such routes leak configuration, secrets and data.",
};

pub static EXPOSED_DOCS: Rule = Rule {
    id: "inventory.exposed-docs",
    name: "API description or console served",
    category: Category::Api9,
    severity: Severity::Low,
    cwe: Some(200),
    description: "The API's description (`openapi.json`) or an interactive console is served to anyone: a map of every operation, the undocumented ones included.",
};

/// The most documented paths whose other versions are tried.
const MAX_VERSION_PATHS: usize = 20;
/// The most deprecated operations tried.
const MAX_DEPRECATED: usize = 20;
/// The most base paths (server paths, then the root) probed for debug
/// routes and documentation.
const MAX_BASES: usize = 3;

/// Common debugging and administration paths.
const DEBUG_PATHS: &[&str] = &[
    "debug",
    "debug/config",
    "debug/vars",
    "debug/pprof",
    "_debug",
    "actuator",
    "actuator/env",
    "actuator/heapdump",
    "actuator/configprops",
    "admin",
    "console",
    "server-status",
    "server-info",
    ".env",
    ".git/config",
    "phpinfo.php",
    "config",
    "env",
    "trace",
    "__debug__",
];

/// Where API descriptions and consoles are commonly served.
const DOC_PATHS: &[&str] = &[
    "openapi.json",
    "openapi.yaml",
    "swagger.json",
    "swagger.yaml",
    "api-docs",
    "v2/api-docs",
    "v3/api-docs",
    "docs",
    "swagger-ui",
    "swagger-ui.html",
    "redoc",
];

static RULES: [&Rule; 4] = [&OLD_VERSION, &DEPRECATED_LIVE, &DEBUG_ROUTE, &EXPOSED_DOCS];

pub struct Inventory;

#[async_trait]
impl Check for Inventory {
    fn name(&self) -> &'static str {
        "inventory"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        &RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let versions: usize = version_candidates(cx).iter().map(|(_, c)| c.len()).sum();
        let deprecated = cx.ops.iter().filter(|o| o.deprecated).count();
        let bases = bases(cx);
        vec![
            format!("GET {versions} other versions of documented paths (v0, v1, …)"),
            format!(
                "call the {} deprecated operations (at most {MAX_DEPRECATED})",
                deprecated
            ),
            format!(
                "GET {} common debug and admin paths and {} documentation paths under {}, and one made-up path under each for comparison",
                DEBUG_PATHS.len(),
                DOC_PATHS.len(),
                bases
                    .iter()
                    .map(|b| if b.is_empty() { "/" } else { b.as_str() })
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        if cx.enabled(&DEPRECATED_LIVE) {
            deprecated(cx, out).await;
        }
        let mut controls = Controls::default();
        if cx.enabled(&OLD_VERSION) {
            versions(cx, &mut controls, out).await;
        }
        if cx.enabled(&DEBUG_ROUTE) || cx.enabled(&EXPOSED_DOCS) {
            for base in bases(cx) {
                if cx.enabled(&DEBUG_ROUTE) {
                    routes(cx, &base, DEBUG_PATHS, &DEBUG_ROUTE, &mut controls, out).await;
                }
                if cx.enabled(&EXPOSED_DOCS) {
                    routes(cx, &base, DOC_PATHS, &EXPOSED_DOCS, &mut controls, out).await;
                }
            }
        }
    }
}

/// The answers to made-up paths, by base path: what a catch-all route
/// answers.
#[derive(Default)]
struct Controls(Vec<(String, Option<Exchange>)>);

impl Controls {
    /// The answer to a made-up path under `base`, asked once.
    async fn of(&mut self, cx: &Context, base: &str, identity: &Identity) -> Option<&Exchange> {
        if !self.0.iter().any(|(b, _)| b == base) {
            let path = format!("{base}/moat-scan-{}", canary::token());
            let answer = cx.send(&Probe::get(path), identity).await.ok();
            self.0.push((base.to_string(), answer));
        }
        self.0
            .iter()
            .find(|(b, _)| b == base)
            .and_then(|(_, e)| e.as_ref())
    }
}

/// Whether `exchange` is a real answer: 2xx with content, unlike what a
/// made-up path under the same base got.
fn is_real(exchange: &Exchange, control: Option<&Exchange>) -> bool {
    if !exchange.is_success() || exchange.body.is_empty() {
        return false;
    }
    let Some(control) = control.filter(|c| c.is_success()) else {
        return true;
    };
    let same_type = exchange.header("content-type") == control.header("content-type");
    let (a, b) = (exchange.body.len(), control.body.len());
    let close = a.abs_diff(b) <= (a.max(b) / 10).max(64);
    !(same_type && close)
}

/// The server paths the documented operations are under (the root when
/// none), then the root itself.
fn bases(cx: &Context) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for op in &cx.ops {
        let base = prefix(op).to_string();
        if !out.contains(&base) {
            out.push(base);
        }
    }
    if !out.iter().any(String::is_empty) {
        out.push(String::new());
    }
    out.truncate(MAX_BASES);
    out
}

/// The server path of `op`: its full template less its document template.
fn prefix(op: &Op) -> &str {
    op.full_template
        .strip_suffix(op.template.as_str())
        .unwrap_or_default()
        .trim_end_matches('/')
}

async fn deprecated(cx: &Context, out: &mut Outcome) {
    for op in cx.ops.iter().filter(|o| o.deprecated).take(MAX_DEPRECATED) {
        let Some(identity) = reader(cx, op) else {
            continue;
        };
        let Some(probe) = probe_for(cx, op, identity) else {
            continue;
        };
        if !cx.client.may_send(&probe) {
            out.skip(
                "inventory",
                format!(
                    "deprecated {} {} not called: writes are not allowed (--allow-writes)",
                    op.method.as_str(),
                    op.template
                ),
            );
            continue;
        }
        let Ok(exchange) = cx.send(&probe, identity).await else {
            continue;
        };
        if !exchange.is_success() {
            continue;
        }
        out.found(
            Finding::new(
                &DEPRECATED_LIVE,
                "deprecated operation still answers",
                format!(
                    "The document marks {} {} deprecated; it was answered {}.",
                    op.method.as_str(),
                    op.template,
                    exchange.status
                ),
            )
            .at(op.reference())
            .by(exchange.identity.clone())
            .evidence(Context::evidence(&exchange, format!("answered {}", exchange.status)))
            .fix(format!(
                "# moat answers 410 Gone to the operations the document marks\n# deprecated (apis[]):\ndeprecated: block{}",
                op.operation_id
                    .as_ref()
                    .map(|id| format!("   # {id}"))
                    .unwrap_or_default()
            ))
            .fix_api("Retire the operation (410 Gone) once its clients have moved."),
        );
    }
}

/// Each documented GET path (first `MAX_VERSION_PATHS`) with the other
/// versions of it to try: `v{n-1}`, `v{n+1}` and `v0` beside a `v{n}`
/// segment, `v1` after the server path when there is none. Documented
/// templates are left out.
fn version_candidates(cx: &Context) -> Vec<(&Op, Vec<String>)> {
    let documented: BTreeSet<&str> = cx.ops.iter().map(|o| o.full_template.as_str()).collect();
    let mut seen = BTreeSet::new();
    cx.ops
        .iter()
        .filter(|op| op.method == moat_spec::Method::Get && seen.insert(op.full_template.clone()))
        .take(MAX_VERSION_PATHS)
        .map(|op| {
            let mut candidates: Vec<String> = Vec::new();
            let segments: Vec<&str> = op.full_template.split('/').collect();
            match segments.iter().position(|s| version_of(s).is_some()) {
                Some(at) => {
                    let n = version_of(segments[at]).unwrap_or_default();
                    let mut others = vec![n + 1, 0];
                    if n > 1 {
                        others.insert(0, n - 1);
                    }
                    for other in others {
                        if other == n {
                            continue;
                        }
                        let mut changed = segments.clone();
                        let segment = format!("v{other}");
                        changed[at] = segment.as_str();
                        candidates.push(changed.join("/"));
                    }
                }
                None => candidates.push(format!("{}/v1{}", prefix(op), op.template)),
            }
            candidates.retain(|c| !documented.contains(c.as_str()));
            candidates.dedup();
            (op, candidates)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// `n` of a `v{n}` path segment.
fn version_of(segment: &str) -> Option<u32> {
    let digits = segment.strip_prefix('v')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

async fn versions(cx: &Context, controls: &mut Controls, out: &mut Outcome) {
    for (op, candidates) in version_candidates(cx) {
        let Some(identity) = reader(cx, op) else {
            continue;
        };
        let Some(values) = cx.path_values(op, Some(identity.name())) else {
            continue;
        };
        for template in candidates {
            let mut moved = op.clone();
            moved.full_template = template.clone();
            let Some(probe) = cx.probe(&moved, &values) else {
                continue;
            };
            let Ok(exchange) = cx.send(&probe, identity).await else {
                continue;
            };
            let base = prefix(op).to_string();
            if !is_real(&exchange, controls.of(cx, &base, identity).await) {
                continue;
            }
            out.found(
                Finding::new(
                    &OLD_VERSION,
                    format!("`{template}` answers beside documented `{}`", op.full_template),
                    format!(
                        "GET {template} is not in the document, which has {} {}; it was answered {}.",
                        op.method.as_str(),
                        op.full_template,
                        exchange.status
                    ),
                )
                .at_path(template.clone())
                .by(exchange.identity.clone())
                .evidence(Context::evidence(
                    &exchange,
                    format!("an undocumented version answered {}", exchange.status),
                ))
                .fix("# moat forwards only the paths the document has (404 for any\n# other), so an old version never reaches the API:\nmode: enforce")
                .fix_api("Retire old versions, or document them and give them the current version's controls."),
            );
        }
    }
}

/// GETs `base/<path>` for each of `paths` that the document does not
/// have, as anonymous, and reports each real answer under `rule`.
async fn routes(
    cx: &Context,
    base: &str,
    paths: &[&str],
    rule: &'static Rule,
    controls: &mut Controls,
    out: &mut Outcome,
) {
    let documented: BTreeSet<&str> = cx.ops.iter().map(|o| o.full_template.as_str()).collect();
    let anonymous = &cx.identities.anonymous;
    for path in paths {
        let full = format!("{base}/{path}");
        if documented.contains(full.as_str()) {
            continue;
        }
        let Ok(exchange) = cx.send(&Probe::get(full.clone()), anonymous).await else {
            continue;
        };
        if !is_real(&exchange, controls.of(cx, base, anonymous).await) {
            continue;
        }
        let (title, detail, fix_api) = if std::ptr::eq(rule, &EXPOSED_DOCS) {
            (
                format!("`{full}` serves the API description or a console"),
                format!(
                    "GET {full} (not in the document) was answered {} with {} bytes of {}.",
                    exchange.status,
                    exchange.body.len(),
                    exchange.header("content-type").unwrap_or("content")
                ),
                "Serve the description and console only where they are meant to be public (or behind authentication).",
            )
        } else {
            (
                format!("`{full}` answers (debug or admin route)"),
                format!(
                    "GET {full} (not in the document) was answered {} with {} bytes of {}.",
                    exchange.status,
                    exchange.body.len(),
                    exchange.header("content-type").unwrap_or("content")
                ),
                "Remove debugging and administration routes from production builds.",
            )
        };
        out.found(
            Finding::new(rule, title, detail)
                .at_path(full.clone())
                .by(exchange.identity.clone())
                .evidence(Context::evidence(
                    &exchange,
                    format!("answered {} with content", exchange.status),
                ))
                .fix("# moat forwards only the paths the document has (404 for any\n# other):\nmode: enforce")
                .fix_api(fix_api),
        );
    }
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

    const DOC: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: /api}]\npaths:\n  /v1/items:\n    get:\n      responses:\n        '200': {description: ok}\n";

    /// A single-page app: every path answers the same index page, except
    /// `/api/debug/config` when `debug` is on.
    async fn serve(debug: bool) -> reqwest::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(
                        move |req: http::Request<hyper::body::Incoming>| async move {
                            let (kind, body): (&str, &[u8]) =
                                if debug && req.uri().path() == "/api/debug/config" {
                                    ("application/json", b"{\"db_password\": \"x\"}")
                                } else {
                                    (
                                    "text/html",
                                    b"<!doctype html><html><body><div id=app></div></body></html>",
                                )
                                };
                            http::Response::builder()
                                .header("content-type", kind)
                                .body(Full::new(Bytes::from_static(body)))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        reqwest::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()
    }

    async fn found(debug: bool) -> Vec<(&'static str, String)> {
        let cx = test_context(&serve(debug).await, DOC);
        let mut out = Outcome::default();
        Inventory.run(&cx, &mut out).await;
        out.findings
            .iter()
            .map(|f| (f.rule, f.path.clone().unwrap_or_default()))
            .collect()
    }

    #[tokio::test]
    async fn a_catch_all_is_not_taken_for_routes_but_a_real_one_is_found() {
        assert_eq!(found(false).await, []);
        assert_eq!(
            found(true).await,
            [("inventory.debug-route", "/api/debug/config".to_string())]
        );
    }

    #[test]
    fn version_segments() {
        assert_eq!(version_of("v1"), Some(1));
        assert_eq!(version_of("v0"), Some(0));
        assert_eq!(version_of("v12"), Some(12));
        assert_eq!(version_of("v"), None);
        assert_eq!(version_of("videos"), None);
        assert_eq!(version_of("v1beta"), None);
    }
}
