//! Binding the document's security schemes to configured verifiers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moat_config::{
    ConsumerConfig, Diagnostic, Diagnostics, JwtVerifierConfig, LoadedConfig, OutboundConfig,
    VerifierConfig,
};
use moat_config::{IntrospectionAuth, IntrospectionVerifierConfig};
use moat_identity::introspection::{
    ClientAuth, IntrospectionConfig, IntrospectionConfigError, IntrospectionVerifier, SharedAnswers,
};
use moat_identity::jwt::{JwtConfig, JwtConfigError, JwtVerifier, KeySource, parse_algorithm};
use moat_identity::trust::Trust;
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
        let mut overrides = Vec::new();
        let mut remote_jwt = Vec::new();
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
            let verifier =
                match (cfg, &scheme.kind) {
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
                    ) => match introspection_verifier(cfg, shared) {
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
                    ) => {
                        let weak = match WeakOverride::read(jwt, SystemTime::now()) {
                            Ok(w) => w,
                            Err(e) => {
                                errors.push(
                                    doc.error_at(&format!("{pointer}/weak_secret_until"), e)
                                        .with_hint(
                                            "give the last day the weak secret may be used, e.g. \
                                         `weak_secret_until: 2027-01-31`, at most 90 days ahead",
                                        ),
                                );
                                continue;
                            }
                        };
                        let remote = remote_fingerprint(jwt, &loaded.config.outbound);
                        let kept = remote.as_ref().and_then(|f| shared.kept.get(f)).cloned();
                        let built = match kept {
                            Some(verifier) => Ok(verifier),
                            None => jwt_verifier(jwt, shared, weak.in_force()),
                        };
                        match built {
                            Ok(verifier) => {
                                if let Some(f) = remote {
                                    remote_jwt.push((f, verifier.clone()));
                                }
                                if let WeakOverride::InForce { date, until } = &weak {
                                    note_override(
                                        jwt,
                                        date,
                                        *until,
                                        name,
                                        &pointer,
                                        loaded,
                                        &mut overrides,
                                    );
                                }
                                Verifier::Jwt {
                                    verifier,
                                    consumer_claim: jwt.consumer_claim.clone(),
                                }
                            }
                            Err(e) => {
                                let mut message = e.to_string();
                                if let WeakOverride::Expired(date) = &weak
                                    && matches!(e, JwtConfigError::WeakSecret { .. })
                                {
                                    message.push_str(&format!(
                                        "; the override `weak_secret_until: {date}` has expired"
                                    ));
                                }
                                // Never quote the line: it may hold an inline secret.
                                let at = if jwt.secret.is_some() {
                                    doc.secret_error_at(&format!("{pointer}/secret"), message)
                                } else {
                                    doc.error_at(&pointer, message)
                                };
                                errors.push(at.with_hint(
                                    "see the `jwt` verifier keys in docs/configuration.md",
                                ));
                                continue;
                            }
                        }
                    }
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
            recognised: super::upstream::Recognised::of(schemes.values().map(|b| &b.kind)),
            schemes,
            consumers: shared.consumers.clone(),
            headers: shared.headers.clone(),
            slowdown: loaded.config.lockout.slowdown,
            weak_secrets: overrides,
            remote_jwt,
        }
    }
}

/// The introspection verifier for an `introspection` config entry.
fn introspection_verifier(
    cfg: &IntrospectionVerifierConfig,
    verifiers: &SharedVerifiers,
) -> Result<IntrospectionVerifier, IntrospectionConfigError> {
    let shared = verifiers.introspection.as_ref();
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
    c.trust = Some(verifiers.trust.clone());
    match shared {
        Some(shared) => IntrospectionVerifier::with_shared(c, Arc::clone(shared)),
        None => IntrospectionVerifier::new(c),
    }
}

/// The longest a weak secret may be accepted for: long enough to rotate
/// a secret shared with an issuer, short enough that the override is a
/// deadline and not a setting.
const MAX_WEAK_OVERRIDE: Duration = Duration::from_secs(90 * 24 * 3600);

/// A `weak_secret_until` as read at a compile.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WeakOverride {
    /// Not given.
    Unset,
    /// Given, and the day is over: weak secrets are refused again.
    Expired(String),
    /// In force until the end of `date` (`until`).
    InForce { date: String, until: SystemTime },
}

impl WeakOverride {
    /// Reads the override of `cfg` at `now`; `Err` says why it is invalid.
    fn read(cfg: &JwtVerifierConfig, now: SystemTime) -> Result<Self, String> {
        let Some(date) = &cfg.weak_secret_until else {
            return Ok(Self::Unset);
        };
        if cfg.secret.is_none() {
            return Err("`weak_secret_until` applies to a `secret` only".to_string());
        }
        let valid = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let until = valid
            .then(|| humantime::parse_rfc3339(&format!("{date}T23:59:59Z")).ok())
            .flatten()
            .ok_or_else(|| format!("`weak_secret_until: {date}` is not a date (YYYY-MM-DD)"))?;
        if until < now {
            return Ok(Self::Expired(date.clone()));
        }
        if until.duration_since(now).unwrap_or_default() > MAX_WEAK_OVERRIDE {
            return Err(format!(
                "`weak_secret_until: {date}` is more than 90 days ahead"
            ));
        }
        Ok(Self::InForce {
            date: date.clone(),
            until,
        })
    }

    fn in_force(&self) -> bool {
        matches!(self, Self::InForce { .. })
    }
}

/// A weak secret accepted under `weak_secret_until`: announced at every
/// start and reload, by `moat check`, and in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakSecretOverride {
    /// The scheme's name.
    pub scheme: String,
    /// When the override ends (Unix seconds).
    pub until_unix: u64,
    /// The warning.
    pub warning: Diagnostic,
}

/// Records an override in force: a warning when the secret is weak (the
/// override is in use), another when it is not (the override is stale).
fn note_override(
    cfg: &JwtVerifierConfig,
    date: &str,
    until: SystemTime,
    scheme: &str,
    pointer: &str,
    loaded: &LoadedConfig,
    out: &mut Vec<WeakSecretOverride>,
) {
    let Some(secret) = &cfg.secret else {
        return;
    };
    let at = format!("{pointer}/weak_secret_until");
    // Never quote the line: it may hold the secret.
    let warning = match moat_identity::jwt::weak_secrets::check_secret(secret.expose().as_bytes()) {
        Err(reason) => loaded
            .document
            .secret_error_at(
                &at,
                format!("weak HMAC secret of scheme `{scheme}` accepted until the end of {date}: {reason}"),
            )
            .with_hint("rotate the secret and remove `weak_secret_until`; after that day the config is refused")
            .into_warning(),
        Ok(()) => loaded
            .document
            .secret_error_at(&at, format!("the secret of scheme `{scheme}` is not weak; `weak_secret_until` is not needed"))
            .with_hint("remove `weak_secret_until`")
            .into_warning(),
    };
    out.push(WeakSecretOverride {
        scheme: scheme.to_string(),
        until_unix: until.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        warning,
    });
}

/// What identifies a verifier of remote keys (`jwks_url`, `oidc_issuer`)
/// across reloads: everything the verifier is built from. A reload that
/// leaves it unchanged keeps the verifier, with its fetched keys and their
/// refresh schedule, instead of fetching every key set again.
fn remote_fingerprint(cfg: &JwtVerifierConfig, outbound: &OutboundConfig) -> Option<String> {
    if cfg.jwks_url.is_none() && cfg.oidc_issuer.is_none() {
        return None;
    }
    Some(format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        outbound.ca,
        outbound.system_roots,
        cfg.jwks_url,
        cfg.oidc_issuer,
        cfg.algorithms,
        cfg.issuer,
        cfg.audiences,
        cfg.leeway,
        cfg.secret.is_some(),
        cfg.public_key,
        cfg.jwk,
    ))
}

/// The JWT verifier for a `jwt` config entry; with `fetch_keys`, remote
/// keys start loading in the background; with `accept_weak`, a weak
/// secret is accepted (an override in force).
fn jwt_verifier(
    cfg: &JwtVerifierConfig,
    shared: &SharedVerifiers,
    accept_weak: bool,
) -> Result<JwtVerifier, JwtConfigError> {
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
    jwt.prefetch = shared.fetch_keys;
    jwt.trust = Some(shared.trust.clone());
    jwt.accept_weak_secret = accept_weak;
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
    /// Verifiers of remote keys of the runtime being replaced, by
    /// [`remote_fingerprint`]: reused, not fetched again.
    pub kept: HashMap<String, JwtVerifier>,
    /// Introspection answers shared by the nodes of a cluster (Redis), for
    /// a serving cluster node; `None` otherwise.
    pub introspection: Option<Arc<dyn SharedAnswers>>,
    /// What key fetches and introspection calls trust (`outbound`).
    pub trust: Trust,
}
