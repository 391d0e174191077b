//! The one task that turns queued samples into shapes and writes them to
//! the state file: every `flush`, and once more when the gateway stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moat_state::DiscoveryStore;
use tokio::sync::{mpsc, watch};

use super::{Aggregate, Captured};

/// Samples taken from the queue at once.
const BATCH: usize = 256;

/// The recorder task's state.
pub(crate) struct Recorder {
    rx: mpsc::Receiver<Captured>,
    aggregate: Arc<Mutex<Aggregate>>,
    store: Arc<dyn DiscoveryStore>,
    flush: Duration,
}

impl Recorder {
    pub(super) fn new(
        rx: mpsc::Receiver<Captured>,
        aggregate: Arc<Mutex<Aggregate>>,
        store: Arc<dyn DiscoveryStore>,
        flush: Duration,
    ) -> Self {
        Self {
            rx,
            aggregate,
            store,
            flush,
        }
    }

    /// Folds samples in and flushes until `close` turns true; then folds
    /// in what is queued and flushes a last time.
    pub(crate) async fn run(mut self, mut close: watch::Receiver<bool>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut flush = tokio::time::interval(self.flush);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.fold(&mut batch);
                }
                _ = flush.tick() => self.flush().await,
                changed = close.changed() => {
                    if changed.is_err() || *close.borrow() {
                        break;
                    }
                }
            }
        }
        self.rx.close();
        while self.rx.recv_many(&mut batch, BATCH).await > 0 {
            self.fold(&mut batch);
        }
        self.flush().await;
    }

    fn fold(&self, batch: &mut Vec<Captured>) {
        if let Ok(mut a) = self.aggregate.lock() {
            for c in batch.drain(..) {
                a.add(c);
            }
        } else {
            batch.clear();
        }
    }

    async fn flush(&self) {
        let rows = match self.aggregate.lock() {
            Ok(mut a) => a.take_dirty(),
            Err(_) => return,
        };
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.store.save_discovered(&rows).await {
            tracing::error!(error = %e, operations = rows.len(),
                "cannot write discovered operations; retrying at the next flush");
            if let Ok(mut a) = self.aggregate.lock() {
                a.mark_dirty(&rows);
            }
        }
    }
}
