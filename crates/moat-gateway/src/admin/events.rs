//! Events: a filtered page, one event, the live stream, and the overview.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_state::events::{
    Action, Control, Cursor, EventQuery, Severity, StoredEvent, unix_millis_now,
};
use serde_json::json;

use super::guard::AdminQuery;
use super::{AdminState, json, problem};

/// Default page size.
const PAGE: u32 = 100;

/// How often a quiet stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The filters of a query (validated by the guard against the document).
fn filters(q: &AdminQuery) -> EventQuery {
    let int = |name| q.get(name).and_then(|v| v.parse::<i64>().ok());
    let text = |name| q.get(name).map(str::to_string);
    let cursor = match (int("before"), int("after")) {
        (Some(b), _) => Cursor::Before(b),
        (None, Some(a)) => Cursor::After(a),
        (None, None) => Cursor::Newest,
    };
    EventQuery {
        since: int("since"),
        until: int("until"),
        api: text("api"),
        operation: text("operation"),
        consumer: text("consumer"),
        client: text("client"),
        control: q.get("control").and_then(Control::parse),
        kind: text("kind"),
        min_severity: q.get("severity").and_then(Severity::parse),
        action: q.get("action").and_then(Action::parse),
        cursor,
        limit: int("limit")
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(PAGE),
    }
}

fn no_store() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "events-off",
        "security events are not stored (events.enabled or events.store.enabled is off)",
    )
}

fn unavailable(e: &moat_state::StoreError) -> Response {
    tracing::error!(error = %e, "cannot read security events");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "state-unavailable",
        "the event store cannot be read now",
    )
}

/// `GET /admin/events`.
pub(crate) async fn list(
    State(s): State<Arc<AdminState>>,
    Extension(q): Extension<AdminQuery>,
) -> Response {
    let Some(store) = s.shared.events.store() else {
        return no_store();
    };
    match store.query(&filters(&q)).await {
        Ok(page) => json(StatusCode::OK, &json!(page)),
        Err(e) => unavailable(&e),
    }
}

/// `GET /admin/events/{id}`.
pub(crate) async fn one(State(s): State<Arc<AdminState>>, Path(id): Path<String>) -> Response {
    let Some(store) = s.shared.events.store() else {
        return no_store();
    };
    match store.get(&id).await {
        Ok(Some(event)) => json(StatusCode::OK, &json!(event)),
        Ok(None) => problem(StatusCode::NOT_FOUND, "not-found", "no event has this id"),
        Err(e) => unavailable(&e),
    }
}

/// `GET /admin/events/stream`: server-sent events, from `Last-Event-ID`
/// or `after` (default: the newest stored now), each event once, in
/// order, until the client leaves or the gateway stops.
pub(crate) async fn stream(
    State(s): State<Arc<AdminState>>,
    Extension(q): Extension<AdminQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(store) = s.shared.events.store().cloned() else {
        return no_store();
    };
    let mut query = filters(&q);
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let start = match resume.or(match query.cursor {
        Cursor::After(a) => Some(a),
        _ => None,
    }) {
        Some(a) => a,
        None => *s.shared.events.written().borrow(),
    };
    query.limit = PAGE;
    let written = s.shared.events.written();
    let shutdown = s.shutdown.clone();
    let state = Stream {
        store,
        query,
        last: start,
        written,
        shutdown,
        done: false,
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        let chunk = st.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), st))
    });
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

struct Stream {
    store: Arc<dyn moat_state::events::EventStore>,
    query: EventQuery,
    last: i64,
    written: tokio::sync::watch::Receiver<i64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

impl Stream {
    /// The next piece of the stream; `None` ends it.
    async fn next(&mut self) -> Option<bytes::Bytes> {
        if self.done || *self.shutdown.borrow() {
            return None;
        }
        loop {
            self.query.cursor = Cursor::After(self.last);
            match self.store.query(&self.query).await {
                Ok(page) if !page.events.is_empty() => {
                    let mut out = String::new();
                    for e in &page.events {
                        self.last = self.last.max(e.seq);
                        out.push_str(&message(e));
                    }
                    return Some(out.into());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: cannot read the store");
                    self.done = true;
                    return Some(bytes::Bytes::from_static(b"event: error\ndata: {}\n\n"));
                }
            }
            // Nothing newer that matches: wait for a write, a stop, or
            // the keep-alive.
            tokio::select! {
                changed = self.written.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.shutdown.changed() => return None,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some(bytes::Bytes::from_static(b": keep-alive\n\n"));
                }
            }
        }
    }
}

/// One SSE message. JSON has no raw newlines, so `data` is one line.
fn message(e: &StoredEvent) -> String {
    format!(
        "id: {}\nevent: security-event\ndata: {}\n\n",
        e.seq,
        serde_json::to_string(e).unwrap_or_else(|_| "{}".into())
    )
}

/// `GET /admin/overview?window=1h`.
pub(crate) async fn overview(
    State(s): State<Arc<AdminState>>,
    Extension(q): Extension<AdminQuery>,
) -> Response {
    let (window_ms, bucket_ms): (i64, i64) = match q.get("window").unwrap_or("1h") {
        "15m" => (15 * 60_000, 60_000),
        "6h" => (6 * 3_600_000, 10 * 60_000),
        "24h" => (24 * 3_600_000, 30 * 60_000),
        _ => (3_600_000, 60_000),
    };
    let now = unix_millis_now();
    let since = now - window_ms;
    let minutes = s.shared.traffic.minutes_since(since, now);
    // Requests by outcome, summed into the window's buckets.
    let mut series: Vec<crate::traffic::MinuteCounts> = Vec::new();
    for m in minutes {
        let start = m.start - m.start.rem_euclid(bucket_ms);
        match series.last_mut() {
            Some(last) if last.start == start => {
                last.requests += m.requests;
                last.allowed += m.allowed;
                last.flagged += m.flagged;
                last.monitored += m.monitored;
                last.denied += m.denied;
            }
            _ => series.push(crate::traffic::MinuteCounts { start, ..m }),
        }
    }
    let requests: u64 = series.iter().map(|m| m.requests).sum();
    let denied: u64 = series.iter().map(|m| m.denied).sum();
    let summary = match s.shared.events.store() {
        Some(store) => match store.summary(since, bucket_ms, 10).await {
            Ok(summary) => summary,
            Err(e) => return unavailable(&e),
        },
        None => Default::default(),
    };
    // Denials by reason, one entry per bucket that had any.
    let mut by_bucket: Vec<(i64, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    for k in &summary.denials {
        match by_bucket.last_mut() {
            Some((start, counts)) if *start == k.start => {
                counts.insert(k.kind.clone(), json!(k.count));
            }
            _ => {
                let mut counts = serde_json::Map::new();
                counts.insert(k.kind.clone(), json!(k.count));
                by_bucket.push((k.start, counts));
            }
        }
    }
    let denials_by_reason: Vec<_> = by_bucket
        .into_iter()
        .map(|(start, counts)| json!({"start": start, "counts": counts}))
        .collect();
    json(
        StatusCode::OK,
        &json!({
            "window_ms": window_ms,
            "bucket_ms": bucket_ms,
            "series": series,
            "denials_by_reason": denials_by_reason,
            "top_operations": summary.top_operations,
            "top_clients": summary.top_clients.iter()
                .map(|c| json!({"client": c.name, "events": c.events})).collect::<Vec<_>>(),
            "top_consumers": summary.top_consumers.iter()
                .map(|c| json!({"consumer": c.name, "events": c.events})).collect::<Vec<_>>(),
            "totals": {
                "requests": requests,
                "denied": denied,
                "events": summary.events,
                "events_dropped": s.shared.events.dropped(),
            },
        }),
    )
}
