//! Headers between client and upstream: hop-by-hop removal, `X-Forwarded-*`,
//! `Forwarded` and the request id.
//!
//! Forwarding headers from the client are believed only when the client is a
//! configured trusted proxy; from anyone else they are replaced, so a client
//! cannot make the upstream believe it comes from elsewhere.

use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// Headers that describe one connection and never cross a proxy (RFC 9110
/// §7.6.1), plus the legacy ones still seen in the wild.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
/// With `keep_upgrade`, `Connection: upgrade` and `Upgrade` survive so a
/// websocket handshake can pass.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(&name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// True when the request asks to switch protocols (e.g. websocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Whether `addr` is one of the trusted proxies.
pub fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = canonical_ip(addr);
    trusted.iter().any(|net| net.contains(&addr))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 address they are.
fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address as far as it can be believed: the peer, or, when the
/// peer is a trusted proxy, the rightmost untrusted address in
/// `X-Forwarded-For`.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer_ip = canonical_ip(peer.ip());
    if !is_trusted(peer_ip, trusted) {
        return peer_ip;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip, trusted))
        .unwrap_or(peer_ip)
}

/// What is known of the client side of a request.
pub struct ClientSide<'a> {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// `https` or `http`, as the client reached moat.
    pub proto: &'static str,
    /// The `Host` the client asked for, if any.
    pub host: Option<&'a str>,
}

/// Sets `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded` for the upstream.
pub fn set_forwarding_headers(headers: &mut HeaderMap, client: &ClientSide<'_>) {
    let peer = canonical_ip(client.peer.ip());
    let xff_name = HeaderName::from_static("x-forwarded-for");
    let proto_name = HeaderName::from_static("x-forwarded-proto");
    let host_name = HeaderName::from_static("x-forwarded-host");

    let prior_xff = client.trusted.then(|| joined(headers, &xff_name)).flatten();
    let xff = match prior_xff {
        Some(prior) => format!("{prior}, {peer}"),
        None => peer.to_string(),
    };
    set(headers, xff_name, &xff);

    let keep_proto = client.trusted && headers.contains_key(&proto_name);
    if !keep_proto {
        set(headers, proto_name, client.proto);
    }
    let keep_host = client.trusted && headers.contains_key(&host_name);
    if !keep_host {
        match client.host {
            Some(h) => set(headers, host_name, h),
            None => {
                headers.remove(&host_name);
            }
        }
    }

    let prior_fwd = client
        .trusted
        .then(|| joined(headers, &header::FORWARDED))
        .flatten();
    let for_value = match peer {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut element = format!("for={for_value};proto={}", client.proto);
    if let Some(h) = client.host.filter(|h| h.bytes().all(is_token_or_hostchar)) {
        element.push_str(";host=");
        element.push_str(h);
    }
    let fwd = match prior_fwd {
        Some(prior) => format!("{prior}, {element}"),
        None => element,
    };
    set(headers, header::FORWARDED, &fwd);
}

fn is_token_or_hostchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:[]".contains(&b)
}

fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

/// A request id a trusted proxy sent, when it looks like one: at most 128
/// visible ASCII characters. Anything else is replaced by a fresh id.
pub fn acceptable_request_id(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then_some(s)
}

/// A new random request id.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut m = h(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut m, false);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m.contains_key("accept"));
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut m = h(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&m));
        strip_hop_by_hop(&mut m, true);
        assert_eq!(m["upgrade"], "websocket");
        assert_eq!(m["connection"], "upgrade");
    }

    #[test]
    fn untrusted_forwarding_headers_are_replaced() {
        let mut m = h(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=6.6.6.6"),
        ]);
        let client = ClientSide {
            peer: "10.0.0.7:5555".parse().unwrap(),
            trusted: false,
            proto: "http",
            host: Some("api.example.com"),
        };
        set_forwarding_headers(&mut m, &client);
        assert_eq!(m["x-forwarded-for"], "10.0.0.7");
        assert_eq!(m["x-forwarded-proto"], "http");
        assert_eq!(m["x-forwarded-host"], "api.example.com");
        assert_eq!(
            m["forwarded"],
            "for=10.0.0.7;proto=http;host=api.example.com"
        );
    }

    #[test]
    fn trusted_proxies_chain_is_extended() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut m = h(&[
            ("x-forwarded-for", "203.0.113.9, 10.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        let peer: SocketAddr = "10.0.0.7:5555".parse().unwrap();
        assert_eq!(
            client_ip(peer, &m, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let client = ClientSide {
            peer,
            trusted: true,
            proto: "http",
            host: None,
        };
        set_forwarding_headers(&mut m, &client);
        assert_eq!(m["x-forwarded-for"], "203.0.113.9, 10.1.1.1, 10.0.0.7");
        assert_eq!(m["x-forwarded-proto"], "https");
        assert_eq!(m["forwarded"], "for=203.0.113.9, for=10.0.0.7;proto=http");
        // an untrusted peer's claim is ignored
        assert_eq!(
            client_ip("192.0.2.1:1".parse().unwrap(), &m, &trusted),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(acceptable_request_id(&HeaderValue::from_static("abc-123")).is_some());
        assert!(acceptable_request_id(&HeaderValue::from_static("a b")).is_none());
        let long = "x".repeat(129);
        assert!(acceptable_request_id(&HeaderValue::from_str(&long).unwrap()).is_none());
        assert_eq!(new_request_id().len(), 32);
    }
}
