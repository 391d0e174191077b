//! Traffic counts for the admin API: requests by outcome a minute at a
//! time (the last 24 hours), per operation (requests, denials, last seen)
//! and undocumented paths clients tried. This node's counts since it
//! started; kept across reloads.
//!
//! A request adds to two atomics and, when it reached an operation, three
//! more: no lock and no allocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::pipeline::{Exchange, Outcome};

/// Minutes kept.
pub const MINUTES: usize = 24 * 60;

/// Undocumented paths remembered; beyond it new ones are not (a scan
/// must not grow memory without bound).
pub const MAX_SHADOW_PATHS: usize = 1000;

const OUTCOMES: usize = 4;

/// One minute's counts.
#[derive(Default)]
struct Minute {
    /// The minute (since the epoch) the counts are of.
    index: AtomicI64,
    counts: [AtomicU64; OUTCOMES],
}

/// One operation's counts.
#[derive(Default, Debug)]
pub struct OperationStats {
    /// Requests that reached the operation.
    pub requests: AtomicU64,
    /// Of those, refused.
    pub denied: AtomicU64,
    /// Of those, let through with a finding (flagged or monitored).
    pub findings: AtomicU64,
    /// The last request's arrival (Unix ms), 0 for never.
    pub last_seen: AtomicI64,
}

/// An undocumented path that was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowPath {
    /// The API it was under.
    pub api: String,
    /// The method.
    pub method: String,
    /// The canonical path.
    pub path: String,
    /// Requests.
    pub requests: u64,
    /// The last one (Unix ms).
    pub last_seen: i64,
}

/// Requests by outcome over one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MinuteCounts {
    /// The minute's start (Unix ms).
    pub start: i64,
    /// All requests.
    pub requests: u64,
    /// By outcome.
    pub allowed: u64,
    /// Let through with a finding.
    pub flagged: u64,
    /// Would have been refused (monitor mode).
    pub monitored: u64,
    /// Refused.
    pub denied: u64,
}

/// An undocumented path: API, method, path.
type ShadowKey = (String, String, String);

/// Operation counts by API and operation.
type Registry = Mutex<HashMap<(String, String), Arc<OperationStats>>>;

/// The counts.
pub struct Traffic {
    minutes: Box<[Minute]>,
    shadow: Mutex<HashMap<ShadowKey, (u64, i64)>>,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            minutes: (0..MINUTES).map(|_| Minute::default()).collect(),
            shadow: Mutex::default(),
        }
    }
}

impl Traffic {
    /// Counts a recorded exchange.
    pub(crate) fn record(&self, ex: &Exchange, arrived: SystemTime) {
        let ms = unix_ms(arrived);
        let minute = ms.div_euclid(60_000);
        let slot = &self.minutes[usize::try_from(minute.rem_euclid(MINUTES as i64)).unwrap_or(0)];
        let seen = slot.index.load(Ordering::Relaxed);
        if seen != minute
            && slot
                .index
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // A new minute in this slot: the old one's counts are a day old.
            for c in &slot.counts {
                c.store(0, Ordering::Relaxed);
            }
        }
        slot.counts[outcome_index(ex.outcome)].fetch_add(1, Ordering::Relaxed);
        if let (Some(api), Some(index)) = (&ex.api, ex.operation_index) {
            if let Some(stats) = api.operation_stats(index) {
                stats.requests.fetch_add(1, Ordering::Relaxed);
                match ex.outcome {
                    Outcome::Denied => {
                        stats.denied.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Flagged | Outcome::Monitored => {
                        stats.findings.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Allowed => {}
                }
                stats.last_seen.fetch_max(ms, Ordering::Relaxed);
            }
        } else if ex.findings.iter().any(|f| f.kind == "shadow-endpoint") {
            self.shadow_path(ex, ms);
        }
    }

    fn shadow_path(&self, ex: &Exchange, ms: i64) {
        let Ok(mut shadow) = self.shadow.lock() else {
            return;
        };
        let key = (
            ex.api_name().to_string(),
            ex.method.as_str().to_string(),
            ex.path.clone(),
        );
        let full = shadow.len() >= MAX_SHADOW_PATHS;
        match shadow.get_mut(&key) {
            Some((n, last)) => {
                *n += 1;
                *last = (*last).max(ms);
            }
            None if !full => {
                shadow.insert(key, (1, ms));
            }
            None => {}
        }
    }

    /// The minutes from `since` (Unix ms) to now, oldest first; minutes
    /// with no requests are zero.
    pub fn minutes_since(&self, since: i64, now: i64) -> Vec<MinuteCounts> {
        let first = since
            .div_euclid(60_000)
            .max(now.div_euclid(60_000) - MINUTES as i64 + 1);
        let last = now.div_euclid(60_000);
        (first..=last)
            .map(|minute| {
                let slot =
                    &self.minutes[usize::try_from(minute.rem_euclid(MINUTES as i64)).unwrap_or(0)];
                let mut m = MinuteCounts {
                    start: minute * 60_000,
                    ..MinuteCounts::default()
                };
                if slot.index.load(Ordering::Acquire) == minute {
                    let c = |i: usize| slot.counts[i].load(Ordering::Relaxed);
                    m.allowed = c(0);
                    m.flagged = c(1);
                    m.monitored = c(2);
                    m.denied = c(3);
                    m.requests = m.allowed + m.flagged + m.monitored + m.denied;
                }
                m
            })
            .collect()
    }

    /// The undocumented paths tried, most requested first.
    pub fn shadow_paths(&self) -> Vec<ShadowPath> {
        let Ok(shadow) = self.shadow.lock() else {
            return Vec::new();
        };
        let mut out: Vec<ShadowPath> = shadow
            .iter()
            .map(|((api, method, path), (requests, last_seen))| ShadowPath {
                api: api.clone(),
                method: method.clone(),
                path: path.clone(),
                requests: *requests,
                last_seen: *last_seen,
            })
            .collect();
        out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.path.cmp(&b.path)));
        out
    }
}

fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Allowed => 0,
        Outcome::Flagged => 1,
        Outcome::Monitored => 2,
        Outcome::Denied => 3,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The counts of operation `operation` of API `api`: one per process, so a
/// reload that rebuilds the API keeps them.
pub(crate) fn operation_stats(api: &str, operation: &str) -> Arc<OperationStats> {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(Mutex::default);
    match registry.lock() {
        Ok(mut map) => map
            .entry((api.to_string(), operation.to_string()))
            .or_default()
            .clone(),
        Err(_) => Arc::default(),
    }
}
