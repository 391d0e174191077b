//! The identity guard: which credentials a request presents, and whether the
//! operation's requirement is met.
//!
//! Two pure steps around the verifiers (which may need I/O and live
//! elsewhere): [`extract`] finds the credential a scheme expects in the
//! request, and [`decide`] combines the verifiers' outcomes per the
//! document's requirement — alternatives OR-ed, schemes within one AND-ed.
//!
//! A credential that is presented but fails verification is always refused,
//! even when the operation also allows anonymous access: a client that sends
//! a bad token wants to know, and silently downgrading it to anonymous hides
//! attacks and bugs alike.

use base64::Engine;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use moat_spec::{ApiKeyLocation, SchemeKind, SecurityPolicy};

/// A credential found in a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key (header, query parameter or cookie).
    ApiKey(String),
    /// A bearer token from `Authorization: Bearer`.
    Bearer(String),
    /// A user name and password from `Authorization: Basic`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// The connection presented a client certificate that the listener
    /// verified.
    ClientCertificate,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never appear in debug output or logs.
        let kind = match self {
            Credential::ApiKey(_) => "ApiKey",
            Credential::Bearer(_) => "Bearer",
            Credential::Basic { .. } => "Basic",
            Credential::ClientCertificate => "ClientCertificate",
        };
        write!(f, "Credential::{kind}(***)")
    }
}

/// A credential that is there but cannot be read (sent twice, bad encoding):
/// refused like a wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// What of a request the extraction looks at.
pub struct Presented<'r> {
    /// The request headers.
    pub headers: &'r HeaderMap,
    /// The decoded query.
    pub query: &'r moat_request::Query,
    /// The cookies.
    pub cookies: &'r moat_request::Cookies,
    /// Whether the connection carries a verified client certificate.
    pub client_certificate: bool,
}

/// The credential `kind` expects, if the request carries one.
pub fn extract(kind: &SchemeKind, req: &Presented<'_>) -> Result<Option<Credential>, Malformed> {
    match kind {
        SchemeKind::ApiKey { name, location } => {
            // Given twice is ambiguous, hence malformed; so is a query or
            // cookie that cannot be decoded.
            let value = match location {
                ApiKeyLocation::Header => single_header(req.headers, name)?,
                ApiKeyLocation::Query if req.query.is_malformed() => return Err(Malformed),
                ApiKeyLocation::Query => req
                    .query
                    .unique(name)
                    .map_err(|_| Malformed)?
                    .map(str::to_string),
                ApiKeyLocation::Cookie if req.cookies.is_undecodable() => return Err(Malformed),
                ApiKeyLocation::Cookie => req
                    .cookies
                    .unique(name)
                    .map_err(|_| Malformed)?
                    .map(str::to_string),
            };
            Ok(value.filter(|v| !v.is_empty()).map(Credential::ApiKey))
        }
        SchemeKind::HttpBearer | SchemeKind::OAuth2 { .. } | SchemeKind::OpenIdConnect { .. } => {
            Ok(authorization(req.headers, "bearer")?.map(Credential::Bearer))
        }
        SchemeKind::HttpBasic => {
            let Some(encoded) = authorization(req.headers, "basic")? else {
                return Ok(None);
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|_| Malformed)?;
            let text = String::from_utf8(bytes).map_err(|_| Malformed)?;
            let (user, password) = text.split_once(':').ok_or(Malformed)?;
            Ok(Some(Credential::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }))
        }
        SchemeKind::MutualTls => Ok(req
            .client_certificate
            .then_some(Credential::ClientCertificate)),
        SchemeKind::HttpOther(_) => Ok(None),
        _ => Ok(None),
    }
}

/// One header's value; sent twice is ambiguous, hence malformed.
fn single_header(headers: &HeaderMap, name: &str) -> Result<Option<String>, Malformed> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Malformed);
    }
    first
        .to_str()
        .map(|s| Some(s.trim().to_string()))
        .map_err(|_| Malformed)
}

/// `Authorization: <scheme> <value>`; a different scheme is not this
/// credential, and more than one `Authorization` header is malformed.
fn authorization(headers: &HeaderMap, scheme: &str) -> Result<Option<String>, Malformed> {
    let Some(value) = single_header(headers, AUTHORIZATION.as_str())? else {
        return Ok(None);
    };
    let Some((given, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !given.eq_ignore_ascii_case(scheme) {
        return Ok(None);
    }
    let rest = rest.trim();
    if rest.is_empty() || rest.contains(' ') {
        return Err(Malformed);
    }
    Ok(Some(rest.to_string()))
}

/// Decodes one component of a query string (`%XX` and `+`).
pub fn decode_query_component(s: &str) -> Result<String, Malformed> {
    moat_request::query::decode_component(s).ok_or(Malformed)
}

/// The identity attribute holding the id of the API key a request was
/// verified with (set by moat after the consumer's metadata, so config cannot
/// shadow it).
pub const API_KEY_ID_ATTRIBUTE: &str = "moat.api_key_id";

/// Who a verified credential belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The consumer id (or the token subject, for external identities).
    pub consumer: String,
    /// Scopes granted to this credential.
    pub scopes: Vec<String>,
    /// Roles of the consumer.
    pub roles: Vec<String>,
    /// Attributes for object-level rules: the consumer's configured
    /// metadata, and a token's string claims.
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// A verifier's answer for one scheme of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeOutcome {
    /// The request carries no credential for this scheme.
    Missing,
    /// The credential is valid.
    Verified(Identity),
    /// The credential is there and wrong (unknown, expired, revoked, bad
    /// signature, malformed): all answered alike.
    Rejected,
    /// A remote verifier could not be reached and nothing cached could decide.
    Unavailable,
}

/// The identity guard's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityDecision {
    /// An alternative of the requirement is met; the identity is the one its
    /// first scheme verified (none for an anonymous alternative).
    Allowed(Option<Identity>),
    /// No alternative is met and nothing was presented for it: `401` with a
    /// challenge for each scheme.
    Unauthenticated,
    /// A presented credential was refused: `401`, `invalid_token` for bearer.
    Invalid {
        /// The scheme whose credential was refused.
        scheme: String,
    },
    /// Credentials were verified, but no alternative's required scopes are
    /// all granted: `403`, `insufficient_scope` for bearer.
    InsufficientScope {
        /// The scopes of the closest alternative that the identity lacks.
        missing: Vec<String>,
    },
    /// A verifier was unreachable and nothing else met the requirement: `503`.
    Unavailable,
}

/// Combines the outcomes (by scheme name) per the policy.
pub fn decide(
    policy: &SecurityPolicy,
    outcome: impl Fn(&str) -> SchemeOutcome,
) -> IdentityDecision {
    if policy.alternatives.is_empty() {
        return IdentityDecision::Allowed(None);
    }
    let names = policy.scheme_names();
    let outcomes: Vec<(&str, SchemeOutcome)> = names.iter().map(|n| (*n, outcome(n))).collect();
    let of = |name: &str| {
        outcomes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| o)
            .unwrap_or(&SchemeOutcome::Missing)
    };
    if let Some((name, _)) = outcomes.iter().find(|(_, o)| *o == SchemeOutcome::Rejected) {
        return IdentityDecision::Invalid {
            scheme: (*name).to_string(),
        };
    }
    // An alternative is met when each of its schemes verified and granted
    // the scopes it names (function-level authorization).
    let mut closest_missing: Option<Vec<String>> = None;
    // An anonymous alternative (`{}`) is met by every request, but a caller
    // who presented credentials that meet another alternative is that
    // caller: their identity (roles, ownership, limits) counts.
    let mut anonymous = false;
    for alternative in &policy.alternatives {
        let mut identity = None;
        let mut missing: Vec<String> = Vec::new();
        let verified = alternative
            .schemes
            .iter()
            .all(|(name, scopes)| match of(name) {
                SchemeOutcome::Verified(id) => {
                    missing.extend(scopes.iter().filter(|s| !id.scopes.contains(s)).cloned());
                    identity.get_or_insert_with(|| id.clone());
                    true
                }
                _ => false,
            });
        if verified && missing.is_empty() {
            if identity.is_some() {
                return IdentityDecision::Allowed(identity);
            }
            anonymous = true;
            continue;
        }
        if verified
            && closest_missing
                .as_ref()
                .is_none_or(|m| missing.len() < m.len())
        {
            closest_missing = Some(missing);
        }
    }
    if anonymous {
        return IdentityDecision::Allowed(None);
    }
    if let Some(missing) = closest_missing {
        return IdentityDecision::InsufficientScope { missing };
    }
    if outcomes
        .iter()
        .any(|(_, o)| *o == SchemeOutcome::Unavailable)
    {
        return IdentityDecision::Unavailable;
    }
    IdentityDecision::Unauthenticated
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use moat_spec::Requirement;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn presented<'a>(h: &'a HeaderMap, q: Option<&'a str>) -> Presented<'a> {
        // Leaked: a test's views live as long as the test.
        let query = Box::leak(Box::new(
            q.map(moat_request::Query::parse).unwrap_or_default(),
        ));
        let cookies = Box::leak(Box::new(moat_request::Cookies::parse(h)));
        Presented {
            headers: h,
            query,
            cookies,
            client_certificate: false,
        }
    }

    fn key(location: ApiKeyLocation, name: &str) -> SchemeKind {
        SchemeKind::ApiKey {
            name: name.into(),
            location,
        }
    }

    #[test]
    fn api_keys_from_header_query_and_cookie() {
        let h = headers(&[("x-api-key", " k1 "), ("cookie", "a=1; session=k3")]);
        let p = presented(&h, Some("x=1&api%5Fkey=k%2B2"));
        assert_eq!(
            extract(&key(ApiKeyLocation::Header, "X-Api-Key"), &p),
            Ok(Some(Credential::ApiKey("k1".into())))
        );
        assert_eq!(
            extract(&key(ApiKeyLocation::Query, "api_key"), &p),
            Ok(Some(Credential::ApiKey("k+2".into())))
        );
        assert_eq!(
            extract(&key(ApiKeyLocation::Cookie, "session"), &p),
            Ok(Some(Credential::ApiKey("k3".into())))
        );
        assert_eq!(extract(&key(ApiKeyLocation::Cookie, "other"), &p), Ok(None));
    }

    #[test]
    fn duplicates_are_malformed_not_chosen_from() {
        let h = headers(&[("x-api-key", "a"), ("x-api-key", "b")]);
        assert_eq!(
            extract(
                &key(ApiKeyLocation::Header, "x-api-key"),
                &presented(&h, None)
            ),
            Err(Malformed)
        );
        let h = HeaderMap::new();
        assert_eq!(
            extract(
                &key(ApiKeyLocation::Query, "k"),
                &presented(&h, Some("k=a&k=b"))
            ),
            Err(Malformed)
        );
        let h = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(
            extract(&SchemeKind::HttpBearer, &presented(&h, None)),
            Err(Malformed)
        );
    }

    #[test]
    fn bearer_and_basic() {
        let h = headers(&[("authorization", "bearer abc.def.ghi")]);
        let p = presented(&h, None);
        assert_eq!(
            extract(&SchemeKind::HttpBearer, &p),
            Ok(Some(Credential::Bearer("abc.def.ghi".into())))
        );
        assert_eq!(
            extract(&SchemeKind::HttpBasic, &p),
            Ok(None),
            "another scheme"
        );
        let h = headers(&[("authorization", "Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z")]);
        assert_eq!(
            extract(&SchemeKind::HttpBasic, &presented(&h, None)),
            Ok(Some(Credential::Basic {
                user: "alice".into(),
                password: "s3cr3t:with:colons".into()
            }))
        );
        let h = headers(&[("authorization", "Basic !!!")]);
        assert_eq!(
            extract(&SchemeKind::HttpBasic, &presented(&h, None)),
            Err(Malformed)
        );
        let h = headers(&[("authorization", "Bearer a b")]);
        assert_eq!(
            extract(&SchemeKind::HttpBearer, &presented(&h, None)),
            Err(Malformed)
        );
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let c = Credential::Bearer("secret-token".into());
        assert_eq!(format!("{c:?}"), "Credential::Bearer(***)");
    }

    fn policy(alternatives: &[&[&str]]) -> SecurityPolicy {
        SecurityPolicy {
            alternatives: alternatives
                .iter()
                .map(|schemes| Requirement {
                    schemes: schemes.iter().map(|s| (s.to_string(), vec![])).collect(),
                })
                .collect(),
        }
    }

    fn id(c: &str) -> SchemeOutcome {
        SchemeOutcome::Verified(Identity {
            consumer: c.into(),
            ..Identity::default()
        })
    }

    #[test]
    fn alternatives_or_schemes_and() {
        let p = policy(&[&["Key"], &["Jwt", "Cert"]]);
        let d = decide(&p, |n| {
            if n == "Key" {
                id("alice")
            } else {
                SchemeOutcome::Missing
            }
        });
        assert_eq!(
            d,
            IdentityDecision::Allowed(Some(Identity {
                consumer: "alice".into(),
                ..Default::default()
            }))
        );
        // AND: one of two is not enough
        let d = decide(&p, |n| {
            if n == "Jwt" {
                id("bob")
            } else {
                SchemeOutcome::Missing
            }
        });
        assert_eq!(d, IdentityDecision::Unauthenticated);
        let d = decide(&p, |n| {
            if n == "Key" {
                SchemeOutcome::Missing
            } else {
                id("bob")
            }
        });
        assert!(matches!(d, IdentityDecision::Allowed(Some(ref i)) if i.consumer == "bob"));
    }

    #[test]
    fn scopes_must_all_be_granted() {
        let p = SecurityPolicy {
            alternatives: vec![Requirement {
                schemes: vec![("OAuth".into(), vec!["read".into(), "write".into()])],
            }],
        };
        let with = |scopes: &[&str]| {
            SchemeOutcome::Verified(Identity {
                consumer: "c".into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..Identity::default()
            })
        };
        assert!(matches!(
            decide(&p, |_| with(&["read", "write", "x"])),
            IdentityDecision::Allowed(Some(_))
        ));
        assert_eq!(
            decide(&p, |_| with(&["read"])),
            IdentityDecision::InsufficientScope {
                missing: vec!["write".into()]
            }
        );
        // a scope-less alternative met by another scheme still allows
        let p2 = SecurityPolicy {
            alternatives: vec![
                p.alternatives[0].clone(),
                Requirement {
                    schemes: vec![("Key".into(), vec![])],
                },
            ],
        };
        assert!(matches!(
            decide(&p2, |n| if n == "Key" {
                with(&[])
            } else {
                with(&["read"])
            }),
            IdentityDecision::Allowed(Some(_))
        ));
    }

    #[test]
    fn anonymous_none_and_refusals() {
        assert_eq!(
            decide(&policy(&[]), |_| SchemeOutcome::Missing),
            IdentityDecision::Allowed(None)
        );
        let optional = policy(&[&[], &["Jwt"]]);
        assert_eq!(
            decide(&optional, |_| SchemeOutcome::Missing),
            IdentityDecision::Allowed(None)
        );
        // a bad credential is refused even where anonymous access is allowed
        assert_eq!(
            decide(&optional, |_| SchemeOutcome::Rejected),
            IdentityDecision::Invalid {
                scheme: "Jwt".into()
            }
        );
        let p = policy(&[&["Key"], &["Jwt"]]);
        assert_eq!(
            decide(&p, |n| if n == "Jwt" {
                SchemeOutcome::Unavailable
            } else {
                SchemeOutcome::Missing
            }),
            IdentityDecision::Unavailable
        );
        // an unreachable IdP does not matter when another alternative is met
        assert!(matches!(
            decide(&p, |n| if n == "Jwt" {
                SchemeOutcome::Unavailable
            } else {
                id("k")
            }),
            IdentityDecision::Allowed(Some(_))
        ));
    }
}
