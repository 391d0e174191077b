//! Everything a request needs, built from one config and swapped whole on
//! reload.
//!
//! A request takes one `Arc<Runtime>` when it arrives and keeps it to the
//! end, so a reload never changes the rules under a request in flight and
//! never fails one: the old runtime (and its upstream pools) lives until its
//! last request finishes.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use moat_config::{
    DeprecatedPolicy, Diagnostic, Diagnostics, ListenerConfig, LoadedConfig, Mode,
    source::push_pointer,
};
use moat_guard::CanonicalPath;
use moat_guard::authorization::RoleGrants;
use moat_guard::limits::LimitPlan;
use moat_guard::ownership::{
    AnswerBindingSpec, BindingSpec, IdSource, LearnSpec, Learning, ObjectAccess,
};
use moat_guard::request::MediaType;
use moat_guard::request::json::JsonLimits;
use moat_guard::response_filter::{FilterOptions, ResponseFilter, compile_filters};
use moat_guard::validate::{OperationValidator, ValidationOptions, compile_spec};
use moat_spec::OperationTable;
use tokio_rustls::TlsAcceptor;

use crate::identity::{ApiIdentity, BasicVerifier, IdentityHeaders, SharedVerifiers};
use crate::inspection::ApiInspection;
use crate::tls::{TlsError, server_config};
use crate::upstream::Upstream;
use moat_identity::trust::Trust;
use moat_state::{KeyManager, KeyStore, MemoryOwnership, MemoryStore, OwnershipStore};

/// A protected API, compiled.
pub struct Api {
    /// Its name.
    pub name: String,
    host: Option<String>,
    base: Vec<String>,
    /// Request → operation; owns the loaded document (`table.spec()`).
    pub table: OperationTable,
    /// Enforce or monitor.
    pub mode: Mode,
    /// Zombie endpoint policy.
    pub deprecated: DeprecatedPolicy,
    /// Where requests go.
    pub upstream: Arc<Upstream>,
    /// How credentials are verified.
    pub identity: ApiIdentity,
    /// Which roles may call which operations.
    pub grants: RoleGrants,
    /// Request validators by operation index; empty when validation is off.
    pub validators: Vec<OperationValidator>,
    /// Largest JSON body read for validation.
    pub max_body_bytes: u64,
    /// Object-level binding rules.
    pub object_access: ObjectAccess,
    /// Learned object ownership rules.
    pub learning: Learning,
    /// The object-naming parameter of each operation, for the enumeration
    /// detector.
    pub objects: moat_guard::anomaly::ObjectParameters,
    /// Where learned owners are kept (when the API learns any).
    pub owners: Option<Arc<dyn OwnershipStore>>,
    /// Response filters by operation index.
    pub response_filters: Vec<ResponseFilter>,
    /// Response protection settings.
    pub responses: moat_config::ResponseConfig,
    /// Cross-origin policy, when configured.
    pub cors: Option<Arc<crate::cors::Cors>>,
    /// Largest request body by operation index (any media type).
    pub body_caps: Vec<u64>,
    /// Body and concurrency caps as configured.
    pub request_limits: moat_config::RequestLimitsConfig,
    /// Shape limits of JSON bodies.
    pub json_limits: JsonLimits,
    /// Attack inspection, when on.
    pub inspection: Option<Arc<ApiInspection>>,
    /// Whether validation runs in enforce mode (schema hints may then skip
    /// values the document pins down).
    pub validated: bool,
    /// Rate limits and quotas by operation.
    pub limits: LimitPlan,
    /// Whether responses carry `RateLimit-Policy` and `RateLimit`.
    pub limit_headers: bool,
    /// Login operations the upstream performs.
    pub logins: crate::pipeline::Logins,
    /// The API's metric handles.
    pub telemetry: Arc<crate::telemetry::ApiTelemetry>,
}

impl Api {
    /// The largest body a request of `content_type` to operation `index`
    /// (`None`: no documented operation) may carry.
    pub fn body_cap(&self, index: Option<usize>, media: Option<&MediaType>) -> u64 {
        let cap = index
            .and_then(|i| self.body_caps.get(i).copied())
            .unwrap_or(self.request_limits.max_body_bytes);
        let essence = media.map(MediaType::essence).unwrap_or_default();
        let graphql = essence == "application/graphql"
            || (essence.contains("json")
                && index
                    .and_then(|i| self.table.spec().operations.get(i))
                    .is_some_and(|op| op.path_template.ends_with("/graphql")));
        if graphql {
            cap.min(self.request_limits.graphql_max_bytes)
        } else if media.is_some_and(MediaType::is_xml) {
            cap.min(self.request_limits.xml_max_bytes)
        } else {
            cap
        }
    }

    /// How many leading path segments the base path takes.
    pub fn base_len(&self) -> usize {
        self.base.len()
    }

    /// The base path (`/api`), empty at the root.
    pub fn base_path(&self) -> String {
        self.base.iter().map(|s| format!("/{s}")).collect()
    }
}

/// The compiled config.
pub struct Runtime {
    /// The config it was built from.
    pub loaded: LoadedConfig,
    /// APIs, most specific first.
    apis: Vec<Api>,
    /// TLS acceptors by listener index (`None` for plain listeners).
    tls: Vec<Option<TlsAcceptor>>,
    /// `Strict-Transport-Security` by listener index, when it is sent.
    hsts: Vec<Option<HeaderValue>>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// What outgoing TLS connections trust (`outbound`).
    trust: Trust,
    /// The request id header.
    pub request_id_header: HeaderName,
    /// Likely mistakes in the documents that do not stop them working.
    pub warnings: Vec<Diagnostic>,
    /// Every file the APIs' documents were read from, `$ref`s included.
    spec_files: Vec<std::path::PathBuf>,
    /// The API key manager, when keys are configured.
    keys: Option<Arc<KeyManager>>,
    /// The admin listener's TLS config, when it has one.
    admin_tls: Option<Arc<rustls::ServerConfig>>,
}

/// What a compile may touch besides the config and the files it names.
/// Both purposes run the same compile and report the same diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `moat serve` and reloads: API keys and learned owners are kept in
    /// the state file (opened, and created and migrated when new), and
    /// JWT verifiers start fetching remote keys.
    Serve,
    /// `moat check`: nothing is created and nothing is connected to. API
    /// keys and learned owners are compiled against empty in-memory stores,
    /// and remote JWT keys are not fetched.
    Check,
}

impl Runtime {
    /// Compiles a loaded config for serving: opens the key store, then
    /// loads every OpenAPI document, the TLS certificates and the upstream
    /// pools (on a blocking thread: documents can be large). All problems
    /// are reported.
    pub(crate) async fn build(
        loaded: LoadedConfig,
        state: &crate::state::GatewayState,
    ) -> Result<Self, Diagnostics> {
        Self::build_replacing(loaded, Purpose::Serve, None, Some(state)).await
    }

    /// The same compile, for `purpose`, with API keys and learned owners in
    /// empty in-memory stores (what `moat check` compiles against).
    pub async fn build_for(loaded: LoadedConfig, purpose: Purpose) -> Result<Self, Diagnostics> {
        Self::build_replacing(loaded, purpose, None, None).await
    }

    /// The compile of a reload: verifiers of remote keys that `previous`
    /// built from the same settings are kept, with their keys, rather than
    /// fetching every key set again.
    pub(crate) async fn build_replacing(
        loaded: LoadedConfig,
        purpose: Purpose,
        previous: Option<&Runtime>,
        state: Option<&crate::state::GatewayState>,
    ) -> Result<Self, Diagnostics> {
        let kept: HashMap<String, moat_identity::jwt::JwtVerifier> = previous
            .into_iter()
            .flat_map(|rt| rt.apis.iter())
            .flat_map(|api| api.identity.remote_verifiers())
            .map(|(f, v)| (f.clone(), v.clone()))
            .collect();
        let (state, errors) = open_state(&loaded, state);
        let runtime = tokio::task::spawn_blocking(move || {
            Self::compile(loaded, state, errors, purpose, kept)
        })
        .await
        .map_err(|_| Diagnostics::default())??;
        if purpose == Purpose::Serve {
            runtime.start_health_checks();
        }
        Ok(runtime)
    }

    /// Starts the active health checks of every upstream the APIs use;
    /// they stop when this runtime is dropped.
    fn start_health_checks(&self) {
        let mut started: Vec<&Arc<Upstream>> = Vec::new();
        for api in &self.apis {
            if !started.iter().any(|u| Arc::ptr_eq(u, &api.upstream)) {
                api.upstream.start_checks();
                started.push(&api.upstream);
            }
        }
    }

    /// Compiles everything, adding to `errors` (those of opening the
    /// state), so that one run reports every problem.
    fn compile(
        loaded: LoadedConfig,
        state: State,
        mut errors: Diagnostics,
        purpose: Purpose,
        kept: HashMap<String, moat_identity::jwt::JwtVerifier>,
    ) -> Result<Self, Diagnostics> {
        let State {
            keys,
            owners,
            introspection,
        } = state;
        let cfg = &loaded.config;
        let doc = &loaded.document;
        let trust = match Trust::new(cfg.outbound.ca.as_deref(), cfg.outbound.system_roots) {
            Ok(trust) => trust,
            Err(e) => {
                errors
                    .push(doc.error_at("/outbound/ca", e.to_string()).with_hint(
                        "a PEM file of CA certificates (`-----BEGIN CERTIFICATE-----`)",
                    ));
                // The rest is still compiled, so that every problem is
                // reported at once; the config is refused anyway.
                match Trust::system() {
                    Ok(trust) => trust,
                    Err(_) => return Err(errors),
                }
            }
        };
        let shared = SharedVerifiers {
            trust: trust.clone(),
            fetch_keys: purpose == Purpose::Serve,
            keys: keys.clone(),
            basic: Arc::new(BasicVerifier::new(&cfg.consumers)),
            consumers: Arc::new(
                cfg.consumers
                    .iter()
                    .map(|c| (c.id.clone(), c.clone()))
                    .collect(),
            ),
            headers: Arc::new(IdentityHeaders::new(&cfg.identity)),
            kept,
            introspection,
        };

        errors.0.extend(state_problems(&loaded).0);

        let mut upstreams = HashMap::new();
        for (name, u) in &cfg.upstreams {
            match Upstream::new(name, u, &trust) {
                Ok(up) => {
                    upstreams.insert(name.clone(), up);
                }
                Err(e) => {
                    let mut p = String::from("/upstreams");
                    push_pointer(&mut p, name);
                    errors.push(doc.error_at(&p, e.to_string()).with_hint(
                        "check the target URLs and the `tls.ca` file (PEM certificates)",
                    ));
                }
            }
        }

        let mut tls = Vec::with_capacity(cfg.listeners.len());
        for (i, l) in cfg.listeners.iter().enumerate() {
            tls.push(listener_tls(l, i, &loaded, &mut errors));
        }
        let admin_tls = admin_tls(&loaded, &mut errors);
        for (i, w) in loaded.config.events.webhooks.iter().enumerate() {
            if let Err(e) = crate::events::sinks::check_url(&w.url) {
                errors.push(
                    loaded
                        .document
                        .secret_error_at(&format!("/events/webhooks/{i}/url"), e.to_string())
                        .with_hint(
                            "use an https URL (http is accepted only to a loopback address)",
                        ),
                );
            }
        }
        let hsts = cfg.listeners.iter().map(hsts_header).collect();

        let mut apis = Vec::with_capacity(cfg.apis.len());
        let mut warnings = Vec::new();
        let mut spec_files: Vec<std::path::PathBuf> = Vec::new();
        for (index, a) in cfg.apis.iter().enumerate() {
            let spec = match moat_spec::load_with_ref_dirs(&a.spec, &a.spec_ref_dirs) {
                Ok(spec) => spec,
                Err(diags) => {
                    errors.0.extend(diags.0);
                    continue;
                }
            };
            warnings.extend(spec.warnings.iter().cloned());
            for file in spec.files() {
                if !spec_files.iter().any(|f| f == file) {
                    spec_files.push(file.to_path_buf());
                }
            }
            let identity = ApiIdentity::build(index, &spec, &loaded, &shared, &mut errors);
            warnings.extend(identity.weak_secrets.iter().map(|w| w.warning.clone()));
            let grants = match RoleGrants::compile(&a.roles, &spec) {
                Ok(g) => g,
                Err(grant_errors) => {
                    for e in grant_errors {
                        let mut p = format!("/apis/{index}/roles");
                        push_pointer(&mut p, &e.role);
                        errors.push(
                            doc.error_at(&format!("{p}/{}", e.index), e.message)
                                .with_hint(
                                    "use an operationId, `tag:<name>`, `METHOD /path/glob` or `*`",
                                ),
                        );
                    }
                    RoleGrants::default()
                }
            };
            let validators = if a.validation.enabled {
                let mut opts = ValidationOptions::default();
                opts.refuse_unknown_properties = a.validation.refuse_unknown_properties;
                for (i, id) in a.validation.allow_unknown_properties.iter().enumerate() {
                    let ids = || {
                        spec.operations
                            .iter()
                            .filter_map(|o| o.operation_id.as_deref())
                    };
                    if !ids().any(|o| o == id) {
                        let mut d = doc.error_at(
                            &format!("/apis/{index}/validation/allow_unknown_properties/{i}"),
                            format!("no operation has the operationId `{id}`"),
                        );
                        d = match moat_config::diagnostic::did_you_mean(id, ids()) {
                            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                            None => d.with_hint("list operationIds of the API's document"),
                        };
                        errors.push(d);
                    }
                    opts.allow_unknown_properties.insert(id.clone());
                }
                match compile_spec(&spec, &opts) {
                    Ok(v) => v,
                    Err(diags) => {
                        errors.0.extend(diags.0);
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let specs: Vec<BindingSpec> = a
                .object_access
                .bindings
                .iter()
                .map(|b| BindingSpec {
                    operation: b.operation.clone(),
                    parameter: b.parameter.clone(),
                    equals: b.equals.clone(),
                })
                .collect();
            let answer_specs: Vec<AnswerBindingSpec> = a
                .object_access
                .answer_bindings
                .iter()
                .map(|b| AnswerBindingSpec {
                    operation: b.operation.clone(),
                    pointer: b.pointer.clone(),
                    equals: b.equals.clone(),
                })
                .collect();
            let object_access = match ObjectAccess::compile(
                &spec,
                &specs,
                &answer_specs,
                &a.object_access.exempt_roles,
            ) {
                Ok(o) => o,
                Err(binding_errors) => {
                    for e in binding_errors {
                        errors.push(
                            doc.error_at(&format!("/apis/{index}/object_access"), format!("`{}`: {}", e.operation, e.message))
                                .with_hint("bind a declared path or query parameter, `equals: consumer` or `attribute:<name>`"),
                        );
                    }
                    ObjectAccess::default()
                }
            };
            let mut learn: Vec<LearnSpec> = Vec::new();
            for (j, l) in a.object_access.learn.iter().enumerate() {
                let id_from = match (&l.id_pointer, &l.request_pointer, &l.request_parameter) {
                    (p, None, None) => IdSource::Answer(p.clone().unwrap_or_else(|| "/id".into())),
                    (None, Some(p), None) => IdSource::RequestBody(p.clone()),
                    (None, None, Some(name)) => IdSource::RequestParameter(name.clone()),
                    _ => {
                        errors.push(
                            doc.error_at(
                                &format!("/apis/{index}/object_access/learn/{j}"),
                                "give one of `id_pointer`, `request_pointer` and `request_parameter`",
                            )
                            .with_hint(
                                "`id_pointer` reads the create answer; `request_pointer` and \
                                 `request_parameter` read the create request",
                            ),
                        );
                        continue;
                    }
                };
                learn.push(LearnSpec {
                    kind: l.kind.clone(),
                    create: l.create.clone(),
                    id_from,
                    parameter: l.parameter.clone(),
                    operations: l.operations.clone(),
                });
            }
            let logins = match crate::pipeline::Logins::compile(&spec, &a.logins) {
                Ok(l) => l,
                Err(login_errors) => {
                    for (j, message) in login_errors {
                        errors.push(
                            doc.error_at(&format!("/apis/{index}/logins/{j}"), message)
                                .with_hint("name a documented operationId, `account: /username`"),
                        );
                    }
                    crate::pipeline::Logins::default()
                }
            };
            let learning = match Learning::compile(
                &spec,
                &learn,
                a.object_access.unknown_objects == moat_config::UnknownObjects::Deny,
                &a.object_access.exempt_roles,
            ) {
                Ok(l) => l,
                Err(learn_errors) => {
                    for e in learn_errors {
                        let at = a
                            .object_access
                            .learn
                            .iter()
                            .position(|l| l.kind == e.operation)
                            .map(|i| format!("/apis/{index}/object_access/learn/{i}"))
                            .unwrap_or_else(|| format!("/apis/{index}/object_access/learn"));
                        errors.push(doc.error_at(&at, format!("`{}`: {}", e.operation, e.message)).with_hint(
                            "`create` and `operations` are operationIds of the document; `parameter` is a path or query parameter of each operation",
                        ));
                    }
                    Learning::default()
                }
            };
            let limits = match LimitPlan::compile(&spec, &a.rate_limits, &a.quotas) {
                Ok(p) => p,
                Err(limit_errors) => {
                    for e in limit_errors {
                        let at = if e.at.starts_with("rate_limits/") || e.at.starts_with("quotas/")
                        {
                            format!("/apis/{index}/{}", e.at)
                        } else {
                            format!("/apis/{index}/spec")
                        };
                        let message = if at.ends_with("/spec") {
                            format!("operation {}: {}", e.at, e.message)
                        } else {
                            e.message
                        };
                        errors.push(doc.error_at(&at, message).with_hint(
                            "a limit needs a unique name, a key (consumer, api_key, client_ip, client_network, api, operation, header:<name>, claim:<name>), a rate above zero and operations written like role grants",
                        ));
                    }
                    LimitPlan::default()
                }
            };
            let mut body_caps = vec![a.request_limits.max_body_bytes; spec.operations.len()];
            for (id, o) in &a.request_limits.operations {
                match spec
                    .operations
                    .iter()
                    .position(|op| op.operation_id.as_deref() == Some(id.as_str()))
                {
                    Some(i) => body_caps[i] = o.max_body_bytes,
                    None => {
                        let mut p = format!("/apis/{index}/request_limits/operations");
                        push_pointer(&mut p, id);
                        let ids = spec
                            .operations
                            .iter()
                            .filter_map(|o| o.operation_id.as_deref());
                        let hint = match moat_config::diagnostic::did_you_mean(id, ids) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "use operationIds of the API's document".to_string(),
                        };
                        errors.push(
                            doc.error_at(&p, format!("no operation has the operationId `{id}`"))
                                .with_hint(hint),
                        );
                    }
                }
            }
            let j = &a.request_limits.json;
            let json_limits = JsonLimits {
                max_depth: j.max_depth,
                max_array_items: j.max_array_items,
                max_string_bytes: j.max_string_bytes,
                max_properties: j.max_properties,
            };
            let inspection = match ApiInspection::compile(&a.inspection, &spec) {
                Ok(i) => i,
                Err(inspection_errors) => {
                    for e in inspection_errors {
                        errors.push(
                            doc.error_at(&format!("/apis/{index}/inspection{}", e.at), e.message)
                                .with_hint("see the `inspection` section of docs/configuration.md"),
                        );
                    }
                    None
                }
            };
            let filter_opts = FilterOptions {
                remove_undeclared: a.responses.undeclared != moat_config::UndeclaredPolicy::Allow,
                mask_sensitive: a.responses.mask_sensitive,
            };
            let response_filters = compile_filters(&spec, &filter_opts);
            let objects =
                moat_guard::anomaly::ObjectParameters::compile(&spec, &object_access, &learning);
            // An upstream that failed to build was reported above; the
            // API's own problems are reported all the same.
            let Some(upstream) = upstreams.get(&a.upstream).cloned() else {
                continue;
            };
            let table = OperationTable::new(spec);
            let telemetry = Arc::new(crate::telemetry::ApiTelemetry::new(
                &a.name,
                &a.upstream,
                table.spec().operations.iter().map(|o| o.id()),
            ));
            let base = a
                .base_path
                .as_deref()
                .map(|b| {
                    b.split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            apis.push(Api {
                name: a.name.clone(),
                host: a.host.as_ref().map(|h| h.to_ascii_lowercase()),
                base,
                table,
                mode: a.mode.unwrap_or(cfg.mode),
                deprecated: a.deprecated,
                upstream,
                identity,
                grants,
                validators,
                max_body_bytes: a.validation.max_body_bytes,
                objects,
                object_access,
                learning,
                owners: owners.clone(),
                response_filters,
                responses: a.responses.clone(),
                cors: a.cors.as_ref().map(|c| Arc::new(crate::cors::Cors::new(c))),
                body_caps,
                request_limits: a.request_limits.clone(),
                json_limits,
                inspection,
                validated: a.validation.enabled,
                limits,
                limit_headers: cfg.rate_limiting.headers,
                logins,
                telemetry,
            });
        }
        // Host-bound APIs before host-less ones, longer base paths first.
        apis.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.base.len().cmp(&a.base.len()))
        });

        let request_id_header = HeaderName::from_bytes(cfg.proxy.request_id_header.as_bytes())
            .unwrap_or(HeaderName::from_static("x-request-id"));
        let trusted_proxies = cfg.proxy.trusted_proxies.clone();
        errors.into_result(())?;
        Ok(Self {
            loaded,
            apis,
            tls,
            admin_tls,
            hsts,
            trusted_proxies,
            trust,
            request_id_header,
            warnings,
            spec_files,
            keys,
        })
    }

    /// What outgoing TLS connections trust (`outbound`).
    pub(crate) fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The API serving `host` (without port, lower case) and `path`, with the
    /// path's segments below the API's base path.
    pub fn select<'a>(
        &'a self,
        host: Option<&str>,
        path: &'a CanonicalPath,
    ) -> Option<(&'a Api, &'a [String])> {
        self.apis.iter().find_map(|api| {
            if let Some(h) = &api.host
                && host != Some(h.as_str())
            {
                return None;
            }
            path.strip_prefix(&api.base).map(|rest| (api, rest))
        })
    }

    /// Closes upstream connections idle past their pool's timeout.
    pub fn sweep_upstreams(&self) {
        for api in &self.apis {
            api.upstream.sweep();
        }
    }

    /// The TLS acceptor of listener `index`, if it serves TLS.
    pub fn tls_acceptor(&self, index: usize) -> Option<&TlsAcceptor> {
        self.tls.get(index).and_then(Option::as_ref)
    }

    /// The HSTS header of listener `index`, if it sends one.
    pub fn hsts(&self, index: usize) -> Option<&HeaderValue> {
        self.hsts.get(index).and_then(Option::as_ref)
    }

    /// Writes API keys' last-used times kept in memory to the store.
    pub async fn flush_last_used(&self) {
        if let Some(keys) = &self.keys
            && let Err(e) = keys.flush_last_used().await
        {
            tracing::warn!(error = %e, "cannot record API keys' last use");
        }
    }

    /// Weak JWT secrets accepted under `weak_secret_until`, by API.
    pub fn weak_secret_overrides(
        &self,
    ) -> impl Iterator<Item = (&str, &crate::identity::WeakSecretOverride)> {
        self.apis.iter().flat_map(|api| {
            api.identity
                .weak_secrets
                .iter()
                .map(move |w| (api.name.as_str(), w))
        })
    }

    /// The files a change of which reloads the config: the config's own
    /// (the config file, the documents, TLS files) and every file the
    /// documents' `$ref`s reached.
    pub fn watched_files(&self) -> Vec<std::path::PathBuf> {
        let mut files = self.loaded.watched_files();
        for f in &self.spec_files {
            if !files.contains(f) {
                files.push(f.clone());
            }
        }
        files
    }

    /// The admin listener's TLS config.
    pub fn admin_tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.admin_tls.as_ref()
    }

    /// The compiled APIs, most specific first.
    pub fn apis(&self) -> &[Api] {
        &self.apis
    }

    /// The API key manager, when keys are configured.
    pub fn key_manager(&self) -> Option<&Arc<KeyManager>> {
        self.keys.as_ref()
    }

    /// The listeners, as configured.
    pub fn listeners(&self) -> &[ListenerConfig] {
        &self.loaded.config.listeners
    }
}

/// The embedded state the config needs.
struct State {
    keys: Option<Arc<KeyManager>>,
    owners: Option<Arc<dyn OwnershipStore>>,
    /// The cluster's shared introspection answers (a serving cluster
    /// node only).
    introspection: Option<Arc<dyn moat_identity::introspection::SharedAnswers>>,
}

/// The state the config needs: API keys and learned owners in the
/// serving gateway's store (`state`), or in empty in-memory stores for
/// `moat check`, which creates and connects to nothing; and the key
/// manager when `keys` is configured.
fn open_state(
    loaded: &LoadedConfig,
    serving: Option<&crate::state::GatewayState>,
) -> (State, Diagnostics) {
    let cfg = &loaded.config;
    let mut errors = Diagnostics::default();
    let introspection = serving
        .and_then(|state| state.redis.clone())
        .map(crate::identity::shared_answers::over_redis);
    let learns = cfg.apis.iter().any(|a| !a.object_access.learn.is_empty());
    if cfg.keys.is_none() && !learns {
        let state = State {
            keys: None,
            owners: None,
            introspection,
        };
        return (state, errors);
    }
    let (key_store, owner_store): (Arc<dyn KeyStore>, Arc<dyn OwnershipStore>) = match serving {
        Some(state) => (state.key_store(), state.owners.clone()),
        None => (
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryOwnership::new()),
        ),
    };
    let keys = match &cfg.keys {
        Some(keys) => match KeyManager::new(key_store, keys.pepper.expose().as_bytes()) {
            Ok(manager) => Some(Arc::new(manager)),
            Err(e) => {
                errors.push(
                    loaded
                        .document
                        .secret_error_at("/keys/pepper", e.to_string())
                        .with_hint(
                            "reference at least 32 random bytes, e.g. ${env:MOAT_KEY_PEPPER}",
                        ),
                );
                None
            }
        },
        None => None,
    };
    let owners = learns.then_some(owner_store);
    let state = State {
        keys,
        owners,
        introspection,
    };
    (state, errors)
}

/// The shared rate-limit backend's settings, checked as the backend will
/// read them (without connecting): a URL the Redis client cannot parse
/// would otherwise only show as a backend that never answers.
/// What the state's clients would refuse in the config, found without
/// connecting: checked by the compile, and by `moat serve` before it opens
/// the state.
pub(crate) fn state_problems(loaded: &LoadedConfig) -> Diagnostics {
    let mut errors = Diagnostics::default();
    check_redis(loaded, &mut errors);
    check_postgres(loaded, &mut errors);
    errors
}

/// The cluster's PostgreSQL URL, parsed as the store will parse it
/// (without connecting).
fn check_postgres(loaded: &LoadedConfig, errors: &mut Diagnostics) {
    if let moat_state::DurableTarget::Postgres { options, .. } =
        crate::state::durable_target(&loaded.config.state)
        && let Some(problem) = options.problem()
    {
        errors.push(
            loaded
                .document
                .secret_error_at("/state/postgres/url", problem)
                .with_hint("postgres://user:password@host:5432/database[?sslmode=verify-full]"),
        );
    }
}

fn check_redis(loaded: &LoadedConfig, errors: &mut Diagnostics) {
    let cfg = &loaded.config;
    let limiting = &cfg.rate_limiting;
    // A cluster's counters use `state.redis` unless `rate_limiting` names
    // its own: check each section where it is written.
    let own = loaded
        .document
        .value
        .pointer("/rate_limiting/redis")
        .is_some();
    let mut sections = Vec::new();
    if let Some(redis) = limiting
        .redis
        .as_ref()
        .filter(|_| limiting.backend == moat_config::LimitBackend::Redis && own)
    {
        sections.push(("/rate_limiting/redis", redis));
    }
    if let Some(redis) = cfg
        .state
        .redis
        .as_ref()
        .filter(|_| cfg.state.backend == moat_config::StateBackend::Cluster)
    {
        sections.push(("/state/redis", redis));
    }
    for (section, redis) in sections {
        for (setting, problem) in crate::limits::redis_options(redis).problems() {
            use moat_state::redis_conn::RedisSetting;
            let doc = &loaded.document;
            errors.push(match setting {
                RedisSetting::Url => doc
                    .secret_error_at(
                        &format!("{section}/url"),
                        format!("the Redis URL is invalid: {problem}"),
                    )
                    .with_hint("redis://[user:password@]host[:port][/db], or rediss:// for TLS (with `ca` only)"),
                RedisSetting::Prefix => doc
                    .error_at(&format!("{section}/prefix"), problem)
                    .with_hint("`{` and `}` would change which keys Redis Cluster keeps together"),
                RedisSetting::Timeout => doc
                    .error_at(&format!("{section}/timeout"), problem)
                    .with_hint("e.g. 100ms"),
            });
        }
    }
}

fn hsts_header(l: &ListenerConfig) -> Option<HeaderValue> {
    let hsts = &l.tls.as_ref()?.hsts;
    if !hsts.enabled {
        return None;
    }
    let mut v = format!("max-age={}", hsts.max_age.as_secs());
    if hsts.include_subdomains {
        v.push_str("; includeSubDomains");
    }
    if hsts.preload {
        v.push_str("; preload");
    }
    HeaderValue::from_str(&v).ok()
}

/// The admin listener's TLS config (HTTP/1.1), checked with the rest.
fn admin_tls(loaded: &LoadedConfig, errors: &mut Diagnostics) -> Option<Arc<rustls::ServerConfig>> {
    let t = loaded.config.admin.as_ref()?.tls.as_ref()?;
    let listener = moat_config::ListenerTlsConfig {
        cert: t.cert.clone(),
        key: t.key.clone(),
        min_version: moat_config::TlsVersion::default(),
        hsts: moat_config::HstsConfig::default(),
        client_auth: None,
    };
    match server_config(&listener, false) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            errors.push(tls_diagnostic(loaded, "/admin/tls", &e));
            None
        }
    }
}

/// A TLS config that could not be built, placed at its `cert` or `key`.
fn tls_diagnostic(loaded: &LoadedConfig, at: &str, e: &TlsError) -> Diagnostic {
    let field = match e {
        TlsError::Pem {
            what: "private key",
            ..
        } => "/key",
        TlsError::Pem { .. } => "/cert",
        TlsError::Rustls(_) => "",
    };
    loaded
        .document
        .error_at(&format!("{at}{field}"), e.to_string())
        .with_hint(
            "`cert` must hold PEM certificates (leaf first) and `key` the matching PEM private key",
        )
}

fn listener_tls(
    l: &ListenerConfig,
    index: usize,
    loaded: &LoadedConfig,
    errors: &mut Diagnostics,
) -> Option<TlsAcceptor> {
    let tls = l.tls.as_ref()?;
    match server_config(tls, l.http2) {
        Ok(c) => Some(TlsAcceptor::from(Arc::new(c))),
        Err(e) => {
            errors.push(tls_diagnostic(
                loaded,
                &format!("/listeners/{index}/tls"),
                &e,
            ));
            None
        }
    }
}

impl Runtime {
    /// How many APIs are served.
    pub fn api_count(&self) -> usize {
        self.apis.len()
    }

    /// How many documented operations all APIs have together.
    pub fn operation_count(&self) -> usize {
        self.apis
            .iter()
            .map(|a| a.table.spec().operations.len())
            .sum()
    }
}
