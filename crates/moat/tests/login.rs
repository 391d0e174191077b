//! Logins the upstream performs (`apis[].logins`), through the real
//! binary and a real upstream whose login tells a wrong password from an
//! unknown user: failure answers made uniform, the named account locked
//! out for the address guessing it (not for its owner), per-account rate
//! limits on a body member.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: login, version: "1"}
paths:
  /login:
    post:
      operationId: login
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {username: {type: string}, password: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {auth_token: {type: string}}}
        "401": {description: wrong}
        "404": {description: unknown}
"#;

async fn start(api: &str, top: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let cfg = format!(
        "{}{top}proxy:\n  trusted_proxies: [127.0.0.1/32]\n",
        config(&up.url(), api)
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

/// Logs in as `user` from address `from`; (status, body, time taken).
async fn login(moat: &Moat, from: &str, user: &str, password: &str) -> (u16, Value, Duration) {
    let sent = Instant::now();
    let r = client()
        .post(moat.url("/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, sent.elapsed())
}

const LOGINS: &str = "    logins:\n      - {operation: login, account: /username}\n";

#[tokio::test]
async fn failed_logins_look_alike_whatever_the_upstream_said() {
    let (_dir, _up, moat) = start(LOGINS, "").await;
    let (s1, wrong, _) = login(&moat, "198.51.100.1", "alice", "nope").await;
    let (s2, unknown, _) = login(&moat, "198.51.100.2", "mallory", "nope").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong, unknown.clone().tap_id(&wrong), "{wrong} / {unknown}");
    assert_eq!(wrong["type"], "urn:moat:problem:invalid-credentials");
    for body in [&wrong, &unknown] {
        let text = body.to_string();
        assert!(
            !text.contains("alice") && !text.contains("no such user"),
            "{text}"
        );
    }
    // A success passes as the upstream gave it, token included.
    let (status, ok, _) = login(&moat, "198.51.100.3", "alice", "right").await;
    assert_eq!(status, 200);
    assert_eq!(ok["auth_token"], "tok-alice-0123456789");
}

/// Problem bodies differ only in their request id.
trait TapId {
    fn tap_id(self, other: &Value) -> Value;
}

impl TapId for Value {
    fn tap_id(mut self, other: &Value) -> Value {
        self["request_id"] = other["request_id"].clone();
        self
    }
}

#[tokio::test]
async fn guessing_an_account_locks_out_the_guesser_not_the_owner() {
    let (_dir, up, moat) = start(
        LOGINS,
        "lockout: {max_failures: 10, credential_max_failures: 3, window: 1m, base_lockout: 30s, max_lockout: 1m, slowdown: 400ms}\n",
    )
    .await;
    for guess in ["a", "b", "c"] {
        assert_eq!(login(&moat, "198.51.100.1", "alice", guess).await.0, 401);
    }
    let hits = up.hits();
    // Locked out of alice from this address, even with her password, and
    // without reaching the upstream; any spelling of her name.
    for name in ["alice", "Alice", " ALICE "] {
        let (status, body, _) = login(&moat, "198.51.100.1", name, "right").await;
        assert_eq!(status, 429, "{name}: {body}");
        assert_eq!(body["type"], "urn:moat:problem:locked-out");
    }
    assert_eq!(up.hits(), hits);
    // Another account from the same address is not locked.
    assert_eq!(login(&moat, "198.51.100.1", "bob", "x").await.0, 401);
    // Alice herself, elsewhere, logs in: slowed down, not refused.
    let (status, _, took) = login(&moat, "203.0.113.9", "alice", "right").await;
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(400), "{took:?}");
    moat.wait_stderr("lockout after repeated failed logins")
        .await;
}

#[tokio::test]
async fn a_rate_limit_can_count_per_account_named_in_the_body() {
    let limits = "    rate_limits:\n      - {name: per-account, key: \"body:/username\", rate: 2, per: 1m, operations: [login]}\n";
    let (_dir, _up, moat) = start(limits, "").await;
    // From three addresses, in three spellings: one account (this
    // upstream does not know `Alice`; many would).
    assert_eq!(login(&moat, "198.51.100.1", "alice", "x").await.0, 401);
    assert_eq!(login(&moat, "198.51.100.2", "Alice", "x").await.0, 404);
    let (status, body, _) = login(&moat, "198.51.100.3", "alice ", "right").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["type"], "urn:moat:problem:rate-limited");
    // Another account has its own count.
    assert_eq!(login(&moat, "198.51.100.3", "bob", "x").await.0, 404);
}
