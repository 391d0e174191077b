//! Test keys, token signing and a real JWKS / OIDC server on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "https://api.test";

/// Installs the crypto providers the tests rely on.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    moat_identity::jwt::provider::install_ring_provider();
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A private key to sign with, and its public forms.
#[derive(Clone)]
pub struct TestKey {
    pub encoding: EncodingKey,
    /// The public JWK, without `kid` and `alg`.
    pub jwk: Value,
    /// The public key as a `PUBLIC KEY` PEM block.
    pub public_pem: String,
}

impl TestKey {
    pub fn jwk_with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A 2048-bit RSA key made by the `openssl` command, once per test binary.
pub fn rsa_key() -> TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("rsa.pem");
        let public = dir.path().join("rsa.pub.pem");
        let (private_path, public_path) = (private.to_str().unwrap(), public.to_str().unwrap());
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private_path,
        ]);
        openssl(&["pkey", "-pubout", "-in", private_path, "-out", public_path]);
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_file(&private).unwrap();
        let pair = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap();
        let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        TestKey {
            encoding: EncodingKey::from_rsa_der(pkcs8.secret_pkcs8_der()),
            jwk: json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)}),
            public_pem: std::fs::read_to_string(&public).unwrap(),
        }
    })
    .clone()
}

/// Runs the `openssl` command; a missing command fails the test with the
/// package to install (never a skip: the RSA algorithms would go untested).
fn openssl(args: &[&str]) {
    let output = match Command::new("openssl").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the RSA tests generate keys with the `openssl` command, which is not installed: install the Debian package `openssl` (apt-get install openssl)"
        ),
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh ECDSA key for ES256 or ES384.
pub fn ec_key(alg: Algorithm) -> TestKey {
    let (signing, crv, spki_prefix) = match alg {
        Algorithm::ES256 => (
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
            "3059301306072a8648ce3d020106082a8648ce3d030107034200",
        ),
        Algorithm::ES384 => (
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
            "3076301006072a8648ce3d020106052b81040022036200",
        ),
        _ => unreachable!(),
    };
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = point[1..].split_at((point.len() - 1) / 2);
    let mut spki = hex(spki_prefix);
    spki.extend_from_slice(point);
    TestKey {
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)}),
        public_pem: pem("PUBLIC KEY", &spki),
    }
}

/// A fresh Ed25519 key.
pub fn ed_key() -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut spki = hex("302a300506032b6570032100");
    spki.extend_from_slice(pair.public_key().as_ref());
    TestKey {
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())}),
        public_pem: pem("PUBLIC KEY", &spki),
    }
}

/// A strong HMAC secret.
pub const SECRET: &[u8] = b"q3V9zK1xT8mW2rB6nJ4cY0hL7sF5gD1a-moat-test";

pub fn hmac_key() -> TestKey {
    TestKey {
        encoding: EncodingKey::from_secret(SECRET),
        jwk: json!({"kty": "oct", "k": b64(SECRET)}),
        public_pem: String::new(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Standard claims valid for `ttl` from `now`.
pub fn claims(now: SystemTime, ttl: u64) -> Value {
    let now = unix(now);
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + ttl,
        "scope": "read write",
    })
}

/// Signs `claims` with `key` (through jsonwebtoken and the ring provider).
pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &TestKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Replaces the last character of the signature, keeping it base64url.
pub fn tamper(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().unwrap();
    // 'A' and 'Q' differ in the high bits, which are always significant.
    t.push(if last == 'A' { 'Q' } else { 'A' });
    t
}

/// What the test IdP answers on `/jwks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Up,
    Error,
    Huge,
}

struct IdpState {
    jwks: Mutex<Value>,
    discovery: Mutex<Option<Value>>,
    mode: Mutex<Mode>,
    delay: Mutex<Duration>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
}

/// A JWKS and OIDC discovery server on 127.0.0.1, counting requests.
pub struct Idp {
    pub addr: SocketAddr,
    state: Arc<IdpState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Idp {
    pub async fn start(keys: Vec<Value>) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(IdpState {
            jwks: Mutex::new(json!({ "keys": keys })),
            discovery: Mutex::new(None),
            mode: Mutex::new(Mode::Up),
            delay: Mutex::new(Duration::ZERO),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
        });
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Connection tasks live in this set, so stopping the server
            // (aborting this task) also closes kept-alive connections.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&served);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Idp {
            addr,
            state,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn jwks_url(&self) -> String {
        self.url("/jwks")
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.state.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    pub fn set_discovery(&self, doc: Value) {
        *self.state.discovery.lock().unwrap() = Some(doc);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every connection.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn answer(state: &IdpState, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let json = |status: StatusCode, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    match req.uri().path() {
        "/jwks" => {
            state.jwks_hits.fetch_add(1, Ordering::SeqCst);
            let mode = *state.mode.lock().unwrap();
            match mode {
                Mode::Up => {
                    let body = serde_json::to_vec(&*state.jwks.lock().unwrap()).unwrap();
                    json(StatusCode::OK, body)
                }
                Mode::Error => json(StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec()),
                Mode::Huge => {
                    let mut body = br#"{"keys":[],"padding":""#.to_vec();
                    body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
                    body.extend(br#""}"#);
                    json(StatusCode::OK, body)
                }
            }
        }
        "/.well-known/openid-configuration" => {
            state.discovery_hits.fetch_add(1, Ordering::SeqCst);
            match state.discovery.lock().unwrap().clone() {
                Some(doc) => json(StatusCode::OK, serde_json::to_vec(&doc).unwrap()),
                None => json(StatusCode::NOT_FOUND, b"{}".to_vec()),
            }
        }
        _ => json(StatusCode::NOT_FOUND, b"{}".to_vec()),
    }
}

/// Polls `f` until it holds or 5 s pass.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
