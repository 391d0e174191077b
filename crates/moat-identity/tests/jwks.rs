//! JWT verification with remote keys, against a real JWKS / OIDC server on
//! 127.0.0.1 that counts the requests it gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use moat_identity::jwt::{
    Algorithm, JwtConfig, JwtConfigError, JwtError, JwtVerifier, KeyFetchError, KeySource,
};
use serde_json::json;
use support::*;

fn config(keys: KeySource) -> JwtConfig {
    let mut config = JwtConfig::new(keys, vec![Algorithm::ES256, Algorithm::RS256]);
    config.issuer = Some(ISSUER.into());
    config.audiences = vec![AUDIENCE.into()];
    config
}

fn token(kid: &str, key: &TestKey, now: SystemTime) -> String {
    sign(Algorithm::ES256, Some(kid), &claims(now, 600), key)
}

/// A token for a random `kid`, as an attacker would send by the thousand.
fn random_kid_token(key: &TestKey, now: SystemTime, i: usize) -> String {
    token(&format!("random-{i}-{}", unix(now)), key, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    idp.set_delay(Duration::from_millis(50));
    let mut cfg = config(KeySource::JwksUrl(idp.jwks_url()));
    cfg.jwks_min_refresh = Duration::from_millis(1500);
    // Tokens are signed up front so that the floods are quick.
    let batches: Vec<Vec<String>> = (0..3)
        .map(|b| {
            (0..200)
                .map(|i| random_kid_token(&key, now, b * 1000 + i))
                .collect()
        })
        .collect();
    let verifier = JwtVerifier::new(cfg).unwrap();
    verifier.prefetch().await.unwrap();
    assert_eq!(idp.jwks_hits(), 1, "the start-up fetch");
    assert!(verifier.verify(&token("k1", &key, now), now).await.is_ok());

    let flood = |batch: usize| {
        let mut tasks = tokio::task::JoinSet::new();
        for token in batches[batch].clone() {
            let verifier = verifier.clone();
            tasks.spawn(async move { verifier.verify(&token, now).await });
        }
        tasks
    };

    // Within the interval after the start-up fetch: no fetch at all.
    let results = flood(0).join_all().await;
    assert!(results.iter().all(|r| *r == Err(JwtError::UnknownKey)));
    assert_eq!(idp.jwks_hits(), 1);

    // After the interval: one fetch for the whole flood, however many
    // tokens wait for it.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let results = flood(1).join_all().await;
    assert!(results.iter().all(|r| *r == Err(JwtError::UnknownKey)));
    assert_eq!(idp.jwks_hits(), 2);
    let results = flood(2).join_all().await;
    assert!(results.iter().all(|r| *r == Err(JwtError::UnknownKey)));
    assert_eq!(idp.jwks_hits(), 2);

    // The genuine key still verifies throughout.
    let fresh = sign(Algorithm::ES256, Some("k1"), &claims(now, 601), &key);
    assert!(verifier.verify(&fresh, now).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_fetch() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    idp.set_delay(Duration::from_millis(200));
    // Built inside the runtime: a background prefetch starts at once; the
    // requests that arrive meanwhile wait for it instead of fetching.
    let verifier = JwtVerifier::new(config(KeySource::JwksUrl(idp.jwks_url()))).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let verifier = verifier.clone();
        // Distinct tokens, so the token cache plays no part.
        let token = sign(Algorithm::ES256, Some("k1"), &claims(now, 600 + i), &key);
        tasks.spawn(async move { verifier.verify(&token, now).await });
    }
    for result in tasks.join_all().await {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prefetch_nothing_is_fetched_before_first_use() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    let mut cfg = config(KeySource::JwksUrl(idp.jwks_url()));
    cfg.prefetch = false;
    // Built inside the runtime, as a config check does: no fetch starts.
    let verifier = JwtVerifier::new(cfg).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(idp.jwks_hits(), 0);
    // The first token fetches the keys.
    assert!(verifier.verify(&token("k1", &key, now), now).await.is_ok());
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn rotated_keys_are_picked_up_and_withdrawn_keys_stop_verifying() {
    init();
    let now = SystemTime::now();
    let (k1, k2) = (ec_key(Algorithm::ES256), ec_key(Algorithm::ES256));
    let idp = Idp::start(vec![k1.jwk_with_kid("k1")]).await;
    let mut cfg = config(KeySource::JwksUrl(idp.jwks_url()));
    cfg.jwks_min_refresh = Duration::from_millis(100);
    cfg.jwks_max_age = Duration::from_millis(400);
    let verifier = JwtVerifier::new(cfg).unwrap();
    let t1 = token("k1", &k1, now);
    let t2 = token("k2", &k2, now);
    assert!(verifier.verify(&t1, now).await.is_ok());

    // The provider publishes k2 next to k1; the first token naming k2
    // triggers a refresh (the interval since the last fetch is over).
    idp.set_keys(vec![k1.jwk_with_kid("k1"), k2.jwk_with_kid("k2")]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let hits = idp.jwks_hits();
    assert!(verifier.verify(&t2, now).await.is_ok());
    assert_eq!(idp.jwks_hits(), hits + 1);
    // k1 is still published, so its tokens still verify.
    let t1b = sign(Algorithm::ES256, Some("k1"), &claims(now, 599), &k1);
    assert!(verifier.verify(&t1b, now).await.is_ok());

    // The provider withdraws k1. Once the keys are older than max_age, the
    // next verification refreshes them in the background...
    idp.set_keys(vec![k2.jwk_with_kid("k2")]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let hits = idp.jwks_hits();
    assert!(
        verifier.verify(&t2, now).await.is_ok(),
        "answered with the keys in hand"
    );
    assert!(
        eventually(|| idp.jwks_hits() > hits).await,
        "background refresh"
    );
    // ...after which k1's tokens fail, even the one cached as verified.
    let mut t1_result = verifier.verify(&t1, now).await;
    for _ in 0..100 {
        if t1_result.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        t1_result = verifier.verify(&t1, now).await;
    }
    assert_eq!(t1_result.err(), Some(JwtError::UnknownKey));
    assert!(verifier.verify(&t2, now).await.is_ok());
}

#[tokio::test]
async fn keys_in_hand_keep_working_while_the_provider_is_down() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let mut idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    let mut cfg = config(KeySource::JwksUrl(idp.jwks_url()));
    cfg.jwks_min_refresh = Duration::from_millis(50);
    cfg.jwks_max_age = Duration::from_millis(100);
    cfg.fetch_timeout = Duration::from_secs(1);
    let verifier = JwtVerifier::new(cfg).unwrap();
    verifier.prefetch().await.unwrap();

    // The provider fails; the keys age past max_age and the refresh fails.
    idp.set_mode(Mode::Error);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let hits = idp.jwks_hits();
    assert!(verifier.verify(&token("k1", &key, now), now).await.is_ok());
    assert!(
        eventually(|| idp.jwks_hits() > hits).await,
        "a refresh was attempted"
    );
    let other = sign(Algorithm::ES256, Some("k1"), &claims(now, 500), &key);
    assert!(
        verifier.verify(&other, now).await.is_ok(),
        "stale key still verifies"
    );
    assert!(matches!(
        verifier.prefetch().await,
        Err(KeyFetchError::Status { status: 500, .. })
    ));

    // An unknown kid cannot be decided while the provider is down: 503.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let unknown = random_kid_token(&key, now, 1);
    let err = verifier.verify(&unknown, now).await.unwrap_err();
    assert_eq!(err, JwtError::Unavailable);
    assert_eq!(err.http_status(), 503);

    // Fully unreachable (connection refused): the same.
    idp.stop().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let third = sign(Algorithm::ES256, Some("k1"), &claims(now, 400), &key);
    assert!(verifier.verify(&third, now).await.is_ok());
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        verifier
            .verify(&random_kid_token(&key, now, 2), now)
            .await
            .err(),
        Some(JwtError::Unavailable)
    );
}

#[tokio::test]
async fn no_keys_and_an_unreachable_provider_is_unavailable() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let verifier =
        JwtVerifier::new(config(KeySource::JwksUrl(format!("http://{closed}/jwks")))).unwrap();
    let err = verifier
        .verify(&token("k1", &key, now), now)
        .await
        .unwrap_err();
    assert_eq!(err, JwtError::Unavailable);
    assert_eq!(err.bearer_error(), None);

    // A provider that answers 500 from the start: the same, and a token
    // flood still causes one fetch per interval.
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    idp.set_mode(Mode::Error);
    let verifier = JwtVerifier::new(config(KeySource::JwksUrl(idp.jwks_url()))).unwrap();
    assert!(verifier.prefetch().await.is_err());
    // Let the background prefetch started by `new` fail too; neither
    // failure counts against the interval.
    assert!(eventually(|| idp.jwks_hits() == 2).await);
    let prefetches = idp.jwks_hits();
    for i in 0..20 {
        let t = random_kid_token(&key, now, i);
        assert_eq!(
            verifier.verify(&t, now).await.err(),
            Some(JwtError::Unavailable)
        );
    }
    assert_eq!(
        idp.jwks_hits(),
        prefetches + 1,
        "one token-triggered fetch per interval"
    );
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_sets_the_issuer() {
    init();
    let now = SystemTime::now();
    let key = rsa_key();
    let idp = Idp::start(vec![key.jwk_with_kid("r1")]).await;
    let issuer = idp.url("");
    idp.set_discovery(json!({
        "issuer": issuer,
        "jwks_uri": idp.jwks_url(),
        "id_token_signing_alg_values_supported": ["RS256"],
    }));
    let mut cfg = JwtConfig::new(
        KeySource::OidcDiscovery(issuer.clone()),
        vec![Algorithm::RS256],
    );
    cfg.audiences = vec![AUDIENCE.into()];
    let verifier = JwtVerifier::new(cfg).unwrap();

    let mut good = claims(now, 300);
    good["iss"] = json!(issuer);
    let t = sign(Algorithm::RS256, Some("r1"), &good, &key);
    let verified = verifier.verify(&t, now).await.unwrap();
    assert_eq!(verified.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(idp.discovery_hits(), 1);
    assert_eq!(idp.jwks_hits(), 1);
    // The discovered issuer is the one required in tokens.
    let foreign = sign(Algorithm::RS256, Some("r1"), &claims(now, 300), &key);
    assert_eq!(
        verifier.verify(&foreign, now).await.err(),
        Some(JwtError::Issuer)
    );
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    idp.set_discovery(json!({"issuer": "https://evil.test", "jwks_uri": idp.jwks_url()}));
    let verifier = JwtVerifier::new(config(KeySource::OidcDiscovery(idp.url("/")))).unwrap();
    assert!(matches!(
        verifier.prefetch().await,
        Err(KeyFetchError::IssuerMismatch { .. })
    ));
    assert_eq!(
        verifier.verify(&token("k1", &key, now), now).await.err(),
        Some(JwtError::Unavailable)
    );
    assert_eq!(idp.jwks_hits(), 0);

    // A discovered jwks_uri over plain http to a non-loopback host is
    // refused too.
    idp.set_discovery(json!({"issuer": idp.url("/"), "jwks_uri": "http://idp.example.com/jwks"}));
    let verifier = JwtVerifier::new(config(KeySource::OidcDiscovery(idp.url("/")))).unwrap();
    assert!(matches!(
        verifier.prefetch().await,
        Err(KeyFetchError::Insecure { .. })
    ));
}

#[tokio::test]
async fn oversized_and_invalid_documents_are_refused() {
    init();
    let now = SystemTime::now();
    let key = ec_key(Algorithm::ES256);
    let idp = Idp::start(vec![key.jwk_with_kid("k1")]).await;
    idp.set_mode(Mode::Huge);
    let verifier = JwtVerifier::new(config(KeySource::JwksUrl(idp.jwks_url()))).unwrap();
    assert!(matches!(
        verifier.prefetch().await,
        Err(KeyFetchError::TooLarge { .. })
    ));
    assert_eq!(
        verifier.verify(&token("k1", &key, now), now).await.err(),
        Some(JwtError::Unavailable)
    );

    // A JWKS whose only key is a secret (kty oct) has no usable key: a
    // JWKS is public, so a secret in it is no secret.
    idp.set_mode(Mode::Up);
    idp.set_keys(vec![json!({"kty": "oct", "kid": "s", "k": b64(SECRET)})]);
    let verifier = JwtVerifier::new(config(KeySource::JwksUrl(idp.jwks_url()))).unwrap();
    assert!(matches!(
        verifier.prefetch().await,
        Err(KeyFetchError::NoUsableKeys { .. })
    ));
}

#[test]
fn remote_key_configurations_are_checked_at_load() {
    init();
    let insecure = JwtVerifier::new(config(KeySource::JwksUrl(
        "http://idp.example.com/jwks".into(),
    )));
    assert!(matches!(insecure, Err(JwtConfigError::Url { .. })));
    let mut hmac = config(KeySource::JwksUrl("https://idp.example.com/jwks".into()));
    hmac.algorithms = vec![Algorithm::RS256, Algorithm::HS256];
    assert!(matches!(
        JwtVerifier::new(hmac),
        Err(JwtConfigError::AlgorithmKeyMismatch {
            algorithm: Algorithm::HS256,
            ..
        })
    ));
    // Outside a runtime, construction does no I/O and succeeds.
    assert!(
        JwtVerifier::new(config(KeySource::JwksUrl(
            "https://idp.example.com/jwks".into()
        )))
        .is_ok()
    );
}
