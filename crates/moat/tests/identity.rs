//! Authentication as the OpenAPI document requires it, through the real
//! binary: basic credentials, API keys issued with `moat keys`, anonymous
//! operations, AND/OR requirements, identity headers, monitor mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

/// `/items` needs an API key OR basic; `/public` nothing; `/both` a key AND
/// basic; `/maybe` accepts anonymous callers or a key.
const SECURED_SPEC: &str = r#"
openapi: 3.0.3
info: {title: secured, version: "1"}
security: [{ApiKey: []}, {Basic: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
  /public:
    get: {operationId: public, security: [], responses: {"200": {description: ok}}}
  /both:
    get: {operationId: both, security: [{ApiKey: [], Basic: []}], responses: {"200": {description: ok}}}
  /search:
    get: {operationId: search, security: [{QueryKey: []}], responses: {"200": {description: ok}}}
  /maybe:
    get: {operationId: maybe, security: [{}, {ApiKey: []}], responses: {"200": {description: ok}}}
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-Api-Key}
    Basic: {type: http, scheme: basic}
    QueryKey: {type: apiKey, in: query, name: api_key}
"#;

const PEPPER: &str = "pepper-for-tests-0123456789-abcdefghijklmnop";

fn secured_config(upstream: &str, extra_api: &str) -> String {
    let base = config(
        upstream,
        &format!(
            "    security:\n      ApiKey: {{type: api_key}}\n      Basic: {{type: basic}}\n      QueryKey: {{type: api_key}}\n{extra_api}"
        ),
    );
    format!(
        "{base}keys:\n  pepper: {PEPPER}\nconsumers:\n  - id: alice\n    roles: [admin, auditor]\n    scopes: [items:read]\n    basic: {{username: alice, password_hash: \"{}\"}}\n",
        hash_password("correct horse battery")
    )
}

async fn setup(extra_api: &str) -> (tempfile::TempDir, Upstream, Moat) {
    setup_with(extra_api, "").await
}

/// [`setup`], with `top` (top-level config lines) appended to the config.
async fn setup_with(extra_api: &str, top: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SECURED_SPEC);
    write(
        dir.path(),
        "moat.yaml",
        &format!("{}{top}", secured_config(&up.url(), extra_api)),
    );
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

#[tokio::test]
async fn missing_and_wrong_credentials_are_401_with_challenges() {
    let (_dir, up, moat) = setup("").await;
    let c = client();
    let r = c.get(moat.url("/items")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // One challenge per scheme the operation accepts, API keys included.
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        [
            "ApiKey realm=\"moat\", in=\"header\", name=\"X-Api-Key\"",
            "Basic realm=\"moat\", charset=\"UTF-8\""
        ]
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:unauthenticated");

    let r = c
        .get(moat.url("/items"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:invalid-credentials");

    // an unknown user gets exactly the same answer as a wrong password
    let r = c
        .get(moat.url("/items"))
        .basic_auth("mallory", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p2: Value = r.json().await.unwrap();
    assert_eq!(p2["type"], p["type"]);
    assert_eq!(p2["title"], p["title"]);

    // a malformed API key is refused like any bad credential
    let r = c
        .get(moat.url("/items"))
        .header("x-api-key", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()
            .get_all("www-authenticate")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("ApiKey realm=\"moat\""))
    );
    assert_eq!(up.hits(), 0, "nothing unauthenticated reaches the upstream");
    let log = moat
        .wait_log(|l| l["finding"] == "invalid-credentials")
        .await;
    assert_eq!(log["verdict"], "denied");
}

#[tokio::test]
async fn basic_credentials_identify_the_consumer_upstream() {
    let (_dir, _up, moat) = setup("").await;
    let r = client()
        .get(moat.url("/items"))
        .basic_auth("alice", Some("correct horse battery"))
        .header("x-moat-consumer", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    let h = &echo["headers"];
    assert_eq!(
        h["x-moat-consumer"], "alice",
        "the client's claim is replaced"
    );
    assert_eq!(h["x-moat-roles"], "admin,auditor");
    assert_eq!(h["x-moat-scopes"], "items:read");
    assert!(
        h.get("authorization").is_none(),
        "credentials are not forwarded by default"
    );
    let log = moat.wait_log(|l| l["operation"] == "listItems").await;
    assert_eq!(log["consumer"], "alice");
}

#[tokio::test]
async fn anonymous_operations_and_spoofed_identity_headers() {
    let (_dir, _up, moat) = setup("").await;
    let c = client();
    let r = c
        .get(moat.url("/public"))
        .header("x-moat-consumer", "admin")
        .header("x-moat-roles", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert!(echo["headers"].get("x-moat-consumer").is_none());
    assert!(echo["headers"].get("x-moat-roles").is_none());
    // `{}` among the alternatives: anonymous is fine...
    assert_eq!(get_status(&c, moat.url("/maybe")).await, 200);
    // ...but a bad credential presented there is still refused
    let r = c
        .get(moat.url("/maybe"))
        .header("x-api-key", "moat_bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn and_requirements_need_every_scheme() {
    let (dir, _up, moat) = setup("").await;
    let key = create_key(dir.path(), "alice");
    let c = client();
    let r = c
        .get(moat.url("/both"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the key alone is not enough");
    let r = c
        .get(moat.url("/both"))
        .header("x-api-key", &key)
        .basic_auth("alice", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert!(echo["headers"].get("x-api-key").is_none());
    assert!(echo["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn credentials_are_forwarded_when_configured() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SECURED_SPEC);
    let cfg = format!(
        "{}identity:\n  forward_credentials: true\n",
        secured_config(&up.url(), "")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let r = client()
        .get(moat.url("/items"))
        .basic_auth("alice", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert!(
        echo["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Basic ")
    );
}

#[tokio::test]
async fn monitor_mode_records_and_forwards() {
    let (_dir, up, moat) = setup("    mode: monitor\n").await;
    assert_eq!(get_status(&client(), moat.url("/items")).await, 200);
    assert_eq!(up.hits(), 1);
    let log = moat.wait_log(|l| l["operation"] == "listItems").await;
    assert_eq!(log["verdict"], "monitored");
    assert_eq!(log["finding"], "unauthenticated");
}

/// `moat keys create` through the CLI; returns the key.
fn create_key(dir: &std::path::Path, consumer: &str) -> String {
    let out = Command::new(MOAT)
        .args(["keys", "--config"])
        .arg(dir.join("moat.yaml"))
        .args(["create", "--consumer", consumer, "--scope", "items:read"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("moat_"))
        .unwrap_or_else(|| panic!("no key in {text}"))
        .to_string()
}

#[test]
fn unbound_and_mismatched_schemes_are_config_errors() {
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SECURED_SPEC);
    // Basic has no verifier; ApiKey is bound to the wrong kind
    let cfg = config(
        "http://127.0.0.1:9",
        "    security:\n      ApiKey: {type: basic}\n",
    );
    write(dir.path(), "moat.yaml", &cfg);
    let err = check_fails(dir.path());
    assert!(
        err.contains(
            "moat.yaml:12:11: error: the document requires security scheme `Basic` (http basic)"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: add `security: {Basic: {type: basic}}`"),
        "{err}"
    );
    assert!(
        err.contains("moat.yaml:15:15: error: a `basic` verifier cannot check scheme `ApiKey` (apiKey in header)"),
        "{err}"
    );
}

#[tokio::test]
async fn key_lifecycle_through_the_cli_and_the_gateway() {
    let (dir, _up, moat) = setup("").await;
    let c = client();
    let status = |key: String| {
        let c = c.clone();
        let url = moat.url("/items");
        async move {
            c.get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    let old = create_key(dir.path(), "alice");
    assert_eq!(status(old.clone()).await, 200);

    let key_id = old.split('_').nth(1).unwrap().to_string();
    let rotated = moat_keys(dir.path(), &["rotate", &key_id, "--overlap", "2s"]);
    let new = rotated
        .split_whitespace()
        .find(|w| w.starts_with("moat_") && *w != old)
        .unwrap()
        .to_string();
    // both are valid during the overlap
    assert_eq!(status(old.clone()).await, 200);
    assert_eq!(status(new.clone()).await, 200);
    // after the deadline the old one is refused, the new one still works
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(status(old.clone()).await, 401);
    assert_eq!(status(new.clone()).await, 200);

    // A revocation from the command line (another process, no notice)
    // applies once the gateway's cached copy is due: within
    // `state.key_cache.revalidate`, 1 s.
    let new_id = new.split('_').nth(1).unwrap().to_string();
    assert_eq!(status(new.clone()).await, 200, "cached now");
    moat_keys(dir.path(), &["revoke", &new_id]);
    let revoked = std::time::Instant::now();
    while status(new.clone()).await != 401 {
        assert!(
            revoked.elapsed() < std::time::Duration::from_millis(1500),
            "still accepted {:?} after its revocation",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // the key's last use was recorded (flushed within 5 s)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        let shown: Value =
            serde_json::from_str(&moat_keys(dir.path(), &["show", &new_id, "--json"])).unwrap();
        if !shown["last_used_at"].is_null() {
            assert_eq!(shown["status"], "revoked");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last use never recorded: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

const FAST_LOCKOUT: &str = "lockout: {max_failures: 4, credential_max_failures: 2, window: 1m, base_lockout: 2s, max_lockout: 8s}\n";

#[tokio::test]
async fn repeated_failures_lock_the_credential_out_then_expire() {
    let (_dir, _up, moat) = setup_with("", FAST_LOCKOUT).await;
    let c = client();
    let basic = |password: &'static str| {
        let c = c.clone();
        let url = moat.url("/items");
        async move {
            c.get(url)
                .basic_auth("alice", Some(password))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(basic("guess-1").await.status(), 401);
    assert_eq!(basic("guess-2").await.status(), 401);
    // locked: even the right password is not checked now
    let r = basic("correct horse battery").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:locked-out");
    // operations needing no credentials stay open
    assert_eq!(get_status(&c, moat.url("/public")).await, 200);
    // after the lockout, the right password works again
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(basic("correct horse battery").await.status(), 200);
}

#[tokio::test]
async fn a_client_guessing_many_credentials_is_locked_out() {
    let (_dir, up, moat) = setup_with("", FAST_LOCKOUT).await;
    let c = client();
    for user in ["u1", "u2", "u3", "u4"] {
        let r = c
            .get(moat.url("/items"))
            .basic_auth(user, Some("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{user}");
    }
    // the address is now locked out, whatever credential it tries next
    let r = c
        .get(moat.url("/items"))
        .basic_auth("alice", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn a_client_retrying_refused_credentials_does_not_lock_out_its_address() {
    let (_dir, _up, moat) = setup_with("", FAST_LOCKOUT).await;
    let c = client();
    let basic = |user: &'static str, password: &'static str| {
        let c = c.clone();
        let url = moat.url("/items");
        async move {
            c.get(url)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Two clients behind one address retry stale passwords: four refusals
    // (max_failures), but of two credentials. Each is locked out for this
    // address after its second refusal.
    for _ in 0..2 {
        assert_eq!(basic("bob", "stale").await, 401);
        assert_eq!(basic("carol", "stale").await, 401);
    }
    assert_eq!(basic("bob", "stale").await, 429);
    // Their neighbour signs in.
    assert_eq!(basic("alice", "correct horse battery").await, 200);
    // Guessing more credentials still locks the address out.
    assert_eq!(basic("u1", "x").await, 401);
    assert_eq!(basic("u2", "x").await, 401);
    assert_eq!(basic("alice", "correct horse battery").await, 429);
}

#[tokio::test]
async fn api_keys_in_the_query_are_not_forwarded() {
    let (dir, _up, moat) = setup("").await;
    let key = create_key(dir.path(), "alice");
    let c = client();
    let url = format!("{}?q=dune&api%5Fkey={key}&page=2", moat.url("/search"));
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["path"], "/search?q=dune&page=2");
    assert_eq!(echo["headers"]["x-moat-consumer"], "alice");
    let r = c
        .get(format!("{}?api_key={key}", moat.url("/search")))
        .send()
        .await
        .unwrap();
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["path"], "/search");
}

const AUTHZ_SPEC: &str = r#"
openapi: 3.0.3
info: {title: authz, version: "1"}
security: [{Basic: []}]
paths:
  /books:
    get: {operationId: listBooks, tags: [catalog], security: [], responses: {"200": {description: ok}}}
  /books/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    delete: {operationId: deleteBook, tags: [catalog], responses: {"204": {description: ok}}}
  /orders:
    post: {operationId: createOrder, tags: [orders], security: [{OAuth: [orders:write]}], responses: {"201": {description: ok}}}
  /reports:
    get: {operationId: reports, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
    OAuth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: "https://idp/token", scopes: {"orders:write": w, "orders:read": r}}}
"#;

#[tokio::test]
async fn scopes_and_roles_decide_who_may_call_what() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", AUTHZ_SPEC);
    let secret = "Zk3q8v1T0bq7Yw2mN5cR9xL4sP6uH8eJ";
    let api = format!(
        "    security:\n      Basic: {{type: basic}}\n      OAuth: {{type: jwt, algorithms: [HS256], secret: {secret}}}\n\
         \x20   roles:\n      anonymous: [listBooks]\n      admin: [\"DELETE /books/*\", \"tag:orders\"]\n      customer: [\"tag:orders\"]\n"
    );
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    roles: [customer]\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: root\n    roles: [admin]\n    basic: {{username: root, password_hash: \"{h}\"}}\n",
        config(&up.url(), &api),
        h = hash_password("pw")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();

    // public, granted to anonymous
    let r = c.get(moat.url("/books")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // a role grant by method and path pattern
    let del = |user: &'static str| {
        let c = c.clone();
        let url = moat.url("/books/7");
        async move {
            c.delete(url)
                .basic_auth(user, Some("pw"))
                .send()
                .await
                .unwrap()
        }
    };
    let r = del("alice").await;
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:forbidden");
    let r = del("root").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "authenticated responses are not cached"
    );
    // deny by default: no role grants /reports, even to a valid caller
    let r = c
        .get(moat.url("/reports"))
        .basic_auth("root", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // scopes: a token without orders:write is refused with insufficient_scope
    let token = |scope: &str| {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256"}"#),
            b64(
                serde_json::json!({"sub": "alice", "exp": exp, "scope": scope})
                    .to_string()
                    .as_bytes()
            )
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        format!(
            "{input}.{}",
            b64(ring::hmac::sign(&key, input.as_bytes()).as_ref())
        )
    };
    let r = c
        .post(moat.url("/orders"))
        .bearer_auth(token("orders:read"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"moat\", error=\"insufficient_scope\", scope=\"orders:write\""
    );
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:insufficient-scope");
    // alice's JWT (consumer alice, role customer) with the scope passes both checks
    let r = c
        .post(moat.url("/orders"))
        .bearer_auth(token("orders:write"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(up.hits(), 3, "only the allowed calls reached the upstream");
}

#[test]
fn grants_that_name_nothing_are_config_errors() {
    let api = "    security:\n      Basic: {type: basic}\n      OAuth: {type: jwt, algorithms: [HS256], secret: Zk3q8v1T0bq7Yw2mN5cR9xL4sP6uH8eJ}\n    roles:\n      admin: [deleteBok, \"tag:nope\"]\n";
    let err = check_api_fails(AUTHZ_SPEC, api);
    assert!(
        err.contains("moat.yaml:18:15: error: `deleteBok` names no operation of the document"),
        "{err}"
    );
    assert!(err.contains("did you mean `deleteBook`?"), "{err}");
    assert!(err.contains("`tag:nope` names no operation"), "{err}");
}

const OWNED_SPEC: &str = r#"
openapi: 3.0.3
info: {title: owned, version: "1"}
security: [{Basic: []}]
paths:
  /accounts/{accountId}:
    parameters: [{name: accountId, in: path, required: true, schema: {type: string}}]
    get: {operationId: getAccount, responses: {"200": {description: ok}}}
  /statements:
    get:
      operationId: listStatements
      parameters: [{name: account, in: query, required: true, schema: {type: string}}]
      x-moat-owner: {parameter: account}
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

#[tokio::test]
async fn binding_rules_keep_callers_to_their_own_objects() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", OWNED_SPEC);
    let api = "    security:\n      Basic: {type: basic}\n    object_access:\n      exempt_roles: [support]\n      bindings: [{operation: getAccount, parameter: accountId}]\n";
    let h = hash_password("pw");
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: bob\n    basic: {{username: bob, password_hash: \"{h}\"}}\n  - id: sam\n    roles: [support]\n    basic: {{username: sam, password_hash: \"{h}\"}}\n",
        config(&up.url(), api)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    let c = client();
    let get = |user: &'static str, path: &'static str| {
        let c = c.clone();
        let url = moat.url(path);
        async move {
            c.get(url)
                .basic_auth(user, Some("pw"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // a path parameter bound in config to the consumer id
    assert_eq!(get("alice", "/accounts/alice").await, 200);
    assert_eq!(get("alice", "/accounts/bob").await, 403);
    assert_eq!(get("bob", "/accounts/bob").await, 200);
    // a query parameter bound in the document (x-moat-owner)
    assert_eq!(get("alice", "/statements?account=alice").await, 200);
    assert_eq!(get("alice", "/statements?account=bob").await, 403);
    // exempt roles reach any object
    assert_eq!(get("sam", "/accounts/alice").await, 200);
    let log = moat
        .wait_log(|l| l["finding"] == "ownership-violation")
        .await;
    assert_eq!(log["consumer"], "alice");
    assert_eq!(up.hits(), 4);
}

#[test]
fn bindings_to_unknown_operations_or_parameters_are_config_errors() {
    let api = "    security:\n      Basic: {type: basic}\n    object_access:\n      bindings: [{operation: getAcount, parameter: accountId}, {operation: getAccount, parameter: id}]\n";
    let err = check_api_fails(OWNED_SPEC, api);
    assert!(err.contains("did you mean `getAccount`?"), "{err}");
    assert!(err.contains("has no path or query parameter `id`"), "{err}");
}

#[tokio::test]
async fn credentials_are_stripped_wherever_the_client_put_them() {
    let (dir, _up, moat) = setup("").await;
    let key = create_key(dir.path(), "alice");
    let c = client();
    // A key for a header scheme sent in the query, another scheme's name
    // in any case, and a value in moat's key format under any name: none
    // reaches the upstream, on an operation that needs no credential too.
    for path in ["/public", "/items"] {
        let r = c
            .get(moat.url(&format!(
                "{path}?x-api-key={key}&API_KEY=abc&token={key}&q=1"
            )))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let echo: Value = r.json().await.unwrap();
        assert_eq!(echo["path"], format!("{path}?q=1"));
        assert!(echo["headers"].get("x-api-key").is_none(), "{path}");
        assert!(!echo.to_string().contains(&key), "{path}: {echo}");
    }
}

/// `secured_config` behind a trusted proxy (the test client), so each
/// request names its client address in `X-Forwarded-For`.
async fn behind_proxy(lockout: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SECURED_SPEC);
    let cfg = format!(
        "{}{lockout}proxy:\n  trusted_proxies: [127.0.0.1/32]\n",
        secured_config(&up.url(), "")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

#[tokio::test]
async fn guessing_locks_the_guesser_out_not_the_owner() {
    let (_dir, _up, moat) = behind_proxy(
        "lockout: {max_failures: 4, credential_max_failures: 2, window: 1m, base_lockout: 30s, max_lockout: 1m, slowdown: 400ms}\n",
    )
    .await;
    let c = client();
    let basic = |from: &'static str, user: &'static str, password: &'static str| {
        let c = c.clone();
        let url = moat.url("/items");
        async move {
            let sent = std::time::Instant::now();
            let r = c
                .get(url)
                .header("x-forwarded-for", from)
                .basic_auth(user, Some(password))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), sent.elapsed())
        }
    };
    // One address guessing alice's password is locked out of alice,
    // even when it then has the right password...
    assert_eq!(basic("198.51.100.1", "alice", "guess-1").await.0, 401);
    assert_eq!(basic("198.51.100.1", "alice", "guess-2").await.0, 401);
    assert_eq!(
        basic("198.51.100.1", "alice", "correct horse battery")
            .await
            .0,
        429
    );
    // ...while alice, elsewhere, is slowed down (her credential failed
    // from several guesses) but never refused.
    let (status, took) = basic("203.0.113.9", "alice", "correct horse battery").await;
    assert_eq!(status, 200);
    assert!(took >= std::time::Duration::from_millis(400), "{took:?}");
    // More guessers from more addresses do not lock her out either.
    for from in ["198.51.100.2", "198.51.100.3", "198.51.100.4"] {
        assert_eq!(basic(from, "alice", "wrong").await.0, 401, "{from}");
    }
    assert_eq!(
        basic("203.0.113.9", "alice", "correct horse battery")
            .await
            .0,
        200
    );

    // An address locked out for guessing many names keeps its anonymous
    // access: it presents nothing to guess with.
    for user in ["u1", "u2", "u3", "u4"] {
        assert_eq!(basic("198.51.100.5", user, "x").await.0, 401, "{user}");
    }
    assert_eq!(
        basic("198.51.100.5", "alice", "correct horse battery")
            .await
            .0,
        429
    );
    for path in ["/maybe", "/public"] {
        let r = c
            .get(moat.url(path))
            .header("x-forwarded-for", "198.51.100.5")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn client_chosen_names_cannot_forge_log_lines() {
    let (_dir, _up, moat) = setup("").await;
    let forged = "2026-12-05T00:00:00.000000Z  WARN moat: forged line";
    let user = format!("bob\n{forged}");
    for _ in 0..5 {
        let r = client()
            .get(moat.url("/items"))
            .basic_auth(&user, Some("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    moat.wait_stderr("locked out for this client").await;
    let stderr = moat.stderr();
    assert!(stderr.contains("basic:bob\\n2026-12-05"), "{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with(forged)), "{stderr}");
}

#[tokio::test]
async fn scope_refusals_of_keys_and_basic_carry_challenges() {
    let up = upstream(None).await;
    let dir = tempdir();
    let spec = SECURED_SPEC.replace(
        "components:",
        "  /write-key:\n    get: {operationId: writeKey, security: [{ApiKey: [items:write]}], responses: {\"200\": {description: ok}}}\n  \
         /write-basic:\n    get: {operationId: writeBasic, security: [{Basic: [items:write]}], responses: {\"200\": {description: ok}}}\ncomponents:",
    );
    write(dir.path(), "spec.yaml", &spec);
    write(dir.path(), "moat.yaml", &secured_config(&up.url(), ""));
    let key = create_key(dir.path(), "alice");
    let moat = Moat::start(dir.path());
    let c = client();
    let r = c
        .get(moat.url("/write-key"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "ApiKey realm=\"moat\", in=\"header\", name=\"X-Api-Key\", error=\"insufficient_scope\", scope=\"items:write\""
    );
    let r = c
        .get(moat.url("/write-basic"))
        .basic_auth("alice", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"moat\", charset=\"UTF-8\", error=\"insufficient_scope\", scope=\"items:write\""
    );
    assert_eq!(up.hits(), 0);
}
