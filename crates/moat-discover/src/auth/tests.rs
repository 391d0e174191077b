use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;

fn jwt(header: serde_json::Value, payload: serde_json::Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
        .collect()
}

fn schemes_of(
    headers: &[(&str, &str)],
    query: &[(&str, &str)],
    cookies: &[(&str, &str)],
) -> Vec<Scheme> {
    credentials(&pairs(headers), &pairs(query), &pairs(cookies))
        .into_iter()
        .map(|c| c.scheme)
        .collect()
}

fn api_key(location: KeyLocation, name: &str) -> Scheme {
    Scheme::ApiKey {
        location,
        name: name.to_string(),
    }
}

const SECRET_SUB: &str = "user-4711-secret-subject";

#[test]
fn a_bearer_jwt_gives_its_algorithm_and_claim_names_only() {
    let token = jwt(
        json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"}),
        json!({"sub": SECRET_SUB, "scope": "read write", "exp": 1_900_000_000, "tenant": "acme-corp"}),
    );
    let found = credentials(
        &pairs(&[("Authorization", &format!("Bearer {token}"))]),
        &[],
        &[],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].scheme, Scheme::BearerJwt);
    let info = found[0].jwt.as_ref().unwrap();
    assert_eq!(info.alg, "RS256");
    assert_eq!(info.claims, ["exp", "scope", "sub", "tenant"]);
    // Nothing derived from it holds a claim value or the token.
    let mut seen = SchemesSeen::default();
    seen.observe(&found);
    let names = openapi::component_names(&seen);
    let doc = serde_json::Value::Object(openapi::security_schemes(&seen, &names)).to_string();
    for value in [
        SECRET_SUB,
        "acme-corp",
        "read write",
        "1900000000",
        "key-1",
        &token,
    ] {
        assert!(!doc.contains(value), "{value} in {doc}");
        assert!(!format!("{found:?}{seen:?}").contains(value), "{value}");
    }
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc).unwrap()["bearerJwt"],
        json!({
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "x-moat-discovered": {"requests": 1},
            "x-moat-jwt": {"tokens": 1, "algorithms": ["RS256"], "claims": ["exp", "scope", "sub", "tenant"]},
        })
    );
}

#[test]
fn unknown_algorithms_are_not_kept_but_none_is() {
    let odd = jwt(json!({"alg": "my-private-alg-value"}), json!({"sub": "x"}));
    assert_eq!(JwtInfo::of(&odd).unwrap().alg, jwt::OTHER_ALG);
    let unsigned = jwt(json!({"alg": "NONE"}), json!({"sub": "x"}));
    assert_eq!(JwtInfo::of(&unsigned).unwrap().alg, "NONE");
    // A payload that is not an object gives no claim names.
    let scalar = jwt(json!({"alg": "HS256"}), json!("just a string"));
    assert_eq!(JwtInfo::of(&scalar).unwrap().claims, Vec::<String>::new());
    assert_eq!(JwtInfo::of("not.a.jwt"), None);
}

#[test]
fn claim_names_are_capped_over_a_scheme() {
    let mut seen = JwtSeen::default();
    for i in 0..5 {
        let payload: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|j| (format!("claim{i}_{j}"), json!(j)))
            .collect();
        let token = jwt(json!({"alg": "HS256"}), serde_json::Value::Object(payload));
        seen.add(&JwtInfo::of(&token).unwrap());
    }
    assert_eq!(seen.tokens, 5);
    assert_eq!(seen.claims().count(), jwt::MAX_CLAIMS);
    assert!(seen.truncated());
    assert_eq!(seen.algs().collect::<Vec<_>>(), ["HS256"]);
}

#[test]
fn opaque_bearer_basic_and_other_http_schemes() {
    assert_eq!(
        schemes_of(
            &[("authorization", "Bearer 2YotnFZFEjr1zCsicMWpAA")],
            &[],
            &[]
        ),
        [Scheme::BearerOpaque]
    );
    assert_eq!(
        schemes_of(
            &[("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA==")],
            &[],
            &[]
        ),
        [Scheme::Basic]
    );
    assert_eq!(
        schemes_of(
            &[("Authorization", "Digest username=\"alice\", nonce=\"x\"")],
            &[],
            &[]
        ),
        [Scheme::Http("digest".into())]
    );
    // A bare value is a key sent in `Authorization`; a scheme word alone
    // carries nothing.
    assert_eq!(
        schemes_of(&[("Authorization", "k3y-without-scheme")], &[], &[]),
        [api_key(KeyLocation::Header, "authorization")]
    );
    assert_eq!(schemes_of(&[("Authorization", "Bearer")], &[], &[]), []);
    assert_eq!(schemes_of(&[("Authorization", "  ")], &[], &[]), []);
}

#[test]
fn api_keys_in_headers_by_name_or_by_value() {
    // By name, whatever the value looks like.
    assert_eq!(
        schemes_of(&[("X-Api-Key", "demo")], &[], &[]),
        [api_key(KeyLocation::Header, "x-api-key")]
    );
    assert_eq!(
        schemes_of(&[("X-Auth-Token", "t")], &[], &[]),
        [api_key(KeyLocation::Header, "x-auth-token")]
    );
    // Any other name: a credential's name with a secret-looking value, or
    // a value that is a known key format or a JWT.
    assert_eq!(
        schemes_of(&[("X-Partner-Secret", "q8Zr2LmT9vXc4NpK7wYs")], &[], &[]),
        [api_key(KeyLocation::Header, "x-partner-secret")]
    );
    assert_eq!(
        schemes_of(
            &[("X-Github", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789")],
            &[],
            &[]
        ),
        [api_key(KeyLocation::Header, "x-github")]
    );
    let token = jwt(json!({"alg": "ES256"}), json!({"iss": "idp", "aud": "api"}));
    let found = credentials(&pairs(&[("X-Identity", &token)]), &[], &[]);
    assert_eq!(found[0].scheme, api_key(KeyLocation::Header, "x-identity"));
    assert_eq!(found[0].jwt.as_ref().unwrap().claims, ["aud", "iss"]);
    let found = credentials(&pairs(&[("X-Auth", &format!("Bearer {token}"))]), &[], &[]);
    assert_eq!(found[0].scheme, api_key(KeyLocation::Header, "x-auth"));
    assert!(found[0].jwt.is_some());
    // A token inside another field's value, or in a standard header, does
    // not make that field a scheme; a cookie's is its own cookie's.
    assert_eq!(
        schemes_of(
            &[
                ("Referer", &format!("https://app.example/cb?token={token}")),
                ("X-Return-To", &format!("/cb?id_token={token}")),
                ("Cookie", &format!("sid={token}")),
            ],
            &[("next", &format!("/cb?jwt={token}"))],
            &[("sid", &token)],
        ),
        [api_key(KeyLocation::Cookie, "sid")]
    );
    // Not credentials: ordinary headers, ids, anti-forgery tokens, a
    // credential's name with a word for a value.
    assert_eq!(
        schemes_of(
            &[
                ("X-Tenant", "acme"),
                ("X-Trace-Id", "0b6e9d7c-6f1a-4d0e-9a3b-2c1d0e9f8a7b"),
                ("X-CSRF-Token", "q8Zr2LmT9vXc4NpK7wYs"),
                ("X-Auth-User", "alice"),
            ],
            &[],
            &[]
        ),
        []
    );
}

#[test]
fn api_keys_in_the_query() {
    for name in ["api_key", "apikey", "key", "access_token", "token"] {
        assert_eq!(
            schemes_of(&[], &[(name, "abc")], &[]),
            [api_key(KeyLocation::Query, name)],
            "{name}"
        );
    }
    assert_eq!(
        schemes_of(
            &[],
            &[
                ("page", "2"),
                ("sort", "name"),
                ("nextPageToken", "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA")
            ],
            &[]
        ),
        []
    );
    assert_eq!(
        schemes_of(&[], &[("sig", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")], &[]),
        [api_key(KeyLocation::Query, "sig")]
    );
}

#[test]
fn session_and_token_cookies() {
    for name in [
        "session",
        "sessionid",
        "connect.sid",
        "JSESSIONID",
        "PHPSESSID",
        "auth_token",
    ] {
        assert_eq!(
            schemes_of(&[], &[], &[(name, "s1")]),
            [api_key(KeyLocation::Cookie, name)],
            "{name}"
        );
    }
    let token = jwt(json!({"alg": "HS256"}), json!({"sub": SECRET_SUB}));
    let found = credentials(&[], &[], &pairs(&[("id", &token)]));
    assert_eq!(found[0].scheme, api_key(KeyLocation::Cookie, "id"));
    assert_eq!(found[0].jwt.as_ref().unwrap().alg, "HS256");
    assert_eq!(
        schemes_of(
            &[],
            &[],
            &[
                ("theme", "dark"),
                ("lang", "en"),
                ("csrftoken", "q8Zr2LmT9vXc4NpK7wYs")
            ]
        ),
        []
    );
}

#[test]
fn none_is_counted_and_each_scheme_once_per_request() {
    let mut auth = AuthSeen::default();
    assert_eq!(auth.presence(), AuthPresence::Unobserved);
    auth.observe(&credentials(&[], &[], &[]));
    assert_eq!(auth.presence(), AuthPresence::Never);
    let twice = credentials(&pairs(&[("X-Api-Key", "a"), ("x-api-key", "b")]), &[], &[]);
    assert_eq!(twice.len(), 1);
    auth.observe(&twice);
    assert_eq!(auth.presence(), AuthPresence::Sometimes);
    assert_eq!((auth.requests(), auth.anonymous()), (2, 1));
    let mut always = AuthSeen::default();
    always.observe(&twice);
    assert_eq!(always.presence(), AuthPresence::Always);
}

#[test]
fn security_lists_each_scheme_and_empty_when_some_requests_had_none() {
    let key = credentials(&pairs(&[("X-Api-Key", "a")]), &[], &[]);
    let basic = credentials(&pairs(&[("Authorization", "Basic YTpi")]), &[], &[]);
    let mut seen = SchemesSeen::default();
    let mut mixed = AuthSeen::default();
    let mut keyed = AuthSeen::default();
    let mut open = AuthSeen::default();
    for c in [&key, &basic] {
        seen.observe(c);
        mixed.observe(c);
    }
    mixed.observe(&[]);
    keyed.observe(&key);
    open.observe(&[]);
    let names = openapi::component_names(&seen);
    assert_eq!(
        openapi::security(&mixed, &names),
        Some(json!([{"basic": []}, {"header.x-api-key": []}, {}]))
    );
    assert_eq!(
        openapi::security(&keyed, &names),
        Some(json!([{"header.x-api-key": []}]))
    );
    assert_eq!(openapi::security(&open, &names), None);
    let schemes = openapi::security_schemes(&seen, &names);
    assert_eq!(
        schemes["header.x-api-key"],
        json!({"type": "apiKey", "in": "header", "name": "x-api-key", "x-moat-discovered": {"requests": 1}})
    );
    assert_eq!(schemes["basic"]["scheme"], "basic");
}

#[test]
fn component_names_are_safe_and_distinct() {
    let mut seen = SchemesSeen::default();
    seen.observe(&credentials(
        &[],
        &[],
        &pairs(&[("my session", "a"), ("my_session", "b")]),
    ));
    let names: Vec<String> = openapi::component_names(&seen).into_values().collect();
    assert_eq!(names, ["cookie.my_session", "cookie.my_session_2"]);
}

#[test]
fn distinct_schemes_are_capped() {
    let mut seen = SchemesSeen::default();
    let mut auth = AuthSeen::default();
    for i in 0..(seen::MAX_SCHEMES + 5) {
        let c = credentials(&[], &[], &pairs(&[(&format!("session_{i}"), "a")]));
        seen.observe(&c);
        auth.observe(&c);
    }
    assert_eq!(seen.iter().count(), seen::MAX_SCHEMES);
    assert_eq!(seen.dropped(), 5);
    assert_eq!(auth.schemes().count(), seen::MAX_SCHEMES);
    assert_eq!(auth.dropped(), 5);
}
