//! `JwtVerifier::verify` on bearer tokens, with an HMAC key and the three
//! HMAC algorithms allowed, at a fixed time and with no token cache.
//!
//! The first byte picks how the rest makes a token: even, the rest is the
//! token as a client sends it; odd, the rest is `header NUL payload` (two
//! JSON texts, or anything), which the target encodes and signs with the
//! verifier's key, so that the claims checks are reached past the
//! signature.
//!
//! Properties: a verification never panics; a verified token's subject,
//! issuer and scopes are read from its claims (`sub`, `iss` are strings
//! there); verifying again gives the same answer; a signed token whose
//! first signature character is changed is refused.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use moat_identity::jwt::{Algorithm, JwtConfig, JwtVerifier, KeySource};

const SECRET: &[u8] = b"f8Qe2#kLz9!pRt4@wXv7$yNb3%mHc6^JdG5";

fn verifier() -> &'static (JwtVerifier, tokio::runtime::Runtime) {
    static V: OnceLock<(JwtVerifier, tokio::runtime::Runtime)> = OnceLock::new();
    V.get_or_init(|| {
        let algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        let mut config = JwtConfig::new(KeySource::Secret(SECRET.to_vec()), algorithms);
        config.token_cache_size = 0;
        config.issuer = Some("https://issuer.example".into());
        config.audiences = vec!["api".into(), "other".into()];
        let verifier = JwtVerifier::new(config).expect("the verifier");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        (verifier, runtime)
    })
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        let (header, payload) = match rest.iter().position(|&b| b == 0) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (&b"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"[..], rest),
        };
        sign(header, payload)
    };
    let (verifier, runtime) = verifier();
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let verify = |t: &str| runtime.block_on(verifier.verify(t, now));
    let first = verify(&token);
    match &first {
        Ok(v) => {
            let claim = |name: &str| {
                v.claims
                    .get(name)
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
            };
            assert_eq!(v.subject, claim("sub"));
            assert_eq!(v.issuer, claim("iss"));
            assert_eq!(v.issuer.as_deref(), Some("https://issuer.example"));
            assert!(
                v.expires_at
                    .is_none_or(|at| at > now - Duration::from_secs(120))
            );
            let mut scopes = v.scopes.clone();
            scopes.sort();
            scopes.dedup();
            assert_eq!(
                scopes.len(),
                v.scopes.len(),
                "duplicate scopes {:?}",
                v.scopes
            );
            // One changed signature character must break the signature.
            let at = token.rfind('.').expect("a verified token has three parts") + 1;
            let first_char = if token[at..].starts_with('A') {
                "Q"
            } else {
                "A"
            };
            let forged = format!("{}{first_char}{}", &token[..at], &token[at + 1..]);
            assert!(verify(&forged).is_err(), "a changed signature verified");
        }
        Err(e) => {
            let _ = (e.to_string(), e.http_status(), e.bearer_error());
        }
    }
    let again = verify(&token);
    assert_eq!(
        first
            .as_ref()
            .map(|v| v.claims.clone())
            .map_err(ToString::to_string),
        again
            .as_ref()
            .map(|v| v.claims.clone())
            .map_err(ToString::to_string),
    );
});
