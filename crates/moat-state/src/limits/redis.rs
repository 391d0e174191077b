//! Limits in Redis, so several gateway nodes share them.
//!
//! # Key layout
//!
//! Every limit key is its own Redis key, with the caller's key as a Redis
//! Cluster hash tag so each script touches exactly one slot:
//!
//! - `<prefix>:rl:{<key>}`: a GCRA key, a string holding the TAT as integer
//!   nanoseconds since the Unix epoch (e.g. `1763856000123456789`). It
//!   expires (`PX`) just after the TAT passes, when it carries no
//!   information any more, so idle keys vanish by themselves.
//! - `<prefix>:q:{<key>}`: a quota key, a hash with the fixed window index
//!   `i` (time / window), the units counted in it `c` and in the window
//!   before `p`. It expires at the end of window `i + 1`, when both counts
//!   are out of the sliding window.
//!
//! # Scripts
//!
//! Each decision on one key is one Lua script (`EVALSHA`, loaded again by
//! itself after a Redis restart) that reads the clock with `TIME`, so every
//! node decides on the server's clock, and mirrors [`Gcra::decide`] and
//! [`SlidingWindow::decide`]: the same allow condition, `remaining`,
//! `reset` and `retry_after`. A script run in *peek* mode decides without
//! writing.
//!
//! # Several limits per request
//!
//! [`RateLimitStore::acquire`] promises that a request one check refuses
//! consumes from none. Here that is per-key atomicity plus compensation:
//! the checks are decided in order, each atomically on its own key; after a
//! refusal the remaining checks are only peeked at, and the units the
//! earlier checks took are given back by a refund script (GCRA: the TAT
//! minus `interval * cost`, not below now; quota: the count minus `cost`,
//! not below zero). A multi-key script would be atomic across keys, but the
//! keys of one request (per address, per consumer, per operation) hash to
//! different cluster slots, which Redis Cluster refuses in one script; one
//! key per script works on a single server and on a cluster alike. Between
//! a take and its refund another request may see a limit as a little more
//! used than it is: the error is one request's cost, for one round trip,
//! and only ever strict.
//!
//! # Precision
//!
//! Lua numbers are doubles, exact for integers below 2^53, and 2^53 ns is
//! only about 104 days, far less than a Unix time in nanoseconds. So no
//! script ever holds an absolute time in nanoseconds as one number:
//!
//! - GCRA: the stored TAT string is split into seconds and nanoseconds, and
//!   all arithmetic is on `TAT - now` in nanoseconds (from the two split
//!   values, exact), a small number bounded by `tolerance + interval * cost`.
//!   The new TAT is written back as seconds and nine digits of nanoseconds.
//!   Everything is exact to the nanosecond while `tolerance + interval *
//!   cost` stays under 2^53 ns (about 104 days); beyond that (never for a
//!   rate limit) the rounding error is a few nanoseconds.
//! - Quotas: the window index is computed from the time in microseconds
//!   (`TIME`'s own resolution; about 1.8e15 µs now, exact as a double until
//!   the year 2255). Results are reported in nanoseconds. They match the
//!   memory store's when the window is a whole number of microseconds
//!   (configured quotas are whole seconds); `reset` and `retry_after` then
//!   differ from the memory store's by less than a microsecond.
//!
//! # Failures
//!
//! Every command is bounded by [`RedisOptions::timeout`] (the connection
//! manager's connect and response timeouts, and a timer around each call),
//! so a dead Redis never holds a request longer than that per command. A
//! failed command marks the store down ([`RedisLimiter::is_up`]) and the
//! connection manager reconnects by itself; the next successful command
//! marks it up again. When a command fails halfway through a request's
//! checks, the units already taken are given back in the background, best
//! effort, and `acquire` returns the error at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Script, ScriptInvocation};
use async_trait::async_trait;

use super::{Gcra, LimitCheck, LimitDecision, QuotaStore, RateLimitStore, SlidingWindow};
use crate::store::StoreError;

/// GCRA decision. KEYS[1]: the TAT key. ARGV: interval (ns), tolerance (ns),
/// cost, peek (1: decide without writing). Returns {allowed, remaining,
/// reset ns, retry_after ns}.
const GCRA_DECIDE: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_n = tonumber(t[2]) * 1000
-- How far the TAT is ahead of now, in ns, from the split TAT: exact.
local d = 0
local v = redis.call('GET', KEYS[1])
if v and string.len(v) > 9 then
  local tat_s = tonumber(string.sub(v, 1, -10))
  local tat_n = tonumber(string.sub(v, -9))
  if tat_s and tat_n then
    d = (tat_s - now_s) * 1000000000 + (tat_n - now_n)
  end
end
-- base = max(tat, now)
if d < 0 then d = 0 end
local new_d = d + interval * cost
local allow_at = new_d - (tolerance + interval)
if allow_at > 0 then
  return {0, 0, d, allow_at}
end
local remaining = math.floor((tolerance + interval - new_d) / interval)
if ARGV[4] ~= '1' then
  local total = now_n + new_d
  local carry = math.floor(total / 1000000000)
  local ns = total - carry * 1000000000
  if ns < 0 then ns = ns + 1000000000; carry = carry - 1 end
  if ns >= 1000000000 then ns = ns - 1000000000; carry = carry + 1 end
  redis.call('SET', KEYS[1], string.format('%d%09d', now_s + carry, ns),
    'PX', math.floor(new_d / 1000000) + 1)
end
return {1, remaining, new_d, 0}
";

/// GCRA refund. KEYS[1]: the TAT key. ARGV: interval (ns), cost. The TAT
/// moves back by `interval * cost`, not below now (a TAT at or before now
/// is the same as no key, so the key is deleted).
const GCRA_REFUND: &str = r"
local v = redis.call('GET', KEYS[1])
if not v or string.len(v) <= 9 then return 0 end
local tat_s = tonumber(string.sub(v, 1, -10))
local tat_n = tonumber(string.sub(v, -9))
if not tat_s or not tat_n then return 0 end
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_n = tonumber(t[2]) * 1000
local d = (tat_s - now_s) * 1000000000 + (tat_n - now_n)
d = d - tonumber(ARGV[1]) * tonumber(ARGV[2])
if d <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
local total = now_n + d
local carry = math.floor(total / 1000000000)
local ns = total - carry * 1000000000
if ns < 0 then ns = ns + 1000000000; carry = carry - 1 end
if ns >= 1000000000 then ns = ns - 1000000000; carry = carry + 1 end
redis.call('SET', KEYS[1], string.format('%d%09d', now_s + carry, ns),
  'PX', math.floor(d / 1000000) + 1)
return 1
";

/// Quota decision. KEYS[1]: the hash. ARGV: limit, window (ns), cost, peek.
/// Returns {allowed, remaining, reset ns, retry_after ns (-1: never),
/// window index}.
const QUOTA_DECIDE: &str = r"
local limit = tonumber(ARGV[1])
local w_ns = tonumber(ARGV[2])
local w = w_ns / 1000
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local index = math.floor(now / w)
local offset = now - index * w
if offset < 0 then index = index - 1; offset = offset + w end
if offset >= w then index = index + 1; offset = offset - w end
local h = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local si = tonumber(h[1])
local cur = tonumber(h[2]) or 0
local prev = tonumber(h[3]) or 0
-- Roll forward to now's window (a window index from the future, after the
-- clock stepped back, is kept as it is).
if not si or index - si > 1 then
  cur = 0; prev = 0
elseif index - si == 1 then
  prev = cur; cur = 0
end
local rest = w - offset
-- The previous window's share, rounded up (never generous).
local carried = math.ceil(prev * rest / w)
local used = carried + cur
local reset = 0
if cur > 0 then
  reset = rest * 1000 + w_ns
elseif prev > 0 then
  reset = rest * 1000
end
if used + cost <= limit then
  if ARGV[4] ~= '1' then
    redis.call('HSET', KEYS[1], 'i', index, 'c', cur + cost, 'p', prev)
    redis.call('PEXPIRE', KEYS[1], math.ceil(((index + 2) * w - now) / 1000))
  end
  return {1, limit - used - cost, reset, 0, index}
end
local retry = nil
-- Later in this window, as the previous window's share shrinks.
if prev > 0 and cur + cost <= limit then
  local tt = w - math.floor((limit - cur - cost) * w / prev)
  if tt < w then
    retry = math.max((tt - offset) * 1000, 1)
  end
end
-- In the next window, where this window's count becomes the shrinking one.
if not retry then
  if cost > limit then
    retry = -1
  else
    local tt = 0
    if cur > 0 then
      tt = math.max(w - math.floor((limit - cost) * w / cur), 0)
    end
    retry = (rest + tt) * 1000
  end
end
return {0, 0, reset, retry, index}
";

/// Quota refund. KEYS[1]: the hash. ARGV: the window index the units were
/// taken in, cost. The count of that window goes down by `cost`, not below
/// zero (it is `p` if the window has rolled on once since, and gone if
/// more).
const QUOTA_REFUND: &str = r"
local h = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local si = tonumber(h[1])
if not si then return 0 end
local taken = tonumber(ARGV[1])
local field, count
if si == taken then
  field = 'c'; count = tonumber(h[2]) or 0
elseif si == taken + 1 then
  field = 'p'; count = tonumber(h[3]) or 0
else
  return 0
end
count = count - tonumber(ARGV[2])
if count < 0 then count = 0 end
redis.call('HSET', KEYS[1], field, count)
return 1
";

static GCRA_DECIDE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_DECIDE));
static GCRA_REFUND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_REFUND));
static QUOTA_DECIDE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(QUOTA_DECIDE));
static QUOTA_REFUND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(QUOTA_REFUND));

/// How to use the Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The first part of every key (e.g. `moat`), so several deployments
    /// can share a server. No `{` or `}` (they would change the hash tag).
    pub prefix: String,
    /// The longest any one command may take, connecting included (e.g.
    /// 50–250 ms); a request is refused service (the caller falls back)
    /// rather than held longer.
    pub timeout: Duration,
}

/// A setting of a Redis backend that [`RedisLimiter::connect`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisSetting {
    /// The URL.
    Url,
    /// The key prefix.
    Prefix,
    /// The command timeout.
    Timeout,
}

impl RedisOptions {
    /// Everything [`RedisLimiter::connect`] would refuse in `url` and these
    /// options before connecting, each with the setting it is about; found
    /// without connecting (for the config check). Messages never hold the
    /// URL's credentials.
    pub fn problems(&self, url: &str) -> Vec<(RedisSetting, String)> {
        let mut out = Vec::new();
        if let Err(e) = ::redis::Client::open(url) {
            out.push((RedisSetting::Url, scrub(e.to_string(), &credentials(url))));
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
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "moat".to_string(),
            timeout: Duration::from_millis(100),
        }
    }
}

/// What the limiter and its background compensations share.
struct Inner {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    up: AtomicBool,
    /// The URL's credentials, removed from every error message.
    secrets: Vec<String>,
}

/// GCRA and quota state in Redis, shared by every node using the same
/// server and prefix. Cheap to clone (one shared connection).
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// The user name and password of a `redis://user:pass@host/` URL, to keep
/// out of error messages.
fn credentials(url: &str) -> Vec<String> {
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

fn scrub(message: String, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(message, |m, s| m.replace(s.as_str(), "***"))
}

/// A decision from a script's integers: {allowed, remaining, reset,
/// retry_after, ...}, times in nanoseconds, -1 for "never".
fn decision(v: &[i64]) -> Result<LimitDecision, StoreError> {
    let [allowed, remaining, reset, retry, ..] = *v else {
        return Err(StoreError::Redis(format!(
            "a limit script answered {} values, expected at least 4",
            v.len()
        )));
    };
    let nanos = |n: i64| Duration::from_nanos(if n < 0 { u64::MAX } else { n.unsigned_abs() });
    let allowed = allowed == 1;
    Ok(LimitDecision {
        allowed,
        remaining: u64::try_from(remaining).unwrap_or(0),
        reset: Duration::from_nanos(u64::try_from(reset).unwrap_or(0)),
        retry_after: (!allowed).then(|| nanos(retry)),
    })
}

impl Inner {
    fn rate_key(&self, key: &str) -> String {
        format!("{}:rl:{{{key}}}", self.prefix)
    }

    fn quota_key(&self, key: &str) -> String {
        format!("{}:q:{{{key}}}", self.prefix)
    }

    fn error(&self, e: &::redis::RedisError) -> StoreError {
        StoreError::Redis(scrub(e.to_string(), &self.secrets))
    }

    /// Runs one script call within the timeout, keeping `up` current.
    async fn run<T: ::redis::FromRedisValue>(
        &self,
        call: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, call.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.up.store(true, Ordering::Relaxed);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.up.store(false, Ordering::Relaxed);
                Err(self.error(&e))
            }
            Err(_) => {
                self.up.store(false, Ordering::Relaxed);
                Err(StoreError::Redis(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }

    async fn gcra_decide(
        &self,
        c: &LimitCheck<Gcra>,
        peek: bool,
    ) -> Result<LimitDecision, StoreError> {
        let mut call = GCRA_DECIDE_SCRIPT.key(self.rate_key(&c.key));
        call.arg(c.rule.interval)
            .arg(c.rule.tolerance)
            .arg(c.cost.max(1))
            .arg(if peek { "1" } else { "0" });
        decision(&self.run::<Vec<i64>>(&call).await?)
    }

    async fn gcra_refund(&self, c: &LimitCheck<Gcra>) -> Result<(), StoreError> {
        let mut call = GCRA_REFUND_SCRIPT.key(self.rate_key(&c.key));
        call.arg(c.rule.interval).arg(c.cost.max(1));
        self.run::<i64>(&call).await.map(|_| ())
    }

    /// A quota decision and the window index it was counted in.
    async fn quota_decide(
        &self,
        c: &LimitCheck<SlidingWindow>,
        peek: bool,
    ) -> Result<(LimitDecision, i64), StoreError> {
        let mut call = QUOTA_DECIDE_SCRIPT.key(self.quota_key(&c.key));
        call.arg(c.rule.limit)
            .arg(c.rule.window)
            .arg(c.cost.max(1))
            .arg(if peek { "1" } else { "0" });
        let v = self.run::<Vec<i64>>(&call).await?;
        let index = v.get(4).copied().ok_or_else(|| {
            StoreError::Redis("the quota script answered no window index".to_string())
        })?;
        Ok((decision(&v)?, index))
    }

    async fn quota_refund(
        &self,
        c: &LimitCheck<SlidingWindow>,
        index: i64,
    ) -> Result<(), StoreError> {
        let mut call = QUOTA_REFUND_SCRIPT.key(self.quota_key(&c.key));
        call.arg(index).arg(c.cost.max(1));
        self.run::<i64>(&call).await.map(|_| ())
    }

    /// Gives back every taken unit; the first error, after trying all.
    async fn refund_all(&self, taken: &[Taken<'_>]) -> Result<(), StoreError> {
        let mut first = Ok(());
        for t in taken {
            let r = match t {
                Taken::Rate(c) => self.gcra_refund(c).await,
                Taken::Quota(c, index) => self.quota_refund(c, *index).await,
            };
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// Units an `acquire` took and may have to give back.
#[derive(Clone)]
enum Taken<'a> {
    Rate(std::borrow::Cow<'a, LimitCheck<Gcra>>),
    Quota(std::borrow::Cow<'a, LimitCheck<SlidingWindow>>, i64),
}

impl Taken<'_> {
    fn into_owned(self) -> Taken<'static> {
        match self {
            Taken::Rate(c) => Taken::Rate(std::borrow::Cow::Owned(c.into_owned())),
            Taken::Quota(c, i) => Taken::Quota(std::borrow::Cow::Owned(c.into_owned()), i),
        }
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) and
    /// loads the scripts. Fails when the server does not answer within
    /// `options.timeout`. Afterwards the connection is re-established by
    /// itself whenever it is lost.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let secrets = credentials(url);
        if let Some((_, problem)) = options.problems(url).into_iter().next() {
            return Err(StoreError::Redis(problem));
        }
        let client = ::redis::Client::open(url)
            .map_err(|e| StoreError::Redis(scrub(e.to_string(), &secrets)))?;
        // One connection attempt per reconnection (each bounded by the
        // timeout): a command that finds the server down fails at once, and
        // the next command tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(0)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(options.timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Redis(scrub(e.to_string(), &secrets)))?;
        let inner = Inner {
            conn,
            prefix: options.prefix,
            timeout: options.timeout,
            up: AtomicBool::new(false),
            secrets,
        };
        for script in [
            &*GCRA_DECIDE_SCRIPT,
            &*GCRA_REFUND_SCRIPT,
            &*QUOTA_DECIDE_SCRIPT,
            &*QUOTA_REFUND_SCRIPT,
        ] {
            let mut conn = inner.conn.clone();
            match tokio::time::timeout(inner.timeout, script.load_async(&mut conn)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(inner.error(&e)),
                Err(_) => {
                    return Err(StoreError::Redis(format!(
                        "no answer within {} ms",
                        inner.timeout.as_millis()
                    )));
                }
            }
        }
        inner.up.store(true, Ordering::Relaxed);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Whether the last command succeeded: false after a failure (refused
    /// connection, timeout, error reply), true again after a success.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// After a failure halfway through a request: gives back what it took,
    /// in the background so the caller is not held for another timeout.
    fn compensate_later(&self, taken: Vec<Taken<'_>>) {
        if taken.is_empty() {
            return;
        }
        let taken: Vec<Taken<'static>> = taken.into_iter().map(Taken::into_owned).collect();
        let inner = Arc::clone(&self.inner);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                // Best effort: a failure is already visible through `is_up`.
                let _ = inner.refund_all(&taken).await;
            });
        }
    }
}

#[async_trait]
impl RateLimitStore for RedisLimiter {
    async fn acquire(&self, checks: &[LimitCheck<Gcra>]) -> Result<Vec<LimitDecision>, StoreError> {
        let mut out = Vec::with_capacity(checks.len());
        let mut taken = Vec::new();
        let mut refused = false;
        for c in checks {
            match self.inner.gcra_decide(c, refused).await {
                Ok(d) => {
                    if refused {
                        // Peeked: nothing taken.
                    } else if d.allowed {
                        taken.push(Taken::Rate(std::borrow::Cow::Borrowed(c)));
                    } else {
                        refused = true;
                    }
                    out.push(d);
                }
                Err(e) => {
                    self.compensate_later(taken);
                    return Err(e);
                }
            }
        }
        if refused {
            // The request is refused either way; a failed refund only
            // leaves a limit a little more used, and shows in `is_up`.
            let _ = self.inner.refund_all(&taken).await;
        }
        Ok(out)
    }

    async fn refund(&self, checks: &[LimitCheck<Gcra>]) -> Result<(), StoreError> {
        let taken: Vec<Taken<'_>> = checks
            .iter()
            .map(|c| Taken::Rate(std::borrow::Cow::Borrowed(c)))
            .collect();
        self.inner.refund_all(&taken).await
    }
}

#[async_trait]
impl QuotaStore for RedisLimiter {
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError> {
        let mut out = Vec::with_capacity(checks.len());
        let mut taken = Vec::new();
        let mut refused = false;
        for c in checks {
            match self.inner.quota_decide(c, refused).await {
                Ok((d, index)) => {
                    if refused {
                        // Peeked: nothing taken.
                    } else if d.allowed {
                        taken.push(Taken::Quota(std::borrow::Cow::Borrowed(c), index));
                    } else {
                        refused = true;
                    }
                    out.push(d);
                }
                Err(e) => {
                    self.compensate_later(taken);
                    return Err(e);
                }
            }
        }
        if refused {
            let _ = self.inner.refund_all(&taken).await;
        }
        Ok(out)
    }
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
    fn script_answers_become_decisions() {
        let d = decision(&[0, 0, 5, -1, 7]).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Some(Duration::from_nanos(u64::MAX)));
        let d = decision(&[1, 3, 1_000, 0]).unwrap();
        assert_eq!(
            d,
            LimitDecision {
                allowed: true,
                remaining: 3,
                reset: Duration::from_nanos(1_000),
                retry_after: None,
            }
        );
        assert!(decision(&[1, 2]).is_err());
    }
}
