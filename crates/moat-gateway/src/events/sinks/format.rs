//! What a webhook receives: the event's JSON, or a Slack-compatible
//! `{"text": …}` message with a one-line summary.

use std::fmt::Write as _;

use bytes::Bytes;
use moat_config::WebhookFormat;
use moat_state::events::Event;
use serde_json::json;

use super::rate::Summary;

/// How many kinds a summary names; the rest are counted.
const SUMMARY_KINDS: usize = 10;

/// One alert: an event, or the sum of the events a window held back.
#[derive(Debug, Clone)]
pub(super) enum Alert {
    Event(Box<Event>),
    Summary(Summary),
}

impl Alert {
    /// The `type` label of `moat_alerts_sent_total`.
    pub(super) fn label(&self) -> &'static str {
        match self {
            Alert::Event(_) => "event",
            Alert::Summary(_) => "summary",
        }
    }
}

/// The request body of `alert` in `format`.
pub(super) fn body(format: WebhookFormat, alert: &Alert) -> Result<Bytes, serde_json::Error> {
    let value = match (format, alert) {
        (WebhookFormat::Json, Alert::Event(event)) => {
            return serde_json::to_vec(event).map(Bytes::from);
        }
        (WebhookFormat::Json, Alert::Summary(summary)) => json!({
            "kind": "alerts-suppressed",
            "severity": summary.highest,
            "suppressed": summary.count,
            "kinds": summary.kinds,
            "first": summary.first,
            "last": summary.last,
            "text": summary_line(summary),
        }),
        (WebhookFormat::Slack, Alert::Event(event)) => {
            json!({"text": slack_escape(&event_line(event))})
        }
        (WebhookFormat::Slack, Alert::Summary(summary)) => {
            json!({"text": slack_escape(&summary_line(summary))})
        }
    };
    serde_json::to_vec(&value).map(Bytes::from)
}

/// One line about an event: severity, kind, where, who, what moat did.
/// E.g. `moat: HIGH attack-detected (sqli) on bookstore getBook from
/// 203.0.113.7, consumer alice: denied (403)`.
pub(super) fn event_line(event: &Event) -> String {
    let mut line = format!(
        "moat: {} {}",
        event.severity.as_str().to_ascii_uppercase(),
        event.kind
    );
    if let Some(rule) = &event.rule {
        let _ = write!(line, " ({rule})");
    }
    match (&event.api, &event.operation) {
        (Some(api), Some(operation)) => {
            let _ = write!(line, " on {api} {operation}");
        }
        (Some(api), None) => {
            let _ = write!(line, " on {api}");
        }
        (None, _) => {}
    }
    if let Some(client) = &event.client {
        let _ = write!(line, " from {client}");
    }
    if let Some(consumer) = &event.consumer {
        let _ = write!(line, ", consumer {consumer}");
    }
    if let Some(actor) = &event.actor {
        let _ = write!(line, ", by {actor}");
    }
    let _ = write!(line, ": {}", event.action.as_str());
    if let Some(status) = event.status {
        let _ = write!(line, " ({status})");
    }
    one_line(&line)
}

/// One line about a summary: `moat: 45 more events suppressed: kinds
/// attack-detected (30), shadow-endpoint (15); highest severity high`.
pub(super) fn summary_line(summary: &Summary) -> String {
    let kinds = summary.kinds_by_count();
    let mut line = format!(
        "moat: {} more event{} suppressed: kinds ",
        summary.count,
        if summary.count == 1 { "" } else { "s" }
    );
    for (i, (kind, n)) in kinds.iter().take(SUMMARY_KINDS).enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        let _ = write!(line, "{kind} ({n})");
    }
    if kinds.len() > SUMMARY_KINDS {
        let _ = write!(line, " and {} more", kinds.len() - SUMMARY_KINDS);
    }
    let _ = write!(line, "; highest severity {}", summary.highest.as_str());
    one_line(&line)
}

/// Control characters (line breaks included) become spaces: an alert is
/// one line whatever its fields hold.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Slack reads `<…>` as links and mentions (`<!channel>`) and `&` as the
/// start of an entity; fields that a client influences must not ping a
/// channel or forge a link.
fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use moat_state::events::{Action, Control, Severity};

    use super::*;

    fn event() -> Event {
        let mut e = Event::new(
            Control::Inspection,
            "attack-detected",
            Severity::High,
            Action::Denied,
        );
        e.api = Some("bookstore".into());
        e.operation = Some("getBook".into());
        e.client = Some("203.0.113.7".into());
        e.consumer = Some("alice".into());
        e.rule = Some("sqli".into());
        e.status = Some(403);
        e
    }

    #[test]
    fn an_event_line_names_severity_kind_operation_client_consumer_and_action() {
        assert_eq!(
            event_line(&event()),
            "moat: HIGH attack-detected (sqli) on bookstore getBook from 203.0.113.7, consumer alice: denied (403)"
        );
        let mut admin = Event::new(
            Control::Admin,
            "key-created",
            Severity::Info,
            Action::Recorded,
        );
        admin.actor = Some("token:ops".into());
        assert_eq!(
            event_line(&admin),
            "moat: INFO key-created, by token:ops: recorded"
        );
    }

    #[test]
    fn slack_text_cannot_mention_a_channel_or_break_lines() {
        let mut e = event();
        e.consumer = Some("<!channel> & <https://evil.example|click>\nsecond line".into());
        let body = body(WebhookFormat::Slack, &Alert::Event(Box::new(e))).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = value["text"].as_str().unwrap();
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains('\n'),
            "{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; second line"),
            "{text}"
        );
    }

    #[test]
    fn a_summary_names_the_most_frequent_kinds_first() {
        let summary = Summary {
            count: 45,
            kinds: [
                ("shadow-endpoint".to_string(), 15),
                ("attack-detected".to_string(), 30),
            ]
            .into_iter()
            .collect(),
            highest: Severity::Critical,
            first: 1,
            last: 2,
        };
        assert_eq!(
            summary_line(&summary),
            "moat: 45 more events suppressed: kinds attack-detected (30), shadow-endpoint (15); highest severity critical"
        );
        let body = body(WebhookFormat::Json, &Alert::Summary(summary)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["suppressed"], 45);
        assert_eq!(value["kinds"]["attack-detected"], 30);
        assert_eq!(value["severity"], "critical");
    }
}
