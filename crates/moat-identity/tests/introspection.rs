//! Token introspection against a real RFC 7662 endpoint on 127.0.0.1 that
//! checks moat's client authentication and counts the calls it gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use moat_identity::introspection::{
    ClientAuth, IntrospectionConfig, IntrospectionConfigError, IntrospectionError,
    IntrospectionVerifier, MAX_RESPONSE_BYTES, MAX_TOKEN_BYTES, SharedAnswers, SharedAnswersError,
};
use serde_json::{Value, json};

/// A client id and secret with characters that RFC 6749 §2.3.1's
/// form-urlencoding must protect: space, `:`, `+`, `/`, `=`, `&`, non-ASCII.
const CLIENT_ID: &str = "moat gateway:1";
const CLIENT_SECRET: &str = "s3cr+t/\u{e9}=&";
const ISSUER: &str = "https://as.example.com";
const AUDIENCE: &str = "https://api.example.com";

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// What the endpoint does with the next calls.
#[derive(Clone)]
enum Mode {
    /// Answers from the token table.
    Up,
    /// Answers this status with a JSON error body.
    Status(u16),
    /// Answers 200 with this body as is.
    Raw(&'static str),
    /// Answers 200 with a body over the cap, with a `Content-Length`.
    HugeSized,
    /// Answers 200 with a body over the cap, chunked (no length).
    HugeChunked,
}

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    content_type: Option<String>,
    authorization: Option<String>,
    form: Vec<(String, String)>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct AsState {
    answers: Mutex<HashMap<String, Value>>,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    secret: Mutex<String>,
}

/// The authorization server's introspection endpoint.
struct As {
    addr: SocketAddr,
    state: Arc<AsState>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl As {
    async fn start() -> As {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(AsState {
            answers: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Up),
            delay: Mutex::new(Duration::ZERO),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            secret: Mutex::new(CLIENT_SECRET.to_owned()),
        });
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let state = Arc::clone(&state);
            let tasks = Arc::clone(&tasks);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&state);
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let conn = tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                    tasks.lock().unwrap().push(conn.abort_handle());
                }
            })
        };
        tasks.lock().unwrap().push(accept.abort_handle());
        As { addr, state, tasks }
    }

    fn url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    fn answer(&self, token: &str, response: Value) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), response);
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = secret.to_owned();
    }

    fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    fn last_seen(&self) -> Seen {
        self.state.seen.lock().unwrap().last().cloned().unwrap()
    }

    /// Closes the listener and every connection: the port refuses.
    async fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        // Let the aborted tasks drop their sockets.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for As {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

type AnswerBody = BoxBody<Bytes, Infallible>;

fn json_response(status: u16, value: &Value) -> Response<AnswerBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .unwrap()
}

async fn answer(state: &AsState, req: Request<hyper::body::Incoming>) -> Response<AnswerBody> {
    // Counted on arrival, so that a call whose client gave up counts too.
    state.calls.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut seen = Seen {
        method: req.method().to_string(),
        content_type: header("content-type"),
        authorization: header("authorization"),
        form: Vec::new(),
    };
    let body = req.into_body().collect().await.unwrap().to_bytes();
    seen.form = form_decode(std::str::from_utf8(&body).unwrap());
    state.seen.lock().unwrap().push(seen.clone());

    // Client authentication, as the authorization server checks it: one
    // method only (RFC 6749 §2.3), the credentials form-decoded.
    let secret = state.secret.lock().unwrap().clone();
    let basic = seen.authorization.as_deref().map(|value| {
        let encoded = value.strip_prefix("Basic ").unwrap_or("");
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap_or_default()).unwrap();
        let (id, secret) = decoded.split_once(':').unwrap_or(("", ""));
        (url_decode(id), url_decode(secret))
    });
    let post = seen.field("client_secret").map(|s| {
        (
            seen.field("client_id").unwrap_or("").to_owned(),
            s.to_owned(),
        )
    });
    let authenticated = match (basic, post) {
        (Some(credentials), None) | (None, Some(credentials)) => {
            credentials == (CLIENT_ID.to_owned(), secret)
        }
        _ => false,
    };
    if !authenticated {
        return json_response(401, &json!({ "error": "invalid_client" }));
    }

    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Up => {}
        Mode::Status(status) => return json_response(status, &json!({ "error": "down" })),
        Mode::Raw(body) => {
            return Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
        }
        Mode::HugeSized => {
            let padding = "x".repeat(MAX_RESPONSE_BYTES + 1);
            return json_response(200, &json!({ "active": true, "padding": padding }));
        }
        Mode::HugeChunked => {
            let mut chunks = VecDeque::new();
            chunks.push_back(Bytes::from_static(b"{\"active\":true,\"padding\":\""));
            for _ in 0..(MAX_RESPONSE_BYTES / 1024 + 8) {
                chunks.push_back(Bytes::from(vec![b'x'; 1024]));
            }
            chunks.push_back(Bytes::from_static(b"\"}"));
            return Response::new(Chunks(chunks).boxed());
        }
    }
    let token = seen.field("token").unwrap_or("");
    let response = state
        .answers
        .lock()
        .unwrap()
        .get(token)
        .cloned()
        .unwrap_or_else(|| json!({ "active": false }));
    json_response(200, &response)
}

/// A body of several chunks and no known length: sent chunked.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn form_decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn config(server: &As) -> IntrospectionConfig {
    IntrospectionConfig::new(server.url(), CLIENT_ID, CLIENT_SECRET)
}

fn active(now: SystemTime, lifetime: u64) -> Value {
    json!({
        "active": true,
        "sub": "user-1",
        "client_id": "mobile-app",
        "username": "alice",
        "scope": "read:items write:items",
        "iss": ISSUER,
        "aud": [AUDIENCE, "https://other.example.com"],
        "exp": unix(now) + lifetime,
        "iat": unix(now),
        "tenant": "acme",
    })
}

#[tokio::test]
async fn an_active_token_gives_its_claims_and_scopes() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let mut cfg = config(&server);
    cfg.issuer = Some(ISSUER.into());
    cfg.audiences = vec![AUDIENCE.into()];
    let verifier = IntrospectionVerifier::new(cfg).unwrap();

    let token = verifier.verify("good-token", now).await.unwrap();
    assert_eq!(token.subject.as_deref(), Some("user-1"));
    assert_eq!(token.client_id.as_deref(), Some("mobile-app"));
    assert_eq!(token.username.as_deref(), Some("alice"));
    assert_eq!(token.issuer.as_deref(), Some(ISSUER));
    assert_eq!(token.scopes, ["read:items", "write:items"]);
    assert_eq!(
        token.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(unix(now) + 600))
    );
    assert_eq!(token.claims["tenant"], "acme");

    // The request, as RFC 7662 §2.1 and RFC 6749 §2.3.1 describe it.
    let seen = server.last_seen();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.field("token"), Some("good-token"));
    assert_eq!(seen.field("token_type_hint"), Some("access_token"));
    assert_eq!(seen.field("client_secret"), None, "Basic is the default");
    // Form-urlencoded first, then base64: `:` in the id is `%3A`.
    let expected = format!(
        "Basic {}",
        STANDARD.encode("moat+gateway%3A1:s3cr%2Bt%2F%C3%A9%3D%26")
    );
    assert_eq!(seen.authorization.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let mut cfg = config(&server);
    cfg.auth_method = ClientAuth::Post;
    let verifier = IntrospectionVerifier::new(cfg).unwrap();

    assert!(verifier.verify("good-token", now).await.is_ok());
    let seen = server.last_seen();
    assert_eq!(seen.authorization, None, "one method only");
    assert_eq!(seen.field("client_id"), Some(CLIENT_ID));
    assert_eq!(seen.field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(seen.field("token"), Some("good-token"));
    assert_eq!(seen.field("token_type_hint"), Some("access_token"));
}

#[tokio::test]
async fn a_token_with_reserved_characters_reaches_the_server_intact() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let token = "a+b/c=d&e%f~g.h";
    server.answer(token, active(now, 600));
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    assert!(verifier.verify(token, now).await.is_ok());
    assert_eq!(server.last_seen().field("token"), Some(token));
}

#[tokio::test]
async fn an_inactive_token_is_refused_and_remembered_briefly() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();

    for _ in 0..20 {
        let error = verifier.verify("revoked", now).await.unwrap_err();
        assert_eq!(error, IntrospectionError::Inactive);
        assert_eq!(error.http_status(), 401);
        assert_eq!(error.bearer_error(), Some("invalid_token"));
    }
    assert_eq!(server.calls(), 1, "one call within negative_ttl");

    // Within the default 10 s, still remembered; after it, asked again.
    let later = now + Duration::from_secs(9);
    assert_eq!(
        verifier.verify("revoked", later).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), 1);
    server.answer("revoked", active(now, 600));
    let later = now + Duration::from_secs(11);
    assert!(verifier.verify("revoked", later).await.is_ok());
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn a_rejected_client_secret_is_unavailable_not_the_tokens_fault() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    server.set_secret("the-secret-the-server-expects");
    for method in [ClientAuth::Basic, ClientAuth::Post] {
        let mut cfg = config(&server);
        cfg.auth_method = method;
        let verifier = IntrospectionVerifier::new(cfg).unwrap();
        let calls = server.calls();
        for _ in 0..2 {
            let error = verifier.verify("good-token", now).await.unwrap_err();
            assert_eq!(error, IntrospectionError::Unavailable, "{method:?}");
            assert_eq!(error.http_status(), 503);
            assert_eq!(error.bearer_error(), None);
        }
        assert_eq!(server.calls(), calls + 2, "failures are not cached");
    }
}

#[tokio::test]
async fn active_answers_are_cached_until_cache_ttl() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 3600));
    let mut cfg = config(&server);
    cfg.cache_ttl = Duration::from_secs(60);
    let verifier = IntrospectionVerifier::new(cfg).unwrap();

    let first = verifier.verify("good-token", now).await.unwrap();
    for _ in 0..10 {
        let again = verifier.verify("good-token", now).await.unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
    }
    assert_eq!(server.calls(), 1);

    // Revoked at the server: honoured until cache_ttl, no longer.
    server.answer("good-token", json!({ "active": false }));
    let within = now + Duration::from_secs(59);
    assert!(verifier.verify("good-token", within).await.is_ok());
    assert_eq!(server.calls(), 1);
    let after = now + Duration::from_secs(61);
    assert_eq!(
        verifier.verify("good-token", after).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), 2);

    // Another token is another question.
    server.answer("other-token", active(now, 3600));
    assert!(verifier.verify("other-token", now).await.is_ok());
    assert_eq!(server.calls(), 3);

    verifier.clear_cache();
    assert!(verifier.verify("other-token", now).await.is_ok());
    assert_eq!(server.calls(), 4);
}

#[tokio::test]
async fn expired_tokens_are_inactive_even_from_the_cache() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    // The server says active, but `exp` has passed: not accepted.
    let mut stale = active(now, 0);
    stale["exp"] = json!(unix(now) - 5);
    server.answer("stale", stale);
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    assert_eq!(
        verifier.verify("stale", now).await,
        Err(IntrospectionError::Inactive)
    );

    // A cached active answer is not served once its `exp` passes, and
    // that takes no call.
    server.answer("short", active(now, 2));
    assert!(verifier.verify("short", now).await.is_ok());
    let calls = server.calls();
    assert!(
        verifier
            .verify("short", now + Duration::from_secs(1))
            .await
            .is_ok()
    );
    assert_eq!(
        verifier.verify("short", now + Duration::from_secs(3)).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), calls);
}

#[tokio::test]
async fn a_token_not_yet_valid_becomes_valid_from_the_cache() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let mut early = active(now, 600);
    early["nbf"] = json!(unix(now) + 120);
    server.answer("early", early);
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    // 120 s ahead is beyond the 60 s leeway.
    assert_eq!(
        verifier.verify("early", now).await,
        Err(IntrospectionError::Inactive)
    );
    assert!(
        verifier
            .verify("early", now + Duration::from_secs(61))
            .await
            .is_ok()
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_unless_the_cache_decides() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 3600));
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    assert!(verifier.verify("good-token", now).await.is_ok());
    assert_eq!(
        verifier.verify("revoked", now).await,
        Err(IntrospectionError::Inactive)
    );

    server.stop().await;
    // Cached answers, active and inactive, still decide.
    assert!(verifier.verify("good-token", now).await.is_ok());
    assert_eq!(
        verifier.verify("revoked", now).await,
        Err(IntrospectionError::Inactive)
    );
    // Nothing cached: 503.
    assert_eq!(
        verifier.verify("never-seen", now).await,
        Err(IntrospectionError::Unavailable)
    );
    // Past cache_ttl (5 min) the cached answer no longer decides.
    let later = now + Duration::from_secs(301);
    assert_eq!(
        verifier.verify("good-token", later).await,
        Err(IntrospectionError::Unavailable)
    );
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    init();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cfg = IntrospectionConfig::new(
        format!("http://127.0.0.1:{port}/introspect"),
        CLIENT_ID,
        CLIENT_SECRET,
    );
    let verifier = IntrospectionVerifier::new(cfg).unwrap();
    assert_eq!(
        verifier.verify("any-token", SystemTime::now()).await,
        Err(IntrospectionError::Unavailable)
    );
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let mut wrong_iss = active(now, 600);
    wrong_iss["iss"] = json!("https://evil.example.com");
    let mut no_iss = active(now, 600);
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut wrong_aud = active(now, 600);
    wrong_aud["aud"] = json!("https://other.example.com");
    let mut no_aud = active(now, 600);
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut single_aud = active(now, 600);
    single_aud["aud"] = json!(AUDIENCE);
    for (token, answer) in [
        ("wrong-iss", wrong_iss),
        ("no-iss", no_iss),
        ("wrong-aud", wrong_aud),
        ("no-aud", no_aud),
        ("single-aud", single_aud),
        ("good", active(now, 600)),
    ] {
        server.answer(token, answer);
    }
    let mut cfg = config(&server);
    cfg.issuer = Some(ISSUER.into());
    cfg.audiences = vec![AUDIENCE.into()];
    let verifier = IntrospectionVerifier::new(cfg).unwrap();
    for token in ["wrong-iss", "no-iss", "wrong-aud", "no-aud"] {
        assert_eq!(
            verifier.verify(token, now).await,
            Err(IntrospectionError::Inactive),
            "{token}"
        );
    }
    assert!(verifier.verify("single-aud", now).await.is_ok());
    assert!(verifier.verify("good", now).await.is_ok());

    // Unconfigured, they are not checked.
    let open = IntrospectionVerifier::new(config(&server)).unwrap();
    assert!(open.verify("wrong-iss", now).await.is_ok());
    assert!(open.verify("no-aud", now).await.is_ok());
}

#[tokio::test]
async fn error_statuses_are_unavailable_and_not_cached() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    // 302: redirects are not followed (the POST would lose its token or
    // carry the credentials elsewhere).
    for status in [500, 502, 503, 400, 302] {
        server.set_mode(Mode::Status(status));
        let calls = server.calls();
        assert_eq!(
            verifier.verify("good-token", now).await,
            Err(IntrospectionError::Unavailable),
            "{status}"
        );
        assert_eq!(server.calls(), calls + 1);
    }
    // Nothing was cached: once the server recovers, the token works.
    server.set_mode(Mode::Up);
    assert!(verifier.verify("good-token", now).await.is_ok());
}

#[tokio::test]
async fn unreadable_answers_are_unavailable() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    for (i, body) in [
        r#"{"active":"true"}"#,
        r#"{"active":1}"#,
        r#"{"sub":"user-1"}"#,
        r#"{"active":false,"active":true}"#,
        r#"{"active":true,"exp":"tomorrow"}"#,
        "<html>login</html>",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        server.set_mode(Mode::Raw(body));
        assert_eq!(
            verifier.verify(&format!("token-{i}"), now).await,
            Err(IntrospectionError::Unavailable),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_answer_over_the_cap_is_unavailable() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    server.set_mode(Mode::HugeSized);
    assert_eq!(
        verifier.verify("token-a", now).await,
        Err(IntrospectionError::Unavailable)
    );
    server.set_mode(Mode::HugeChunked);
    assert_eq!(
        verifier.verify("token-b", now).await,
        Err(IntrospectionError::Unavailable)
    );
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    server.set_delay(Duration::from_secs(2));
    let mut cfg = config(&server);
    cfg.timeout = Duration::from_millis(200);
    let verifier = IntrospectionVerifier::new(cfg).unwrap();
    let started = Instant::now();
    assert_eq!(
        verifier.verify("good-token", now).await,
        Err(IntrospectionError::Unavailable)
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_a_call() {
    init();
    let server = As::start().await;
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    for token in ["", "two words", "line\nbreak", "caf\u{e9}", huge.as_str()] {
        let error = verifier.verify(token, SystemTime::now()).await.unwrap_err();
        assert!(
            matches!(error, IntrospectionError::Malformed(_)),
            "{token:.20}"
        );
        assert_eq!(error.http_status(), 401);
    }
    assert_eq!(server.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_token_share_one_call() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    server.set_delay(Duration::from_millis(200));
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    for token in ["good-token", "bad-token"] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let verifier = verifier.clone();
            tasks.spawn(async move { verifier.verify(token, now).await });
        }
        let results = tasks.join_all().await;
        if token == "good-token" {
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        } else {
            assert!(
                results
                    .iter()
                    .all(|r| *r == Err(IntrospectionError::Inactive))
            );
        }
    }
    assert_eq!(server.calls(), 2, "one call per token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_takes_over_when_the_caller_is_cancelled() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    server.set_delay(Duration::from_millis(300));
    let verifier = IntrospectionVerifier::new(config(&server)).unwrap();
    let first = {
        let verifier = verifier.clone();
        tokio::spawn(async move { verifier.verify("good-token", now).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let verifier = verifier.clone();
        tokio::spawn(async move { verifier.verify("good-token", now).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    assert!(second.await.unwrap().is_ok());
    // And the flight is gone: a later request is answered from the cache.
    let calls = server.calls();
    assert!(verifier.verify("good-token", now).await.is_ok());
    assert_eq!(server.calls(), calls);
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    init();
    let refused = |cfg: IntrospectionConfig| IntrospectionVerifier::new(cfg).unwrap_err();
    for url in [
        "http://as.example.com/introspect",
        "http://10.0.0.1/introspect",
        "not a url",
        "https://moat:secret@as.example.com/introspect",
    ] {
        let error = refused(IntrospectionConfig::new(url, CLIENT_ID, CLIENT_SECRET));
        assert!(
            matches!(error, IntrospectionConfigError::Url { .. }),
            "{url}: {error}"
        );
    }
    let url = "https://as.example.com/introspect";
    assert!(matches!(
        refused(IntrospectionConfig::new(url, "", CLIENT_SECRET)),
        IntrospectionConfigError::EmptyClientId
    ));
    assert!(matches!(
        refused(IntrospectionConfig::new(url, CLIENT_ID, "")),
        IntrospectionConfigError::EmptyClientSecret
    ));
    let mut cfg = IntrospectionConfig::new(url, CLIENT_ID, CLIENT_SECRET);
    cfg.timeout = Duration::ZERO;
    assert!(matches!(
        refused(cfg),
        IntrospectionConfigError::ZeroTimeout
    ));

    // Neither the config nor the verifier prints the secret.
    let cfg = IntrospectionConfig::new(url, CLIENT_ID, CLIENT_SECRET);
    assert!(!format!("{cfg:?}").contains("s3cr"));
    let verifier = IntrospectionVerifier::new(cfg).unwrap();
    assert!(!format!("{verifier:?}").contains("s3cr"));
}

/// A shared level in memory, as the nodes of a cluster would see Redis:
/// it counts reads and writes, keeps the TTLs it was given, and can fail.
#[derive(Default)]
struct FakeShared {
    entries: Mutex<HashMap<String, (Vec<u8>, Duration)>>,
    failing: std::sync::atomic::AtomicBool,
    gets: AtomicUsize,
    puts: AtomicUsize,
}

#[async_trait::async_trait]
impl SharedAnswers for FakeShared {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SharedAnswersError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SharedAnswersError("connection refused".into()));
        }
        Ok(self
            .entries
            .lock()
            .unwrap()
            .get(key)
            .map(|(v, _)| v.clone()))
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), SharedAnswersError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SharedAnswersError("connection refused".into()));
        }
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), (value, ttl));
        Ok(())
    }
}

impl FakeShared {
    fn only_entry(&self) -> (String, Vec<u8>, Duration) {
        let entries = self.entries.lock().unwrap();
        assert_eq!(entries.len(), 1, "{:?}", entries.keys());
        let (k, (v, ttl)) = entries.iter().next().unwrap();
        (k.clone(), v.clone(), *ttl)
    }
}

/// The lowercase hex SHA-256 of a token, as the shared level's key.
fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two nodes of a cluster: verifiers with their own caches and one shared
/// level.
fn two_nodes(cfg: &IntrospectionConfig, shared: &Arc<FakeShared>) -> [IntrospectionVerifier; 2] {
    [(); 2].map(|_| {
        IntrospectionVerifier::with_shared(
            cfg.clone(),
            Arc::clone(shared) as Arc<dyn SharedAnswers>,
        )
        .unwrap()
    })
}

#[tokio::test]
async fn an_active_answer_is_shared_by_the_nodes_with_one_call() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let shared = Arc::new(FakeShared::default());
    let mut cfg = config(&server);
    cfg.audiences = vec![AUDIENCE.into()];
    let [a, b] = two_nodes(&cfg, &shared);

    let on_a = a.verify("good-token", now).await.unwrap();
    assert_eq!(server.calls(), 1);
    let (key, value, ttl) = shared.only_entry();
    assert_eq!(
        key,
        sha256_hex("good-token"),
        "the key is the token's digest"
    );
    assert!(
        !String::from_utf8_lossy(&value).contains("good-token"),
        "the token itself is never stored"
    );
    assert_eq!(ttl, Duration::from_secs(300), "min(exp, now + cache_ttl)");

    let on_b = b.verify("good-token", now).await.unwrap();
    assert_eq!(server.calls(), 1, "node B found node A's answer");
    assert_eq!(on_a, on_b, "the same claims on both nodes");
    assert_eq!(on_b.claims["tenant"], "acme");
    // Node B now answers from its own cache.
    let gets = shared.gets.load(Ordering::SeqCst);
    assert!(b.verify("good-token", now).await.is_ok());
    assert_eq!(shared.gets.load(Ordering::SeqCst), gets);

    // A token expiring before cache_ttl is stored until its `exp`.
    server.answer("short", active(now, 60));
    assert!(a.verify("short", now).await.is_ok());
    let entries = shared.entries.lock().unwrap();
    let (_, ttl) = &entries[&sha256_hex("short")];
    assert!(
        *ttl <= Duration::from_secs(60) && *ttl > Duration::from_secs(58),
        "{ttl:?}"
    );
}

#[tokio::test]
async fn an_inactive_answer_is_shared_for_negative_ttl() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let shared = Arc::new(FakeShared::default());
    let [a, b] = two_nodes(&config(&server), &shared);

    for node in [&a, &b, &a, &b] {
        assert_eq!(
            node.verify("revoked", now).await,
            Err(IntrospectionError::Inactive)
        );
    }
    assert_eq!(server.calls(), 1, "one call for the cluster");
    let (_, _, ttl) = shared.only_entry();
    assert_eq!(ttl, Duration::from_secs(10), "negative_ttl");
}

#[tokio::test]
async fn a_shared_answer_is_believed_only_as_long_as_a_local_one() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 3600));
    let shared = Arc::new(FakeShared::default());
    let [a, b] = two_nodes(&config(&server), &shared);
    assert!(a.verify("good-token", now).await.is_ok());

    // A store that kept the value past its TTL does not extend it: node B,
    // asking after cache_ttl (5 min) of node A's fetch, calls the endpoint.
    let later = now + Duration::from_secs(301);
    assert!(b.verify("good-token", later).await.is_ok());
    assert_eq!(server.calls(), 2);

    // Node B read at 4 min a value fetched at 0: its own cache keeps it
    // until 5 min, not 9.
    let server2 = As::start().await;
    server2.answer("t2", active(now, 3600));
    let shared2 = Arc::new(FakeShared::default());
    let [c, d] = two_nodes(&config(&server2), &shared2);
    assert!(c.verify("t2", now).await.is_ok());
    assert!(d.verify("t2", now + Duration::from_secs(240)).await.is_ok());
    assert_eq!(server2.calls(), 1);
    shared2.entries.lock().unwrap().clear();
    assert!(d.verify("t2", now + Duration::from_secs(299)).await.is_ok());
    assert_eq!(server2.calls(), 1, "still fresh on node D");
    assert!(d.verify("t2", now + Duration::from_secs(301)).await.is_ok());
    assert_eq!(server2.calls(), 2, "node D's copy ended with node C's");
}

#[tokio::test]
async fn an_expired_shared_answer_is_refused_without_a_call() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("short", active(now, 60));
    let shared = Arc::new(FakeShared::default());
    let [a, b] = two_nodes(&config(&server), &shared);
    assert!(a.verify("short", now).await.is_ok());
    // Past `exp`, a store that still has the value gives an inactive token.
    assert_eq!(
        b.verify("short", now + Duration::from_secs(61)).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn answers_judged_with_other_settings_are_not_shared() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let shared = Arc::new(FakeShared::default());
    let as_shared = || Arc::clone(&shared) as Arc<dyn SharedAnswers>;
    let a = IntrospectionVerifier::with_shared(config(&server), as_shared()).unwrap();
    assert!(a.verify("good-token", now).await.is_ok());
    assert_eq!(server.calls(), 1);

    // Another required audience: node A's answer does not decide.
    let mut strict = config(&server);
    strict.audiences = vec!["https://elsewhere.example.com".into()];
    let b = IntrospectionVerifier::with_shared(strict, as_shared()).unwrap();
    assert_eq!(
        b.verify("good-token", now).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), 2, "asked, not read from the shared level");

    // Another endpoint (another authorization server): neither.
    let other = As::start().await;
    let c = IntrospectionVerifier::with_shared(config(&other), as_shared()).unwrap();
    assert_eq!(
        c.verify("good-token", now).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(other.calls(), 1);
}

#[tokio::test]
async fn unreadable_shared_values_are_misses() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let shared = Arc::new(FakeShared::default());
    let until = unix(now) as f64 + 300.0;
    for junk in [
        json!("not an object").to_string(),
        "{\"v\":1".to_owned(),
        json!({"v": 2, "src": "x", "until": until, "answer": {"active": true}}).to_string(),
    ] {
        shared.entries.lock().unwrap().insert(
            sha256_hex("good-token"),
            (junk.into_bytes(), Duration::from_secs(300)),
        );
        let node = IntrospectionVerifier::with_shared(
            config(&server),
            Arc::clone(&shared) as Arc<dyn SharedAnswers>,
        )
        .unwrap();
        assert!(node.verify("good-token", now).await.is_ok());
    }
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn a_failing_shared_level_means_calls_not_errors() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    let shared = Arc::new(FakeShared::default());
    shared.failing.store(true, Ordering::SeqCst);
    let [a, b] = two_nodes(&config(&server), &shared);

    assert!(a.verify("good-token", now).await.is_ok());
    assert!(b.verify("good-token", now).await.is_ok());
    assert_eq!(server.calls(), 2, "each node asks the endpoint itself");
    assert_eq!(shared.gets.load(Ordering::SeqCst), 2);
    assert_eq!(
        shared.puts.load(Ordering::SeqCst),
        0,
        "no write after a failed read"
    );
    // Within a second of the failure the store is not asked again: a hung
    // store costs one timeout per second, not one per token.
    shared.failing.store(false, Ordering::SeqCst);
    let failed_at = Instant::now();
    assert_eq!(
        a.verify("revoked", now).await,
        Err(IntrospectionError::Inactive)
    );
    assert_eq!(server.calls(), 3);
    assert_eq!(shared.gets.load(Ordering::SeqCst), 2, "resting");
    assert_eq!(shared.puts.load(Ordering::SeqCst), 0);

    // Back after the rest: answers are shared again.
    tokio::time::sleep(Duration::from_millis(1100).saturating_sub(failed_at.elapsed())).await;
    server.answer("next-token", active(now, 600));
    assert!(a.verify("next-token", now).await.is_ok());
    assert!(b.verify("next-token", now).await.is_ok());
    assert_eq!(server.calls(), 4, "node B read node A's answer");
}

#[tokio::test]
async fn concurrent_requests_on_a_node_make_one_shared_read() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    server.answer("good-token", active(now, 600));
    server.set_delay(Duration::from_millis(200));
    let shared = Arc::new(FakeShared::default());
    let [a, _] = two_nodes(&config(&server), &shared);
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.verify("good-token", now).await })
        })
        .collect();
    for r in requests {
        assert!(r.await.unwrap().is_ok());
    }
    assert_eq!(server.calls(), 1);
    assert_eq!(shared.gets.load(Ordering::SeqCst), 1);
    assert_eq!(shared.puts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_judged_alone_is_what_verify_makes_of_it() {
    init();
    let now = SystemTime::now();
    let server = As::start().await;
    let mut cfg = config(&server);
    cfg.issuer = Some(ISSUER.into());
    cfg.audiences = vec![AUDIENCE.into()];
    cfg.cache_size = 0;
    let verifier = IntrospectionVerifier::new(cfg).unwrap();

    let mut not_yet = active(now, 600);
    not_yet["nbf"] = json!(unix(now) + 3600);
    let mut other_audience = active(now, 600);
    other_audience["aud"] = json!("https://other.example.com");
    let mut mistyped = active(now, 600);
    mistyped["exp"] = json!("soon");
    let answers = [
        (active(now, 600), Ok(())),
        (
            json!({"active": false, "sub": 7}),
            Err(IntrospectionError::Inactive),
        ),
        (active(now, 0), Err(IntrospectionError::Inactive)),
        (not_yet, Err(IntrospectionError::Inactive)),
        (other_audience, Err(IntrospectionError::Inactive)),
        (mistyped, Err(IntrospectionError::Unavailable)),
        (json!({"sub": "x"}), Err(IntrospectionError::Unavailable)),
        (json!([true]), Err(IntrospectionError::Unavailable)),
    ];
    for (i, (answer, expected)) in answers.into_iter().enumerate() {
        let token = format!("token-{i}");
        server.answer(&token, answer.clone());
        let called = verifier.verify(&token, now).await;
        let judged = verifier.judge_answer(answer.to_string().as_bytes(), now);
        assert_eq!(judged, called, "{answer}");
        assert_eq!(judged.map(|_| ()), expected, "{answer}");
    }
    // A duplicated member is refused rather than read one way or the other.
    let duplicated = br#"{"active": false, "active": true, "iss": "https://as.example.com"}"#;
    assert_eq!(
        verifier.judge_answer(duplicated, now),
        Err(IntrospectionError::Unavailable)
    );
    assert_eq!(server.calls(), 8, "judging an answer calls nothing");
}
