//! The one way moat connects to Redis: URL and credentials, TLS, the
//! command timeout and the key prefix, shared by the limiter
//! ([`crate::limits::RedisLimiter`]), the lockout store
//! ([`crate::lockout::RedisLockout`]) and the notices
//! ([`crate::notices::Notices`]).
//!
//! - `redis://[user:password@]host[:port][/db]` connects in clear text;
//!   `rediss://…` over TLS (rustls with the `ring` provider), checking the
//!   server's certificate against the system's trust store, or only against
//!   the private CA in [`RedisOptions::ca`] when one is given. A URL
//!   fragment (the Redis client's `#insecure`, which turns certificate
//!   checks off) is refused.
//! - A password, or an ACL user and password, in the URL is sent with
//!   `AUTH` on every (re)connection. Neither ever appears in an error.
//! - Every command is bounded by [`RedisOptions::timeout`]. A lost
//!   connection is re-established by the next command, one attempt at a
//!   time (the others wait for it), each bounded by the timeout.
//! - A circuit breaker ([`crate::backoff::Breaker`]) stands in front of
//!   every command: after a few timeouts or connection failures in a row
//!   Redis is marked down and commands fail at once, without a connection
//!   attempt, for an exponential backoff with jitter (100 ms doubling to
//!   5 s); then one command probes it. So a dead or frozen Redis costs a
//!   request nothing once it is known down, and is never hammered by
//!   reconnections. Each change is logged once.
//! - A socket that connected to itself (see [`crate::redis_dial`]) is
//!   refused like a connection failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::MultiplexedConnection;
use ::redis::{Client, RedisError, TlsCertificates};

use crate::backoff::{Breaker, Change};
use crate::store::StoreError;

/// Where the Redis server is and how to use it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS).
    pub url: String,
    /// The first part of every key (e.g. `moat`), so several deployments
    /// can share a server. No `{` or `}` (they would change the hash tag).
    pub prefix: String,
    /// The longest any one command may take, connecting included (e.g.
    /// 50–250 ms).
    pub timeout: Duration,
    /// A PEM file of the CA that signed the server's certificate, trusted
    /// instead of the system's store (`rediss://` only).
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &scrub(self.url.clone(), &credentials(&self.url)))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("ca", &self.ca)
            .finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379/".to_string(),
            prefix: "moat".to_string(),
            timeout: Duration::from_millis(100),
            ca: None,
        }
    }
}

/// A setting of a Redis backend that [`RedisOptions::problems`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisSetting {
    /// The URL (and the CA file, which only goes with a `rediss://` URL).
    Url,
    /// The key prefix.
    Prefix,
    /// The command timeout.
    Timeout,
}

impl RedisOptions {
    /// Everything [`RedisConn::connect`] would refuse before connecting,
    /// each with the setting it is about; found without connecting (for the
    /// config check). Messages never hold the URL's credentials.
    pub fn problems(&self) -> Vec<(RedisSetting, String)> {
        let secrets = credentials(&self.url);
        let mut out = Vec::new();
        if self.url.contains('#') {
            out.push((
                RedisSetting::Url,
                "the URL must not have a `#` fragment (`#insecure` would turn certificate checks off)"
                    .to_string(),
            ));
        } else if let Err(e) = Client::open(self.url.as_str()) {
            out.push((RedisSetting::Url, scrub(e.to_string(), &secrets)));
        }
        if self.ca.is_some() && !self.is_tls() {
            out.push((
                RedisSetting::Url,
                "a CA file is given but the URL is not `rediss://` (TLS)".to_string(),
            ));
        }
        if self.prefix.contains(['{', '}']) {
            out.push((
                RedisSetting::Prefix,
                format!(
                    "the key prefix `{}` must not contain `{{` or `}}`",
                    self.prefix
                ),
            ));
        }
        if self.timeout.is_zero() {
            out.push((
                RedisSetting::Timeout,
                "the timeout must not be zero".to_string(),
            ));
        }
        out
    }

    fn is_tls(&self) -> bool {
        let scheme = self.url.split_once("://").map_or("", |(s, _)| s);
        scheme.eq_ignore_ascii_case("rediss")
    }

    /// The client for these options: TLS with the CA when given.
    fn client(&self, secrets: &[String]) -> Result<Client, StoreError> {
        let scrubbed = |e: RedisError| StoreError::Redis(scrub(e.to_string(), secrets));
        if !self.is_tls() {
            return Client::open(self.url.as_str()).map_err(scrubbed);
        }
        ensure_crypto_provider();
        let root_cert = match &self.ca {
            None => None,
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                StoreError::Redis(format!(
                    "cannot read the Redis CA file `{}`: {e}",
                    path.display()
                ))
            })?),
        };
        let certificates = TlsCertificates {
            client_tls: None,
            root_cert,
        };
        Client::build_with_tls(self.url.as_str(), certificates).map_err(scrubbed)
    }
}

/// rustls needs a process-wide crypto provider; moat uses `ring` only.
/// Installs it unless the program installed one already.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The current connection, with a number that tells it from the ones
/// before it (so a late failure on an old one does not drop a new one).
type Current = Option<(u64, MultiplexedConnection)>;

/// What every user of one connection shares.
struct Inner {
    client: Client,
    current: std::sync::Mutex<Current>,
    /// Held while connecting: one attempt at a time.
    dialing: tokio::sync::Mutex<()>,
    dials: AtomicU64,
    breaker: Breaker,
    prefix: String,
    timeout: Duration,
    up: AtomicBool,
    /// The URL's credentials, removed from every error message.
    secrets: Vec<String>,
}

/// A connection to Redis shared by everything on one node: cheap to clone,
/// multiplexed, re-established by itself after a failure.
#[derive(Clone)]
pub struct RedisConn {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Connects (TLS and `AUTH` included) and checks the server answers
    /// `PING` within `options.timeout`. A wrong password, an untrusted
    /// certificate or a server that does not answer is an error here, with
    /// the cause and without the credentials.
    pub async fn connect(options: &RedisOptions) -> Result<Self, StoreError> {
        if let Some((_, problem)) = options.problems().into_iter().next() {
            return Err(StoreError::Redis(problem));
        }
        let secrets = credentials(&options.url);
        let client = options.client(&secrets)?;
        let this = Self {
            inner: Arc::new(Inner {
                client,
                current: std::sync::Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                dials: AtomicU64::new(0),
                breaker: Breaker::default(),
                prefix: options.prefix.clone(),
                timeout: options.timeout,
                up: AtomicBool::new(false),
                secrets,
            }),
        };
        this.query::<String>(&::redis::cmd("PING")).await?;
        Ok(this)
    }

    /// Whether the last command succeeded: false after a failure (refused
    /// connection, timeout, error reply), true again after a success.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// One `PING`, within the timeout (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&::redis::cmd("PING"))
            .await
            .map(|_| ())
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The command timeout.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The client, for connections of their own (pub/sub).
    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    /// `e` as a [`StoreError`], without the credentials.
    pub(crate) fn error(&self, e: &RedisError) -> StoreError {
        StoreError::Redis(scrub(e.to_string(), &self.inner.secrets))
    }

    pub(crate) fn timed_out(&self) -> StoreError {
        StoreError::Redis(format!(
            "Redis gave no answer within {} ms",
            self.inner.timeout.as_millis()
        ))
    }

    /// Runs one command within the timeout, keeping `is_up` current.
    pub(crate) async fn query<T: ::redis::FromRedisValue>(
        &self,
        cmd: &::redis::Cmd,
    ) -> Result<T, StoreError> {
        self.bounded(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// Runs one script call within the timeout, keeping `is_up` current.
    pub(crate) async fn run<T: ::redis::FromRedisValue>(
        &self,
        call: &::redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.bounded(|mut conn| async move { call.invoke_async::<T>(&mut conn).await })
            .await
    }

    /// Runs a pipeline (one round trip) within the timeout, keeping `is_up`
    /// current.
    pub(crate) async fn pipeline<T: ::redis::FromRedisValue>(
        &self,
        pipe: &::redis::Pipeline,
    ) -> Result<T, StoreError> {
        self.bounded(|mut conn| async move { pipe.query_async::<T>(&mut conn).await })
            .await
    }

    /// Loads a script, so a broken one shows at start rather than on the
    /// first request (after a Redis restart `EVALSHA` loads it again).
    pub(crate) async fn load(&self, script: &::redis::Script) -> Result<(), StoreError> {
        self.bounded(|mut conn| async move { script.load_async(&mut conn).await })
            .await
            .map(|_| ())
    }

    /// How many connections were attempted so far.
    pub fn dials(&self) -> u64 {
        self.inner.dials.load(Ordering::Relaxed)
    }

    fn current(&self) -> Current {
        self.inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The connection, opened first when there is none (one attempt at a
    /// time; the others wait for its outcome, and do not dial again once
    /// the breaker opened meanwhile, unless they are its probe).
    async fn connection(&self, probe: bool) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _dialing = self.inner.dialing.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        if !probe && self.inner.breaker.is_open() {
            return Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "Redis is marked down; not dialled again before the next probe",
            )));
        }
        let id = self.inner.dials.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = crate::redis_dial::dial(&self.inner.client, self.inner.timeout).await?;
        *self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((id, conn.clone()));
        Ok((id, conn))
    }

    /// Drops connection `id` if it is still the current one.
    fn drop_connection(&self, id: u64) {
        let mut current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(c, _)| *c == id) {
            *current = None;
        }
    }

    /// Runs `f` on the connection within the timeout, through the breaker.
    async fn bounded<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let ticket = match self.inner.breaker.admit(Instant::now()) {
            Ok(t) => t,
            Err(wait) => {
                self.inner.up.store(false, Ordering::Relaxed);
                return Err(StoreError::Redis(format!(
                    "Redis is marked down after failing {} times in a row; next try in {} ms",
                    crate::backoff::TRIP_AFTER,
                    wait.as_millis()
                )));
            }
        };
        let mut used = None;
        let probe = ticket.is_probe();
        let outcome = tokio::time::timeout(self.inner.timeout, async {
            let (id, conn) = self.connection(probe).await?;
            used = Some(id);
            f(conn).await
        })
        .await;
        let (r, down) = match outcome {
            Ok(Ok(v)) => (Ok(v), false),
            Ok(Err(e)) => {
                // An error reply is an answer: the server is up.
                let down = is_down(&e);
                if down && let Some(id) = used {
                    self.drop_connection(id);
                }
                (Err(self.error(&e)), down)
            }
            Err(_) => (Err(self.timed_out()), true),
        };
        let change = if down {
            let failed = self.inner.breaker.failure(ticket, Instant::now());
            // A server that does not answer may hold the connection
            // open: once it is considered down, the next probe dials anew.
            if failed.open
                && let Some(id) = used
            {
                self.drop_connection(id);
            }
            failed.change
        } else {
            self.inner.breaker.success(ticket)
        };
        match (change, &r) {
            (Some(Change::Down), Err(e)) => tracing::warn!(
                error = %e,
                "Redis: marked down; commands fail at once and Redis is probed with backoff until it answers"
            ),
            (Some(Change::Up), _) => tracing::info!("Redis: answers again"),
            _ => {}
        }
        self.inner.up.store(r.is_ok(), Ordering::Relaxed);
        r
    }
}

/// Whether `e` says the server is down or unreachable, rather than being
/// an answer from it.
fn is_down(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// The user name and password of a `redis://user:pass@host/` URL, to keep
/// out of error messages.
pub(crate) fn credentials(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let mut out = vec![userinfo.to_string()];
    if let Some((user, pass)) = userinfo.split_once(':') {
        out.push(pass.to_string());
        out.push(user.to_string());
    }
    out.retain(|s| !s.is_empty());
    // Longest first, so a part never leaves pieces of the whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

pub(crate) fn scrub(message: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(message, |m, s| m.replace(s.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_and_scrubbed() {
        let s = credentials("redis://moat:s3cr%40t@cache.internal:6380/2");
        assert_eq!(s, ["moat:s3cr%40t", "s3cr%40t", "moat"]);
        assert_eq!(
            scrub("auth moat:s3cr%40t failed".to_string(), &s),
            "auth *** failed"
        );
        assert!(credentials("redis://cache.internal:6379/0").is_empty());
        assert_eq!(credentials("redis://:pw@h"), [":pw", "pw"]);
    }

    #[test]
    fn insecure_fragments_and_stray_cas_are_refused() {
        let options = |url: &str, ca: Option<&str>| RedisOptions {
            url: url.to_string(),
            ca: ca.map(PathBuf::from),
            ..RedisOptions::default()
        };
        let urls = |o: RedisOptions| -> Vec<String> {
            o.problems()
                .into_iter()
                .filter(|(s, _)| *s == RedisSetting::Url)
                .map(|(_, m)| m)
                .collect()
        };
        let p = urls(options("rediss://:hunter2@h:6380/#insecure", None));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("#"), "{p:?}");
        assert!(!p[0].contains("hunter2"), "{p:?}");
        assert_eq!(urls(options("redis://h/", Some("/ca.pem"))).len(), 1);
        assert!(urls(options("rediss://h:6380/", Some("/ca.pem"))).is_empty());
        assert!(urls(options("redis://u:p@h/1", None)).is_empty());
        let debug = format!("{:?}", options("redis://u:hunter2@h/", None));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
