//! Rate limits and quotas as arithmetic: no I/O, no clock of their own.
//!
//! - **Rate limits** use GCRA (the generic cell rate algorithm): one
//!   timestamp per key, the *theoretical arrival time* (TAT), no fixed
//!   windows and so no bursts at window edges.
//! - **Quotas** (long windows: hours, days, months) use a sliding window
//!   counter: the count of the current fixed window plus the previous
//!   window's count weighted by how much of it still overlaps.
//!
//! The guards (`moat-guard`) say which rule applies; the stores
//! (`moat-state`: memory, SQLite, Redis) keep the state. Both use these
//! types, so the guards need no store.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod gcra;
mod window;

use std::time::Duration;

pub use gcra::{Gcra, GcraOutcome};
pub use window::{SlidingWindow, WindowOutcome, WindowState};

/// The answer for one limit: what the `RateLimit` header field reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitDecision {
    /// Whether this limit lets the request through.
    pub allowed: bool,
    /// Units left after this request (0 when refused).
    pub remaining: u64,
    /// Time until the limit is whole again (all units available).
    pub reset: Duration,
    /// When refused: how long until the request would be allowed.
    pub retry_after: Option<Duration>,
}
