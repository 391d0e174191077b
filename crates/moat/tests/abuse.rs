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
    let m = moat.metrics().await;
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

/// A shop whose reads are open to anonymous callers too.
const SHOP_SPEC: &str = r#"
openapi: 3.0.3
info: {title: shop, version: "1"}
security: [{Basic: []}, {}]
paths:
  /records/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
      - {name: fields, in: query, schema: {type: string}}
    get: {operationId: getRecord, responses: {"200": {description: ok}, "404": {description: missing}}}
  /files/{filename}:
    parameters: [{name: filename, in: path, required: true, schema: {type: string}}]
    get: {operationId: getFile, responses: {"200": {description: ok}}}
  /products/{productId}/reviews:
    parameters: [{name: productId, in: path, required: true, schema: {type: integer}}]
    get: {operationId: listReviews, responses: {"200": {description: ok}}}
components:
  securitySchemes:
    Basic: {type: http, scheme: basic}
"#;

/// One request, with basic credentials or anonymous; its status.
async fn status(moat: &Moat, user: Option<&str>, path: &str) -> u16 {
    let mut req = client().get(moat.url(path));
    if let Some(user) = user {
        req = req.basic_auth(user, Some("pw"));
    }
    req.send().await.unwrap().status().as_u16()
}

/// What an ordinary user does in a session: reads their 40 records (and
/// a few stale links that are gone), downloads 60 files, reads the
/// reviews of 60 products. Every answer must be the upstream's.
async fn ordinary_session(moat: &Moat, user: Option<&str>) {
    for round in 0..2 {
        for id in 1..=40 {
            let s = status(moat, user, &format!("/records/{id}")).await;
            assert_eq!(s, 200, "{user:?} round {round} record {id}");
        }
    }
    for id in 41..=44 {
        assert_eq!(status(moat, user, &format!("/records/{id}")).await, 404);
    }
    for i in 0..60 {
        let s = status(moat, user, &format!("/files/report-{i}.pdf")).await;
        assert_eq!(s, 200, "{user:?} file {i}");
        let s = status(moat, user, &format!("/products/{i}/reviews")).await;
        assert_eq!(s, 200, "{user:?} reviews {i}");
    }
}

/// An attacker's injection attempts, each naming another record: all
/// refused by attack inspection before any record is looked up.
async fn injection_attempts(moat: &Moat, user: Option<&str>, first: u32) {
    for id in first..first + 60 {
        let path = format!("/records/{id}?fields=%27%20OR%20%271%27%3D%271%27%20--");
        assert_eq!(status(moat, user, &path).await, 403, "{user:?} attack {id}");
    }
}

#[tokio::test]
async fn a_mixed_run_from_one_address_bans_only_the_enumerator() {
    let up = upstream(None).await;
    let dir = tempdir();
    write(dir.path(), "spec.yaml", SHOP_SPEC);
    let h = hash_password("pw");
    let mut consumers = String::from("consumers:\n");
    for user in ["alice", "bob", "carol", "mallory"] {
        consumers.push_str(&format!(
            "  - id: {user}\n    basic: {{username: {user}, password_hash: \"{h}\"}}\n"
        ));
    }
    // Default detector settings throughout.
    let cfg = format!(
        "{consumers}{}",
        config(&up.url(), "    security:\n      Basic: {type: basic}\n")
    );
    write(dir.path(), "moat.yaml", &cfg);
    let moat = Moat::start(dir.path());

    // Everyone shares 127.0.0.1: three users, an anonymous visitor, and
    // two attackers (one signed in, one anonymous) sending injections.
    tokio::join!(
        ordinary_session(&moat, Some("alice")),
        ordinary_session(&moat, Some("bob")),
        ordinary_session(&moat, Some("carol")),
        ordinary_session(&moat, None),
        injection_attempts(&moat, Some("mallory"), 1000),
        injection_attempts(&moat, None, 2000),
    );
    // With every detector at its defaults, the run is no event at all:
    // nobody was banned, and no detector took it for an attack pattern.
    let log = moat.stderr();
    assert!(!log.contains("security event"), "{log}");
    for user in [Some("alice"), Some("bob"), Some("mallory"), None] {
        assert_eq!(status(&moat, user, "/records/1").await, 200, "{user:?}");
    }
    // The security events, at the default `events.coalesce`: every
    // injection counted, each attacker's burst stored as its first events
    // and a count; the neighbours' requests made none.
    let url = format!("http://{}/admin/events?limit=1000", moat.admin.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let page: Value = client()
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = page["events"].as_array().unwrap().clone();
        let counted: u64 = events
            .iter()
            .map(|e| 1 + e["repeats"].as_u64().unwrap_or(0))
            .sum();
        if counted == 120 {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "{counted} of 120 injections counted: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for who in [Some("mallory"), None] {
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["consumer"].as_str() == who)
            .collect();
        assert!(
            mine.iter().all(|e| e["kind"] == "attack-detected"),
            "{mine:#?}"
        );
        let counted: u64 = mine
            .iter()
            .map(|e| 1 + e["repeats"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(counted, 60, "{who:?}");
        assert!(
            mine.len() < 30,
            "{who:?}: {} events stored for 60 attacks",
            mine.len()
        );
    }

    // An anonymous enumerator behind the same address walks record ids.
    for id in 3000..3060 {
        let _ = status(&moat, None, &format!("/records/{id}")).await;
    }
    moat.wait_stderr("enumeration").await;
    // Caught: anonymous requests for records are refused from now on...
    let r = client().get(moat.url("/records/1")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("retry-after"));
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "urn:moat:problem:banned");
    // ...while the neighbours keep working: signed-in users on records,
    // anonymous visitors on everything else.
    assert_eq!(status(&moat, Some("alice"), "/records/1").await, 200);
    assert_eq!(status(&moat, Some("carol"), "/records/2").await, 200);
    assert_eq!(status(&moat, None, "/files/readme.pdf").await, 200);
    assert_eq!(status(&moat, None, "/products/1/reviews").await, 200);

    // A signed-in enumerator is banned as the consumer it is, everywhere.
    for id in 4000..4060 {
        let _ = status(&moat, Some("mallory"), &format!("/records/{id}")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&moat, Some("mallory"), "/files/readme.pdf").await != 403 {
        assert!(Instant::now() < deadline, "mallory was never banned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moat.stderr().contains("consumer mallory"));
    assert_eq!(status(&moat, Some("bob"), "/records/1").await, 200);
    assert_eq!(status(&moat, Some("bob"), "/files/readme.pdf").await, 200);
}

#[tokio::test]
async fn detector_bans_do_not_outlive_the_gateway() {
    let top = "anomaly:\n  enumeration: {distinct_objects: 10, window: 1m, ban: 1h}\n";
    let (dir, _up, mut moat) = start(top).await;
    for id in 1000..1010 {
        let _ = get(&moat, "bob", "pw", &format!("/records/{id}")).await;
    }
    wait_status(&moat, "bob", "/records/1", 403).await;
    // Not written to the store: `moat bans` lists only operator bans.
    let out = Command::new(MOAT)
        .args(["bans", "--config"])
        .arg(dir.path().join("moat.yaml"))
        .arg("list")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("bob"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    moat.signal("TERM");
    moat.wait_exit(Duration::from_secs(10));
    let moat = Moat::start(dir.path());
    assert_eq!(get(&moat, "bob", "pw", "/records/1").await.status(), 200);
}
