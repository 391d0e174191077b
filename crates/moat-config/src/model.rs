//! The gateway configuration, as written in YAML.
//!
//! The OpenAPI document says what the API is; this file says only what the
//! document cannot: where to listen, where the upstream is, how strict to be.
//! Every struct refuses unknown keys so a typo is an error, not a silent
//! default. The doc comments here are the configuration reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::secret::Secret;

/// The root of a moat config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default enforcement mode for every API: `enforce` returns denials to the
    /// client, `monitor` records them and lets the request through.
    #[serde(default)]
    pub mode: Mode,
    /// Where the gateway accepts client traffic. At least one.
    pub listeners: Vec<ListenerConfig>,
    /// The admin listener (admin API, console, health, readiness,
    /// metrics). Off when absent.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Security events and the audit trail.
    #[serde(default)]
    pub events: EventsConfig,
    /// Named upstream services that APIs forward to.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// What outgoing TLS connections (upstreams, JWKS and OIDC discovery,
    /// introspection, webhooks) trust.
    #[serde(default)]
    pub outbound: OutboundConfig,
    /// The protected APIs, each bound to an OpenAPI document and an upstream.
    pub apis: Vec<ApiConfig>,
    /// Known API consumers: who credentials belong to.
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
    /// How verified identities are passed upstream.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Temporary lockout after repeated credential failures.
    #[serde(default)]
    pub lockout: LockoutConfig,
    /// Proxy behaviour shared by all APIs.
    #[serde(default)]
    pub proxy: ProxyConfig,
    /// The JSON access log.
    #[serde(default)]
    pub access_log: AccessLogConfig,
    /// Reloading the config while running.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Stopping the gateway.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Where embedded state (API keys) is kept.
    #[serde(default)]
    pub state: StateConfig,
    /// API key hashing. Required when any API uses an `api_key` verifier or
    /// `moat keys` is run.
    #[serde(default)]
    pub keys: Option<KeysConfig>,
    /// Where rate-limit and quota counters are kept, and how many.
    #[serde(default)]
    pub rate_limiting: RateLimitingConfig,
    /// Detectors of credential stuffing, enumeration, scraping and error
    /// storms, and the temporary bans they impose. Read at start-up.
    #[serde(default)]
    pub anomaly: crate::anomaly::AnomalyConfig,
    /// What the gateway learns of the APIs from their traffic.
    #[serde(default)]
    pub discovery: crate::discovery::DiscoveryConfig,
}

/// The counters behind `apis[].rate_limits` and `apis[].quotas`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    /// `memory` (this node only; quotas in the SQLite state file) or
    /// `redis` (shared by every node; quotas too).
    #[serde(default)]
    pub backend: LimitBackend,
    /// The Redis server, for `backend: redis`.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// Most keys the in-memory limiter tracks (also the fallback's size);
    /// idle keys are dropped first.
    #[serde(default = "default_max_limit_keys")]
    pub max_keys: usize,
    /// Send `RateLimit-Policy` and `RateLimit` header fields on responses
    /// to limited operations.
    #[serde(default = "yes")]
    pub headers: bool,
}

impl Default for RateLimitingConfig {
    fn default() -> Self {
        Self {
            backend: LimitBackend::default(),
            redis: None,
            max_keys: default_max_limit_keys(),
            headers: true,
        }
    }
}

fn default_max_limit_keys() -> usize {
    500_000
}

/// Where limit counters live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitBackend {
    /// In this process (rate limits) and the SQLite state file (quotas).
    #[default]
    Memory,
    /// A Redis server shared by every gateway node.
    Redis,
}

/// A Redis server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`, referenced when it carries a password
    /// (`${env:MOAT_REDIS_URL}`).
    pub url: Secret,
    /// Longest wait for one Redis command; past it the limit's `fail` mode
    /// decides.
    #[serde(default = "default_redis_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Prefix of every key moat writes.
    #[serde(default = "default_redis_prefix")]
    pub prefix: String,
    /// A private CA (PEM) that signs the server's certificate, for
    /// `rediss://`; the system's roots when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(100)
}

fn default_redis_prefix() -> String {
    "moat".to_string()
}

/// Attack inspection for one API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionConfig {
    /// Inspect requests (on by default).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 1 (only unambiguous attacks count) to 4 (anything suspicious).
    #[serde(default = "default_paranoia")]
    pub paranoia: u8,
    /// The anomaly score (critical hit 5, error 4, warning 3, notice 2) at
    /// which a request is refused.
    #[serde(default = "default_inspection_threshold")]
    pub threshold: u32,
    /// The detectors that run: `sqli`, `xss`, `command_injection`,
    /// `path_traversal`, `ssrf`, `nosql`, `ssti`, `ldap`, `crlf`, `jndi`,
    /// `xxe`, `attack_tool`; all when absent.
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// Known false positives to ignore.
    #[serde(default)]
    pub exclusions: Vec<InspectionExclusion>,
    /// Which request headers are inspected.
    #[serde(default)]
    pub headers: InspectionHeaders,
    /// What a request whose `User-Agent` names a well-known attack tool
    /// (sqlmap, nuclei, nikto…) gets: `flag` (recorded as suspected) or
    /// `block` (refused).
    #[serde(default)]
    pub attack_tools: AttackToolAction,
    /// Largest body read for inspection; larger bodies stream uninspected
    /// (and are recorded).
    #[serde(default = "default_inspected_body")]
    pub max_body_bytes: u64,
    /// GraphQL protections.
    #[serde(default)]
    pub graphql: GraphqlConfig,
    /// XML and SOAP protections.
    #[serde(default)]
    pub xml: XmlConfig,
}

impl Default for InspectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            paranoia: default_paranoia(),
            threshold: default_inspection_threshold(),
            detectors: None,
            exclusions: Vec::new(),
            headers: InspectionHeaders::default(),
            attack_tools: AttackToolAction::default(),
            max_body_bytes: default_inspected_body(),
            graphql: GraphqlConfig::default(),
            xml: XmlConfig::default(),
        }
    }
}

fn default_paranoia() -> u8 {
    1
}
fn default_inspection_threshold() -> u32 {
    5
}
fn default_inspected_body() -> u64 {
    1024 * 1024
}

/// What a request from a well-known attack tool gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackToolAction {
    /// Recorded as `attack-suspected`, forwarded.
    #[default]
    Flag,
    /// Refused with `403 attack-detected`.
    Block,
}

/// Which request headers inspection reads: every header but the framing
/// and transport ones (`host`, `content-length`, `transfer-encoding`,
/// `connection`, …), `cookie` (inspected cookie by cookie),
/// `proxy-authorization`, the credentials a verifier consumed, and these.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionHeaders {
    /// Header names (any case) not inspected, e.g. a signature header
    /// whose value is opaque.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Findings to ignore: those of `detectors` at `locations` of
/// `operations`; an absent list matches everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionExclusion {
    /// Operations, written like role grants.
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    /// Locations: `query:<name>`, `header:<name>`, `cookie:<name>`,
    /// `path:<index>`, `body:<JSON pointer>` (a trailing `*` matches any
    /// rest, e.g. `body:/notes/*`).
    #[serde(default)]
    pub locations: Option<Vec<String>>,
    /// Detectors, by name.
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
}

/// GraphQL protections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlConfig {
    /// The GraphQL operations of the document, written like role grants;
    /// by default every operation whose path ends in `/graphql`.
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    /// Deepest selection (fragments expanded).
    #[serde(default = "default_gql_depth")]
    pub max_depth: u32,
    /// Most aliases in a request.
    #[serde(default = "default_gql_aliases")]
    pub max_aliases: u32,
    /// Most root fields in an operation.
    #[serde(default = "default_gql_root_fields")]
    pub max_root_fields: u32,
    /// Most directives in a request.
    #[serde(default = "default_gql_directives")]
    pub max_directives: u32,
    /// Highest cost: the sum of field weights, multiplied by `first`,
    /// `last` and `limit` arguments.
    #[serde(default = "default_gql_cost")]
    pub max_cost: u32,
    /// Weights of costly fields (`Type.field` or `field`); others weigh 1.
    #[serde(default)]
    pub field_weights: BTreeMap<String, u32>,
    /// Most operations in a batch (a JSON array of requests).
    #[serde(default = "default_gql_batch")]
    pub max_operations_per_batch: u32,
    /// Roles that may use introspection (`__schema`, `__type`); nobody
    /// else may.
    #[serde(default)]
    pub introspection_roles: Vec<String>,
    /// Remove "Did you mean …?" field suggestions from error responses.
    #[serde(default = "yes")]
    pub mask_suggestions: bool,
    /// When set, only these queries are accepted: SHA-256 hashes (hex) of
    /// the query text, as Apollo's persisted queries use.
    #[serde(default)]
    pub persisted_queries: Option<Vec<String>>,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            operations: None,
            max_depth: default_gql_depth(),
            max_aliases: default_gql_aliases(),
            max_root_fields: default_gql_root_fields(),
            max_directives: default_gql_directives(),
            max_cost: default_gql_cost(),
            field_weights: BTreeMap::new(),
            max_operations_per_batch: default_gql_batch(),
            introspection_roles: Vec::new(),
            mask_suggestions: true,
            persisted_queries: None,
        }
    }
}

fn default_gql_depth() -> u32 {
    10
}
fn default_gql_aliases() -> u32 {
    15
}
fn default_gql_root_fields() -> u32 {
    10
}
fn default_gql_directives() -> u32 {
    10
}
fn default_gql_cost() -> u32 {
    1000
}
fn default_gql_batch() -> u32 {
    5
}

/// XML and SOAP protections (a `DOCTYPE` is always refused).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlConfig {
    /// Deepest element nesting.
    #[serde(default = "default_xml_depth")]
    pub max_depth: u32,
    /// Most attributes on one element.
    #[serde(default = "default_xml_attributes")]
    pub max_attributes: u32,
    /// Most children of one element.
    #[serde(default = "default_xml_children")]
    pub max_children: u32,
    /// Longest text node, in bytes.
    #[serde(default = "default_xml_text")]
    pub max_text_bytes: u64,
    /// Refuse SOAP requests whose `SOAPAction` (or SOAP 1.2 `action`)
    /// names another operation than the envelope's body.
    #[serde(default = "yes")]
    pub soap_action_consistency: bool,
}

impl Default for XmlConfig {
    fn default() -> Self {
        Self {
            max_depth: default_xml_depth(),
            max_attributes: default_xml_attributes(),
            max_children: default_xml_children(),
            max_text_bytes: default_xml_text(),
            soap_action_consistency: true,
        }
    }
}

fn default_xml_depth() -> u32 {
    32
}
fn default_xml_attributes() -> u32 {
    50
}
fn default_xml_children() -> u32 {
    10_000
}
fn default_xml_text() -> u64 {
    64 * 1024
}

/// Caps on one API's requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestLimitsConfig {
    /// Largest request body, any media type; larger ones get `413`.
    #[serde(default = "default_max_request_body")]
    pub max_body_bytes: u64,
    /// Per-operation overrides of `max_body_bytes`, by operationId (e.g. an
    /// upload operation).
    #[serde(default)]
    pub operations: BTreeMap<String, OperationLimitsConfig>,
    /// Largest GraphQL body (`application/graphql`, or JSON to an operation
    /// whose path ends in `/graphql`).
    #[serde(default = "default_max_graphql_body")]
    pub graphql_max_bytes: u64,
    /// Largest XML body (`application/xml`, `text/xml`, `+xml`).
    #[serde(default = "default_max_xml_body")]
    pub xml_max_bytes: u64,
    /// Shape limits of JSON bodies, checked before schema validation.
    #[serde(default)]
    pub json: JsonLimitsConfig,
    /// Requests one consumer may have in flight at once (0: no cap).
    /// Further ones get `429`.
    #[serde(default)]
    pub max_concurrent_per_consumer: u32,
}

impl Default for RequestLimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_request_body(),
            operations: BTreeMap::new(),
            graphql_max_bytes: default_max_graphql_body(),
            xml_max_bytes: default_max_xml_body(),
            json: JsonLimitsConfig::default(),
            max_concurrent_per_consumer: 0,
        }
    }
}

fn default_max_request_body() -> u64 {
    1024 * 1024
}
fn default_max_graphql_body() -> u64 {
    64 * 1024
}
fn default_max_xml_body() -> u64 {
    256 * 1024
}

/// Limits of one operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationLimitsConfig {
    /// Largest request body for this operation.
    pub max_body_bytes: u64,
}

/// Shape limits of JSON request bodies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonLimitsConfig {
    /// Deepest nesting of arrays and objects.
    #[serde(default = "default_json_depth")]
    pub max_depth: usize,
    /// Most items in one array.
    #[serde(default = "default_json_array_items")]
    pub max_array_items: usize,
    /// Longest string (bytes, as written), keys included.
    #[serde(default = "default_json_string_bytes")]
    pub max_string_bytes: usize,
    /// Most properties in one object.
    #[serde(default = "default_json_properties")]
    pub max_properties: usize,
}

impl Default for JsonLimitsConfig {
    fn default() -> Self {
        Self {
            max_depth: default_json_depth(),
            max_array_items: default_json_array_items(),
            max_string_bytes: default_json_string_bytes(),
            max_properties: default_json_properties(),
        }
    }
}

fn default_json_depth() -> usize {
    32
}
fn default_json_array_items() -> usize {
    10_000
}
fn default_json_string_bytes() -> usize {
    1024 * 1024
}
fn default_json_properties() -> usize {
    1_000
}

/// A rate limit: a smooth rate (GCRA) with a burst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// A name, unique per API; it names the limit in `RateLimit` headers,
    /// logs and metrics.
    pub name: String,
    /// What is counted: `consumer`, `api_key`, `client_ip`,
    /// `client_network` (/24 for IPv4, /64 for IPv6), `api`, `operation`,
    /// `header:<name>` or `claim:<name>`. Read by [`crate::LimitKey`]'s
    /// parser when the config is compiled (so that a bad key is reported
    /// with every other problem, not alone).
    pub key: String,
    /// Requests allowed per `per`.
    pub rate: u64,
    /// The period of `rate`.
    #[serde(default = "default_limit_period", with = "humantime_serde")]
    pub per: Duration,
    /// Requests allowed at once; `rate` when absent.
    #[serde(default)]
    pub burst: Option<u64>,
    /// The operations it applies to, written like role grants
    /// (operationId, `tag:<name>`, `METHOD /path/glob`, `*`).
    #[serde(default = "default_all_operations")]
    pub operations: Vec<String>,
    /// When the shared backend cannot be reached: `open` (decide on this
    /// node's own limiter) or `closed` (answer `503`).
    #[serde(default)]
    pub fail: FailMode,
}

fn default_limit_period() -> Duration {
    Duration::from_secs(1)
}

fn default_all_operations() -> Vec<String> {
    vec!["*".to_string()]
}

/// What a limit does when its backend is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Keep limiting with this node's in-memory limiter.
    #[default]
    Open,
    /// Refuse with `503` until the backend is back.
    Closed,
}

/// A quota: at most `limit` requests in any `per` (sliding window),
/// persisted across restarts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// A name, unique per API among limits and quotas.
    pub name: String,
    /// What is counted, as for rate limits.
    pub key: String,
    /// Requests allowed per window.
    pub limit: u64,
    /// The window: `1h`, `1d`, `30d`…
    #[serde(with = "humantime_serde")]
    pub per: Duration,
    /// The operations it applies to, written like role grants.
    #[serde(default = "default_all_operations")]
    pub operations: Vec<String>,
    /// When the backend cannot be reached: `open` (allow) or `closed`
    /// (`503`).
    #[serde(default)]
    pub fail: FailMode,
}

/// Whether denials are returned to the client or only recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Denials are answered with a problem response; the upstream never sees
    /// the request.
    #[default]
    Enforce,
    /// Denials are recorded (log, metrics) and the request is forwarded.
    Monitor,
}

impl Mode {
    /// The name used in config, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// A socket the gateway accepts client traffic on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port, e.g. `0.0.0.0:8443` or `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// Serve HTTPS on this listener. Plain HTTP when absent.
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
    /// On a plain listener: answer every request with a `308` redirect to
    /// HTTPS on this port instead of serving it.
    #[serde(default)]
    pub redirect_to_https: Option<RedirectConfig>,
    /// Accept HTTP/2 (h2 over TLS through ALPN, h2c prior knowledge on plain
    /// listeners) besides HTTP/1.1.
    #[serde(default = "yes")]
    pub http2: bool,
    /// Most simultaneous connections on this listener; further ones wait in
    /// the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Length of the kernel's queue of connections not yet accepted
    /// (`listen(2)` backlog); Linux caps it at `net.core.somaxconn`.
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// Time a client has to send a complete request head (slowloris defence).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body once the head is
    /// in; a client that stops sending gets `408` and the connection is
    /// closed.
    #[serde(default = "default_body_read_timeout", with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Most simultaneous connections from one client (an IPv4 address, an
    /// IPv6 /64) on this listener; further ones are closed as soon as they
    /// are accepted.
    /// Connections from `proxy.trusted_proxies` are not counted.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// Most header fields in a request; more are answered with `431`.
    #[serde(default = "default_max_header_count")]
    pub max_header_count: usize,
    /// Largest request head (request line and header fields) in bytes;
    /// larger heads are answered with `431`.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Longest request target (path and query string) in bytes; longer ones
    /// are answered with `414`.
    #[serde(default = "default_max_url_bytes")]
    pub max_url_bytes: usize,
    /// HTTP/2: a PING is sent when the client has sent nothing for this
    /// long, to find connections whose peer is gone.
    #[serde(
        default = "default_http2_keep_alive_interval",
        with = "humantime_serde"
    )]
    pub http2_keep_alive_interval: Duration,
    /// HTTP/2: a connection whose PING is not acknowledged within this is
    /// closed.
    #[serde(default = "default_http2_keep_alive_timeout", with = "humantime_serde")]
    pub http2_keep_alive_timeout: Duration,
    /// HTTP/2: a connection with no open stream for this long is closed
    /// (`GOAWAY`); one with a stream open is not.
    #[serde(default = "default_http2_idle_timeout", with = "humantime_serde")]
    pub http2_idle_timeout: Duration,
}

/// TLS for a listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Lowest TLS version accepted: `"1.2"` or `"1.3"`.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// `Strict-Transport-Security` on every response of this listener.
    #[serde(default)]
    pub hsts: HstsConfig,
    /// Ask clients for a certificate (mutual TLS), verified against a CA.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

/// Client certificates on a TLS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// PEM file of the CA certificates client certificates must chain to.
    pub ca: PathBuf,
    /// Refuse the TLS handshake without a valid client certificate. Off:
    /// the certificate is optional at the TLS level and operations that
    /// require `mutualTLS` refuse requests without one.
    #[serde(default)]
    pub required: bool,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}

/// HTTP Strict Transport Security.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HstsConfig {
    /// Send the header.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `max-age`: how long browsers remember to use HTTPS only.
    #[serde(default = "default_hsts_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// Add `includeSubDomains`.
    #[serde(default)]
    pub include_subdomains: bool,
    /// Add `preload`.
    #[serde(default)]
    pub preload: bool,
}

impl Default for HstsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age: default_hsts_max_age(),
            include_subdomains: false,
            preload: false,
        }
    }
}

/// Redirect of plain HTTP to HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// The HTTPS port clients are sent to (443 is left out of the URL).
    pub port: u16,
}

/// The admin listener: the admin API, the console, health and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address and port. Loopback by default. Any other address needs
    /// `tls`, or `allow_plaintext_remote: true`.
    #[serde(default = "default_admin_bind")]
    pub bind: SocketAddr,
    /// A bootstrap token with the operator role, for automation that
    /// cannot run `moat admin token create`. Reference it, e.g.
    /// `${env:MOAT_ADMIN_TOKEN}`; at least 16 characters. Tokens created
    /// with `moat admin token create` are kept hashed in the state file.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Serve the admin listener over HTTPS.
    #[serde(default)]
    pub tls: Option<AdminTlsConfig>,
    /// Let the admin listener bind a non-loopback address without TLS.
    /// Tokens then cross the network in the clear; off by default.
    #[serde(default)]
    pub allow_plaintext_remote: bool,
    /// Serve the web console at `/console/`.
    #[serde(default = "yes")]
    pub console: bool,
}

/// TLS for the admin listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Security events: what is recorded, where it goes, how long it is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Record security events. Off: no event is built or queued.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events waiting for the sinks. A full queue drops new events (counted
    /// in `moat_events_dropped_total`); it never delays a request.
    #[serde(default = "default_event_queue")]
    pub queue: usize,
    /// The event store in the state file (the hash-chained audit trail,
    /// read by the admin API, the console and `moat events`).
    #[serde(default)]
    pub store: EventStoreConfig,
    /// Events as JSON lines, to a file or standard output.
    #[serde(default)]
    pub file: Option<EventFileConfig>,
    /// Alerts: events posted to webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Repeated events stored as one summary.
    #[serde(default)]
    pub coalesce: CoalesceConfig,
}

/// Repeated events: the same kind of event, from the same address and
/// consumer, for the same operation, with the same action. Past `max` in a `window`, the
/// rest are counted and stored as one summary event when the window ends
/// (`repeats`), so a flood of one attack neither costs a write per request
/// nor pushes older events out of the store. Admin actions and detector
/// reports are never coalesced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoalesceConfig {
    /// Coalesce repeated events. Off: every event is stored one by one.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events of one kind stored one by one per window.
    #[serde(default = "default_coalesce_max")]
    pub max: u32,
    /// The window.
    #[serde(default = "default_coalesce_window", with = "humantime_serde")]
    pub window: Duration,
}

impl Default for CoalesceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max: default_coalesce_max(),
            window: default_coalesce_window(),
        }
    }
}

fn default_coalesce_max() -> u32 {
    10
}

fn default_coalesce_window() -> Duration {
    Duration::from_secs(10)
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            queue: default_event_queue(),
            store: EventStoreConfig::default(),
            file: None,
            webhooks: Vec::new(),
            coalesce: CoalesceConfig::default(),
        }
    }
}

fn default_event_queue() -> usize {
    10_000
}

/// The event store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStoreConfig {
    /// Keep events in the state file.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Events older than this are removed.
    #[serde(default = "default_event_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// At most this many events are kept; the oldest go first.
    #[serde(default = "default_event_max_events")]
    pub max_events: u64,
    /// At most this many bytes of events (as JSON) are kept; the oldest go
    /// first.
    #[serde(default = "default_event_max_bytes")]
    pub max_bytes: u64,
    /// Events held in memory while the store cannot take them (a database
    /// outage), written in order once it recovers; beyond this many, new
    /// events are dropped and counted.
    #[serde(default = "default_event_buffer")]
    pub buffer: usize,
}

impl Default for EventStoreConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age: default_event_max_age(),
            max_events: default_event_max_events(),
            max_bytes: default_event_max_bytes(),
            buffer: default_event_buffer(),
        }
    }
}

fn default_event_buffer() -> usize {
    50_000
}

fn default_event_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_event_max_events() -> u64 {
    1_000_000
}

fn default_event_max_bytes() -> u64 {
    512 * 1024 * 1024
}

/// Events as JSON lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFileConfig {
    /// `stdout`, or a file path (appended to), relative to the config file.
    pub target: String,
    /// Only events of at least this severity.
    #[serde(default)]
    pub min_severity: EventSeverity,
}

/// A webhook that receives alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL events are posted to. Reference it (`${env:…}`): webhook
    /// URLs usually carry a secret.
    pub url: Secret,
    /// `json` (the event as moat writes it) or `slack` (a Slack-compatible
    /// `{"text": …}` message).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Only events of at least this severity.
    #[serde(default = "default_webhook_severity")]
    pub min_severity: EventSeverity,
    /// At most this many alerts a minute; the rest are summed up in one
    /// alert when the minute ends.
    #[serde(default = "default_webhook_per_minute")]
    pub max_per_minute: u32,
    /// Time for one delivery attempt.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts after the first, with exponential backoff (1 s, 2 s, 4 s …).
    #[serde(default = "default_webhook_retries")]
    pub retries: u32,
}

fn default_webhook_severity() -> EventSeverity {
    EventSeverity::High
}

fn default_webhook_per_minute() -> u32 {
    10
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_webhook_retries() -> u32 {
    5
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The event's JSON.
    #[default]
    Json,
    /// `{"text": "…"}`, as Slack's incoming webhooks (and Mattermost,
    /// Rocket.Chat) take it.
    Slack,
}

/// An event severity, for filters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    /// Everything.
    #[default]
    Info,
    /// Low and up.
    Low,
    /// Medium and up.
    Medium,
    /// High and up.
    High,
    /// Critical only.
    Critical,
}

/// An upstream service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URLs (`http://host:port` or `https://host:port/prefix`), used in
    /// turn (round robin). A path prefix is put before the forwarded path.
    pub targets: Vec<String>,
    /// Time to establish a TCP (and TLS) connection before answering `502`.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time to wait for the upstream's response head before answering `504`.
    #[serde(default = "default_response_timeout", with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Longest wait for the next piece of the answer's body once its head
    /// came; past it the answer is cut off.
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection stays in the pool (closed
    /// within 5 s after). Keep it below the upstream's keep-alive timeout.
    #[serde(default = "default_pool_idle_timeout", with = "humantime_serde")]
    pub pool_idle_timeout: Duration,
    /// Most idle keep-alive connections kept per target by each worker
    /// thread (each worker keeps its own).
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_target: usize,
    /// TLS towards `https://` targets.
    #[serde(default)]
    pub tls: UpstreamTlsConfig,
    /// Times a request with an idempotent method (`GET`, `HEAD`,
    /// `OPTIONS`, `PUT`, `DELETE`) is sent again, to the next target, when
    /// no connection could be made or the connection closed before the
    /// answer's head; a request whose body has started to stream is never
    /// sent again. `0` turns retries off.
    #[serde(default = "default_upstream_retries")]
    pub retries: u32,
    /// Marking targets down and up again. Off when absent: every target is
    /// always tried.
    #[serde(default)]
    pub health: Option<HealthConfig>,
}

/// Health of an upstream's targets: connect failures (passive) and, when
/// `path` is set, a periodic `GET` of each target (active). A target
/// marked down gets no requests; when every target is down the gateway
/// answers `503` at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Path (with query, if any) each target is asked with `GET`, e.g.
    /// `/healthz`. No active check when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// Time between two active checks of a target.
    #[serde(default = "default_health_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Longest wait for a check's answer (connection included); past it the
    /// check failed.
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// The status a passing check answers.
    #[serde(default = "default_health_status")]
    pub expected_status: u16,
    /// Consecutive failures (failed checks or connect failures of
    /// requests) that mark a target down.
    #[serde(default = "default_health_down_after")]
    pub down_after: u32,
    /// Consecutive passing checks that mark a down target up again.
    #[serde(default = "default_health_up_after")]
    pub up_after: u32,
    /// Without an active check: how long a target marked down is left out
    /// before requests try it again.
    #[serde(default = "default_health_retry_after", with = "humantime_serde")]
    pub retry_after: Duration,
}

/// The trust store of every outgoing TLS connection. A server's
/// certificate is always verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// PEM file of CA certificates trusted besides the system's roots
    /// (e.g. the private CA of an internal identity provider), by
    /// upstreams without their own `tls.ca`, key and discovery fetches,
    /// introspection calls and webhooks.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Trust the system's roots. `false` trusts only `ca`, which is then
    /// required.
    #[serde(default = "yes")]
    pub system_roots: bool,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            ca: None,
            system_roots: true,
        }
    }
}

/// TLS towards an upstream. The certificate is always verified.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// PEM file of CA certificates to trust for this upstream instead of
    /// the system's roots and `outbound.ca`.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// A protected API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// A unique name, used in logs and metrics.
    pub name: String,
    /// The OpenAPI 3.0 or 3.1 document (YAML or JSON), relative to this file.
    pub spec: PathBuf,
    /// Directories, besides the one holding `spec` (and those below it),
    /// from which the document's `$ref`s may read files; relative to this
    /// file. A `$ref` to a file anywhere else is refused unread.
    #[serde(default)]
    pub spec_ref_dirs: Vec<PathBuf>,
    /// The name of the upstream in `upstreams`.
    pub upstream: String,
    /// Serve this API only for this `Host` (port ignored). Any host when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// Serve this API under this path prefix (e.g. `/bookstore`); removed
    /// before matching and forwarding. Nothing when absent.
    #[serde(default)]
    pub base_path: Option<String>,
    /// Overrides the global `mode` for this API.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// What to do with operations marked `deprecated: true` (zombie
    /// endpoints): `allow`, `warn` (forward with a `Deprecation` header, record)
    /// or `block` (`410`, in enforce mode).
    #[serde(default)]
    pub deprecated: DeprecatedPolicy,
    /// How each security scheme of the document is verified, by scheme name.
    /// Every scheme the document's requirements use needs an entry.
    #[serde(default)]
    pub security: BTreeMap<String, VerifierConfig>,
    /// Which roles may call which operations: role name → grants
    /// (operationId, `tag:<name>`, `METHOD /path/glob`, `*`). When set, an
    /// operation no role grants is denied to everyone; every request has the
    /// role `anonymous`.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// Positive validation of requests against the document.
    #[serde(default)]
    pub validation: ValidationConfig,
    /// Object-level authorization: which parameters must name the caller's
    /// own objects.
    #[serde(default)]
    pub object_access: ObjectAccessConfig,
    /// Protection of responses against excessive data exposure.
    #[serde(default)]
    pub responses: ResponseConfig,
    /// Caps on request bodies and concurrency that protect the gateway and
    /// the upstream.
    #[serde(default)]
    pub request_limits: RequestLimitsConfig,
    /// Attack inspection of parameters, headers and bodies (injection,
    /// XSS, SSRF, …), and GraphQL and XML protections.
    #[serde(default)]
    pub inspection: InspectionConfig,
    /// Rate limits (GCRA) on this API's operations; every one that applies
    /// must allow a request.
    #[serde(default)]
    pub rate_limits: Vec<RateLimitConfig>,
    /// Quotas (long sliding windows) on this API's operations.
    #[serde(default)]
    pub quotas: Vec<QuotaConfig>,
    /// Cross-origin requests from browsers. Off when absent: no CORS
    /// headers, and preflights are undocumented operations.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// Login operations the upstream performs: their failure answers feed
    /// the lockout for the account the request names, and are made
    /// uniform.
    #[serde(default)]
    pub logins: Vec<LoginConfig>,
}

/// A login the upstream performs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// The operationId.
    pub operation: String,
    /// Where the request's JSON body names the account (a JSON pointer).
    pub account: String,
    /// Answer statuses that mean the login failed.
    #[serde(default = "default_login_failures")]
    pub failure_statuses: Vec<u16>,
    /// Replace every failure answer with one problem (`401
    /// invalid-credentials`), so answers do not tell which accounts exist.
    #[serde(default = "yes")]
    pub uniform_failures: bool,
}

fn default_login_failures() -> Vec<u16> {
    vec![400, 401, 403, 404]
}

/// CORS for an API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`), or `["*"]` for any origin
    /// (not allowed together with `allow_credentials`).
    pub allowed_origins: Vec<String>,
    /// Let browsers send cookies and credentials cross-origin.
    #[serde(default)]
    pub allow_credentials: bool,
    /// Request headers a cross-origin request may carry.
    #[serde(default = "default_cors_headers")]
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default = "default_cors_expose")]
    pub expose_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    #[serde(default = "default_cors_max_age", with = "humantime_serde")]
    pub max_age: Duration,
}

fn default_cors_headers() -> Vec<String> {
    vec!["content-type".into(), "authorization".into()]
}
fn default_cors_expose() -> Vec<String> {
    vec!["x-request-id".into()]
}
fn default_cors_max_age() -> Duration {
    Duration::from_secs(600)
}

/// Response protection (excessive data exposure).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseConfig {
    /// Properties the documented response schema does not declare, and
    /// `writeOnly` ones: `remove` them, `block` the response (`502`), or
    /// `allow` them.
    #[serde(default)]
    pub undeclared: UndeclaredPolicy,
    /// Mask secret-looking values (passwords, keys, tokens, card numbers,
    /// national ids) unless the schema marks them `x-moat-sensitive: false`.
    #[serde(default = "yes")]
    pub mask_sensitive: bool,
    /// Replace the bodies of error statuses the operation does not document
    /// (stack traces, SQL errors) with a generic problem+json.
    #[serde(default = "yes")]
    pub scrub_errors: bool,
    /// Largest JSON response body read for filtering.
    #[serde(default = "default_max_filtered_body")]
    pub max_body_bytes: u64,
    /// Bodies over `max_body_bytes`: `pass` (forwarded unfiltered) or
    /// `block` (`502`).
    #[serde(default)]
    pub oversize: OversizePolicy,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        Self {
            undeclared: UndeclaredPolicy::default(),
            mask_sensitive: true,
            scrub_errors: true,
            max_body_bytes: default_max_filtered_body(),
            oversize: OversizePolicy::default(),
        }
    }
}

/// What to do with response properties the document does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndeclaredPolicy {
    /// Remove them and forward the rest (and record it).
    #[default]
    Remove,
    /// Answer `502` instead of a response that carries any.
    Block,
    /// Forward them.
    Allow,
}

/// What to do with a response too large to filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizePolicy {
    /// Forward it unfiltered (and record it).
    #[default]
    Pass,
    /// Answer `502` instead.
    Block,
}

fn default_max_filtered_body() -> u64 {
    1024 * 1024
}

/// Object-level authorization (binding rules).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectAccessConfig {
    /// Roles that may access any object (e.g. support staff).
    #[serde(default)]
    pub exempt_roles: Vec<String>,
    /// Bindings besides the document's `x-moat-owner` extensions (these win
    /// for the same operation).
    #[serde(default)]
    pub bindings: Vec<BindingConfig>,
    /// Objects whose owners moat learns from the answers to their create
    /// operations, and enforces on the operations that name them.
    #[serde(default)]
    pub learn: Vec<LearnConfig>,
    /// A request naming a tracked object moat has no owner for (created
    /// before moat, or outside it): `allow` or `deny`.
    #[serde(default)]
    pub unknown_objects: UnknownObjects,
    /// Checks on successful answers: a member of the answer must equal the
    /// caller, or the answer is withheld.
    #[serde(default)]
    pub answer_bindings: Vec<AnswerBindingConfig>,
}

/// A check on an operation's successful JSON answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBindingConfig {
    /// The operationId.
    pub operation: String,
    /// A JSON pointer to the answer's member naming the object's owner
    /// (`/owner`).
    pub pointer: String,
    /// `consumer` (the consumer id) or `attribute:<name>`.
    #[serde(default = "default_binding_equals")]
    pub equals: String,
}

/// One kind of object whose ownership is learned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    /// A name for the kind of object (`order`); ids are unique per kind.
    pub kind: String,
    /// The operationId that creates such objects. When it answers 2xx to a
    /// known consumer, the id in its JSON response becomes theirs.
    pub create: String,
    /// Where the new object's id is in the create response (a JSON pointer;
    /// a string or an integer). `/id` unless `request_pointer` or
    /// `request_parameter` says the create request names it.
    #[serde(default)]
    pub id_pointer: Option<String>,
    /// Where the new object's id is in the create request's JSON body (a
    /// JSON pointer), for objects their creator names (a title, a slug).
    #[serde(default)]
    pub request_pointer: Option<String>,
    /// The create request's path or query parameter that names the new
    /// object (`PUT /documents/{name}`).
    #[serde(default)]
    pub request_parameter: Option<String>,
    /// The path or query parameter that names the object in `operations`.
    pub parameter: String,
    /// The operationIds that name the object by `parameter`. Only its owner
    /// and `exempt_roles` may call them; a `DELETE` among them that
    /// succeeds forgets the object.
    pub operations: Vec<String>,
}

/// What to do when a request names a tracked object with no known owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownObjects {
    /// Forward it: the object predates moat or was made another way.
    #[default]
    Allow,
    /// Refuse it (`403`): only objects created through moat are reachable.
    Deny,
}

/// A path or query parameter that must equal an attribute of the caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingConfig {
    /// The operationId.
    pub operation: String,
    /// The path or query parameter naming the object.
    pub parameter: String,
    /// `consumer` (the consumer id) or `attribute:<name>` (the consumer's
    /// metadata, or a claim of its token).
    #[serde(default = "default_binding_equals")]
    pub equals: String,
}

fn default_binding_equals() -> String {
    "consumer".to_string()
}

/// Request validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// Validate parameters and bodies; off forwards them unread.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refuse properties a request body's schema does not declare, even where
    /// it does not say `additionalProperties: false` (mass assignment).
    #[serde(default = "yes")]
    pub refuse_unknown_properties: bool,
    /// OperationIds whose request bodies may carry undeclared properties
    /// although `refuse_unknown_properties` is on.
    #[serde(default)]
    pub allow_unknown_properties: Vec<String>,
    /// Largest JSON body read for validation; larger ones get `413`.
    #[serde(default = "default_max_validated_body")]
    pub max_body_bytes: u64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            refuse_unknown_properties: true,
            allow_unknown_properties: Vec::new(),
            max_body_bytes: default_max_validated_body(),
        }
    }
}

fn default_max_validated_body() -> u64 {
    1024 * 1024
}

/// How moat verifies one security scheme of an API's document.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VerifierConfig {
    /// API keys issued with `moat keys`, checked against the key store
    /// (`apiKey` schemes).
    ApiKey,
    /// JSON Web Tokens (`http bearer`, `oauth2` and `openIdConnect` schemes).
    Jwt(Box<JwtVerifierConfig>),
    /// User name and password checked against the consumers' `basic`
    /// credentials (`http basic` schemes).
    Basic,
    /// Client certificates verified by the listener and mapped to consumers
    /// (`mutualTLS` schemes).
    Mtls,
    /// Opaque bearer tokens checked with the issuer's OAuth2 introspection
    /// endpoint, RFC 7662 (`http bearer`, `oauth2`, `openIdConnect` schemes).
    Introspection(Box<IntrospectionVerifierConfig>),
}

/// OAuth2 token introspection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionVerifierConfig {
    /// The introspection endpoint (https; http only on loopback).
    pub url: String,
    /// moat's client id at the authorization server.
    pub client_id: String,
    /// moat's client secret. Reference it.
    pub client_secret: Secret,
    /// How moat authenticates to the endpoint.
    #[serde(default)]
    pub auth_method: IntrospectionAuth,
    /// How long an active answer is reused (never past the token's `exp`).
    #[serde(default = "default_introspection_ttl", with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// How long an inactive answer is reused, so a flood of one bad token
    /// makes one call.
    #[serde(
        default = "default_introspection_negative_ttl",
        with = "humantime_serde"
    )]
    pub negative_ttl: Duration,
    /// Time for one call, connect to last byte.
    #[serde(default = "default_introspection_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Required `iss` in the answer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The answer's member naming the consumer (`sub`, `username` or
    /// `client_id`).
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
}

/// Client authentication at the introspection endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionAuth {
    /// HTTP Basic with the client id and secret.
    #[default]
    ClientSecretBasic,
    /// The client id and secret in the form body.
    ClientSecretPost,
}

fn default_introspection_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_introspection_negative_ttl() -> Duration {
    Duration::from_secs(10)
}
fn default_introspection_timeout() -> Duration {
    Duration::from_secs(5)
}

impl VerifierConfig {
    /// The `type` name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            VerifierConfig::ApiKey => "api_key",
            VerifierConfig::Jwt(_) => "jwt",
            VerifierConfig::Basic => "basic",
            VerifierConfig::Mtls => "mtls",
            VerifierConfig::Introspection(_) => "introspection",
        }
    }
}

/// JWT verification. Exactly one key source: `secret`, `public_key`, `jwk`,
/// `jwks_url` or `oidc_issuer`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtVerifierConfig {
    /// Accepted `alg` values, e.g. `[RS256]`. Never `none`; HMAC algorithms
    /// only with `secret`, the others only with public keys.
    pub algorithms: Vec<String>,
    /// Required `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values; the token must name at least one.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(default = "default_jwt_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// HMAC secret (≥ 32 bytes, not a well-known default). Reference it.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Accept a weak `secret` until the end of this day (`YYYY-MM-DD`,
    /// UTC, at most 90 days ahead) while it is rotated; after it the config
    /// is refused again.
    #[serde(default)]
    pub weak_secret_until: Option<String>,
    /// PEM file with the public key (RSA, EC or Ed25519).
    #[serde(default)]
    pub public_key: Option<PathBuf>,
    /// An inline JWK (public key).
    #[serde(default)]
    pub jwk: Option<serde_json::Value>,
    /// URL of a JWKS document, cached and refreshed.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Issuer URL whose OpenID Connect discovery document names the JWKS.
    #[serde(default)]
    pub oidc_issuer: Option<String>,
    /// The claim naming the consumer; a value that matches no configured
    /// consumer is accepted as an external identity.
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
}

/// A known consumer of the APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// A unique id: what API keys and identity headers refer to.
    pub id: String,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Roles, passed upstream and used by authorization.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes granted to the consumer's basic credentials.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Free-form attributes.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Credentials for `basic` schemes.
    #[serde(default)]
    pub basic: Option<BasicCredentialConfig>,
    /// Client certificates that identify this consumer (`mtls` schemes).
    #[serde(default)]
    pub certificates: Vec<CertificateMatch>,
}

/// A client certificate, recognised by any of the fields given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateMatch {
    /// SHA-256 of the certificate (DER), hex, colons optional.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The subject's common name (CN).
    #[serde(default)]
    pub subject_cn: Option<String>,
    /// A DNS name, e-mail address or URI in the subject alternative names.
    #[serde(default)]
    pub san: Option<String>,
}

/// A user name and an argon2id password hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicCredentialConfig {
    /// The user name.
    pub username: String,
    /// The password's argon2id hash in PHC form (`$argon2id$v=19$...`), as
    /// printed by `moat hash-password`. Never the password itself.
    pub password_hash: Secret,
}

/// How a verified identity is passed upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Header carrying the consumer id. Always removed from client requests.
    #[serde(default = "default_consumer_header")]
    pub consumer_header: String,
    /// Header carrying the space-separated scopes. Always removed from
    /// client requests.
    #[serde(default = "default_scopes_header")]
    pub scopes_header: String,
    /// Header carrying the comma-separated roles. Always removed from client
    /// requests.
    #[serde(default = "default_roles_header")]
    pub roles_header: String,
    /// Forward the credential (Authorization header, or the API key's
    /// header, cookie or query parameter) to the upstream. Off: removed.
    #[serde(default)]
    pub forward_credentials: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            consumer_header: default_consumer_header(),
            scopes_header: default_scopes_header(),
            roles_header: default_roles_header(),
            forward_credentials: false,
        }
    }
}

/// Brute-force protection: repeated refused credentials lock the client
/// address, and the credential id (API key id, basic user name), out for a
/// growing time. Read at start-up; the counts survive reloads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutConfig {
    /// Count failures and lock out.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refused credentials from one client address (IPv6: one /64) within
    /// `window` that start a lockout.
    #[serde(default = "default_lockout_client_failures")]
    pub max_failures: u32,
    /// Refused attempts on one credential id within `window` that start a
    /// lockout of that id.
    #[serde(default = "default_lockout_credential_failures")]
    pub credential_max_failures: u32,
    /// How far back failures count (sliding).
    #[serde(default = "default_lockout_window", with = "humantime_serde")]
    pub window: Duration,
    /// The first lockout's length; each further one doubles it.
    #[serde(default = "default_lockout_base", with = "humantime_serde")]
    pub base_lockout: Duration,
    /// The longest lockout.
    #[serde(default = "default_lockout_max", with = "humantime_serde")]
    pub max_lockout: Duration,
    /// How long a credential locked everywhere (failures from several
    /// addresses) waits before each verification: its owner is slowed
    /// down, never refused.
    #[serde(default = "default_lockout_slowdown", with = "humantime_serde")]
    pub slowdown: Duration,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_failures: default_lockout_client_failures(),
            credential_max_failures: default_lockout_credential_failures(),
            window: default_lockout_window(),
            base_lockout: default_lockout_base(),
            max_lockout: default_lockout_max(),
            slowdown: default_lockout_slowdown(),
        }
    }
}

fn default_lockout_client_failures() -> u32 {
    10
}
fn default_lockout_credential_failures() -> u32 {
    5
}
fn default_lockout_window() -> Duration {
    Duration::from_secs(60)
}
fn default_lockout_base() -> Duration {
    Duration::from_secs(60)
}
fn default_lockout_slowdown() -> Duration {
    Duration::from_secs(1)
}
fn default_lockout_max() -> Duration {
    Duration::from_secs(3600)
}

fn default_jwt_leeway() -> Duration {
    Duration::from_secs(30)
}
fn default_consumer_claim() -> String {
    "sub".to_string()
}
fn default_consumer_header() -> String {
    "x-moat-consumer".to_string()
}
fn default_scopes_header() -> String {
    "x-moat-scopes".to_string()
}
fn default_roles_header() -> String {
    "x-moat-roles".to_string()
}

/// Handling of deprecated operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeprecatedPolicy {
    /// Forward silently.
    Allow,
    /// Forward, add `Deprecation: true`, record a zombie-endpoint event.
    #[default]
    Warn,
    /// Deny with `410 Gone` (recorded only, in monitor mode).
    Block,
}

/// Proxy behaviour shared by all APIs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Addresses (CIDR) of proxies in front of moat whose `X-Forwarded-*` and
    /// `Forwarded` headers are believed. From anyone else they are replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Header carrying the request id: kept when a trusted proxy sent it,
    /// generated otherwise, echoed in the response.
    #[serde(default = "default_request_id_header")]
    pub request_id_header: String,
    /// Requests that name a second method (`X-HTTP-Method-Override`,
    /// `X-Method-Override`, `X-HTTP-Method`, a `_method` query parameter),
    /// which many frameworks run instead of the request's own method.
    #[serde(default)]
    pub method_override: MethodOverridePolicy,
    /// Request header fields with `_` in their names, which CGI-style
    /// servers (WSGI, PHP-FPM, Rack) read as the same field with `-`.
    #[serde(default)]
    pub underscores_in_headers: UnderscorePolicy,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            request_id_header: default_request_id_header(),
            method_override: MethodOverridePolicy::default(),
            underscores_in_headers: UnderscorePolicy::default(),
        }
    }
}

/// What happens to a request that names a second method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodOverridePolicy {
    /// `400 ambiguous-request` (recorded only, in monitor mode).
    #[default]
    Refuse,
    /// Remove the fields and the parameter, forward the rest.
    Strip,
    /// Forward them: only for an application that honours none of them.
    Allow,
}

/// What happens to a request header field with `_` in its name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderscorePolicy {
    /// `400 ambiguous-request`, whatever the mode.
    #[default]
    Refuse,
    /// Remove such fields and forward the rest (nginx's default).
    Drop,
    /// Forward them. Fields that read as moat's identity fields are still
    /// removed.
    Allow,
}

/// Where access-log lines go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// Write one JSON line per request.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `stdout`, `stderr`, or a file path (appended to).
    #[serde(default = "default_access_log_target")]
    pub target: String,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            target: default_access_log_target(),
        }
    }
}

/// Reloading.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Reload when the config file or a referenced document changes (SIGHUP
    /// always reloads).
    #[serde(default = "yes")]
    pub watch: bool,
    /// Quiet time after a change before reloading, so editors' multi-step
    /// saves are read once.
    #[serde(default = "default_reload_debounce", with = "humantime_serde")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: default_reload_debounce(),
        }
    }
}

/// Stopping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish
    /// before connections are closed.
    #[serde(default = "default_grace_period", with = "humantime_serde")]
    pub grace_period: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period: default_grace_period(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_connections() -> usize {
    10_000
}
/// Above nginx's 511, for the bursts of new connections a gateway takes,
/// and below Linux's default `net.core.somaxconn` (4096) so the setting
/// is not cut silently.
fn default_backlog() -> u32 {
    1024
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_http2_keep_alive_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_http2_keep_alive_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_http2_idle_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_connections_per_client() -> usize {
    256
}
fn default_max_header_count() -> usize {
    64
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_max_url_bytes() -> usize {
    8 * 1024
}
fn default_hsts_max_age() -> Duration {
    Duration::from_secs(365 * 24 * 3600)
}
fn default_admin_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_response_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_pool_idle_timeout() -> Duration {
    Duration::from_secs(90)
}
fn default_pool_max_idle() -> usize {
    64
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_upstream_retries() -> u32 {
    1
}
fn default_health_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_health_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_health_status() -> u16 {
    200
}
fn default_health_down_after() -> u32 {
    3
}
fn default_health_up_after() -> u32 {
    2
}
fn default_health_retry_after() -> Duration {
    Duration::from_secs(10)
}
fn default_request_id_header() -> String {
    "x-request-id".to_string()
}
fn default_access_log_target() -> String {
    "stdout".to_string()
}
fn default_reload_debounce() -> Duration {
    Duration::from_millis(300)
}
fn default_grace_period() -> Duration {
    Duration::from_secs(30)
}

/// Durations written the human way: `500ms`, `5s`, `2m`, `1h 30m`.
pub mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!(
                "invalid duration `{text}` ({e}); write it like `500ms`, `5s`, `2m` or `1h`"
            ))
        })
    }
}

/// Where state is kept: embedded in this node, or shared by a cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `embedded` (one node: a SQLite file and this process' memory) or
    /// `cluster` (several nodes: PostgreSQL for durable state, Redis for
    /// counters and notices).
    #[serde(default)]
    pub backend: StateBackend,
    /// The SQLite database file (created when missing, readable by its owner
    /// only), relative to the config file. Embedded state only.
    #[serde(default = "default_sqlite_path")]
    pub sqlite: PathBuf,
    /// The PostgreSQL database of a cluster: API keys, ownership records,
    /// bans, security events and the audit chain, admin tokens, inventory.
    #[serde(default)]
    pub postgres: Option<PostgresConfig>,
    /// The Redis server of a cluster: rate-limit and quota counters,
    /// lockouts, and the notices that spread revocations, bans and config
    /// changes to every node.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// The cache of API keys in front of the database.
    #[serde(default)]
    pub key_cache: KeyCacheConfig,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::default(),
            sqlite: default_sqlite_path(),
            postgres: None,
            redis: None,
            key_cache: KeyCacheConfig::default(),
        }
    }
}

fn default_sqlite_path() -> PathBuf {
    PathBuf::from("moat.db")
}

/// Where state lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    /// One node: the SQLite file `state.sqlite` and this process' memory.
    #[default]
    Embedded,
    /// Several nodes: `state.postgres` and `state.redis`.
    Cluster,
}

/// A PostgreSQL database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:5432/database`, with `sslmode=`
    /// as PostgreSQL reads it; reference it (`${env:MOAT_POSTGRES_URL}`).
    pub url: Secret,
    /// Most connections this node opens.
    #[serde(default = "default_pg_connections")]
    pub max_connections: u32,
    /// Longest wait to connect, to get a connection from the pool, or for
    /// one statement.
    #[serde(default = "default_pg_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// `on_start`: bring the schema up to date when the node starts (nodes
    /// starting together take turns); `manual`: refuse to start on an
    /// out-of-date schema until `moat db migrate` has run.
    #[serde(default)]
    pub migrate: MigratePolicy,
}

fn default_pg_connections() -> u32 {
    16
}

fn default_pg_timeout() -> Duration {
    Duration::from_secs(2)
}

/// When schema migrations run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigratePolicy {
    /// At start-up.
    #[default]
    OnStart,
    /// Only through `moat db migrate`.
    Manual,
}

/// The API key cache: verification without a database round trip per
/// request, with revocation still effective everywhere within
/// `revalidate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyCacheConfig {
    /// A cached key is read from the database again once it is this old;
    /// revocations also reach every node at once through notices.
    #[serde(default = "default_revalidate", with = "humantime_serde")]
    pub revalidate: Duration,
    /// While the database cannot answer, a cached key keeps working this
    /// long after it was last read; then it is refused as unavailable.
    #[serde(default = "default_stale_if_error", with = "humantime_serde")]
    pub stale_if_error: Duration,
    /// Most keys cached; the least recently used go first.
    #[serde(default = "default_key_cache_entries")]
    pub max_entries: u64,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            revalidate: default_revalidate(),
            stale_if_error: default_stale_if_error(),
            max_entries: default_key_cache_entries(),
        }
    }
}

fn default_revalidate() -> Duration {
    Duration::from_secs(1)
}

fn default_stale_if_error() -> Duration {
    Duration::from_secs(300)
}

fn default_key_cache_entries() -> u64 {
    100_000
}

/// API key hashing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The HMAC key under which API keys are hashed: at least 32 bytes,
    /// referenced (`${env:MOAT_KEY_PEPPER}` or `${file:…}`). Changing it
    /// invalidates every issued key.
    pub pepper: Secret,
}
