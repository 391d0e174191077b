//! Upstream services: targets in round robin, each with its own pool of
//! keep-alive connections ([`pool`]).

mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use moat_config::UpstreamConfig;
use pool::Pool;
pub use pool::PooledBody;

use crate::body::{Body, BodyProgress};
use crate::timer::Deadlines;
use crate::tls::{TlsError, client_config};

/// One base URL of an upstream.
#[derive(Debug, Clone)]
pub struct Target {
    /// `scheme://authority/`: where connections go.
    address: Uri,
    authority: Authority,
    /// Path prefix without a trailing slash ("" for none).
    prefix: String,
    /// The `Host` of requests to this target: its host, and its port
    /// unless it is the scheme's default.
    host: HeaderValue,
}

impl Target {
    /// Parses a base URL that config validation already checked.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("`{url}`: no scheme"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{url}`: no host"))?;
        let prefix = uri.path().trim_end_matches('/').to_string();
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_string(),
        };
        let host = HeaderValue::try_from(host).map_err(|e| format!("`{url}`: {e}"))?;
        let address = Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| format!("`{url}`: {e}"))?;
        Ok(Self {
            address,
            authority,
            prefix,
            host,
        })
    }

    /// The request target (origin-form: the connection is already to
    /// this target) of `path` (canonical, starting with `/`) plus `query`.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri, http::Error> {
        let mut pq = String::with_capacity(self.prefix.len() + path.len() + 1);
        pq.push_str(&self.prefix);
        pq.push_str(path);
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        Ok(Uri::from(PathAndQuery::try_from(pq)?))
    }

    /// The `Host` field of requests to this target.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// `host:port` as written, for logs.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }
}

/// Why an upstream call failed.
#[derive(Debug)]
pub enum UpstreamFailure {
    /// No connection could be made (refused, unreachable, TLS failure).
    Connect,
    /// No response head within `response_timeout`.
    Timeout,
    /// The connection broke or the response was malformed.
    Protocol,
}

impl UpstreamFailure {
    /// The label used in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Protocol => "protocol",
        }
    }
}

/// An upstream service: its targets, each with its own connection pool.
pub struct Upstream {
    name: String,
    targets: Vec<(Target, Arc<Pool>)>,
    next: AtomicUsize,
    response_timeout: Duration,
}

/// The target a request goes to, and its pool.
#[derive(Clone, Copy)]
pub struct Picked<'a> {
    target: &'a Target,
    pool: &'a Arc<Pool>,
}

impl<'a> Picked<'a> {
    /// The target.
    pub fn target(&self) -> &'a Target {
        self.target
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

/// A problem building an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A target URL did not parse.
    #[error("upstream `{name}`: invalid target {reason}")]
    Target {
        /// Upstream name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The TLS setup failed.
    #[error("upstream `{name}`: {source}")]
    Tls {
        /// Upstream name.
        name: String,
        /// Why.
        source: TlsError,
    },
}

impl Upstream {
    /// Builds the pool for one configured upstream.
    pub fn new(name: &str, cfg: &UpstreamConfig) -> Result<Arc<Self>, UpstreamError> {
        let targets = cfg
            .targets
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| UpstreamError::Target {
                name: name.to_string(),
                reason,
            })?;
        if targets.is_empty() {
            return Err(UpstreamError::Target {
                name: name.to_string(),
                reason: "(none given)".to_string(),
            });
        }
        let tls = client_config(cfg.tls.ca.as_deref()).map_err(|source| UpstreamError::Tls {
            name: name.to_string(),
            source,
        })?;
        let connector = connector(tls, cfg.connect_timeout);
        let targets = targets
            .into_iter()
            .map(|target| {
                let pool = Pool::new(
                    connector.clone(),
                    target.address.clone(),
                    cfg.pool_max_idle_per_target,
                    cfg.pool_idle_timeout,
                    crate::executor::count(),
                );
                (target, Arc::new(pool))
            })
            .collect();
        Ok(Arc::new(Self {
            name: name.to_string(),
            targets,
            next: AtomicUsize::new(0),
            response_timeout: cfg.response_timeout,
        }))
    }

    /// The upstream's name in config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next target in round robin.
    pub fn pick(&self) -> Picked<'_> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        // `new` refuses an upstream without targets.
        let (target, pool) = &self.targets[i % self.targets.len()];
        Picked { target, pool }
    }

    /// Sends a request (origin-form target, `Host` set) to the picked
    /// target and waits for the response head, on the client connection's
    /// `deadlines`: `response_timeout`, counted again while the client's
    /// `body` is still streaming, so the upstream has at least that long
    /// (and at most twice that) after the body's last byte.
    pub async fn send(
        &self,
        to: Picked<'_>,
        req: Request<Body>,
        deadlines: &Arc<Deadlines>,
        body: Option<&BodyProgress>,
    ) -> Result<Response<PooledBody>, UpstreamFailure> {
        let mut call = std::pin::pin!(to.pool.send(req));
        loop {
            match deadlines.within(self.response_timeout, call.as_mut()).await {
                Ok(result) => return result,
                // The upstream cannot answer before it has the body: while
                // the client is still sending it (a stalled client is cut
                // off by the body read timeout), the deadline starts again.
                Err(_) if body.is_some_and(BodyProgress::streaming) => {}
                Err(_) => return Err(UpstreamFailure::Timeout),
            }
        }
    }

    /// Closes connections idle for longer than the pool's idle timeout.
    pub fn sweep(&self) {
        for (_, pool) in &self.targets {
            pool.sweep();
        }
    }
}

/// Opens TCP connections (no delay, `connect_timeout`), with TLS for
/// `https` targets.
fn connector(
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_uri_joins_prefix_path_and_query() {
        let t = Target::parse("https://api.internal:8443/v2/").unwrap();
        assert_eq!(
            t.uri("/books/1", Some("a=1")).unwrap().to_string(),
            "/v2/books/1?a=1"
        );
        assert_eq!(t.address.to_string(), "https://api.internal:8443/");
        assert_eq!(t.host(), "api.internal:8443");
        let t = Target::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(t.uri("/", None).unwrap().to_string(), "/");
        assert_eq!(t.host(), "127.0.0.1:9000");
        // The scheme's default port is left out, as clients send it.
        assert_eq!(
            Target::parse("https://api.internal:443/").unwrap().host(),
            "api.internal"
        );
        assert_eq!(Target::parse("http://[::1]:80").unwrap().host(), "[::1]");
    }
}
