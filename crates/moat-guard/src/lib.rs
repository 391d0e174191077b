//! moat's guards: each step of the request pipeline as a pure decision.
//!
//! A guard reads what is known about a request and returns a
//! [`verdict::Verdict`]. Guards do no socket I/O, so each is testable alone and
//! the same guards serve one node or a cluster; the gateway applies the
//! verdicts according to the API's mode (enforce or monitor).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod anomaly;
pub mod authorization;
pub mod identity;
pub mod limits;
pub mod ownership;
pub mod problem;
pub mod response_filter;
pub mod route;
pub mod validate;
pub mod verdict;

/// The request view every guard reads.
pub use moat_request as request;
pub use moat_request::{CanonicalPath, PathError};
pub use problem::{PROBLEM_JSON, Problem, ProblemKind};
pub use route::route_verdict;
pub use verdict::{Finding, Verdict};
