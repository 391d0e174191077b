//! JWT verification with configured keys (secret, PEM, inline JWK): every
//! algorithm with real signatures, the attacks on `alg`, the claim checks,
//! the token cache and the weak-secret refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moat_identity::jwt::{
    Algorithm, AlgorithmRejection, JwtConfig, JwtConfigError, JwtError, JwtVerifier, KeySource,
    WeakSecretReason, parse_algorithm,
};
use serde_json::json;
use support::*;

fn config(keys: KeySource, algorithms: Vec<Algorithm>) -> JwtConfig {
    let mut config = JwtConfig::new(keys, algorithms);
    config.issuer = Some(ISSUER.into());
    config.audiences = vec!["https://other.test".into(), AUDIENCE.into()];
    config.leeway = Duration::from_secs(5);
    config
}

fn key_for(alg: Algorithm) -> TestKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => hmac_key(),
        Algorithm::ES256 | Algorithm::ES384 => ec_key(alg),
        Algorithm::EdDSA => ed_key(),
        _ => rsa_key(),
    }
}

const EVERY_ALGORITHM: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[tokio::test]
async fn every_algorithm_verifies_real_signatures_from_a_jwk() {
    init();
    let now = SystemTime::now();
    for alg in EVERY_ALGORITHM {
        let key = key_for(alg);
        let verifier = JwtVerifier::new(config(KeySource::Jwk(key.jwk_with_kid("k1")), vec![alg]))
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let token = sign(alg, Some("k1"), &claims(now, 300), &key);
        let verified = verifier
            .verify(&token, now)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(verified.subject.as_deref(), Some("alice"));
        assert_eq!(verified.issuer.as_deref(), Some(ISSUER));
        assert_eq!(verified.scopes, ["read", "write"]);
        assert_eq!(verified.algorithm, alg);
        assert_eq!(verified.key_id.as_deref(), Some("k1"));
        assert_eq!(verified.expires_at.map(unix), Some(unix(now) + 300));
        assert_eq!(
            verifier.verify(&tamper(&token), now).await.err(),
            Some(JwtError::Signature),
            "{alg:?}: tampered signature"
        );
        // A token signed by another key of the same kind.
        if alg != Algorithm::HS256 && !matches!(alg, Algorithm::HS384 | Algorithm::HS512) {
            let other = match alg {
                Algorithm::ES256 | Algorithm::ES384 => ec_key(alg),
                Algorithm::EdDSA => ed_key(),
                _ => continue,
            };
            let forged = sign(alg, Some("k1"), &claims(now, 300), &other);
            assert_eq!(
                verifier.verify(&forged, now).await.err(),
                Some(JwtError::Signature)
            );
        }
    }
}

#[tokio::test]
async fn public_keys_load_from_pem_files_and_secrets_from_bytes() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    for alg in [
        Algorithm::RS256,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = key_for(alg);
        let path = dir.path().join(format!("{alg:?}.pem"));
        std::fs::write(&path, &key.public_pem).unwrap();
        let verifier = JwtVerifier::new(config(KeySource::PemFile(path), vec![alg])).unwrap();
        let token = sign(alg, None, &claims(now, 60), &key);
        assert!(verifier.verify(&token, now).await.is_ok(), "{alg:?}");
    }
    let verifier = JwtVerifier::new(config(
        KeySource::Secret(SECRET.to_vec()),
        vec![Algorithm::HS256, Algorithm::HS512],
    ))
    .unwrap();
    let token = sign(Algorithm::HS512, Some("any"), &claims(now, 60), &hmac_key());
    assert!(verifier.verify(&token, now).await.is_ok());
    // HS384 is a real HMAC algorithm, but not in this allow-list.
    let token = sign(Algorithm::HS384, None, &claims(now, 60), &hmac_key());
    assert_eq!(
        verifier.verify(&token, now).await.err(),
        Some(JwtError::Algorithm(AlgorithmRejection::NotAllowed(
            Algorithm::HS384
        )))
    );
}

#[tokio::test]
async fn pem_files_holding_certificates_or_private_keys_are_refused_with_a_hint() {
    init();
    let private =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let err = JwtVerifier::new(config(
        KeySource::Pem(private.into()),
        vec![Algorithm::EdDSA],
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("private key") && err.contains("-pubout"),
        "{err}"
    );
    let err = JwtVerifier::new(config(
        KeySource::PemFile("/nonexistent/key.pem".into()),
        vec![Algorithm::RS256],
    ))
    .unwrap_err();
    assert!(matches!(err, JwtConfigError::KeyFile { .. }), "{err}");
}

fn unsigned(header: serde_json::Value, claims: &serde_json::Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    )
}

#[tokio::test]
async fn alg_none_is_never_accepted() {
    init();
    let now = SystemTime::now();
    let verifier = JwtVerifier::new(config(
        KeySource::Secret(SECRET.to_vec()),
        vec![Algorithm::HS256],
    ))
    .unwrap();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for sig in ["", "c2ln"] {
            let token = unsigned(json!({"alg": alg, "typ": "JWT"}), &claims(now, 60), sig);
            assert_eq!(
                verifier.verify(&token, now).await.err(),
                Some(JwtError::Algorithm(AlgorithmRejection::None)),
                "{alg} {sig:?}"
            );
        }
    }
    // And it cannot be allowed in the configuration.
    assert!(matches!(
        parse_algorithm("none"),
        Err(JwtConfigError::NoneAlgorithm)
    ));
    assert!(matches!(
        JwtVerifier::new(config(KeySource::Secret(SECRET.to_vec()), vec![])),
        Err(JwtConfigError::NoAlgorithms)
    ));
}

/// The classic attack: sign an HS256 token with the RSA public key (which
/// is public) as the HMAC secret, and hope the verifier feeds "the key" to
/// HMAC because the header says so.
#[tokio::test]
async fn algorithm_confusion_is_refused() {
    init();
    let now = SystemTime::now();
    let rsa = rsa_key();
    let forge = |kid: Option<&str>, secret: &[u8]| {
        let key = TestKey {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            jwk: json!({}),
            public_pem: String::new(),
        };
        sign(Algorithm::HS256, kid, &claims(now, 60), &key)
    };

    // An RS256 verifier with the PEM key: HS256 is not in its allow-list.
    let verifier = JwtVerifier::new(config(
        KeySource::Pem(rsa.public_pem.clone().into()),
        vec![Algorithm::RS256],
    ))
    .unwrap();
    let forged = forge(None, rsa.public_pem.as_bytes());
    assert_eq!(
        verifier.verify(&forged, now).await.err(),
        Some(JwtError::Algorithm(AlgorithmRejection::NotAllowed(
            Algorithm::HS256
        )))
    );

    // Allowing HS256 next to a public key is a configuration error.
    let err = JwtVerifier::new(config(
        KeySource::Pem(rsa.public_pem.clone().into()),
        vec![Algorithm::RS256, Algorithm::HS256],
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            JwtConfigError::AlgorithmKeyMismatch {
                algorithm: Algorithm::HS256,
                ..
            }
        ),
        "{err}"
    );

    // A key set with an HMAC key and an RSA key, both algorithms allowed:
    // an HS256 token naming the RSA key's kid, MACed with that key's PEM
    // or its modulus, is refused because HS256 does not fit an RSA key.
    let set = json!({"keys": [hmac_key().jwk_with_kid("hmac"), rsa.jwk_with_kid("rsa")]});
    let verifier = JwtVerifier::new(config(
        KeySource::Jwk(set),
        vec![Algorithm::HS256, Algorithm::RS256],
    ))
    .unwrap();
    let n = rsa.jwk["n"].as_str().unwrap().to_owned();
    for secret in [rsa.public_pem.as_bytes(), n.as_bytes()] {
        assert_eq!(
            verifier
                .verify(&forge(Some("rsa"), secret), now)
                .await
                .err(),
            Some(JwtError::Algorithm(AlgorithmRejection::KeyMismatch(
                Algorithm::HS256
            )))
        );
    }
    // The genuine tokens of both keys pass.
    assert!(
        verifier
            .verify(
                &sign(Algorithm::RS256, Some("rsa"), &claims(now, 60), &rsa),
                now
            )
            .await
            .is_ok()
    );
    assert!(
        verifier
            .verify(
                &sign(
                    Algorithm::HS256,
                    Some("hmac"),
                    &claims(now, 60),
                    &hmac_key()
                ),
                now
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn jwk_alg_is_respected() {
    init();
    let now = SystemTime::now();
    let rsa = rsa_key();
    let mut jwk = rsa.jwk_with_kid("k");
    jwk["alg"] = json!("PS256");
    let verifier = JwtVerifier::new(config(
        KeySource::Jwk(jwk),
        vec![Algorithm::RS256, Algorithm::PS256],
    ))
    .unwrap();
    assert!(
        verifier
            .verify(
                &sign(Algorithm::PS256, Some("k"), &claims(now, 60), &rsa),
                now
            )
            .await
            .is_ok()
    );
    assert_eq!(
        verifier
            .verify(
                &sign(Algorithm::RS256, Some("k"), &claims(now, 60), &rsa),
                now
            )
            .await
            .err(),
        Some(JwtError::Algorithm(AlgorithmRejection::KeyMismatch(
            Algorithm::RS256
        )))
    );
}

#[tokio::test]
async fn registered_claims_are_checked() {
    init();
    let now = SystemTime::now();
    let t = unix(now);
    let key = ec_key(Algorithm::ES256);
    let verifier = JwtVerifier::new(config(
        KeySource::Jwk(key.jwk.clone()),
        vec![Algorithm::ES256],
    ))
    .unwrap();
    let check = |claims: serde_json::Value| {
        let token = sign(Algorithm::ES256, None, &claims, &key);
        let verifier = verifier.clone();
        async move { verifier.verify(&token, now).await.err() }
    };
    let base = claims(now, 60);
    let with = |field: &str, value: serde_json::Value| {
        let mut c = base.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    assert_eq!(check(base.clone()).await, None);
    assert_eq!(
        check(with("exp", json!(t - 6))).await,
        Some(JwtError::Expired)
    );
    assert_eq!(
        check(with("exp", json!(t - 4))).await,
        None,
        "within the leeway"
    );
    assert_eq!(
        check(without("exp")).await,
        Some(JwtError::MissingClaim("exp"))
    );
    assert_eq!(
        check(with("nbf", json!(t + 30))).await,
        Some(JwtError::NotYetValid)
    );
    assert_eq!(
        check(with("iat", json!(t + 30))).await,
        Some(JwtError::NotYetValid)
    );
    assert_eq!(
        check(with("iss", json!("https://evil.test"))).await,
        Some(JwtError::Issuer)
    );
    assert_eq!(check(without("iss")).await, Some(JwtError::Issuer));
    assert_eq!(
        check(with("aud", json!("https://elsewhere.test"))).await,
        Some(JwtError::Audience)
    );
    assert_eq!(
        check(with("aud", json!(["https://elsewhere.test", AUDIENCE]))).await,
        None
    );
    assert_eq!(check(without("aud")).await, Some(JwtError::Audience));
    assert!(matches!(
        check(with("exp", json!("soon"))).await,
        Some(JwtError::Malformed(_))
    ));

    // `exp` may be made optional.
    let mut relaxed = config(KeySource::Jwk(key.jwk.clone()), vec![Algorithm::ES256]);
    relaxed.require_exp = false;
    let relaxed = JwtVerifier::new(relaxed).unwrap();
    let token = sign(Algorithm::ES256, None, &without("exp"), &key);
    assert_eq!(relaxed.verify(&token, now).await.unwrap().expires_at, None);
}

#[tokio::test]
async fn errors_map_to_bearer_challenges_without_echoing_the_token() {
    init();
    let now = SystemTime::now();
    let verifier = JwtVerifier::new(config(
        KeySource::Secret(SECRET.to_vec()),
        vec![Algorithm::HS256],
    ))
    .unwrap();
    let token = sign(Algorithm::HS256, None, &claims(now, 60), &hmac_key());
    let err = verifier.verify(&tamper(&token), now).await.unwrap_err();
    assert_eq!(err.bearer_error(), Some("invalid_token"));
    assert_eq!(err.http_status(), 401);
    for text in [
        err.to_string(),
        err.bearer_description().to_owned(),
        format!("{err:?}"),
    ] {
        assert!(!text.contains(&token[..20]), "{text}");
    }
    assert_eq!(JwtError::Unavailable.http_status(), 503);
    assert_eq!(JwtError::Unavailable.bearer_error(), None);
    assert_eq!(
        JwtError::Expired.bearer_description(),
        "The access token expired"
    );
    let huge = "a".repeat(moat_identity::jwt::MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        verifier.verify(&huge, now).await,
        Err(JwtError::Malformed(_))
    ));
}

#[tokio::test]
async fn verified_tokens_are_cached_until_they_expire() {
    init();
    let now = SystemTime::now();
    let key = rsa_key();
    let verifier = JwtVerifier::new(config(
        KeySource::Jwk(key.jwk.clone()),
        vec![Algorithm::RS256],
    ))
    .unwrap();
    let token = sign(Algorithm::RS256, None, &claims(now, 100), &key);
    let first = verifier.verify(&token, now).await.unwrap();
    let second = verifier
        .verify(&token, now + Duration::from_secs(50))
        .await
        .unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second verification is a cache hit"
    );

    // The token expires while cached: the cached entry is refused too.
    let later = now + Duration::from_secs(106);
    assert_eq!(
        verifier.verify(&token, later).await.err(),
        Some(JwtError::Expired)
    );
    // The entry was dropped: verifying at an earlier time again works, from
    // a fresh verification.
    let third = verifier.verify(&token, now).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &third));

    // A bad signature is never cached as good, and a cached good token
    // does not make a tampered one pass.
    assert_eq!(
        verifier.verify(&tamper(&token), now).await.err(),
        Some(JwtError::Signature)
    );

    // With the cache disabled every verification is fresh.
    let mut uncached = config(KeySource::Jwk(key.jwk.clone()), vec![Algorithm::RS256]);
    uncached.token_cache_size = 0;
    let uncached = JwtVerifier::new(uncached).unwrap();
    let a = uncached.verify(&token, now).await.unwrap();
    let b = uncached.verify(&token, now).await.unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(a, b);
}

#[test]
fn weak_secrets_are_refused_at_load_with_a_hint() {
    init();
    let load = |secret: &[u8]| {
        JwtVerifier::new(config(
            KeySource::Secret(secret.to_vec()),
            vec![Algorithm::HS256],
        ))
        .unwrap_err()
    };
    for (secret, reason) in [
        (&b"secret"[..], WeakSecretReason::KnownSecret),
        (b"your-256-bit-secret", WeakSecretReason::KnownSecret),
        (
            b"super-secret-jwt-token-with-at-least-32-characters-long",
            WeakSecretReason::KnownSecret,
        ),
        (
            b"a-string-secret-at-least-256-bits-long",
            WeakSecretReason::KnownSecret,
        ),
        (b"k9#Lq2!vZ0pWx7", WeakSecretReason::TooShort { len: 14 }),
        (&[b'x'; 40], WeakSecretReason::LowVariety),
    ] {
        let err = load(secret);
        assert!(
            matches!(&err, JwtConfigError::WeakSecret { reason: r } if *r == reason),
            "{}: {err}",
            String::from_utf8_lossy(secret)
        );
        let message = err.to_string();
        assert!(
            message.contains("cracked offline") && message.contains("openssl rand"),
            "{message}"
        );
    }
    // The same rule for inline `oct` JWKs.
    let weak_jwk = json!({"kty": "oct", "k": b64(b"changeme")});
    let err =
        JwtVerifier::new(config(KeySource::Jwk(weak_jwk), vec![Algorithm::HS256])).unwrap_err();
    assert!(err.to_string().contains("weak"), "{err}");
}
