//! The token checks against small real servers on loopback: one that takes
//! any bearer token at all, and one that takes only the token it issued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use moat_scan::identity::IdentityConfig;
use moat_scan::{Limits, Scan, Url};
use serde_json::json;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: tokens, version: "1"}
paths:
  /me:
    get:
      security: [{bearerAuth: []}]
      responses:
        "200": {description: the caller}
        "401": {description: no caller}
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer}
"#;

/// Serves `GET /me`: 200 when `accept` takes the Authorization header,
/// 401 otherwise. Returns the base URL.
async fn server(accept: fn(Option<&str>) -> bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service_fn(move |request: Request<hyper::body::Incoming>| async move {
                let auth = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok());
                let status = if accept(auth) {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    format!("http://{addr}")
}

async fn scan(url: &str) -> moat_scan::Report {
    let alice: IdentityConfig = serde_json::from_value(json!({
        "name": "alice", "role": "user", "bearer": "tok-alice"
    }))
    .unwrap();
    let scan = Scan {
        target: Url::parse(url).unwrap(),
        spec: Arc::new(moat_spec::load_text("spec.yaml", SPEC).unwrap()),
        identities: vec![alice],
        limits: Limits {
            rate: 200.0,
            ..Limits::default()
        },
        selected: vec!["auth".to_string()],
        canary: Default::default(),
    };
    scan.run(Arc::new(moat_scan::progress::Silent))
        .await
        .unwrap()
}

fn rules(report: &moat_scan::Report) -> Vec<&str> {
    report.findings.iter().map(|f| f.rule).collect()
}

#[tokio::test]
async fn any_bearer_token_accepted_is_found() {
    let url = server(|auth| auth.is_some_and(|a| a.starts_with("Bearer "))).await;
    let report = scan(&url).await;
    assert_eq!(
        rules(&report),
        ["auth.invalid-token"],
        "{:?}",
        report.findings
    );
    let finding = &report.findings[0];
    assert_eq!(finding.operation.as_ref().unwrap().path, "/me");
    // The garbage token is redacted like any credential.
    assert!(!finding.evidence[0].curl.contains("moat-scan-not-a-token"));
    // Not a JWT: the other token rules say why they did not run.
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.reason.contains("not a JWT")),
        "{:?}",
        report.skipped
    );
}

#[tokio::test]
async fn only_the_issued_token_accepted_is_not_found() {
    let url = server(|auth| auth == Some("Bearer tok-alice")).await;
    let report = scan(&url).await;
    assert_eq!(rules(&report), Vec::<&str>::new(), "{:?}", report.findings);
}
