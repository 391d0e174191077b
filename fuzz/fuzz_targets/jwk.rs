//! `JwtVerifier::new` on inline key material, as a config's `jwk:` or
//! `public_key:` gives it: input that is JSON is a JWK or a JWK set
//! (`{"keys": [...]}`), anything else a `PUBLIC KEY` PEM block. Every
//! algorithm is allowed, so every key type is read.
//!
//! Properties: a refusal is an error with a message, never a panic; a
//! verifier that was built verifies (and refuses) a token without
//! panicking, whatever its keys.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use moat_identity::jwt::{Algorithm, JwtConfig, JwtVerifier, KeySource};

const ALL: [Algorithm; 12] = [
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

/// An ES256 token signed by some other key: it must be refused.
const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.MEUCIQDrNkcz3k8bKjv1ZbYJ7s2aq9fFAtb0VbN9TcuhL1pX0gIgE4uhwrTNmqzPzC-LmtF8cJ7b6Sx6FgPxh3qjEwRdUcg";

fuzz_target!(|data: &[u8]| {
    let keys = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(value) => KeySource::Jwk(value),
        Err(_) => KeySource::Pem(data.to_vec()),
    };
    let mut config = JwtConfig::new(keys, ALL.to_vec());
    config.token_cache_size = 0;
    config.prefetch = false;
    match JwtVerifier::new(config) {
        Ok(verifier) => {
            static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
            let runtime = RUNTIME.get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime")
            });
            let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
            assert!(runtime.block_on(verifier.verify(TOKEN, now)).is_err());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
