//! One trust store for outgoing TLS (`outbound`): a JWKS endpoint and an
//! introspection endpoint behind a private CA work with `outbound.ca` and
//! fail, saying why, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::*;

/// An identity provider over TLS with the PKI's server certificate:
/// `/jwks.json` (one P-256 key, `kid: k1`) and `/introspect` (every token
/// active for alice). Counts the calls.
struct Idp {
    base: String,
    key: Es256Key,
    calls: Arc<AtomicUsize>,
}

impl Idp {
    async fn start(pki: &Pki) -> Idp {
        use http_body_util::BodyExt;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        let key = Es256Key::generate();
        let jwks = key.jwks.clone();
        let acceptor = acceptor(pki);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, jwks, acceptor) = (counter.clone(), jwks.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let jwks = jwks.clone();
                        async move {
                            let body = if req.uri().path() == "/jwks.json" {
                                jwks
                            } else {
                                let _ = req.into_body().collect().await;
                                json!({"active": true, "sub": "alice", "exp": unix_now() + 300})
                                    .to_string()
                            };
                            Ok::<_, std::convert::Infallible>(json_answer(body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Idp {
            base: format!("https://127.0.0.1:{}", addr.port()),
            key,
            calls,
        }
    }

    /// An ES256 token for alice signed with the JWKS key.
    fn token(&self) -> String {
        self.key.token("k1")
    }
}

/// moat in front of the test upstream with `verifier` for `Bearer`, and
/// `outbound` lines at the top level.
async fn gateway(verifier: &str, outbound: &str, pki: &Pki) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", BEARER_SPEC);
    write(dir.path(), "ca.pem", &pki.ca_pem);
    let cfg = config(
        &up.url(),
        &format!("    security:\n      Bearer: {verifier}\n"),
    );
    let cfg = format!("{cfg}consumers:\n  - id: alice\n{outbound}");
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

async fn status_with(moat: &Moat, token: &str) -> (u16, Value) {
    let r = get_items_with_bearer(moat, token).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn jwks_behind_a_private_ca_needs_outbound_ca() {
    let pki = pki();
    let idp = Idp::start(&pki).await;
    let verifier = format!(
        "{{type: jwt, algorithms: [ES256], jwks_url: \"{}/jwks.json\"}}",
        idp.base
    );

    let (_dir, up, moat) = gateway(&verifier, "outbound:\n  ca: ca.pem\n", &pki).await;
    let (status, echo) = status_with(&moat, &idp.token()).await;
    assert_eq!(status, 200, "{}", moat.stderr());
    assert_eq!(echo["headers"]["x-moat-consumer"], "alice");
    assert_eq!(up.hits(), 1);
    drop(moat);

    // Without it the IdP's certificate is not trusted: the token cannot
    // be checked (503, fail closed) and the log says why.
    let (_dir, up, moat) = gateway(&verifier, "", &pki).await;
    let (status, problem) = status_with(&moat, &idp.token()).await;
    assert_eq!(status, 503);
    assert_eq!(problem["type"], "urn:moat:problem:verifier-unavailable");
    assert_eq!(up.hits(), 0);
    moat.wait_stderr("invalid peer certificate").await;
}

#[tokio::test]
async fn introspection_behind_a_private_ca_needs_outbound_ca() {
    let pki = pki();
    let idp = Idp::start(&pki).await;
    let verifier = format!(
        "{{type: introspection, url: \"{}/introspect\", client_id: moat, client_secret: client-secret-1234}}",
        idp.base
    );

    let (_dir, up, moat) = gateway(&verifier, "outbound:\n  ca: ca.pem\n", &pki).await;
    let (status, echo) = status_with(&moat, "opaque-token").await;
    assert_eq!(status, 200, "{}", moat.stderr());
    assert_eq!(echo["headers"]["x-moat-consumer"], "alice");
    assert_eq!(idp.calls.load(Ordering::SeqCst), 1);
    assert_eq!(up.hits(), 1);
    drop(moat);

    let (_dir, up, moat) = gateway(&verifier, "", &pki).await;
    let (status, problem) = status_with(&moat, "opaque-token").await;
    assert_eq!(status, 503);
    assert_eq!(problem["type"], "urn:moat:problem:verifier-unavailable");
    assert_eq!(up.hits(), 0);
    moat.wait_stderr("invalid peer certificate").await;
    // The TLS handshake failed: the endpoint never got a request.
    assert_eq!(idp.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn upstreams_use_outbound_ca_unless_they_name_their_own() {
    let pki = pki();
    let other = support::pki();
    let up = upstream(Some(acceptor(&pki))).await;
    let target = format!("https://localhost:{}", up.addr.port());
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "ca.pem", &pki.ca_pem);
    write(dir.path(), "other.pem", &other.ca_pem);
    let base = config(&target, "");
    // The outbound CA reaches the upstream.
    write(
        dir.path(),
        "moat.yaml",
        &format!("{base}outbound:\n  ca: ca.pem\n  system_roots: false\n"),
    );
    let moat = Moat::start(dir.path());
    assert_eq!(get_status(&client(), moat.url("/items")).await, 200);
    drop(moat);
    // The upstream's own `tls.ca` replaces it.
    let pinned = base.replace(
        "    response_timeout: 2s\n",
        "    response_timeout: 2s\n    tls: {ca: other.pem}\n",
    );
    write(
        dir.path(),
        "moat.yaml",
        &format!("{pinned}outbound:\n  ca: ca.pem\n"),
    );
    let moat = Moat::start(dir.path());
    assert_eq!(get_status(&client(), moat.url("/items")).await, 502);
}

#[test]
fn outbound_settings_are_checked() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "not-pem.pem", "not a certificate\n");
    let base = config("http://127.0.0.1:9", "");
    write(
        dir.path(),
        "moat.yaml",
        &format!("{base}outbound:\n  system_roots: false\n"),
    );
    let err = check_fails(dir.path());
    assert!(err.contains("no CA would be trusted"), "{err}");
    write(
        dir.path(),
        "moat.yaml",
        &format!("{base}outbound:\n  ca: not-pem.pem\n"),
    );
    let err = check_fails(dir.path());
    assert!(err.contains("no PEM CERTIFICATE block found"), "{err}");
}
