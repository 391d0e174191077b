//! Rate limits and quotas, compiled against the document: which limits
//! apply to each operation, and the key each request is counted under.
//!
//! Limits come from config (`apis[].rate_limits`, `apis[].quotas`) and from
//! `x-moat-rate-limit` extensions on operations. Counting happens in a
//! `moat_state::limits` store; this module only says what to count.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use moat_config::{FailMode, LimitStage, QuotaConfig, RateLimitConfig};
use moat_limits::{Gcra, LimitDecision, SlidingWindow};
use moat_spec::ApiSpec;
use ring::digest::{Context, SHA256};
use serde_json::Value;

use crate::authorization::operations_matching;
use crate::identity::{API_KEY_ID_ATTRIBUTE, Identity};

/// Longest key value kept (client-chosen values are digests, so this
/// bounds consumer ids and the like): a key never makes the limiter store
/// more than this per counter.
const MAX_KEY_VALUE: usize = 256;

pub use moat_config::LimitKey;

/// The rule of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRule {
    /// A smooth rate with a burst.
    Rate(Gcra),
    /// A quota over a sliding window.
    Quota(SlidingWindow),
}

/// One compiled limit.
#[derive(Debug, Clone)]
pub struct Limit {
    /// Its name, unique per API.
    pub name: Arc<str>,
    /// What it counts by.
    pub key: LimitKey,
    /// How it counts.
    pub rule: LimitRule,
    /// Refuse (`503`) rather than fall back when its store is unreachable.
    pub fail_closed: bool,
    /// Units per window, for `RateLimit-Policy` (`q`).
    pub quota: u64,
    /// The window in seconds, for `RateLimit-Policy` (`w`).
    pub window_secs: u64,
}

/// A limit that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    /// Where: `rate_limits/<i>`, `quotas/<i>`, or an operation's id for
    /// `x-moat-rate-limit`.
    pub at: String,
    /// What is wrong, with a hint.
    pub message: String,
}

/// Everything needed to limit one API's requests.
#[derive(Debug, Clone, Default)]
pub struct LimitPlan {
    limits: Vec<Limit>,
    by_operation: Vec<Vec<usize>>,
    policies: Vec<Option<HeaderValue>>,
}

/// What the key of a request is computed from.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    /// The API's name.
    pub api: &'a str,
    /// The operation's id.
    pub operation: &'a str,
    /// The client address.
    pub client: IpAddr,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The verified caller, once known.
    pub identity: Option<&'a Identity>,
    /// The JSON body, once read and parsed.
    pub body: Option<&'a serde_json::Value>,
}

impl LimitPlan {
    /// Compiles config limits and the document's `x-moat-rate-limit`
    /// extensions. All problems are reported together.
    pub fn compile(
        spec: &ApiSpec,
        rates: &[RateLimitConfig],
        quotas: &[QuotaConfig],
    ) -> Result<Self, Vec<LimitError>> {
        let mut plan = Self {
            limits: Vec::new(),
            by_operation: vec![Vec::new(); spec.operations.len()],
            policies: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut add = |plan: &mut Self,
                       at: String,
                       name: &str,
                       key: Result<LimitKey, String>,
                       rule: Result<(LimitRule, u64, u64), String>,
                       fail: FailMode,
                       operations: Result<Vec<usize>, String>| {
            let mut problems = Vec::new();
            if name.is_empty() || name.contains(['"', '\\']) || name.chars().any(char::is_control) {
                problems.push(format!(
                    "`{name}` cannot name a limit: use letters, digits and dashes"
                ));
            } else if names.iter().any(|n| n == name) {
                problems.push(format!(
                    "two limits are named `{name}`; names must be unique per API"
                ));
            }
            names.push(name.to_string());
            let key = key.map_err(|e| problems.push(e)).ok();
            let rule = rule.map_err(|e| problems.push(e)).ok();
            let ops = operations.map_err(|e| problems.push(e)).ok();
            if !problems.is_empty() {
                errors.extend(problems.into_iter().map(|message| LimitError {
                    at: at.clone(),
                    message,
                }));
                return;
            }
            let (Some(key), Some((rule, quota, window_secs)), Some(ops)) = (key, rule, ops) else {
                return;
            };
            let i = plan.limits.len();
            plan.limits.push(Limit {
                name: Arc::from(name),
                key,
                rule,
                fail_closed: fail == FailMode::Closed,
                quota,
                window_secs,
            });
            for op in ops {
                plan.by_operation[op].push(i);
            }
        };
        for (i, r) in rates.iter().enumerate() {
            let rule = rate_rule(r.rate, r.per, r.burst);
            add(
                &mut plan,
                format!("rate_limits/{i}"),
                &r.name,
                r.key.parse::<LimitKey>().map_err(|e| e.to_string()),
                rule,
                r.fail,
                grants(spec, &r.operations),
            );
        }
        for (i, q) in quotas.iter().enumerate() {
            let rule = SlidingWindow::new(q.limit, q.per)
                .map(|w| (LimitRule::Quota(w), q.limit, q.per.as_secs().max(1)))
                .ok_or_else(|| "`limit` and `per` must be above zero".to_string());
            add(
                &mut plan,
                format!("quotas/{i}"),
                &q.name,
                q.key.parse::<LimitKey>().map_err(|e| e.to_string()),
                rule,
                q.fail,
                grants(spec, &q.operations),
            );
        }
        for (index, op) in spec.operations.iter().enumerate() {
            let Some(ext) = spec
                .value_at(op.doc, &op.pointer)
                .and_then(|v| v.get("x-moat-rate-limit"))
            else {
                continue;
            };
            let entries: Vec<&Value> = match ext {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for (n, e) in entries.into_iter().enumerate() {
                let at = format!("{} (x-moat-rate-limit)", op.id());
                let name = e
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}-{n}", op.id()));
                let key = e.get("key").and_then(Value::as_str).unwrap_or("consumer");
                let rule = extension_rule(e);
                add(
                    &mut plan,
                    at,
                    &name,
                    key.parse::<LimitKey>().map_err(|e| e.to_string()),
                    rule,
                    FailMode::Open,
                    Ok(vec![index]),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        plan.policies = plan
            .by_operation
            .iter()
            .map(|ids| {
                if ids.is_empty() {
                    return None;
                }
                let text = ids
                    .iter()
                    .map(|&i| {
                        let l = &plan.limits[i];
                        format!("\"{}\";q={};w={}", l.name, l.quota, l.window_secs)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                HeaderValue::from_str(&text).ok()
            })
            .collect();
        Ok(plan)
    }

    /// Whether any limit is configured.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The limits of operation `index` decided before (`after_identity:
    /// false`) or after authentication.
    pub fn for_operation(
        &self,
        index: usize,
        stage: LimitStage,
    ) -> impl Iterator<Item = &Limit> + '_ {
        self.by_operation
            .get(index)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.limits[i])
            .filter(move |l| l.key.stage() == stage)
    }

    /// Whether operation `index` has a limit keyed on its JSON body (which
    /// must then be read).
    pub fn keys_on_body(&self, index: usize) -> bool {
        self.for_operation(index, LimitStage::AfterBody)
            .next()
            .is_some()
    }

    /// The `RateLimit-Policy` field value of operation `index`.
    pub fn policy(&self, index: usize) -> Option<&HeaderValue> {
        self.policies.get(index).and_then(Option::as_ref)
    }
}

impl Limit {
    /// The key this request is counted under: `<api>:<limit>:<value>`,
    /// the value cut at [`MAX_KEY_VALUE`] bytes. What the client chose (a
    /// header, a claim, a body member) is counted by its digest
    /// ([`push_digest`]): a store (Redis, shared by the nodes) then holds
    /// no client text, however secret, and two long values that share a
    /// prefix are still two keys. Written into one string: it is made for
    /// every limit of every request.
    pub fn key_for(&self, ctx: &KeyContext<'_>) -> String {
        let mut key = String::with_capacity(ctx.api.len() + self.name.len() + 48);
        key.push_str(ctx.api);
        key.push(':');
        key.push_str(&self.name);
        key.push(':');
        let start = key.len();
        let address = |key: &mut String| {
            key.push_str("ip=");
            push_ip(key, ctx.client);
        };
        match &self.key {
            LimitKey::Consumer => match ctx.identity {
                Some(i) => {
                    key.push_str("c=");
                    key.push_str(&i.consumer);
                }
                None => address(&mut key),
            },
            LimitKey::ApiKey => match ctx.identity {
                Some(i) => match i.attributes.get(API_KEY_ID_ATTRIBUTE) {
                    Some(k) => {
                        let _ = write!(key, "k={k}");
                    }
                    None => {
                        key.push_str("c=");
                        key.push_str(&i.consumer);
                    }
                },
                None => address(&mut key),
            },
            LimitKey::ClientIp => push_ip(&mut key, ctx.client),
            LimitKey::ClientNetwork => key.push_str(&network(ctx.client)),
            LimitKey::Api => {}
            LimitKey::Operation => key.push_str(ctx.operation),
            // Every value of the field, in order, as one list (RFC 9110
            // §5.3): a repeated field is one key, not whichever copy an
            // application would read.
            LimitKey::Header(h) => {
                let mut values = ctx.headers.get_all(h.as_str()).iter().peekable();
                if values.peek().is_none() {
                    address(&mut key);
                } else {
                    let mut digest = Context::new(&SHA256);
                    for (i, v) in values.enumerate() {
                        if i > 0 {
                            digest.update(b",");
                        }
                        digest.update(v.as_bytes());
                    }
                    push_digest(&mut key, "h=", digest.finish());
                }
            }
            LimitKey::Claim(c) => match ctx.identity.and_then(|i| i.attributes.get(c)) {
                Some(v) => push_digest(&mut key, "a=", ring::digest::digest(&SHA256, v.as_bytes())),
                None => address(&mut key),
            },
            // Anything but a string or number (absent, an object) counts
            // by the address.
            LimitKey::Body(pointer) => match ctx
                .body
                .and_then(|b| b.pointer(pointer))
                .and_then(account_of)
            {
                Some(account) => push_digest(
                    &mut key,
                    "b=",
                    ring::digest::digest(&SHA256, account.as_bytes()),
                ),
                None => address(&mut key),
            },
        }
        let mut end = key.len().min(start + MAX_KEY_VALUE);
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
        key
    }
}

/// Appends `tag` and the first 16 bytes (128 bits) of `digest`, a
/// SHA-256, in lower-case hex.
fn push_digest(key: &mut String, tag: &str, digest: ring::digest::Digest) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    key.push_str(tag);
    for &b in &digest.as_ref()[..16] {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// The account (or other name) a JSON member gives: a string without case
/// or surrounding space (`Alice ` is the account `alice` to most login
/// code, so a guesser cannot spread over spellings), a number by its
/// digits; `None` for anything else.
pub fn account_of(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(v) => Some(v.trim().to_lowercase()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Appends `ip` as `Display` writes it; IPv4 (the common case) without the
/// formatting machinery, which costs more than the rest of the key.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The `RateLimit` field value for the most restrictive of `decisions`
/// (the fewest units left), with `t` rounded up to whole seconds.
pub fn rate_limit_field(limits: &[(&Limit, LimitDecision)]) -> Option<HeaderValue> {
    let (limit, d) = limits.iter().min_by_key(|(_, d)| d.remaining)?;
    let t = ceil_secs(d.reset);
    let (mut r_buf, mut t_buf) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (r, t) = (r_buf.format(d.remaining), t_buf.format(t));
    let mut value = String::with_capacity(limit.name.len() + r.len() + t.len() + 8);
    value.push('"');
    value.push_str(&limit.name);
    value.push_str("\";r=");
    value.push_str(r);
    value.push_str(";t=");
    value.push_str(t);
    HeaderValue::try_from(value).ok()
}

/// Whole seconds, rounded up (a client waiting this long is never early).
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn rate_rule(
    rate: u64,
    per: Duration,
    burst: Option<u64>,
) -> Result<(LimitRule, u64, u64), String> {
    let burst = burst.unwrap_or(rate);
    Gcra::new(rate, per, burst)
        .map(|g| (LimitRule::Rate(g), rate, per.as_secs().max(1)))
        .ok_or_else(|| {
            "`rate` and `burst` must be above zero, and `per` long enough for `rate` (at most one request per nanosecond)".to_string()
        })
}

/// `{rate: 10, per: 1m, burst: 5, key: consumer, name: …}`.
fn extension_rule(e: &Value) -> Result<(LimitRule, u64, u64), String> {
    let rate = e
        .get("rate")
        .and_then(Value::as_u64)
        .ok_or("`rate` must be a positive integer")?;
    let per = match e.get("per") {
        None => Duration::from_secs(1),
        Some(Value::String(s)) => humantime::parse_duration(s)
            .map_err(|err| format!("`per`: {err}; write it like `1s`, `1m` or `1h`"))?,
        Some(_) => return Err("`per` must be a duration such as `1m`".into()),
    };
    let burst = match e.get("burst") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or("`burst` must be a positive integer")?),
    };
    if let Some(obj) = e.as_object()
        && let Some(k) = obj
            .keys()
            .find(|k| !["rate", "per", "burst", "key", "name"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field `{k}`; expected rate, per, burst, key, name"
        ));
    }
    rate_rule(rate, per, burst)
}

fn grants(spec: &ApiSpec, grants: &[String]) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for g in grants {
        let matched = operations_matching(g, spec)?;
        for i in matched {
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_keys_read_the_json_member_without_case() {
        let g = Gcra::new(10, Duration::from_secs(1), 10).unwrap();
        let limit = Limit {
            name: Arc::from("account"),
            key: LimitKey::Body("/username".into()),
            rule: LimitRule::Rate(g),
            fail_closed: false,
            quota: 10,
            window_secs: 1,
        };
        let headers = HeaderMap::new();
        let key = |body: Option<serde_json::Value>| {
            limit.key_for(&KeyContext {
                api: "shop",
                operation: "login",
                client: "192.0.2.1".parse().unwrap(),
                headers: &headers,
                identity: None,
                body: body.as_ref(),
            })
        };
        let alice = key(Some(serde_json::json!({"username": "alice"})));
        assert_eq!(alice, format!("shop:account:b={}", sha256_128("alice")));
        assert_eq!(key(Some(serde_json::json!({"username": " Alice "}))), alice);
        assert_eq!(
            key(Some(serde_json::json!({"username": 42}))),
            format!("shop:account:b={}", sha256_128("42"))
        );
        for body in [None, Some(serde_json::json!({"user": "alice"}))] {
            assert_eq!(key(body), "shop:account:ip=192.0.2.1");
        }
    }

    #[test]
    fn a_repeated_header_is_one_key_of_all_its_values() {
        let g = Gcra::new(10, Duration::from_secs(1), 10).unwrap();
        let limit = Limit {
            name: Arc::from("tenant"),
            key: LimitKey::Header("x-tenant".into()),
            rule: LimitRule::Rate(g),
            fail_closed: false,
            quota: 10,
            window_secs: 1,
        };
        let key = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append("x-tenant", HeaderValue::from_str(v).unwrap());
            }
            limit.key_for(&KeyContext {
                api: "shop",
                operation: "op",
                client: "192.0.2.1".parse().unwrap(),
                headers: &headers,
                identity: None,
                body: None,
            })
        };
        assert_eq!(key(&["a"]), format!("shop:tenant:h={}", sha256_128("a")));
        assert_eq!(
            key(&["a", "b"]),
            format!("shop:tenant:h={}", sha256_128("a,b"))
        );
        assert_eq!(key(&["a", "b"]), key(&["a,b"]), "one list, RFC 9110 5.3");
        assert_ne!(key(&["b", "a"]), key(&["a"]));
        assert_eq!(key(&[]), "shop:tenant:ip=192.0.2.1");
        // Long values that share their first kilobyte are two keys, and no
        // key holds the client's text.
        let long = "t".repeat(1024);
        let (one, two) = (key(&[&format!("{long}1")]), key(&[&format!("{long}2")]));
        assert_ne!(one, two);
        assert!(!one.contains("ttt") && one.len() == "shop:tenant:h=".len() + 32);
    }

    /// The first 16 bytes of the SHA-256 of `text`, in hex, by another
    /// route than the code under test.
    fn sha256_128(text: &str) -> String {
        ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in 0..=255u8 {
            for ip in [
                IpAddr::from([a, 0, 10, 255]),
                IpAddr::from([9, a, 99, 100]),
                IpAddr::from([1, 2, 3, a]),
            ] {
                let mut out = String::new();
                push_ip(&mut out, ip);
                assert_eq!(out, ip.to_string());
            }
        }
        let v6: IpAddr = "2001:db8::ff00:42:8329".parse().unwrap();
        let mut out = String::new();
        push_ip(&mut out, v6);
        assert_eq!(out, v6.to_string());
    }

    #[test]
    fn networks_group_addresses() {
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn the_most_restrictive_limit_is_reported() {
        let g = Gcra::new(10, Duration::from_secs(1), 10).unwrap();
        let l = |name: &str| Limit {
            name: Arc::from(name),
            key: LimitKey::Api,
            rule: LimitRule::Rate(g),
            fail_closed: false,
            quota: 10,
            window_secs: 1,
        };
        let (a, b) = (l("wide"), l("narrow"));
        let d = |remaining, ms| LimitDecision {
            allowed: true,
            remaining,
            reset: Duration::from_millis(ms),
            retry_after: None,
        };
        let v = rate_limit_field(&[(&a, d(9, 100)), (&b, d(2, 1500))]).unwrap();
        assert_eq!(v, "\"narrow\";r=2;t=2");
        assert!(rate_limit_field(&[]).is_none());
    }
}
