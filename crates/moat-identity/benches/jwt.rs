//! JWT verification cost: a cold verification (signature and claims, the
//! token cache disabled) against a cached one (SHA-256 of the token and a
//! cache lookup), for ES256 and RS256 (2048-bit).
//!
//! `cargo bench -p moat-identity --bench jwt -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use moat_identity::jwt::{JwtConfig, JwtVerifier, KeySource};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es256() -> (EncodingKey, Value) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "bench",
        "x": b64(&point[1..33]), "y": b64(&point[33..]),
    });
    (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

fn rs256() -> (EncodingKey, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rsa.pem");
    let output = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&path)
        .output()
        .expect("the benchmark generates its RSA key with `openssl`: install the Debian package `openssl`");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pkcs8 = PrivatePkcs8KeyDer::from_pem_file(&path).unwrap();
    let pair = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap();
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    let jwk = json!({"kty": "RSA", "kid": "bench", "n": b64(&public.n), "e": b64(&public.e)});
    (EncodingKey::from_rsa_der(pkcs8.secret_pkcs8_der()), jwk)
}

fn bench(c: &mut Criterion) {
    moat_identity::jwt::provider::install_ring_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = SystemTime::now();
    let unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Claims of a typical access token.
    let claims = json!({
        "iss": "https://idp.example.com/",
        "aud": ["https://api.example.com", "https://idp.example.com/userinfo"],
        "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "iat": unix, "exp": unix + 3600,
        "azp": "k6Jb5mN2pQ8rT1vX3yZ7aB9cD0eF4gH6",
        "scope": "openid profile email read:books write:books",
    });
    for (name, alg, (key, jwk)) in [
        ("es256", Algorithm::ES256, es256()),
        ("rs256", Algorithm::RS256, rs256()),
    ] {
        let mut header = Header::new(alg);
        header.kid = Some("bench".into());
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let verifier = |cache: u64| {
            let mut config = JwtConfig::new(KeySource::Jwk(jwk.clone()), vec![alg]);
            config.issuer = Some("https://idp.example.com/".into());
            config.audiences = vec!["https://api.example.com".into()];
            config.token_cache_size = cache;
            JwtVerifier::new(config).unwrap()
        };
        let cold = verifier(0);
        let cached = verifier(10_000);
        runtime.block_on(cached.verify(&token, now)).unwrap();

        let mut group = c.benchmark_group(name);
        group.bench_function("cold", |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(cold.verify(black_box(&token), now).await.unwrap());
            })
        });
        group.bench_function("cached", |b| {
            b.to_async(&runtime).iter(|| async {
                black_box(cached.verify(black_box(&token), now).await.unwrap());
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
