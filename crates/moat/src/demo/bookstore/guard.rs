//! What the bookstore checks before any route answers, and the state of the
//! login's brake: a per-client rate limit (off with `no-rate-limit`), a
//! caller for every operation the document secures (off with `no-auth`),
//! and a lockout of an account after repeated failed logins (off with
//! `no-lockout`).
//!
//! The numbers are chosen around the scanner: a paced scan (at most 100
//! requests a second) never empties the bucket, a burst of 200 unpaced
//! requests does, even on a slow machine.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Response, StatusCode, header};
use moat_limits::Gcra;
use moat_spec::{Match, OperationTable};

use super::{Body, Req, Shared, Weakness, problem};

/// Requests a client may send at once: how far it may run ahead of the rate.
pub(crate) const BUCKET_CAPACITY: u64 = 50;
/// Requests a second, steadily.
pub(crate) const BUCKET_REFILL_PER_SECOND: u64 = 120;
/// Failed logins for one account within [`LOCKOUT_WINDOW`] that lock it.
pub(crate) const LOCKOUT_FAILURES: usize = 5;
pub(crate) const LOCKOUT_WINDOW: Duration = Duration::from_secs(60);
/// Clients and accounts remembered at most; beyond, the stale ones go.
const MAX_TRACKED: usize = 10_000;

/// The peer address of a connection, put in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// The rate limit's state per client and the login failures.
#[derive(Debug)]
pub(crate) struct GuardState {
    /// The rate limit: the gateway's own GCRA arithmetic.
    rate: Option<Gcra>,
    /// What each client's theoretical arrival time counts from.
    epoch: Instant,
    /// Each client's theoretical arrival time, in nanoseconds since `epoch`.
    arrivals: Mutex<HashMap<IpAddr, u64>>,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for GuardState {
    fn default() -> Self {
        Self {
            rate: Gcra::new(
                BUCKET_REFILL_PER_SECOND,
                Duration::from_secs(1),
                BUCKET_CAPACITY,
            ),
            epoch: Instant::now(),
            arrivals: Mutex::default(),
            failures: Mutex::default(),
        }
    }
}

impl GuardState {
    /// Admits one request from `client` at `now`; `false` when it has run
    /// a whole burst ahead of the rate.
    fn take(&self, client: IpAddr, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let now =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut arrivals = lock_any(&self.arrivals);
        if arrivals.len() >= MAX_TRACKED {
            // Clients back at a full burst are as good as new.
            arrivals.retain(|_, tat| *tat > now);
        }
        let tat = arrivals.get(&client).copied().unwrap_or(0);
        let outcome = rate.decide(tat, now, 1);
        if outcome.decision.allowed {
            arrivals.insert(client, outcome.new_tat);
        }
        outcome.decision.allowed
    }

    /// How long `account` stays locked, if it is.
    pub(crate) fn locked_for(&self, account: &str, now: Instant) -> Option<Duration> {
        let mut failures = lock_any(&self.failures);
        let recent = failures.get_mut(account)?;
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOCKOUT_WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() < LOCKOUT_FAILURES {
            return None;
        }
        let oldest = recent.front()?;
        Some(LOCKOUT_WINDOW.saturating_sub(now.duration_since(*oldest)))
    }

    /// Records a failed login for `account`, known or not (so the lockout
    /// tells no one which accounts exist).
    pub(crate) fn failed(&self, account: &str, now: Instant) {
        let mut failures = lock_any(&self.failures);
        if failures.len() >= MAX_TRACKED && !failures.contains_key(account) {
            failures.retain(|_, f| {
                f.back()
                    .is_some_and(|t| now.duration_since(*t) < LOCKOUT_WINDOW)
            });
            if failures.len() >= MAX_TRACKED {
                failures.clear();
            }
        }
        let recent = failures.entry(account.to_string()).or_default();
        recent.push_back(now);
        while recent.len() > LOCKOUT_FAILURES {
            recent.pop_front();
        }
    }
}

/// Locks `mutex`; a panic elsewhere cannot leave these maps unsafe.
fn lock_any<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The answer that refuses `req` before its route sees it, if any.
pub(crate) fn refuse(shared: &Shared, req: &Req) -> Option<Response<Body>> {
    if !shared.has(Weakness::NoRateLimit)
        && let Some(ClientAddr(client)) = req.parts.extensions.get::<ClientAddr>()
        && !shared.guard.take(*client, Instant::now())
    {
        return Some(too_many(
            "too many requests from this client",
            Duration::from_secs(1),
        ));
    }
    if !shared.has(Weakness::NoAuth) && req.caller.name().is_none() && secured(req) {
        return Some(unauthorized());
    }
    None
}

/// 401 with the challenge the document's bearer scheme names.
pub(crate) fn unauthorized() -> Response<Body> {
    let mut response = problem(StatusCode::UNAUTHORIZED, "credentials are required");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"bookstore\""),
    );
    response
}

/// 429 with `Retry-After` in whole seconds (at least one).
pub(crate) fn too_many(detail: &str, retry_after: Duration) -> Response<Body> {
    let mut response = problem(StatusCode::TOO_MANY_REQUESTS, detail);
    let seconds = retry_after.as_secs().max(1);
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Whether the document secures the operation `req` is for.
fn secured(req: &Req) -> bool {
    let Some(table) = table() else {
        return false;
    };
    let segments: Vec<String> = req
        .parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(super::percent_decode)
        .collect();
    match table.find(req.parts.method.as_str(), &segments) {
        Match::Found { operation, .. } => !operation.policy.allows_anonymous(),
        _ => false,
    }
}

/// The bookstore's document, indexed once.
fn table() -> Option<&'static OperationTable> {
    static TABLE: OnceLock<Option<OperationTable>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            moat_spec::load_text("openapi.yaml", super::super::SPEC)
                .ok()
                .map(OperationTable::new)
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_empties_the_bucket_and_a_paced_client_never_does() {
        let state = GuardState::default();
        let client = IpAddr::from([127, 0, 0, 1]);
        let start = Instant::now();
        // 100 a second for five seconds: always a token.
        for i in 0..500u32 {
            let at = start + Duration::from_millis(u64::from(i) * 10);
            assert!(state.take(client, at), "paced request {i} refused");
        }
        // Then 200 at once: the capacity, and no more.
        let burst = start + Duration::from_secs(6);
        let taken = (0..200).filter(|_| state.take(client, burst)).count();
        assert_eq!(taken as u64, BUCKET_CAPACITY);
    }

    #[test]
    fn five_failures_lock_an_account_for_the_rest_of_the_window() {
        let state = GuardState::default();
        let start = Instant::now();
        for i in 0..LOCKOUT_FAILURES as u64 {
            assert!(state.locked_for("alice", start).is_none());
            state.failed("alice", start + Duration::from_secs(i));
        }
        let now = start + Duration::from_secs(10);
        assert_eq!(
            state.locked_for("alice", now),
            Some(LOCKOUT_WINDOW - Duration::from_secs(10))
        );
        assert!(state.locked_for("bob", now).is_none());
        assert!(state.locked_for("alice", start + LOCKOUT_WINDOW).is_none());
    }

    #[test]
    fn the_document_says_which_operations_need_a_caller() {
        assert!(table().is_some());
    }
}
