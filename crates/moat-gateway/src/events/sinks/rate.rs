//! A webhook's rate limit: at most `max` alerts a window; the events over
//! it are held and summed up in one alert when the window ends.

use std::collections::BTreeMap;
use std::time::Duration;

use moat_state::events::{Event, Severity, UnixMillis};
use tokio::time::Instant;

/// Whether an event goes out as an alert of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Within the window's budget: send it.
    Send,
    /// Over it: held for the window's summary.
    Hold,
}

/// The events held back in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Summary {
    /// How many.
    pub(super) count: u64,
    /// How many of each kind.
    pub(super) kinds: BTreeMap<String, u64>,
    /// The most severe of them.
    pub(super) highest: Severity,
    /// The time of the first and the last.
    pub(super) first: UnixMillis,
    pub(super) last: UnixMillis,
}

impl Summary {
    fn of(event: &Event) -> Self {
        Summary {
            count: 1,
            kinds: BTreeMap::from([(event.kind.clone(), 1)]),
            highest: event.severity,
            first: event.time,
            last: event.time,
        }
    }

    fn add(&mut self, event: &Event) {
        self.count += 1;
        *self.kinds.entry(event.kind.clone()).or_default() += 1;
        self.highest = self.highest.max(event.severity);
        self.first = self.first.min(event.time);
        self.last = self.last.max(event.time);
    }

    /// The kinds, most frequent first (ties by name).
    pub(super) fn kinds_by_count(&self) -> Vec<(&str, u64)> {
        let mut kinds: Vec<(&str, u64)> =
            self.kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kinds
    }
}

/// One window: when it ends, what it sent, what it held.
#[derive(Debug)]
struct Window {
    ends: Instant,
    sent: u32,
    held: Option<Summary>,
}

/// The limiter. A window opens with the first event after a quiet one,
/// so an isolated alert goes out at once.
#[derive(Debug)]
pub(super) struct Limiter {
    max: u32,
    len: Duration,
    window: Option<Window>,
}

impl Limiter {
    /// At most `max` alerts every `len`.
    pub(super) fn new(max: u32, len: Duration) -> Self {
        Self {
            max,
            len,
            window: None,
        }
    }

    /// When the current window ends, if one is open.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.window.as_ref().map(|w| w.ends)
    }

    /// Ends the window if it is over at `now`, and returns the summary of
    /// what it held. A summary counts against the next window, which opens
    /// at once, so that no window sends more than `max` alerts.
    pub(super) fn tick(&mut self, now: Instant) -> Option<Summary> {
        if self.window.as_ref().is_some_and(|w| w.ends <= now) {
            let summary = self.window.take().and_then(|w| w.held);
            if summary.is_some() {
                self.window = Some(Window {
                    ends: now + self.len,
                    sent: 1,
                    held: None,
                });
            }
            return summary;
        }
        None
    }

    /// Whether the event, arriving at `now`, may be sent.
    pub(super) fn admit(&mut self, now: Instant, event: &Event) -> Admit {
        let len = self.len;
        let window = self.window.get_or_insert_with(|| Window {
            ends: now + len,
            sent: 0,
            held: None,
        });
        if window.sent < self.max {
            window.sent += 1;
            return Admit::Send;
        }
        match &mut window.held {
            Some(held) => held.add(event),
            None => window.held = Some(Summary::of(event)),
        }
        Admit::Hold
    }

    /// What the open window holds, taken now (at shutdown) rather than
    /// when it ends.
    pub(super) fn take_held(&mut self) -> Option<Summary> {
        self.window.as_mut().and_then(|w| w.held.take())
    }
}

#[cfg(test)]
mod tests {
    use moat_state::events::{Action, Control};

    use super::*;

    fn event(kind: &str, severity: Severity) -> Event {
        Event::new(Control::Inspection, kind, severity, Action::Denied)
    }

    #[test]
    fn holds_what_is_over_the_budget_and_sums_it_up_when_the_window_ends() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut limiter = Limiter::new(2, minute);
        assert_eq!(limiter.deadline(), None);
        let e = event("attack-detected", Severity::High);
        assert_eq!(limiter.admit(start, &e), Admit::Send);
        assert_eq!(limiter.admit(start, &e), Admit::Send);
        assert_eq!(limiter.admit(start, &e), Admit::Hold);
        let critical = event("ownership", Severity::Critical);
        assert_eq!(limiter.admit(start, &critical), Admit::Hold);
        assert_eq!(limiter.admit(start, &e), Admit::Hold);
        assert_eq!(limiter.deadline(), Some(start + minute));

        assert_eq!(limiter.tick(start + minute / 2), None);
        let summary = limiter.tick(start + minute).unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.highest, Severity::Critical);
        assert_eq!(
            summary.kinds_by_count(),
            [("attack-detected", 2), ("ownership", 1)]
        );

        // The summary took one alert of the next window.
        let next = start + minute;
        assert_eq!(limiter.deadline(), Some(next + minute));
        assert_eq!(limiter.admit(next, &e), Admit::Send);
        assert_eq!(limiter.admit(next, &e), Admit::Hold);
    }

    #[test]
    fn a_quiet_window_closes_without_a_summary_and_the_next_event_opens_one() {
        let start = Instant::now();
        let len = Duration::from_secs(1);
        let mut limiter = Limiter::new(1, len);
        let e = event("x", Severity::High);
        assert_eq!(limiter.admit(start, &e), Admit::Send);
        assert_eq!(limiter.tick(start + len), None);
        assert_eq!(limiter.deadline(), None);
        let later = start + 10 * len;
        assert_eq!(limiter.admit(later, &e), Admit::Send);
        assert_eq!(limiter.deadline(), Some(later + len));
    }

    #[test]
    fn held_events_can_be_taken_before_the_window_ends() {
        let now = Instant::now();
        let mut limiter = Limiter::new(0, Duration::from_secs(60));
        let e = event("x", Severity::High);
        assert_eq!(limiter.admit(now, &e), Admit::Hold);
        assert_eq!(limiter.take_held().map(|s| s.count), Some(1));
        assert_eq!(limiter.take_held(), None);
    }
}
