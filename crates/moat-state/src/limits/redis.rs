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
//! `reset` and `retry_after`.
//!
//! # Several limits per request
//!
//! [`RateLimitStore::acquire`] promises that a request one check refuses
//! consumes from none. Here that is per-key atomicity plus compensation:
//! every check's script is sent in one pipeline, so a request costs one
//! round trip however many limits and quotas apply
//! ([`RedisLimiter::acquire_all`] decides both kinds together); each script
//! takes its cost atomically on its own key, and when any refuses, the
//! units the others took are given back by a refund script (GCRA: the TAT
//! minus `interval * cost`, not below now; quota: the count minus `cost`,
//! not below zero), a second round trip on refusals only. A multi-key
//! script would be atomic across keys, but the keys of one request (per
//! address, per consumer, per operation) hash to different cluster slots,
//! which Redis Cluster refuses in one script; one key per script works on a
//! single server and on a cluster alike. Between a take and its refund
//! another request may see a limit as a little more used than it is: the
//! error is one request's cost, for one round trip, and only ever strict.
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

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{ErrorKind, Script, ScriptInvocation, ServerErrorKind};
use async_trait::async_trait;

use super::{Gcra, LimitCheck, LimitDecision, QuotaStore, RateLimitStore, SlidingWindow};
pub use crate::redis_conn::RedisSetting;
use crate::redis_conn::{RedisConn, RedisOptions as ConnOptions};
use crate::store::StoreError;

/// GCRA decision. KEYS[1]: the TAT key. ARGV: interval (ns), tolerance (ns),
/// cost. Returns {allowed, remaining,
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
local total = now_n + new_d
local carry = math.floor(total / 1000000000)
local ns = total - carry * 1000000000
if ns < 0 then ns = ns + 1000000000; carry = carry - 1 end
if ns >= 1000000000 then ns = ns - 1000000000; carry = carry + 1 end
redis.call('SET', KEYS[1], string.format('%d%09d', now_s + carry, ns),
  'PX', math.floor(new_d / 1000000) + 1)
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

/// Quota decision. KEYS[1]: the hash. ARGV: limit, window (ns), cost.
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
  redis.call('HSET', KEYS[1], 'i', index, 'c', cur + cost, 'p', prev)
  redis.call('PEXPIRE', KEYS[1], math.ceil(((index + 2) * w - now) / 1000))
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

/// The limiter's part of the Redis settings, for [`RedisLimiter::connect`]
/// with a URL of its own. [`crate::redis_conn::RedisOptions`] holds all of
/// them (TLS CA included) for [`RedisLimiter::new`] on a shared connection.
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

impl RedisOptions {
    /// Everything [`RedisLimiter::connect`] would refuse in `url` and these
    /// options before connecting, each with the setting it is about; found
    /// without connecting (for the config check). Messages never hold the
    /// URL's credentials.
    pub fn problems(&self, url: &str) -> Vec<(RedisSetting, String)> {
        self.with_url(url).problems()
    }

    fn with_url(&self, url: &str) -> ConnOptions {
        ConnOptions {
            url: url.to_string(),
            prefix: self.prefix.clone(),
            timeout: self.timeout,
            ca: None,
        }
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        let d = ConnOptions::default();
        Self {
            prefix: d.prefix,
            timeout: d.timeout,
        }
    }
}

/// GCRA and quota state in Redis, shared by every node using the same
/// server and prefix. Cheap to clone (one shared connection).
#[derive(Clone)]
pub struct RedisLimiter {
    conn: RedisConn,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
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

/// The scripts on one connection.
struct Scripts<'a>(&'a RedisConn);

impl Scripts<'_> {
    fn rate_key(&self, key: &str) -> String {
        format!("{}:rl:{{{key}}}", self.0.prefix())
    }

    fn quota_key(&self, key: &str) -> String {
        format!("{}:q:{{{key}}}", self.0.prefix())
    }

    async fn gcra_refund(&self, c: &LimitCheck<Gcra>) -> Result<(), StoreError> {
        let mut call = GCRA_REFUND_SCRIPT.key(self.rate_key(&c.key));
        call.arg(c.rule.interval).arg(c.cost.max(1));
        self.0.run::<i64>(&call).await.map(|_| ())
    }

    async fn quota_refund(
        &self,
        c: &LimitCheck<SlidingWindow>,
        index: i64,
    ) -> Result<(), StoreError> {
        let mut call = QUOTA_REFUND_SCRIPT.key(self.quota_key(&c.key));
        call.arg(index).arg(c.cost.max(1));
        self.0.run::<i64>(&call).await.map(|_| ())
    }

    /// The decision script for one check, taking its cost.
    fn decide_call(&self, check: Check<'_>) -> ScriptInvocation<'static> {
        match check {
            Check::Rate(c) => {
                let mut call = GCRA_DECIDE_SCRIPT.key(self.rate_key(&c.key));
                call.arg(c.rule.interval)
                    .arg(c.rule.tolerance)
                    .arg(c.cost.max(1));
                call
            }
            Check::Quota(c) => {
                let mut call = QUOTA_DECIDE_SCRIPT.key(self.quota_key(&c.key));
                call.arg(c.rule.limit).arg(c.rule.window).arg(c.cost.max(1));
                call
            }
        }
    }

    /// Every check's decision script in one pipeline (one round trip). Each
    /// script is still atomic on its own key. Answers per check: a script
    /// that Redis no longer knows (after a restart) is run again alone,
    /// which loads it.
    async fn decide_all(
        &self,
        checks: &[Check<'_>],
    ) -> Result<Vec<Result<Vec<i64>, StoreError>>, StoreError> {
        let calls: Vec<ScriptInvocation<'static>> =
            checks.iter().map(|c| self.decide_call(*c)).collect();
        let mut pipe = ::redis::pipe();
        pipe.ignore_errors();
        for call in &calls {
            pipe.invoke_script(call);
        }
        let answers: Vec<::redis::RedisResult<Vec<i64>>> = self.0.pipeline(&pipe).await?;
        if answers.len() != calls.len() {
            return Err(StoreError::Redis(format!(
                "a pipeline of {} limit scripts got {} answers",
                calls.len(),
                answers.len()
            )));
        }
        let mut out = Vec::with_capacity(calls.len());
        for (call, answer) in calls.iter().zip(answers) {
            out.push(match answer {
                Ok(v) => Ok(v),
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    self.0.run::<Vec<i64>>(call).await
                }
                Err(e) => Err(self.0.error(&e)),
            });
        }
        Ok(out)
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

/// One check of a request, of either kind.
#[derive(Clone, Copy)]
enum Check<'a> {
    Rate(&'a LimitCheck<Gcra>),
    Quota(&'a LimitCheck<SlidingWindow>),
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
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` for TLS with the system's trust store) and loads the
    /// scripts. Fails when the server does not answer within
    /// `options.timeout`. Afterwards the connection is re-established by
    /// itself whenever it is lost.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        Self::new(RedisConn::connect(&options.with_url(url)).await?).await
    }

    /// A limiter on a shared connection; loads the scripts.
    pub async fn new(conn: RedisConn) -> Result<Self, StoreError> {
        for script in [
            &*GCRA_DECIDE_SCRIPT,
            &*GCRA_REFUND_SCRIPT,
            &*QUOTA_DECIDE_SCRIPT,
            &*QUOTA_REFUND_SCRIPT,
        ] {
            conn.load(script).await?;
        }
        Ok(Self { conn })
    }

    /// Whether the last command succeeded: false after a failure (refused
    /// connection, timeout, error reply), true again after a success.
    pub fn is_up(&self) -> bool {
        self.conn.is_up()
    }

    /// One `PING`, which updates [`Self::is_up`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await
    }

    /// Decides a request's rate limits and quotas together, in one round
    /// trip however many there are: when all allow, each consumes its
    /// cost; when any refuses, none does (what the others took is given
    /// back before this returns, a second round trip on refusals only).
    /// Answers in the order of `rates`, then of `quotas`.
    pub async fn acquire_all(
        &self,
        rates: &[LimitCheck<Gcra>],
        quotas: &[LimitCheck<SlidingWindow>],
    ) -> Result<(Vec<LimitDecision>, Vec<LimitDecision>), StoreError> {
        let checks: Vec<Check<'_>> = rates
            .iter()
            .map(Check::Rate)
            .chain(quotas.iter().map(Check::Quota))
            .collect();
        if checks.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let answers = self.scripts().decide_all(&checks).await?;
        let mut decisions = Vec::with_capacity(checks.len());
        let mut taken = Vec::new();
        let mut failed = None;
        for (check, answer) in checks.iter().zip(answers) {
            let decided = answer.and_then(|v| {
                let d = decision(&v)?;
                let index = v.get(4).copied();
                Ok((d, index))
            });
            match (decided, check) {
                (Ok((d, _)), Check::Rate(c)) => {
                    if d.allowed {
                        taken.push(Taken::Rate(std::borrow::Cow::Borrowed(*c)));
                    }
                    decisions.push(d);
                }
                (Ok((d, Some(index))), Check::Quota(c)) => {
                    if d.allowed {
                        taken.push(Taken::Quota(std::borrow::Cow::Borrowed(*c), index));
                    }
                    decisions.push(d);
                }
                (Ok((_, None)), Check::Quota(_)) => {
                    failed.get_or_insert(StoreError::Redis(
                        "the quota script answered no window index".to_string(),
                    ));
                }
                (Err(e), _) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            self.compensate_later(taken);
            return Err(e);
        }
        if decisions.iter().any(|d| !d.allowed) {
            // The request is refused either way; a failed refund only
            // leaves a limit a little more used, and shows in `is_up`.
            let _ = self.scripts().refund_all(&taken).await;
        }
        let quota_decisions = decisions.split_off(rates.len());
        Ok((decisions, quota_decisions))
    }

    fn scripts(&self) -> Scripts<'_> {
        Scripts(&self.conn)
    }

    /// After a failure halfway through a request: gives back what it took,
    /// in the background so the caller is not held for another timeout.
    fn compensate_later(&self, taken: Vec<Taken<'_>>) {
        if taken.is_empty() {
            return;
        }
        let taken: Vec<Taken<'static>> = taken.into_iter().map(Taken::into_owned).collect();
        let conn = self.conn.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                // Best effort: a failure is already visible through `is_up`.
                let _ = Scripts(&conn).refund_all(&taken).await;
            });
        }
    }
}

#[async_trait]
impl RateLimitStore for RedisLimiter {
    async fn acquire(&self, checks: &[LimitCheck<Gcra>]) -> Result<Vec<LimitDecision>, StoreError> {
        self.acquire_all(checks, &[]).await.map(|(rates, _)| rates)
    }

    async fn refund(&self, checks: &[LimitCheck<Gcra>]) -> Result<(), StoreError> {
        let taken: Vec<Taken<'_>> = checks
            .iter()
            .map(|c| Taken::Rate(std::borrow::Cow::Borrowed(c)))
            .collect();
        self.scripts().refund_all(&taken).await
    }
}

#[async_trait]
impl QuotaStore for RedisLimiter {
    async fn acquire(
        &self,
        checks: &[LimitCheck<SlidingWindow>],
    ) -> Result<Vec<LimitDecision>, StoreError> {
        self.acquire_all(&[], checks)
            .await
            .map(|(_, quotas)| quotas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
