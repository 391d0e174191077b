//! The identity phase: verifying the credentials an operation requires.
//!
//! Per API, each security scheme of the document is bound to a verifier
//! from config. For a request, every scheme the operation's requirement
//! names is extracted and verified; `moat_guard::identity::decide` combines
//! the outcomes. Verifiers that need I/O (the key store, a JWKS endpoint)
//! are called here; the decision itself stays pure.

mod basic;
mod build;
pub(crate) mod lockout;
pub(crate) mod shared_answers;
mod upstream;

pub use basic::{BasicVerifier, hash_password};
pub use build::{SharedVerifiers, WeakSecretOverride};
pub use upstream::IdentityHeaders;

use lockout::{Checked, Lock, checked_for, lockout_subject, record_attempt};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use moat_config::ConsumerConfig;
use moat_guard::identity::{
    Credential, Identity, IdentityDecision, Presented, SchemeOutcome, decide, extract,
};
use moat_identity::introspection::{IntrospectionError, IntrospectionVerifier};
use moat_identity::jwt::{JwtError, JwtVerifier};
use moat_spec::{Operation, SchemeKind};
use moat_state::{KeyManager, LockoutStore};
use std::net::IpAddr;

use crate::client_cert::ClientCert;

/// How one scheme of an API is verified.
pub enum Verifier {
    /// Keys from the key store.
    ApiKey(Arc<KeyManager>),
    /// Consumers' basic credentials.
    Basic(Arc<BasicVerifier>),
    /// Client certificates mapped to consumers.
    Mtls,
    /// Opaque tokens checked at an introspection endpoint.
    Introspection {
        /// The verifier, with its caches.
        verifier: IntrospectionVerifier,
        /// The answer's member naming the consumer.
        consumer_claim: String,
    },
    /// JSON Web Tokens.
    Jwt {
        /// The verifier, with its key and token caches.
        verifier: JwtVerifier,
        /// The claim naming the consumer.
        consumer_claim: String,
    },
}

/// A scheme of the API's document, with its verifier.
pub struct BoundScheme {
    kind: SchemeKind,
    verifier: Verifier,
}

/// Everything the identity phase of one API needs.
pub struct ApiIdentity {
    schemes: HashMap<String, BoundScheme>,
    consumers: Arc<HashMap<String, ConsumerConfig>>,
    headers: Arc<IdentityHeaders>,
    /// How long a credential under attack from many addresses waits
    /// before it is verified.
    slowdown: Duration,
    /// Where the schemes' credentials travel, for removing them.
    recognised: upstream::Recognised,
    /// Weak JWT secrets accepted under `weak_secret_until`.
    pub weak_secrets: Vec<WeakSecretOverride>,
    /// The verifiers of remote keys, by fingerprint, for the next reload
    /// to keep.
    remote_jwt: Vec<(String, moat_identity::jwt::JwtVerifier)>,
}

/// The kind of a credential, as discovery names it.
fn credential_kind(c: &moat_guard::identity::Credential) -> &'static str {
    use moat_guard::identity::Credential;
    match c {
        Credential::ApiKey(_) => "api_key",
        Credential::Bearer(_) => "bearer",
        Credential::Basic { .. } => "basic",
        Credential::ClientCertificate => "client_certificate",
    }
}

impl ApiIdentity {
    /// How long a credential (or login account) that failed from several
    /// addresses waits before each attempt.
    pub fn slowdown(&self) -> Duration {
        self.slowdown
    }

    /// The verifiers of remote keys, by fingerprint.
    pub fn remote_verifiers(
        &self,
    ) -> impl Iterator<Item = (&String, &moat_identity::jwt::JwtVerifier)> {
        self.remote_jwt.iter().map(|(f, v)| (f, v))
    }
}

/// What the identity phase decided, and what to tell the upstream.
pub struct IdentityResult {
    /// The decision.
    pub decision: IdentityDecision,
    /// `WWW-Authenticate` challenges for a 401.
    pub challenges: Vec<String>,
    /// Set when the client or the credential is locked out: how long yet.
    /// Nothing was verified.
    pub locked_out: Option<Duration>,
    /// The presented credential's id (`apikey:<key id>`, `basic:<user>`),
    /// never its secret: for the anomaly detectors.
    pub credential_id: Option<String>,
    /// The kind of the first credential presented (`api_key`, `bearer`,
    /// `basic`, `client_certificate`), never its value: for discovery.
    pub credential_kind: Option<&'static str>,
}

impl ApiIdentity {
    /// Verifies what `op` requires of the request, unless the client or a
    /// presented credential is locked out.
    pub async fn identify(
        &self,
        op: &Operation,
        req: &RequestSide<'_>,
        lockout: Option<&dyn LockoutStore>,
    ) -> IdentityResult {
        if op.policy.alternatives.is_empty() {
            // Nothing to verify, nothing to guess: lockouts do not apply.
            return IdentityResult {
                decision: IdentityDecision::Allowed(None),
                challenges: Vec::new(),
                locked_out: None,
                credential_id: None,
                credential_kind: None,
            };
        }
        let presented = Presented {
            headers: req.headers,
            query: req.query,
            cookies: req.cookies,
            client_certificate: req.client_cert.is_some(),
        };
        // Extract first: lockouts are checked before any verification work.
        let mut extracted = Vec::new();
        for name in op.policy.scheme_names() {
            let found = self
                .schemes
                .get(name)
                .map(|bound| extract(&bound.kind, &presented));
            extracted.push((name, found));
        }
        let credential_kind = extracted.iter().find_map(|(_, found)| match found {
            Some(Ok(Some(c))) => Some(credential_kind(c)),
            _ => None,
        });
        let subjects: Vec<String> = extracted
            .iter()
            .filter_map(|(_, found)| match found {
                Some(Ok(Some(c))) => lockout_subject(c),
                _ => None,
            })
            .collect();
        // Lockouts brake guessing: a request that presents nothing guesses
        // nothing, and an anonymous alternative stays open to it.
        let presented_any = extracted
            .iter()
            .any(|(_, found)| matches!(found, Some(Ok(Some(_)) | Err(_))));
        let mut checked = Checked {
            lock: Lock::Open,
            clean: false,
            repeated: false,
        };
        if let Some(store) = lockout.filter(|_| presented_any) {
            checked = checked_for(store, req.client, &subjects).await;
            match checked.lock {
                Lock::Refused(remaining) => {
                    return IdentityResult {
                        decision: IdentityDecision::Unauthenticated,
                        challenges: Vec::new(),
                        locked_out: Some(remaining),
                        credential_id: subjects.into_iter().next(),
                        credential_kind,
                    };
                }
                Lock::Slowed => tokio::time::sleep(self.slowdown).await,
                Lock::Open => {}
            }
        }

        let mut outcomes: HashMap<&str, SchemeOutcome> = HashMap::new();
        for (name, found) in extracted {
            let outcome = match (found, self.schemes.get(name)) {
                // Unbound schemes are refused at config load; be safe anyway.
                (None, _) | (_, None) => SchemeOutcome::Unavailable,
                (Some(Err(_)), _) => SchemeOutcome::Rejected,
                (Some(Ok(None)), _) => SchemeOutcome::Missing,
                (Some(Ok(Some(credential))), Some(bound)) => {
                    self.verify(&bound.verifier, &credential, req.client_cert)
                        .await
                }
            };
            outcomes.insert(name, outcome);
        }
        let decision = decide(&op.policy, |n| {
            outcomes.get(n).cloned().unwrap_or(SchemeOutcome::Missing)
        });
        if let Some(store) = lockout {
            record_attempt(store, req.client, &subjects, &decision, checked).await;
        }
        let challenges = match &decision {
            IdentityDecision::Unauthenticated
            | IdentityDecision::Invalid { .. }
            | IdentityDecision::InsufficientScope { .. } => self.challenges(op, &decision),
            _ => Vec::new(),
        };
        IdentityResult {
            decision,
            challenges,
            locked_out: None,
            credential_id: subjects.into_iter().next(),
            credential_kind,
        }
    }

    async fn verify(
        &self,
        verifier: &Verifier,
        credential: &Credential,
        client_cert: Option<&ClientCert>,
    ) -> SchemeOutcome {
        match (verifier, credential) {
            (Verifier::Mtls, Credential::ClientCertificate) => {
                let Some(cert) = client_cert else {
                    return SchemeOutcome::Missing;
                };
                // Only certificates mapped to exactly one consumer are
                // accepted: a certificate the CA issued for another purpose
                // identifies nobody here, and one that two consumers'
                // rules match has no single identity (choosing one would
                // depend on the order rules happen to be tried in).
                let mut matching: Vec<&ConsumerConfig> = self
                    .consumers
                    .values()
                    .filter(|c| c.certificates.iter().any(|m| cert.matches(m)))
                    .collect();
                match matching.as_slice() {
                    [c] => SchemeOutcome::Verified(self.identity_of(
                        c.id.clone(),
                        c.scopes.clone(),
                        None,
                    )),
                    [] => {
                        tracing::debug!(fingerprint = %cert.fingerprint,
                            "client certificate maps to no consumer");
                        SchemeOutcome::Rejected
                    }
                    _ => {
                        matching.sort_by(|a, b| a.id.cmp(&b.id));
                        let ids: Vec<&str> = matching.iter().map(|c| c.id.as_str()).collect();
                        tracing::warn!(fingerprint = %cert.fingerprint, consumers = ?ids,
                            "client certificate matches several consumers: refused");
                        SchemeOutcome::Rejected
                    }
                }
            }
            (Verifier::ApiKey(keys), Credential::ApiKey(key)) => {
                match keys.verify(key, moat_state::unix_now()).await {
                    Ok(record) => {
                        let mut identity =
                            self.identity_of(record.consumer_id, record.scopes, None);
                        // Rate limits keyed by API key count per key id.
                        identity.attributes.insert(
                            moat_guard::identity::API_KEY_ID_ATTRIBUTE.to_string(),
                            record.key_id,
                        );
                        SchemeOutcome::Verified(identity)
                    }
                    Err(rejection) if rejection.is_credential_failure() => {
                        tracing::debug!(reason = rejection.reason(), key_id = ?rejection.key_id(),
                            "API key refused");
                        SchemeOutcome::Rejected
                    }
                    Err(rejection) => {
                        crate::log_throttle::warn_throttled!(error = %rejection, "key store unavailable");
                        SchemeOutcome::Unavailable
                    }
                }
            }
            (Verifier::Basic(basic), Credential::Basic { user, password }) => {
                match basic.verify(user, password).await {
                    Some(consumer) => {
                        let scopes = self
                            .consumers
                            .get(&consumer)
                            .map(|c| c.scopes.clone())
                            .unwrap_or_default();
                        SchemeOutcome::Verified(self.identity_of(consumer, scopes, None))
                    }
                    None => SchemeOutcome::Rejected,
                }
            }
            (
                Verifier::Jwt {
                    verifier,
                    consumer_claim,
                },
                Credential::Bearer(token),
            ) => match verifier.verify(token, std::time::SystemTime::now()).await {
                Ok(token) => self.token_identity(
                    &token.claims,
                    token.subject.as_deref(),
                    &token.scopes,
                    consumer_claim,
                ),
                Err(JwtError::Unavailable) => {
                    crate::log_throttle::warn_throttled!(
                        "identity provider unavailable and no cached key can decide"
                    );
                    SchemeOutcome::Unavailable
                }
                Err(e) => {
                    tracing::debug!(error = %e, "bearer token refused");
                    SchemeOutcome::Rejected
                }
            },
            (
                Verifier::Introspection {
                    verifier,
                    consumer_claim,
                },
                Credential::Bearer(token),
            ) => match verifier.verify(token, std::time::SystemTime::now()).await {
                Ok(token) => self.token_identity(
                    &token.claims,
                    token.subject.as_deref(),
                    &token.scopes,
                    consumer_claim,
                ),
                Err(IntrospectionError::Unavailable) => SchemeOutcome::Unavailable,
                Err(_) => SchemeOutcome::Rejected,
            },
            _ => SchemeOutcome::Rejected,
        }
    }

    /// The identity a verified token names: the consumer from
    /// `consumer_claim` (else the subject), a configured consumer's roles, the
    /// token's scopes. A consumer that is not configured is accepted as an
    /// external identity, without roles. A token that names no consumer, or
    /// one that cannot be passed on as it is (empty, control characters,
    /// longer than [`MAX_CONSUMER_LEN`]), identifies no one and is refused:
    /// the upstream would otherwise get an empty consumer, or none at all
    /// on a request moat let through as authenticated.
    fn token_identity(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        subject: Option<&str>,
        scopes: &[String],
        consumer_claim: &str,
    ) -> SchemeOutcome {
        let consumer = claims
            .get(consumer_claim)
            .and_then(serde_json::Value::as_str)
            .or(subject)
            .unwrap_or_default();
        if !acceptable_consumer(consumer) {
            tracing::debug!(
                claim = consumer_claim,
                "token refused: it names no usable consumer"
            );
            return SchemeOutcome::Rejected;
        }
        SchemeOutcome::Verified(self.identity_of(
            consumer.to_string(),
            scopes.to_vec(),
            Some(claims),
        ))
    }

    /// An identity for `consumer`: the roles of a configured consumer, and
    /// attributes from the token's string claims overlaid with the
    /// consumer's configured metadata (config is trusted over tokens).
    fn identity_of(
        &self,
        consumer: String,
        scopes: Vec<String>,
        claims: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Identity {
        let mut attributes: std::collections::BTreeMap<String, String> = claims
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect();
        let configured = self.consumers.get(&consumer);
        if let Some(c) = configured {
            attributes.extend(c.metadata.clone());
        }
        Identity {
            roles: configured.map(|c| c.roles.clone()).unwrap_or_default(),
            scopes,
            attributes,
            consumer,
        }
    }

    fn challenges(&self, op: &Operation, decision: &IdentityDecision) -> Vec<String> {
        let invalid = match decision {
            IdentityDecision::Invalid { scheme } => Some(scheme.as_str()),
            _ => None,
        };
        let scope = match decision {
            IdentityDecision::InsufficientScope { missing } => Some(quoted(&missing.join(" "))),
            _ => None,
        };
        let mut out = Vec::new();
        for name in op.policy.scheme_names() {
            let Some(bound) = self.schemes.get(name) else {
                continue;
            };
            let mut challenge = match &bound.kind {
                SchemeKind::HttpBasic => "Basic realm=\"moat\", charset=\"UTF-8\"".to_string(),
                SchemeKind::HttpBearer
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. } => {
                    if invalid == Some(name) {
                        "Bearer realm=\"moat\", error=\"invalid_token\"".to_string()
                    } else {
                        "Bearer realm=\"moat\"".to_string()
                    }
                }
                // No registered scheme names API keys; this one says where
                // the key goes, in the auth-param syntax of RFC 9110 §11.
                SchemeKind::ApiKey {
                    name: key_name,
                    location,
                } => format!(
                    "ApiKey realm=\"moat\", in={}, name={}",
                    quoted(location.as_str()),
                    quoted(key_name)
                ),
                _ => continue,
            };
            if let Some(scope) = &scope {
                challenge.push_str(&format!(", error=\"insufficient_scope\", scope={scope}"));
            }
            if !out.contains(&challenge) {
                out.push(challenge);
            }
        }
        out
    }
}

/// The longest consumer id a token may name.
pub const MAX_CONSUMER_LEN: usize = 256;

/// Whether a consumer id from a token can be passed on as it is: in the
/// consumer header, in logs, in bindings.
fn acceptable_consumer(consumer: &str) -> bool {
    !consumer.is_empty()
        && consumer.len() <= MAX_CONSUMER_LEN
        && !consumer.chars().any(char::is_control)
}

/// `text` as an RFC 9110 quoted-string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What of a request the identity phase reads.
pub struct RequestSide<'r> {
    /// The request headers.
    pub headers: &'r HeaderMap,
    /// The decoded query.
    pub query: &'r moat_guard::request::Query,
    /// The cookies.
    pub cookies: &'r moat_guard::request::Cookies,
    /// The verified client certificate, if any.
    pub client_cert: Option<&'r ClientCert>,
    /// The client address (see `proxy.trusted_proxies`).
    pub client: IpAddr,
}
