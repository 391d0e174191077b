//! Who the scan acts as: anonymous, two or more ordinary users and at least
//! one privileged user, each with the credentials the API expects.
//!
//! Credentials come as they are given (headers, a bearer token, basic
//! credentials, query or cookie values) or from a login flow: one request
//! whose answer carries the token, at a JSON pointer or in a header. A
//! registration request may create the user first, when writes are allowed.

use std::collections::BTreeMap;

use base64::Engine;
use http::Method;
use moat_config::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Client, Probe, SendError};

/// What an identity may do, as far as the scan is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// No credentials at all.
    Anonymous,
    /// An ordinary user: must not reach other users' objects or privileged
    /// operations.
    User,
    /// A privileged user (an administrator): what it can call and ordinary
    /// users cannot is a privileged operation.
    Privileged,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Anonymous => "anonymous",
            Role::User => "user",
            Role::Privileged => "privileged",
        }
    }
}

/// One identity as a scan config writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    pub name: String,
    pub role: Role,
    /// Headers sent as they are (`X-Api-Key: …`).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Query parameters added to every request.
    #[serde(default)]
    pub query: BTreeMap<String, Secret>,
    /// Cookies sent with every request.
    #[serde(default)]
    pub cookies: BTreeMap<String, Secret>,
    /// A bearer token, sent as `Authorization: Bearer …`.
    pub bearer: Option<Secret>,
    pub basic: Option<BasicConfig>,
    pub login: Option<LoginConfig>,
    /// A request that creates this user, sent before the login when writes
    /// are allowed. Its failure (the user exists already) is not an error.
    pub register: Option<RequestConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    pub username: String,
    pub password: Secret,
}

/// One request of a login or registration flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    #[serde(default = "default_login_method")]
    pub method: String,
    /// The path on the target, `/api/login`.
    pub path: String,
    /// A JSON body. Strings may be `${env:…}`/`${file:…}` references.
    pub json: Option<Value>,
    /// A form body (`application/x-www-form-urlencoded`).
    pub form: Option<BTreeMap<String, Secret>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
}

fn default_login_method() -> String {
    "POST".to_string()
}

/// A login flow: the request, where its answer carries the token, and how
/// later requests present it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    #[serde(flatten)]
    pub request: RequestConfig,
    /// Where the answer carries the token: a JSON pointer into the body
    /// (`/auth_token`) or a header name.
    pub token: TokenSource,
    /// How the token is sent [default: `Authorization: Bearer <token>`].
    #[serde(default)]
    pub send_as: SendAs,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum TokenSource {
    Pointer(String),
    Header(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SendAs {
    #[default]
    Bearer,
    Header(String),
    Cookie(String),
    Query(String),
}

/// The login request of an identity, kept for the checks that probe the
/// login itself (user enumeration, lockout).
#[derive(Debug, Clone)]
pub struct Login {
    pub method: Method,
    pub path: String,
    /// The JSON body that logs this identity in, with its secrets.
    pub json: Option<Value>,
    pub form: Option<Vec<(String, String)>>,
}

/// An identity ready to send requests.
#[derive(Debug, Clone)]
pub struct Identity {
    name: String,
    role: Role,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    /// The bearer token, when the identity has one (a JWT for the token
    /// checks to tamper with).
    bearer: Option<String>,
    login: Option<Login>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".to_string(),
            role: Role::Anonymous,
            headers: Vec::new(),
            query: Vec::new(),
            bearer: None,
            login: None,
        }
    }

    /// An identity with exactly these headers, for tests and flags.
    pub fn with_headers(name: &str, role: Role, headers: Vec<(String, String)>) -> Self {
        let bearer = headers.iter().find_map(|(n, v)| {
            n.eq_ignore_ascii_case("authorization")
                .then(|| v.strip_prefix("Bearer ").map(str::to_string))
                .flatten()
        });
        Self {
            name: name.to_string(),
            role,
            headers,
            query: Vec::new(),
            bearer,
            login: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The bearer token, if the identity sends one.
    pub fn bearer(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// Headers this identity adds to each request (its credentials).
    pub fn credentials(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    /// Query parameters this identity adds to each request.
    pub fn query_credentials(&self) -> Vec<(String, String)> {
        self.query.clone()
    }

    /// Every credential value this identity sends: what evidence redacts.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .chain(&self.query)
            .map(|(_, v)| v.as_str())
    }

    /// Builds the identity from its config, logging in (and registering,
    /// when `client` allows writes) through `client`.
    pub async fn resolve(config: &IdentityConfig, client: &Client) -> Result<Self, IdentityError> {
        for secret in config_secrets(config) {
            client.add_secret(&secret);
        }
        let mut identity = Self {
            name: config.name.clone(),
            role: config.role,
            headers: config
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_string()))
                .collect(),
            query: config
                .query
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_string()))
                .collect(),
            bearer: None,
            login: None,
        };
        let mut cookies: Vec<String> = config
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={}", v.expose()))
            .collect();
        if let Some(token) = &config.bearer {
            identity.set_bearer(token.expose());
        }
        if let Some(basic) = &config.basic {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                basic.username,
                basic.password.expose()
            ));
            identity
                .headers
                .push(("Authorization".to_string(), format!("Basic {encoded}")));
        }
        if let Some(register) = &config.register
            && client.writes_allowed()
        {
            let probe = request_probe(register, &config.name)?;
            // The user may exist already: any answer will do.
            client
                .send(&probe, &Identity::anonymous())
                .await
                .map_err(|e| IdentityError::Send(config.name.clone(), e))?;
        }
        if let Some(login) = &config.login {
            let probe = request_probe(&login.request, &config.name)?;
            let path = probe.path_and_query.clone();
            client.allow_login(probe.method.clone(), &path);
            let answer = client
                .send(&probe, &Identity::anonymous())
                .await
                .map_err(|e| IdentityError::Send(config.name.clone(), e))?;
            if !answer.is_success() {
                return Err(IdentityError::LoginRefused {
                    identity: config.name.clone(),
                    path,
                    status: answer.status,
                });
            }
            let token = match &login.token {
                TokenSource::Pointer(pointer) => answer.json().and_then(|v| {
                    v.pointer(pointer)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }),
                TokenSource::Header(name) => answer.header(name).map(str::to_string),
            }
            .ok_or_else(|| IdentityError::NoToken {
                identity: config.name.clone(),
                place: match &login.token {
                    TokenSource::Pointer(p) => format!("the JSON pointer `{p}`"),
                    TokenSource::Header(h) => format!("the header `{h}`"),
                },
            })?;
            match &login.send_as {
                SendAs::Bearer => identity.set_bearer(&token),
                SendAs::Header(name) => identity.headers.push((name.clone(), token)),
                SendAs::Cookie(name) => cookies.push(format!("{name}={token}")),
                SendAs::Query(name) => identity.query.push((name.clone(), token)),
            }
            identity.login = Some(Login {
                method: probe.method,
                path,
                json: login.request.json.clone(),
                form: login.request.form.as_ref().map(|f| {
                    f.iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_string()))
                        .collect()
                }),
            });
        }
        if !cookies.is_empty() {
            identity
                .headers
                .push(("Cookie".to_string(), cookies.join("; ")));
        }
        if let Some(token) = &identity.bearer {
            client.add_secret(token);
        }
        for (_, value) in identity.headers.iter().chain(&identity.query) {
            client.add_secret(value);
        }
        Ok(identity)
    }

    fn set_bearer(&mut self, token: &str) {
        self.bearer = Some(token.to_string());
        self.headers
            .push(("Authorization".to_string(), format!("Bearer {token}")));
    }
}

/// Whether a request field named `name` holds a secret.
fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "pin", "otp", "credential"]
        .iter()
        .any(|w| name.contains(w))
}

/// Every secret value an identity's config holds: credentials, and the
/// secret fields of its login and registration requests.
fn config_secrets(config: &IdentityConfig) -> Vec<String> {
    let mut out: Vec<String> = config
        .headers
        .values()
        .chain(config.query.values())
        .chain(config.cookies.values())
        .chain(config.bearer.iter())
        .chain(config.basic.iter().map(|b| &b.password))
        .map(|s| s.expose().to_string())
        .collect();
    let requests = config
        .login
        .iter()
        .map(|l| &l.request)
        .chain(config.register.iter());
    for request in requests {
        out.extend(request.headers.values().map(|s| s.expose().to_string()));
        if let Some(form) = &request.form {
            out.extend(
                form.iter()
                    .filter(|(k, _)| is_secret_field(k))
                    .map(|(_, v)| v.expose().to_string()),
            );
        }
        if let Some(json) = &request.json {
            json_secrets(json, &mut out);
        }
    }
    out
}

/// The string values of secret-named members anywhere in `value`.
fn json_secrets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if is_secret_field(k) => out.push(s.clone()),
                    other => json_secrets(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| json_secrets(v, out)),
        _ => {}
    }
}

/// The probe a login or registration request config describes.
pub fn request_probe(config: &RequestConfig, identity: &str) -> Result<Probe, IdentityError> {
    let method = Method::from_bytes(config.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| IdentityError::Method(identity.to_string(), config.method.clone()))?;
    let mut probe = Probe::new(method, config.path.clone());
    for (name, value) in &config.headers {
        probe = probe.header(name.clone(), value.expose().to_string());
    }
    if let Some(json) = &config.json {
        probe = probe.json(json);
    } else if let Some(form) = &config.form {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::target::encode_form(k),
                    crate::target::encode_form(v.expose())
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        probe = probe.body("application/x-www-form-urlencoded", body);
    }
    Ok(probe)
}

/// Why an identity could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity `{0}`: `{1}` is not an HTTP method")]
    Method(String, String),
    #[error("identity `{0}`: {1}")]
    Send(String, SendError),
    #[error("identity `{identity}`: the login at {path} was answered {status}")]
    LoginRefused {
        identity: String,
        path: String,
        status: u16,
    },
    #[error("identity `{identity}`: the login answer has no token at {place}")]
    NoToken { identity: String, place: String },
}

/// The identities of a scan, by role.
#[derive(Debug, Clone)]
pub struct Identities {
    pub anonymous: Identity,
    pub users: Vec<Identity>,
    pub privileged: Vec<Identity>,
}

impl Identities {
    pub fn new(all: Vec<Identity>) -> Self {
        let (privileged, users) = all
            .into_iter()
            .filter(|i| i.role != Role::Anonymous)
            .partition(|i| i.role == Role::Privileged);
        Self {
            anonymous: Identity::anonymous(),
            users,
            privileged,
        }
    }

    /// Every identity with credentials: users, then privileged ones.
    pub fn authenticated(&self) -> impl Iterator<Item = &Identity> {
        self.users.iter().chain(&self.privileged)
    }

    /// Every identity, anonymous first.
    pub fn all(&self) -> impl Iterator<Item = &Identity> {
        std::iter::once(&self.anonymous).chain(self.authenticated())
    }

    /// Pairs of distinct ordinary users `(owner, other)`, for the checks
    /// that try one user's objects as another.
    pub fn user_pairs(&self) -> Vec<(&Identity, &Identity)> {
        let mut pairs = Vec::new();
        for a in &self.users {
            for b in &self.users {
                if a.name != b.name {
                    pairs.push((a, b));
                }
            }
        }
        pairs
    }

    /// Every secret value any identity sends.
    pub fn secrets(&self) -> Vec<&str> {
        self.authenticated().flat_map(Identity::secrets).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Limits;
    use std::sync::{Arc, Mutex};

    /// A loopback API where `POST /register` creates a user and
    /// `POST /login` answers `{"token"}` to registered users only.
    async fn api() -> reqwest::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let users: Arc<Mutex<Vec<String>>> = Arc::default();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let users = Arc::clone(&users);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let users = Arc::clone(&users);
                            async move {
                                use http_body_util::BodyExt;
                                let path = req.uri().path().to_string();
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let json: Value =
                                    serde_json::from_slice(&body).unwrap_or(Value::Null);
                                let name =
                                    json["username"].as_str().unwrap_or_default().to_string();
                                let (status, answer) = match path.as_str() {
                                    "/register" => {
                                        users.lock().unwrap().push(name);
                                        (201, "{}".to_string())
                                    }
                                    "/login" if users.lock().unwrap().contains(&name) => {
                                        (200, format!(r#"{{"token":"t-{name}"}}"#))
                                    }
                                    _ => (401, "{}".to_string()),
                                };
                                let mut response = http::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::from(answer),
                                ));
                                *response.status_mut() =
                                    http::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        reqwest::Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn config() -> IdentityConfig {
        let request = |path: &str| RequestConfig {
            method: "POST".into(),
            path: path.into(),
            json: Some(serde_json::json!({"username": "carol", "password": "s3cret-pass"})),
            form: None,
            headers: BTreeMap::new(),
        };
        IdentityConfig {
            name: "carol".into(),
            role: Role::User,
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            cookies: BTreeMap::new(),
            bearer: None,
            basic: None,
            login: Some(LoginConfig {
                request: request("/login"),
                token: TokenSource::Pointer("/token".into()),
                send_as: SendAs::Bearer,
            }),
            register: Some(request("/register")),
        }
    }

    fn limits(allow_writes: bool) -> Limits {
        Limits {
            allow_writes,
            rate: 1000.0,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn a_registration_creates_the_user_when_writes_are_allowed() {
        let url = api().await;
        let client = Client::new(&url, limits(true), false).unwrap();
        let carol = Identity::resolve(&config(), &client).await.unwrap();
        assert_eq!(carol.bearer(), Some("t-carol"));
        assert_eq!(client.sent(), 2);
    }

    #[tokio::test]
    async fn without_writes_no_registration_is_sent() {
        let url = api().await;
        let client = Client::new(&url, limits(false), false).unwrap();
        let error = Identity::resolve(&config(), &client).await.unwrap_err();
        assert!(
            matches!(error, IdentityError::LoginRefused { status: 401, .. }),
            "{error}"
        );
        assert_eq!(client.sent(), 1);
    }
}
