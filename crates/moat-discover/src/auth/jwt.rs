//! What a JSON Web Token says about itself: its algorithm and the names of
//! its claims, never their values. The token is decoded, not verified.

use std::collections::BTreeSet;

use crate::sensitive::token::{base64url_json_object, jwt_header};

/// Algorithms kept by name (RFC 7518 and RFC 8037); any other `alg` is
/// reported as [`OTHER_ALG`], so a header cannot smuggle data into a
/// report.
const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "ES256K",
    "PS256", "PS384", "PS512", "EdDSA", "Ed25519", "Ed448", "none",
];

/// The `alg` reported for an algorithm not in the list.
pub const OTHER_ALG: &str = "other";

/// Claim names kept per token and per scheme; further names are counted
/// as dropped.
pub const MAX_CLAIMS: usize = 32;

/// Algorithms kept per scheme.
const MAX_ALGS: usize = 8;

/// Longest claim name kept; longer ones are data, not names.
const MAX_CLAIM_NAME_LEN: usize = 64;

/// One token's algorithm and claim names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtInfo {
    /// The header's `alg`: a registered name, `none` in any case as sent
    /// (`None`, `NONE`: the unsigned-token attack), or [`OTHER_ALG`].
    pub alg: String,
    /// The payload's claim names, sorted (none when the payload is not a
    /// JSON object).
    pub claims: Vec<String>,
}

impl JwtInfo {
    /// The algorithm and claim names of `token`, if it is a JWT.
    pub fn of(token: &str) -> Option<JwtInfo> {
        let (header, payload) = jwt_header(token.trim())?;
        let alg = header
            .get("alg")
            .and_then(serde_json::Value::as_str)
            .map_or(OTHER_ALG, |a| {
                ALGORITHMS
                    .iter()
                    .find(|k| **k == a)
                    .copied()
                    .or_else(|| a.eq_ignore_ascii_case("none").then_some(a))
                    .unwrap_or(OTHER_ALG)
            })
            .to_string();
        let mut claims: Vec<String> = base64url_json_object(payload)
            .map(|p| {
                p.keys()
                    .filter(|k| is_claim_name(k))
                    .take(MAX_CLAIMS)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        claims.sort_unstable();
        Some(JwtInfo { alg, claims })
    }
}

/// A name short enough and free of control characters to be a claim name.
fn is_claim_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_CLAIM_NAME_LEN && !name.chars().any(char::is_control)
}

/// What the JWTs of one scheme had: their algorithms and the union of
/// their claim names, capped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtSeen {
    /// Tokens seen.
    pub tokens: u64,
    algs: BTreeSet<String>,
    claims: BTreeSet<String>,
    dropped: bool,
}

impl JwtSeen {
    /// Adds one token.
    pub fn add(&mut self, jwt: &JwtInfo) {
        self.tokens += 1;
        if self.algs.contains(&jwt.alg) || self.algs.len() < MAX_ALGS {
            self.algs.insert(jwt.alg.clone());
        } else {
            self.dropped = true;
        }
        for claim in &jwt.claims {
            if self.claims.contains(claim) || self.claims.len() < MAX_CLAIMS {
                self.claims.insert(claim.clone());
            } else {
                self.dropped = true;
            }
        }
    }

    /// The algorithms seen, sorted.
    pub fn algs(&self) -> impl Iterator<Item = &str> {
        self.algs.iter().map(String::as_str)
    }

    /// The claim names seen, sorted.
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().map(String::as_str)
    }

    /// Whether some algorithm or claim name was left out by the caps.
    pub fn truncated(&self) -> bool {
        self.dropped
    }
}
