//! What every outgoing TLS connection trusts: upstreams, key documents
//! (JWKS, OIDC discovery), introspection endpoints and webhooks all take
//! their rustls client config from [`Trust::client_config`], so one
//! setting (`outbound.ca`) reaches all of them.
//!
//! A private CA is **added** to the system's roots unless the system's
//! roots are turned off: an internal IdP signed by a private CA and a
//! public webhook receiver are then both reachable with one bundle. The
//! certificate of the peer is always verified; there is no switch to skip
//! it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A problem building the trust store, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The CA bundle could not be read or holds no certificate.
    #[error("cannot read the CA bundle {path}: {reason}")]
    Bundle {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A certificate of the bundle is not a usable CA certificate.
    #[error("the CA bundle {path} holds a certificate rustls refuses: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Nothing would be trusted: no bundle and no system roots.
    #[error("no CA to trust: the system's roots are off and no CA bundle is set")]
    NoRoots,
    /// rustls refused the combination.
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The roots outgoing TLS connections verify peers against, ready as a
/// rustls client config. Cheap to clone.
#[derive(Clone)]
pub struct Trust {
    config: Arc<rustls::ClientConfig>,
    /// Certificates added from a bundle, for `Debug`.
    added: usize,
    system: bool,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("added", &self.added)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl Trust {
    /// The certificates of the PEM bundle `ca`, added to the system's
    /// roots when `system_roots` is set, or alone otherwise. This is the
    /// one place moat builds a TLS client config.
    pub fn new(ca: Option<&Path>, system_roots: bool) -> Result<Self, TrustError> {
        let Some(ca) = ca else {
            return if system_roots {
                Self::system()
            } else {
                Err(TrustError::NoRoots)
            };
        };
        let mut roots = RootCertStore::empty();
        if system_roots {
            add_system_roots(&mut roots);
        }
        let certs = read_bundle(ca)?;
        let added = certs.len();
        for cert in certs {
            roots.add(cert).map_err(|e| TrustError::Certificate {
                path: ca.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Self::build(roots, added, system_roots)
    }

    /// The system's roots only (read once per process).
    pub fn system() -> Result<Self, TrustError> {
        static SYSTEM: OnceLock<Trust> = OnceLock::new();
        if let Some(trust) = SYSTEM.get() {
            return Ok(trust.clone());
        }
        let mut roots = RootCertStore::empty();
        add_system_roots(&mut roots);
        let trust = Self::build(roots, 0, true)?;
        Ok(SYSTEM.get_or_init(|| trust).clone())
    }

    fn build(roots: RootCertStore, added: usize, system: bool) -> Result<Self, TrustError> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            added,
            system,
        })
    }

    /// A rustls client config verifying peers against these roots, for
    /// one client (each sets its own ALPN).
    pub fn client_config(&self) -> rustls::ClientConfig {
        self.config.as_ref().clone()
    }
}

fn add_system_roots(roots: &mut RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "a system CA certificate could not be loaded");
    }
    for cert in found.certs {
        // A broken system certificate should not stop the others.
        let _ = roots.add(cert);
    }
}

/// The certificates of a PEM bundle; at least one.
pub fn read_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bad = |reason: String| TrustError::Bundle {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM CERTIFICATE block found".to_string()));
    }
    Ok(certs)
}
