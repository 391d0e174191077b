//! JSON Web Tokens as the token checks handle them: taken apart, tampered
//! with (signature altered or removed, `alg: none`), re-signed with a key,
//! and their HMAC secret looked up offline in a bundled wordlist.
//!
//! The wordlist (`jwt-secrets.txt`) is moat's own: published example and
//! placeholder secrets of frameworks and tutorials (jwt.io's
//! `your-256-bit-secret` among them), common words and their usual
//! decorations. A cracked secret is named by its line, never printed.

use base64::Engine;
use serde_json::{Value, json};

/// The bundled wordlist, one candidate secret a line.
pub const WORDLIST: &str = include_str!("jwt-secrets.txt");

/// A compact JWS, taken apart.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
    header_b64: String,
    claims_b64: String,
    signature: Vec<u8>,
}

/// A secret found in the wordlist: its line (1-based) and the key.
#[derive(Clone)]
pub struct Cracked {
    pub line: usize,
    key: Vec<u8>,
}

impl std::fmt::Debug for Cracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cracked {{ line: {} }}", self.line)
    }
}

impl Jwt {
    /// `token` as a JWS with a JSON header and claims, if it is one.
    pub fn parse(token: &str) -> Option<Jwt> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&unb64(h)?).ok()?;
        let claims: Value = serde_json::from_slice(&unb64(c)?).ok()?;
        if !header.is_object() || !claims.is_object() {
            return None;
        }
        Some(Jwt {
            header,
            claims,
            header_b64: h.to_string(),
            claims_b64: c.to_string(),
            signature: unb64(s)?,
        })
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The HMAC algorithm of an `HS256`/`HS384`/`HS512` token.
    pub fn hmac(&self) -> Option<ring::hmac::Algorithm> {
        hmac_of(self.alg()?)
    }

    /// The token with the first byte of its signature changed.
    pub fn signature_altered(&self) -> String {
        let mut signature = self.signature.clone();
        match signature.first_mut() {
            Some(byte) => *byte ^= 0x5a,
            None => signature.push(0x5a),
        }
        format!(
            "{}.{}.{}",
            self.header_b64,
            self.claims_b64,
            b64(&signature)
        )
    }

    /// The token without its signature (`header.claims.`).
    pub fn signature_removed(&self) -> String {
        format!("{}.{}.", self.header_b64, self.claims_b64)
    }

    /// The same claims under `{"alg": alg}` (`none`, `None`, `NONE`) and
    /// no signature.
    pub fn unsigned(&self, alg: &str) -> String {
        let mut header = self.header.clone();
        if let Some(h) = header.as_object_mut() {
            h.insert("alg".to_string(), json!(alg));
        }
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            self.claims_b64
        )
    }

    /// `claims` under this token's header, signed with its keyed mode;
    /// `None` unless the token is HMAC-signed.
    pub fn signed_with(&self, claims: &Value, key: &Cracked) -> Option<String> {
        Some(sign(&self.header, claims, self.hmac()?, &key.key))
    }

    /// `claims` with an `alg: none` header and no signature: an expired
    /// token for a target that takes unsigned ones.
    pub fn claims_unsigned(&self, claims: &Value, alg: &str) -> String {
        let mut header = self.header.clone();
        if let Some(h) = header.as_object_mut() {
            h.insert("alg".to_string(), json!(alg));
        }
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    /// `claims` with this token's header and (no longer matching)
    /// signature: for a target that does not check signatures.
    pub fn claims_with_old_signature(&self, claims: &Value) -> String {
        format!(
            "{}.{}.{}",
            self.header_b64,
            b64(claims.to_string().as_bytes()),
            b64(&self.signature)
        )
    }

    /// The first secret of `wordlist` that verifies the signature.
    pub fn crack(&self, wordlist: &str) -> Option<Cracked> {
        let algorithm = self.hmac()?;
        let input = format!("{}.{}", self.header_b64, self.claims_b64);
        wordlist
            .lines()
            .enumerate()
            .filter(|(_, word)| !word.is_empty())
            .find(|(_, word)| {
                let key = ring::hmac::Key::new(algorithm, word.as_bytes());
                ring::hmac::verify(&key, input.as_bytes(), &self.signature).is_ok()
            })
            .map(|(i, word)| Cracked {
                line: i + 1,
                key: word.as_bytes().to_vec(),
            })
    }
}

fn hmac_of(alg: &str) -> Option<ring::hmac::Algorithm> {
    match alg {
        "HS256" => Some(ring::hmac::HMAC_SHA256),
        "HS384" => Some(ring::hmac::HMAC_SHA384),
        "HS512" => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    }
}

/// A compact JWS of `claims` under `header`, HMAC-signed with `key`.
pub fn sign(
    header: &Value,
    claims: &Value,
    algorithm: ring::hmac::Algorithm,
    key: &[u8],
) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(algorithm, key);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `claims` with `exp` an hour ago (and `iat`, `nbf` before it).
pub fn expired(claims: &Value) -> Value {
    let mut claims = claims.clone();
    let now = now();
    if let Some(c) = claims.as_object_mut() {
        c.insert("exp".to_string(), json!(now.saturating_sub(3600)));
        if c.contains_key("iat") {
            c.insert("iat".to_string(), json!(now.saturating_sub(7200)));
        }
        if c.contains_key("nbf") {
            c.insert("nbf".to_string(), json!(now.saturating_sub(7200)));
        }
    }
    claims
}

/// `claims` as issued again now (a fresh `iat`), so a forged token differs
/// from the one the target issued.
pub fn reissued(claims: &Value) -> Value {
    let mut claims = claims.clone();
    if let Some(c) = claims.as_object_mut() {
        c.insert("iat".to_string(), json!(now().saturating_sub(1)));
    }
    claims
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(secret: &[u8]) -> String {
        sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"sub": "alice", "exp": now() + 3600}),
            ring::hmac::HMAC_SHA256,
            secret,
        )
    }

    #[test]
    fn a_token_signed_with_a_listed_secret_is_cracked() {
        let jwt = Jwt::parse(&token(b"your-256-bit-secret")).unwrap();
        let cracked = jwt.crack(WORDLIST).unwrap();
        assert_eq!(
            WORDLIST.lines().nth(cracked.line - 1),
            Some("your-256-bit-secret")
        );
        // The forged token verifies with the same key, and differs.
        let forged = jwt.signed_with(&reissued(&jwt.claims), &cracked).unwrap();
        let again = Jwt::parse(&forged).unwrap();
        assert_eq!(again.crack(WORDLIST).unwrap().line, cracked.line);
        assert!(!format!("{cracked:?}").contains("your-256"));
    }

    #[test]
    fn a_token_with_a_random_secret_is_not_cracked() {
        let secret: Vec<u8> = (0..32).map(|i| (i * 37 + 11) as u8).collect();
        assert!(
            Jwt::parse(&token(&secret))
                .unwrap()
                .crack(WORDLIST)
                .is_none()
        );
        assert!(
            WORDLIST.lines().count() >= 1000,
            "{}",
            WORDLIST.lines().count()
        );
    }

    #[test]
    fn tampered_tokens_keep_the_claims_and_break_the_signature() {
        let original = token(b"k");
        let jwt = Jwt::parse(&original).unwrap();
        let altered = jwt.signature_altered();
        assert_ne!(altered, original);
        assert_eq!(Jwt::parse(&altered).unwrap().claims, jwt.claims);
        assert!(jwt.signature_removed().ends_with('.'));
        let none = Jwt::parse(&jwt.unsigned("none")).unwrap();
        assert_eq!(none.alg(), Some("none"));
        assert_eq!(none.claims, jwt.claims);
        let old = expired(&jwt.claims);
        assert!(old["exp"].as_u64().unwrap() < now());
        assert!(Jwt::parse("not-a-token").is_none());
        assert!(Jwt::parse("a.b").is_none());
    }
}
