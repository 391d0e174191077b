//! `IntrospectionVerifier::judge_answer`: what the verifier makes of an
//! introspection endpoint's answer body (the input), with an issuer and
//! audiences configured, at a fixed time.
//!
//! Properties: an answer is active only if it is a JSON object whose
//! `active` is the literal `true` and whose `iss` is the configured one;
//! an active token's fields are read from its claims; an answer that is
//! not valid JSON is never active; judging twice gives the same result.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use moat_identity::introspection::{IntrospectionConfig, IntrospectionVerifier};

fn verifier() -> &'static IntrospectionVerifier {
    static V: OnceLock<IntrospectionVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let mut config =
            IntrospectionConfig::new("http://127.0.0.1:9/introspect", "moat", "client-secret");
        config.issuer = Some("https://as.example".into());
        config.audiences = vec!["api".into()];
        IntrospectionVerifier::new(config).expect("the verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let verifier = verifier();
    let first = verifier.judge_answer(data, now);
    if let Ok(token) = &first {
        let value: serde_json::Value =
            serde_json::from_slice(data).expect("an active answer is JSON");
        assert_eq!(value.get("active"), Some(&serde_json::Value::Bool(true)));
        assert_eq!(
            token.claims.get("active"),
            Some(&serde_json::Value::Bool(true))
        );
        assert_eq!(token.issuer.as_deref(), Some("https://as.example"));
        let claim = |name: &str| {
            token
                .claims
                .get(name)
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        };
        assert_eq!(token.subject, claim("sub"));
        assert_eq!(token.client_id, claim("client_id"));
        assert_eq!(token.username, claim("username"));
        assert!(token.expires_at.is_none_or(|at| at > now));
    }
    let again = verifier.judge_answer(data, now);
    assert_eq!(first, again);
});
