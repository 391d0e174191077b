//! A sample API as a real HTTP server on 127.0.0.1: requests are read off
//! the socket (path segments percent-decoded, the query, the headers, a
//! JSON body) and handed to the API's handler.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::Value;
use tokio::net::TcpListener;

/// A request as an API handler sees it.
pub struct Req {
    pub method: String,
    /// Percent-decoded path segments (`/wiki/It%27s` → `["wiki", "It's"]`).
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The body, when it is JSON; `Err(())` when it is not.
    pub body: Option<Result<Value, ()>>,
}

impl Req {
    pub fn seg(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A handler's answer: a status, a JSON body, extra headers.
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn problem(status: u16, title: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({"status": status, "title": title}),
        )
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// Serves `handler` on 127.0.0.1:0 until the test's runtime ends.
pub async fn serve<H>(handler: H) -> SocketAddr
where
    H: Fn(Req) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&*handler, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn answer<H: Fn(Req) -> Reply>(handler: &H, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let segments = parts
        .uri
        .path()
        .split('/')
        .skip(1)
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let query = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(n), decode(v))
        })
        .collect();
    let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).map_err(|_| ()));
    let reply = handler(Req {
        method: parts.method.to_string(),
        segments,
        query,
        headers: parts.headers,
        body,
    });
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    let text = match &reply.body {
        Some(v) => {
            response = response.header("content-type", "application/json");
            v.to_string()
        }
        None => String::new(),
    };
    response.body(Full::new(Bytes::from(text))).unwrap()
}
