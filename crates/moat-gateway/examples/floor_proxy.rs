//! The cost floor of the stack moat is built on: the smallest reverse proxy
//! written with the same tokio runtime, hyper server builder and upstream
//! connection pool ([`moat_gateway::upstream`]) that moat uses, and nothing
//! else. `bench/pipeline.sh` runs it beside nginx and moat so that moat's
//! own cost can be told apart from the stack's.
//!
//! It runs on the runtime moat picks ([`moat_gateway::executor`]: the
//! current-thread runtime for one worker, else the multi-threaded one), so
//! that both are measured alike.
//!
//! Usage: `floor_proxy LISTEN_ADDR UPSTREAM_AUTHORITY`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use moat_config::UpstreamConfig;
use moat_gateway::body::{self, Body};
use moat_gateway::upstream::Upstream;

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
    let config = UpstreamConfig {
        targets: vec![format!("http://{upstream}")],
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
        pool_idle_timeout: Duration::from_secs(90),
        pool_max_idle_per_target: 64,
        tls: Default::default(),
    };
    let upstream = Upstream::new("floor", &config)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let upstream = Arc::clone(&upstream);
                async move { Ok::<_, Infallible>(forward(&upstream, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn forward(upstream: &Upstream, req: Request<Incoming>) -> http::Response<Body> {
    let picked = upstream.pick();
    let (mut parts, body) = req.into_parts();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = picked.target().uri(pq, None) else {
        return bad_gateway();
    };
    parts.uri = uri;
    parts
        .headers
        .insert(http::header::HOST, picked.target().host().clone());
    let up = Request::from_parts(parts, body::boxed(body));
    match upstream.send(picked, up).await {
        Ok(resp) => resp.map(body::boxed),
        Err(_) => bad_gateway(),
    }
}

fn bad_gateway() -> http::Response<Body> {
    let mut resp = http::Response::new(body::empty());
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    resp
}
