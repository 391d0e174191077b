//! The injection checks against an API that quotes every value back: the
//! payloads come back in the answers, and that alone must not be a
//! finding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use moat_scan::checks::injection::Injection;
use moat_scan::checks::{Check, Context, Outcome};
use moat_scan::client::{Client, Limits};
use moat_scan::identity::Identities;

const DOC: &str = r#"
openapi: 3.0.3
info: {title: echo, version: "1"}
paths:
  /items/{name}:
    get:
      parameters:
        - {name: name, in: path, required: true, schema: {type: string, example: report.txt}}
        - {name: q, in: query, schema: {type: string, example: Martin}}
        - {name: id, in: query, schema: {type: integer, example: 7}}
      responses: {"200": {description: ok}}
"#;

/// Answers every request with its path and query, as given, in JSON.
async fn echo(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = serde_json::json!({
        "path": request.uri().path(),
        "query": request.uri().query(),
        "items": [],
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(echo)),
            );
        }
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn values_quoted_back_are_not_injection() {
    let target = reqwest::Url::parse(&serve().await).unwrap();
    let spec = moat_spec::load_text("echo.yaml", DOC).unwrap();
    let limits = Limits {
        rate: 1000.0,
        ..Limits::default()
    };
    let cx = Context {
        client: Client::new(&target, limits, false).unwrap(),
        ops: moat_scan::target::operations(&spec),
        spec: Arc::new(spec),
        identities: Identities::new(Vec::new()),
        objects: moat_scan::objects::Objects::default(),
        selected: Vec::new(),
        observer: Arc::new(moat_scan::progress::Silent),
        canary: None,
    };
    let mut out = Outcome::default();
    Injection.run(&cx, &mut out).await;
    let found: Vec<(&str, &str)> = out
        .findings
        .iter()
        .map(|f| (f.rule, f.title.as_str()))
        .collect();
    assert_eq!(found, Vec::<(&str, &str)>::new());
    assert!(cx.client.sent() > 60, "{} requests", cx.client.sent());
    assert!(
        out.skipped
            .iter()
            .any(|s| s.reason.contains("no identity logs in")),
        "{:?}",
        out.skipped
    );
}
