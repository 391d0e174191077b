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

/// The kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric family moat records: name, kind and the `# HELP` text
/// (the meaning column of the metrics table in docs/configuration.md).
const FAMILIES: [(&str, Kind, &str); 28] = [
    ("moat_requests_total", Kind::Counter, "Requests answered."),
    (
        "moat_jwt_weak_secret_override_until_seconds",
        Kind::Gauge,
        "End of a `weak_secret_until` override in force (Unix seconds); 0 once the scheme has none.",
    ),
    (
        "moat_request_duration_seconds",
        Kind::Histogram,
        "Request head to response head.",
    ),
    (
        "moat_upstream_duration_seconds",
        Kind::Histogram,
        "Time the upstream took to send its response head.",
    ),
    (
        "moat_upstream_errors_total",
        Kind::Counter,
        "Failed upstream calls (after retries).",
    ),
    (
        "moat_upstream_target_up",
        Kind::Gauge,
        "Whether an upstream target is marked up (1) or down (0) by its health checks.",
    ),
    (
        "moat_denials_total",
        Kind::Counter,
        "Requests denied (enforce mode).",
    ),
    (
        "moat_findings_total",
        Kind::Counter,
        "Everything a guard noticed, including what monitor mode let through.",
    ),
    (
        "moat_config_reloads_total",
        Kind::Counter,
        "Reload attempts.",
    ),
    (
        "moat_connections_active",
        Kind::Gauge,
        "Open client connections.",
    ),
    (
        "moat_access_log_dropped_total",
        Kind::Counter,
        "Access-log lines dropped because the writer fell behind.",
    ),
    (
        "moat_security_events_total",
        Kind::Counter,
        "Security events reported by the anomaly detectors.",
    ),
    (
        "moat_connections_refused_total",
        Kind::Counter,
        "Connections closed at accept (`per_client_limit`).",
    ),
    (
        "moat_ratelimit_keys",
        Kind::Gauge,
        "Keys the in-memory rate limiter tracks.",
    ),
    (
        "moat_ratelimit_evicted_live",
        Kind::Gauge,
        "Keys dropped so far before they ran out, because the limiter was full (`rate_limiting.max_keys`).",
    ),
    (
        "moat_ratelimit_backend_up",
        Kind::Gauge,
        "1 while the shared rate-limit backend (Redis) answers, else 0 (always 1 without one).",
    ),
    (
        "moat_ratelimit_backend_errors_total",
        Kind::Counter,
        "Limit decisions that could not reach their store.",
    ),
    (
        "moat_events_total",
        Kind::Counter,
        "Security events queued for the event store and sinks.",
    ),
    (
        "moat_anomaly_touches_dropped_total",
        Kind::Counter,
        "Anomaly observations not counted cluster-wide because the queue to Redis was full (they still count on their node).",
    ),
    (
        "moat_events_dropped_total",
        Kind::Counter,
        "Security events dropped because the event queue was full.",
    ),
    (
        "moat_events_store_failures_total",
        Kind::Counter,
        "Security events the event store could not write.",
    ),
    (
        "moat_event_sink_writes_total",
        Kind::Counter,
        "Successful writes by an event sink: a batch of JSON lines, or a webhook post answered 2xx.",
    ),
    (
        "moat_event_sink_failures_total",
        Kind::Counter,
        "Failed writes by an event sink: a batch of JSON lines, or a webhook post attempt (retries count).",
    ),
    (
        "moat_alerts_sent_total",
        Kind::Counter,
        "Alerts delivered to webhooks.",
    ),
    (
        "moat_alerts_suppressed_total",
        Kind::Counter,
        "Events over a webhook's `max_per_minute`, summed up in one alert instead.",
    ),
    (
        "moat_alerts_dropped_total",
        Kind::Counter,
        "Alerts given up.",
    ),
    (
        "moat_key_cache_lookups_total",
        Kind::Counter,
        "API key lookups by where the record came from: `hit` (the cache), `miss` (the state store), `stale` (the cache, while the store failed).",
    ),
    (
        "moat_events_buffered",
        Kind::Gauge,
        "Security events held in memory because the event store could not take them; written when it recovers.",
    ),
];

/// The name of every metric family moat records.
pub fn metric_names() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|(name, _, _)| *name)
}

/// Installs the process-wide recorder once and returns its handle; `None` if
/// another recorder was installed by the embedding program. Every family
/// is described, so the exposition has a `# HELP` line for each.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            for (name, kind, help) in FAMILIES {
                match kind {
                    Kind::Counter => metrics::describe_counter!(name, help),
                    Kind::Gauge => metrics::describe_gauge!(name, help),
                    Kind::Histogram => metrics::describe_histogram!(name, help),
                }
            }
            Some(handle)
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
    /// Traffic counts by operation index, for the admin API's inventory.
    operations: Vec<Arc<crate::traffic::OperationStats>>,
}

/// `moat_requests_total` handles: operation → (status, verdict, handle).
type RequestCounters = foldhash::HashMap<Box<str>, Vec<(u16, &'static str, Counter)>>;

impl ApiTelemetry {
    /// Registers the metrics of API `name`, served by `upstream`, whose
    /// operations (in table order) are `operations`.
    pub fn new<'a>(
        name: &str,
        upstream: &str,
        operations: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let operations = operations
            .into_iter()
            .map(|op| crate::traffic::operation_stats(name, op))
            .collect();
        let name: Arc<str> = Arc::from(name);
        Self {
            request_duration: histogram!("moat_request_duration_seconds",
                "api" => SharedString::from_shared(name.clone())),
            upstream_duration: histogram!("moat_upstream_duration_seconds",
                "api" => SharedString::from_shared(name.clone()),
                "upstream" => upstream.to_string()),
            name,
            requests: RwLock::default(),
            operations,
        }
    }

    /// The traffic counts of the operation at `index`.
    pub fn operation_stats(&self, index: usize) -> Option<&crate::traffic::OperationStats> {
        self.operations.get(index).map(|s| &**s)
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

/// An upstream target marked up or down by its health checks.
pub fn upstream_target_state(upstream: &str, target: &str, up: bool) {
    gauge!("moat_upstream_target_up",
        "upstream" => upstream.to_string(), "target" => target.to_string())
    .set(if up { 1.0 } else { 0.0 });
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

/// A security event queued.
pub fn event_queued(control: &'static str, action: &'static str) {
    counter!("moat_events_total", "control" => control, "action" => action).increment(1);
}

/// An anomaly observation not counted cluster-wide: the queue was full.
pub fn anomaly_touch_dropped() {
    counter!("moat_anomaly_touches_dropped_total").increment(1);
}

/// A security event dropped: the queue was full.
pub fn event_dropped() {
    counter!("moat_events_dropped_total").increment(1);
}

/// Security events the store could not write.
pub fn events_store_failed(n: usize) {
    counter!("moat_events_store_failures_total").increment(n as u64);
}

/// Where an API key's record came from.
pub fn key_lookup(lookup: moat_state::KeyLookup) {
    let outcome = match lookup {
        moat_state::KeyLookup::Hit => "hit",
        moat_state::KeyLookup::Miss => "miss",
        moat_state::KeyLookup::Stale => "stale",
    };
    counter!("moat_key_cache_lookups_total", "outcome" => outcome).increment(1);
}

/// Security events waiting for the store to recover.
pub fn events_buffered(n: usize) {
    gauge!("moat_events_buffered").set(n as f64);
}

/// A security event from an anomaly detector.
pub fn security_event(detector: &'static str) {
    counter!("moat_security_events_total", "detector" => detector).increment(1);
}

/// A write by an event sink (`file` or `webhook`), successful or not.
pub fn event_sink_write(sink: &'static str, ok: bool) {
    if ok {
        counter!("moat_event_sink_writes_total", "sink" => sink).increment(1);
    } else {
        counter!("moat_event_sink_failures_total", "sink" => sink).increment(1);
    }
}

/// An alert delivered to a webhook: `kind` is `event` or `summary`.
pub fn alert_sent(kind: &'static str) {
    counter!("moat_alerts_sent_total", "type" => kind).increment(1);
}

/// Events held back by a webhook's rate limit, to be summed up.
pub fn alerts_suppressed(events: u64) {
    counter!("moat_alerts_suppressed_total").increment(events);
}

/// An alert given up, and why (`queue_full`, `refused`,
/// `retries_exhausted`, `shutdown`, `encoding`).
pub fn alert_dropped(reason: &'static str) {
    counter!("moat_alerts_dropped_total", "reason" => reason).increment(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The metrics table of the configuration reference, as
    /// (name, type, meaning).
    fn documented() -> Vec<(String, String, String)> {
        let doc = include_str!("../../../docs/configuration.md");
        let section = doc.split("## Metrics").nth(1).unwrap_or_default();
        section
            .lines()
            .filter(|l| l.starts_with("| `moat_"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let name = cells[0].trim_start_matches("| ").trim_matches('`');
                let meaning = cells[3].trim_end_matches(" |");
                (name.to_string(), cells[1].to_string(), meaning.to_string())
            })
            .collect()
    }

    #[test]
    fn every_family_is_described_as_documented() {
        let documented = documented();
        assert_eq!(documented.len(), FAMILIES.len(), "{documented:?}");
        for (name, kind, help) in FAMILIES {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            assert!(
                documented
                    .iter()
                    .any(|(n, k, m)| n == name && k == kind && m == help),
                "{name} ({kind}): `{help}` is not in docs/configuration.md"
            );
        }
    }

    #[test]
    fn every_family_renders_with_help_and_type() {
        assert!(install().is_some());
        for (name, kind, _) in FAMILIES {
            // Touching a family makes it appear, without changing a value
            // another test may read.
            match kind {
                Kind::Counter => counter!(name).increment(0),
                Kind::Gauge => gauge!(name).increment(0.0),
                Kind::Histogram => histogram!(name).record(0.0),
            }
        }
        let text = render();
        for (name, kind, help) in FAMILIES {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            // The exporter escapes backslashes and line breaks only.
            assert!(
                text.contains(&format!("# HELP {name} {help}\n")),
                "no HELP for {name}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "no TYPE for {name}:\n{text}"
            );
        }
    }

    /// The metric names a PromQL expression reads: words starting with
    /// `moat_`, histogram series (`_bucket`, `_sum`, `_count`) as their
    /// family.
    fn metrics_in(expr: &str) -> Vec<&str> {
        let mut names = Vec::new();
        for (at, _) in expr.match_indices("moat_") {
            let before = expr[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &expr[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|f| {
                    FAMILIES
                        .iter()
                        .any(|(n, k, _)| n == f && *k == Kind::Histogram)
                })
                .unwrap_or(name);
            names.push(family);
        }
        names
    }

    /// Every PromQL expression of a dashboard: panel targets (rows'
    /// panels included) and template variable queries.
    fn expressions(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(e)) => {
                            out.push(e.clone())
                        }
                        ("query", serde_json::Value::String(e)) if e.contains("moat_") => {
                            out.push(e.clone())
                        }
                        _ => expressions(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_grafana_dashboard_reads_only_metrics_moat_records_and_shows_them_all() {
        let text = include_str!("../../../deploy/grafana/moat.json");
        let dashboard: serde_json::Value = serde_json::from_str(text).unwrap();
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        assert!(
            variables.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "no `datasource` variable of type prometheus"
        );
        let mut exprs = Vec::new();
        expressions(&dashboard, &mut exprs);
        assert!(exprs.len() > 20, "{exprs:?}");
        let names: Vec<&str> = metric_names().collect();
        let mut shown = std::collections::BTreeSet::new();
        for expr in &exprs {
            let used = metrics_in(expr);
            assert!(!used.is_empty(), "`{expr}` reads no moat metric");
            for name in used {
                assert!(
                    names.contains(&name),
                    "`{name}` in `{expr}` is not a metric moat records"
                );
                shown.insert(name);
            }
            for (open, close) in [('(', ')'), ('{', '}'), ('[', ']')] {
                assert_eq!(
                    expr.matches(open).count(),
                    expr.matches(close).count(),
                    "unbalanced `{open}{close}` in `{expr}`"
                );
            }
        }
        for name in names {
            assert!(
                shown.contains(name),
                "`{name}` has no panel: add one to deploy/grafana/moat.json"
            );
        }
        // Every panel queries through the datasource variable.
        let mut panels: Vec<&serde_json::Value> = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            panels.push(panel);
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        }
        let mut ids = std::collections::BTreeSet::new();
        for panel in panels {
            assert!(
                ids.insert(panel["id"].as_u64().unwrap()),
                "duplicate panel id"
            );
            if panel["type"] != "row" {
                assert_eq!(
                    panel["datasource"]["uid"], "${datasource}",
                    "{}",
                    panel["title"]
                );
                for target in panel["targets"].as_array().unwrap() {
                    assert_eq!(
                        target["datasource"]["uid"], "${datasource}",
                        "{}",
                        panel["title"]
                    );
                }
            }
        }
    }

    #[test]
    fn metric_names_in_expressions_are_found_whole() {
        assert_eq!(
            metrics_in(
                "histogram_quantile(0.9, sum by (le) (rate(moat_request_duration_seconds_bucket[5m]))) / xmoat_y"
            ),
            ["moat_request_duration_seconds"]
        );
        // Only histograms have series of their own: a counter's name
        // with `_bucket` is not a moat metric. (Built with `concat!` so
        // that the scan of this file for recorded names skips it.)
        let not_a_series = concat!("moat_requests_total", "_bucket");
        assert_eq!(
            metrics_in(&format!("{not_a_series} + moat_alerts_sent_total")),
            [not_a_series, "moat_alerts_sent_total"]
        );
    }

    #[test]
    fn every_recorded_family_is_listed() {
        let sources = [include_str!("telemetry.rs"), include_str!("access_log.rs")];
        let mut seen = 0;
        for source in sources {
            for (at, _) in source.match_indices("\"moat_") {
                let rest = &source[at + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(rest.len());
                let used = &rest[..end];
                if used.len() > "moat_".len() && rest[end..].starts_with('"') {
                    seen += 1;
                    assert!(
                        FAMILIES.iter().any(|(n, _, _)| *n == used),
                        "`{used}` has no `# HELP`"
                    );
                }
            }
        }
        assert!(seen > FAMILIES.len(), "{seen}");
    }
}
