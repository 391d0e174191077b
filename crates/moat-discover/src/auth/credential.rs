//! What credential one request carried, and where.

use crate::sensitive::field::Field;
use crate::sensitive::token::{is_api_key, is_jwt};
use crate::sensitive::{SensitiveKind, scan_text};

use super::jwt::JwtInfo;

/// Where an API key was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyLocation {
    /// A request header (its name lower-cased).
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}

impl KeyLocation {
    /// The OpenAPI name: `header`, `query`, `cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyLocation::Header => "header",
            KeyLocation::Query => "query",
            KeyLocation::Cookie => "cookie",
        }
    }
}

/// A security scheme, as traffic shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `Authorization: Bearer` with a JSON Web Token.
    BearerJwt,
    /// `Authorization: Bearer` with any other (opaque) token.
    BearerOpaque,
    /// `Authorization: Basic`.
    Basic,
    /// `Authorization` with another HTTP scheme (`digest`, `token`, …),
    /// lower-cased.
    Http(String),
    /// A key in a header, query parameter or cookie (a session cookie
    /// included), by its name; an `Authorization` field without a scheme
    /// word is a key in the `authorization` header.
    ApiKey {
        /// Where it was sent.
        location: KeyLocation,
        /// The header (lower-cased), parameter or cookie name.
        name: String,
    },
}

impl Scheme {
    /// A short name for reports: `bearer_jwt`, `basic`, `http:digest`,
    /// `api_key:header:x-api-key`.
    pub fn label(&self) -> String {
        match self {
            Scheme::BearerJwt => "bearer_jwt".to_string(),
            Scheme::BearerOpaque => "bearer_opaque".to_string(),
            Scheme::Basic => "basic".to_string(),
            Scheme::Http(s) => format!("http:{s}"),
            Scheme::ApiKey { location, name } => format!("api_key:{}:{name}", location.as_str()),
        }
    }

    /// The name of the API key, when this is one sent at `location`.
    pub fn api_key_at(&self, at: KeyLocation) -> Option<&str> {
        match self {
            Scheme::ApiKey { location, name } if *location == at => Some(name),
            _ => None,
        }
    }
}

/// One credential a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// How it was sent.
    pub scheme: Scheme,
    /// What its token said about itself, when it was a JWT (in a bearer
    /// token, a key or a cookie).
    pub jwt: Option<JwtInfo>,
}

/// Longest header, parameter or cookie name taken for an API key; longer
/// names are data, not names.
const MAX_NAME_LEN: usize = 64;

/// Longest `Authorization` scheme word kept (`AWS4-HMAC-SHA256` is 16).
const MAX_HTTP_SCHEME_LEN: usize = 32;

/// Header names (lower-cased) that carry an API key whatever its value
/// looks like. Other headers count when their name names a credential and
/// their value looks like one (see [`credential`]).
pub const KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "apikey",
    "x-apikey",
    "x-api-token",
    "x-auth-token",
    "x-access-token",
    "x-auth-key",
    "x-token",
    "x-session-token",
    "x-session-id",
    "x-user-token",
    "x-client-secret",
    "ocp-apim-subscription-key",
];

/// Query parameter names (lower-cased) that carry a key or token whatever
/// its value looks like.
pub const KEY_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "access_token",
    "accesstoken",
    "token",
    "auth",
    "auth_token",
    "id_token",
    "jwt",
    "session",
    "sessionid",
    "session_id",
    "client_secret",
    "subscription-key",
];

/// Cookie names (lower-cased) of sessions that the name rule does not
/// catch; any cookie whose name names a credential (`session`, `sid`,
/// `token`, `auth`, `jwt`, …) is one too.
pub const KEY_COOKIES: &[&str] = &[
    "phpsessid",
    "jsessionid",
    "cfid",
    "cftoken",
    "laravel_session",
];

/// Names of anti-forgery tokens: they prove where a request came from,
/// not who sent it, so they are parameters, not credentials.
const ANTI_FORGERY: &[&str] = &["csrf", "xsrf"];

/// The credentials a request carried: its `Authorization` field, and the
/// headers, query parameters and cookies that hold a key. `headers` are
/// the request's (any case; standard ones such as `Cookie` or `Referer`
/// are not looked at, see [`crate::headers`]), `query` and `cookies`
/// decoded pairs. Each scheme appears once.
pub fn credentials(
    headers: &[(String, String)],
    query: &[(String, String)],
    cookies: &[(String, String)],
) -> Vec<Credential> {
    let mut found: Vec<Credential> = Vec::new();
    let mut push = |c: Credential| {
        if !found.iter().any(|f| f.scheme == c.scheme) {
            found.push(c);
        }
    };
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            if let Some(c) = authorization(value) {
                push(c);
            }
        } else if !crate::headers::is_standard(&lower)
            && let Some(c) = credential(KeyLocation::Header, &lower, value)
        {
            push(c);
        }
    }
    for (name, value) in query {
        if let Some(c) = credential(KeyLocation::Query, name, value) {
            push(c);
        }
    }
    for (name, value) in cookies {
        if let Some(c) = credential(KeyLocation::Cookie, name, value) {
            push(c);
        }
    }
    found
}

/// The credential of an `Authorization` field: `<scheme> <credentials>`,
/// or a bare key.
fn authorization(value: &str) -> Option<Credential> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let Some((word, rest)) = value.split_once(' ') else {
        // A scheme word with nothing after it carries nothing.
        let bare_word = ["bearer", "basic"]
            .iter()
            .any(|w| value.eq_ignore_ascii_case(w));
        return (!bare_word).then(|| key(KeyLocation::Header, "authorization", value));
    };
    let rest = rest.trim();
    let scheme = if word.eq_ignore_ascii_case("bearer") {
        let jwt = JwtInfo::of(rest);
        let scheme = if jwt.is_some() {
            Scheme::BearerJwt
        } else {
            Scheme::BearerOpaque
        };
        return Some(Credential { scheme, jwt });
    } else if word.eq_ignore_ascii_case("basic") {
        Scheme::Basic
    } else if is_scheme_word(word) {
        Scheme::Http(word.to_ascii_lowercase())
    } else {
        return None;
    };
    Some(Credential { scheme, jwt: None })
}

/// An HTTP authentication scheme name (an RFC 9110 token), short.
fn is_scheme_word(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= MAX_HTTP_SCHEME_LEN
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A key sent at `location` under `name`, if the field holds one: a name
/// known to carry keys, a cookie whose name names a credential, a value
/// that is a JWT or a well-known service's key, or, under a credential's
/// name, a value in which the sensitive-data detection finds a credential
/// (a JWT, a key, a high-entropy secret, a password). A token inside a
/// longer value of any other field (a URL's query) does not make that
/// field a credential. Empty values and anti-forgery tokens are not
/// credentials.
fn credential(location: KeyLocation, name: &str, value: &str) -> Option<Credential> {
    let value = value.trim();
    if value.is_empty() || name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if ANTI_FORGERY.iter().any(|a| lower.contains(a)) {
        return None;
    }
    let known = match location {
        KeyLocation::Header => KEY_HEADERS.contains(&lower.as_str()),
        KeyLocation::Query => KEY_PARAMS.contains(&lower.as_str()),
        KeyLocation::Cookie => KEY_COOKIES.contains(&lower.as_str()) || Field::of(name).secret,
    };
    let looks_like_one = || {
        let field = Field::of(name);
        is_jwt(value)
            || is_api_key(value)
            || (field.secret || field.password)
                && scan_text(Some(name), value).iter().any(|k| {
                    matches!(
                        k,
                        SensitiveKind::Jwt
                            | SensitiveKind::ApiKey
                            | SensitiveKind::Secret
                            | SensitiveKind::Password
                    )
                })
    };
    (known || looks_like_one()).then(|| key(location, name, value))
}

fn key(location: KeyLocation, name: &str, value: &str) -> Credential {
    let name = match location {
        KeyLocation::Header => name.to_ascii_lowercase(),
        KeyLocation::Query | KeyLocation::Cookie => name.to_string(),
    };
    Credential {
        scheme: Scheme::ApiKey { location, name },
        // `X-Auth: Bearer <jwt>` as well as the bare token.
        jwt: JwtInfo::of(value).or_else(|| value.rsplit(' ').next().and_then(JwtInfo::of)),
    }
}
