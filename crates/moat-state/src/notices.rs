//! Notices: small messages one node sends every node when shared state
//! changed, so caches (API keys, bans, config) are refreshed at once rather
//! than when they would have expired.
//!
//! In a cluster they travel over Redis pub/sub on the channel
//! `<prefix>:notices` ([`Notices`]); in the embedded mode they stay in the
//! process ([`LocalNotices`]). The gateway uses either through
//! [`NoticeSink`].
//!
//! # Delivery
//!
//! Pub/sub delivers a message to whoever is subscribed at that moment and
//! to nobody else: a node that is disconnected from Redis misses what is
//! published meanwhile. So after every (re)connection the subscriber emits a
//! synthetic [`Notice::Resync`]: everything cached may be stale, reload it.
//! The same holds for a receiver that lags behind the in-process channel
//! (`RecvError::Lagged`): treat it as a `Resync`. Notices only speed up
//! what the caches' revalidation does anyway, so losing one costs time, not
//! correctness.
//!
//! # Format
//!
//! One JSON object per message, tagged by `type` (unknown types and fields
//! are ignored, so a newer node can send a notice an older one does not
//! know):
//!
//! ```json
//! {"type":"key_changed","key_id":"k_3f9a…"}
//! {"type":"bans_changed"}
//! {"type":"config_changed","digest":"sha256:…"}
//! ```

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::backoff::backoff;
use crate::redis_conn::{RedisConn, RedisOptions};
use crate::store::StoreError;

/// How many notices a slow receiver may fall behind before it sees
/// `Lagged` (and should resync).
const CHANNEL_CAPACITY: usize = 1024;

/// How often the subscriber checks that Redis still answers on its
/// connection.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// Something shared changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// An API key was created, revoked, rotated or its expiry changed:
    /// drop it from caches.
    KeyChanged {
        /// The key's id (never the secret).
        key_id: String,
    },
    /// The ban list changed: reload it.
    BansChanged,
    /// The configuration changed (hot reload): reload if `digest` differs
    /// from the one running.
    ConfigChanged {
        /// The new configuration's digest.
        digest: String,
    },
    /// An anomaly detector on some node banned a client or consumer:
    /// apply it here too.
    DetectorBan(crate::detector_bans::DetectorBan),
    /// Notices may have been missed (the subscriber has just (re)connected
    /// to Redis): reload everything cached. Emitted by the subscriber
    /// itself; never needs publishing.
    Resync,
}

impl Notice {
    /// The message sent on the channel.
    pub fn to_json(&self) -> String {
        // Serializing a plain enum of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A message from the channel; `None` for one this build does not know.
    pub fn from_json(message: &str) -> Option<Self> {
        serde_json::from_str(message).ok()
    }
}

/// Where notices are sent and heard: Redis in a cluster, the process
/// itself in the embedded mode.
#[async_trait]
pub trait NoticeSink: Send + Sync {
    /// Sends `notice` to every node (this one included). Bounded by the
    /// store's timeout; a failure is returned, and the notice is lost (the
    /// caches' revalidation catches up).
    async fn publish(&self, notice: &Notice) -> Result<(), StoreError>;

    /// A receiver of every notice from now on.
    fn subscribe(&self) -> broadcast::Receiver<Notice>;
}

/// Notices within one process (the embedded mode): a broadcast channel.
#[derive(Debug, Clone)]
pub struct LocalNotices {
    tx: broadcast::Sender<Notice>,
}

impl LocalNotices {
    /// A channel with nobody subscribed yet.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }
}

impl Default for LocalNotices {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl NoticeSink for LocalNotices {
    async fn publish(&self, notice: &Notice) -> Result<(), StoreError> {
        // No receiver is not an error: nobody needed telling.
        let _ = self.tx.send(notice.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

/// Notices over Redis pub/sub, shared by every node on the same server and
/// prefix. Cheap to clone; the subscriber task ends when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Notices {
    conn: RedisConn,
    channel: String,
    tx: broadcast::Sender<Notice>,
    stats: Arc<Stats>,
    _task: Arc<TaskGuard>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices")
            .field("channel", &self.channel)
            .field("connects", &self.connects())
            .field("connect_attempts", &self.connect_attempts())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Stats {
    attempts: AtomicU64,
    /// Successful subscriptions so far.
    connects: tokio::sync::watch::Sender<u64>,
}

/// Aborts the subscriber task when the last [`Notices`] goes.
#[derive(Debug)]
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Notices {
    /// Connects for publishing (the connection is checked, so a wrong
    /// password or certificate shows here), starts the subscriber in the
    /// background and waits (up to the timeout) until it has subscribed, so
    /// notices published after this returns are heard.
    pub async fn connect(options: &RedisOptions) -> Result<Self, StoreError> {
        let notices = Self::on(RedisConn::connect(options).await?);
        let mut connects = notices.stats.connects.subscribe();
        match tokio::time::timeout(options.timeout, connects.wait_for(|&n| n > 0)).await {
            Ok(Ok(_)) => Ok(notices),
            Ok(Err(_)) | Err(_) => Err(StoreError::Redis(format!(
                "cannot subscribe to `{}` within {} ms",
                notices.channel,
                options.timeout.as_millis()
            ))),
        }
    }

    /// Notices on a shared connection (for publishing; the subscriber
    /// opens a dedicated one). Must be called within a Tokio runtime.
    pub fn on(conn: RedisConn) -> Self {
        let channel = format!("{}:notices", conn.prefix());
        let tx = broadcast::channel(CHANNEL_CAPACITY).0;
        let stats = Arc::new(Stats {
            attempts: AtomicU64::new(0),
            connects: tokio::sync::watch::Sender::new(0),
        });
        let task = tokio::spawn(subscriber(
            conn.clone(),
            channel.clone(),
            tx.clone(),
            Arc::clone(&stats),
        ));
        Self {
            conn,
            channel,
            tx,
            stats,
            _task: Arc::new(TaskGuard(task)),
        }
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// How many times the subscriber has tried to connect so far.
    pub fn connect_attempts(&self) -> u64 {
        self.stats.attempts.load(Ordering::Relaxed)
    }

    /// How many times the subscriber has connected and subscribed so far
    /// (each emitted a `Resync`).
    pub fn connects(&self) -> u64 {
        *self.stats.connects.borrow()
    }
}

#[async_trait]
impl NoticeSink for Notices {
    async fn publish(&self, notice: &Notice) -> Result<(), StoreError> {
        let mut cmd = ::redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(notice.to_json());
        self.conn.query::<i64>(&cmd).await.map(|_| ())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

/// Holds a dedicated pub/sub connection, forwarding every notice to `tx`;
/// reconnects with backoff whenever it is lost.
async fn subscriber(
    conn: RedisConn,
    channel: String,
    tx: broadcast::Sender<Notice>,
    stats: Arc<Stats>,
) {
    let random = RandomState::new();
    let mut failures: u32 = 0;
    loop {
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        match subscribe_once(&conn, &channel).await {
            Ok(pubsub) => {
                if *stats.connects.borrow() > 0 {
                    tracing::info!(channel = %channel, "Redis notices: subscribed again");
                }
                let _ = tx.send(Notice::Resync);
                stats.connects.send_modify(|n| *n += 1);
                listen(&conn, &channel, pubsub, &tx).await;
                // The connection is lost; the first attempt to reconnect
                // waits the shortest backoff.
                failures = 1;
                tracing::warn!(channel = %channel, "Redis notices: connection lost; reconnecting");
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(channel = %channel, error = %e, "Redis notices: cannot subscribe; retrying");
                }
                failures = failures.saturating_add(1);
            }
        }
        tokio::time::sleep(backoff(
            failures,
            random.hash_one(stats.attempts.load(Ordering::Relaxed)),
        ))
        .await;
    }
}

/// Forwards the subscription's notices to `tx` until the connection is
/// lost: closed, or silent to a `PING` for longer than the timeout (a hung
/// server, a dropped route), which a closed stream alone would not show.
async fn listen(
    conn: &RedisConn,
    channel: &str,
    pubsub: ::redis::aio::PubSub,
    tx: &broadcast::Sender<Notice>,
) {
    let (mut sink, mut messages) = pubsub.split();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the subscription has just answered.
    ping.tick().await;
    loop {
        tokio::select! {
            msg = messages.next() => {
                let Some(msg) = msg else { return };
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                match Notice::from_json(&payload) {
                    Some(notice) => {
                        let _ = tx.send(notice);
                    }
                    None => {
                        tracing::debug!(channel = %channel, "Redis notices: ignored an unknown notice");
                    }
                }
            }
            _ = ping.tick() => {
                let answered = tokio::time::timeout(conn.timeout(), sink.ping::<String>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

/// One connection and subscription, bounded by the timeout.
async fn subscribe_once(
    conn: &RedisConn,
    channel: &str,
) -> Result<::redis::aio::PubSub, StoreError> {
    let connect = async {
        let mut pubsub = conn.client().get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, ::redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(conn.timeout(), connect).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(conn.error(&e)),
        Err(_) => Err(conn.timed_out()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_small_tagged_json() {
        let n = Notice::KeyChanged {
            key_id: "k1".to_string(),
        };
        assert_eq!(n.to_json(), r#"{"type":"key_changed","key_id":"k1"}"#);
        assert_eq!(Notice::BansChanged.to_json(), r#"{"type":"bans_changed"}"#);
        for n in [
            n,
            Notice::BansChanged,
            Notice::ConfigChanged {
                digest: "sha256:ab".to_string(),
            },
            Notice::Resync,
        ] {
            assert_eq!(Notice::from_json(&n.to_json()), Some(n));
        }
        assert_eq!(Notice::from_json(r#"{"type":"from_the_future"}"#), None);
        assert_eq!(
            Notice::from_json(r#"{"type":"bans_changed","extra":1}"#),
            Some(Notice::BansChanged)
        );
    }

    #[tokio::test]
    async fn local_notices_reach_every_subscriber() {
        let local = LocalNotices::new();
        let sink: &dyn NoticeSink = &local;
        sink.publish(&Notice::BansChanged).await.unwrap();
        let mut a = sink.subscribe();
        let mut b = sink.subscribe();
        sink.publish(&Notice::BansChanged).await.unwrap();
        assert_eq!(a.recv().await.unwrap(), Notice::BansChanged);
        assert_eq!(b.recv().await.unwrap(), Notice::BansChanged);
        assert!(a.try_recv().is_err());
    }
}
