//! Which control a finding comes from, and how much it matters: one table
//! for every finding the pipeline notes.

use moat_state::events::{Action, Control, Severity};

use crate::pipeline::Outcome;

/// The control and base severity of a finding, by its slug.
pub(crate) fn classify(kind: &str) -> (Control, Severity) {
    use Control::*;
    use Severity::*;
    match kind {
        "headers-too-large" | "uri-too-long" | "request-timeout" => (Listener, Low),
        "invalid-path" | "unsupported-transfer-coding" => (Routing, Low),
        "invalid-request" => (Validation, Low),
        "ambiguous-request" => (Routing, Medium),
        "shadow-endpoint" | "method-not-allowed" => (Routing, Medium),
        "zombie-endpoint" => (Routing, Medium),
        "https-required" => (Routing, Info),
        "unauthenticated" => (Identity, Low),
        "invalid-credentials" => (Identity, Medium),
        "locked-out" => (Identity, High),
        "verifier-unavailable" => (Identity, Medium),
        "insufficient-scope" | "forbidden" => (Authorization, Medium),
        "ownership-violation" => (ObjectAccess, High),
        "state-unavailable" | "ownership-unrecorded" => (ObjectAccess, Medium),
        "ownership-conflict" => (ObjectAccess, Medium),
        "banned" => (Admission, Medium),
        "rate-limited" | "quota-exceeded" => (Admission, Low),
        "rate-limit-unavailable" => (Admission, Medium),
        "payload-too-large" => (Admission, Low),
        "schema-violation" | "unsupported-media-type" | "unsupported-content-encoding" => {
            (Validation, Medium)
        }
        "attack-detected" | "graphql-rejected" | "xml-rejected" => (Inspection, High),
        "attack-suspected" => (Inspection, Low),
        "uninspected-body" => (Inspection, Info),
        "sensitive-value" => (Response, Info),
        "error-scrubbed" => (Response, Info),
        "undeclared-property" | "response-type-mismatch" => (Response, Medium),
        "unfiltered-oversize" => (Response, Low),
        "upstream-unavailable" | "upstream-timeout" | "upstream-error" | "upstream-down" => {
            (Upstream, Medium)
        }
        "login-failed" => (Upstream, Low),
        // A finding added without a row here still becomes an event.
        _ => (Routing, Low),
    }
}

/// The event's action and final severity for a finding noted at `outcome`:
/// a refusal moat only recorded (monitor mode) of something high is
/// critical, since the request reached the application.
pub(crate) fn grade(severity: Severity, outcome: Outcome) -> (Severity, Action) {
    match outcome {
        Outcome::Denied => (severity, Action::Denied),
        Outcome::Monitored if severity >= Severity::High => (Severity::Critical, Action::Monitored),
        Outcome::Monitored => (severity, Action::Monitored),
        Outcome::Flagged | Outcome::Allowed => (severity, Action::Flagged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_guard::ProblemKind;

    #[test]
    fn every_problem_type_has_a_row() {
        // The fallback row is only for findings added later; every problem
        // type known now is classified on purpose.
        for kind in ProblemKind::ALL {
            let slug = kind.slug();
            let explicit = !matches!(classify(slug), (Control::Routing, Severity::Low))
                || matches!(
                    slug,
                    "invalid-path" | "invalid-request" | "unsupported-transfer-coding"
                );
            assert!(explicit, "{slug} falls through to the default row");
        }
    }

    #[test]
    fn a_monitored_attack_is_critical() {
        assert_eq!(
            grade(Severity::High, Outcome::Monitored),
            (Severity::Critical, Action::Monitored)
        );
        assert_eq!(
            grade(Severity::High, Outcome::Denied),
            (Severity::High, Action::Denied)
        );
        assert_eq!(
            grade(Severity::Info, Outcome::Flagged),
            (Severity::Info, Action::Flagged)
        );
    }
}
