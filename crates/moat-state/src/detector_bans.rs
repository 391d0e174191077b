//! Bans the anomaly detectors impose, shared by a cluster's nodes through
//! Redis: a ban seen on one node applies on every node.
//!
//! Each ban is a field of one hash (`{prefix}:detector-bans`, field: the
//! ban's subject and reach as JSON, value: when it ends, unix seconds) and
//! a [`Notice::DetectorBan`] on the notices channel, both sent in one
//! atomic script. Nodes apply the notice at once; a node that starts later,
//! or that reconnects after missing notices, reads the hash. Fields that
//! have run out are removed when the hash is read; the hash itself expires
//! with its longest ban.
//!
//! When Redis cannot be reached the ban still applies on the node that
//! imposed it (its local copy): the gateway keeps one either way.

use std::net::IpAddr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::notices::Notice;
use crate::record::UnixTime;
use crate::redis_conn::RedisConn;
use crate::store::StoreError;

/// Who a detector ban is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DetectorBanSubject {
    /// An IPv4 address (`prefix` 32) or an IPv6 /64 (`prefix` 64).
    Address {
        /// The address, or the network's first address.
        ip: IpAddr,
        /// 32 or 64.
        prefix: u8,
    },
    /// An authenticated consumer.
    Consumer {
        /// The consumer's id.
        id: String,
    },
}

/// Which requests of the subject a detector ban refuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reach", rename_all = "snake_case")]
pub enum DetectorBanReach {
    /// All of them.
    All,
    /// Its anonymous requests.
    Anonymous,
    /// Its anonymous requests naming an object of this kind.
    AnonymousObjects {
        /// The object kind.
        kind: String,
    },
}

/// One detector ban, as nodes send it to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorBan {
    /// Who.
    pub subject: DetectorBanSubject,
    /// Which of their requests.
    pub reach: DetectorBanReach,
    /// When it ends (unix seconds).
    pub expires_at: UnixTime,
}

/// The hash field of a ban: its subject and reach.
#[derive(Serialize, Deserialize)]
struct Field {
    subject: DetectorBanSubject,
    reach: DetectorBanReach,
}

/// Keeps the later end of a ban already there, publishes the notice, and
/// keeps the hash as long as its longest ban.
static IMPOSE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local ends = tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if ends > old then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local ttl = ends - tonumber(ARGV[4])
if ttl > redis.call('TTL', KEYS[1]) then
  redis.call('EXPIRE', KEYS[1], ttl)
end
redis.call('PUBLISH', KEYS[2], ARGV[3])
return 1
",
    )
});

/// Detector bans in a cluster's Redis.
#[derive(Clone)]
pub struct RedisDetectorBans {
    conn: RedisConn,
    hash: String,
    channel: String,
}

impl RedisDetectorBans {
    /// Bans on `conn`; notices go to the channel [`crate::notices::Notices`]
    /// listens on for the same prefix.
    pub async fn new(conn: RedisConn) -> Result<Self, StoreError> {
        conn.load(&IMPOSE).await?;
        Ok(Self {
            hash: format!("{}:detector-bans", conn.prefix()),
            channel: format!("{}:notices", conn.prefix()),
            conn,
        })
    }

    /// Records `ban` for every node and tells them, in one round trip.
    pub async fn impose(&self, ban: &DetectorBan, now: UnixTime) -> Result<(), StoreError> {
        let field = field_of(ban);
        let notice = Notice::DetectorBan(ban.clone()).to_json();
        let mut call = IMPOSE.prepare_invoke();
        call.key(&self.hash)
            .key(&self.channel)
            .arg(field)
            .arg(ban.expires_at)
            .arg(notice)
            .arg(now);
        self.conn.run::<i64>(&call).await.map(|_| ())
    }

    /// Every ban still in force; those that ran out are removed.
    pub async fn all(&self, now: UnixTime) -> Result<Vec<DetectorBan>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&self.hash);
        let fields: Vec<(String, i64)> = self.conn.query(&cmd).await?;
        let mut live = Vec::new();
        let mut ended = Vec::new();
        for (field, expires_at) in fields {
            match serde_json::from_str::<Field>(&field) {
                Ok(f) if expires_at > now => live.push(DetectorBan {
                    subject: f.subject,
                    reach: f.reach,
                    expires_at,
                }),
                // Ended, or written by a build that spoke differently.
                _ => ended.push(field),
            }
        }
        if !ended.is_empty() {
            let mut cmd = redis::cmd("HDEL");
            cmd.arg(&self.hash).arg(ended);
            self.conn.query::<i64>(&cmd).await?;
        }
        Ok(live)
    }
}

fn field_of(ban: &DetectorBan) -> String {
    let field = Field {
        subject: ban.subject.clone(),
        reach: ban.reach.clone(),
    };
    // Serializing plain enums of strings and addresses cannot fail.
    serde_json::to_string(&field).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_travels_as_a_notice_and_back() {
        for (subject, reach) in [
            (
                DetectorBanSubject::Consumer {
                    id: "mallory".into(),
                },
                DetectorBanReach::All,
            ),
            (
                DetectorBanSubject::Address {
                    ip: "2001:db8::".parse().unwrap(),
                    prefix: 64,
                },
                DetectorBanReach::AnonymousObjects {
                    kind: "order".into(),
                },
            ),
        ] {
            let ban = DetectorBan {
                subject,
                reach,
                expires_at: 1_800_000_000,
            };
            let notice = Notice::DetectorBan(ban);
            let json = notice.to_json();
            assert_eq!(Notice::from_json(&json), Some(notice), "{json}");
        }
    }
}
