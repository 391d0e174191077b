//! Cross-origin requests from browsers, per API.
//!
//! Origins are matched exactly. A preflight is answered by moat itself, and
//! only for a method the document documents on that path: CORS never opens
//! an undocumented operation. Allowed origins get the CORS headers on every
//! response, denials included, so browser code can read moat's problems.

use http::header::{self, HeaderMap, HeaderValue};
use moat_config::CorsConfig;

/// A compiled CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<String>,
    any_origin: bool,
    credentials: bool,
    allowed_headers: Vec<String>,
    expose: Option<HeaderValue>,
    max_age: HeaderValue,
}

impl Cors {
    /// From config (validated: no `*` with credentials).
    pub fn new(cfg: &CorsConfig) -> Self {
        let expose = (!cfg.expose_headers.is_empty())
            .then(|| HeaderValue::from_str(&cfg.expose_headers.join(", ")).ok())
            .flatten();
        Self {
            any_origin: cfg.allowed_origins.iter().any(|o| o == "*"),
            origins: cfg.allowed_origins.clone(),
            credentials: cfg.allow_credentials,
            allowed_headers: cfg
                .allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            expose,
            max_age: HeaderValue::from(cfg.max_age.as_secs()),
        }
    }

    /// Whether `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        self.any_origin || self.origins.iter().any(|o| o == origin)
    }

    /// The headers for a response to an allowed `origin`.
    pub fn response_headers(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        let value = if self.any_origin && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }

    /// Whether every header a preflight asks for is allowed.
    pub fn allows_headers(&self, requested: Option<&HeaderValue>) -> bool {
        let Some(list) = requested.and_then(|v| v.to_str().ok()) else {
            return true;
        };
        list.split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| self.allowed_headers.contains(&h))
    }

    /// The extra headers of a successful preflight answer.
    pub fn preflight_headers(&self, method: &str, headers: &mut HeaderMap) {
        if let Ok(m) = HeaderValue::from_str(method) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Ok(h) = HeaderValue::from_str(&self.allowed_headers.join(", ")) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h);
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
