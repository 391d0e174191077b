//! Recording an exchange once it is answered: metrics, the access log,
//! traffic counts and security events, in one place for the pipeline and
//! for the listener's own refusals.

use std::time::{Duration, Instant, SystemTime};

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
    record_line(shared, ex, status, arrived, total, false);
}

/// The status logged for a request that got no response (nginx's "client
/// closed request").
pub(crate) const CUT_STATUS: u16 = 499;

/// An exchange being handled: recorded as cut ([`CUT_STATUS`], `"cut":
/// true`) if it is dropped before [`Self::answered`] (the client closed
/// the connection, or the shutdown grace period ended), so every request
/// has its access-log line.
pub(crate) struct Pending<'a> {
    shared: &'a Shared,
    /// The exchange.
    pub ex: Exchange,
    arrived: SystemTime,
    started: Instant,
    answered: bool,
}

impl<'a> Pending<'a> {
    pub(crate) fn new(
        shared: &'a Shared,
        ex: Exchange,
        arrived: SystemTime,
        started: Instant,
    ) -> Self {
        Self {
            shared,
            ex,
            arrived,
            started,
            answered: false,
        }
    }

    /// Records the exchange, answered with `status`.
    pub(crate) fn answered(mut self, status: u16) {
        self.answered = true;
        record(
            self.shared,
            &self.ex,
            status,
            self.arrived,
            self.started.elapsed(),
        );
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            record_line(
                self.shared,
                &self.ex,
                CUT_STATUS,
                self.arrived,
                self.started.elapsed(),
                true,
            );
        }
    }
}

fn record_line(
    shared: &Shared,
    ex: &Exchange,
    status: u16,
    arrived: SystemTime,
    total: Duration,
    cut: bool,
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
        cut,
    });
    shared.traffic.record(ex, arrived);
    if !ex.findings.is_empty() && shared.events.enabled() {
        for event in crate::events::of_exchange(ex, status) {
            shared.events.emit(event);
        }
    }
}
