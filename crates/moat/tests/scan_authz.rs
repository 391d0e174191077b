//! `moat scan`'s authorization, property and business-flow checks against
//! the demo bookstore: every planted weakness of the area found on its
//! operation, nothing on the fixed API, nothing written without
//! `--allow-writes`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Bookstore, scan_bookstore, tempdir};

const CHECKS: &str = "bola,bfla,property,flow";

/// The rule families of this area.
const FAMILIES: &[&str] = &["bola.", "bfla.", "property.", "flow."];

/// `(rule, "METHOD /path")` of each finding (the path alone when the
/// finding names no documented operation).
fn found(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let place = support::finding_place(f);
            (f["rule"].as_str().unwrap().to_string(), place)
        })
        .collect()
}

#[test]
fn every_planted_authorization_weakness_is_found_on_its_operation() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", CHECKS, "--allow-writes"],
    );
    let found = found(&report);
    for (rule, place) in [
        ("bola.path", "GET /orders/{orderId}"),
        ("bola.path", "GET /notes/{title}"),
        ("bola.query", "GET /invoices"),
        ("bola.body", "POST /orders/lookup"),
        ("bola.write", "DELETE /books/{bookId}"),
        ("bfla.privileged-operation", "GET /admin/users"),
        ("bfla.privileged-operation", "DELETE /books/{bookId}"),
        ("bfla.method-swap", "/orders/{orderId}"),
        ("bfla.account-takeover", "PATCH /users/{userId}"),
        ("bfla.account-takeover", "PUT /users/{userId}/password"),
        ("property.mass-assignment", "POST /books"),
        ("property.mass-assignment", "PATCH /users/{userId}"),
        ("property.undeclared-field", "GET /users/{userId}"),
        ("property.sensitive-field", "GET /users/{userId}"),
        ("flow.unthrottled", "POST /coupons/redeem"),
    ] {
        assert!(
            found.contains(&(rule.to_string(), place.to_string())),
            "{rule} on {place} missing: {found:?}"
        );
    }
    // Ordering books is not a business flow the document marks.
    assert!(
        !found.contains(&("flow.unthrottled".into(), "POST /orders".into())),
        "{found:?}"
    );
    // Evidence names fields, never their values.
    let text = report.to_string();
    assert!(!text.contains("$2b$12$"), "a password hash leaked: {text}");
    assert!(!text.contains("900-12-3456"), "an ssn leaked: {text}");
}

#[test]
fn the_fixed_bookstore_shows_nothing() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", CHECKS, "--allow-writes"],
    );
    let found: Vec<(String, String)> = found(&report)
        .into_iter()
        .filter(|(rule, _)| FAMILIES.iter().any(|f| rule.starts_with(f)))
        .collect();
    assert_eq!(found, Vec::<(String, String)>::new(), "{report}");
    assert!(report["requests"].as_u64().unwrap() > 50, "{report}");
}

/// What a scan could change: the catalogue, the accounts, the first order.
async fn state(base: &str) -> (Value, Value, u16) {
    let client = support::client();
    let token = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": "through-the-looking-glass"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["auth_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let books = get("/api/books?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = get("/api/admin/users").await.unwrap().json().await.unwrap();
    let order = get("/api/orders/1").await.unwrap().status().as_u16();
    (books, users, order)
}

#[tokio::test]
async fn without_writes_nothing_changes_and_the_skips_say_why() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let before = state(&store.url()).await;
    assert_eq!(before.2, 404, "no order yet");
    let report = scan_bookstore(dir.path(), &store.url(), &["--checks", CHECKS]);
    assert_eq!(
        state(&store.url()).await,
        before,
        "the scan changed the bookstore"
    );
    let found = found(&report);
    // What reads alone show is still found.
    for (rule, place) in [
        ("bfla.privileged-operation", "GET /admin/users"),
        ("property.sensitive-field", "GET /users/{userId}"),
    ] {
        assert!(
            found.contains(&(rule.to_string(), place.to_string())),
            "{rule} on {place} missing: {found:?}"
        );
    }
    for rule in [
        "bola.body",
        "bola.write",
        "property.mass-assignment",
        "bfla.account-takeover",
        "flow.unthrottled",
    ] {
        assert!(!found.iter().any(|(r, _)| r == rule), "{rule}: {found:?}");
    }
    let skipped = report["skipped"].to_string();
    for reason in [
        "mass assignment needs writes",
        "account takeover needs writes",
        "business flow(s) not tried",
        "DELETE needs writes",
    ] {
        assert!(
            skipped.contains(reason),
            "no skip saying {reason:?}: {skipped}"
        );
    }
}
