//! The cost floor of the stack moat is built on: the smallest reverse proxy
//! written with the same tokio runtime, hyper server builder and hyper
//! client pool that moat uses, and nothing else. `bench/pipeline.sh` runs
//! it beside nginx and moat so that moat's own cost can be told apart from
//! the framework's.
//!
//! It runs on the runtime moat picks ([`moat_gateway::executor`]: the
//! current-thread runtime for one worker, else the multi-threaded one), so
//! that both are measured alike.
//!
//! Usage: `floor_proxy LISTEN_ADDR UPSTREAM_AUTHORITY`.

use std::convert::Infallible;

use http::{Request, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

type Body = BoxBody<Bytes, hyper::Error>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        return Err("usage: floor_proxy LISTEN_ADDR UPSTREAM_AUTHORITY".into());
    };
    moat_gateway::executor::builder()
        .enable_all()
        .build()?
        .block_on(serve(listen, upstream))
}

async fn serve(listen: String, upstream: String) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Body> =
        Client::builder(TokioExecutor::new()).build(connector);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    let uri: Uri = match format!("http://{upstream}{pq}").parse() {
                        Ok(u) => u,
                        Err(_) => return Ok(bad_gateway()),
                    };
                    parts.uri = uri;
                    parts.headers.remove(http::header::HOST);
                    let up = Request::from_parts(parts, body.boxed());
                    let resp = match client.request(up).await {
                        Ok(r) => r.map(BodyExt::boxed),
                        Err(_) => bad_gateway(),
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn bad_gateway() -> http::Response<Body> {
    let mut resp = http::Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    resp
}
