//! `moat scan`'s authentication (API2) and resource-consumption (API4)
//! checks against the demo bookstore, logged in through its real login:
//! every planted weakness of the two areas is found, and the fixed
//! bookstore shows none.

mod support;

use serde_json::Value;
use support::{Bookstore, rules_found, scan_bookstore, tempdir};

/// (rule, method, path) of every finding of the areas.
fn found(report: &Value) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            let rule = f["rule"].as_str().unwrap_or_default();
            rule.starts_with("auth.") || rule.starts_with("resources.")
        })
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["operation"]["method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["operation"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

fn has(found: &[(String, String, String)], rule: &str, method: &str, path: &str) -> bool {
    found
        .iter()
        .any(|(r, m, p)| r == rule && m == method && p == path)
}

#[test]
fn every_planted_weakness_is_found() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "auth,resources", "--allow-writes"],
    );
    let found = found(&report);
    for (rule, method, path) in [
        ("auth.no-credentials", "GET", "/users/{userId}"),
        ("auth.user-enumeration", "POST", "/login"),
        ("auth.no-lockout", "POST", "/login"),
        ("resources.no-rate-limit", "GET", "/books"),
        ("resources.no-rate-limit", "POST", "/login"),
        ("resources.unbounded-page", "GET", "/books"),
        ("resources.unbounded-body", "POST", "/books"),
        ("resources.redos", "GET", "/users/check-email"),
    ] {
        assert!(
            has(&found, rule, method, path),
            "{rule} at {method} {path} not found in {found:#?}\n{report:#}"
        );
    }
    // The token rules are shown on the first secured read that answers a
    // user and refuses anonymous callers, whichever that is.
    for rule in [
        "auth.unsigned-token",
        "auth.alg-none",
        "auth.weak-jwt-secret",
        "auth.expired-token",
    ] {
        assert!(
            found.iter().any(|(r, m, _)| r == rule && m == "GET"),
            "{rule} not found in {found:#?}"
        );
    }
    // No planted weakness takes a garbage token.
    assert!(!rules_found(&report).contains(&"auth.invalid-token".to_string()));
    // Evidence never carries the cracked secret or a token.
    let text = report.to_string();
    assert!(!text.contains("your-256-bit-secret"), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
}

#[test]
fn the_fixed_bookstore_shows_none() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "auth,resources", "--allow-writes"],
    );
    assert_eq!(found(&report), [], "{report:#}");
    // Every check ran: only the expired-token step, which needs a way to
    // sign, is skipped.
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("expired tokens not tried"), "{skipped}");
    assert!(!skipped.contains("no secured read"), "{skipped}");
}

#[test]
fn a_token_weakness_alone_is_found_alone() {
    // Unverified signatures without the other token weaknesses: the
    // expired token is sent with the old signature, and only what is
    // planted is reported.
    let dir = tempdir();
    let store = Bookstore::start("jwt-unverified");
    let report = scan_bookstore(dir.path(), &store.url(), &["--checks", "auth"]);
    let rules: Vec<String> = found(&report).into_iter().map(|(r, _, _)| r).collect();
    assert_eq!(rules, ["auth.unsigned-token"], "{report:#}");
}
