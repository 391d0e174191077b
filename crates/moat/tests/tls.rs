//! TLS on both sides, with certificates generated per test: HTTPS listeners
//! with HTTP/1.1 and HTTP/2 (ALPN), HSTS, minimum version, redirect of plain
//! HTTP, and verified TLS towards the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tls_config(upstream: &str, listeners: &str, upstream_extra: &str) -> String {
    format!(
        "listeners:\n{listeners}admin:\n  bind: 127.0.0.1:0\n  token: {ADMIN_TOKEN}\n\
         upstreams:\n  echo:\n    targets: [\"{upstream}\"]\n{upstream_extra}\
         apis:\n  - name: echo\n    spec: spec.yaml\n    upstream: echo\n"
    )
}

fn write_pki(dir: &std::path::Path, pki: &Pki) {
    write(dir, "ca.pem", &pki.ca_pem);
    write(dir, "cert.pem", &pki.cert_pem);
    write(dir, "key.pem", &pki.key_pem);
}

fn https(addr: SocketAddr, path: &str) -> String {
    format!("https://localhost:{}{}", addr.port(), path)
}

#[tokio::test]
async fn https_listener_speaks_h2_and_http1_with_hsts() {
    let pki = pki();
    let up = upstream(None).await;
    let dir = tempdir();
    write_pki(dir.path(), &pki);
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let listeners = "  - bind: 127.0.0.1:0\n    tls: {cert: cert.pem, key: key.pem}\n";
    write(
        dir.path(),
        "moat.yaml",
        &tls_config(&up.url(), listeners, ""),
    );
    let moat = Moat::start(dir.path());
    let addr = moat.addrs[0];

    let c = tls_client(&pki);
    let r = c.get(https(addr, "/items")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN should pick h2");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
    // h2 requests reach an HTTP/1.1 upstream with a Host of the upstream's
    assert_eq!(echo["headers"]["host"], up.addr.to_string());

    // POST with a body over h2
    let r = c
        .post(https(addr, "/items"))
        .header("content-type", "text/plain")
        .body("over h2")
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["body"], "over h2");

    // HTTP/1.1 over TLS too
    install_crypto();
    let h1 = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let r = h1.get(https(addr, "/items")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);

    // denials over TLS carry HSTS too
    let r = c.get(https(addr, "/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn minimum_tls_version_is_enforced() {
    let pki = pki();
    let up = upstream(None).await;
    let dir = tempdir();
    write_pki(dir.path(), &pki);
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let listeners =
        "  - bind: 127.0.0.1:0\n    tls: {cert: cert.pem, key: key.pem, min_version: \"1.3\"}\n";
    write(
        dir.path(),
        "moat.yaml",
        &tls_config(&up.url(), listeners, ""),
    );
    let moat = Moat::start(dir.path());
    install_crypto();
    let tls12_only = reqwest::Client::builder()
        .no_proxy()
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(
        tls12_only
            .get(https(moat.addrs[0], "/items"))
            .send()
            .await
            .is_err()
    );
    let ok = tls_client(&pki)
        .get(https(moat.addrs[0], "/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn plain_http_is_redirected_to_https() {
    let pki = pki();
    let up = upstream(None).await;
    let dir = tempdir();
    write_pki(dir.path(), &pki);
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let listeners = "  - bind: 127.0.0.1:0\n    tls: {cert: cert.pem, key: key.pem}\n\
                     \x20 - bind: 127.0.0.1:0\n    redirect_to_https: {port: 8443}\n";
    write(
        dir.path(),
        "moat.yaml",
        &tls_config(&up.url(), listeners, ""),
    );
    let moat = Moat::start(dir.path());
    let mut s = tokio::net::TcpStream::connect(moat.addrs[1]).await.unwrap();
    s.write_all(
        b"GET /items?page=2 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let lower = out.to_lowercase();
    assert!(lower.starts_with("http/1.1 308"), "{out}");
    assert!(
        lower.contains("location: https://api.example.com:8443/items?page=2"),
        "{out}"
    );
    assert_eq!(up.hits(), 0, "a redirect never reaches the upstream");
}

#[tokio::test]
async fn upstream_tls_is_verified_against_the_configured_ca() {
    let pki = pki();
    let up = upstream(Some(acceptor(&pki))).await;
    let dir = tempdir();
    write_pki(dir.path(), &pki);
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    let target = format!("https://localhost:{}", up.addr.port());
    let listeners = "  - bind: 127.0.0.1:0\n";

    write(
        dir.path(),
        "moat.yaml",
        &tls_config(&target, listeners, "    tls: {ca: ca.pem}\n"),
    );
    let moat = Moat::start(dir.path());
    let r = client().get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["path"], "/items");
    drop(moat);

    // Without the CA the system roots do not know the test CA: refused.
    write(dir.path(), "moat.yaml", &tls_config(&target, listeners, ""));
    let moat = Moat::start(dir.path());
    let r = client().get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:upstream-unavailable");
}

#[tokio::test]
async fn unreadable_certificates_are_config_errors() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", ECHO_SPEC);
    write(dir.path(), "cert.pem", "not a certificate\n");
    write(dir.path(), "key.pem", "not a key\n");
    let listeners = "  - bind: 127.0.0.1:0\n    tls: {cert: cert.pem, key: key.pem}\n";
    write(
        dir.path(),
        "moat.yaml",
        &tls_config("http://127.0.0.1:1", listeners, ""),
    );
    let err = check_fails(dir.path());
    assert!(
        err.contains("moat.yaml:3:17: error: cannot read certificate chain"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

const MTLS_SPEC: &str = r#"
openapi: 3.1.0
info: {title: mtls, version: "1"}
security: [{Mtls: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Mtls: {type: mutualTLS}
"#;

fn mtls_client(pki: &Pki, identity_pem: Option<&str>) -> reqwest::Client {
    install_crypto();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = identity_pem {
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn mtls_setup(required: bool) -> (tempfile::TempDir, Upstream, Moat, Pki) {
    mtls_setup_with(required, "").await
}

async fn mtls_setup_with(
    required: bool,
    more_consumers: &str,
) -> (tempfile::TempDir, Upstream, Moat, Pki) {
    let pki = pki_with_clients(&["billing-service", "stranger"]);
    let up = upstream(None).await;
    let dir = tempdir();
    write_pki(dir.path(), &pki);
    write(dir.path(), "spec.yaml", MTLS_SPEC);
    let listeners = format!(
        "  - bind: 127.0.0.1:0\n    tls: {{cert: cert.pem, key: key.pem, client_auth: {{ca: ca.pem, required: {required}}}}}\n"
    );
    let cfg = tls_config(&up.url(), &listeners, "").replace(
        "    upstream: echo\n",
        "    upstream: echo\n    security:\n      Mtls: {type: mtls}\n",
    );
    let cfg = format!(
        "{cfg}consumers:\n  - id: billing\n    roles: [service]\n    certificates: [{{subject_cn: billing-service}}]\n{more_consumers}"
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat, pki)
}

#[tokio::test]
async fn client_certificates_identify_consumers() {
    let (_dir, up, moat, pki) = mtls_setup(false).await;
    let url = https(moat.addrs[0], "/items");

    let billing = mtls_client(&pki, Some(&pki.clients[0].1));
    let r = billing.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["x-moat-consumer"], "billing");
    assert_eq!(echo["headers"]["x-moat-roles"], "service");

    // a valid certificate that maps to no consumer identifies nobody
    let stranger = mtls_client(&pki, Some(&pki.clients[1].1));
    let r = stranger.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:invalid-credentials");

    // no certificate: the handshake succeeds (optional), the operation refuses
    let r = mtls_client(&pki, None).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:unauthenticated");

    // a certificate from another CA fails the handshake
    let other = pki_with_clients(&["billing-service"]);
    let forged = mtls_client(&pki, Some(&other.clients[0].1));
    assert!(forged.get(&url).send().await.is_err());
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn a_certificate_two_consumers_match_identifies_nobody() {
    let (_dir, up, moat, pki) = mtls_setup_with(
        false,
        "  - id: admin\n    roles: [admin]\n    certificates: [{subject_cn: billing-service}]\n",
    )
    .await;
    let url = https(moat.addrs[0], "/items");
    let billing = mtls_client(&pki, Some(&pki.clients[0].1));
    for _ in 0..3 {
        let r = billing.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["type"], "urn:moat:problem:invalid-credentials");
    }
    moat.wait_stderr("client certificate matches several consumers")
        .await;
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn required_client_certificates_are_enforced_at_the_handshake() {
    let (_dir, _up, moat, pki) = mtls_setup(true).await;
    let url = https(moat.addrs[0], "/items");
    assert!(mtls_client(&pki, None).get(&url).send().await.is_err());
    let billing = mtls_client(&pki, Some(&pki.clients[0].1));
    assert_eq!(billing.get(&url).send().await.unwrap().status(), 200);
}
