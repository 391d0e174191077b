//! The schemes seen as OpenAPI: `components.securitySchemes` and each
//! operation's `security`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::credential::Scheme;
use super::seen::{AuthSeen, SchemesSeen};

/// Each scheme's name under `components.securitySchemes`: `bearerJwt`,
/// `bearer`, `basic`, `http.digest`, `header.x-api-key`,
/// `query.api_key`, `cookie.session` (characters outside `A-Za-z0-9._-`
/// become `_`; a name taken twice gets a numbered suffix).
pub fn component_names(seen: &SchemesSeen) -> BTreeMap<Scheme, String> {
    let mut names: BTreeMap<Scheme, String> = BTreeMap::new();
    for (scheme, _) in seen.iter() {
        let base = match scheme {
            Scheme::BearerJwt => "bearerJwt".to_string(),
            Scheme::BearerOpaque => "bearer".to_string(),
            Scheme::Basic => "basic".to_string(),
            Scheme::Http(s) => format!("http.{}", sanitize(s)),
            Scheme::ApiKey { location, name } => {
                format!("{}.{}", location.as_str(), sanitize(name))
            }
        };
        let mut name = base.clone();
        let mut n = 2;
        while names.values().any(|v| *v == name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.insert(scheme.clone(), name);
    }
    names
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `components.securitySchemes` for the schemes seen: `http` with
/// `scheme: bearer` (and `bearerFormat: JWT` for JWTs), `basic` or the
/// scheme word seen; `apiKey` with `in` and `name`. Schemes whose tokens
/// were JWTs carry `x-moat-jwt` (algorithms and claim names); every one
/// carries `x-moat-discovered` (requests that carried it).
pub fn security_schemes(
    seen: &SchemesSeen,
    names: &BTreeMap<Scheme, String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (scheme, stats) in seen.iter() {
        let Some(name) = names.get(scheme) else {
            continue;
        };
        let mut value = match scheme {
            Scheme::BearerJwt => json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
            Scheme::BearerOpaque => json!({"type": "http", "scheme": "bearer"}),
            Scheme::Basic => json!({"type": "http", "scheme": "basic"}),
            Scheme::Http(s) => json!({"type": "http", "scheme": s}),
            Scheme::ApiKey { location, name } => {
                json!({"type": "apiKey", "in": location.as_str(), "name": name})
            }
        };
        value["x-moat-discovered"] = json!({"requests": stats.requests});
        if stats.jwt.tokens > 0 {
            let mut jwt = json!({
                "tokens": stats.jwt.tokens,
                "algorithms": stats.jwt.algs().collect::<Vec<_>>(),
                "claims": stats.jwt.claims().collect::<Vec<_>>(),
            });
            if stats.jwt.truncated() {
                jwt["truncated"] = json!(true);
            }
            value["x-moat-jwt"] = jwt;
        }
        out.insert(name.clone(), value);
    }
    out
}

/// An operation's `security`: one alternative per scheme its requests
/// carried (any one of them was enough, as far as traffic shows), and `{}`
/// when some requests carried none. `None` when no request carried a
/// credential: the operation needs none.
pub fn security(auth: &AuthSeen, names: &BTreeMap<Scheme, String>) -> Option<Value> {
    let mut alternatives: Vec<Value> = auth
        .schemes()
        .filter_map(|(s, _)| names.get(s))
        .map(|n| json!({ n.as_str(): [] }))
        .collect();
    if alternatives.is_empty() {
        return None;
    }
    if auth.anonymous() > 0 {
        alternatives.push(json!({}));
    }
    Some(Value::Array(alternatives))
}
