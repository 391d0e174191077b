//! What a guard decides about a request.

use crate::problem::ProblemKind;

/// A guard's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to say.
    Allow,
    /// Let it through but record a finding (e.g. a deprecated operation under
    /// the `warn` policy).
    Flag(Finding),
    /// Refuse it in enforce mode; record it and let it through in monitor mode.
    Deny(Finding),
}

/// Something a guard noticed, for the logs, metrics and the problem answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which control.
    pub kind: ProblemKind,
    /// A fixed explanation safe to show the client.
    pub detail: Option<&'static str>,
}

impl Finding {
    /// A finding with no detail.
    pub fn new(kind: ProblemKind) -> Self {
        Self { kind, detail: None }
    }

    /// A finding with a fixed detail.
    pub fn with_detail(kind: ProblemKind, detail: &'static str) -> Self {
        Self {
            kind,
            detail: Some(detail),
        }
    }
}
