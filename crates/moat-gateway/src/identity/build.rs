//! Binding the document's security schemes to configured verifiers.

use std::collections::HashMap;
use std::sync::Arc;

use moat_config::{ConsumerConfig, Diagnostics, JwtVerifierConfig, LoadedConfig, VerifierConfig};
use moat_config::{IntrospectionAuth, IntrospectionVerifierConfig};
use moat_identity::introspection::{
    ClientAuth, IntrospectionConfig, IntrospectionConfigError, IntrospectionVerifier,
};
use moat_identity::jwt::{JwtConfig, JwtConfigError, JwtVerifier, KeySource, parse_algorithm};
use moat_spec::{ApiSpec, SchemeKind};
use moat_state::KeyManager;

use super::{ApiIdentity, BasicVerifier, BoundScheme, IdentityHeaders, Verifier};

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
            slowdown: loaded.config.lockout.slowdown,
        }
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
