//! Whether a target gets requests: marked down after `down_after`
//! consecutive failures (connect failures of requests, failed active
//! checks), up again after `up_after` passing checks or, without an
//! active check, once `retry_after` has passed and a request gets an
//! answer from it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moat_config::HealthConfig;

/// How an upstream's targets are judged.
#[derive(Debug, Clone)]
pub(super) struct Policy {
    pub down_after: u32,
    pub up_after: u32,
    pub retry_after: Duration,
    /// Active checks decide when a down target comes back.
    pub active: bool,
}

impl Policy {
    pub fn new(cfg: &HealthConfig) -> Self {
        Self {
            // Validation refuses zero; a zero here would mark down at once.
            down_after: cfg.down_after.max(1),
            up_after: cfg.up_after.max(1),
            retry_after: cfg.retry_after,
            active: cfg.path.is_some(),
        }
    }
}

/// A target's health, shared by every worker.
#[derive(Debug)]
pub(super) struct TargetHealth {
    /// Consecutive failures.
    failures: AtomicU32,
    /// Consecutive passing checks while down.
    passes: AtomicU32,
    /// When it was marked down, in milliseconds after `epoch` plus one; 0
    /// while up.
    down_since: AtomicU64,
    epoch: Instant,
}

/// What a change of state is, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    None,
    Down,
    Up,
}

impl TargetHealth {
    pub fn new() -> Self {
        Self {
            failures: AtomicU32::new(0),
            passes: AtomicU32::new(0),
            down_since: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Whether it is marked down.
    pub fn is_down(&self) -> bool {
        self.down_since.load(Ordering::Acquire) != 0
    }

    /// Whether a request may go to it: up, or (without active checks)
    /// down for longer than `retry_after`, so that a request finds out
    /// whether it is back.
    pub fn available(&self, policy: &Policy) -> bool {
        let since = self.down_since.load(Ordering::Acquire);
        if since == 0 {
            return true;
        }
        !policy.active
            && self.now().saturating_sub(since)
                >= u64::try_from(policy.retry_after.as_millis()).unwrap_or(u64::MAX)
    }

    /// A connect failure of a request, or a failed active check.
    pub fn failed(&self, policy: &Policy) -> Change {
        self.passes.store(0, Ordering::Release);
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if failures < policy.down_after {
            return Change::None;
        }
        let now = self.now();
        if self.is_down() {
            // A request let through after `retry_after` failed: left out
            // for another `retry_after`.
            if !policy.active {
                self.down_since.store(now, Ordering::Release);
            }
            return Change::None;
        }
        match self
            .down_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Change::Down,
            Err(_) => Change::None,
        }
    }

    /// A request got an answer's head from it.
    pub fn answered(&self, policy: &Policy) -> Change {
        self.failures.store(0, Ordering::Release);
        // With active checks only they bring a target back.
        if policy.active {
            return Change::None;
        }
        self.mark_up()
    }

    /// An active check passed.
    pub fn passed(&self, policy: &Policy) -> Change {
        self.failures.store(0, Ordering::Release);
        if !self.is_down() {
            return Change::None;
        }
        let passes = self.passes.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        if passes < policy.up_after {
            return Change::None;
        }
        self.mark_up()
    }

    fn mark_up(&self) -> Change {
        self.passes.store(0, Ordering::Release);
        if self.down_since.swap(0, Ordering::AcqRel) == 0 {
            Change::None
        } else {
            Change::Up
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(active: bool, retry_after: Duration) -> Policy {
        Policy {
            down_after: 2,
            up_after: 2,
            retry_after,
            active,
        }
    }

    #[test]
    fn consecutive_failures_mark_down_and_an_answer_resets_the_count() {
        let p = policy(false, Duration::from_secs(60));
        let h = TargetHealth::new();
        assert_eq!(h.failed(&p), Change::None);
        assert_eq!(h.answered(&p), Change::None);
        assert_eq!(h.failed(&p), Change::None);
        assert!(h.available(&p));
        assert_eq!(h.failed(&p), Change::Down);
        assert!(!h.available(&p));
        assert_eq!(h.failed(&p), Change::None, "already down");
    }

    #[test]
    fn without_active_checks_a_down_target_is_tried_after_retry_after() {
        let p = policy(false, Duration::ZERO);
        let h = TargetHealth::new();
        h.failed(&p);
        assert_eq!(h.failed(&p), Change::Down);
        assert!(h.is_down());
        assert!(h.available(&p), "retry_after has passed");
        assert_eq!(h.answered(&p), Change::Up);
        assert!(!h.is_down());
    }

    #[test]
    fn with_active_checks_only_passing_checks_bring_a_target_back() {
        let p = policy(true, Duration::ZERO);
        let h = TargetHealth::new();
        h.failed(&p);
        assert_eq!(h.failed(&p), Change::Down);
        assert!(!h.available(&p));
        assert_eq!(h.answered(&p), Change::None);
        assert_eq!(h.passed(&p), Change::None);
        assert_eq!(h.failed(&p), Change::None, "still down");
        assert_eq!(h.passed(&p), Change::None, "the count started again");
        assert_eq!(h.passed(&p), Change::Up);
        assert!(h.available(&p));
    }
}
