//! What the upstream is told of the caller, and what of the request it is
//! not given: identity headers set, credentials stripped.

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, HeaderName, HeaderValue};
use moat_config::IdentityConfig;
use moat_guard::identity::{Identity, decode_query_component};
use moat_spec::{ApiKeyLocation, Operation, SchemeKind};

use super::ApiIdentity;

/// The identity headers, parsed once.
pub struct IdentityHeaders {
    consumer: HeaderName,
    scopes: HeaderName,
    roles: HeaderName,
    forward_credentials: bool,
}

impl IdentityHeaders {
    /// From config, which validated the names.
    pub fn new(cfg: &IdentityConfig) -> Self {
        let name = |s: &str, fallback: &'static str| {
            HeaderName::from_bytes(s.as_bytes()).unwrap_or(HeaderName::from_static(fallback))
        };
        Self {
            consumer: name(&cfg.consumer_header, "x-moat-consumer"),
            scopes: name(&cfg.scopes_header, "x-moat-scopes"),
            roles: name(&cfg.roles_header, "x-moat-roles"),
            forward_credentials: cfg.forward_credentials,
        }
    }
}

impl ApiIdentity {
    /// The query string to forward: API keys sent as query parameters are
    /// removed unless credentials are forwarded, so they never reach the
    /// upstream's logs.
    pub fn forwarded_query<'q>(
        &self,
        op: Option<&Operation>,
        query: Option<&'q str>,
    ) -> Option<std::borrow::Cow<'q, str>> {
        let query = query?;
        let Some(op) = op.filter(|_| !self.headers.forward_credentials) else {
            return Some(query.into());
        };
        let names: Vec<&str> = op
            .policy
            .scheme_names()
            .into_iter()
            .filter_map(|n| match &self.schemes.get(n)?.kind {
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Query,
                } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Some(query.into());
        }
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                let key = decode_query_component(key).unwrap_or_else(|_| key.to_string());
                !names.contains(&key.as_str())
            })
            .collect();
        (!kept.is_empty()).then(|| kept.join("&").into())
    }

    /// Removes identity headers a client sent, adds the verified ones, and
    /// removes the verified credentials unless they are to be forwarded.
    pub fn prepare_upstream_headers(
        &self,
        op: Option<&Operation>,
        identity: Option<&Identity>,
        headers: &mut HeaderMap,
    ) {
        let h = &self.headers;
        crate::forwarding::remove_fields(headers, &[&h.consumer, &h.scopes, &h.roles]);
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
        let Some(op) = op.filter(|_| !h.forward_credentials) else {
            return;
        };
        for name in op.policy.scheme_names() {
            let Some(bound) = self.schemes.get(name) else {
                continue;
            };
            match &bound.kind {
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Header,
                } => {
                    headers.remove(name.as_str());
                }
                SchemeKind::ApiKey {
                    name,
                    location: ApiKeyLocation::Cookie,
                } => remove_cookie(headers, name),
                SchemeKind::HttpBasic
                | SchemeKind::HttpBearer
                | SchemeKind::OAuth2 { .. }
                | SchemeKind::OpenIdConnect { .. } => {
                    headers.remove(AUTHORIZATION);
                }
                _ => {}
            }
        }
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
