//! Bans and anomaly detection through the real binary: operator bans with
//! `moat bans` take effect on a running gateway; scripted attacks trip the
//! detectors (a security event, then a temporary ban) while the matching
//! benign traffic does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const SPEC: &str = r#"
openapi: 3.0.3
info: {title: records, version: "1"}
security: [{Basic: []}]
paths:
  /records/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
    get: {operationId: getRecord, responses: {"200": {description: ok}, "404": {description: missing}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

/// A gateway for alice and bob (password `pw`) with `top` config lines.
async fn start(top: &str) -> (tempfile::TempDir, Upstream, Moat) {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SPEC);
    let h = hash_password("pw");
    let cfg = format!(
        "{}consumers:\n  - id: alice\n    basic: {{username: alice, password_hash: \"{h}\"}}\n  - id: bob\n    basic: {{username: bob, password_hash: \"{h}\"}}\n{top}",
        config(&up.url(), "    security:\n      Basic: {type: basic}\n")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());
    (dir, up, moat)
}

async fn get(moat: &Moat, user: &str, password: &str, path: &str) -> reqwest::Response {
    client()
        .get(moat.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

async fn wait_status(moat: &Moat, user: &str, path: &str, want: u16) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(moat, user, "pw", path).await;
        if r.status() == want {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "never got {want} (last {})",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn bans(dir: &Path, args: &[&str]) {
    let out = Command::new(MOAT)
        .arg("bans")
        .arg("--config")
        .arg(dir.join("moat.yaml"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn operator_bans_apply_to_a_running_gateway() {
    let (dir, _up, moat) = start("").await;
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 200);
    bans(
        dir.path(),
        &[
            "add",
            "--address",
            "127.0.0.0/8",
            "--for",
            "1h",
            "--reason",
            "test",
        ],
    );
    let r = wait_status(&moat, "alice", "/records/1", 403).await;
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&secs), "{secs}");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:banned");
    bans(dir.path(), &["remove", "--address", "127.0.0.0/8"]);
    wait_status(&moat, "alice", "/records/1", 200).await;
    // A consumer ban leaves other consumers alone.
    bans(
        dir.path(),
        &["add", "--consumer", "bob", "--reason", "abuse"],
    );
    wait_status(&moat, "bob", "/records/1", 403).await;
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 200);
}

#[tokio::test]
async fn credential_stuffing_is_detected_and_banned() {
    let top = "lockout: {enabled: false}\nanomaly:\n  credential_stuffing: {distinct_credentials: 15, window: 1m, ban: 10m}\n";
    let (_dir, up, moat) = start(top).await;
    // Benign: a few people mistyping their passwords.
    for user in ["carol", "dave", "erin", "alice"] {
        assert_eq!(get(&moat, user, "typo", "/records/1").await.status(), 401);
    }
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 200);
    assert!(!moat.stderr().contains("security event"));
    // The attack: a list of user names with leaked passwords. Counted with
    // the four failures above, the 11th name crosses the threshold and the
    // address is banned from then on.
    let mut statuses = Vec::new();
    for i in 0..15 {
        let r = get(&moat, &format!("user{i}"), "Summer2026!", "/records/1").await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..11], &[401; 11], "{statuses:?}");
    assert_eq!(&statuses[11..], &[403; 4], "{statuses:?}");
    moat.wait_stderr("security event").await;
    let log = moat.stderr();
    assert!(log.contains("credential_stuffing"), "{log}");
    assert!(!log.contains("user3"), "user names never appear: {log}");
    let r = wait_status(&moat, "alice", "/records/1", 403).await;
    assert!(r.headers().contains_key("retry-after"));
    let hits = up.hits();
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 403);
    assert_eq!(up.hits(), hits);
    let m = client()
        .get(format!("http://{}/metrics", moat.admin.unwrap()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("moat_security_events_total{detector=\"credential_stuffing\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn object_enumeration_is_detected_but_paging_through_own_records_is_not() {
    let top = "anomaly:\n  enumeration: {distinct_objects: 30, window: 1m, min_denied_percent: 50, ban: 5m}\n";
    let (_dir, _up, moat) = start(top).await;
    // Benign: alice reads her 40 records, all of which exist.
    for id in 1..=40 {
        assert_eq!(
            get(&moat, "alice", "pw", &format!("/records/{id}"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 200);
    // The probe: bob walks ids that mostly do not exist.
    for id in 1000..1030 {
        let _ = get(&moat, "bob", "pw", &format!("/records/{id}")).await;
    }
    moat.wait_stderr("security event").await;
    assert!(moat.stderr().contains("enumeration"));
    wait_status(&moat, "bob", "/records/1", 403).await;
    assert_eq!(get(&moat, "alice", "pw", "/records/1").await.status(), 200);
}

#[tokio::test]
async fn error_storms_and_scraping_are_reported() {
    let top = "anomaly:\n  error_storm: {min_errors: 40, min_error_percent: 80, window: 1m}\n  scraping: {sustained_requests: 150, sustained_window: 1m}\n";
    let (_dir, _up, moat) = start(top).await;
    // Benign: a normal mix stays quiet.
    for id in 1..=20 {
        let _ = get(&moat, "alice", "pw", &format!("/records/{id}")).await;
    }
    for id in 100..110 {
        let _ = get(&moat, "alice", "pw", &format!("/records/{id}")).await;
    }
    assert!(!moat.stderr().contains("security event"));
    // An error storm: bob's client loops on missing records.
    for _ in 0..45 {
        let _ = get(&moat, "bob", "pw", "/records/999").await;
    }
    moat.wait_stderr("error_storm").await;
    // Sustained volume: alice pulls far more than anyone needs.
    for i in 0..160 {
        let _ = get(&moat, "alice", "pw", &format!("/records/{}", 1 + i % 40)).await;
    }
    moat.wait_stderr("scraping_sustained").await;
}
