//! Client listeners: accept, TLS, HTTP/1.1 and HTTP/2, connection limits,
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use moat_config::ListenerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::body::{Body, empty};
use crate::client_cert::ClientCert;
use crate::proxy::{ConnInfo, Shared, handle, host_of};
use crate::telemetry;

/// Serves one listener until `shutdown` turns true, then drains its
/// connections for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    index: usize,
    cfg: ListenerConfig,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let name: Arc<str> = Arc::from(cfg.bind.to_string());
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let cfg = Arc::new(cfg);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let cfg = cfg.clone();
        let name = name.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            telemetry::connections(&name, 1.0);
            serve_connection(stream, peer, index, &cfg, shared, watcher).await;
            telemetry::connections(&name, -1.0);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(listener = %name, "stopped accepting; draining connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %name, "grace period over; closing remaining connections");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    index: usize,
    cfg: &ListenerConfig,
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    if !cfg.http2 {
        builder = builder.http1_only();
    }

    if let Some(redirect) = &cfg.redirect_to_https {
        let port = redirect.port;
        let svc = service_fn(move |req| async move {
            Ok::<_, std::convert::Infallible>(redirect_to_https(&req, port))
        });
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        let _ = watcher.watch(conn.into_owned()).await;
        return;
    }

    let acceptor = shared.runtime.load().tls_acceptor(index).cloned();
    let Some(acceptor) = acceptor else {
        let info = Arc::new(ConnInfo {
            peer,
            tls: false,
            listener: index,
            client_cert: None,
        });
        let svc =
            service_fn(move |req: Request<Incoming>| handle(shared.clone(), info.clone(), req));
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        if let Err(e) = watcher.watch(conn.into_owned()).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
        return;
    };

    // The handshake shares the header deadline: a client that never
    // finishes it holds a connection slot for no longer than that.
    let tls = match tokio::time::timeout(cfg.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    // rustls verified any client certificate against the CA; keep what
    // identifies its holder for the identity phase.
    let client_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| ClientCert::from_der(leaf.as_ref()))
        .map(Arc::new);
    let info = Arc::new(ConnInfo {
        peer,
        tls: true,
        listener: index,
        client_cert,
    });
    let svc = service_fn(move |req: Request<Incoming>| handle(shared.clone(), info.clone(), req));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// `308` to the same host and target on HTTPS.
fn redirect_to_https(req: &Request<Incoming>, port: u16) -> Response<Body> {
    let Some(host) = host_of(req).filter(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
    }) else {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = if port == 443 {
        format!("https://{host}{target}")
    } else {
        format!("https://{host}:{port}{target}")
    };
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
