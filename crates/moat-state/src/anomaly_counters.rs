//! The anomaly detectors' counts, shared by a cluster's nodes through
//! Redis, so an attack spread over N nodes meets the same thresholds as one
//! sent to a single node.
//!
//! A distinct count is one subject's distinct ids within a sliding window, kept up
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
//! A sliding count is one subject's requests in a sliding window, as the
//! detectors count them locally: a hash `{prefix}:an:{tally}:{<subject>}`
//! holding the fixed window's index, its count and the previous window's
//! (and the same of the flagged requests), and, where the detector learns
//! one, a baseline of requests per window (an exponentially weighted
//! average over the earlier windows) with the number of windows it has
//! seen. The script rolls the windows and learns the baseline with the
//! same arithmetic as the local counts (moat-guard's `window::learn`).
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

/// One touch of a sliding request count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlidingTouch {
    /// Which count (fit for a key: letters and `-`).
    pub tally: &'static str,
    /// The subject's keyed hash.
    pub subject: u64,
    /// When, in unix milliseconds.
    pub now: u64,
    /// The sliding window, in milliseconds (at least 1).
    pub window_ms: u64,
    /// Requests counted.
    pub add: u32,
    /// Of them, those flagged.
    pub flagged: u32,
    /// Whether the touch starts a count not held yet.
    pub create: bool,
    /// The newest window's weight in the baseline, when one is learnt
    /// (between 0 and 1).
    pub baseline: Option<f64>,
    /// How long the count is kept after its last touch, in milliseconds.
    pub keep_ms: u64,
}

/// A sliding count after a touch (all zero for a count not held and not
/// created).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SlidingCount {
    /// Requests within the sliding window.
    pub count: u64,
    /// Of them, those flagged.
    pub flagged: u64,
    /// Requests per window, on average over the earlier windows (0 where
    /// no baseline is learnt).
    pub baseline: f64,
    /// Windows completed since the count began (0 where no baseline is
    /// learnt).
    pub windows: u32,
}

/// One touch of either kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Touch {
    /// Of a distinct-id count.
    Distinct(DistinctTouch),
    /// Of a sliding request count.
    Sliding(SlidingTouch),
}

/// A count after a touch of either kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    /// A distinct-id count.
    Distinct(DistinctCount),
    /// A sliding request count.
    Sliding(SlidingCount),
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

/// Each touch: KEYS[i] the count's hash; ARGV[7i-6..7i] now, window, add,
/// flagged, create, the baseline's weight (0: none) and how long to keep
/// it. Answers four numbers per touch: the sliding count, the flagged
/// count, the baseline in thousandths and the windows seen.
static SLIDE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local out = {}
for i = 1, #KEYS do
  local key, a, o = KEYS[i], 7 * (i - 1), 4 * (i - 1)
  local now, window = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local add, flagged = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local create, alpha, keep = ARGV[a + 5] == '1', tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  local index = math.floor(now / window)
  local h = redis.call('HMGET', key, 'i', 'c', 'p', 'fc', 'fp', 'b', 'w')
  if not h[1] and not create then
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = 0, 0, 0, 0
  else
    local at = tonumber(h[1]) or index
    local c, p = tonumber(h[2]) or 0, tonumber(h[3]) or 0
    local fc, fp = tonumber(h[4]) or 0, tonumber(h[5]) or 0
    local base, windows = tonumber(h[6]) or 0, tonumber(h[7]) or 0
    if index > at then
      local ended = index - at
      if alpha > 0 then
        if windows == 0 then base = c else base = alpha * c + (1 - alpha) * base end
        local idle = math.min(ended - 1, 1000)
        if idle > 0 then base = base * (1 - alpha) ^ idle end
        windows = math.min(windows + ended, 4294967295)
      end
      if ended == 1 then p, fp = c, fc else p, fp = 0, 0 end
      c, fc, at = 0, 0, index
    end
    c, fc = c + add, fc + flagged
    redis.call('HSET', key, 'i', at, 'c', c, 'p', p, 'fc', fc, 'fp', fp, 'b', base, 'w', windows)
    redis.call('PEXPIRE', key, keep)
    local into = math.min(math.max(now - at * window, 0), window)
    out[o + 1] = c + math.floor(p * (window - into) / window)
    out[o + 2] = fc + math.floor(fp * (window - into) / window)
    out[o + 3] = math.floor(base * 1000)
    out[o + 4] = windows
  end
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
        conn.load(&SLIDE).await?;
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

    /// Applies distinct-id `touches` in order, in one round trip; the
    /// count after each, in the same order.
    pub async fn touch(&self, touches: &[DistinctTouch]) -> Result<Vec<DistinctCount>, StoreError> {
        let batch: Vec<Touch> = touches.iter().copied().map(Touch::Distinct).collect();
        let counts = self.apply(&batch).await?;
        Ok(counts
            .into_iter()
            .filter_map(|c| match c {
                Count::Distinct(c) => Some(c),
                Count::Sliding(_) => None,
            })
            .collect())
    }

    /// Applies `touches` of either kind in order (each kind's in its own
    /// order), in one round trip; the count after each, in the same order.
    pub async fn apply(&self, touches: &[Touch]) -> Result<Vec<Count>, StoreError> {
        if touches.is_empty() {
            return Ok(Vec::new());
        }
        let mut distinct: Vec<&DistinctTouch> = Vec::new();
        let mut sliding: Vec<&SlidingTouch> = Vec::new();
        for t in touches {
            match t {
                Touch::Distinct(d) => distinct.push(d),
                Touch::Sliding(s) => sliding.push(s),
            }
        }
        let mut pipe = redis::pipe();
        for chunk in distinct.chunks(MAX_TOUCHES_PER_CALL) {
            pipe.add_command(self.distinct_call(chunk));
        }
        for chunk in sliding.chunks(MAX_TOUCHES_PER_CALL) {
            pipe.add_command(self.sliding_call(chunk));
        }
        let answers: Vec<Vec<u64>> = match self.conn.pipeline(&pipe).await {
            Ok(a) => a,
            // Redis restarted and lost the scripts: load them, once.
            Err(e) if e.to_string().to_ascii_lowercase().contains("noscript") => {
                self.conn.load(&TOUCH).await?;
                self.conn.load(&SLIDE).await?;
                self.conn.pipeline(&pipe).await?
            }
            Err(e) => return Err(e),
        };
        let calls = distinct.len().div_ceil(MAX_TOUCHES_PER_CALL);
        let mut distinct_counts = answers[..calls.min(answers.len())]
            .iter()
            .flat_map(|a| a.chunks_exact(2))
            .map(|pair| DistinctCount {
                distinct: pair[0],
                flagged: pair[1],
            });
        let mut sliding_counts = answers[calls.min(answers.len())..]
            .iter()
            .flat_map(|a| a.chunks_exact(4))
            .map(|four| SlidingCount {
                count: four[0],
                flagged: four[1],
                baseline: four[2] as f64 / 1000.0,
                windows: u32::try_from(four[3]).unwrap_or(u32::MAX),
            });
        let mut counts = Vec::with_capacity(touches.len());
        for t in touches {
            let count = match t {
                Touch::Distinct(_) => distinct_counts.next().map(Count::Distinct),
                Touch::Sliding(_) => sliding_counts.next().map(Count::Sliding),
            };
            match count {
                Some(c) => counts.push(c),
                None => {
                    return Err(StoreError::Redis(format!(
                        "the anomaly counts answered {} of {} touches",
                        counts.len(),
                        touches.len()
                    )));
                }
            }
        }
        Ok(counts)
    }

    fn distinct_call(&self, chunk: &[&DistinctTouch]) -> redis::Cmd {
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
        cmd
    }

    fn sliding_call(&self, chunk: &[&SlidingTouch]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(SLIDE.get_hash()).arg(chunk.len());
        for t in chunk {
            cmd.arg(self.key(t.tally, t.subject));
        }
        for t in chunk {
            let alpha = t.baseline.filter(|a| a.is_finite()).unwrap_or(0.0);
            cmd.arg(t.now)
                .arg(t.window_ms.max(1))
                .arg(t.add)
                .arg(t.flagged)
                .arg(if t.create { "1" } else { "0" })
                .arg(alpha.clamp(0.0, 1.0).to_string())
                .arg(t.keep_ms.max(1));
        }
        cmd
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
