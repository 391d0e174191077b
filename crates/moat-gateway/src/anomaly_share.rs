//! Anomaly counts shared by a cluster's nodes.
//!
//! In a cluster each node sees part of the traffic, so every detector
//! (credential stuffing, enumeration, scraping, error storms) counts in the
//! cluster's Redis as well as locally. The request path never waits on it:
//! each request's touches go into a bounded queue (dropped and counted in
//! `moat_anomaly_touches_dropped_total` when it is full), and one task
//! sends what gathered every [`BATCH_EVERY`] (at most [`BATCH_MAX`], a full
//! batch at once) in one round trip — a batch's touches of one request
//! count (a subject's requests) sent as one — gives each cluster-wide count
//! back to the engine, and reports the events it raises, each claimed
//! first, so one node reports it. When Redis does not answer, the engine decides on this node's own
//! counts until it does again; the change is logged once each way.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moat_guard::anomaly::{Measure, SharedCount, SharedTouch};
use moat_state::anomaly_counters::{
    Count, DistinctTouch, RedisAnomalyCounters, SlidingTouch, Touch,
};
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
#[derive(Clone)]
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
    let batch = coalesce(batch);
    let touches: Vec<Touch> = batch.iter().map(|q| wire(&q.touch)).collect();
    let counts = match counters.apply(&touches).await {
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
        let Some(event) = engine.decide_shared(&q.touch, shared(c)) else {
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

/// `batch` with the touches of one sliding count (a subject's requests,
/// from requests of one API) taken into the first of them: one touch, and
/// one decision, per count and batch.
fn coalesce(batch: &[Queued]) -> Vec<Queued> {
    let mut out: Vec<Queued> = Vec::with_capacity(batch.len());
    let mut first: HashMap<(Arc<str>, &'static str, u64, u64), usize> = HashMap::new();
    for q in batch {
        if !matches!(q.touch.measure(), Measure::Sliding { .. }) {
            out.push(q.clone());
            continue;
        }
        let key = (
            q.api.clone(),
            q.touch.tally().name(),
            q.touch.subject(),
            q.touch.window(),
        );
        match first.get(&key) {
            Some(&at) if out[at].touch.absorb(&q.touch) => {}
            _ => {
                first.insert(key, out.len());
                out.push(q.clone());
            }
        }
    }
    out
}

/// A touch as the cluster's counters take it.
fn wire(t: &SharedTouch) -> Touch {
    match t.measure() {
        Measure::Distinct { id, flag, cap } => Touch::Distinct(DistinctTouch {
            tally: t.tally().name(),
            subject: t.subject(),
            id,
            flag,
            now: t.now(),
            window_ms: t.window(),
            cap,
        }),
        Measure::Sliding {
            add,
            flagged,
            create,
            baseline,
            keep,
        } => Touch::Sliding(SlidingTouch {
            tally: t.tally().name(),
            subject: t.subject(),
            now: t.now(),
            window_ms: t.window(),
            add,
            flagged,
            create,
            baseline,
            keep_ms: keep,
        }),
    }
}

/// A count from the cluster's counters, as the engine takes it.
fn shared(c: Count) -> SharedCount {
    match c {
        Count::Distinct(d) => SharedCount::Distinct {
            distinct: d.distinct,
            flagged: d.flagged,
        },
        Count::Sliding(s) => SharedCount::Sliding {
            count: s.count,
            flagged: s.flagged,
            baseline: s.baseline,
            windows: s.windows,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_config::anomaly::AnomalyConfig;
    use moat_guard::anomaly::{AnomalyEngine, AnsweredBy, Observation, Tally};

    fn touches(engine: &AnomalyEngine, client: &str, status: u16, now: u64) -> Vec<SharedTouch> {
        let mut touches = Vec::new();
        let obs = Observation {
            now,
            client: client.parse().unwrap(),
            consumer: None,
            credential_id: None,
            auth_failed: false,
            object: None,
            answered_by: AnsweredBy::Upstream,
            status,
        };
        engine.observe_sharing(&obs, &mut touches);
        touches
    }

    #[test]
    fn a_batch_sends_one_touch_per_sliding_count() {
        let engine = AnomalyEngine::new(&AnomalyConfig::default()).unwrap();
        assert!(engine.share(b"seed"));
        let api: Arc<str> = Arc::from("shop");
        let other: Arc<str> = Arc::from("admin");
        let mut batch = Vec::new();
        for (i, (client, status)) in [("192.0.2.1", 500), ("192.0.2.1", 200), ("192.0.2.2", 404)]
            .into_iter()
            .enumerate()
        {
            for touch in touches(&engine, client, status, 1_000 + i as u64) {
                batch.push(Queued {
                    api: api.clone(),
                    touch,
                });
            }
        }
        for touch in touches(&engine, "192.0.2.1", 500, 2_000) {
            batch.push(Queued {
                api: other.clone(),
                touch,
            });
        }
        let sent = coalesce(&batch);
        let storms: Vec<_> = sent
            .iter()
            .filter(|q| q.touch.tally() == Tally::ErrorStorm)
            .map(|q| (q.api.to_string(), q.touch.measure(), q.touch.now()))
            .collect();
        let measure = |add, flagged| Measure::Sliding {
            add,
            flagged,
            create: true,
            baseline: None,
            keep: 120_000,
        };
        assert_eq!(
            storms,
            [
                ("shop".to_string(), measure(2, 1), 1_001),
                ("shop".to_string(), measure(1, 1), 1_002),
                ("admin".to_string(), measure(1, 1), 2_000),
            ]
        );
        let bursts = sent
            .iter()
            .filter(|q| q.touch.tally() == Tally::ScrapingBurst)
            .count();
        assert_eq!(bursts, 3, "one per client and API");
    }
}
