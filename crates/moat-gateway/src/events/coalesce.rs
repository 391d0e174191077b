//! Repeated events stored as one summary (`events.coalesce`).
//!
//! Events are grouped by address, consumer, kind, API, operation and
//! action (so users who share an address are not counted together). In each
//! group the first `max` events of a window are stored one by one; the
//! rest are counted, and when the window ends one summary event (the last
//! one held back, with `repeats` set to how many were) is stored in their
//! place. A flood of one attack then costs a store write per window, not
//! per request, and cannot push older events out of a store bounded by
//! count or size. Admin actions, detector reports and anything else not
//! tied to a request are never held back.

use std::collections::HashMap;

use moat_state::events::{Action, Control, Event, UnixMillis};

/// Groups tracked at once; past it, events of new groups are stored one
/// by one (so memory stays bounded, and nothing is lost).
pub(crate) const MAX_GROUPS: usize = 10_000;

/// What identifies repeats of one event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Group {
    client: Option<String>,
    consumer: Option<String>,
    kind: String,
    api: Option<String>,
    operation: Option<String>,
    action: Action,
}

#[derive(Debug)]
struct Window {
    started: UnixMillis,
    passed: u32,
    held: u64,
    /// The last event held back: the summary is built from it.
    last: Option<Event>,
}

/// The groups and their windows.
#[derive(Debug)]
pub(crate) struct Coalescer {
    max: u32,
    window_ms: i64,
    groups: HashMap<Group, Window>,
}

impl Coalescer {
    /// At most `max` events of a group stored one by one per `window_ms`.
    pub(crate) fn new(max: u32, window_ms: i64) -> Self {
        Self {
            max,
            window_ms: window_ms.max(1),
            groups: HashMap::new(),
        }
    }

    /// Whether `event` is stored now (`true`) or held back and counted.
    pub(crate) fn admit(&mut self, event: &Event, now: UnixMillis) -> bool {
        if event.request_id.is_none() || matches!(event.control, Control::Admin | Control::Anomaly)
        {
            return true;
        }
        let group = Group {
            client: event.client.clone(),
            consumer: event.consumer.clone(),
            kind: event.kind.clone(),
            api: event.api.clone(),
            operation: event.operation.clone(),
            action: event.action,
        };
        if !self.groups.contains_key(&group) && self.groups.len() >= MAX_GROUPS {
            return true;
        }
        let window = self.groups.entry(group).or_insert(Window {
            started: now,
            passed: 0,
            held: 0,
            last: None,
        });
        if window.passed < self.max {
            window.passed += 1;
            return true;
        }
        window.held += 1;
        window.last = Some(event.clone());
        false
    }

    /// The summaries of the windows that have ended by `now`; those
    /// windows are forgotten.
    pub(crate) fn due(&mut self, now: UnixMillis) -> Vec<Event> {
        self.summaries(now, now)
    }

    /// Every summary still open, whatever its window (at shutdown),
    /// stamped `now`.
    pub(crate) fn all(&mut self, now: UnixMillis) -> Vec<Event> {
        self.summaries(UnixMillis::MAX, now)
    }

    fn summaries(&mut self, ended_by: UnixMillis, now: UnixMillis) -> Vec<Event> {
        let window_ms = self.window_ms;
        let mut out = Vec::new();
        self.groups.retain(|_, w| {
            if ended_by.saturating_sub(w.started) < window_ms {
                return true;
            }
            if let Some(mut summary) = w.last.take() {
                // The summary is the last event held back, standing for
                // itself and `held - 1` more.
                summary.id = Event::new(summary.control, "", summary.severity, summary.action).id;
                summary.time = now;
                summary.request_id = None;
                summary.repeats = Some(w.held - 1);
                summary.evidence = Some(format!(
                    "{} like this in {}s, stored as this one; the last: {}",
                    w.held,
                    window_ms / 1000,
                    summary.evidence.as_deref().unwrap_or("-")
                ));
                out.push(summary);
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_state::events::Severity;

    fn attack(client: &str) -> Event {
        let mut e = Event::new(
            Control::Inspection,
            "attack-detected",
            Severity::High,
            Action::Denied,
        );
        e.request_id = Some("r".into());
        e.client = Some(client.into());
        e.operation = Some("getNote".into());
        e.evidence = Some("sqli@query:q".into());
        e
    }

    #[test]
    fn past_max_a_group_is_counted_and_summed_up_when_its_window_ends() {
        let mut c = Coalescer::new(3, 10_000);
        let admitted: Vec<bool> = (0..10)
            .map(|_| c.admit(&attack("192.0.2.1"), 1_000))
            .collect();
        assert_eq!(
            admitted,
            [
                true, true, true, false, false, false, false, false, false, false
            ]
        );
        // Another address is its own group.
        assert!(c.admit(&attack("192.0.2.2"), 1_000));
        assert!(c.due(5_000).is_empty(), "the window has not ended");
        let due = c.due(11_000);
        assert_eq!(
            due.len(),
            1,
            "one summary; the other group held nothing back"
        );
        assert_eq!(
            due[0].repeats,
            Some(6),
            "7 held back: the summary and 6 more"
        );
        assert_eq!(due[0].client.as_deref(), Some("192.0.2.1"));
        assert!(due[0].request_id.is_none());
        assert!(
            due[0]
                .evidence
                .as_deref()
                .unwrap()
                .starts_with("7 like this in 10s")
        );
        // A new window starts afresh.
        assert!(c.admit(&attack("192.0.2.1"), 11_500));
    }

    #[test]
    fn admin_actions_and_detector_reports_are_never_held_back() {
        let mut c = Coalescer::new(0, 10_000);
        let admin = Event::new(
            Control::Admin,
            "key-created",
            Severity::Info,
            Action::Recorded,
        );
        let mut ban = Event::new(
            Control::Anomaly,
            "anomaly",
            Severity::Critical,
            Action::Banned,
        );
        ban.request_id = Some("r".into());
        for _ in 0..5 {
            assert!(c.admit(&admin, 0) && c.admit(&ban, 0));
        }
        assert!(!c.admit(&attack("192.0.2.1"), 0));
        assert!(!c.admit(&attack("192.0.2.1"), 0));
        let all = c.all(5);
        assert_eq!((all[0].repeats, all[0].time), (Some(1), 5));
    }
}
