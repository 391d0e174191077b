//! Anomaly counts shared by a cluster's nodes.
//!
//! In a cluster each node sees part of the traffic, so the distinct-id
//! detectors (credential stuffing, enumeration) count in the cluster's
//! Redis as well as locally. The request path never waits on it: each
//! request's touches go into a bounded queue (dropped and counted in
//! `moat_anomaly_touches_dropped_total` when it is full), and one task
//! sends what gathered every [`BATCH_EVERY`] (at most [`BATCH_MAX`], a full
//! batch at once) in one round trip, gives each cluster-wide count back to the engine, and
//! reports the events it raises — each claimed first, so one node reports
//! it. When Redis does not answer, the engine decides on this node's own
//! counts until it does again; the change is logged once each way.

use std::sync::{Arc, Weak};
use std::time::Duration;

use moat_guard::anomaly::SharedTouch;
use moat_state::anomaly_counters::{DistinctTouch, RedisAnomalyCounters};
use moat_state::redis_conn::RedisConn;
use tokio::sync::mpsc;

use crate::abuse::Abuse;
use crate::telemetry;

/// How long touches gather before they are sent.
pub const BATCH_EVERY: Duration = Duration::from_millis(50);

/// The most touches sent in one round trip.
pub const BATCH_MAX: usize = 512;

/// The most touches waiting; more are dropped.
pub const QUEUE: usize = 16_384;

/// How long to wait before asking a Redis that did not answer at start
/// again.
const RETRY: Duration = Duration::from_secs(1);

/// A touch and the API whose request made it.
pub(crate) struct Queued {
    pub(crate) api: Arc<str>,
    pub(crate) touch: SharedTouch,
}

/// Where requests leave their touches.
pub(crate) struct Outbox(mpsc::Sender<Queued>);

impl Outbox {
    /// Queues `touch` without waiting; drops (and counts) it when the
    /// queue is full.
    pub(crate) fn send(&self, api: &Arc<str>, touch: SharedTouch) {
        let queued = Queued {
            api: api.clone(),
            touch,
        };
        if self.0.try_send(queued).is_err() {
            telemetry::anomaly_touch_dropped();
        }
    }
}

/// Makes `abuse`'s detectors count cluster-wide on `conn`, from a task
/// that ends when `abuse` is dropped.
pub(crate) fn start(abuse: &Arc<Abuse>, conn: RedisConn) {
    if abuse.engine().is_none() {
        return;
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    if abuse.set_outbox(Outbox(tx)) {
        tokio::spawn(run(Arc::downgrade(abuse), conn, rx));
    }
}

async fn run(abuse: Weak<Abuse>, conn: RedisConn, mut rx: mpsc::Receiver<Queued>) {
    let Some(counters) = connect(&abuse, conn).await else {
        return;
    };
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut up = true;
    loop {
        if rx.recv_many(&mut batch, BATCH_MAX).await == 0 {
            return;
        }
        // A full batch goes at once: under load batches follow each other
        // as fast as Redis answers.
        if batch.len() < BATCH_MAX {
            tokio::time::sleep(BATCH_EVERY).await;
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(q) => batch.push(q),
                    Err(_) => break,
                }
            }
        }
        let Some(abuse) = abuse.upgrade() else {
            return;
        };
        up = count(&abuse, &counters, &batch, up).await;
        batch.clear();
    }
}

/// The counters and the shared seed, asked for until Redis answers (the
/// detectors count locally meanwhile); none once `abuse` is gone.
async fn connect(abuse: &Weak<Abuse>, conn: RedisConn) -> Option<RedisAnomalyCounters> {
    let mut said = false;
    loop {
        let result = match RedisAnomalyCounters::new(conn.clone()).await {
            Ok(counters) => counters.seed().await.map(|seed| (counters, seed)),
            Err(e) => Err(e),
        };
        let strong = abuse.upgrade()?;
        let engine = strong.engine()?;
        match result {
            Ok((counters, seed)) => {
                engine.share(&seed);
                return Some(counters);
            }
            Err(e) if !said => {
                said = true;
                tracing::warn!(
                    error = %e,
                    "anomaly counts cannot reach the cluster's Redis; detection counts this node's traffic alone until it answers"
                );
            }
            Err(_) => {}
        }
        drop(strong);
        tokio::time::sleep(RETRY).await;
    }
}

/// Sends one batch and acts on the answers; whether Redis answered.
async fn count(
    abuse: &Abuse,
    counters: &RedisAnomalyCounters,
    batch: &[Queued],
    was_up: bool,
) -> bool {
    let Some(engine) = abuse.engine() else {
        return was_up;
    };
    let touches: Vec<DistinctTouch> = batch
        .iter()
        .map(|q| DistinctTouch {
            tally: q.touch.tally().name(),
            subject: q.touch.subject(),
            id: q.touch.id(),
            flag: q.touch.flag(),
            now: q.touch.now(),
            window_ms: q.touch.window(),
            cap: q.touch.cap(),
        })
        .collect();
    let counts = match counters.touch(&touches).await {
        Ok(counts) => counts,
        Err(e) => {
            engine.set_cluster_decides(false);
            if was_up {
                tracing::warn!(
                    error = %e,
                    "anomaly counts cannot reach the cluster's Redis; detection counts this node's traffic alone until it answers"
                );
            }
            return false;
        }
    };
    engine.set_cluster_decides(true);
    if !was_up {
        tracing::info!("anomaly counts are cluster-wide again");
    }
    for (q, c) in batch.iter().zip(counts) {
        let Some(event) = engine.decide_shared(&q.touch, c.distinct, c.flagged) else {
            continue;
        };
        let t = &q.touch;
        // Reported twice rather than not at all when the claim fails.
        let ours = counters
            .claim(t.tally().name(), t.subject(), t.window())
            .await
            .unwrap_or(true);
        if ours {
            abuse.report(&q.api, &event);
        }
    }
    true
}
