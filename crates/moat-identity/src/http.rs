//! What moat's outgoing HTTP calls share (the verifiers' key and
//! introspection fetches, the gateway's webhooks): the client setup, the
//! https rule and error text.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::trust::{Trust, TrustError};

/// A client builder with moat's settings (reqwest's own TLS roots: see
/// [`trusted_client_builder`] for the gateway's): the ring TLS provider,
/// `timeout` for the whole exchange (connect, TLS, headers and body) and
/// for connecting, and moat's `User-Agent`. Callers choose the redirect
/// policy.
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    // reqwest is built without a default rustls provider and panics when
    // none is installed; moat uses ring everywhere, so install it unless
    // the process already chose one.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("moat/", env!("CARGO_PKG_VERSION")))
}

/// [`client_builder`] verifying peers against `trust` (`None`: the
/// system's roots): what every outgoing call of the gateway uses, so that
/// `outbound.ca` reaches all of them.
pub fn trusted_client_builder(
    timeout: Duration,
    trust: Option<&Trust>,
) -> Result<reqwest::ClientBuilder, TrustError> {
    let trust = match trust {
        Some(trust) => trust.clone(),
        None => Trust::system()?,
    };
    Ok(client_builder(timeout).tls_backend_preconfigured(trust.client_config()))
}

/// Whether calling `url` satisfies the https rule: https with a host, or
/// plain http to a loopback address (for tests and sidecars on the same
/// machine). Tokens, secrets and keys must not cross a network in clear.
pub fn is_secure(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback(url),
        _ => false,
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed (`[::1]`).
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The error and its sources on one line. reqwest's messages name the URL,
/// never the body, so no token or secret leaks into it.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
