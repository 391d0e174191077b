//! Recording an exchange once it is answered: metrics, the access log,
//! traffic counts and security events, in one place for the pipeline and
//! for the listener's own refusals.

use std::time::{Duration, SystemTime};

use super::Shared;
use super::exchange::Exchange;
use crate::access_log::{AccessRecord, millis};
use crate::telemetry;

/// Records `ex`, answered with `status` after `total`.
pub(crate) fn record(
    shared: &Shared,
    ex: &Exchange,
    status: u16,
    arrived: SystemTime,
    total: Duration,
) {
    let api = ex.api_name();
    let operation = ex.operation.as_deref().unwrap_or("-");
    telemetry::request(
        ex.api.as_deref(),
        operation,
        status,
        ex.outcome.as_str(),
        total,
    );
    shared.access_log.log(&AccessRecord {
        time: arrived,
        request_id: ex.request_id.as_str(),
        client: ex.client,
        method: ex.method.as_str(),
        path: &ex.path,
        api,
        operation,
        status,
        upstream_ms: ex.upstream_latency.map(millis),
        total_ms: millis(total),
        verdict: ex.outcome.as_str(),
        finding: ex.finding,
        consumer: ex.consumer.as_deref(),
    });
    shared.traffic.record(ex, arrived);
    if !ex.findings.is_empty() && shared.events.enabled() {
        for event in crate::events::of_exchange(ex, status) {
            shared.events.emit(event);
        }
    }
}
