//! The route guard: is this a documented, current operation?
//!
//! The first guard every request meets once its API is known. It turns the
//! operation table's answer into a verdict: an undocumented path or method is a
//! shadow endpoint (OWASP API9, improper inventory), a `deprecated: true`
//! operation is a zombie endpoint handled per the API's policy.

use moat_config::DeprecatedPolicy;
use moat_spec::Match;

use crate::problem::ProblemKind;
use crate::verdict::{Finding, Verdict};

/// Decides on the operation table's answer for a request.
pub fn route_verdict(found: &Match<'_>, deprecated: DeprecatedPolicy) -> Verdict {
    match found {
        Match::Found { operation, .. } if operation.deprecated => match deprecated {
            DeprecatedPolicy::Allow => Verdict::Allow,
            DeprecatedPolicy::Warn => Verdict::Flag(Finding::with_detail(
                ProblemKind::ZombieEndpoint,
                "this operation is deprecated",
            )),
            DeprecatedPolicy::Block => Verdict::Deny(Finding::with_detail(
                ProblemKind::ZombieEndpoint,
                "this operation is deprecated and no longer served",
            )),
        },
        Match::Found { .. } => Verdict::Allow,
        Match::MethodNotAllowed { .. } => {
            Verdict::Deny(Finding::new(ProblemKind::MethodNotAllowed))
        }
        Match::NotFound => Verdict::Deny(Finding::new(ProblemKind::ShadowEndpoint)),
    }
}
