//! What the upstream is told of the caller, and what of the request it is
//! not given: identity headers set, credentials stripped wherever the
//! client put them.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue};
use moat_config::IdentityConfig;
use moat_guard::identity::Identity;
use moat_guard::request::fields::{METHOD_OVERRIDE_PARAMETER, reads_as};
use moat_guard::request::query::without_pairs;
use moat_spec::{ApiKeyLocation, SchemeKind};

use super::ApiIdentity;

/// moat's identity fields by their default names: removed from client
/// requests even when config names others, so an upstream written for the
/// defaults (or a config changed since) never reads a client's value.
const DEFAULT_IDENTITY_FIELDS: [HeaderName; 3] = [
    HeaderName::from_static("x-moat-consumer"),
    HeaderName::from_static("x-moat-scopes"),
    HeaderName::from_static("x-moat-roles"),
];

/// The identity headers, parsed once.
pub struct IdentityHeaders {
    consumer: HeaderName,
    scopes: HeaderName,
    roles: HeaderName,
    /// The configured names and the defaults: removed from every request.
    removed: Vec<HeaderName>,
    forward_credentials: bool,
}

impl IdentityHeaders {
    /// From config, which validated the names.
    pub fn new(cfg: &IdentityConfig) -> Self {
        let name = |s: &str, fallback: &'static str| {
            HeaderName::from_bytes(s.as_bytes()).unwrap_or(HeaderName::from_static(fallback))
        };
        let consumer = name(&cfg.consumer_header, "x-moat-consumer");
        let scopes = name(&cfg.scopes_header, "x-moat-scopes");
        let roles = name(&cfg.roles_header, "x-moat-roles");
        let mut removed = vec![consumer.clone(), scopes.clone(), roles.clone()];
        for d in DEFAULT_IDENTITY_FIELDS {
            if !removed.contains(&d) {
                removed.push(d);
            }
        }
        Self {
            consumer,
            scopes,
            roles,
            removed,
            forward_credentials: cfg.forward_credentials,
        }
    }

    /// Whether a client's field `name` reads as one of moat's identity
    /// fields to some server (underscores read as dashes).
    pub fn reads_as_identity(&self, name: &HeaderName) -> bool {
        self.removed.iter().any(|f| reads_as(name, f))
    }
}

impl ApiIdentity {
    /// Whether a client's field `name` reads as one of moat's identity
    /// fields to some server.
    pub fn reads_as_identity(&self, name: &HeaderName) -> bool {
        self.headers.reads_as_identity(name)
    }

    /// The query string to forward: unless credentials are forwarded, the
    /// credentials moat recognises are removed wherever the client put them
    /// (any API key parameter or header name of the API's schemes, and any
    /// value in moat's API key format), so they never reach the upstream's
    /// logs; so is `_method` when `strip_method_override`.
    pub fn forwarded_query<'q>(
        &self,
        query: Option<&'q str>,
        strip_method_override: bool,
    ) -> Option<Cow<'q, str>> {
        let query = query?;
        let strip_credentials = !self.headers.forward_credentials;
        if !strip_credentials && !strip_method_override {
            return Some(query.into());
        }
        without_pairs(query, |name, value| {
            (strip_method_override && name == METHOD_OVERRIDE_PARAMETER)
                || strip_credentials
                    && (self.is_api_key_name(name) || moat_state::format::parse(value).is_ok())
        })
    }

    /// Whether `name` is the parameter, field or cookie name of one of the
    /// API's API key schemes (field names in any case).
    fn is_api_key_name(&self, name: &str) -> bool {
        self.recognised
            .key_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Removes identity headers a client sent, adds the verified ones, and
    /// removes the credentials unless they are to be forwarded: every API
    /// key field and cookie of the API's schemes and `Authorization`,
    /// whichever scheme the operation names.
    pub fn prepare_upstream_headers(&self, identity: Option<&Identity>, headers: &mut HeaderMap) {
        let h = &self.headers;
        crate::forwarding::remove_fields(headers, &h.removed);
        if let Some(id) = identity {
            if let Ok(v) = HeaderValue::from_str(&id.consumer) {
                headers.insert(h.consumer.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&id.scopes.join(" ")) {
                headers.insert(h.scopes.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&id.roles.join(",")) {
                headers.insert(h.roles.clone(), v);
            }
        }
        if h.forward_credentials {
            return;
        }
        let r = &self.recognised;
        crate::forwarding::remove_fields(headers, &r.fields);
        if r.authorization {
            headers.remove(AUTHORIZATION);
        }
        if !r.cookies.is_empty() && headers.contains_key(COOKIE) {
            for name in &r.cookies {
                remove_cookie(headers, name);
            }
        }
    }
}

/// Where the credentials of an API's schemes travel, read once from its
/// schemes: what [`ApiIdentity::prepare_upstream_headers`] and
/// [`ApiIdentity::forwarded_query`] remove.
#[derive(Debug, Default)]
pub struct Recognised {
    /// The names of every API key scheme (any location).
    key_names: Vec<String>,
    /// The header fields API keys travel in.
    fields: Vec<HeaderName>,
    /// The cookies API keys travel in.
    cookies: Vec<String>,
    /// Whether a scheme reads `Authorization`.
    authorization: bool,
}

impl Recognised {
    /// From the API's bound schemes.
    pub(super) fn of<'s>(schemes: impl Iterator<Item = &'s SchemeKind>) -> Self {
        let mut r = Recognised::default();
        for kind in schemes {
            match kind {
                SchemeKind::ApiKey { name, location } => {
                    r.key_names.push(name.clone());
                    match location {
                        ApiKeyLocation::Header => {
                            if let Ok(field) = HeaderName::from_bytes(name.as_bytes())
                                && !r.fields.contains(&field)
                            {
                                r.fields.push(field);
                            }
                        }
                        ApiKeyLocation::Cookie => r.cookies.push(name.clone()),
                        ApiKeyLocation::Query => {}
                    }
                }
                SchemeKind::HttpBasic
                | SchemeKind::HttpBearer
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. } => r.authorization = true,
                _ => {}
            }
        }
        r
    }
}

fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| pair.split('=').next() != Some(name) && !pair.is_empty())
        .map(str::to_string)
        .collect();
    headers.remove(COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_removed_by_name_only() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; session=secret"));
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        remove_cookie(&mut h, "session");
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(h[COOKIE], "a=1; b=2");
        remove_cookie(&mut h, "a");
        remove_cookie(&mut h, "b");
        assert!(h.get(COOKIE).is_none());
    }
}
