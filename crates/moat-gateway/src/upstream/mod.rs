//! Upstream services: targets in round robin, each with its own pool of
//! keep-alive connections ([`pool`]) and its health ([`health`]); requests
//! with idempotent methods are sent again to the next target when the
//! first could not be reached.

mod health;
mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use health::{Change, Policy, TargetHealth};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use moat_config::UpstreamConfig;
use moat_identity::trust::{Trust, TrustError};
use pool::Pool;
pub use pool::{BodyStalled, PooledBody};

use crate::body::{Body, BodyProgress};
use crate::timer::Deadlines;

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

    /// The request target of `path` (origin-form, starting with `/`) on
    /// this target: the prefix, then `path`.
    fn join(&self, path: Option<&PathAndQuery>) -> Result<Uri, http::uri::InvalidUri> {
        let path = path.map_or("/", PathAndQuery::as_str);
        if self.prefix.is_empty() {
            return path.parse();
        }
        let mut pq = String::with_capacity(self.prefix.len() + path.len());
        pq.push_str(&self.prefix);
        pq.push_str(path);
        pq.parse()
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No connection could be made (refused, unreachable, TLS failure).
    Connect,
    /// No response head within `response_timeout`.
    Timeout,
    /// The connection closed or was reset before the response head.
    Reset,
    /// The response was malformed, or the connection broke otherwise.
    Protocol,
    /// Every target is marked down by its health checks: nothing tried.
    Down,
}

impl UpstreamFailure {
    /// The label used in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Reset => "reset",
            UpstreamFailure::Protocol => "protocol",
            UpstreamFailure::Down => "down",
        }
    }
}

/// A failed call, with the target last tried (none when every target was
/// down).
#[derive(Debug)]
pub struct Failed<'a> {
    /// Why.
    pub failure: UpstreamFailure,
    /// The target last tried.
    pub target: Option<&'a Target>,
}

/// One target, its pool and its health.
struct Member {
    target: Target,
    pool: Arc<Pool>,
    health: TargetHealth,
}

/// The active check of an upstream's targets.
#[derive(Debug, Clone)]
struct ActiveCheck {
    path: PathAndQuery,
    interval: Duration,
    timeout: Duration,
    expected: StatusCode,
}

/// An upstream service: its targets, each with its own connection pool.
pub struct Upstream {
    name: String,
    members: Vec<Member>,
    next: AtomicUsize,
    response_timeout: Duration,
    retries: u32,
    /// Marking targets down; `None` when `health` is not configured.
    policy: Option<Policy>,
    active: Option<ActiveCheck>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<&Target> = self.members.iter().map(|m| &m.target).collect();
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("targets", &targets)
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
        source: TrustError,
    },
    /// The health check path is not a request target.
    #[error("upstream `{name}`: invalid health check path `{path}`")]
    HealthPath {
        /// Upstream name.
        name: String,
        /// The path.
        path: String,
    },
}

/// Whether `method` may be sent twice (RFC 9110 §9.2.2) by the gateway:
/// the idempotent methods an API documents.
fn idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

impl Upstream {
    /// Builds the pools for one configured upstream; `trust` is the roots
    /// of targets without their own `tls.ca`.
    pub fn new(
        name: &str,
        cfg: &UpstreamConfig,
        trust: &Trust,
    ) -> Result<Arc<Self>, UpstreamError> {
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
        let tls = match cfg.tls.ca.as_deref() {
            // This upstream's own CA replaces every other root.
            Some(ca) => Trust::new(Some(ca), false),
            None => Ok(trust.clone()),
        }
        .map_err(|source| UpstreamError::Tls {
            name: name.to_string(),
            source,
        })?;
        let connector = connector(tls.client_config(), cfg.connect_timeout);
        let members = targets
            .into_iter()
            .map(|target| {
                let pool = Pool::new(
                    connector.clone(),
                    target.address.clone(),
                    cfg.pool_max_idle_per_target,
                    cfg.pool_idle_timeout,
                    cfg.body_timeout,
                    crate::executor::count(),
                );
                Member {
                    target,
                    pool: Arc::new(pool),
                    health: TargetHealth::new(),
                }
            })
            .collect();
        let active = match cfg
            .health
            .as_ref()
            .and_then(|h| h.path.as_ref().map(|p| (h, p)))
        {
            None => None,
            Some((h, path)) => Some(ActiveCheck {
                path: PathAndQuery::try_from(path.as_str()).map_err(|_| {
                    UpstreamError::HealthPath {
                        name: name.to_string(),
                        path: path.clone(),
                    }
                })?,
                interval: h.interval,
                timeout: h.timeout,
                expected: StatusCode::from_u16(h.expected_status).unwrap_or(StatusCode::OK),
            }),
        };
        Ok(Arc::new(Self {
            name: name.to_string(),
            members,
            next: AtomicUsize::new(0),
            response_timeout: cfg.response_timeout,
            retries: cfg.retries,
            policy: cfg.health.as_ref().map(Policy::new),
            active,
        }))
    }

    /// The upstream's name in config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seconds a client is told to wait when every target is down:
    /// the check interval, or the time a down target is left out.
    pub fn retry_after(&self) -> u64 {
        let wait = match (&self.active, &self.policy) {
            (Some(check), _) => check.interval,
            (None, Some(policy)) => policy.retry_after,
            (None, None) => Duration::ZERO,
        };
        wait.as_secs().max(1)
    }

    /// The next target that may get a request, in round robin from the
    /// one after `after` (a retry) or from the shared counter.
    fn pick(&self, after: Option<usize>) -> Option<usize> {
        let n = self.members.len();
        let start = match after {
            Some(i) => i + 1,
            None => self.next.fetch_add(1, Ordering::Relaxed),
        };
        (0..n).map(|k| (start + k) % n).find(|&i| {
            self.policy
                .as_ref()
                .is_none_or(|p| self.members[i].health.available(p))
        })
    }

    /// Sends a request (origin-form target without the target's prefix,
    /// no `Host`) to the next target that is up, and waits for the
    /// response head, on the client connection's `deadlines`:
    /// `response_timeout`, counted again while the client's `body` is
    /// still streaming, so the upstream has at least that long (and at
    /// most twice that) after the body's last byte.
    ///
    /// A request with an idempotent method is sent again, to the next
    /// target, up to `retries` times: when no connection could be made
    /// (the request is untouched), and when the connection closed before
    /// the answer's head if the request has no body (a body that started
    /// to stream cannot be sent twice).
    pub async fn send(
        &self,
        req: Request<Body>,
        deadlines: &Arc<Deadlines>,
        body: Option<&BodyProgress>,
    ) -> Result<(Response<PooledBody>, &Target), Failed<'_>> {
        let (parts, body_in) = req.into_parts();
        let path = parts.uri.path_and_query().cloned();
        let retriable = self.retries > 0 && idempotent(&parts.method);
        // What is needed to send a bodiless request again after the first
        // attempt consumed it.
        let again = (retriable && body_in.is_end_stream()).then(|| parts.clone());
        let mut next = Some(Request::from_parts(parts, body_in));
        let mut last: Option<usize> = None;
        let mut attempt = 0u32;
        loop {
            let Some(i) = self.pick(last) else {
                return Err(Failed {
                    failure: last.map_or(UpstreamFailure::Down, |_| UpstreamFailure::Connect),
                    target: last.map(|i| &self.members[i].target),
                });
            };
            let member = &self.members[i];
            last = Some(i);
            let Some(mut req) = next.take().or_else(|| {
                again
                    .as_ref()
                    .map(|parts| Request::from_parts(parts.clone(), crate::body::empty()))
            }) else {
                return Err(Failed {
                    failure: UpstreamFailure::Reset,
                    target: Some(&member.target),
                });
            };
            let Ok(uri) = member.target.join(path.as_ref()) else {
                return Err(Failed {
                    failure: UpstreamFailure::Protocol,
                    target: Some(&member.target),
                });
            };
            *req.uri_mut() = uri;
            req.headers_mut()
                .insert(http::header::HOST, member.target.host.clone());
            let failure = match self.attempt(member, req, deadlines, body).await {
                Ok(resp) => {
                    self.note(member, Outcome::Answered);
                    return Ok((resp, &member.target));
                }
                Err((UpstreamFailure::Connect, unsent)) => {
                    self.note(member, Outcome::ConnectFailed);
                    next = unsent;
                    UpstreamFailure::Connect
                }
                Err((failure, _)) => failure,
            };
            let retry = attempt < self.retries
                && match failure {
                    UpstreamFailure::Connect => retriable,
                    UpstreamFailure::Reset => again.is_some(),
                    _ => false,
                };
            if !retry {
                return Err(Failed {
                    failure,
                    target: Some(&member.target),
                });
            }
            attempt += 1;
            tracing::debug!(upstream = %self.name, target = member.target.authority(),
                kind = failure.label(), attempt, "sending the request again");
        }
    }

    /// One attempt on one target; the request back when it was not sent.
    async fn attempt(
        &self,
        member: &Member,
        req: Request<Body>,
        deadlines: &Arc<Deadlines>,
        body: Option<&BodyProgress>,
    ) -> Result<Response<PooledBody>, (UpstreamFailure, Option<Request<Body>>)> {
        let mut call = std::pin::pin!(member.pool.send(req));
        loop {
            match deadlines.within(self.response_timeout, call.as_mut()).await {
                Ok(result) => return result,
                // The upstream cannot answer before it has the body: while
                // the client is still sending it (a stalled client is cut
                // off by the body read timeout), the deadline starts again.
                Err(_) if body.is_some_and(BodyProgress::streaming) => {}
                Err(_) => return Err((UpstreamFailure::Timeout, None)),
            }
        }
    }

    /// Records what a request or check found of a target.
    fn note(&self, member: &Member, outcome: Outcome) {
        let Some(policy) = &self.policy else {
            return;
        };
        let change = match outcome {
            Outcome::Answered => member.health.answered(policy),
            Outcome::ConnectFailed | Outcome::CheckFailed => member.health.failed(policy),
            Outcome::CheckPassed => member.health.passed(policy),
        };
        match change {
            Change::Down => {
                tracing::warn!(upstream = %self.name, target = member.target.authority(),
                    "upstream target marked down");
                crate::telemetry::upstream_target_state(
                    &self.name,
                    member.target.authority(),
                    false,
                );
            }
            Change::Up => {
                tracing::info!(upstream = %self.name, target = member.target.authority(),
                    "upstream target marked up");
                crate::telemetry::upstream_target_state(
                    &self.name,
                    member.target.authority(),
                    true,
                );
            }
            Change::None => {}
        }
    }

    /// Starts the active health checks, when configured, until the
    /// upstream is dropped (a reload builds new ones).
    pub fn start_checks(self: &Arc<Self>) {
        let Some(check) = self.active.clone() else {
            return;
        };
        for i in 0..self.members.len() {
            let upstream = Arc::downgrade(self);
            let check = check.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(check.interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let Some(upstream) = upstream.upgrade() else {
                        return;
                    };
                    upstream.check(i, &check).await;
                }
            });
        }
    }

    /// One active check of target `i`.
    async fn check(&self, i: usize, check: &ActiveCheck) {
        let Some(member) = self.members.get(i) else {
            return;
        };
        let passed = tokio::time::timeout(check.timeout, probe(member, check))
            .await
            .unwrap_or(false);
        self.note(
            member,
            if passed {
                Outcome::CheckPassed
            } else {
                Outcome::CheckFailed
            },
        );
    }

    /// Whether target `i` is marked down (`false` without health checks).
    pub fn is_down(&self, i: usize) -> bool {
        self.policy.is_some() && self.members.get(i).is_some_and(|m| m.health.is_down())
    }

    /// Closes connections idle for longer than the pool's idle timeout.
    pub fn sweep(&self) {
        for member in &self.members {
            member.pool.sweep();
        }
    }
}

/// What a request or a check found of a target.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Answered,
    ConnectFailed,
    CheckPassed,
    CheckFailed,
}

/// `GET` of the check path: passes when the answer has the expected status
/// and its body is read to its end.
async fn probe(member: &Member, check: &ActiveCheck) -> bool {
    let mut req = Request::new(crate::body::empty());
    let Ok(uri) = member.target.join(Some(&check.path)) else {
        return false;
    };
    *req.uri_mut() = uri;
    req.headers_mut()
        .insert(http::header::HOST, member.target.host.clone());
    req.headers_mut().insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(concat!("moat-health/", env!("CARGO_PKG_VERSION"))),
    );
    let Ok(resp) = member.pool.send(req).await else {
        return false;
    };
    let expected = resp.status() == check.expected;
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return false;
        }
    }
    expected
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
        let pq = |s: &str| PathAndQuery::try_from(s).unwrap();
        let t = Target::parse("https://api.internal:8443/v2/").unwrap();
        assert_eq!(
            t.join(Some(&pq("/books/1?a=1"))).unwrap().to_string(),
            "/v2/books/1?a=1"
        );
        assert_eq!(t.address.to_string(), "https://api.internal:8443/");
        assert_eq!(t.host(), "api.internal:8443");
        let t = Target::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(t.join(Some(&pq("/"))).unwrap().to_string(), "/");
        assert_eq!(t.join(None).unwrap().to_string(), "/");
        assert_eq!(t.host(), "127.0.0.1:9000");
        // The scheme's default port is left out, as clients send it.
        assert_eq!(
            Target::parse("https://api.internal:443/").unwrap().host(),
            "api.internal"
        );
        assert_eq!(Target::parse("http://[::1]:80").unwrap().host(), "[::1]");
    }

    #[test]
    fn only_idempotent_methods_are_sent_twice() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!idempotent(&m), "{m}");
        }
    }
}
