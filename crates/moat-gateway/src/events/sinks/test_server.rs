//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that
//! records what it is sent and answers from a script.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One answer of the script.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) retry_after: Option<&'static str>,
    /// Wait this long before answering.
    pub(super) delay: Duration,
}

impl Reply {
    pub(super) fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

/// One request the receiver got.
#[derive(Debug)]
pub(super) struct Received {
    pub(super) at: Instant,
    pub(super) content_type: Option<String>,
    pub(super) body: serde_json::Value,
}

/// The running receiver. Requests are answered by the script in order,
/// then by `then`.
pub(super) struct Hook {
    addr: std::net::SocketAddr,
    received: mpsc::UnboundedReceiver<Received>,
}

impl Hook {
    pub(super) async fn start(script: Vec<Reply>, then: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let tx = tx.clone();
                        let script = script.clone();
                        async move {
                            let at = Instant::now();
                            let content_type = req
                                .headers()
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string);
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
                            });
                            let _ = tx.send(Received {
                                at,
                                content_type,
                                body,
                            });
                            let reply = script.lock().unwrap().pop_front().unwrap_or(then);
                            tokio::time::sleep(reply.delay).await;
                            let mut response = Response::builder().status(reply.status);
                            if let Some(after) = reply.retry_after {
                                response = response.header("retry-after", after);
                            }
                            Ok::<_, Infallible>(
                                response.body(Full::new(Bytes::from_static(b"ok"))).unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, received }
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}/hooks/T000/secret-path", self.addr)
    }

    /// The next request, if one comes within `within`.
    pub(super) async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}
