//! A webhook that receives alerts: a bounded intake that never blocks,
//! the rate limit, and delivery with retries; both tasks drain on
//! shutdown.

use std::time::Duration;

use bytes::Bytes;
use moat_config::{WebhookConfig, WebhookFormat};
use moat_identity::trust::Trust;
use moat_state::events::{Event, Severity};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::delivery::{Attempt, Backoff, Poster};
use super::format::{Alert, body};
use super::rate::{Admit, Limiter};
use super::{SinkError, SinkKind, least};
use crate::telemetry;

/// Events waiting for the rate limit.
const QUEUE: usize = 1024;
/// Alerts waiting for delivery. The rate limit keeps it short.
const ALERT_QUEUE: usize = 256;

/// The times a webhook works with. The configuration speaks of minutes and
/// seconds; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The rate limit's window.
    pub(crate) window: Duration,
    /// Waits between attempts.
    pub(super) backoff: Backoff,
    /// How long alerts already accepted have at shutdown.
    pub(crate) drain: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(60),
            },
            drain: Duration::from_secs(5),
        }
    }
}

/// What became of an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Taken.
    Queued,
    /// Below the webhook's severity.
    Ignored,
    /// The queue was full (or the webhook stopped): dropped and counted.
    Dropped,
}

/// Why an alert was given up (the `reason` of `moat_alerts_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// A queue was full.
    QueueFull,
    /// The webhook refused it (4xx other than 429).
    Refused,
    /// Every attempt failed.
    RetriesExhausted,
    /// Not delivered before the drain at shutdown ended.
    Shutdown,
    /// The body could not be written.
    Encoding,
}

impl DropReason {
    /// The metric label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Refused => "refused",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::Shutdown => "shutdown",
            DropReason::Encoding => "encoding",
        }
    }
}

fn dropped(reason: DropReason) {
    telemetry::alert_dropped(reason.as_str());
}

/// A running webhook.
pub(crate) struct WebhookSink {
    events: mpsc::Sender<Event>,
    min: Severity,
    tasks: [JoinHandle<()>; 2],
}

impl WebhookSink {
    /// Checks the URL and starts the webhook's tasks. They stop when
    /// `shutdown` turns true (or its sender goes) or when the sink is
    /// dropped, after a bounded drain.
    pub(crate) fn start(
        cfg: &WebhookConfig,
        trust: &Trust,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, SinkError> {
        Self::start_with(cfg, trust, shutdown, Timing::default())
    }

    /// [`WebhookSink::start`] with other times.
    pub(crate) fn start_with(
        cfg: &WebhookConfig,
        trust: &Trust,
        shutdown: watch::Receiver<bool>,
        timing: Timing,
    ) -> Result<Self, SinkError> {
        let poster = Poster::new(&cfg.url, cfg.timeout, trust)?;
        let (events, events_rx) = mpsc::channel(QUEUE);
        let (alerts, alerts_rx) = mpsc::channel(ALERT_QUEUE);
        let limiter = Limiter::new(cfg.max_per_minute, timing.window);
        let intake = tokio::spawn(intake(events_rx, alerts, limiter, shutdown.clone()));
        let deliver = tokio::spawn(
            Deliverer {
                poster,
                format: cfg.format,
                retries: cfg.retries,
                timing,
            }
            .run(alerts_rx, shutdown),
        );
        Ok(Self {
            events,
            min: least(cfg.min_severity),
            tasks: [intake, deliver],
        })
    }

    /// Hands an event to the webhook without waiting: events below its
    /// severity are ignored, and a full queue drops the event (counted).
    pub(crate) fn offer(&self, event: &Event) -> Offer {
        if event.severity < self.min {
            return Offer::Ignored;
        }
        match self.events.try_send(event.clone()) {
            Ok(()) => Offer::Queued,
            Err(_) => {
                dropped(DropReason::QueueFull);
                Offer::Dropped
            }
        }
    }

    /// Stops taking events and waits until the alerts already accepted
    /// are delivered, or given up; with shutdown signalled, that takes at
    /// most the drain time (plus one attempt's timeout).
    pub(crate) async fn finish(self) {
        drop(self.events);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Resolves once shutdown is signalled, or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Moves events through the rate limit into alerts.
async fn intake(
    mut events: mpsc::Receiver<Event>,
    alerts: mpsc::Sender<Alert>,
    mut limiter: Limiter,
    mut shutdown: watch::Receiver<bool>,
) {
    let pass = |alert: Alert| {
        if alerts.try_send(alert).is_err() {
            dropped(DropReason::QueueFull);
        }
    };
    let admit = |limiter: &mut Limiter, event: Event| {
        if let Some(summary) = limiter.tick(Instant::now()) {
            pass(Alert::Summary(summary));
        }
        match limiter.admit(Instant::now(), &event) {
            Admit::Send => pass(Alert::Event(Box::new(event))),
            Admit::Hold => telemetry::alerts_suppressed(1),
        }
    };
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            () = until(limiter.deadline()) => {
                if let Some(summary) = limiter.tick(Instant::now()) {
                    pass(Alert::Summary(summary));
                }
            }
            next = events.recv() => match next {
                Some(event) => admit(&mut limiter, event),
                None => break,
            },
        }
    }
    // Events already taken still go through the limit; what it holds is
    // summed up now rather than when the window ends.
    while let Ok(event) = events.try_recv() {
        admit(&mut limiter, event);
    }
    if let Some(summary) = limiter.take_held() {
        pass(Alert::Summary(summary));
    }
}

/// The end of one delivery.
enum Delivery {
    Sent,
    GivenUp(DropReason),
    /// Shutdown came while waiting to retry.
    Interrupted,
}

/// Delivers alerts one at a time, in order.
struct Deliverer {
    poster: Poster,
    format: WebhookFormat,
    retries: u32,
    timing: Timing,
}

impl Deliverer {
    async fn run(self, mut alerts: mpsc::Receiver<Alert>, mut shutdown: watch::Receiver<bool>) {
        let mut pending = None;
        loop {
            let alert = tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                next = alerts.recv() => match next {
                    Some(alert) => alert,
                    None => return,
                },
            };
            let Some(payload) = self.encode(&alert) else {
                continue;
            };
            match self.deliver(&payload, &mut shutdown).await {
                Delivery::Sent => telemetry::alert_sent(alert.label()),
                Delivery::GivenUp(reason) => dropped(reason),
                Delivery::Interrupted => {
                    pending = Some((alert.label(), payload));
                    break;
                }
            }
        }
        self.drain(pending, alerts).await;
    }

    fn encode(&self, alert: &Alert) -> Option<Bytes> {
        match body(self.format, alert) {
            Ok(payload) => Some(payload),
            Err(e) => {
                tracing::warn!(webhook = %self.poster.host(), error = %e, "alert not encoded");
                dropped(DropReason::Encoding);
                None
            }
        }
    }

    /// The first attempt and up to `retries` more, with backoff; 4xx
    /// other than 429 ends it at once.
    async fn deliver(&self, payload: &Bytes, shutdown: &mut watch::Receiver<bool>) -> Delivery {
        let host = self.poster.host();
        let mut retry = 0;
        loop {
            let result = self.poster.attempt(payload.clone()).await;
            telemetry::event_sink_write(SinkKind::Webhook.as_str(), result == Attempt::Delivered);
            match result {
                Attempt::Delivered => return Delivery::Sent,
                Attempt::Refused(status) => {
                    tracing::warn!(webhook = %host, status, "webhook refused an alert; not retried");
                    return Delivery::GivenUp(DropReason::Refused);
                }
                Attempt::Retry { failure, .. } if retry >= self.retries => {
                    tracing::warn!(webhook = %host, %failure, attempts = retry + 1, "alert dropped: every attempt failed");
                    return Delivery::GivenUp(DropReason::RetriesExhausted);
                }
                Attempt::Retry { failure, after } => {
                    let wait = self.timing.backoff.delay(retry, after);
                    tracing::debug!(webhook = %host, %failure, ?wait, "alert attempt failed; retrying");
                    tokio::select! {
                        biased;
                        () = stopped(shutdown) => return Delivery::Interrupted,
                        () = tokio::time::sleep(wait) => {}
                    }
                    retry += 1;
                }
            }
        }
    }

    /// At shutdown: the alert that was waiting to be retried and those
    /// still queued get one attempt each, within the drain time.
    async fn drain(
        &self,
        pending: Option<(&'static str, Bytes)>,
        mut alerts: mpsc::Receiver<Alert>,
    ) {
        let deadline = Instant::now() + self.timing.drain;
        if let Some((label, payload)) = pending {
            self.last_attempt(label, payload, deadline).await;
        }
        loop {
            match timeout_at(deadline, alerts.recv()).await {
                Ok(Some(alert)) => {
                    if let Some(payload) = self.encode(&alert) {
                        self.last_attempt(alert.label(), payload, deadline).await;
                    }
                }
                Ok(None) => return,
                Err(_) => break,
            }
        }
        alerts.close();
        let mut left = 0;
        while alerts.try_recv().is_ok() {
            dropped(DropReason::Shutdown);
            left += 1;
        }
        if left > 0 {
            tracing::warn!(webhook = %self.poster.host(), left, "alerts dropped at shutdown");
        }
    }

    async fn last_attempt(&self, label: &'static str, payload: Bytes, deadline: Instant) {
        let result = timeout_at(deadline, self.poster.attempt(payload)).await;
        let delivered = matches!(result, Ok(Attempt::Delivered));
        telemetry::event_sink_write(SinkKind::Webhook.as_str(), delivered);
        match result {
            Ok(Attempt::Delivered) => telemetry::alert_sent(label),
            Ok(Attempt::Refused(_)) => dropped(DropReason::Refused),
            Ok(Attempt::Retry { .. }) | Err(_) => {
                tracing::warn!(webhook = %self.poster.host(), "alert dropped at shutdown");
                dropped(DropReason::Shutdown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use moat_config::{EventSeverity, Secret};
    use moat_state::events::{Action, Control};

    use super::super::test_server::{Hook, Reply};
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn config(
        url: &str,
        format: WebhookFormat,
        max_per_minute: u32,
        retries: u32,
    ) -> WebhookConfig {
        WebhookConfig {
            url: Secret::new(url),
            format,
            min_severity: EventSeverity::High,
            max_per_minute,
            timeout: Duration::from_secs(2),
            retries,
        }
    }

    /// Short times: a 400 ms window, 50 ms first backoff, 2 s drain.
    fn fast() -> Timing {
        Timing {
            window: Duration::from_millis(400),
            backoff: Backoff {
                base: Duration::from_millis(50),
                cap: Duration::from_secs(60),
            },
            drain: Duration::from_secs(2),
        }
    }

    fn event(kind: &str, severity: Severity) -> Event {
        let mut e = Event::new(Control::Inspection, kind, severity, Action::Denied);
        e.api = Some("bookstore".into());
        e.operation = Some("getBook".into());
        e.client = Some("203.0.113.7".into());
        e.consumer = Some("alice".into());
        e.status = Some(403);
        e
    }

    fn start(cfg: WebhookConfig, timing: Timing) -> (WebhookSink, watch::Sender<bool>) {
        let (stop, shutdown) = watch::channel(false);
        (
            WebhookSink::start_with(&cfg, &Trust::system().unwrap(), shutdown, timing).unwrap(),
            stop,
        )
    }

    /// The value of one series in the metrics text (0 when absent).
    fn metric(series: &str) -> f64 {
        telemetry::render()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    #[tokio::test]
    async fn json_format_posts_the_event_and_ignores_lesser_severities() {
        let mut hook = Hook::start(vec![], Reply::status(200)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 0), fast());
        assert_eq!(
            sink.offer(&event("probe", Severity::Medium)),
            Offer::Ignored
        );
        let e = event("attack-detected", Severity::Critical);
        assert_eq!(sink.offer(&e), Offer::Queued);
        let got = hook.next(WAIT).await.unwrap();
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        assert_eq!(got.body, serde_json::to_value(&e).unwrap());
        assert!(hook.next(Duration::from_millis(300)).await.is_none());
    }

    #[tokio::test]
    async fn slack_format_posts_one_line_of_text() {
        let mut hook = Hook::start(vec![], Reply::status(200)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Slack, 10, 0), fast());
        sink.offer(&event("attack-detected", Severity::High));
        let got = hook.next(WAIT).await.unwrap();
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        let body = got.body.as_object().unwrap();
        assert_eq!(body.len(), 1, "{body:?}");
        assert_eq!(
            body["text"],
            "moat: HIGH attack-detected on bookstore getBook from 203.0.113.7, consumer alice: denied (403)"
        );
    }

    #[tokio::test]
    async fn a_500_is_retried_after_the_backoff() {
        let mut hook = Hook::start(vec![Reply::status(500)], Reply::status(200)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 3), fast());
        sink.offer(&event("attack-detected", Severity::High));
        let first = hook.next(WAIT).await.unwrap();
        let second = hook.next(WAIT).await.unwrap();
        assert_eq!(first.body, second.body);
        assert!(second.at - first.at >= Duration::from_millis(50));
        // Delivered: no third attempt.
        assert!(hook.next(Duration::from_millis(400)).await.is_none());
    }

    #[tokio::test]
    async fn an_attempt_that_times_out_is_retried() {
        let late = Reply {
            delay: Duration::from_millis(800),
            ..Reply::status(200)
        };
        let mut hook = Hook::start(vec![late], Reply::status(200)).await;
        let cfg = WebhookConfig {
            timeout: Duration::from_millis(200),
            ..config(&hook.url(), WebhookFormat::Json, 10, 3)
        };
        let (sink, _stop) = start(cfg, fast());
        sink.offer(&event("attack-detected", Severity::High));
        let first = hook.next(WAIT).await.unwrap();
        let second = hook.next(WAIT).await.unwrap();
        // Without the timeout the late 200 would have delivered it: a
        // second attempt means the first was given up and retried.
        assert_eq!(first.body, second.body);
        assert!(hook.next(Duration::from_millis(1000)).await.is_none());
    }

    #[tokio::test]
    async fn a_429_waits_as_long_as_retry_after_says() {
        let limited = Reply {
            retry_after: Some("1"),
            ..Reply::status(429)
        };
        let mut hook = Hook::start(vec![limited], Reply::status(200)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 3), fast());
        sink.offer(&event("attack-detected", Severity::High));
        let first = hook.next(WAIT).await.unwrap();
        let second = hook.next(WAIT).await.unwrap();
        assert_eq!(first.body, second.body);
        // The backoff alone would have waited 50 ms.
        assert!(
            second.at - first.at >= Duration::from_millis(950),
            "{:?}",
            second.at - first.at
        );
    }

    #[tokio::test]
    async fn a_400_is_not_retried() {
        let mut hook = Hook::start(vec![Reply::status(400)], Reply::status(200)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 3), fast());
        let refused = event("attack-detected", Severity::High);
        sink.offer(&refused);
        let first = hook.next(WAIT).await.unwrap();
        assert_eq!(first.body["id"], refused.id.as_str());
        assert!(hook.next(Duration::from_millis(400)).await.is_none());
        // The webhook goes on with the next alert.
        let next = event("ownership", Severity::High);
        sink.offer(&next);
        assert_eq!(hook.next(WAIT).await.unwrap().body["id"], next.id.as_str());
    }

    #[tokio::test]
    async fn an_alert_is_given_up_after_its_retries() {
        let mut hook = Hook::start(vec![], Reply::status(503)).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 2), fast());
        sink.offer(&event("attack-detected", Severity::High));
        for _ in 0..3 {
            assert!(hook.next(WAIT).await.is_some());
        }
        assert!(hook.next(Duration::from_millis(600)).await.is_none());
    }

    #[tokio::test]
    async fn a_burst_over_the_rate_limit_is_summed_up_when_the_window_ends() {
        telemetry::install();
        let suppressed_before = metric("moat_alerts_suppressed_total");
        let mut hook = Hook::start(vec![], Reply::status(200)).await;
        let timing = fast();
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 5, 0), timing);
        let burst: Vec<Event> = (0..50)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    "ownership"
                } else {
                    "attack-detected"
                };
                event(kind, Severity::High)
            })
            .collect();
        let offered = Instant::now();
        for e in &burst {
            assert_eq!(sink.offer(e), Offer::Queued);
        }
        for e in &burst[..5] {
            assert_eq!(hook.next(WAIT).await.unwrap().body["id"], e.id.as_str());
        }
        let summary = hook.next(WAIT).await.unwrap();
        assert!(
            summary.at - offered >= timing.window,
            "summary before the window ended"
        );
        assert_eq!(summary.body["kind"], "alerts-suppressed");
        assert_eq!(summary.body["suppressed"], 45);
        // Of the 45 held back (events 5..50), every third is an ownership.
        assert_eq!(summary.body["kinds"]["ownership"], 15);
        assert_eq!(summary.body["kinds"]["attack-detected"], 30);
        assert!(
            summary.body["text"].as_str().unwrap().starts_with(
                "moat: 45 more events suppressed: kinds attack-detected (30), ownership (15)"
            ),
            "{}",
            summary.body
        );
        assert!(hook.next(timing.window * 2).await.is_none());
        assert!(metric("moat_alerts_suppressed_total") - suppressed_before >= 45.0);
    }

    #[tokio::test]
    async fn offering_to_a_full_queue_drops_without_waiting() {
        telemetry::install();
        let dropped_before = metric("moat_alerts_dropped_total{reason=\"queue_full\"}");
        // A webhook that takes ten seconds to answer.
        let slow = Reply {
            delay: Duration::from_secs(10),
            ..Reply::status(200)
        };
        let hook = Hook::start(vec![], slow).await;
        let (sink, _stop) = start(config(&hook.url(), WebhookFormat::Json, 1000, 0), fast());
        let e = event("attack-detected", Severity::High);
        let began = std::time::Instant::now();
        // The test's single-threaded runtime runs no other task while
        // this loop offers: nothing empties the queue.
        let outcomes: Vec<Offer> = (0..3 * QUEUE).map(|_| sink.offer(&e)).collect();
        assert!(
            began.elapsed() < Duration::from_secs(1),
            "{:?}",
            began.elapsed()
        );
        let queued = outcomes.iter().filter(|o| **o == Offer::Queued).count();
        let dropped = outcomes.iter().filter(|o| **o == Offer::Dropped).count();
        assert_eq!((queued, dropped), (QUEUE, 2 * QUEUE));
        let counted = metric("moat_alerts_dropped_total{reason=\"queue_full\"}") - dropped_before;
        assert!(counted >= (2 * QUEUE) as f64, "{counted}");
    }

    #[tokio::test]
    async fn shutdown_gives_accepted_alerts_one_more_attempt() {
        let mut hook = Hook::start(vec![Reply::status(500)], Reply::status(200)).await;
        let timing = Timing {
            backoff: Backoff {
                base: Duration::from_secs(30),
                cap: Duration::from_secs(60),
            },
            ..fast()
        };
        let (sink, stop) = start(config(&hook.url(), WebhookFormat::Json, 10, 5), timing);
        let first = event("attack-detected", Severity::High);
        let second = event("ownership", Severity::High);
        sink.offer(&first);
        sink.offer(&second);
        assert_eq!(hook.next(WAIT).await.unwrap().body["id"], first.id.as_str());
        // Now waiting 30 s to retry; shutdown cuts the wait short.
        let stopped_at = Instant::now();
        stop.send(true).unwrap();
        assert_eq!(hook.next(WAIT).await.unwrap().body["id"], first.id.as_str());
        assert_eq!(
            hook.next(WAIT).await.unwrap().body["id"],
            second.id.as_str()
        );
        sink.finish().await;
        assert!(stopped_at.elapsed() < timing.drain + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_url_is_checked_at_start() {
        let (_stop, shutdown) = watch::channel(false);
        let cfg = config(
            "http://alerts.example.com/secret-path",
            WebhookFormat::Json,
            10,
            0,
        );
        let err = WebhookSink::start(&cfg, &Trust::system().unwrap(), shutdown)
            .err()
            .unwrap();
        assert!(matches!(err, SinkError::WebhookUrl(_)));
        assert!(!err.to_string().contains("secret-path"), "{err}");
    }
}
