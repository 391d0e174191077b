//! Bearer tokens through the gateway: the consumer comes from a claim,
//! refusals carry RFC 6750 challenges, and an unreachable identity provider
//! is a 503, not a 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "Zk3q8v1T0bq7Yw2mN5cR9xL4sP6uH8eJ";

/// An HS256 token signed with `SECRET`.
fn token(claims: Value) -> String {
    let header = b64url(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes());
    let payload = b64url(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let sig = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64url(sig.as_ref()))
}

async fn setup(verifier: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", BEARER_SPEC);
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
        "exp": unix_now() + 300, "scope": "items:read items:write"}),
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
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "shop", "exp": unix_now() - 3600}),
        ),
        (
            "wrong issuer",
            json!({"sub": "alice", "iss": "https://evil.test", "aud": "shop", "exp": unix_now() + 300}),
        ),
        (
            "wrong audience",
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "other", "exp": unix_now() + 300}),
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
        b64url(br#"{"alg":"none"}"#),
        b64url(
            json!({"sub": "alice", "iss": "https://idp.test", "aud": "shop", "exp": unix_now() + 300})
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
    let header = b64url(br#"{"alg":"ES256","kid":"k1"}"#);
    let payload = b64url(
        json!({"sub": "alice", "exp": unix_now() + 300})
            .to_string()
            .as_bytes(),
    );
    let t = format!("{header}.{payload}.{}", b64url(&[0u8; 64]));
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
    write(dir.path(), "spec.yaml", BEARER_SPEC);
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
                            json!({"active": true, "sub": "alice", "scope": "orders:read", "exp": unix_now() + 300})
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

/// The UTC date `days` from today, `YYYY-MM-DD` (civil from days,
/// H. Hinnant's algorithm).
fn date_in(days: i64) -> String {
    let z = i64::try_from(unix_now() / 86_400).unwrap() + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A weak secret: on the list of published example secrets.
const WEAK: &str = "your-256-bit-secret";

fn weak_verifier(until: &str) -> String {
    format!("{{type: jwt, algorithms: [HS256], secret: {WEAK}, weak_secret_until: \"{until}\"}}")
}

#[tokio::test]
async fn a_weak_secret_works_until_its_override_ends_and_says_so() {
    let until = date_in(30);
    let (dir, _up, moat) = setup(&weak_verifier(&until)).await;
    // `moat check` accepts it, with a warning at the override.
    let (ok, _, stderr) = check(dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: weak HMAC secret of scheme `Bearer` accepted until the end of {until}"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(WEAK),
        "the secret is never printed: {stderr}"
    );
    // So does the gateway, at start, and in metrics.
    moat.wait_stderr("weak HMAC secret of scheme `Bearer`")
        .await;
    let header = b64url(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes());
    let payload = b64url(
        json!({"sub": "alice", "exp": unix_now() + 300})
            .to_string()
            .as_bytes(),
    );
    let input = format!("{header}.{payload}");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEAK.as_bytes());
    let t = format!(
        "{input}.{}",
        b64url(ring::hmac::sign(&key, input.as_bytes()).as_ref())
    );
    let r = client()
        .get(moat.url("/items"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "identity works while the key is rotated");
    let m = moat.metrics().await;
    assert!(
        m.contains("moat_jwt_weak_secret_override_until_seconds{api=\"echo\",scheme=\"Bearer\"}"),
        "{m}"
    );
}

#[test]
fn weak_secret_overrides_are_time_boxed() {
    let refused = |verifier: String| {
        let dir = tempdir();
        write(dir.path(), "spec.yaml", BEARER_SPEC);
        let cfg = config(
            "http://127.0.0.1:9",
            &format!("    security:\n      Bearer: {verifier}\n"),
        );
        write(dir.path(), "moat.yaml", &cfg);
        check_fails(dir.path())
    };
    let err = refused(weak_verifier(&date_in(-1)));
    assert!(err.contains("weak HMAC secret"), "{err}");
    assert!(err.contains("has expired"), "{err}");
    let err = refused(weak_verifier(&date_in(120)));
    assert!(err.contains("more than 90 days ahead"), "{err}");
    let err = refused(weak_verifier("next week"));
    assert!(err.contains("is not a date"), "{err}");
    // A public key is no secret, whatever the override says.
    let pem = "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\\n-----END PUBLIC KEY-----\\n";
    let err = refused(format!(
        "{{type: jwt, algorithms: [HS256], secret: \"{pem}\"}}"
    ));
    assert!(err.contains("key material"), "{err}");
    let err = refused(format!(
        "{{type: jwt, algorithms: [HS256], secret: \"{pem}\", weak_secret_until: \"{}\"}}",
        date_in(10)
    ));
    assert!(err.contains("key material"), "{err}");
    assert!(!err.contains("MCowBQYDK2Vw"), "{err}");
}

#[tokio::test]
async fn tokens_must_name_a_consumer_that_can_be_passed_on() {
    let (_dir, up, moat) = setup(&hs256()).await;
    let c = client();
    let base = || json!({"iss": "https://idp.test", "aud": "shop", "exp": unix_now() + 300});
    let send = |claims: Value| {
        let c = c.clone();
        let url = moat.url("/items");
        async move { c.get(url).bearer_auth(token(claims)).send().await.unwrap() }
    };
    let mut refused = Vec::new();
    for (what, sub) in [
        ("no sub", None),
        ("an empty sub", Some(json!(""))),
        (
            "a sub with CR/LF",
            Some(json!("alice\r\nx-moat-roles: admin")),
        ),
        ("a sub that is not a string", Some(json!(42))),
        ("a sub too long to pass on", Some(json!("a".repeat(300)))),
    ] {
        let mut claims = base();
        if let Some(sub) = sub {
            claims["sub"] = sub;
        }
        let r = send(claims).await;
        assert_eq!(r.status(), 401, "{what}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer realm=\"moat\", error=\"invalid_token\"",
            "{what}"
        );
        refused.push(what);
    }
    assert_eq!(up.hits(), 0, "{refused:?}");

    // `scope` as an array of strings, as several providers send it.
    let mut claims = base();
    claims["sub"] = json!("alice");
    claims["scope"] = json!(["items:read", "items:write", "items:read"]);
    let r = send(claims).await;
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-moat-scopes"], "items:read items:write");
    let mut claims = base();
    claims["sub"] = json!("alice");
    claims["scope"] = json!(["items:read", 7]);
    assert_eq!(send(claims).await.status(), 401);
}

/// A JWKS endpoint with one P-256 key; counts the fetches.
async fn jwks_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let jwks = Es256Key::generate().jwks;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (counter, jwks) = (counter.clone(), jwks.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = jwks.clone();
                    async move { Ok::<_, std::convert::Infallible>(json_answer(body)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/jwks.json"), fetches)
}

#[tokio::test]
async fn a_reload_keeps_fetched_keys_unless_their_settings_change() {
    use std::sync::atomic::Ordering::SeqCst;
    let (jwks, fetches) = jwks_server().await;
    let verifier = format!("{{type: jwt, algorithms: [ES256], jwks_url: \"{jwks}\"}}");
    let (dir, _up, moat) = setup(&verifier).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fetches.load(SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "keys never fetched");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let fetched = fetches.load(SeqCst);
    for round in 1..=3 {
        moat.signal("HUP");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while moat.stderr().matches("config reloaded").count() < round {
            assert!(std::time::Instant::now() < deadline, "{}", moat.stderr());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        fetches.load(SeqCst),
        fetched,
        "reloads fetched the keys again"
    );

    // Settings that change the verifier build a new one, which fetches.
    let cfg = std::fs::read_to_string(dir.path().join("moat.yaml")).unwrap();
    write(
        dir.path(),
        "moat.yaml",
        &cfg.replace(
            "algorithms: [ES256]",
            "algorithms: [ES256], issuer: https://idp.test",
        ),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fetches.load(SeqCst) == fetched {
        assert!(
            std::time::Instant::now() < deadline,
            "a changed verifier did not fetch: {}",
            moat.stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
