//! The anomaly detectors' distinct-id counts, shared by a cluster's nodes
//! through Redis, so an attack spread over N nodes meets the same
//! thresholds as one sent to a single node.
//!
//! A count is one subject's distinct ids within a sliding window, kept up
//! to a cap (the detector's threshold), each with a flag. It lives in two
//! sorted sets, `{prefix}:an:{tally}:{<subject>}` (every id held, scored by
//! when it was last touched) and the same key with `:f` (the ids whose last
//! touch set the flag). One script call touches a whole batch: for each
//! touch it drops the ids that left the window, adds or refreshes the id,
//! trims the set to its cap (least recently touched first), and answers
//! the number of ids held and of flagged ones; both sets expire one window
//! after their last touch. Subjects and ids arrive as 64-bit keyed hashes,
//! so no client-chosen string reaches Redis.
//!
//! An event raised from those counts is claimed first
//! ([`RedisAnomalyCounters::claim`]: `SET NX PX` one window), so one node
//! of the cluster reports it. The hash seed the nodes share is kept in
//! `{prefix}:an:seed`, written by the first node that asks for it.

use std::sync::LazyLock;

use ring::rand::{SecureRandom, SystemRandom};

use crate::redis_conn::RedisConn;
use crate::store::StoreError;

/// How many touches one script call carries at most; a larger batch is
/// sent as several calls in one pipeline.
pub const MAX_TOUCHES_PER_CALL: usize = 256;

/// One touch of a distinct-id count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistinctTouch {
    /// Which count (fit for a key: letters and `-`).
    pub tally: &'static str,
    /// The subject's keyed hash.
    pub subject: u64,
    /// The id's keyed hash.
    pub id: u64,
    /// The id's flag as of this touch.
    pub flag: bool,
    /// When, in unix milliseconds.
    pub now: u64,
    /// The sliding window, in milliseconds (at least 1).
    pub window_ms: u64,
    /// The most ids kept (at least 1).
    pub cap: u32,
}

/// A count after a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DistinctCount {
    /// Distinct ids within the window (at most the cap).
    pub distinct: u64,
    /// Of them, those whose last touch set the flag.
    pub flagged: u64,
}

/// Each touch: KEYS[2i-1] the ids, KEYS[2i] the flagged ids; ARGV[5i-4..5i]
/// id, flag, now, window, cap. Answers the counts, two per touch.
static TOUCH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for i = 1, #KEYS / 2 do
  local ids, flagged = KEYS[2 * i - 1], KEYS[2 * i]
  local id, flag = ARGV[5 * i - 4], ARGV[5 * i - 3]
  local now, window, cap = tonumber(ARGV[5 * i - 2]), tonumber(ARGV[5 * i - 1]), tonumber(ARGV[5 * i])
  redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', flagged, '-inf', now - window)
  redis.call('ZADD', ids, now, id)
  if flag == '1' then
    redis.call('ZADD', flagged, now, id)
  else
    redis.call('ZREM', flagged, id)
  end
  local n = redis.call('ZCARD', ids)
  if n > cap then
    local old = redis.call('ZRANGE', ids, 0, n - cap - 1)
    redis.call('ZREMRANGEBYRANK', ids, 0, n - cap - 1)
    redis.call('ZREM', flagged, unpack(old))
    n = cap
  end
  redis.call('PEXPIRE', ids, window)
  redis.call('PEXPIRE', flagged, window)
  out[2 * i - 1] = n
  out[2 * i] = redis.call('ZCARD', flagged)
end
return out
",
    )
});

/// Keeps the first seed written; answers the one kept.
static SEED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
",
    )
});

/// The detectors' distinct-id counts in a cluster's Redis.
#[derive(Clone)]
pub struct RedisAnomalyCounters {
    conn: RedisConn,
    prefix: String,
}

impl RedisAnomalyCounters {
    /// Counts on `conn`, under its prefix.
    pub async fn new(conn: RedisConn) -> Result<Self, StoreError> {
        conn.load(&TOUCH).await?;
        conn.load(&SEED).await?;
        Ok(Self {
            prefix: format!("{}:an", conn.prefix()),
            conn,
        })
    }

    /// The hash seed every node of the cluster uses (made by the first to
    /// ask).
    pub async fn seed(&self) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| StoreError::Redis("no randomness for the anomaly seed".into()))?;
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let mut call = SEED.prepare_invoke();
        call.key(format!("{}:seed", self.prefix)).arg(fresh);
        let seed: String = self.conn.run(&call).await?;
        Ok(seed.into_bytes())
    }

    /// Applies `touches` in order, in one round trip; the count after
    /// each, in the same order.
    pub async fn touch(&self, touches: &[DistinctTouch]) -> Result<Vec<DistinctCount>, StoreError> {
        let mut counts = Vec::with_capacity(touches.len());
        if touches.is_empty() {
            return Ok(counts);
        }
        let mut pipe = redis::pipe();
        for chunk in touches.chunks(MAX_TOUCHES_PER_CALL) {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(TOUCH.get_hash()).arg(chunk.len() * 2);
            for t in chunk {
                let ids = self.key(t.tally, t.subject);
                let flagged = format!("{ids}:f");
                cmd.arg(ids).arg(flagged);
            }
            for t in chunk {
                cmd.arg(t.id)
                    .arg(if t.flag { "1" } else { "0" })
                    .arg(t.now)
                    .arg(t.window_ms.max(1))
                    .arg(t.cap.max(1));
            }
            pipe.add_command(cmd);
        }
        let answers: Vec<Vec<u64>> = match self.conn.pipeline(&pipe).await {
            Ok(a) => a,
            // Redis restarted and lost the script: load it, once.
            Err(e) if e.to_string().to_ascii_lowercase().contains("noscript") => {
                self.conn.load(&TOUCH).await?;
                self.conn.pipeline(&pipe).await?
            }
            Err(e) => return Err(e),
        };
        for answer in answers {
            counts.extend(answer.chunks_exact(2).map(|pair| DistinctCount {
                distinct: pair[0],
                flagged: pair[1],
            }));
        }
        if counts.len() != touches.len() {
            return Err(StoreError::Redis(format!(
                "the anomaly counts answered {} of {} touches",
                counts.len(),
                touches.len()
            )));
        }
        Ok(counts)
    }

    /// Whether this node is the one to report the event of `tally` about
    /// `subject`: true for the first claim within `window_ms`.
    pub async fn claim(
        &self,
        tally: &str,
        subject: u64,
        window_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}:reported", self.key(tally, subject)))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(window_ms.max(1));
        let answer: Option<String> = self.conn.query(&cmd).await?;
        Ok(answer.is_some())
    }

    fn key(&self, tally: &str, subject: u64) -> String {
        format!("{}:{tally}:{{{subject:016x}}}", self.prefix)
    }
}
