//! What the verifiers' HTTP calls share: the https rule and error text.

use std::net::IpAddr;

use reqwest::Url;

/// Whether calling `url` satisfies the https rule: https with a host, or
/// plain http to a loopback address (for tests and sidecars on the same
/// machine). Tokens, secrets and keys must not cross a network in clear.
pub(crate) fn is_secure(url: &Url) -> bool {
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
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
