//! The cost floor of the stack moat is built on: the smallest reverse proxy
//! written with the same tokio runtime, hyper server builder and upstream
//! connection pool ([`moat_gateway::upstream`]) that moat uses, and nothing
//! else. `bench/pipeline.sh` runs it beside nginx and moat so that moat's
//! own cost can be told apart from the stack's.
//!
//! It runs on the threads moat runs on ([`moat_gateway::executor`]: with
//! one worker on the main thread's runtime, else one current-thread runtime
//! per worker thread, each accepting on the listener), so that both are
//! measured alike.
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
use moat_gateway::executor::{self, Workers};
use moat_gateway::timer::Deadlines;
use moat_gateway::upstream::Upstream;
use moat_identity::trust::Trust;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        return Err("usage: floor_proxy LISTEN_ADDR UPSTREAM_AUTHORITY".into());
    };
    let config = UpstreamConfig {
        targets: vec![format!("http://{upstream}")],
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(60),
        pool_idle_timeout: Duration::from_secs(90),
        pool_max_idle_per_target: 64,
        tls: Default::default(),
        retries: 1,
        health: None,
    };
    let upstream = Upstream::new("floor", &config, &Trust::system()?)?;
    let listener = std::net::TcpListener::bind(&listen)?;
    listener.set_nonblocking(true)?;
    let main = executor::builder().enable_all().build()?;
    match executor::count() {
        1 => main.block_on(serve(listener, upstream))?,
        n => {
            let workers = Workers::start(n)?;
            let mut serving = Vec::new();
            for handle in workers.handles() {
                serving.push(handle.spawn(serve(listener.try_clone()?, upstream.clone())));
            }
            for task in serving {
                main.block_on(task)??;
            }
        }
    }
    Ok(())
}

/// Accepts and serves on the calling worker's runtime.
async fn serve(listener: std::net::TcpListener, upstream: Arc<Upstream>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            // moat's reused per-connection timer, for the response deadline.
            let deadlines = Deadlines::new();
            let svc = service_fn(move |req: Request<Incoming>| {
                let upstream = Arc::clone(&upstream);
                let deadlines = Arc::clone(&deadlines);
                async move { Ok::<_, Infallible>(forward(&upstream, &deadlines, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn forward(
    upstream: &Upstream,
    deadlines: &Arc<Deadlines>,
    req: Request<Incoming>,
) -> http::Response<Body> {
    let up = req.map(body::boxed);
    match upstream.send(up, deadlines, None).await {
        Ok((resp, _)) => resp.map(body::boxed),
        Err(_) => bad_gateway(),
    }
}

fn bad_gateway() -> http::Response<Body> {
    let mut resp = http::Response::new(body::empty());
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    resp
}
