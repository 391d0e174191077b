//! Prometheus metrics: what happened to requests, per API and operation.
//!
//! Label values are bounded: API names and operation ids come from config and
//! documents, never from the request (undocumented paths are `-`).

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram, SharedString, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Buckets for latency histograms, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder once and returns its handle; `None` if
/// another recorder was installed by the embedding program.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Keeps histogram memory bounded; call every few seconds.
pub fn upkeep() {
    if let Some(Some(h)) = HANDLE.get() {
        h.run_upkeep();
    }
}

/// The metrics text, or an explanation when no recorder is ours.
pub fn render() -> String {
    match HANDLE.get() {
        Some(Some(h)) => h.render(),
        _ => "# metrics recorder not installed\n".to_string(),
    }
}

/// An API's name and the handles of its per-API metrics, registered once
/// when the runtime is built (a handle records without looking its labels
/// up in the registry).
#[derive(Debug)]
pub struct ApiTelemetry {
    name: Arc<str>,
    request_duration: Histogram,
    upstream_duration: Histogram,
    /// `moat_requests_total` handles by operation, then by status and
    /// verdict: registered on first use, so that a request records with a
    /// read lock and no allocation. Bounded by the document's operations
    /// (plus `-`) times the statuses and verdicts that occur.
    requests: RwLock<RequestCounters>,
}

/// `moat_requests_total` handles: operation → (status, verdict, handle).
type RequestCounters = foldhash::HashMap<Box<str>, Vec<(u16, &'static str, Counter)>>;

impl ApiTelemetry {
    /// Registers the metrics of API `name`, served by `upstream`.
    pub fn new(name: &str, upstream: &str) -> Self {
        let name: Arc<str> = Arc::from(name);
        Self {
            request_duration: histogram!("moat_request_duration_seconds",
                "api" => SharedString::from_shared(name.clone())),
            upstream_duration: histogram!("moat_upstream_duration_seconds",
                "api" => SharedString::from_shared(name.clone()),
                "upstream" => upstream.to_string()),
            name,
            requests: RwLock::default(),
        }
    }

    /// The `moat_requests_total` handle of one label set.
    fn requests_total(&self, operation: &str, status: u16, verdict: &'static str) -> Counter {
        let find = |by_operation: &RequestCounters| {
            by_operation.get(operation).and_then(|known| {
                known
                    .iter()
                    .find(|(s, v, _)| *s == status && *v == verdict)
                    .map(|(_, _, c)| c.clone())
            })
        };
        if let Some(found) = self.requests.read().ok().as_deref().and_then(find) {
            return found;
        }
        let counter = counter!("moat_requests_total",
            "api" => SharedString::from_shared(self.name.clone()),
            "operation" => operation.to_string(),
            "status" => status.to_string(), "verdict" => verdict);
        if let Ok(mut by_operation) = self.requests.write() {
            by_operation.entry(operation.into()).or_default().push((
                status,
                verdict,
                counter.clone(),
            ));
        }
        counter
    }

    /// The API's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time the upstream took to answer with a response head.
    pub fn upstream_latency(&self, took: Duration) {
        self.upstream_duration.record(took.as_secs_f64());
    }
}

/// One finished request (response head sent); `api` is `None` for requests
/// that reached no API.
pub fn request(
    api: Option<&ApiTelemetry>,
    operation: &str,
    status: u16,
    verdict: &'static str,
    total: Duration,
) {
    match api {
        Some(a) => {
            a.requests_total(operation, status, verdict).increment(1);
            a.request_duration.record(total.as_secs_f64());
        }
        None => {
            let name = SharedString::const_str("-");
            counter!("moat_requests_total",
                "api" => name.clone(), "operation" => operation.to_string(),
                "status" => status.to_string(), "verdict" => verdict)
            .increment(1);
            histogram!("moat_request_duration_seconds", "api" => name).record(total.as_secs_f64());
        }
    }
}

/// An upstream call that failed.
pub fn upstream_error(api: &str, upstream: &str, kind: &'static str) {
    counter!("moat_upstream_errors_total",
        "api" => api.to_string(), "upstream" => upstream.to_string(), "kind" => kind)
    .increment(1);
}

/// A finding: `action` is `denied`, `monitored` (would have been denied) or
/// `flagged`.
pub fn finding(api: &str, reason: &'static str, action: &'static str) {
    counter!("moat_findings_total", "api" => api.to_string(), "reason" => reason, "action" => action)
        .increment(1);
    if action == "denied" {
        counter!("moat_denials_total", "api" => api.to_string(), "reason" => reason).increment(1);
    }
}

/// A config reload attempt: `result` is `success` or `failure`.
pub fn reload(result: &'static str) {
    counter!("moat_config_reloads_total", "result" => result).increment(1);
}

/// Open client connections on a listener.
pub fn connections(listener: &str, delta: f64) {
    gauge!("moat_connections_active", "listener" => listener.to_string()).increment(delta);
}

/// A client connection closed as soon as it was accepted: `reason` is
/// `per_client_limit` (the client address already holds
/// `max_connections_per_client` connections).
pub fn connection_refused(listener: &str, reason: &'static str) {
    counter!("moat_connections_refused_total",
        "listener" => listener.to_string(), "reason" => reason)
    .increment(1);
}

/// A rate-limit or quota store that could not be reached.
pub fn limit_backend_error(api: &str) {
    counter!("moat_ratelimit_backend_errors_total", "api" => api.to_string()).increment(1);
}

/// The rate limiter's state: keys tracked in memory, live keys evicted so
/// far (counter, as a gauge of the total) and whether the shared backend
/// answers (1) or not (0).
pub fn limiter_state(keys: usize, evicted_live: u64, backend_up: bool) {
    gauge!("moat_ratelimit_keys").set(keys as f64);
    gauge!("moat_ratelimit_evicted_live").set(evicted_live as f64);
    gauge!("moat_ratelimit_backend_up").set(if backend_up { 1.0 } else { 0.0 });
}

/// A security event from an anomaly detector.
pub fn security_event(detector: &'static str) {
    counter!("moat_security_events_total", "detector" => detector).increment(1);
}

/// The `(api, scheme)` pairs whose weak-secret gauge is set, so a reload
/// that ends an override removes its series.
static WEAK_SECRET_SERIES: std::sync::Mutex<Vec<(String, String)>> =
    std::sync::Mutex::new(Vec::new());

/// A weak JWT secret accepted under `weak_secret_until`: the gauge is the
/// override's end, in Unix seconds.
pub fn weak_secret_override(api: &str, scheme: &str, until_unix: u64) {
    gauge!("moat_jwt_weak_secret_override_until_seconds",
        "api" => api.to_string(), "scheme" => scheme.to_string())
    .set(until_unix as f64);
    WEAK_SECRET_SERIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((api.to_string(), scheme.to_string()));
}

/// Sets every weak-secret gauge set so far to 0 (no override in force).
pub fn clear_weak_secret_overrides() {
    let mut series = WEAK_SECRET_SERIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (api, scheme) in series.drain(..) {
        gauge!("moat_jwt_weak_secret_override_until_seconds",
            "api" => api, "scheme" => scheme)
        .set(0.0);
    }
}
