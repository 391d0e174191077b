//! The identity phase: verifying the credentials an operation requires.
//!
//! Per API, each security scheme of the document is bound to a verifier
//! from config. For a request, every scheme the operation's requirement
//! names is extracted and verified; `moat_guard::identity::decide` combines
//! the outcomes. Verifiers that need I/O (the key store, a JWKS endpoint)
//! are called here; the decision itself stays pure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue};
use moat_config::{
    ConsumerConfig, Diagnostics, IdentityConfig, JwtVerifierConfig, LoadedConfig, VerifierConfig,
};
use moat_config::{IntrospectionAuth, IntrospectionVerifierConfig};
use moat_guard::identity::{
    Credential, Identity, IdentityDecision, Presented, SchemeOutcome, decide,
    decode_query_component, extract,
};
use moat_identity::introspection::{
    ClientAuth, IntrospectionConfig, IntrospectionConfigError, IntrospectionError,
    IntrospectionVerifier,
};
use moat_identity::jwt::{
    JwtConfig, JwtConfigError, JwtError, JwtVerifier, KeySource, parse_algorithm,
};
use moat_spec::{ApiKeyLocation, ApiSpec, Operation, SchemeKind};
use moat_state::{KeyManager, LockoutStore, LockoutSubject};
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
}

/// The identity headers, parsed once.
pub struct IdentityHeaders {
    consumer: HeaderName,
    scopes: HeaderName,
    roles: HeaderName,
    forward_credentials: bool,
}

impl IdentityHeaders {
    /// From config, which validated the names.
    pub fn new(cfg: &IdentityConfig) -> Self {
        let name = |s: &str, fallback: &'static str| {
            HeaderName::from_bytes(s.as_bytes()).unwrap_or(HeaderName::from_static(fallback))
        };
        Self {
            consumer: name(&cfg.consumer_header, "x-moat-consumer"),
            scopes: name(&cfg.scopes_header, "x-moat-scopes"),
            roles: name(&cfg.roles_header, "x-moat-roles"),
            forward_credentials: cfg.forward_credentials,
        }
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
}

/// Who failures are counted against, besides the client address: the part
/// of a credential that names it (never the secret part).
fn lockout_subject(credential: &Credential) -> Option<String> {
    match credential {
        Credential::ApiKey(key) => moat_state::format::parse(key)
            .ok()
            .map(|k| format!("apikey:{}", k.key_id())),
        Credential::Basic { user, .. } => Some(format!("basic:{user}")),
        // Guessing a signed token or an opaque token is not a brute-force
        // target; the client address still counts its failures.
        Credential::Bearer(_) | Credential::ClientCertificate => None,
    }
}

impl ApiIdentity {
    /// Binds each scheme the document's requirements use to its configured
    /// verifier; a missing or unfitting binding is a diagnostic at the API's
    /// `security` (or `spec`) entry.
    pub fn build(
        index: usize,
        spec: &ApiSpec,
        loaded: &LoadedConfig,
        shared: &SharedVerifiers,
        errors: &mut Diagnostics,
    ) -> Self {
        let api = &loaded.config.apis[index];
        let doc = &loaded.document;
        let mut used: Vec<&str> = Vec::new();
        for op in &spec.operations {
            for name in op.policy.scheme_names() {
                if !used.contains(&name) {
                    used.push(name);
                }
            }
        }
        let mut schemes = HashMap::new();
        for name in used {
            let Some(scheme) = spec.schemes.get(name) else {
                continue; // the spec loader reported it
            };
            let Some(cfg) = api.security.get(name) else {
                errors.push(
                    doc.error_at(
                        &format!("/apis/{index}/spec"),
                        format!(
                            "the document requires security scheme `{name}` ({}), and the config does not say how to verify it",
                            scheme.kind.describe()
                        ),
                    )
                    .with_hint(format!(
                        "add `security: {{{name}: {{type: {}}}}}` to this API",
                        suggested_type(&scheme.kind)
                    )),
                );
                continue;
            };
            let mut pointer = format!("/apis/{index}/security");
            moat_config::source::push_pointer(&mut pointer, name);
            let verifier = match (cfg, &scheme.kind) {
                (VerifierConfig::ApiKey, SchemeKind::ApiKey { .. }) => match &shared.keys {
                    Some(keys) => Verifier::ApiKey(keys.clone()),
                    None => {
                        errors.push(
                            doc.error_at(&pointer, "api_key verifiers need the key store")
                                .with_hint("set `keys.pepper` (and optionally `state.sqlite`)"),
                        );
                        continue;
                    }
                },
                (VerifierConfig::Basic, SchemeKind::HttpBasic) => {
                    Verifier::Basic(shared.basic.clone())
                }
                (VerifierConfig::Mtls, SchemeKind::MutualTls) => Verifier::Mtls,
                (
                    VerifierConfig::Introspection(cfg),
                    SchemeKind::HttpBearer
                    | SchemeKind::OAuth2 { .. }
                    | SchemeKind::OpenIdConnect { .. },
                ) => match introspection_verifier(cfg) {
                    Ok(verifier) => Verifier::Introspection {
                        verifier,
                        consumer_claim: cfg.consumer_claim.clone(),
                    },
                    Err(e) => {
                        errors.push(doc.error_at(&pointer, e.to_string()).with_hint(
                            "see the `introspection` verifier keys in docs/configuration.md",
                        ));
                        continue;
                    }
                },
                (
                    VerifierConfig::Jwt(jwt),
                    SchemeKind::HttpBearer
                    | SchemeKind::OAuth2 { .. }
                    | SchemeKind::OpenIdConnect { .. },
                ) => match jwt_verifier(jwt, shared.fetch_keys) {
                    Ok(verifier) => Verifier::Jwt {
                        verifier,
                        consumer_claim: jwt.consumer_claim.clone(),
                    },
                    Err(e) => {
                        // Never quote the line: it may hold an inline secret.
                        let at = if jwt.secret.is_some() {
                            doc.secret_error_at(&format!("{pointer}/secret"), e.to_string())
                        } else {
                            doc.error_at(&pointer, e.to_string())
                        };
                        errors.push(
                            at.with_hint("see the `jwt` verifier keys in docs/configuration.md"),
                        );
                        continue;
                    }
                },
                (cfg, kind) => {
                    errors.push(
                        doc.error_at(
                            &pointer,
                            format!(
                                "a `{}` verifier cannot check scheme `{name}` ({})",
                                cfg.type_name(),
                                kind.describe()
                            ),
                        )
                        .with_hint(format!("use `type: {}`", suggested_type(kind))),
                    );
                    continue;
                }
            };
            schemes.insert(
                name.to_string(),
                BoundScheme {
                    kind: scheme.kind.clone(),
                    verifier,
                },
            );
        }
        Self {
            schemes,
            consumers: shared.consumers.clone(),
            headers: shared.headers.clone(),
        }
    }

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
        let subjects: Vec<String> = extracted
            .iter()
            .filter_map(|(_, found)| match found {
                Some(Ok(Some(c))) => lockout_subject(c),
                _ => None,
            })
            .collect();
        if let Some(store) = lockout
            && let Some(remaining) = locked_for(store, req.client, &subjects).await
        {
            return IdentityResult {
                decision: IdentityDecision::Unauthenticated,
                challenges: Vec::new(),
                locked_out: Some(remaining),
                credential_id: subjects.into_iter().next(),
            };
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
            record_attempt(store, req.client, &subjects, &decision).await;
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
                        tracing::warn!(error = %rejection, "key store unavailable");
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
                Ok(token) => SchemeOutcome::Verified(self.token_identity(
                    &token.claims,
                    token.subject.as_deref(),
                    &token.scopes,
                    consumer_claim,
                )),
                Err(JwtError::Unavailable) => {
                    tracing::warn!("identity provider unavailable and no cached key can decide");
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
                Ok(token) => SchemeOutcome::Verified(self.token_identity(
                    &token.claims,
                    token.subject.as_deref(),
                    &token.scopes,
                    consumer_claim,
                )),
                Err(IntrospectionError::Unavailable) => SchemeOutcome::Unavailable,
                Err(_) => SchemeOutcome::Rejected,
            },
            _ => SchemeOutcome::Rejected,
        }
    }

    /// The identity a verified token names: the consumer from
    /// `consumer_claim` (else the subject), a configured consumer's roles, the
    /// token's scopes. A consumer that is not configured is accepted as an
    /// external identity, without roles.
    fn token_identity(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
        subject: Option<&str>,
        scopes: &[String],
        consumer_claim: &str,
    ) -> Identity {
        let consumer = claims
            .get(consumer_claim)
            .and_then(serde_json::Value::as_str)
            .or(subject)
            .unwrap_or_default()
            .to_string();
        self.identity_of(consumer, scopes.to_vec(), Some(claims))
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
        let mut out = Vec::new();
        for name in op.policy.scheme_names() {
            let Some(bound) = self.schemes.get(name) else {
                continue;
            };
            let challenge = match &bound.kind {
                SchemeKind::HttpBasic => "Basic realm=\"moat\", charset=\"UTF-8\"".to_string(),
                SchemeKind::HttpBearer
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. } => {
                    if invalid == Some(name) {
                        "Bearer realm=\"moat\", error=\"invalid_token\"".to_string()
                    } else if let IdentityDecision::InsufficientScope { missing } = decision {
                        format!(
                            "Bearer realm=\"moat\", error=\"insufficient_scope\", scope=\"{}\"",
                            missing.join(" ")
                        )
                    } else {
                        "Bearer realm=\"moat\"".to_string()
                    }
                }
                _ => continue,
            };
            if !out.contains(&challenge) {
                out.push(challenge);
            }
        }
        out
    }

    /// The query string to forward: API keys sent as query parameters are
    /// removed unless credentials are forwarded, so they never reach the
    /// upstream's logs.
    pub fn forwarded_query<'q>(
        &self,
        op: Option<&Operation>,
        query: Option<&'q str>,
    ) -> Option<std::borrow::Cow<'q, str>> {
        let query = query?;
        let Some(op) = op.filter(|_| !self.headers.forward_credentials) else {
            return Some(query.into());
        };
        let names: Vec<&str> = op
            .policy
            .scheme_names()
            .into_iter()
            .filter_map(|n| match &self.schemes.get(n)?.kind {
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Query,
                } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Some(query.into());
        }
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                let key = decode_query_component(key).unwrap_or_else(|_| key.to_string());
                !names.contains(&key.as_str())
            })
            .collect();
        (!kept.is_empty()).then(|| kept.join("&").into())
    }

    /// Removes identity headers a client sent, adds the verified ones, and
    /// removes the verified credentials unless they are to be forwarded.
    pub fn prepare_upstream_headers(
        &self,
        op: Option<&Operation>,
        identity: Option<&Identity>,
        headers: &mut HeaderMap,
    ) {
        let h = &self.headers;
        headers.remove(&h.consumer);
        headers.remove(&h.scopes);
        headers.remove(&h.roles);
        if let Some(id) = identity {
            if let Ok(v) = HeaderValue::from_str(&id.consumer) {
                headers.insert(h.consumer.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&id.scopes.join(" ")) {
                headers.insert(h.scopes.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&id.roles.join(",")) {
                headers.insert(h.roles.clone(), v);
            }
        }
        let Some(op) = op.filter(|_| !h.forward_credentials) else {
            return;
        };
        for name in op.policy.scheme_names() {
            let Some(bound) = self.schemes.get(name) else {
                continue;
            };
            match &bound.kind {
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Header,
                } => {
                    headers.remove(name.as_str());
                }
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Cookie,
                } => remove_cookie(headers, name),
                SchemeKind::HttpBasic
                | SchemeKind::HttpBearer
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. } => {
                    headers.remove(AUTHORIZATION);
                }
                _ => {}
            }
        }
    }
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

/// The longest lockout in force for the client or any presented credential.
/// A store error lets the request through: lockout is a brake on guessing,
/// and the credential is still verified.
async fn locked_for(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
) -> Option<Duration> {
    let now = std::time::SystemTime::now();
    let mut longest: Option<Duration> = None;
    let mut check = |r: Result<Option<Duration>, moat_state::StoreError>| match r {
        Ok(Some(d)) => longest = Some(longest.map_or(d, |l| l.max(d))),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "lockout store unavailable; not enforcing lockouts"),
    };
    check(store.locked(&LockoutSubject::Client(client), now).await);
    for s in subjects {
        check(store.locked(&LockoutSubject::Credential(s), now).await);
    }
    longest
}

/// Counts a refusal against the client and the credential ids; a success
/// clears the credentials' counts (not the client's: one valid key must not
/// reset an address that is guessing at others).
async fn record_attempt(
    store: &dyn LockoutStore,
    client: IpAddr,
    subjects: &[String],
    decision: &IdentityDecision,
) {
    let now = std::time::SystemTime::now();
    match decision {
        IdentityDecision::Invalid { .. } => {
            if let Ok(Some(d)) = store
                .record_failure(&LockoutSubject::Client(client), now)
                .await
            {
                tracing::warn!(%client, seconds = d.as_secs(), "client locked out after repeated refused credentials");
            }
            for s in subjects {
                if let Ok(Some(d)) = store
                    .record_failure(&LockoutSubject::Credential(s), now)
                    .await
                {
                    tracing::warn!(credential = %s, seconds = d.as_secs(), "credential locked out after repeated failures");
                }
            }
        }
        IdentityDecision::Allowed(Some(_)) => {
            for s in subjects {
                let _ = store
                    .record_success(&LockoutSubject::Credential(s), now)
                    .await;
            }
        }
        _ => {}
    }
}

fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| pair.split('=').next() != Some(name) && !pair.is_empty())
        .map(str::to_string)
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(COOKIE, v);
    }
}

/// The introspection verifier for an `introspection` config entry.
fn introspection_verifier(
    cfg: &IntrospectionVerifierConfig,
) -> Result<IntrospectionVerifier, IntrospectionConfigError> {
    let mut c = IntrospectionConfig::new(
        cfg.url.clone(),
        cfg.client_id.clone(),
        cfg.client_secret.expose().to_string(),
    );
    c.auth_method = match cfg.auth_method {
        IntrospectionAuth::ClientSecretBasic => ClientAuth::Basic,
        IntrospectionAuth::ClientSecretPost => ClientAuth::Post,
    };
    c.cache_ttl = cfg.cache_ttl;
    c.negative_ttl = cfg.negative_ttl;
    c.timeout = cfg.timeout;
    c.issuer = cfg.issuer.clone();
    c.audiences = cfg.audiences.clone();
    IntrospectionVerifier::new(c)
}

/// The JWT verifier for a `jwt` config entry; with `fetch_keys`, remote
/// keys start loading in the background.
fn jwt_verifier(cfg: &JwtVerifierConfig, fetch_keys: bool) -> Result<JwtVerifier, JwtConfigError> {
    let keys = if let Some(secret) = &cfg.secret {
        KeySource::Secret(secret.expose().as_bytes().to_vec())
    } else if let Some(path) = &cfg.public_key {
        KeySource::PemFile(path.clone())
    } else if let Some(jwk) = &cfg.jwk {
        KeySource::Jwk(jwk.clone())
    } else if let Some(url) = &cfg.jwks_url {
        KeySource::JwksUrl(url.clone())
    } else if let Some(issuer) = &cfg.oidc_issuer {
        KeySource::OidcDiscovery(issuer.clone())
    } else {
        // Config validation requires exactly one source.
        KeySource::Jwk(serde_json::Value::Null)
    };
    let algorithms = cfg
        .algorithms
        .iter()
        .map(|a| parse_algorithm(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut jwt = JwtConfig::new(keys, algorithms);
    jwt.issuer = cfg.issuer.clone();
    jwt.audiences = cfg.audiences.clone();
    jwt.leeway = cfg.leeway;
    jwt.prefetch = fetch_keys;
    JwtVerifier::new(jwt)
}

fn suggested_type(kind: &SchemeKind) -> &'static str {
    match kind {
        SchemeKind::ApiKey { .. } => "api_key",
        SchemeKind::HttpBasic => "basic",
        SchemeKind::MutualTls => "mtls",
        _ => "jwt",
    }
}

/// Verifiers shared by every API of a runtime.
pub struct SharedVerifiers {
    /// Whether JWT verifiers start fetching remote keys as they are built:
    /// when serving, not for `moat check`, which connects nowhere.
    pub fetch_keys: bool,
    /// The key manager, when `keys` is configured.
    pub keys: Option<Arc<KeyManager>>,
    /// Basic credentials of the consumers.
    pub basic: Arc<BasicVerifier>,
    /// Consumers by id.
    pub consumers: Arc<HashMap<String, ConsumerConfig>>,
    /// Identity headers.
    pub headers: Arc<IdentityHeaders>,
}

/// How long a successful basic verification is remembered, so that a client
/// sending the same credentials on every request does not pay argon2 each
/// time. A changed password hash takes effect at the next reload, which
/// builds a new verifier.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);
const BASIC_CACHE_MAX: u64 = 10_000;

/// Checks user names and passwords against argon2id hashes.
pub struct BasicVerifier {
    users: HashMap<String, (String, String)>,
    /// SHA-256 of `user:password` → consumer, for [`BASIC_CACHE_TTL`].
    verified: moka::sync::Cache<[u8; 32], String>,
    /// Hash checked for unknown users, so timing does not reveal which user
    /// names exist.
    dummy_hash: String,
}

impl BasicVerifier {
    /// From the consumers' `basic` credentials.
    pub fn new(consumers: &[ConsumerConfig]) -> Self {
        let users = consumers
            .iter()
            .filter_map(|c| {
                let b = c.basic.as_ref()?;
                Some((
                    b.username.clone(),
                    (c.id.clone(), b.password_hash.expose().to_string()),
                ))
            })
            .collect();
        Self {
            users,
            verified: moka::sync::Cache::builder()
                .max_capacity(BASIC_CACHE_MAX)
                .time_to_live(BASIC_CACHE_TTL)
                .build(),
            // A real hash with the same parameters, so that checking an
            // unknown user costs what checking a known one does.
            dummy_hash: hash_password("moat-unknown-user").unwrap_or_default(),
        }
    }

    /// The consumer id, when the password is right.
    pub async fn verify(&self, user: &str, password: &str) -> Option<String> {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{user}:{password}").as_bytes(),
        );
        let mut cache_key = [0u8; 32];
        cache_key.copy_from_slice(digest.as_ref());
        if let Some(consumer) = self.verified.get(&cache_key) {
            return Some(consumer);
        }
        let (consumer, hash) = match self.users.get(user) {
            Some((c, h)) => (Some(c.clone()), h.clone()),
            None => (None, self.dummy_hash.clone()),
        };
        let password = password.to_string();
        // argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || {
            use argon2::PasswordVerifier;
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        let consumer = consumer.filter(|_| ok)?;
        self.verified.insert(cache_key, consumer.clone());
        Some(consumer)
    }
}

/// An argon2id hash of `password` in PHC form, for `moat hash-password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_removed_by_name_only() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; session=secret"));
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        remove_cookie(&mut h, "session");
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h[COOKIE], "a=1; b=2");
        remove_cookie(&mut h, "a");
        remove_cookie(&mut h, "b");
        assert!(h.get(COOKIE).is_none());
    }

    #[tokio::test]
    async fn basic_verification_with_argon2id() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let consumers: Vec<ConsumerConfig> = serde_json::from_value(serde_json::json!([
            {"id": "alice", "basic": {"username": "al", "password_hash": hash}}
        ]))
        .unwrap();
        let v = BasicVerifier::new(&consumers);
        assert_eq!(
            v.verify("al", "correct horse").await.as_deref(),
            Some("alice")
        );
        assert_eq!(
            v.verify("al", "correct horse").await.as_deref(),
            Some("alice"),
            "cached"
        );
        assert_eq!(v.verify("al", "wrong").await, None);
        assert_eq!(v.verify("nobody", "correct horse").await, None);
    }
}
