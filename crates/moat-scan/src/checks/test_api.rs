//! A real API on a local socket for the checks' tests: every request is
//! answered by a function of its method, path, `Authorization` header and
//! how many requests came before it; and a [`Context`] pointed at it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Context;
use crate::identity::{Identities, Identity, Role};
use crate::objects::Objects;

/// What one request was: method, path, the bearer token (the caller's
/// name here), and its number (0 for the first).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub caller: &'a str,
    pub n: usize,
}

/// Serves `answer` on 127.0.0.1 (an ephemeral port): its base URL.
pub async fn serve<F>(answer: F) -> String
where
    F: Fn(&Request) -> (u16, String) + Send + Sync + 'static,
{
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (answer, count) = (Arc::clone(&answer), Arc::clone(&count));
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let caller = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default()
                    .to_string();
                let (status, body) = answer(&Request {
                    method: req.method().as_str(),
                    path: req.uri().path(),
                    caller: &caller,
                    n: count.fetch_add(1, Ordering::SeqCst),
                });
                async move {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    format!("http://{addr}")
}

/// A user whose bearer token is its name.
pub fn user(name: &str) -> Identity {
    Identity::with_headers(
        name,
        Role::User,
        vec![("Authorization".into(), format!("Bearer {name}"))],
    )
}

/// A context for `spec` at `base` with users alice and bob and `objects`.
pub fn context(base: &str, spec: &str, objects: Objects, allow_writes: bool) -> Context {
    let spec = Arc::new(moat_spec::load_text("test.yaml", spec).unwrap());
    let limits = crate::Limits {
        allow_writes,
        ..crate::Limits::default()
    };
    Context {
        client: crate::Client::new(&base.parse().unwrap(), limits, false).unwrap(),
        ops: crate::target::operations(&spec),
        spec,
        identities: Identities::new(vec![user("alice"), user("bob")]),
        objects,
        selected: Vec::new(),
        observer: Arc::new(crate::progress::Silent),
        canary: None,
    }
}
