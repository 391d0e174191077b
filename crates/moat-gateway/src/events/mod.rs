//! Security events: built from each exchange's findings when it is
//! recorded, queued without ever waiting, and written by one task to the
//! event store (the hash-chained audit trail) and the sinks.
//!
//! The request path only calls [`Events::emit`]: a `try_send` into a
//! bounded queue. A full queue drops the event and counts it
//! (`moat_events_dropped_total`); it never delays or fails a request. The
//! writer takes events in batches (one transaction each), applies
//! retention every minute, and on shutdown drains what was queued before
//! it stops, so an event once accepted is written.

mod classify;
mod coalesce;
pub(crate) mod sinks;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moat_state::events::{Action, Control, Event, EventStore, Severity};
use tokio::sync::{mpsc, watch};

use crate::pipeline::Exchange;
use crate::telemetry;

pub(crate) use classify::classify;
pub(crate) use writer::{Sinks, Writer};

/// The sinks the config names besides the store: the JSON-lines file and
/// the webhooks. A file that cannot be opened or a webhook URL moat will
/// not post to is an error at `pointer`-named places of the config.
pub(crate) fn sinks_of(
    cfg: &moat_config::EventsConfig,
    trust: &moat_identity::trust::Trust,
) -> Result<Sinks, (String, sinks::SinkError)> {
    let mut out: Sinks = Vec::new();
    if let Some(file) = &cfg.file {
        let sink =
            sinks::JsonLinesSink::open(file).map_err(|e| ("/events/file/target".to_string(), e))?;
        out.push(Box::new(FileSink(sink)));
    }
    if !cfg.webhooks.is_empty() {
        let (stop, stopped) = watch::channel(false);
        let mut hooks = Vec::new();
        for (i, w) in cfg.webhooks.iter().enumerate() {
            let sink = sinks::WebhookSink::start(w, trust, stopped.clone())
                .map_err(|e| (format!("/events/webhooks/{i}/url"), e))?;
            hooks.push(sink);
        }
        out.push(Box::new(Webhooks { hooks, stop }));
    }
    Ok(out)
}

/// The events file, written with each stored batch.
struct FileSink(sinks::JsonLinesSink);

#[async_trait::async_trait]
impl writer::Sink for FileSink {
    async fn write(&mut self, events: &[Event]) {
        if let Err(e) = self.0.write(events).await {
            tracing::warn!(error = %e, "cannot write security events to the events file");
        }
    }

    async fn close(&mut self) {
        if let Err(e) = self.0.flush().await {
            tracing::warn!(error = %e, "cannot flush the events file");
        }
    }
}

/// The webhooks: each takes the events at or above its severity.
struct Webhooks {
    hooks: Vec<sinks::WebhookSink>,
    /// Tells the webhooks to deliver what they hold and stop.
    stop: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl writer::Sink for Webhooks {
    async fn write(&mut self, events: &[Event]) {
        for event in events {
            for hook in &self.hooks {
                hook.offer(event);
            }
        }
    }

    async fn close(&mut self) {
        let _ = self.stop.send(true);
        for hook in std::mem::take(&mut self.hooks) {
            hook.finish().await;
        }
    }
}

/// The gateway's event queue and what reads it.
pub struct Events {
    /// `None` when events are off.
    queue: Option<mpsc::Sender<Queued>>,
    store: Option<Arc<dyn EventStore>>,
    /// The seq of the newest stored event, for live streams.
    written: watch::Sender<i64>,
    dropped: AtomicU64,
}

impl Events {
    /// Events off: nothing is built or queued.
    pub fn disabled() -> Self {
        Self {
            queue: None,
            store: None,
            written: watch::Sender::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// A queue of `capacity` events, and the writer that empties it into
    /// `store` (when the store is on). Run the writer with
    /// [`Writer::run`].
    pub(crate) fn start(
        capacity: usize,
        store: Option<Arc<dyn EventStore>>,
        sinks: writer::Sinks,
        retention: Option<moat_state::events::Retention>,
        coalesce: Option<&moat_config::CoalesceConfig>,
    ) -> (Arc<Self>, Writer) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let events = Arc::new(Self {
            queue: Some(tx),
            store: store.clone(),
            written: watch::Sender::new(0),
            dropped: AtomicU64::new(0),
        });
        let coalescer = coalesce.map(|c| {
            coalesce::Coalescer::new(
                c.max,
                i64::try_from(c.window.as_millis()).unwrap_or(i64::MAX),
            )
        });
        let writer = Writer::new(rx, events.clone(), store, sinks, retention, coalescer);
        (events, writer)
    }

    /// Whether events are recorded.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `event` if there is room; never waits.
    pub fn emit(&self, event: Event) {
        let Some(queue) = &self.queue else { return };
        let (control, action) = (event.control.as_str(), event.action.as_str());
        match queue.try_send(Queued { event, ack: None }) {
            Ok(()) => telemetry::event_queued(control, action),
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                telemetry::event_dropped();
            }
        }
    }

    /// Queues an admin action's event, waiting for room if need be, and
    /// returns once the writer has stored it (its seq; `None` when events
    /// are not stored), so the action's answer can say it was recorded.
    pub async fn record_now(&self, event: Event) -> Result<Option<i64>, RecordError> {
        let Some(queue) = &self.queue else {
            return Ok(None);
        };
        let (ack, stored) = tokio::sync::oneshot::channel();
        if queue
            .send(Queued {
                event,
                ack: Some(ack),
            })
            .await
            .is_err()
        {
            return Err(RecordError::Stopped);
        }
        stored
            .await
            .map_err(|_| RecordError::Stopped)?
            .map_err(RecordError::Store)
    }

    /// The event store, when events are stored.
    pub fn store(&self) -> Option<&Arc<dyn EventStore>> {
        self.store.as_ref()
    }

    /// Changes whenever events were stored: its value is the newest seq.
    pub fn written(&self) -> watch::Receiver<i64> {
        self.written.subscribe()
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn stored(&self, seq: i64) {
        self.written.send_if_modified(|last| {
            let newer = seq > *last;
            *last = (*last).max(seq);
            newer
        });
    }
}

/// An admin action's event was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The gateway is stopping: the writer takes no more events.
    #[error("the event writer has stopped")]
    Stopped,
    /// The store refused it (the store's message).
    #[error("the event store refused the event: {0}")]
    Store(String),
}

/// An event in the queue; `ack` hears the result of storing it.
pub(crate) struct Queued {
    pub event: Event,
    pub ack: Option<tokio::sync::oneshot::Sender<Result<Option<i64>, String>>>,
}

/// The events of one recorded exchange: one per finding noted, answered
/// with `status`.
pub(crate) fn of_exchange(ex: &Exchange, status: u16) -> impl Iterator<Item = Event> + '_ {
    ex.findings.iter().map(move |noted| {
        let (classified, base) = classify(noted.kind);
        let control = noted
            .detail
            .as_ref()
            .and_then(|d| d.control)
            .unwrap_or(classified);
        let (severity, action) = classify::grade(base, noted.outcome);
        let mut event = Event::new(control, noted.kind, severity, action);
        event.request_id = Some(ex.request_id.as_str().to_string());
        event.api = ex.api.as_ref().map(|a| a.name().to_string());
        event.operation = ex.operation.clone();
        event.consumer = ex.consumer.clone();
        event.client = Some(ex.client.to_string());
        event.method = Some(ex.method.as_str().to_string());
        event.path = Some(ex.path.clone());
        event.status = Some(status);
        if let Some(d) = &noted.detail {
            event.rule = d.rule.clone();
            event.location = d.location.clone();
            event.evidence = d.evidence.clone();
        }
        if event.evidence.is_none()
            && let Some(id) = &ex.credential_id
            && matches!(control, Control::Identity)
        {
            // The presented credential's id: never its secret.
            event.evidence = Some(format!("credential id {id}"));
        }
        event
    })
}

/// The event of an anomaly detector's report: a ban when it imposed one.
pub(crate) fn anomaly(
    api: &str,
    report: &moat_guard::anomaly::SecurityEvent,
    subject: &str,
    reach: &str,
) -> Event {
    use moat_guard::anomaly::EventSubject;
    let (severity, action) = match report.ban {
        Some(_) => (Severity::Critical, Action::Banned),
        None => (Severity::High, Action::Flagged),
    };
    let mut event = Event::new(Control::Anomaly, "anomaly", severity, action);
    event.api = Some(api.to_string());
    event.rule = Some(report.detector.to_string());
    match &report.subject {
        EventSubject::Address { ip, .. } => event.client = Some(ip.to_string()),
        EventSubject::Consumer(c) => event.consumer = Some(c.clone()),
        EventSubject::Credential(_) => {}
    }
    let ban = match report.ban {
        Some(d) => format!("; {subject} banned for {}s ({reach})", d.as_secs()),
        None => String::new(),
    };
    event.evidence = Some(format!(
        "{} ({} in {}s, threshold {}){ban}",
        report.summary, report.observed, report.window_secs, report.threshold
    ));
    event
}

/// The event of a reload that was refused: the previous config serves on.
pub(crate) fn reload_refused(by: &str, error: &crate::ReloadError) -> Event {
    let mut event = Event::new(
        Control::Admin,
        "config-reload-refused",
        Severity::Medium,
        Action::Denied,
    );
    event.actor = Some(by.to_string());
    // The first line: the diagnostic's headline, not the file's contents.
    event.evidence = error
        .to_string()
        .lines()
        .next()
        .map(|l| l.chars().take(300).collect());
    event
}
