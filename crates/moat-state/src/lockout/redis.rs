//! The cluster lockout store: the same rule as [`MemoryLockout`], with the
//! state in Redis so every gateway node counts the same failures.
//!
//! # Keys
//!
//! Per subject, two keys sharing one hash tag (one Redis Cluster slot), so
//! each call is one script on one slot:
//!
//! - `<prefix>:lo:{<subject>}`: a hash with the lockout's end `u`, the
//!   latest failure `l` (both in milliseconds since the Unix epoch), the
//!   backoff level `v` and a counter `n` naming the log's members;
//! - `<prefix>:lo:{<subject>}:f`: the failure log, a sorted set scored by
//!   the failures' times.
//!
//! `<subject>` is `4-<8 hex digits>` (an IPv4 address), `6-<16 hex digits>`
//! (an IPv6 /64) or `k-<32 hex digits>` (the digest of a credential, alone
//! or with the address it was tried from), the same identities the memory
//! store counts. Both keys expire when they no longer carry information
//! (the lockout is over, the failures are out of the window and the backoff
//! level is forgotten), so nothing grows forever.
//!
//! # Clock
//!
//! Times are the callers' `now` (wall time), as for the memory store, so
//! the scripts mirror its arithmetic exactly and the same tests run
//! against both.
//!
//! # When Redis fails
//!
//! Every call is bounded by the connection's timeout. A failure or timeout
//! switches the store to a local [`MemoryLockout`] (logged once), which it
//! keeps fed with this node's failures and successes all along: lockouts
//! never fail open and never wait on a dead Redis. While switched, Redis is
//! tried again at most once per [`PROBE_INTERVAL`]; the first success
//! switches back (logged once). Failures counted only locally while Redis
//! was away are not copied to Redis.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ::redis::Script;
use async_trait::async_trait;

use super::memory::{
    ClientKey, client_key, credential_from_key, credential_key, epoch_millis, millis,
};
use super::{
    LockoutPolicy, LockoutPolicyError, LockoutStore, LockoutSubject, MemoryLockout, SubjectState,
};
use crate::redis_conn::RedisConn;
use crate::store::StoreError;

/// While Redis is failing, how often a call tries it again.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A failure. KEYS: the hash, the log. ARGV: now, threshold, window, base,
/// max (ms). Returns the lockout's length in ms when this failure starts
/// one, else 0. Mirrors `Entry::fail` in the memory store.
const RECORD_FAILURE: &str = r"
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local base = tonumber(ARGV[4])
local max = tonumber(ARGV[5])
local h = redis.call('HMGET', KEYS[1], 'u', 'l', 'v')
local locked_until = tonumber(h[1]) or 0
local last = tonumber(h[2]) or 0
local level = tonumber(h[3]) or 0
local function keep()
  local until_t = math.max(locked_until, last + window)
  if level > 0 then
    until_t = math.max(until_t, math.max(last, locked_until) + max)
  end
  redis.call('HSET', KEYS[1], 'u', locked_until, 'l', last, 'v', level)
  redis.call('PEXPIRE', KEYS[1], math.max(until_t - now, 1))
end
-- During a lockout a failure is not counted.
if now < locked_until then
  last = math.max(last, now)
  keep()
  return 0
end
-- A quiet period of `max` forgets the backoff.
if level > 0 and math.max(last, locked_until) + max <= now then
  level = 0
end
-- The log is sorted, so this drops exactly its too old front.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
-- A clock that stepped back must not unsort the log.
local at = now
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if newest[2] then at = math.max(at, tonumber(newest[2])) end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('ZADD', KEYS[2], at, n)
last = math.max(last, now)
if redis.call('ZCARD', KEYS[2]) < threshold then
  redis.call('PEXPIRE', KEYS[2], math.max(at + window - now, 1))
  keep()
  return 0
end
redis.call('DEL', KEYS[2])
local length = math.min(base * 2 ^ level, max)
locked_until = now + length
level = math.min(level + 1, 63)
keep()
return length
";

/// A success. KEYS: the hash, the log. ARGV: now, max (ms). Clears the log;
/// drops the hash when nothing is left to remember. Mirrors the memory
/// store's `record_success`.
const RECORD_SUCCESS: &str = r"
redis.call('DEL', KEYS[2])
local h = redis.call('HMGET', KEYS[1], 'u', 'l', 'v')
local locked_until = tonumber(h[1])
if not locked_until then return 0 end
local last = tonumber(h[2]) or 0
local level = tonumber(h[3]) or 0
local now = tonumber(ARGV[1])
if now >= locked_until and
   (level == 0 or math.max(last, locked_until) + tonumber(ARGV[2]) <= now) then
  redis.call('DEL', KEYS[1])
end
return 1
";

static RECORD_FAILURE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_FAILURE));
static RECORD_SUCCESS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_SUCCESS));

/// The [`LockoutStore`] of a cluster: counts in Redis, a local
/// [`MemoryLockout`] when Redis cannot answer.
pub struct RedisLockout {
    conn: RedisConn,
    policy: LockoutPolicy,
    local: MemoryLockout,
    /// Answering from `local` since Redis last failed.
    degraded: AtomicBool,
    /// While degraded: when (ms after `epoch`) Redis may be tried again.
    next_probe: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for RedisLockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLockout")
            .field("conn", &self.conn)
            .field("policy", &self.policy)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

/// A subject's two keys.
struct Keys {
    state: String,
    log: String,
}

fn keys(prefix: &str, subject: &LockoutSubject<'_>) -> Keys {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let id = match *subject {
        LockoutSubject::Client(ip) => match client_key(ip) {
            ClientKey::V4(v4) => format!("4-{v4:08x}"),
            ClientKey::V6Prefix(p) => format!("6-{p:016x}"),
        },
        LockoutSubject::Credential(c) => format!("k-{}", hex(&credential_key(c))),
        LockoutSubject::CredentialFrom(c, ip) => {
            format!("k-{}", hex(&credential_from_key(c, ip)))
        }
    };
    let state = format!("{prefix}:lo:{{{id}}}");
    Keys {
        log: format!("{state}:f"),
        state,
    }
}

impl RedisLockout {
    /// A store for `policy` on a shared connection, with a local fallback
    /// of [`MemoryLockout::DEFAULT_CAPACITY`] subjects per kind. Loads the
    /// scripts when Redis answers; a Redis that does not answer yet is no
    /// error (the store starts on the fallback).
    pub async fn new(conn: RedisConn, policy: LockoutPolicy) -> Result<Self, LockoutPolicyError> {
        Self::with_capacity(conn, policy, MemoryLockout::DEFAULT_CAPACITY).await
    }

    /// As [`new`](Self::new), the fallback tracking at most `capacity`
    /// subjects of each kind.
    pub async fn with_capacity(
        conn: RedisConn,
        policy: LockoutPolicy,
        capacity: usize,
    ) -> Result<Self, LockoutPolicyError> {
        let local = MemoryLockout::with_capacity(policy.clone(), capacity)?;
        let store = Self {
            conn,
            policy,
            local,
            degraded: AtomicBool::new(false),
            next_probe: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        for script in [&*RECORD_FAILURE_SCRIPT, &*RECORD_SUCCESS_SCRIPT] {
            let loaded = store.conn.load(script).await;
            store.outcome(loaded);
        }
        Ok(store)
    }

    /// Whether the last answer came from Redis (shared by the cluster)
    /// rather than from the local fallback.
    pub fn is_shared(&self) -> bool {
        !self.degraded.load(Ordering::Relaxed)
    }

    /// The local fallback, fed with this node's failures.
    pub fn local(&self) -> &MemoryLockout {
        &self.local
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// Whether to ask Redis now: always while it works, once per
    /// [`PROBE_INTERVAL`] while it does not.
    fn try_redis(&self) -> bool {
        if !self.degraded.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.elapsed_ms();
        let due = self.next_probe.load(Ordering::Relaxed);
        now >= due
            && self
                .next_probe
                .compare_exchange(
                    due,
                    now.saturating_add(millis(PROBE_INTERVAL)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Records whether Redis answered, logging a change of state once.
    fn outcome<T>(&self, r: Result<T, StoreError>) -> Option<T> {
        match r {
            Ok(v) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("lockouts: Redis answers again; lockouts are shared again");
                }
                Some(v)
            }
            Err(e) => {
                self.next_probe.store(
                    self.elapsed_ms().saturating_add(millis(PROBE_INTERVAL)),
                    Ordering::Relaxed,
                );
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "lockouts: Redis does not answer; counting on this node only until it does");
                }
                None
            }
        }
    }

    async fn redis_locked(
        &self,
        subject: &LockoutSubject<'_>,
        now: u64,
    ) -> Result<Option<Duration>, StoreError> {
        let mut cmd = ::redis::cmd("HGET");
        cmd.arg(keys(self.conn.prefix(), subject).state).arg("u");
        let until: Option<u64> = self.conn.query(&cmd).await?;
        Ok(until.filter(|&u| now < u).map(|u| {
            // Capped so that a wall clock stepped back cannot stretch a
            // lockout beyond the longest one the policy allows.
            Duration::from_millis((u - now).min(millis(self.policy.max_lockout)))
        }))
    }

    /// Each subject's lockout end and whether its failure log exists, in
    /// one pipelined round trip.
    async fn redis_states(
        &self,
        subjects: &[LockoutSubject<'_>],
        now: u64,
    ) -> Result<Vec<SubjectState>, StoreError> {
        let mut pipe = ::redis::pipe();
        // Failures within the window: logged after `now - window`.
        let since = format!("({}", now.saturating_sub(millis(self.policy.window)));
        for subject in subjects {
            let k = keys(self.conn.prefix(), subject);
            pipe.cmd("HGET").arg(&k.state).arg("u");
            pipe.cmd("ZCOUNT").arg(&k.log).arg(&since).arg("+inf");
        }
        let answers: Vec<(Option<u64>, u64)> = self.conn.pipeline(&pipe).await?;
        Ok(answers
            .into_iter()
            .map(|(until, failures)| SubjectState {
                locked: until
                    .filter(|&u| now < u)
                    .map(|u| Duration::from_millis((u - now).min(millis(self.policy.max_lockout)))),
                failures: failures > 0,
            })
            .collect())
    }

    async fn redis_failure(
        &self,
        subject: &LockoutSubject<'_>,
        now: u64,
    ) -> Result<Option<Duration>, StoreError> {
        let k = keys(self.conn.prefix(), subject);
        let mut call = RECORD_FAILURE_SCRIPT.key(k.state);
        call.key(k.log)
            .arg(now)
            .arg(self.policy.threshold(subject))
            .arg(millis(self.policy.window))
            .arg(millis(self.policy.base_lockout))
            .arg(millis(self.policy.max_lockout));
        let length: u64 = self.conn.run(&call).await?;
        Ok((length > 0).then(|| Duration::from_millis(length)))
    }

    async fn redis_success(
        &self,
        subject: &LockoutSubject<'_>,
        now: u64,
    ) -> Result<(), StoreError> {
        let k = keys(self.conn.prefix(), subject);
        let mut call = RECORD_SUCCESS_SCRIPT.key(k.state);
        call.key(k.log)
            .arg(now)
            .arg(millis(self.policy.max_lockout));
        self.conn.run::<i64>(&call).await.map(|_| ())
    }
}

#[async_trait]
impl LockoutStore for RedisLockout {
    async fn locked(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError> {
        if self.try_redis() {
            let r = self.redis_locked(subject, epoch_millis(now)).await;
            if let Some(v) = self.outcome(r) {
                return Ok(v);
            }
        }
        self.local.locked(subject, now).await
    }

    async fn states(
        &self,
        subjects: &[LockoutSubject<'_>],
        now: SystemTime,
    ) -> Result<Vec<SubjectState>, StoreError> {
        if self.try_redis() {
            let r = self.redis_states(subjects, epoch_millis(now)).await;
            if let Some(v) = self.outcome(r) {
                return Ok(v);
            }
        }
        // The local counts, fed all along, decide while Redis does not.
        self.local.states(subjects, now).await
    }

    async fn record_failure(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<Option<Duration>, StoreError> {
        let local = self.local.record_failure(subject, now).await;
        if self.try_redis() {
            let r = self.redis_failure(subject, epoch_millis(now)).await;
            if let Some(v) = self.outcome(r) {
                return Ok(v);
            }
        }
        local
    }

    async fn record_success(
        &self,
        subject: &LockoutSubject<'_>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let local = self.local.record_success(subject, now).await;
        if self.try_redis() {
            let r = self.redis_success(subject, epoch_millis(now)).await;
            if self.outcome(r).is_some() {
                return Ok(());
            }
        }
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_hash_tag_and_name_the_counted_identity() {
        let ip = |s: &str| LockoutSubject::Client(s.parse().unwrap());
        let k = keys("moat", &ip("192.0.2.1"));
        assert_eq!(k.state, "moat:lo:{4-c0000201}");
        assert_eq!(k.log, "moat:lo:{4-c0000201}:f");
        assert_eq!(
            keys("moat", &ip("::ffff:192.0.2.1")).state,
            "moat:lo:{4-c0000201}"
        );
        assert_eq!(
            keys("moat", &ip("2001:db8:1:2::9")).state,
            "moat:lo:{6-20010db800010002}"
        );
        let cred = keys("p", &LockoutSubject::Credential("basic:alice")).state;
        assert!(cred.starts_with("p:lo:{k-") && cred.len() == "p:lo:{k-}".len() + 32);
        let from = LockoutSubject::CredentialFrom("basic:alice", "192.0.2.1".parse().unwrap());
        assert_ne!(keys("p", &from).state, cred);
    }
}
