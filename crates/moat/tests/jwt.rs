//! Bearer tokens through the gateway: the consumer comes from a claim,
//! refusals carry RFC 6750 challenges, and an unreachable identity provider
//! is a 503, not a 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: jwt, version: "1"}
security: [{Bearer: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Bearer: {type: http, scheme: bearer, bearerFormat: JWT}
"#;

const SECRET: &str = "Zk3q8v1T0bq7Yw2mN5cR9xL4sP6uH8eJ";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 token signed with `SECRET`.
fn token(claims: Value) -> String {
    let header = b64(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let sig = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(sig.as_ref()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn setup(verifier: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = config(
        &up.url(),
        &format!("    security:\n      Bearer: {verifier}\n"),
    );
    let cfg = format!("{cfg}consumers:\n  - id: alice\n    roles: [reader]\n");
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

fn hs256() -> String {
    format!(
        "{{type: jwt, algorithms: [HS256], secret: {SECRET}, issuer: https://idp.test, audiences: [shop]}}"
    )
}

#[tokio::test]
async fn valid_tokens_identify_the_consumer() {
    let (_dir, _up, moat) = setup(&hs256()).await;
    let t = token(
        json!({"sub": "alice", "iss": "https://idp.test", "aud": "shop",
        "exp": now() + 300, "scope": "items:read items:write"}),
    );
    let r = client()
        .get(moat.url("/items"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-moat-consumer"], "alice");
    assert_eq!(echo["headers"]["x-moat-roles"], "reader");
    assert_eq!(echo["headers"]["x-moat-scopes"], "items:read items:write");
    assert!(echo["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn refused_tokens_get_rfc6750_challenges() {
    let (_dir, up, moat) = setup(&hs256()).await;
    let c = client();
    let r = c.get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"moat\"");

    let cases = [
        (
            "expired",
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "shop", "exp": now() - 3600}),
        ),
        (
            "wrong issuer",
            json!({"sub": "alice", "iss": "https://evil.test", "aud": "shop", "exp": now() + 300}),
        ),
        (
            "wrong audience",
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "other", "exp": now() + 300}),
        ),
    ];
    for (what, claims) in cases {
        let r = c
            .get(moat.url("/items"))
            .bearer_auth(token(claims))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer realm=\"moat\", error=\"invalid_token\"",
            "{what}"
        );
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "urn:moat:problem:invalid-credentials", "{what}");
    }
    // alg: none is never accepted
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "shop", "exp": now() + 300})
                .to_string()
                .as_bytes()
        )
    );
    let r = c
        .get(moat.url("/items"))
        .bearer_auth(unsigned)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn unreachable_identity_provider_is_503() {
    let jwks = format!("http://127.0.0.1:{}/jwks.json", closed_port());
    let (_dir, _up, moat) = setup(&format!(
        "{{type: jwt, algorithms: [ES256], jwks_url: \"{jwks}\"}}"
    ))
    .await;
    let header = b64(br#"{"alg":"ES256","kid":"k1"}"#);
    let payload = b64(json!({"sub": "alice", "exp": now() + 300})
        .to_string()
        .as_bytes());
    let t = format!("{header}.{payload}.{}", b64(&[0u8; 64]));
    let r = client()
        .get(moat.url("/items"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:verifier-unavailable");
}

#[test]
fn weak_secrets_and_none_are_refused_at_load() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = config(
        "http://127.0.0.1:9",
        "    security:\n      Bearer: {type: jwt, algorithms: [HS256], secret: your-256-bit-secret}\n",
    );
    write(dir.path(), "moat.yaml", &cfg);
    let err = check_fails(dir.path());
    assert!(
        err.contains("moat.yaml:15:56: error: weak HMAC secret"),
        "{err}"
    );
    assert!(
        !err.contains("your-256-bit-secret"),
        "the secret itself is never printed:\n{err}"
    );
}

/// An RFC 7662 endpoint: `good-token` is active for alice, anything else
/// inactive; it insists on moat's client credentials.
async fn introspection_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let auth_ok = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            == Some(&format!(
                                "Basic {}",
                                base64::engine::general_purpose::STANDARD
                                    .encode("moat:client-secret-1234")
                            ));
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let form = String::from_utf8_lossy(&body).to_string();
                        let answer = if !auth_ok {
                            return Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(401)
                                    .body(Full::new(bytes::Bytes::new()))
                                    .unwrap(),
                            );
                        } else if form.contains("token=good-token") {
                            json!({"active": true, "sub": "alice", "scope": "orders:read", "exp": now() + 300})
                        } else {
                            json!({"active": false})
                        };
                        Ok(hyper::Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(bytes::Bytes::from(answer.to_string())))
                            .unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_cached() {
    let (idp, calls) = introspection_server().await;
    let verifier = format!(
        "{{type: introspection, url: \"http://{idp}/introspect\", client_id: moat, client_secret: client-secret-1234}}"
    );
    let (_dir, _up, moat) = setup(&verifier).await;
    let c = client();
    let r = c
        .get(moat.url("/items"))
        .bearer_auth("good-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-moat-consumer"], "alice");
    assert_eq!(echo["headers"]["x-moat-scopes"], "orders:read");
    // cached: no second call
    assert_eq!(
        get_status_bearer(&c, moat.url("/items"), "good-token").await,
        200
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    // inactive tokens are refused like any bad credential
    assert_eq!(
        get_status_bearer(&c, moat.url("/items"), "revoked-token").await,
        401
    );
}

#[tokio::test]
async fn wrong_client_credentials_at_the_endpoint_are_503() {
    let (idp, _calls) = introspection_server().await;
    let verifier = format!(
        "{{type: introspection, url: \"http://{idp}/introspect\", client_id: moat, client_secret: not-the-secret}}"
    );
    let (_dir, _up, moat) = setup(&verifier).await;
    assert_eq!(
        get_status_bearer(&client(), moat.url("/items"), "good-token").await,
        503
    );
}

async fn get_status_bearer(c: &reqwest::Client, url: String, token: &str) -> u16 {
    c.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
