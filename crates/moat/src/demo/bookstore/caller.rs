//! Who sent a request: a user named by a bearer token the bookstore issued
//! (`POST /api/login`), or by the gateway's `x-moat-consumer` header when
//! the bookstore runs behind moat, which checks credentials and strips
//! them; anyone else is anonymous.
//!
//! Tokens are compact HS256 JWTs. The JWT weaknesses loosen exactly one
//! check each: `jwt-alg-none` takes unsigned tokens, `jwt-unverified`
//! skips the signature, `jwt-expired` skips `exp`.

use base64::Engine;
use http::HeaderMap;
use serde_json::{Value, json};

use super::{Shared, Weakness};

/// The issuer and audience of the bookstore's tokens: what the demo's
/// gateway config verifies.
pub(crate) const ISSUER: &str = "https://auth.bookstore.example";
pub(crate) const AUDIENCE: &str = "bookstore";

/// How long an issued token lasts.
const TOKEN_SECONDS: u64 = 3600;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Admin,
}

/// Who sent the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Anonymous,
    /// A user by name, with the role the token or the store gives.
    User {
        name: String,
        role: Role,
    },
}

impl Caller {
    /// The caller of a request with `headers`.
    pub(crate) fn of(shared: &Shared, headers: &HeaderMap) -> Caller {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(claims) = bearer.and_then(|t| verify(shared, t)) {
            let Some(name) = claims.get("sub").and_then(Value::as_str) else {
                return Caller::Anonymous;
            };
            let role = if claims.get("role").and_then(Value::as_str) == Some("admin") {
                Role::Admin
            } else {
                Role::User
            };
            return Caller::User {
                name: name.to_string(),
                role,
            };
        }
        if let Some(name) = headers
            .get("x-moat-consumer")
            .and_then(|v| v.to_str().ok())
            .filter(|n| !n.is_empty())
        {
            let role = if shared.role_of(name) == Some(Role::Admin) {
                Role::Admin
            } else {
                Role::User
            };
            return Caller::User {
                name: name.to_string(),
                role,
            };
        }
        Caller::Anonymous
    }

    /// The user's name, unless anonymous.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User { name, .. } => Some(name),
        }
    }

    pub(crate) fn is_admin(&self) -> bool {
        matches!(
            self,
            Caller::User {
                role: Role::Admin,
                ..
            }
        )
    }
}

/// A token for `name` with `role`, signed with the bookstore's secret.
pub(crate) fn issue(shared: &Shared, name: &str, role: Role) -> String {
    let now = now();
    let claims = json!({
        "sub": name,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "scope": "orders:write orders:read",
        "role": match role { Role::Admin => "admin", Role::User => "user" },
    });
    sign(&claims, &shared.settings.jwt_secret)
}

/// A compact HS256 JWS of `claims`.
pub(crate) fn sign(claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "{input}.{}",
        b64(ring::hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

/// The claims of `token` when the bookstore accepts it.
fn verify(shared: &Shared, token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&unb64(header)?).ok()?;
    let claims: Value = serde_json::from_slice(&unb64(payload)?).ok()?;
    let alg = header.get("alg").and_then(Value::as_str)?;
    let signed = match alg {
        "HS256" => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &shared.settings.jwt_secret);
            let tag = unb64(signature)?;
            ring::hmac::verify(
                &key,
                format!(
                    "{header_b64}.{payload}",
                    header_b64 = token.split('.').next()?
                )
                .as_bytes(),
                &tag,
            )
            .is_ok()
        }
        "none" | "None" | "NONE" => {
            if !shared.has(Weakness::JwtAlgNone) {
                return None;
            }
            true
        }
        _ => false,
    };
    if !signed && !shared.has(Weakness::JwtUnverified) {
        return None;
    }
    let expired = claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_none_or(|exp| exp <= now());
    if expired && !shared.has(Weakness::JwtExpired) {
        return None;
    }
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return None;
    }
    Some(claims)
}

/// 256 random bits as 64 hex digits (text, so it can be written to the
/// gateway's secret file): the secret without `weak-jwt-secret`.
pub(crate) fn random_secret() -> Vec<u8> {
    // Two v4 UUIDs from the gateway's generator (request ids): 244 random
    // bits from the operating system's generator.
    let id = || moat_gateway::forwarding::RequestId::new().to_string();
    format!("{}{}", id(), id()).replace('-', "").into_bytes()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}
