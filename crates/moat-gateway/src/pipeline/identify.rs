//! Phase **identify**: the credentials the operation's `security` requires.
//!
//! Runs for documented operations, between the two halves of **admit**.
//! Credentials are read from the request view (headers, query, cookies,
//! the TLS client certificate), verified, and combined as the document's
//! requirement says. The result is the caller's identity (or none, for
//! anonymous access); a refusal is `401` with `WWW-Authenticate`
//! challenges, `403 insufficient-scope`, `429 locked-out` or `503` when a
//! verifier is unreachable — applied by the mode.

use http::header::{self, HeaderValue};
use http::{Request, Response};
use hyper::body::Incoming;
use moat_guard::identity::{Identity, IdentityDecision};
use moat_guard::request::Head;
use moat_guard::{Finding, ProblemKind};

use super::exchange::Exchange;
use super::refusal::{Refusal, apply_mode};
use crate::body::Body;
use crate::client_cert::ClientCert;
use crate::identity::RequestSide;
use crate::runtime::Api;

/// Verifies the credentials `op` requires; `Err` is the answer to send.
pub(super) async fn identify(
    api: &Api,
    op: &moat_spec::Operation,
    req: &Request<Incoming>,
    head: &Head,
    client_cert: Option<&ClientCert>,
    lockout: Option<&dyn moat_state::LockoutStore>,
    ex: &mut Exchange,
) -> Result<Option<Identity>, Response<Body>> {
    let side = RequestSide {
        headers: req.headers(),
        query: &head.query,
        cookies: &head.cookies,
        client_cert,
        client: ex.client,
    };
    let result = api.identity.identify(op, &side, lockout).await;
    ex.credential_id = result.credential_id.clone();
    ex.credential_kind = result.credential_kind;
    ex.auth_failed =
        result.locked_out.is_some() || matches!(result.decision, IdentityDecision::Invalid { .. });
    let kind = match result.decision {
        _ if result.locked_out.is_some() => ProblemKind::LockedOut,
        IdentityDecision::Allowed(identity) => return Ok(identity),
        IdentityDecision::Unauthenticated => ProblemKind::Unauthenticated,
        IdentityDecision::Invalid { .. } => ProblemKind::InvalidCredentials,
        IdentityDecision::InsufficientScope { .. } => ProblemKind::InsufficientScope,
        IdentityDecision::Unavailable => ProblemKind::VerifierUnavailable,
    };
    let mut refusal = Refusal::new(Finding::new(kind));
    for challenge in &result.challenges {
        if let Ok(v) = HeaderValue::from_str(challenge) {
            refusal = refusal.header(header::WWW_AUTHENTICATE, v);
        }
    }
    let retry_after = match result.locked_out {
        Some(remaining) => Some(moat_state::retry_after_secs(remaining)),
        None => (kind == ProblemKind::VerifierUnavailable).then_some(5),
    };
    if let Some(secs) = retry_after {
        refusal = refusal.retry_after(secs);
    }
    match apply_mode(api.mode, &api.name, ex, refusal) {
        Some(resp) => Err(resp),
        None => Ok(None),
    }
}
