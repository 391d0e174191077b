//! Where security events go besides the store: JSON lines
//! ([`JsonLinesSink`], to a file or standard output) and alerts posted to
//! webhooks ([`WebhookSink`], JSON or Slack-compatible, with retries and a
//! rate limit that sums up what it holds back).
//!
//! Neither ever delays a request: the file sink is written by whoever
//! drains the event queue, and a webhook takes events through a bounded
//! channel that drops (and counts) what does not fit.

mod delivery;
mod format;
mod json_lines;
mod rate;
#[cfg(test)]
mod test_server;
mod webhook;

pub(crate) use delivery::check_url;
pub(crate) use json_lines::JsonLinesSink;
pub(crate) use webhook::WebhookSink;

use moat_config::EventSeverity;
use moat_state::events::Severity;

/// Why a sink could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkError {
    /// The events file could not be opened.
    #[error("cannot open the events file {target}: {source}")]
    Open {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing (or flushing) the JSON lines failed.
    #[error("cannot write events: {0}")]
    Write(#[source] std::io::Error),
    /// An event could not be written as JSON.
    #[error("cannot write an event as JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The webhook URL is not usable. The URL is a secret: the message
    /// never quotes it.
    #[error("webhook URL: {0}")]
    WebhookUrl(&'static str),
    /// The HTTP client could not be built.
    #[error("webhook HTTP client: {0}")]
    HttpClient(String),
}

/// The least severity a sink configured with `min` takes.
pub(crate) fn least(min: EventSeverity) -> Severity {
    match min {
        EventSeverity::Info => Severity::Info,
        EventSeverity::Low => Severity::Low,
        EventSeverity::Medium => Severity::Medium,
        EventSeverity::High => Severity::High,
        EventSeverity::Critical => Severity::Critical,
    }
}

/// The label of a sink in `moat_event_sink_*` metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkKind {
    /// JSON lines to a file or standard output.
    File,
    /// A webhook.
    Webhook,
}

impl SinkKind {
    /// The metric label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SinkKind::File => "file",
            SinkKind::Webhook => "webhook",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_severity_maps_to_the_same_rank() {
        let configured = [
            EventSeverity::Info,
            EventSeverity::Low,
            EventSeverity::Medium,
            EventSeverity::High,
            EventSeverity::Critical,
        ];
        for (configured, severity) in configured.into_iter().zip(Severity::ALL) {
            assert_eq!(least(configured), severity);
        }
    }
}
