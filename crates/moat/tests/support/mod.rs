//! Test harness: the real `moat` binary as a child process, a real upstream
//! server in the test process, real TLS with certificates made per test.
//! Everything binds 127.0.0.1 on ephemeral ports.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};

pub const MOAT: &str = env!("CARGO_BIN_EXE_moat");

/// The OpenAPI document every test API uses, unless a test writes its own.
/// A document whose one operation, `GET /items`, needs a bearer token
/// (security scheme `Bearer`), for the identity-provider tests.
pub const BEARER_SPEC: &str = r#"
openapi: 3.0.3
info: {title: idp, version: "1"}
security: [{Bearer: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Bearer: {type: http, scheme: bearer}
"#;

/// Base64url without padding, as JWTs and JWKs write it.
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 (P-256) signing key and the JWK set that publishes it as
/// `kid: k1`, for the identity-provider tests.
pub struct Es256Key {
    pair: ring::signature::EcdsaKeyPair,
    /// `{"keys": [the public key]}`.
    pub jwks: String,
}

impl Es256Key {
    pub fn generate() -> Self {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref(); // 0x04 || x || y
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "alg": "ES256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65])}]})
        .to_string();
        Es256Key { pair, jwks }
    }

    /// An ES256 token for alice, valid for five minutes, with `kid` in
    /// its header.
    pub fn token(&self, kid: &str) -> String {
        let header = b64url(
            serde_json::json!({"alg": "ES256", "kid": kid, "typ": "JWT"})
                .to_string()
                .as_bytes(),
        );
        let payload = b64url(
            serde_json::json!({"sub": "alice", "exp": unix_now() + 300})
                .to_string()
                .as_bytes(),
        );
        let input = format!("{header}.{payload}");
        let sig = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

/// `GET /items` on `moat` with `token` as a bearer token.
pub async fn get_items_with_bearer(moat: &Moat, token: &str) -> reqwest::Response {
    client()
        .get(moat.url("/items"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A `200` answer with `body` as JSON, for the test servers.
pub fn json_answer(body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Seconds since the Unix epoch, for token claims.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub const ECHO_SPEC: &str = r#"
openapi: 3.0.3
info: {title: echo, version: "1"}
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
    post:
      operationId: createItem
      requestBody:
        content:
          application/json: {schema: {type: object}}
          text/plain: {}
      responses: {"201": {description: ok}}
  /items/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {operationId: getItem, responses: {"200": {description: ok}}}
  /old:
    get: {operationId: oldItems, deprecated: true, responses: {"200": {description: ok}}}
  /upload:
    post:
      operationId: upload
      requestBody: {content: {application/octet-stream: {}}}
      responses: {"200": {description: ok}}
  /download:
    get: {operationId: download, responses: {"200": {description: ok}}}
  /slow:
    get: {operationId: slow, responses: {"200": {description: ok}}}
  /ws:
    get: {operationId: websocket, responses: {"101": {description: upgrade}}}
"#;

/// A 32-character admin token for test configs.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `moat admin token create --name NAME --role ROLE` against
/// `<dir>/moat.yaml`: the new admin token.
pub fn create_admin_token(dir: &Path, name: &str, role: &str) -> String {
    let out = Command::new(MOAT)
        .args(["admin", "token", "create", "--config"])
        .arg(dir.join("moat.yaml"))
        .args(["--name", name, "--role", role])
        .env_remove("MOAT_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A config with one plain listener, the admin listener and one API named
/// `echo` in front of `upstream`. `extra_api` lines are added to the API entry.
pub fn config(upstream: &str, extra_api: &str) -> String {
    format!(
        "listeners:\n  - bind: 127.0.0.1:0\nadmin:\n  bind: 127.0.0.1:0\n  token: {ADMIN_TOKEN}\n\
         upstreams:\n  echo:\n    targets: [\"{upstream}\"]\n    response_timeout: 2s\n\
         apis:\n  - name: echo\n    spec: spec.yaml\n    upstream: echo\n{extra_api}\
         reload:\n  debounce: 100ms\nshutdown:\n  grace_period: 5s\n"
    )
}

/// Like [`config`], with `listener` lines (each `    key: value\n`) added to
/// the listener entry.
pub fn config_with_listener(upstream: &str, listener: &str, extra_api: &str) -> String {
    config(upstream, extra_api).replacen(
        "  - bind: 127.0.0.1:0\n",
        &format!("  - bind: 127.0.0.1:0\n{listener}"),
        1,
    )
}

/// A running `moat serve`.
pub struct Moat {
    child: Child,
    pub addrs: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Moat {
    /// Starts `moat serve --config <dir>/moat.yaml` and waits until it says
    /// where it listens.
    pub fn start(dir: &Path) -> Moat {
        let config = dir.join("moat.yaml");
        Moat::spawn(&["serve", "--config", config.to_str().unwrap()])
    }

    /// Runs `moat ARGS…` and waits for its "listening"/"admin" lines.
    pub fn spawn(args: &[&str]) -> Moat {
        Moat::spawn_with_env(args, &[])
    }

    /// [`Moat::spawn`] with extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Moat {
        let mut cmd = Command::new(MOAT);
        cmd.args(args).envs(env.iter().copied());
        Moat::spawn_command(cmd)
    }

    /// Runs `cmd` (which must end up running `moat`, e.g. through a
    /// shell that sets limits and `exec`s it) and waits for its
    /// "listening"/"admin" lines.
    pub fn spawn_command(mut cmd: Command) -> Moat {
        if !cmd.get_envs().any(|(k, _)| k == "MOAT_LOG") {
            cmd.env("MOAT_LOG", "info");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn moat");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err_pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                lines.lock().unwrap().push(line);
            }
        });
        let out_pipe = child.stdout.take().unwrap();
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        // The admin line comes last; every test config has an admin listener.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("moat: listening on ") {
                        addrs.push(a.parse().unwrap());
                    } else if let Some(a) = line.strip_prefix("moat: admin on ") {
                        let admin = Some(a.parse().unwrap());
                        break Moat {
                            child,
                            addrs,
                            admin,
                            stderr,
                            stdout,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("moat did not start:\n{}", stderr.lock().unwrap().join("\n"));
                }
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addrs[0], path)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`, `INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "moat did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until stdout contains `text`; returns all of stdout.
    pub async fn wait_log_text(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout.lock().unwrap().join("\n");
            if out.contains(text) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "stdout never said {text:?}:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Access-log lines so far, parsed.
    pub fn access_log(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l}: {e}")))
            .collect()
    }

    /// Waits until an access-log line satisfies `pred` (lines are written
    /// asynchronously).
    pub async fn wait_log(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = self.access_log().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no matching access-log line in {:?}",
                self.access_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin listener's `/metrics` text (the config's admin token).
    pub async fn metrics(&self) -> String {
        client()
            .get(format!(
                "http://{}/metrics",
                self.admin.expect("an admin listener")
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until stderr contains `text`.
    pub async fn wait_stderr(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "stderr never said {text:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Moat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST /admin/keys` for `consumer`, whatever the answer.
pub async fn admin_post_key(moat: &Moat, consumer: &str) -> reqwest::Response {
    client()
        .post(format!("http://{}/admin/keys", moat.admin.unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"consumer": consumer}))
        .send()
        .await
        .unwrap()
}

/// `moat keys ARGS --config DIR/moat.yaml`; its output. Panics when the
/// command fails.
pub fn moat_keys(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(MOAT)
        .args(["keys", "--config"])
        .arg(dir.join("moat.yaml"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTP client that talks to loopback only, never through a proxy.
/// Creates an API key for `consumer` through `moat`'s admin API (the
/// config's `admin.token`): the key, and its record's id.
pub async fn admin_create_key(moat: &Moat, consumer: &str) -> (String, String) {
    let r = admin_post_key(moat, consumer).await;
    let status = r.status();
    let made: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{made}");
    (
        made["key"].as_str().unwrap().to_string(),
        made["record"]["key_id"].as_str().unwrap().to_string(),
    )
}

pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The status of a GET to `url`.
pub async fn get_status(c: &reqwest::Client, url: impl reqwest::IntoUrl) -> u16 {
    c.get(url).send().await.unwrap().status().as_u16()
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

// ---------------------------------------------------------------------------
// The upstream.

type Body = BoxBody<Bytes, std::io::Error>;

/// Hooks the tests use to observe and pace the upstream.
#[derive(Default)]
pub struct UpstreamState {
    /// Requests seen: method, path and query.
    pub seen: Mutex<Vec<String>>,
    /// TCP connections accepted.
    pub connections: std::sync::atomic::AtomicUsize,
    /// Notified when the first chunk of an `/upload` body arrives.
    pub upload_started: Notify,
    /// `/download` waits for this after its first chunk.
    pub download_resume: Notify,
    /// The last id `POST /tickets` handed out.
    pub last_order: std::sync::atomic::AtomicU64,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
    stop: watch::Sender<bool>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts the test upstream on 127.0.0.1:0, plain or with `tls`.
pub async fn upstream(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(UpstreamState::default());
    let (stop, mut stop_rx) = watch::channel(false);
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                _ = stop_rx.changed() => return,
            };
            st.connections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let st = st.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| respond(st.clone(), req));
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(s), svc)
                                .with_upgrades()
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), svc)
                            .with_upgrades()
                            .await;
                    }
                }
            });
        }
    });
    Upstream { addr, state, stop }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

async fn respond(
    st: Arc<UpstreamState>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let path = req.uri().path().to_string();
    st.seen.lock().unwrap().push(format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map_or("", |p| p.as_str())
    ));
    match path.as_str() {
        "/leaky/1" => {
            // An upstream that returns more than its document declares.
            let body = json!({
                "id": 1, "name": "alice", "email": "alice@example.com",
                "passwordHash": "$2b$12$abcdefghijklmnopqrstuv", "ssn": "123-45-6789",
                "card": "4111 1111 1111 1111", "internal": {"debug": true, "db": "10.0.0.5"},
            });
            Ok(Response::builder()
                .header("content-type", "application/json")
                .header("server", "Werkzeug/2.0.1 Python/3.8")
                .header("x-powered-by", "Flask")
                .body(full(body.to_string()))
                .unwrap())
        }
        "/tickets" if req.method() == Method::POST => {
            // A create: a new id on every call (an upstream that reuses ids
            // answers `/tickets?reuse=<id>`).
            let id = match req.uri().query().and_then(|q| q.strip_prefix("reuse=")) {
                Some(id) => id.parse::<u64>().unwrap_or(0),
                None => {
                    st.last_order
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                        + 1
                }
            };
            Ok(Response::builder()
                .status(StatusCode::CREATED)
                .header("content-type", "application/json")
                .body(full(json!({"order": {"id": id, "status": "new"}}).to_string()))
                .unwrap())
        }
        "/graphql" => {
            // A GraphQL server that suggests field names in its errors.
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            let answer = if String::from_utf8_lossy(&body).contains("nme") {
                json!({"errors": [{"message": "Cannot query field \"nme\" on type \"User\". Did you mean \"name\"?"}]})
            } else {
                json!({"data": {"user": {"name": "alice"}}})
            };
            Ok(Response::builder()
                .header("content-type", "application/json")
                .body(full(answer.to_string()))
                .unwrap())
        }
        "/login" if req.method() == Method::POST => {
            // A login that tells a wrong password from an unknown user,
            // as many do: `alice` / `right` is the one account.
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            let v: Value = serde_json::from_slice(&body).unwrap_or_default();
            let (status, answer) = match (v["username"].as_str(), v["password"].as_str()) {
                (Some("alice"), Some("right")) => {
                    (StatusCode::OK, json!({"auth_token": "tok-alice-0123456789"}))
                }
                (Some("alice"), _) => (
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "wrong password for alice"}),
                ),
                _ => (StatusCode::NOT_FOUND, json!({"error": "no such user"})),
            };
            Ok(Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(full(answer.to_string()))
                .unwrap())
        }
        p if p.starts_with("/owned/") => {
            // An object whose answer names its owner: `/owned/<name>`.
            let owner = &p["/owned/".len()..];
            Ok(Response::builder()
                .header("content-type", "application/json")
                .body(full(json!({"owner": owner, "note": "private"}).to_string()))
                .unwrap())
        }
        p if p.starts_with("/records/") => {
            // Records 1 to 40 exist; every other id is 404.
            let exists = p["/records/".len()..]
                .parse::<u32>()
                .is_ok_and(|n| (1..=40).contains(&n));
            let status = if exists {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            Ok(Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(full("{}"))
                .unwrap())
        }
        "/crash" => Ok(Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header("content-type", "text/html")
            .body(full(
                "Traceback (most recent call last):\n  File \"app.py\", line 42\npsycopg2.errors.SyntaxError: SELECT * FROM users WHERE id = '1''",
            ))
            .unwrap()),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(Response::new(full("slow done")))
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut total = 0usize;
            let mut first = true;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(std::io::Error::other)?;
                if let Some(data) = frame.data_ref() {
                    total += data.len();
                    if first && total > 0 {
                        first = false;
                        st.upload_started.notify_one();
                    }
                }
            }
            Ok(Response::new(full(total.to_string())))
        }
        "/download" => {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
            let st = st.clone();
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let _ = tx.send(Ok(Frame::data(chunk.clone()))).await;
                st.download_resume.notified().await;
                for _ in 0..255 {
                    if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                        return;
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|f| (f, rx))
            });
            Ok(Response::new(BodyExt::boxed(StreamBody::new(stream))))
        }
        "/ws" => {
            // A minimal upgrade: 101, then echo whatever arrives.
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            Ok(Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(full(""))
                .unwrap())
        }
        _ => {
            let method = req.method().to_string();
            let pq = req
                .uri()
                .path_and_query()
                .map_or(String::new(), |p| p.to_string());
            let mut headers = serde_json::Map::new();
            for (k, v) in req.headers() {
                headers.insert(k.to_string(), json!(v.to_str().unwrap_or("<binary>")));
            }
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            let echo = json!({
                "method": method,
                "path": pq,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            Ok(Response::builder()
                .header("content-type", "application/json")
                .header("connection", "keep-alive, x-upstream-secret")
                .header("x-upstream-secret", "hop-by-hop")
                .header("x-upstream", "yes")
                .body(full(echo.to_string()))
                .unwrap())
        }
    }
}

/// An argon2id hash of `password`, from `moat hash-password`.
pub fn hash_password(password: &str) -> String {
    let mut child = Command::new(MOAT)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{password}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Writes `spec` and a config with `extra_api` lines (and an upstream that
/// is never called) and expects `moat check` to refuse them; returns what it
/// printed on stderr.
pub fn check_api_fails(spec: &str, extra_api: &str) -> String {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", spec);
    write(
        dir.path(),
        "moat.yaml",
        &config("http://127.0.0.1:9", extra_api),
    );
    check_fails(dir.path())
}

/// Runs `moat check` on `<dir>/moat.yaml` and expects it to fail; returns
/// what it printed on stderr.
pub fn check_fails(dir: &Path) -> String {
    let (ok, _, stderr) = check(dir);
    assert!(!ok, "moat check accepted the config");
    stderr
}

/// Runs `moat check --config <dir>/moat.yaml`; (success, stdout, stderr).
pub fn check(dir: &Path) -> (bool, String, String) {
    let out = Command::new(MOAT)
        .args(["check", "--config"])
        .arg(dir.join("moat.yaml"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port nothing listens on. It is taken below the kernel's
/// ephemeral range (`ip_local_port_range`, from 32768 by default), which
/// is where every listener of the tests gets its port (`:0`): a port from
/// that range, once released, could be handed to another test's listener
/// running in parallel, and the "closed" port would then answer.
pub fn closed_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread the processes of a parallel run over the range.
    let start = 20_000 + (std::process::id() % 1000) as u16 * 10;
    for _ in 0..10_000 {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        let port = 20_000 + (start - 20_000 + offset) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below the ephemeral range");
}

/// Sends one raw HTTP/1.1 request (the target exactly as given, which
/// clients like reqwest would normalise) and returns the status code.
pub async fn raw_status(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// One HTTP/1.1 answer read off a raw socket.
pub struct Answer {
    pub status: u16,
    /// The head, lower case.
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// Reads one answer to the end of the connection.
pub async fn read_answer(s: &mut tokio::net::TcpStream) -> Answer {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway answered and closed")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// Writes `bytes` exactly as given and reads every answer the gateway
/// gives until it closes the connection (give its listener a short
/// `header_read_timeout`: that is when it closes an idle keep-alive
/// connection): each answer split off by its own framing
/// (`Content-Length` or chunked), so a second answer is never mistaken for
/// part of the first one's body.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<Answer> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    // A reset after the answers (the gateway closing with unread input)
    // still leaves what was read.
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway answered and closed");
    split_answers(&out)
}

/// The answers in `out`, in order.
pub fn split_answers(mut out: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !out.is_empty() {
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(out)));
        let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let mut rest = &out[end + 4..];
        let field = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let mut body = Vec::new();
        if let Some(len) = field("content-length:") {
            let len: usize = len.parse().unwrap();
            body.extend_from_slice(&rest[..len]);
            rest = &rest[len..];
        } else if field("transfer-encoding:").is_some_and(|te| te == "chunked") {
            loop {
                let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&rest[..line])
                        .split(';')
                        .next()
                        .unwrap()
                        .trim(),
                    16,
                )
                .unwrap();
                rest = &rest[line + 2..];
                if size == 0 {
                    let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                    rest = &rest[end + 2..];
                    break;
                }
                body.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
            }
        } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
            // Delimited by the close.
            body.extend_from_slice(rest);
            rest = &[];
        }
        answers.push(Answer {
            status,
            head,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        out = rest;
    }
    answers
}

// ---------------------------------------------------------------------------
// Certificates.

/// A test CA and a server certificate for `localhost` and 127.0.0.1.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// Client certificates issued by the same CA: (common name, cert + key PEM).
    pub clients: Vec<(String, String)>,
}

pub fn pki() -> Pki {
    pki_with_clients(&[])
}

/// A PKI whose CA also issues client certificates for these common names.
pub fn pki_with_clients(client_cns: &[&str]) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "moat test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let clients = client_cns
        .iter()
        .map(|cn| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, *cn);
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &issuer).unwrap();
            (
                cn.to_string(),
                format!("{}{}", cert.pem(), key.serialize_pem()),
            )
        })
        .collect();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        clients,
    }
}

/// A rustls acceptor for the test upstream, with the PKI's server cert.
pub fn acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    install_crypto();
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A client that trusts only the PKI's CA.
pub fn tls_client(pki: &Pki) -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

/// The demo's bookstore API alone (`moat demo --upstream-only`), with a set
/// of its planted weaknesses (`all`, `none`, or a list).
pub struct Bookstore {
    child: Child,
    pub addr: SocketAddr,
}

impl Bookstore {
    pub fn start(weaknesses: &str) -> Bookstore {
        let mut child = Command::new(MOAT)
            .args([
                "demo",
                "--upstream-only",
                "--listen",
                "127.0.0.1:0",
                "--weaknesses",
                weaknesses,
            ])
            .env("MOAT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn moat demo");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("moat demo: bookstore API listening on ") {
                        return Bookstore {
                            child,
                            addr: a.trim().parse().unwrap(),
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the bookstore did not start");
                }
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Bookstore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bookstore's document, as the demo serves it.
pub fn bookstore_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bookstore/openapi.yaml")
}

/// A scan config for the bookstore at `target`: alice and bob as ordinary
/// users and admin as the privileged user, each logging in at
/// `POST /api/login`.
pub fn bookstore_scan_config(dir: &Path, target: &str) -> PathBuf {
    let login = |name: &str, role: &str, password: &str| {
        format!(
            "  - name: {name}\n    role: {role}\n    login:\n      path: /api/login\n      json: {{username: {name}, password: {password}}}\n      token: {{pointer: /auth_token}}\n"
        )
    };
    let text = format!(
        "target: {target}\nspec: {spec}\nrate: 100\nidentities:\n{}{}{}",
        login("alice", "user", "wonderland"),
        login("bob", "user", "wonderland"),
        login("admin", "privileged", "through-the-looking-glass"),
        spec = bookstore_spec().display(),
    );
    write(dir, "scan.yaml", &text)
}

/// Runs `moat scan ARGS…` to the end: its exit code, stdout and stderr.
pub fn scan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(MOAT)
        .arg("scan")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run moat scan");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a JSON scan of the bookstore at `target` with `extra` arguments
/// (`--checks bola`, `--allow-writes`): the report.
pub fn scan_bookstore(dir: &Path, target: &str, extra: &[&str]) -> Value {
    let config = bookstore_scan_config(dir, target);
    let mut args = vec!["--config", config.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = scan(&args);
    assert!(
        code == 0 || code == 1,
        "moat scan failed ({code}):\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The rule ids of a JSON report's findings.
pub fn rules_found(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["rule"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a JSON report's finding is: `METHOD /path` of its documented
/// operation, or the path alone for an undocumented one.
pub fn finding_place(finding: &Value) -> String {
    match finding["operation"].as_object() {
        Some(op) => format!(
            "{} {}",
            op["method"].as_str().unwrap_or_default(),
            op["path"].as_str().unwrap_or_default()
        ),
        None => finding["path"].as_str().unwrap_or_default().to_string(),
    }
}
