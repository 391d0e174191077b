//! Reading a compact JWS and checking its registered claims.
//!
//! Parsing is done here rather than by `jsonwebtoken::decode` because the
//! gateway needs things that function does not do: a size cap before any
//! work, `none` told apart from unknown algorithms, `crit` refused,
//! duplicate claim names refused, `iat` in the future refused, several
//! accepted audiences, and the clock passed in (so that a cached token is
//! judged against the same `now` as a fresh one).

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::algorithms::{self, Algorithm};
use super::error::{AlgorithmRejection, JwtError};

/// The largest token accepted, checked before anything else is done with
/// it. Real access tokens are well under 4 KiB; the cap bounds the work
/// and memory an unauthenticated request can cause.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token split into its parts, with the header read.
pub(crate) struct Parsed<'t> {
    /// The algorithm the header names (already checked to be a real one).
    pub(crate) alg: Algorithm,
    /// The header's `kid`.
    pub(crate) kid: Option<String>,
    /// `header.payload`, the signed bytes.
    pub(crate) signing_input: &'t str,
    /// The base64url payload.
    pub(crate) payload: &'t str,
    /// The decoded signature.
    pub(crate) signature: Vec<u8>,
}

/// Splits a token and reads its header.
pub(crate) fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed("larger than the size cap"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(JwtError::Malformed("empty header or payload"));
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    // Only `alg`, `kid` and `crit` are read. `typ`, `cty` and the like are
    // ignored; `jku`, `x5u` and `jwk` are deliberately ignored too: a token
    // must never choose the key that verifies it.
    let header = json_object(header, "header is not a JSON object with unique names")?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: a recipient that does not understand a critical
        // extension must reject the token. moat understands none.
        return Err(JwtError::Malformed("`crit` header"));
    }
    let Some(Value::String(alg_name)) = header.get("alg") else {
        return Err(JwtError::Malformed("no string `alg` in the header"));
    };
    let alg = match algorithms::from_header(alg_name) {
        Some(alg) => alg,
        None if alg_name.eq_ignore_ascii_case("none") => {
            return Err(JwtError::Algorithm(AlgorithmRejection::None));
        }
        None => return Err(JwtError::Algorithm(AlgorithmRejection::Unknown)),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtError::Malformed("`kid` is not a string")),
    };
    if signature.is_empty() {
        return Err(JwtError::Malformed("empty signature"));
    }
    let signature = b64(signature)?;
    Ok(Parsed {
        alg,
        kid,
        signing_input,
        payload,
        signature,
    })
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    // URL-safe alphabet, no padding, canonical trailing bits: one spelling
    // per token, so the cache key and the verified bytes agree.
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("invalid base64url"))
}

/// Decodes the payload into a claims object, refusing duplicate names
/// (in the header too): serde_json would keep the last, and a backend that
/// keeps the first would read another subject than the one moat checked.
pub(crate) fn claims(payload: &str) -> Result<Map<String, Value>, JwtError> {
    json_object(payload, "payload is not a JSON object with unique names")
}

/// Decodes a base64url part holding a JSON object with unique names.
fn json_object(part: &str, error: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = b64(part)?;
    crate::json::unique_object(&bytes).map_err(|_| JwtError::Malformed(error))
}

/// What the registered claims must satisfy.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) require_exp: bool,
}

/// The time claims of a token, in seconds since the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
}

impl Times {
    /// Checks `exp` and `nbf` against `now`; used for fresh and cached
    /// tokens alike.
    pub(crate) fn check(&self, now: f64, leeway: f64) -> Result<(), JwtError> {
        if let Some(exp) = self.exp {
            // RFC 7519 §4.1.4: valid only before `exp`.
            if now >= exp + leeway {
                return Err(JwtError::Expired);
            }
        }
        if let Some(nbf) = self.nbf
            && now + leeway < nbf
        {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }
}

/// Seconds since the epoch; times before it count as 0.
pub(crate) fn unix_seconds(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Checks the registered claims and returns the token's times.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: f64,
) -> Result<Times, JwtError> {
    let leeway = rules.leeway.as_secs_f64();
    let times = Times {
        exp: numeric_date(claims, "exp")?,
        nbf: numeric_date(claims, "nbf")?,
    };
    if rules.require_exp && times.exp.is_none() {
        return Err(JwtError::MissingClaim("exp"));
    }
    times.check(now, leeway)?;
    if let Some(iat) = numeric_date(claims, "iat")? {
        // A token issued in the future comes from a wrong clock or a
        // forger pre-minting tokens; either way it is not valid yet.
        if iat > now + leeway {
            return Err(JwtError::NotYetValid);
        }
    }
    let issuer = string_claim(claims, "iss")?;
    if let Some(expected) = &rules.issuer
        && issuer != Some(expected.as_str())
    {
        return Err(JwtError::Issuer);
    }
    let audiences = audiences(claims)?;
    if !rules.audiences.is_empty()
        && !audiences
            .iter()
            .any(|aud| rules.audiences.iter().any(|want| want == aud))
    {
        return Err(JwtError::Audience);
    }
    Ok(times)
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(JwtError::Malformed("time claim out of range")),
        },
        Some(_) => Err(JwtError::Malformed("time claim is not a number")),
    }
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'c str>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::Malformed("string claim of another type")),
    }
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, JwtError> {
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or(JwtError::Malformed("`aud` holds a non-string"))
            })
            .collect(),
        Some(_) => Err(JwtError::Malformed("`aud` is not a string or an array")),
    }
}

/// A token whose signature and claims were verified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// All claims of the payload.
    pub claims: Map<String, Value>,
    /// `sub`, when present.
    pub subject: Option<String>,
    /// `iss`, when present.
    pub issuer: Option<String>,
    /// `exp`, when present and representable.
    pub expires_at: Option<SystemTime>,
    /// The OAuth scopes: `scope` (space-separated, RFC 8693 / RFC 9068)
    /// and `scp` (an array or a space-separated string, as Azure AD and
    /// Okta send it), in order, without duplicates.
    pub scopes: Vec<String>,
    /// The algorithm the token was verified with.
    pub algorithm: Algorithm,
    /// The `kid` of the header, when present.
    pub key_id: Option<String>,
}

impl VerifiedToken {
    /// Builds the result from checked claims.
    pub(crate) fn new(
        claims: Map<String, Value>,
        times: Times,
        algorithm: Algorithm,
        key_id: Option<String>,
    ) -> Result<Self, JwtError> {
        let subject = string_claim(&claims, "sub")?.map(str::to_owned);
        let issuer = string_claim(&claims, "iss")?.map(str::to_owned);
        let expires_at = times
            .exp
            .and_then(|exp| Duration::try_from_secs_f64(exp).ok())
            .and_then(|d| UNIX_EPOCH.checked_add(d));
        let scopes = scopes(&claims)?;
        Ok(Self {
            claims,
            subject,
            issuer,
            expires_at,
            scopes,
            algorithm,
            key_id,
        })
    }
}

fn scopes(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut add = |s: &str| {
        for scope in s.split_ascii_whitespace() {
            if seen.insert(scope.to_owned()) {
                out.push(scope.to_owned());
            }
        }
    };
    // RFC 9068 says a string; several providers send an array of strings.
    match claims.get("scope") {
        None => {}
        Some(Value::String(s)) => add(s),
        Some(Value::Array(items)) => {
            for item in items {
                add(item
                    .as_str()
                    .ok_or(JwtError::Malformed("`scope` holds a non-string"))?);
            }
        }
        Some(_) => return Err(JwtError::Malformed("`scope` is not a string or an array")),
    }
    match claims.get("scp") {
        None => {}
        Some(Value::String(s)) => add(s),
        Some(Value::Array(items)) => {
            for item in items {
                add(item
                    .as_str()
                    .ok_or(JwtError::Malformed("`scp` holds a non-string"))?);
            }
        }
        Some(_) => return Err(JwtError::Malformed("`scp` is not a string or an array")),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn token(header: &Value, payload: &str) -> String {
        format!("{}.{}.c2ln", enc(header), payload)
    }

    #[test]
    fn splits_and_reads_the_header() {
        let payload = enc(&json!({"sub": "a"}));
        let t = token(
            &json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}),
            &payload,
        );
        let p = parse(&t).unwrap();
        assert_eq!(p.alg, Algorithm::ES256);
        assert_eq!(p.kid.as_deref(), Some("k1"));
        assert_eq!(p.signature, b"sig");
        assert_eq!(p.payload, payload);
        assert_eq!(p.signing_input, &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn refuses_malformed_tokens() {
        let good_header = enc(&json!({"alg": "HS256"}));
        let payload = enc(&json!({}));
        for bad in [
            String::new(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            format!("{good_header}.{payload}."),
            format!(".{payload}.c2ln"),
            format!("{good_header}.{payload}.c2ln="),
            format!("{good_header}.{payload}.c2l+"),
            format!("{}.{payload}.c2ln", enc(&json!(["alg"]))),
            format!("{}.{payload}.c2ln", enc(&json!({"alg": 5}))),
            format!(
                "{}.{payload}.c2ln",
                enc(&json!({"alg": "HS256", "alg2": 1, "crit": ["b64"]}))
            ),
            format!("{good_header}.{payload}.{}", "A".repeat(MAX_TOKEN_BYTES)),
        ] {
            assert!(
                matches!(parse(&bad), Err(JwtError::Malformed(_))),
                "{bad:.60}"
            );
        }
        // Duplicate header fields.
        let dup = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","alg":"none"}"#);
        assert!(matches!(
            parse(&format!("{dup}.{payload}.c2ln")),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn none_and_unknown_algorithms_are_told_apart() {
        let payload = enc(&json!({}));
        for none in ["none", "None", "NONE"] {
            let t = token(&json!({"alg": none}), &payload);
            assert_eq!(
                parse(&t).err(),
                Some(JwtError::Algorithm(AlgorithmRejection::None))
            );
        }
        let t = token(&json!({"alg": "ES512"}), &payload);
        assert_eq!(
            parse(&t).err(),
            Some(JwtError::Algorithm(AlgorithmRejection::Unknown))
        );
    }

    #[test]
    fn claims_must_be_an_object_with_unique_names() {
        assert!(claims(&enc(&json!({"sub": "a"}))).is_ok());
        assert!(claims(&enc(&json!(["sub"]))).is_err());
        let dup = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","sub":"alice"}"#);
        assert!(claims(&dup).is_err());
        let trailing = URL_SAFE_NO_PAD.encode(br#"{"sub":"a"} x"#);
        assert!(claims(&trailing).is_err());
    }

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some("https://idp".into()),
            audiences: vec!["api".into(), "other".into()],
            leeway: Duration::from_secs(30),
            require_exp: true,
        }
    }

    fn check(v: Value) -> Result<Times, JwtError> {
        check_claims(v.as_object().unwrap(), &rules(), 1000.0)
    }

    #[test]
    fn checks_registered_claims_with_leeway() {
        let ok = json!({"iss": "https://idp", "aud": "api", "exp": 1100, "nbf": 1010, "iat": 1020});
        assert!(check(ok).is_ok());
        assert_eq!(
            check(json!({"iss": "https://idp", "aud": "api"})).err(),
            Some(JwtError::MissingClaim("exp"))
        );
        assert_eq!(
            check(json!({"iss": "https://idp", "aud": "api", "exp": 970})).err(),
            Some(JwtError::Expired)
        );
        assert!(check(json!({"iss": "https://idp", "aud": "api", "exp": 971})).is_ok());
        assert_eq!(
            check(json!({"iss": "https://idp", "aud": "api", "exp": 2000, "nbf": 1031})).err(),
            Some(JwtError::NotYetValid)
        );
        assert_eq!(
            check(json!({"iss": "https://idp", "aud": "api", "exp": 2000, "iat": 1031})).err(),
            Some(JwtError::NotYetValid)
        );
        assert_eq!(
            check(json!({"iss": "https://evil", "aud": "api", "exp": 2000})).err(),
            Some(JwtError::Issuer)
        );
        assert_eq!(
            check(json!({"aud": "api", "exp": 2000})).err(),
            Some(JwtError::Issuer)
        );
        assert_eq!(
            check(json!({"iss": "https://idp", "aud": "web", "exp": 2000})).err(),
            Some(JwtError::Audience)
        );
        assert_eq!(
            check(json!({"iss": "https://idp", "exp": 2000})).err(),
            Some(JwtError::Audience)
        );
        assert!(check(json!({"iss": "https://idp", "aud": ["web", "other"], "exp": 2000})).is_ok());
        assert!(matches!(
            check(json!({"iss": "https://idp", "aud": [1], "exp": 2000})),
            Err(JwtError::Malformed(_))
        ));
        assert!(matches!(
            check(json!({"iss": "https://idp", "aud": "api", "exp": "2000"})),
            Err(JwtError::Malformed(_))
        ));
        assert!(check(json!({"iss": "https://idp", "aud": "api", "exp": 1500.5})).is_ok());
    }

    #[test]
    fn scopes_come_from_scope_and_scp() {
        let claims = json!({"scope": "read write", "scp": ["write", "admin"], "exp": 1e300});
        let times = Times {
            exp: Some(1e300),
            nbf: None,
        };
        let t = VerifiedToken::new(
            claims.as_object().unwrap().clone(),
            times,
            Algorithm::ES256,
            None,
        )
        .unwrap();
        assert_eq!(t.scopes, ["read", "write", "admin"]);
        // An unrepresentable `exp` gives no `expires_at` rather than a panic.
        assert_eq!(t.expires_at, None);
        let scp = json!({"scp": "a b"});
        let t = VerifiedToken::new(
            scp.as_object().unwrap().clone(),
            Times::default(),
            Algorithm::ES256,
            None,
        )
        .unwrap();
        assert_eq!(t.scopes, ["a", "b"]);
    }
}
