//! API2 Broken Authentication: bearer tokens the target should refuse.
//!
//! Every rule is proven the same way: on one secured read that answers the
//! user 2xx and anonymous requests 401 or 403 ([`super::auth::proof`]), the
//! tampered token is answered 2xx. An expired token needs a signature the
//! target takes: it is signed with a cracked secret, or sent with a signature
//! the target was already shown not to check (or with `alg: none` where
//! that was accepted); otherwise the rule is skipped, never guessed.

use async_trait::async_trait;

use super::auth::{FIX_SECURITY, Proof, proof};
use super::token::{self, Jwt, WORDLIST};
use super::{Check, Context, Outcome};
use crate::client::Exchange;
use crate::finding::{Category, Finding, Rule, Severity};
use crate::identity::Identity;

pub static INVALID_TOKEN: Rule = Rule {
    id: "auth.invalid-token",
    name: "A garbage bearer token is accepted",
    category: Category::Api2,
    severity: Severity::Critical,
    cwe: Some(287),
    description: "A bearer token that is not a token at all is answered as a valid one.",
};

pub static UNSIGNED_TOKEN: Rule = Rule {
    id: "auth.unsigned-token",
    name: "Token signatures are not verified",
    category: Category::Api2,
    severity: Severity::Critical,
    cwe: Some(347),
    description: "A user's token with its signature altered or removed is accepted: anyone can write their own claims.",
};

pub static ALG_NONE: Rule = Rule {
    id: "auth.alg-none",
    name: "Tokens with `alg: none` are accepted",
    category: Category::Api2,
    severity: Severity::Critical,
    cwe: Some(347),
    description: "A token whose header says `alg: none` and which carries no signature is accepted.",
};

pub static EXPIRED_TOKEN: Rule = Rule {
    id: "auth.expired-token",
    name: "Expired tokens are accepted",
    category: Category::Api2,
    severity: Severity::High,
    cwe: Some(613),
    description: "A token whose `exp` is in the past is accepted: a stolen token never stops working.",
};

pub static WEAK_JWT_SECRET: Rule = Rule {
    id: "auth.weak-jwt-secret",
    name: "The token signing secret is a published one",
    category: Category::Api2,
    severity: Severity::Critical,
    cwe: Some(326),
    description: "The HMAC secret of the user's token is in a list of published example secrets; a token forged with it is accepted.",
};

const GARBAGE: &str = "moat-scan-not-a-token";

/// The gateway change: verify tokens (signature, allowed algorithms,
/// expiry) with a strong secret.
const FIX_JWT: &str = "# moat verifies signature, `alg` (never `none`), `exp`/`nbf` (with `leeway`), issuer and audience:\napis:\n  - name: my-api\n    security:\n      bearerAuth:\n        type: jwt\n        algorithms: [HS256]\n        secret: ${file:jwt.secret}   # openssl rand -base64 48 > jwt.secret\n        issuer: https://auth.example.com\n        audiences: [my-api]\n        leeway: 30s";

static RULES: &[&Rule] = &[
    &INVALID_TOKEN,
    &UNSIGNED_TOKEN,
    &ALG_NONE,
    &EXPIRED_TOKEN,
    &WEAK_JWT_SECRET,
];

pub struct Tokens;

#[async_trait]
impl Check for Tokens {
    fn name(&self) -> &'static str {
        "bearer tokens"
    }

    fn rules(&self) -> &'static [&'static Rule] {
        RULES
    }

    fn plan(&self, _cx: &Context) -> Vec<String> {
        vec![
            "find a secured read the first user's token opens and anonymous requests do not (at most 8 tried)".to_string(),
            "on it, send: a garbage token; the user's JWT with its signature altered, then removed; with `alg` none/None/NONE".to_string(),
            format!(
                "crack the JWT's HMAC secret offline against {} bundled secrets; with one found, send a token re-signed with it",
                WORDLIST.lines().count()
            ),
            "send the user's claims with `exp` in the past, signed with the cracked secret or as the target was shown to accept".to_string(),
        ]
    }

    async fn run(&self, cx: &Context, out: &mut Outcome) {
        let name = self.name();
        let Some(user) = cx.identities.authenticated().find(|i| i.bearer().is_some()) else {
            out.skip(name, "no identity sends a bearer token");
            return;
        };
        let proof = match proof(cx, user).await {
            Ok(proof) => proof,
            Err(reason) => {
                out.skip(name, reason);
                return;
            }
        };
        let tampered = format!("{}-forged", user.name());
        if cx.enabled(&INVALID_TOKEN)
            && let Some(answer) = proof.accepts(cx, &tampered, GARBAGE).await
        {
            out.found(found(
                &INVALID_TOKEN,
                &proof,
                user,
                &answer,
                "a bearer token that is not a token is accepted",
                "`Bearer moat-scan-not-a-token`".to_string(),
                FIX_SECURITY,
            ));
        }
        let Some(jwt) = user.bearer().and_then(Jwt::parse) else {
            out.skip(name, format!("{}'s bearer token is not a JWT", user.name()));
            return;
        };
        let mut unverified = false;
        if cx.enabled(&UNSIGNED_TOKEN) {
            for (how, forged) in [
                ("its signature altered", jwt.signature_altered()),
                ("its signature removed", jwt.signature_removed()),
            ] {
                if let Some(answer) = proof.accepts(cx, &tampered, &forged).await {
                    unverified = true;
                    out.found(found(
                        &UNSIGNED_TOKEN,
                        &proof,
                        user,
                        &answer,
                        "a token whose signature does not verify is accepted",
                        format!("{}'s token with {how}", user.name()),
                        FIX_JWT,
                    ));
                    break;
                }
            }
        }
        let mut none_alg = None;
        if cx.enabled(&ALG_NONE) {
            for alg in ["none", "None", "NONE"] {
                if let Some(answer) = proof.accepts(cx, &tampered, &jwt.unsigned(alg)).await {
                    none_alg = Some(alg);
                    out.found(found(
                        &ALG_NONE,
                        &proof,
                        user,
                        &answer,
                        "a token with `alg: none` and no signature is accepted",
                        format!(
                            "{}'s claims under `{{\"alg\": \"{alg}\"}}` with an empty signature",
                            user.name()
                        ),
                        FIX_JWT,
                    ));
                    break;
                }
            }
        }
        let cracked = match jwt.hmac() {
            Some(_) => jwt.crack(WORDLIST),
            None => {
                out.skip(
                    name,
                    format!(
                        "{}'s token is not HMAC-signed ({}): no secret to crack",
                        user.name(),
                        jwt.alg().unwrap_or("no alg")
                    ),
                );
                None
            }
        };
        if let Some(key) = &cracked
            && cx.enabled(&WEAK_JWT_SECRET)
            && let Some(forged) = jwt.signed_with(&token::reissued(&jwt.claims), key)
            && let Some(answer) = proof.accepts(cx, &tampered, &forged).await
        {
            out.found(
                found(
                    &WEAK_JWT_SECRET,
                    &proof,
                    user,
                    &answer,
                    "the token signing secret is in the list of published secrets",
                    format!(
                        "a token for {} re-signed with the secret on line {} of moat's bundled list of published JWT secrets",
                        user.name(),
                        key.line
                    ),
                    FIX_JWT,
                )
                .fix_api("Sign tokens with a long random secret (at least 256 bits) kept out of code, and rotate it now: every token signed with the old one can be forged."),
            );
        }
        if !cx.enabled(&EXPIRED_TOKEN) {
            return;
        }
        let old = token::expired(&jwt.claims);
        let expired = match (&cracked, unverified, none_alg) {
            (Some(key), _, _) => jwt.signed_with(&old, key).map(|t| {
                (
                    t,
                    format!("signed with the cracked secret (line {})", key.line),
                )
            }),
            (None, true, _) => Some((
                jwt.claims_with_old_signature(&old),
                "with the original signature, which the target does not check".to_string(),
            )),
            (None, false, Some(alg)) => Some((
                jwt.claims_unsigned(&old, alg),
                format!("unsigned under `alg: {alg}`, which the target accepts"),
            )),
            (None, false, None) => None,
        };
        let Some((forged, how)) = expired else {
            out.skip(
                name,
                "expired tokens not tried: without the signing secret and with signatures checked, no expired token the target would otherwise accept can be made",
            );
            return;
        };
        if let Some(answer) = proof.accepts(cx, &tampered, &forged).await {
            out.found(found(
                &EXPIRED_TOKEN,
                &proof,
                user,
                &answer,
                "a token whose `exp` is in the past is accepted",
                format!("{}'s claims with `exp` an hour ago, {how}", user.name()),
                FIX_JWT,
            ));
        }
    }
}

fn found(
    rule: &'static Rule,
    proof: &Proof<'_>,
    user: &Identity,
    answer: &Exchange,
    title: &str,
    sent: String,
    fix: &str,
) -> Finding {
    Finding::new(
        rule,
        title,
        format!(
            "{} answered {} to {sent}, as it answers {} ({}) and unlike a request without credentials ({}).",
            proof.op.reference(),
            answer.status,
            user.name(),
            proof.user_answer.status,
            proof.anonymous_status,
        ),
    )
    .at(proof.op.reference())
    .by(user.name())
    .evidence(Context::evidence(answer, "answered 2xx to the forged token (redacted)"))
    .fix(fix)
}
