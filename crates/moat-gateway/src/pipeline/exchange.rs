//! What the pipeline knows of one exchange, and its typed outcome.

use crate::forwarding::RequestId;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method};
use moat_guard::ProblemKind;
use moat_guard::anomaly::AnsweredBy;

use crate::limits::InFlightSlot;
use crate::telemetry;

/// What became of a request, from least to most severe. An exchange's
/// outcome is the most severe one any phase gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Nothing to say.
    Allowed,
    /// Let through with a finding (a deprecated operation under `warn`,
    /// suspicious values below the threshold, a filtered answer).
    Flagged,
    /// A control would have refused it; the API is in monitor mode, so it
    /// was let through and recorded.
    Monitored,
    /// Refused.
    Denied,
}

impl Outcome {
    /// The label in logs and metrics (`verdict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Flagged => "flagged",
            Outcome::Monitored => "monitored",
            Outcome::Denied => "denied",
        }
    }
}

/// The record of one exchange, filled in as the phases run.
pub(crate) struct Exchange {
    pub request_id: RequestId,
    pub client: IpAddr,
    pub method: Method,
    /// The canonical path (or a prefix of the raw one, when it has none).
    pub path: String,
    /// The API the request reached: its name and metric handles.
    pub api: Option<Arc<telemetry::ApiTelemetry>>,
    pub operation: Option<String>,
    /// The most severe outcome so far, and the finding that gave it.
    pub outcome: Outcome,
    pub finding: Option<&'static str>,
    pub upstream_latency: Option<Duration>,
    pub deprecation: bool,
    pub consumer: Option<String>,
    /// The API's CORS policy and the allowed request origin.
    pub cors: Option<(Arc<crate::cors::Cors>, HeaderValue)>,
    /// `RateLimit-Policy` and `RateLimit` fields for the response.
    pub rate_limit: Option<(HeaderValue, Option<HeaderValue>)>,
    /// The consumer's in-flight slot, held until the exchange is recorded.
    pub in_flight: Option<InFlightSlot>,
    /// The presented credential's id (never its secret).
    pub credential_id: Option<String>,
    /// The presented credential's kind (`bearer`, `api_key`, …).
    pub credential_kind: Option<&'static str>,
    /// What a sampled exchange carries for discovery (`None`: not sampled).
    pub capture: Option<Box<crate::capture::Draft>>,
    /// Presented credentials were refused.
    pub auth_failed: bool,
    /// The object the request names (see `ObjectParameters`).
    pub object: Option<moat_guard::anomaly::NamedObject>,
    /// The operation's index in the API's table, for its traffic counts.
    pub operation_index: Option<usize>,
    /// Every finding noted, in order: each becomes a security event when
    /// the exchange is recorded. Empty (no allocation) for most requests.
    pub findings: Vec<Noted>,
}

/// One finding as noted, with what the phase knew of it.
#[derive(Debug)]
pub(crate) struct Noted {
    /// The finding's slug.
    pub kind: &'static str,
    /// What became of the request because of it.
    pub outcome: Outcome,
    /// The rule, where, and redacted evidence, when the phase knew them.
    pub detail: Option<Box<Detail>>,
}

/// What a phase knows of a finding beyond its kind. Evidence is redacted
/// where it is built: never a credential, never a whole value.
#[derive(Debug, Default, Clone)]
pub(crate) struct Detail {
    /// The control, where the finding's kind alone does not tell it (an
    /// `invalid-request` from the listener rather than validation).
    pub control: Option<moat_state::events::Control>,
    /// The rule or detector (`sqli`, `scope`, `required`).
    pub rule: Option<String>,
    /// Where in the request (`query:q`, `body:/name`).
    pub location: Option<String>,
    /// A short, redacted explanation.
    pub evidence: Option<String>,
}

impl Exchange {
    /// A new exchange.
    pub fn new(request_id: RequestId, client: IpAddr, method: Method) -> Self {
        Self {
            request_id,
            client,
            method,
            path: String::new(),
            api: None,
            operation: None,
            outcome: Outcome::Allowed,
            finding: None,
            upstream_latency: None,
            deprecation: false,
            consumer: None,
            cors: None,
            rate_limit: None,
            in_flight: None,
            credential_id: None,
            credential_kind: None,
            capture: None,
            auth_failed: false,
            object: None,
            operation_index: None,
            findings: Vec::new(),
        }
    }

    /// Records `finding` (a problem slug) at `outcome` for `api`: counted
    /// in `moat_findings_total` (and `moat_denials_total` when denied), and
    /// the exchange's outcome raised to it.
    /// The finding that names the exchange is the first one of its most
    /// severe outcome.
    pub fn note(&mut self, api: &str, finding: &'static str, outcome: Outcome) {
        self.note_with(api, finding, outcome, None);
    }

    /// [`Exchange::note`], with what the phase knows of the finding.
    pub fn note_with(
        &mut self,
        api: &str,
        finding: &'static str,
        outcome: Outcome,
        detail: Option<Box<Detail>>,
    ) {
        telemetry::finding(api, finding, outcome.as_str());
        self.findings.push(Noted {
            kind: finding,
            outcome,
            detail,
        });
        if outcome > self.outcome || self.finding.is_none() {
            self.finding = Some(finding);
        }
        self.outcome = self.outcome.max(outcome);
    }

    /// Who gave the answer, as the anomaly detectors weigh it: a refusal
    /// by object-level authorization, another refusal of the gateway, or
    /// the upstream (also in monitor mode, where refusals are only
    /// recorded).
    pub fn answered_by(&self) -> AnsweredBy {
        if self.outcome == Outcome::Denied {
            if self.finding == Some(ProblemKind::OwnershipViolation.slug()) {
                AnsweredBy::ObjectAccess
            } else {
                AnsweredBy::Gateway
            }
        } else if self.upstream_latency.is_some() {
            AnsweredBy::Upstream
        } else {
            AnsweredBy::Gateway
        }
    }

    /// How the caller authenticated, for discovery.
    pub fn auth_kind(&self, presented: Option<&'static str>) -> crate::capture::AuthKind {
        use crate::capture::AuthKind;
        if self.operation_index.is_none() {
            AuthKind::Unverified(presented)
        } else if self.auth_failed {
            AuthKind::Rejected
        } else if self.consumer.is_some() {
            AuthKind::Verified(self.credential_kind.unwrap_or("other"))
        } else {
            AuthKind::None
        }
    }

    /// The API's name, or `-`.
    pub fn api_name(&self) -> &str {
        self.api.as_ref().map_or("-", |api| api.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_severe_outcome_and_its_first_finding_win() {
        let mut ex = Exchange::new(RequestId::new(), IpAddr::from([127, 0, 0, 1]), Method::GET);
        ex.note("a", "zombie-endpoint", Outcome::Flagged);
        assert_eq!(
            (ex.outcome, ex.finding),
            (Outcome::Flagged, Some("zombie-endpoint"))
        );
        ex.note("a", "attack-detected", Outcome::Monitored);
        ex.note("a", "error-scrubbed", Outcome::Flagged);
        assert_eq!(
            (ex.outcome, ex.finding),
            (Outcome::Monitored, Some("attack-detected"))
        );
        ex.note("a", "rate-limited", Outcome::Denied);
        assert_eq!(
            (ex.outcome, ex.finding),
            (Outcome::Denied, Some("rate-limited"))
        );
        assert!(Outcome::Allowed < Outcome::Flagged && Outcome::Monitored < Outcome::Denied);
    }
}
