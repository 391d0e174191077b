//! The hash chain over stored events, and the check of it.
//!
//! Each event's hash is SHA-256 over the previous event's hash and the
//! event's canonical JSON (`link`), so changing, removing or reordering a
//! stored event breaks a link that [`verify`] finds. The chain starts at an
//! *anchor*: all zeros for a new store, then the hash of the last event
//! retention removed. The seq is not hashed: order is carried by the links
//! alone, so a reordering shows as links that point at the wrong event.
//!
//! What a chain cannot show on its own: removal of the newest events (the
//! chain just ends earlier) by someone who can write the database. A store
//! records the head it appended last and [`Verifier::check_head`] compares
//! it, which catches rows deleted by hand; someone who also rewrites that
//! record goes unseen. Keep the `head` that `moat audit verify` prints
//! somewhere else to catch that.

use std::collections::HashMap;

use serde::Serialize;

use super::{Event, StoredEvent};

/// The anchor of a chain nothing was removed from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of `event` chained after `prev` (hex): SHA-256 over a version
/// tag, `prev` and the event's JSON.
pub fn link(prev: &str, event: &Event) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"moat-event-v1\0");
    ctx.update(prev.as_bytes());
    ctx.update(b"\0");
    // Serialising a struct of strings, integers and enums cannot fail;
    // were it to, the empty body still gives a hash that verify rejects.
    ctx.update(&serde_json::to_vec(event).unwrap_or_default());
    hex(ctx.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// One break in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ChainProblem {
    /// The stored event does not match its own hash: its content was
    /// changed after it was written.
    Modified {
        /// The event's seq.
        seq: i64,
    },
    /// The event's hash was recomputed after a change: it matches its
    /// content, but the next event still links to the old hash.
    Rewritten {
        /// The rewritten event's seq.
        seq: i64,
    },
    /// Events are missing: `seq` links to an event that is not stored.
    /// `after` is the seq of the stored event before it (none: the gap is
    /// at the start, before anything retention removed).
    Removed {
        /// The last intact event before the gap.
        after: Option<i64>,
        /// The first event after the gap.
        seq: i64,
        /// How many seqs are missing (0 when the seqs were renumbered).
        missing: i64,
    },
    /// The event links to a stored event other than the one before it.
    Reordered {
        /// The event's seq.
        seq: i64,
        /// The seq of the event it links to.
        follows: i64,
    },
    /// The newest stored event is not the head the store recorded with
    /// its last append: the newest events were removed, or the newest one
    /// was rewritten. Found only when whoever did it left the store's own
    /// record of the head alone; compare the head with a copy kept
    /// elsewhere to catch the rest.
    Truncated {
        /// The newest stored event (none: no event is stored).
        last: Option<i64>,
        /// The seq of the head the store recorded.
        head_seq: i64,
    },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Modified { seq } => {
                write!(
                    f,
                    "event {seq} was modified: its content no longer matches its hash"
                )
            }
            ChainProblem::Rewritten { seq } => write!(
                f,
                "event {seq} was rewritten: its hash was recomputed, but event {} still links to the old one",
                seq + 1
            ),
            ChainProblem::Removed {
                after: Some(after),
                seq,
                missing,
            } => write!(
                f,
                "events were removed between {after} and {seq} ({missing} missing seq numbers)"
            ),
            ChainProblem::Removed {
                after: None, seq, ..
            } => write!(
                f,
                "events were removed before {seq}, the first stored event (it does not link to the anchor)"
            ),
            ChainProblem::Reordered { seq, follows } => write!(
                f,
                "event {seq} was moved: it was written after event {follows}"
            ),
            ChainProblem::Truncated { last, head_seq } if *last == Some(*head_seq) => write!(
                f,
                "event {head_seq} was rewritten: it is not the head recorded when it was appended"
            ),
            ChainProblem::Truncated {
                last: Some(last),
                head_seq,
            } => write!(
                f,
                "the newest events were removed: the last stored is {last}, the recorded head is {head_seq}"
            ),
            ChainProblem::Truncated {
                last: None,
                head_seq,
            } => write!(
                f,
                "every event was removed: none is stored, the recorded head is {head_seq}"
            ),
        }
    }
}

/// Checks `events` (in seq order) against `anchor`, and says what is wrong.
pub fn verify<'a>(
    anchor: &str,
    events: impl IntoIterator<Item = &'a StoredEvent>,
) -> Vec<ChainProblem> {
    let events: Vec<&StoredEvent> = events.into_iter().collect();
    let mut verifier = Verifier::new(
        anchor,
        events.iter().map(|e| (e.hash.clone(), e.seq)).collect(),
    );
    for e in events {
        verifier.check(e);
    }
    verifier.finish()
}

/// [`verify`] one event at a time, for stores too large to hold in
/// memory: it needs only the hash → seq index of every stored event (to
/// tell a reordering from a removal), then sees each event once, in seq
/// order.
#[derive(Debug)]
pub struct Verifier {
    by_hash: HashMap<String, i64>,
    /// The hash the next event must link to.
    expected: String,
    /// The seq of the event checked last.
    before: Option<i64>,
    problems: Vec<ChainProblem>,
}

impl Verifier {
    /// A check starting at `anchor`; `by_hash` maps each stored event's
    /// hash to its seq.
    pub fn new(anchor: &str, by_hash: HashMap<String, i64>) -> Self {
        Verifier {
            by_hash,
            expected: anchor.to_string(),
            before: None,
            problems: Vec::new(),
        }
    }

    /// Checks the next event in seq order.
    pub fn check(&mut self, e: &StoredEvent) {
        if link(&e.prev_hash, &e.event) != e.hash {
            self.problems.push(ChainProblem::Modified { seq: e.seq });
        }
        if e.prev_hash != self.expected {
            if let Some(&follows) = self.by_hash.get(e.prev_hash.as_str()) {
                self.problems.push(ChainProblem::Reordered {
                    seq: e.seq,
                    follows,
                });
            } else {
                self.problems.push(match self.before {
                    Some(b) if e.seq == b + 1 => ChainProblem::Rewritten { seq: b },
                    Some(b) => ChainProblem::Removed {
                        after: Some(b),
                        seq: e.seq,
                        missing: e.seq - b - 1,
                    },
                    None => ChainProblem::Removed {
                        after: None,
                        seq: e.seq,
                        missing: 0,
                    },
                });
            }
        }
        e.hash.clone_into(&mut self.expected);
        self.before = Some(e.seq);
    }

    /// The hash the chain ends at so far: the last event's, or the anchor.
    pub fn end(&self) -> &str {
        &self.expected
    }

    /// Compares the end of the chain with the head (and its seq) that the
    /// store recorded, reporting [`ChainProblem::Truncated`] when they
    /// differ.
    pub fn check_head(&mut self, head: &str, head_seq: i64) {
        if self.expected != head {
            self.problems.push(ChainProblem::Truncated {
                last: self.before,
                head_seq,
            });
        }
    }

    /// Every problem found, in chain order.
    pub fn finish(self) -> Vec<ChainProblem> {
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Action, Control, Severity};

    fn chain(n: usize) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|i| {
                let mut event = Event::new(
                    Control::Inspection,
                    "attack-detected",
                    Severity::High,
                    Action::Denied,
                );
                event.evidence = Some(format!("event {i}"));
                let hash = link(&prev, &event);
                let stored = StoredEvent {
                    seq: i64::try_from(i).unwrap(),
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                stored
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_has_no_problems() {
        assert!(verify(GENESIS, &chain(5)).is_empty());
        assert!(verify(GENESIS, &chain(0)).is_empty());
    }

    #[test]
    fn an_edited_event_is_found() {
        let mut c = chain(5);
        c[2].event.evidence = Some("nothing to see".into());
        assert_eq!(verify(GENESIS, &c), vec![ChainProblem::Modified { seq: 3 }]);
    }

    #[test]
    fn an_edited_and_rehashed_event_is_found() {
        let mut c = chain(5);
        c[2].event.action = Action::Flagged;
        c[2].hash = link(&c[2].prev_hash, &c[2].event);
        assert_eq!(
            verify(GENESIS, &c),
            vec![ChainProblem::Rewritten { seq: 3 }]
        );
    }

    #[test]
    fn removed_events_are_found() {
        let mut c = chain(6);
        c.drain(2..4);
        assert_eq!(
            verify(GENESIS, &c),
            vec![ChainProblem::Removed {
                after: Some(2),
                seq: 5,
                missing: 2
            }]
        );
        let c = chain(4).split_off(1);
        assert_eq!(
            verify(GENESIS, &c),
            vec![ChainProblem::Removed {
                after: None,
                seq: 2,
                missing: 0
            }]
        );
        // Retention moves the anchor: then the same start is intact.
        let full = chain(4);
        assert!(verify(&full[0].hash, &full[1..]).is_empty());
    }

    #[test]
    fn reordered_events_are_found() {
        let mut c = chain(5);
        c.swap(1, 2);
        let (a, b) = (c[1].seq, c[2].seq);
        c[1].seq = b;
        c[2].seq = a;
        // Events 2 and 3 swapped places (and seq numbers): each link that
        // crosses the swap points at an event other than the one before.
        assert_eq!(
            verify(GENESIS, &c),
            vec![
                ChainProblem::Reordered { seq: 2, follows: 3 },
                ChainProblem::Reordered { seq: 3, follows: 1 },
                ChainProblem::Reordered { seq: 4, follows: 2 },
            ]
        );
    }
}
