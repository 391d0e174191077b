//! API2 Broken Authentication: operations the document secures that answer
//! without credentials (`auth.no-credentials`), and the operation the token
//! checks prove acceptance on.

use async_trait::async_trait;

use super::{Check, Context, Outcome};
use crate::client::{Exchange, Probe};
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::Identity;
use crate::target::Op;

pub static NO_CREDENTIALS: Rule = Rule {
    id: "auth.no-credentials",
    name: "Secured operation answers without credentials",
    category: Category::Api2,
    severity: Severity::High,
    cwe: Some(306),
    description: "The document requires credentials for the operation, but it answers an anonymous request as it answers a user.",
};

/// Secured operations tried, at most.
const MAX_OPERATIONS: usize = 30;
/// Operations tried when looking for one that proves a token accepted.
const MAX_PROOF_CANDIDATES: usize = 8;

/// The moat config that makes the gateway verify the document's schemes.
pub const FIX_SECURITY: &str = "# moat enforces the document's security requirements once each scheme has a verifier:\napis:\n  - name: my-api\n    security:\n      bearerAuth:\n        type: jwt\n        algorithms: [HS256]\n        secret: ${file:jwt.secret}\n        issuer: https://auth.example.com\n        audiences: [my-api]";

static RULES: &[&Rule] = &[&NO_CREDENTIALS];

pub struct Credentials;

#[async_trait]
impl Check for Credentials {
    fn name(&self) -> &'static str {
        "authentication"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, cx: &Context) -> Vec<String> {
        let count = cx.ops.iter().filter(|o| o.secured).count();
        vec![format!(
            "each secured operation (at most {MAX_OPERATIONS} of {count}; writes only with --allow-writes) as the first user, then anonymously: 2xx for both is a finding"
        )]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let Some(user) = cx.identities.users.first() else {
            out.skip(
                self.name(),
                "no user identity to compare anonymous answers with",
            );
            return;
        };
        let mut writes_skipped = 0;
        let mut changes_skipped = 0;
        for op in cx.ops.iter().filter(|o| o.secured).take(MAX_OPERATIONS) {
            if op.changes_existing() {
                changes_skipped += 1;
                continue;
            }
            if !op.is_read() && !cx.client.writes_allowed() {
                writes_skipped += 1;
                continue;
            }
            let Some(probe) = cx
                .path_values(op, Some(user.name()))
                .and_then(|values| cx.probe(op, &values))
            else {
                continue;
            };
            let Ok(as_user) = cx.send(&probe, user).await else {
                continue;
            };
            if !as_user.is_success() {
                continue;
            }
            let Ok(anonymous) = cx.send(&probe, &cx.identities.anonymous).await else {
                continue;
            };
            if anonymous.is_success() {
                out.found(no_credentials(op, user, &as_user, &anonymous));
            }
        }
        if writes_skipped > 0 {
            out.skip(
                self.name(),
                format!(
                    "{writes_skipped} secured write operations not tried without --allow-writes"
                ),
            );
        }
        if changes_skipped > 0 {
            out.skip(
                self.name(),
                format!(
                    "{changes_skipped} secured updates and deletes not tried: their sample values would change or remove an existing object"
                ),
            );
        }
    }
}

fn no_credentials(op: &Op, user: &Identity, as_user: &Exchange, anonymous: &Exchange) -> Finding {
    Finding::new(
        &NO_CREDENTIALS,
        "answers without credentials",
        format!(
            "The document requires {} for {}, but a request without any credentials was answered {} as {} was answered {}.",
            if op.schemes.is_empty() { "credentials".to_string() } else { op.schemes.join(" or ") },
            op.reference(),
            anonymous.status,
            user.name(),
            as_user.status,
        ),
    )
    .at(op.reference())
    .by("anonymous")
    .evidence(Context::evidence(anonymous, "answered without credentials"))
    .evidence(Context::evidence(as_user, "the same request as a user"))
    .fix(FIX_SECURITY)
    .fix_api("Authenticate every request to this operation before handling it; answer 401 with WWW-Authenticate otherwise.")
}

/// An operation that answers `user` with 2xx and anonymous with 401 or
/// 403: where a tampered token answered 2xx shows the token accepted.
pub struct Proof<'a> {
    pub op: &'a Op,
    pub probe: Probe,
    pub user_answer: Exchange,
    pub anonymous_status: u16,
}

impl Proof<'_> {
    /// `token` as a bearer token on the proof operation: `Some` with the
    /// exchange when it answered 2xx.
    pub async fn accepts(&self, cx: &Context, who: &str, token: &str) -> Option<Exchange> {
        let identity = Identity::with_headers(
            who,
            crate::identity::Role::User,
            vec![("Authorization".to_string(), format!("Bearer {token}"))],
        );
        let answer = cx.send(&self.probe, &identity).await.ok()?;
        answer.is_success().then_some(answer)
    }
}

/// The first secured read (fewest path parameters first) that proves
/// acceptance for `user`, or why there is none.
pub async fn proof<'a>(cx: &'a Context, user: &Identity) -> Result<Proof<'a>, String> {
    let mut reads: Vec<&Op> = cx.ops.iter().filter(|o| o.secured && o.is_read()).collect();
    reads.sort_by_key(|o| o.path_params().count());
    for op in reads.into_iter().take(MAX_PROOF_CANDIDATES) {
        let Some(probe) = cx
            .path_values(op, Some(user.name()))
            .and_then(|values| cx.probe(op, &values))
        else {
            continue;
        };
        let Ok(user_answer) = cx.send(&probe, user).await else {
            continue;
        };
        if !user_answer.is_success() {
            continue;
        }
        let Ok(anonymous) = cx.send(&probe, &cx.identities.anonymous).await else {
            continue;
        };
        if matches!(anonymous.status, 401 | 403) {
            return Ok(Proof {
                op,
                probe,
                user_answer,
                anonymous_status: anonymous.status,
            });
        }
    }
    Err(format!(
        "no secured read operation answers {} with 2xx and anonymous requests with 401 or 403, so no token's acceptance can be shown",
        user.name()
    ))
}
