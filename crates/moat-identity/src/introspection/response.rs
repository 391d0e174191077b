//! Reading an introspection response (RFC 7662 §2.2) and judging it.
//!
//! The endpoint is trusted to say whether a token is active, but not to be
//! well-formed: a response moat cannot read unambiguously (not a JSON
//! object, a duplicated member, `active` missing or not a boolean, a
//! member of the wrong type) is treated as no answer
//! ([`EndpointError::Invalid`], hence 503), never as a yes. Only the JSON
//! literal `true` makes a token active.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::error::{EndpointError, IntrospectionError};

/// What the configuration requires of an active token.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
}

/// An active token as the endpoint described it, with the times it must be
/// judged against on every use.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub(crate) token: std::sync::Arc<IntrospectedToken>,
    /// `exp`, seconds since the epoch.
    pub(crate) exp: Option<f64>,
    /// `nbf`, seconds since the epoch.
    pub(crate) nbf: Option<f64>,
}

impl Active {
    /// Checks `exp` (exactly) and `nbf` (with the leeway) against `now`;
    /// used for fresh and cached answers alike.
    ///
    /// `exp` gets no leeway: the authorization server declared the token
    /// valid until then, and a cached answer must not outlive that. `nbf`
    /// gets one because the server already said `active`, and a token just
    /// issued by a server whose clock runs a little ahead must not be
    /// refused.
    pub(crate) fn check(&self, now: f64, leeway: f64) -> Result<(), IntrospectionError> {
        if let Some(exp) = self.exp
            && now >= exp
        {
            return Err(IntrospectionError::Inactive);
        }
        if let Some(nbf) = self.nbf
            && now + leeway < nbf
        {
            return Err(IntrospectionError::Inactive);
        }
        Ok(())
    }
}

/// The endpoint's verdict, once checked against the configuration.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    Active(Active),
    Inactive,
}

/// Parses a response body and judges it at `now`.
pub(crate) fn evaluate(body: &[u8], rules: &Rules, now: f64) -> Result<Verdict, EndpointError> {
    let claims = parse(body)?;
    match claims.get("active") {
        Some(Value::Bool(true)) => {}
        // RFC 7662 §2.2: other members of an inactive answer are not to be
        // relied upon, so they are not even type-checked.
        Some(Value::Bool(false)) => return Ok(Verdict::Inactive),
        Some(_) => return Err(invalid("`active` is not a boolean")),
        None => return Err(invalid("`active` is missing")),
    }
    let exp = numeric_date(&claims, "exp")?;
    let nbf = numeric_date(&claims, "nbf")?;
    numeric_date(&claims, "iat")?;
    let subject = string_member(&claims, "sub")?;
    let client_id = string_member(&claims, "client_id")?;
    let username = string_member(&claims, "username")?;
    let issuer = string_member(&claims, "iss")?;
    string_member(&claims, "token_type")?;
    let scopes = scopes(&claims)?;
    let audiences = audiences(&claims)?;

    if let Some(expected) = &rules.issuer
        && issuer.as_deref() != Some(expected.as_str())
    {
        return Ok(Verdict::Inactive);
    }
    if !rules.audiences.is_empty()
        && !audiences
            .iter()
            .any(|aud| rules.audiences.iter().any(|want| want == aud))
    {
        return Ok(Verdict::Inactive);
    }
    // Expired at the time of the answer: inactive whatever `active` said.
    if exp.is_some_and(|exp| now >= exp) {
        return Ok(Verdict::Inactive);
    }
    let expires_at = exp
        .and_then(|exp| Duration::try_from_secs_f64(exp).ok())
        .and_then(|d| UNIX_EPOCH.checked_add(d));
    let token = IntrospectedToken {
        subject,
        client_id,
        username,
        issuer,
        scopes,
        expires_at,
        claims,
    };
    Ok(Verdict::Active(Active {
        token: std::sync::Arc::new(token),
        exp,
        nbf,
    }))
}

/// An active token, as described by the introspection endpoint.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IntrospectedToken {
    /// `sub`, when present.
    pub subject: Option<String>,
    /// `client_id`: the OAuth client the token was issued to.
    pub client_id: Option<String>,
    /// `username`: the human-readable resource owner, when present.
    pub username: Option<String>,
    /// `iss`, when present.
    pub issuer: Option<String>,
    /// `scope`, split on spaces, in order, without duplicates.
    pub scopes: Vec<String>,
    /// `exp`, when present and representable.
    pub expires_at: Option<SystemTime>,
    /// Every member of the response (including `active`), for claims the
    /// gateway maps to a consumer or forwards.
    pub claims: Map<String, Value>,
}

fn invalid(message: &str) -> EndpointError {
    EndpointError::Invalid(message.to_owned())
}

/// Decodes a JSON object, refusing duplicate names: serde_json would keep
/// the last, and `{"active":false,"active":true}` must not be read as a
/// yes by moat and a no by someone else.
fn parse(body: &[u8]) -> Result<Map<String, Value>, EndpointError> {
    crate::json::unique_object(body).map_err(|e| EndpointError::Invalid(e.to_string()))
}

/// A NumericDate member (seconds since the epoch, possibly fractional).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, EndpointError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(EndpointError::Invalid(format!("`{name}` is out of range"))),
        },
        Some(_) => Err(EndpointError::Invalid(format!("`{name}` is not a number"))),
    }
}

fn string_member(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, EndpointError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EndpointError::Invalid(format!("`{name}` is not a string"))),
    }
}

/// `scope`: a space-separated string (RFC 7662 §2.2).
fn scopes(claims: &Map<String, Value>) -> Result<Vec<String>, EndpointError> {
    let Some(scope) = claims.get("scope") else {
        return Ok(Vec::new());
    };
    let Value::String(scope) = scope else {
        return Err(invalid("`scope` is not a string"));
    };
    let mut seen = HashSet::new();
    Ok(scope
        .split_ascii_whitespace()
        .filter(|s| seen.insert(*s))
        .map(str::to_owned)
        .collect())
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, EndpointError> {
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(invalid("`aud` holds a non-string")))
            .collect(),
        Some(_) => Err(invalid("`aud` is not a string or an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            issuer: None,
            audiences: Vec::new(),
        }
    }

    fn verdict(body: &str) -> Result<Verdict, EndpointError> {
        evaluate(body.as_bytes(), &rules(), 1000.0)
    }

    #[test]
    fn only_the_literal_true_is_active() {
        assert!(matches!(
            verdict(r#"{"active":true}"#),
            Ok(Verdict::Active(_))
        ));
        assert!(matches!(
            verdict(r#"{"active":false}"#),
            Ok(Verdict::Inactive)
        ));
        for bad in [
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{}"#,
            r#"[true]"#,
            r#"{"active":false,"active":true}"#,
            r#"{"active":true} {"#,
            "",
        ] {
            assert!(
                matches!(verdict(bad), Err(EndpointError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn members_of_an_active_answer_are_type_checked() {
        for bad in [
            r#"{"active":true,"exp":"2000"}"#,
            r#"{"active":true,"sub":1}"#,
            r#"{"active":true,"scope":["a"]}"#,
            r#"{"active":true,"aud":[1]}"#,
            r#"{"active":true,"client_id":{}}"#,
        ] {
            assert!(
                matches!(verdict(bad), Err(EndpointError::Invalid(_))),
                "{bad}"
            );
        }
        // An inactive answer's other members are ignored.
        assert!(matches!(
            verdict(r#"{"active":false,"exp":"x"}"#),
            Ok(Verdict::Inactive)
        ));
    }

    #[test]
    fn scopes_are_split_and_deduplicated() {
        let Ok(Verdict::Active(active)) =
            verdict(r#"{"active":true,"scope":" read  write read "}"#)
        else {
            panic!("not active");
        };
        assert_eq!(active.token.scopes, ["read", "write"]);
    }

    #[test]
    fn exp_is_exact_and_nbf_has_leeway() {
        let active = Active {
            token: std::sync::Arc::new(IntrospectedToken {
                subject: None,
                client_id: None,
                username: None,
                issuer: None,
                scopes: Vec::new(),
                expires_at: None,
                claims: Map::new(),
            }),
            exp: Some(100.0),
            nbf: Some(50.0),
        };
        assert!(active.check(99.5, 60.0).is_ok());
        assert_eq!(active.check(100.0, 60.0), Err(IntrospectionError::Inactive));
        assert!(active.check(0.0, 60.0).is_ok());
        assert_eq!(active.check(0.0, 10.0), Err(IntrospectionError::Inactive));
        assert!(matches!(
            verdict(r#"{"active":true,"exp":1000}"#),
            Ok(Verdict::Inactive)
        ));
    }
}
