//! The one task that empties the event queue: the store first (the audit
//! trail), then every sink; retention every minute; a drain at shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moat_state::events::{Event, EventStore, Retention, unix_millis_now};
use tokio::sync::{mpsc, watch};

use super::coalesce::Coalescer;
use super::{Events, Queued};
use crate::telemetry;

/// Events taken from the queue at once: one store transaction.
const BATCH: usize = 256;

/// How often ended coalescing windows are summed up.
const SUMMARIES_EVERY: Duration = Duration::from_secs(1);

/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often events held during a store outage are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Events held while the store fails, unless configured.
const DEFAULT_BUFFER: usize = 50_000;

/// A destination of events besides the store (a JSON-lines file, a
/// webhook). Called from the writer task only, with each stored batch.
#[async_trait]
pub(crate) trait Sink: Send + Sync {
    /// Takes a batch. A sink that can fail keeps its own retries and
    /// counts; the writer does not wait on a slow destination.
    async fn write(&mut self, events: &[Event]);
    /// Delivers what it holds before the process exits.
    async fn close(&mut self);
}

/// The sinks besides the store.
pub(crate) type Sinks = Vec<Box<dyn Sink>>;

/// The writer task's state.
pub(crate) struct Writer {
    rx: mpsc::Receiver<Queued>,
    events: Arc<Events>,
    store: Option<Arc<dyn EventStore>>,
    sinks: Sinks,
    retention: Option<Retention>,
    coalescer: Option<Coalescer>,
    /// Events the store could not take yet, oldest first: written before
    /// any newer event, so each node's events keep their order.
    held: VecDeque<Event>,
    /// Most events held.
    buffer: usize,
    /// When held events were last tried: an outage costs one attempt per
    /// [`RETRY_EVERY`], not one per batch.
    last_try: Option<tokio::time::Instant>,
}

impl Writer {
    pub(super) fn new(
        rx: mpsc::Receiver<Queued>,
        events: Arc<Events>,
        store: Option<Arc<dyn EventStore>>,
        sinks: Sinks,
        retention: Option<Retention>,
        coalescer: Option<Coalescer>,
    ) -> Self {
        Self {
            rx,
            events,
            store,
            sinks,
            retention,
            coalescer,
            held: VecDeque::new(),
            buffer: DEFAULT_BUFFER,
            last_try: None,
        }
    }

    /// Holds at most `buffer` events while the store fails.
    pub(crate) fn with_buffer(mut self, buffer: usize) -> Self {
        self.buffer = buffer;
        self
    }

    /// Writes batches until `close` turns true, then stops taking new
    /// events, writes everything already queued, closes the sinks and
    /// returns.
    pub(crate) async fn run(mut self, mut close: watch::Receiver<bool>) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut summaries = tokio::time::interval(SUMMARIES_EVERY);
        let mut retry = tokio::time::interval(RETRY_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.write(&mut batch).await;
                }
                _ = summaries.tick() => self.summaries(false).await,
                _ = prune.tick() => self.prune().await,
                _ = retry.tick(), if !self.held.is_empty() => self.write_held().await,
                changed = close.changed() => {
                    if changed.is_err() || *close.borrow() {
                        break;
                    }
                }
            }
        }
        // Drain: no new events are taken; the queued ones are written.
        self.rx.close();
        while self.rx.recv_many(&mut batch, BATCH).await > 0 {
            self.write(&mut batch).await;
        }
        self.summaries(true).await;
        self.write_held().await;
        if !self.held.is_empty() {
            tracing::error!(
                events = self.held.len(),
                "the event store is still failing at shutdown; these security events are lost"
            );
        }
        for sink in &mut self.sinks {
            sink.close().await;
        }
    }

    /// Writes the events held during an outage, in order; keeps them if
    /// the store still fails.
    async fn write_held(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        self.last_try = Some(tokio::time::Instant::now());
        while !self.held.is_empty() {
            let n = self.held.len().min(BATCH);
            let batch: Vec<Event> = self.held.iter().take(n).cloned().collect();
            match store.append(&batch).await {
                Ok(seq) => {
                    self.held.drain(..n);
                    self.events.stored(seq);
                }
                Err(e) => {
                    tracing::debug!(error = %e, held = self.held.len(),
                        "the event store still fails; security events stay held");
                    break;
                }
            }
        }
        if self.held.is_empty() {
            tracing::info!("the event store answers again; held security events are written");
        }
        telemetry::events_buffered(self.held.len());
    }

    /// Holds events the store could not take, up to the buffer; the rest
    /// are dropped and counted.
    fn hold(&mut self, events: &[Event]) {
        let room = self.buffer.saturating_sub(self.held.len());
        let kept = events.len().min(room);
        self.held.extend(events[..kept].iter().cloned());
        for _ in kept..events.len() {
            telemetry::event_dropped();
        }
        telemetry::events_buffered(self.held.len());
    }

    /// Stores the summaries of coalesced events whose window ended (all
    /// of them, at shutdown).
    async fn summaries(&mut self, all: bool) {
        let Some(c) = self.coalescer.as_mut() else {
            return;
        };
        let now = unix_millis_now();
        let due = if all { c.all(now) } else { c.due(now) };
        if !due.is_empty() {
            let mut batch = due
                .into_iter()
                .map(|event| Queued { event, ack: None })
                .collect();
            self.store_batch(&mut batch).await;
        }
    }

    async fn write(&mut self, batch: &mut Vec<Queued>) {
        if let Some(c) = self.coalescer.as_mut() {
            let now = unix_millis_now();
            // Only events no one waits for can be held back (admit says
            // so for admin actions, the only ones with an ack).
            batch.retain(|q| q.ack.is_some() || c.admit(&q.event, now));
        }
        if !batch.is_empty() {
            self.store_batch(batch).await;
        }
    }

    async fn store_batch(&mut self, batch: &mut Vec<Queued>) {
        let (events, acks): (Vec<Event>, Vec<_>) =
            batch.drain(..).map(|q| (q.event, q.ack)).unzip();
        let due = self.last_try.is_none_or(|t| t.elapsed() >= RETRY_EVERY);
        if !self.held.is_empty() && due {
            // Older events wait: these go after them.
            self.write_held().await;
        }
        let stored = match &self.store {
            Some(_) if !self.held.is_empty() => {
                self.hold(&events);
                Err(moat_state::StoreError::Invalid {
                    what: "event store",
                    reason: "it is failing; the event is held and written when it recovers".into(),
                })
            }
            Some(store) => match append(store.as_ref(), &events).await {
                Ok(seq) => {
                    self.events.stored(seq);
                    Ok(Some(seq))
                }
                Err(e) => {
                    telemetry::events_store_failed(events.len());
                    tracing::error!(error = %e, events = events.len(),
                        "cannot write security events to the store; holding them until it recovers");
                    self.hold(&events);
                    Err(e)
                }
            },
            None => Ok(None),
        };
        for sink in &mut self.sinks {
            sink.write(&events).await;
        }
        // Admin actions wait for their event: each hears how the batch went.
        let last = stored.as_ref().ok().copied().flatten();
        let n = i64::try_from(acks.len()).unwrap_or(0);
        for (i, ack) in (0..).zip(acks) {
            if let Some(ack) = ack {
                let result = match &stored {
                    Ok(_) => Ok(last.map(|seq| seq - (n - 1 - i))),
                    Err(e) => Err(e.to_string()),
                };
                let _ = ack.send(result);
            }
        }
    }

    async fn prune(&self) {
        let (Some(store), Some(retention)) = (&self.store, self.retention) else {
            return;
        };
        match store.prune(retention, unix_millis_now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "security events past retention removed"),
            Err(e) => tracing::warn!(error = %e, "cannot apply event retention"),
        }
    }
}

/// Appends a batch, trying once more after a short pause (a busy
/// database file, shared with the CLI, clears in milliseconds).
async fn append(store: &dyn EventStore, batch: &[Event]) -> Result<i64, moat_state::StoreError> {
    match store.append(batch).await {
        Ok(seq) => Ok(seq),
        Err(_) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            store.append(batch).await
        }
    }
}
