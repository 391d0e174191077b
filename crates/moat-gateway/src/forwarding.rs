//! Headers between client and upstream: hop-by-hop removal, `X-Forwarded-*`,
//! `Forwarded` and the request id.
//!
//! Forwarding headers from the client are believed only when the client is a
//! configured trusted proxy; from anyone else they are replaced, so a client
//! cannot make the upstream believe it comes from elsewhere.

use std::borrow::Borrow;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// How many names [`HOP_BY_HOP`] holds.
const HOPS: usize = 8;

/// Headers that describe one connection and never cross a proxy (RFC 9110
/// §7.6.1), plus the legacy ones still seen in the wild. `Connection`
/// comes first ([`strip_hop_by_hop`] reads the names it lists). A `static`:
/// a `const` array of names would be built and dropped at every use.
static HOP_BY_HOP: [HeaderName; HOPS] = [
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
    // One look at the names (most messages carry none, or only
    // `Connection`); bit `HOPS` is `Upgrade`.
    let found = headers
        .keys()
        .filter_map(hop_index)
        .fold(0u64, |found, i| found | 1 << i);
    // `HOP_BY_HOP[0]` is `Connection`. Names the list removes anyway
    // (`keep-alive`) are not collected: the common value allocates nothing.
    if found & 1 != 0 {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|token| {
                !HOP_BY_HOP
                    .iter()
                    .any(|h| h.as_str().eq_ignore_ascii_case(token))
            })
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in named {
            if !(keep_upgrade && name == header::UPGRADE) {
                headers.remove(&name);
            }
        }
    }
    remove_found(headers, HOP_BY_HOP.iter(), found);
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if found & (1 << HOPS) != 0 {
        headers.remove(header::UPGRADE);
    }
}

/// The index of a hop-by-hop field's name in [`HOP_BY_HOP`], or [`HOPS`]
/// for `Upgrade`. A `match` on the text: comparing with each name of the
/// list costs more on every field of every message.
fn hop_index(name: &HeaderName) -> Option<usize> {
    Some(match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => HOPS,
        _ => return None,
    })
}

/// Removes every field named in `names`. Each `HeaderMap::remove` hashes
/// its name even when nothing is there, and most messages carry none of
/// them: the names present are found in one pass and only those removed.
pub fn remove_fields<N: std::borrow::Borrow<HeaderName>>(headers: &mut HeaderMap, names: &[N]) {
    let found = present(headers, names);
    remove_found(headers, names.iter().map(Borrow::borrow), found);
}

/// Which of `names` (at most 64) the message carries, a bit each in their
/// order, from one pass over its fields.
fn present<N: std::borrow::Borrow<HeaderName>>(headers: &HeaderMap, names: &[N]) -> u64 {
    let mut found = 0u64;
    for name in headers.keys() {
        if let Some(i) = names.iter().position(|n| n.borrow() == name) {
            debug_assert!(i < 64);
            found |= 1 << i;
        }
    }
    found
}

/// Removes the fields of `names` whose bit [`present`] set.
fn remove_found<'n>(
    headers: &mut HeaderMap,
    names: impl Iterator<Item = &'n HeaderName>,
    found: u64,
) {
    for (i, name) in names.enumerate() {
        if found & (1 << i) != 0 {
            headers.remove(name);
        }
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
        .get_all(X_FORWARDED_FOR)
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

/// The fields of the forwarded request that depend only on the connection,
/// formatted once when it is accepted, and those that depend on the
/// connection and the requested host, formatted once per host (a
/// keep-alive connection asks for one host, request after request).
#[derive(Debug)]
pub struct PeerFields {
    /// `https` or `http`, as the client reached moat.
    proto: &'static str,
    /// The peer's address as `X-Forwarded-For` gives it.
    xff: HeaderValue,
    /// The peer's `Forwarded` element without a host: `for=…;proto=…`.
    forwarded: HeaderValue,
    /// The fields for the host last asked for on this connection.
    last_host: Mutex<Option<(Box<str>, HostFields)>>,
}

/// The fields that name the requested host.
#[derive(Debug, Clone)]
struct HostFields {
    /// `X-Forwarded-Host`; `None` when the host is not a field value.
    xfh: Option<HeaderValue>,
    /// The peer's `Forwarded` element with the host: `for=…;proto=…;host=…`
    /// (without it when the host is not a token).
    forwarded: HeaderValue,
}

impl PeerFields {
    /// The fields for a connection from `peer`, over TLS or not.
    pub fn new(peer: SocketAddr, tls: bool) -> Self {
        let proto = if tls { "https" } else { "http" };
        let ip = canonical_ip(peer.ip());
        let for_value = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        // An address, `for=`, quotes and brackets are all visible ASCII.
        let value = |s: String| {
            HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        };
        Self {
            proto,
            xff: value(ip.to_string()),
            forwarded: value(format!("for={for_value};proto={proto}")),
            last_host: Mutex::new(None),
        }
    }

    /// The fields that name `host`, kept for the next request.
    fn for_host(&self, host: &str) -> HostFields {
        let mut last = self
            .last_host
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((known, fields)) = last.as_ref()
            && **known == *host
        {
            return fields.clone();
        }
        let forwarded = if host.bytes().all(is_token_or_hostchar) {
            let element = text(&self.forwarded);
            HeaderValue::try_from(format!("{element};host={host}"))
                .unwrap_or_else(|_| self.forwarded.clone())
        } else {
            self.forwarded.clone()
        };
        let fields = HostFields {
            xfh: HeaderValue::from_str(host).ok(),
            forwarded,
        };
        *last = Some((host.into(), fields.clone()));
        fields
    }
}

/// What is known of the client side of a request.
pub struct ClientSide<'a> {
    /// The connection's own fields.
    pub peer: &'a PeerFields,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// The `Host` the client asked for, if any.
    pub host: Option<&'a str>,
}

/// `X-Forwarded-For`. Header names are constants: `from_static` and
/// `&str` names are parsed again at each call outside a constant.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Sets `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded` for the upstream.
pub fn set_forwarding_headers(headers: &mut HeaderMap, client: &ClientSide<'_>) {
    let peer = client.peer;

    let prior_xff = client
        .trusted
        .then(|| joined(headers, &X_FORWARDED_FOR))
        .flatten();
    match prior_xff {
        Some(prior) => set(
            headers,
            X_FORWARDED_FOR,
            format!("{prior}, {}", text(&peer.xff)),
        ),
        None => {
            headers.insert(X_FORWARDED_FOR, peer.xff.clone());
        }
    }

    let keep_proto = client.trusted && headers.contains_key(&X_FORWARDED_PROTO);
    if !keep_proto {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(peer.proto));
    }
    let keep_host = client.trusted && headers.contains_key(&X_FORWARDED_HOST);
    let named = client.host.map(|h| peer.for_host(h));
    if !keep_host {
        match named.as_ref().and_then(|n| n.xfh.clone()) {
            Some(v) => {
                headers.insert(X_FORWARDED_HOST, v);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }

    let element = named.map_or_else(|| peer.forwarded.clone(), |n| n.forwarded);
    let prior_fwd = client
        .trusted
        .then(|| joined(headers, &header::FORWARDED))
        .flatten();
    match prior_fwd {
        None => {
            headers.insert(header::FORWARDED, element);
        }
        Some(prior) => set(
            headers,
            header::FORWARDED,
            format!("{prior}, {}", text(&element)),
        ),
    }
}

/// A value this module formatted (visible ASCII) as text.
fn text(v: &HeaderValue) -> &str {
    v.to_str().unwrap_or_default()
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

fn set(headers: &mut HeaderMap, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

/// A request's id: 1 to 128 visible ASCII characters, kept as the header
/// value it is sent in (to the upstream and back to the client), so that
/// both are a reference count, not a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A new random id: a UUID v4 in 32 lower-case hex digits.
    pub fn new() -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
        // Hex digits are a valid header value.
        Self(HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-")))
    }

    /// The id a trusted proxy sent, when it looks like one: at most 128
    /// visible ASCII characters. Anything else is replaced by a fresh id.
    pub fn acceptable(value: &HeaderValue) -> Option<Self> {
        let b = value.as_bytes();
        (!b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic))
            .then(|| Self(value.clone()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Visible ASCII by construction.
        self.0.to_str().unwrap_or("-")
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_fields_removes_every_value_of_the_names_present_and_nothing_else() {
        let mut h = HeaderMap::new();
        h.append("x-consumer-id", HeaderValue::from_static("mallory"));
        h.append("x-consumer-id", HeaderValue::from_static("admin"));
        h.append("server", HeaderValue::from_static("nginx"));
        h.append("accept", HeaderValue::from_static("*/*"));
        let consumer = HeaderName::from_static("x-consumer-id");
        let roles = HeaderName::from_static("x-consumer-roles");
        remove_fields(&mut h, &[&roles, &consumer, &header::SERVER]);
        assert_eq!(h.len(), 1);
        assert_eq!(h["accept"], "*/*");
        remove_fields::<HeaderName>(&mut h, &[]);
        assert_eq!(h.len(), 1);
    }

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
        // Each alone, in any case, and a `Connection` listing only options.
        for (name, value) in [
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "expires"),
            ("Transfer-Encoding", "chunked"),
            ("Proxy-Authorization", "Basic eA=="),
            ("Proxy-Authenticate", "Basic"),
            ("Upgrade", "h2c"),
            ("Connection", "Keep-Alive, close"),
        ] {
            let mut m = h(&[(name, value), ("accept", "*/*")]);
            strip_hop_by_hop(&mut m, false);
            assert_eq!(m.len(), 1, "{name}: {m:?}");
        }
        // Nothing to remove: nothing changes.
        let mut m = h(&[("accept", "*/*"), ("x-trace", "1")]);
        strip_hop_by_hop(&mut m, false);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn hop_indices_follow_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(name), Some(i), "{name}");
        }
        assert_eq!(hop_index(&header::UPGRADE), Some(HOPS));
        assert_eq!(hop_index(&header::HOST), None);
        assert_eq!(hop_index(&HeaderName::from_static("x-te")), None);
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
        let peer = PeerFields::new("10.0.0.7:5555".parse().unwrap(), false);
        let client = ClientSide {
            peer: &peer,
            trusted: false,
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
    fn host_fields_follow_the_host_asked_for() {
        let peer = PeerFields::new("10.0.0.7:5555".parse().unwrap(), true);
        for host in ["a.example", "b.example:8443", "a.example", "[2001:db8::1]"] {
            let mut m = HeaderMap::new();
            let client = ClientSide {
                peer: &peer,
                trusted: false,
                host: Some(host),
            };
            set_forwarding_headers(&mut m, &client);
            assert_eq!(m["x-forwarded-host"], host);
            assert_eq!(
                m["forwarded"],
                format!("for=10.0.0.7;proto=https;host={host}").as_str()
            );
        }
        // No host: no X-Forwarded-Host, and a client's own is removed.
        let mut m = h(&[("x-forwarded-host", "evil.example")]);
        let client = ClientSide {
            peer: &peer,
            trusted: false,
            host: None,
        };
        set_forwarding_headers(&mut m, &client);
        assert!(!m.contains_key("x-forwarded-host"));
        assert_eq!(m["forwarded"], "for=10.0.0.7;proto=https");
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
        let fields = PeerFields::new(peer, false);
        let client = ClientSide {
            peer: &fields,
            trusted: true,
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
        let sent = RequestId::acceptable(&HeaderValue::from_static("abc-123")).unwrap();
        assert_eq!(sent.as_str(), "abc-123");
        assert_eq!(sent.header_value(), "abc-123");
        assert!(RequestId::acceptable(&HeaderValue::from_static("a b")).is_none());
        assert!(RequestId::acceptable(&HeaderValue::from_static("")).is_none());
        let long = "x".repeat(129);
        assert!(RequestId::acceptable(&HeaderValue::from_str(&long).unwrap()).is_none());
        let fresh = RequestId::new();
        assert_eq!(fresh.as_str().len(), 32);
        assert!(fresh.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(fresh, RequestId::new());
        assert_eq!(fresh.to_string(), fresh.as_str());
    }
}
