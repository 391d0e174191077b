//! The scanner's only way to the network: every request goes through
//! [`Client::send`], which keeps the scan's promises.
//!
//! * **Target only.** A probe names a path; the client joins it to the
//!   target's origin and refuses anything that would leave it. Redirects are
//!   never followed.
//! * **Safe by default.** Only GET, HEAD, OPTIONS and TRACE are sent unless
//!   writes are allowed, except to the login operations the identities are
//!   configured with.
//! * **Bounded.** A total request budget and a steady request rate; an
//!   answer of 429 is waited out (`Retry-After`, capped) and tried again,
//!   unless the probe wants to see it.
//! * **Nothing secret in evidence.** [`Exchange::curl`] redacts every
//!   credential the identity added.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method};
use reqwest::Url;
use tokio::sync::Mutex;

use crate::identity::Identity;

/// The most of an answer's body kept; the rest is read and dropped.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The longest `Retry-After` a 429 is waited out for (a longer one is the
/// answer), and how many times a probe is tried again after one.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
const MAX_RETRIES_ON_429: u32 = 3;

/// The scan's bounds and safety settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per second, at most.
    pub rate: f64,
    /// Requests in the whole scan, at most.
    pub max_requests: u64,
    /// How long one exchange may take.
    pub timeout: Duration,
    /// Whether methods other than GET, HEAD, OPTIONS and TRACE may be sent.
    pub allow_writes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate: 20.0,
            max_requests: 5_000,
            timeout: Duration::from_secs(10),
            allow_writes: false,
        }
    }
}

/// A request to send: method, path (and query) relative to the target's
/// origin, headers and body. Identities add their credentials on top.
#[derive(Debug, Clone)]
pub struct Probe {
    pub method: Method,
    /// Starts with `/`; percent-encoded already ([`crate::target::encode`]).
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<(String, Bytes)>,
    /// Answer a 429 as it comes instead of waiting and trying again: for
    /// checks that look for rate limits.
    pub want_429: bool,
    /// A longer timeout than the scan's, for timing checks.
    pub timeout: Option<Duration>,
    /// Sent at once instead of at the scan's rate (still counted in its
    /// budget): for the bounded bursts that look for rate limits.
    pub unpaced: bool,
}

impl Probe {
    pub fn new(method: Method, path_and_query: impl Into<String>) -> Self {
        Self {
            method,
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
            body: None,
            want_429: false,
            timeout: None,
            unpaced: false,
        }
    }

    pub fn get(path_and_query: impl Into<String>) -> Self {
        Self::new(Method::GET, path_and_query)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = Some((
            "application/json".to_string(),
            Bytes::from(value.to_string()),
        ));
        self
    }

    pub fn body(mut self, content_type: impl Into<String>, body: impl Into<Bytes>) -> Self {
        self.body = Some((content_type.into(), body.into()));
        self
    }

    pub fn want_429(mut self) -> Self {
        self.want_429 = true;
        self
    }

    pub fn unpaced(mut self) -> Self {
        self.unpaced = true;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether the method changes nothing on a well-behaved server.
    pub fn is_safe(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    }
}

/// A probe and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub probe: Probe,
    /// Who sent it.
    pub identity: String,
    /// The credentials the identity added, for the redacted curl.
    pub added: Vec<(String, String)>,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// From sending the request to the last byte of the answer.
    pub elapsed: Duration,
    /// Every secret the scan's identities hold, for [`Exchange::curl`] to
    /// redact.
    pub secrets: Arc<Vec<String>>,
}

impl Exchange {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A curl command that repeats this exchange, with every credential
    /// the identity added replaced by a placeholder naming it.
    pub fn curl(&self) -> String {
        crate::curl::render(self)
    }
}

/// Why a probe was not answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("the scan's request budget ({0}) is spent")]
    BudgetSpent(u64),
    #[error("{0} is a write and writes are not allowed (--allow-writes)")]
    WriteNotAllowed(Method),
    #[error("`{0}` does not address the target")]
    OffTarget(String),
    #[error("no answer in {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("dry run: nothing is sent")]
    DryRun,
}

/// Sends probes to the target within the scan's limits.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    origin: Url,
    limits: Limits,
    dry_run: bool,
    /// Method and path of each login request the identities make: sent
    /// even when writes are not allowed.
    logins: std::sync::Mutex<HashSet<(Method, String)>>,
    /// Every identity's secrets, redacted from evidence.
    secrets: std::sync::Mutex<Arc<Vec<String>>>,
    /// Method and path still answered 429 after every wait: not waited
    /// for again.
    throttled: std::sync::Mutex<HashSet<(Method, String)>>,
    sent: AtomicU64,
    next_slot: Mutex<Instant>,
}

impl Client {
    /// A client for `target` (scheme, host and port; any path is ignored:
    /// probes carry whole paths).
    pub fn new(target: &Url, limits: Limits, dry_run: bool) -> Result<Self, SendError> {
        let mut origin = target.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        let http = moat_identity::http::client_builder(limits.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // The TLS check looks at the certificate itself; every other
            // check must still reach a target with a private certificate.
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| SendError::Transport(moat_identity::http::error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                origin,
                limits,
                dry_run,
                logins: std::sync::Mutex::new(HashSet::new()),
                throttled: std::sync::Mutex::new(HashSet::new()),
                secrets: std::sync::Mutex::new(Arc::new(Vec::new())),
                sent: AtomicU64::new(0),
                next_slot: Mutex::new(Instant::now()),
            }),
        })
    }

    /// The target's origin, `https://host:port/`.
    pub fn origin(&self) -> &Url {
        &self.inner.origin
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn writes_allowed(&self) -> bool {
        self.inner.limits.allow_writes
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// Lets `method path` through when writes are not allowed: a login
    /// request an identity is configured with.
    pub fn allow_login(&self, method: Method, path: &str) {
        if let Ok(mut logins) = self.inner.logins.lock() {
            logins.insert((method, path.to_string()));
        }
    }

    /// Adds `secret` to what evidence redacts: an identity's credential,
    /// password or token.
    pub fn add_secret(&self, secret: &str) {
        if let Ok(mut secrets) = self.inner.secrets.lock()
            && !secrets.iter().any(|s| s == secret)
        {
            let mut next = secrets.as_ref().clone();
            next.push(secret.to_string());
            *secrets = Arc::new(next);
        }
    }

    /// Whether `probe` may be sent under the scan's write setting.
    pub fn may_send(&self, probe: &Probe) -> bool {
        if probe.is_safe() || self.inner.limits.allow_writes {
            return true;
        }
        let path = probe
            .path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        self.inner
            .logins
            .lock()
            .map(|l| l.contains(&(probe.method.clone(), path)))
            .unwrap_or(false)
    }

    /// Sends `probe` as `identity`.
    pub async fn send(&self, probe: &Probe, identity: &Identity) -> Result<Exchange, SendError> {
        if !self.may_send(probe) {
            return Err(SendError::WriteNotAllowed(probe.method.clone()));
        }
        let (url, added) = self.url_for(probe, identity)?;
        if self.inner.dry_run {
            return Err(SendError::DryRun);
        }
        let route = (probe.method.clone(), url.path().to_string());
        let throttled = self
            .inner
            .throttled
            .lock()
            .map(|t| t.contains(&route))
            .unwrap_or(false);
        let mut retries = 0;
        loop {
            let exchange = self.send_once(probe, identity, &url, &added).await?;
            if exchange.status != 429 || probe.want_429 || throttled {
                return Ok(exchange);
            }
            if retries >= MAX_RETRIES_ON_429 {
                // Still refused after every wait: the route is throttled
                // for longer than the scan waits; later probes of it take
                // the 429 as their answer.
                if let Ok(mut t) = self.inner.throttled.lock() {
                    t.insert(route);
                }
                return Ok(exchange);
            }
            retries += 1;
            let wait = exchange
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            // A longer wait than the scan gives one request (a lockout)
            // is not waited out: the 429 is the answer.
            if wait > MAX_RETRY_AFTER {
                return Ok(exchange);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether the target's certificate verifies, for the TLS check: one
    /// `GET path_and_query`, anonymous, through a client that checks the
    /// certificate (chain, validity, name) against the system's roots, or
    /// against `roots` only when given. Counted in the budget like any
    /// probe. `Ok(None)`: it verifies (whatever the answer); `Ok(Some(why))`:
    /// the handshake refused the certificate; `Err`: no answer for another
    /// reason.
    pub async fn certificate_problem(
        &self,
        path_and_query: &str,
        roots: Option<Vec<reqwest::Certificate>>,
    ) -> Result<Option<String>, SendError> {
        let probe = Probe::get(path_and_query);
        let (url, _) = self.url_for(&probe, &Identity::anonymous())?;
        if self.inner.dry_run {
            return Err(SendError::DryRun);
        }
        let n = self.inner.sent.fetch_add(1, Ordering::Relaxed);
        if n >= self.inner.limits.max_requests {
            self.inner.sent.fetch_sub(1, Ordering::Relaxed);
            return Err(SendError::BudgetSpent(self.inner.limits.max_requests));
        }
        self.pace().await;
        let mut builder = moat_identity::http::client_builder(self.inner.limits.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(roots) = roots {
            builder = builder.tls_certs_only(roots);
        }
        let verifying = builder
            .build()
            .map_err(|e| SendError::Transport(moat_identity::http::error_chain(&e)))?;
        match verifying.get(url).send().await {
            Ok(_) => Ok(None),
            Err(error) => {
                let chain = moat_identity::http::error_chain(&error);
                if chain.to_ascii_lowercase().contains("certificate") {
                    Ok(Some(chain))
                } else {
                    Err(classify(&error, self.inner.limits.timeout))
                }
            }
        }
    }

    /// The probe's URL on the target, and the credentials `identity` adds.
    fn url_for(
        &self,
        probe: &Probe,
        identity: &Identity,
    ) -> Result<(Url, Vec<(String, String)>), SendError> {
        if !probe.path_and_query.starts_with('/') || probe.path_and_query.starts_with("//") {
            return Err(SendError::OffTarget(probe.path_and_query.clone()));
        }
        let mut url = self
            .inner
            .origin
            .join(&probe.path_and_query)
            .map_err(|_| SendError::OffTarget(probe.path_and_query.clone()))?;
        if url.origin() != self.inner.origin.origin() {
            return Err(SendError::OffTarget(probe.path_and_query.clone()));
        }
        let added = identity.credentials();
        for (name, value) in &identity.query_credentials() {
            url.query_pairs_mut().append_pair(name, value);
        }
        Ok((url, added))
    }

    async fn send_once(
        &self,
        probe: &Probe,
        identity: &Identity,
        url: &Url,
        added: &[(String, String)],
    ) -> Result<Exchange, SendError> {
        let n = self.inner.sent.fetch_add(1, Ordering::Relaxed);
        if n >= self.inner.limits.max_requests {
            self.inner.sent.fetch_sub(1, Ordering::Relaxed);
            return Err(SendError::BudgetSpent(self.inner.limits.max_requests));
        }
        if !probe.unpaced {
            self.pace().await;
        }
        let mut request = self.inner.http.request(probe.method.clone(), url.clone());
        for (name, value) in added.iter().chain(&probe.headers) {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &probe.body {
            request = request
                .header(http::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
        }
        let timeout = probe.timeout.unwrap_or(self.inner.limits.timeout);
        request = request.timeout(timeout);
        let started = Instant::now();
        let mut response = request.send().await.map_err(|e| classify(&e, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, timeout))? {
            let room = MAX_BODY_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let elapsed = started.elapsed();
        // The path only: a query may carry an identity's credential.
        tracing::debug!(
            method = %probe.method,
            path = url.path(),
            identity = identity.name(),
            status,
            elapsed_ms = elapsed.as_millis(),
            "scan request"
        );
        Ok(Exchange {
            probe: probe.clone(),
            identity: identity.name().to_string(),
            added: added.to_vec(),
            url: url.to_string(),
            status,
            headers,
            body: Bytes::from(body),
            elapsed,
            secrets: self
                .inner
                .secrets
                .lock()
                .map(|s| Arc::clone(&s))
                .unwrap_or_default(),
        })
    }

    /// Waits for the next free slot at the scan's rate.
    async fn pace(&self) {
        let interval = Duration::from_secs_f64(1.0 / self.inner.limits.rate.max(0.01));
        let wait = {
            let mut next = self.inner.next_slot.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + interval;
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

fn classify(error: &reqwest::Error, timeout: Duration) -> SendError {
    if error.is_timeout() {
        SendError::Timeout(timeout)
    } else {
        SendError::Transport(moat_identity::http::error_chain(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A loopback server answering `status` to everything, counting hits.
    async fn server(status: u16) -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let mut response = http::Response::new(http_body_util::Full::new(
                            Bytes::from_static(b"{}"),
                        ));
                        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        if status == 429 {
                            response
                                .headers_mut()
                                .insert("retry-after", http::HeaderValue::from_static("0"));
                        }
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (Url::parse(&format!("http://{addr}/")).unwrap(), hits)
    }

    fn limits() -> Limits {
        Limits {
            rate: 1000.0,
            max_requests: 3,
            timeout: Duration::from_secs(5),
            allow_writes: false,
        }
    }

    #[tokio::test]
    async fn refuses_writes_unless_allowed_or_a_login() {
        let (url, hits) = server(200).await;
        let client = Client::new(&url, limits(), false).unwrap();
        let anonymous = Identity::anonymous();
        let post = Probe::new(Method::POST, "/api/books");
        assert!(matches!(
            client.send(&post, &anonymous).await,
            Err(SendError::WriteNotAllowed(_))
        ));
        client.allow_login(Method::POST, "/api/login");
        let login = Probe::new(Method::POST, "/api/login");
        assert_eq!(client.send(&login, &anonymous).await.unwrap().status, 200);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn never_leaves_the_target() {
        let (url, hits) = server(200).await;
        let client = Client::new(&url, limits(), false).unwrap();
        let anonymous = Identity::anonymous();
        for path in [
            "//evil.example/x",
            "http://evil.example/",
            "x",
            "/\\evil.example",
        ] {
            let result = client.send(&Probe::get(path), &anonymous).await;
            assert!(
                matches!(result, Err(SendError::OffTarget(_))),
                "{path}: {result:?}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_budget_is_a_hard_bound() {
        let (url, hits) = server(200).await;
        let client = Client::new(&url, limits(), false).unwrap();
        let anonymous = Identity::anonymous();
        for _ in 0..3 {
            client.send(&Probe::get("/"), &anonymous).await.unwrap();
        }
        assert!(matches!(
            client.send(&Probe::get("/"), &anonymous).await,
            Err(SendError::BudgetSpent(3))
        ));
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_429_is_waited_out_unless_the_probe_wants_it() {
        let (url, hits) = server(429).await;
        let mut bounds = limits();
        bounds.max_requests = 100;
        let client = Client::new(&url, bounds, false).unwrap();
        let anonymous = Identity::anonymous();
        let seen = client
            .send(&Probe::get("/").want_429(), &anonymous)
            .await
            .unwrap();
        assert_eq!((seen.status, hits.load(Ordering::SeqCst)), (429, 1));
        let retried = client.send(&Probe::get("/"), &anonymous).await.unwrap();
        assert_eq!(retried.status, 429);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1 + 1 + MAX_RETRIES_ON_429 as usize
        );
    }

    #[tokio::test]
    async fn dry_run_sends_nothing() {
        let (url, hits) = server(200).await;
        let client = Client::new(&url, limits(), true).unwrap();
        let result = client.send(&Probe::get("/"), &Identity::anonymous()).await;
        assert!(matches!(result, Err(SendError::DryRun)));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }
}
