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
use moat_spec::OperationTable;
use tokio_rustls::TlsAcceptor;

use crate::tls::{TlsError, server_config};
use crate::upstream::Upstream;

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
}

impl Api {
    /// How many leading path segments the base path takes.
    pub fn base_len(&self) -> usize {
        self.base.len()
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
    /// The request id header.
    pub request_id_header: HeaderName,
    /// Likely mistakes in the documents that do not stop them working.
    pub warnings: Vec<Diagnostic>,
}

impl Runtime {
    /// Compiles a loaded config: loads every OpenAPI document, the TLS
    /// certificates and the upstream pools. All problems are reported.
    pub fn build(loaded: LoadedConfig) -> Result<Self, Diagnostics> {
        let cfg = &loaded.config;
        let doc = &loaded.document;
        let mut errors = Diagnostics::default();

        let mut upstreams = HashMap::new();
        for (name, u) in &cfg.upstreams {
            match Upstream::new(name, u) {
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
        let hsts = cfg.listeners.iter().map(hsts_header).collect();

        let mut apis = Vec::with_capacity(cfg.apis.len());
        let mut warnings = Vec::new();
        for a in &cfg.apis {
            let spec = match moat_spec::load(&a.spec) {
                Ok(spec) => spec,
                Err(diags) => {
                    errors.0.extend(diags.0);
                    continue;
                }
            };
            warnings.extend(spec.warnings.iter().cloned());
            let Some(upstream) = upstreams.get(&a.upstream).cloned() else {
                continue; // reported above or by config validation
            };
            let table = OperationTable::new(spec);
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
            hsts,
            trusted_proxies,
            request_id_header,
            warnings,
        })
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

    /// The TLS acceptor of listener `index`, if it serves TLS.
    pub fn tls_acceptor(&self, index: usize) -> Option<&TlsAcceptor> {
        self.tls.get(index).and_then(Option::as_ref)
    }

    /// The HSTS header of listener `index`, if it sends one.
    pub fn hsts(&self, index: usize) -> Option<&HeaderValue> {
        self.hsts.get(index).and_then(Option::as_ref)
    }

    /// The listeners, as configured.
    pub fn listeners(&self) -> &[ListenerConfig] {
        &self.loaded.config.listeners
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
            let field = match &e {
                TlsError::Pem {
                    what: "private key",
                    ..
                } => "/key",
                TlsError::Pem { .. } => "/cert",
                TlsError::Rustls(_) => "",
            };
            let d: Diagnostic = loaded
                .document
                .error_at(&format!("/listeners/{index}/tls{field}"), e.to_string())
                .with_hint("`cert` must hold PEM certificates (leaf first) and `key` the matching PEM private key");
            errors.push(d);
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
