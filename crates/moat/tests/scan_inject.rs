//! `moat scan --checks injection` against the demo bookstore: every planted
//! injection weakness is found at its operation, and nothing on the fixed
//! API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Bookstore, rules_found, scan_bookstore, tempdir};

/// The findings of `rule`: (method, path, title).
fn at(report: &Value, rule: &str) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            (
                f["operation"]["method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["operation"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn assert_one(report: &Value, rule: &str, method: &str, path: &str, param: &str) {
    let found = at(report, rule);
    assert_eq!(found.len(), 1, "{rule}: {found:?}\n{report:#}");
    let (m, p, title) = &found[0];
    assert_eq!(
        (m.as_str(), p.as_str()),
        (method, path),
        "{rule}: {found:?}"
    );
    assert!(title.contains(&format!("`{param}`")), "{rule}: {title}");
}

#[test]
fn every_planted_injection_is_found_where_it_is() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(dir.path(), &store.url(), &["--checks", "injection"]);
    let authors = "/authors/{name}/books";
    assert_one(&report, "injection.sql-error", "GET", authors, "name");
    assert_one(&report, "injection.sql-boolean", "GET", authors, "name");
    assert_one(&report, "injection.sql-time", "GET", authors, "name");
    assert_one(&report, "injection.nosql", "POST", "/login", "password");
    assert_one(&report, "injection.command", "GET", "/tools/ping", "host");
    assert_one(
        &report,
        "injection.path-traversal",
        "GET",
        "/files/{name}",
        "name",
    );
    assert_one(&report, "injection.template", "GET", "/greeting", "name");
    let evidence = report["findings"][0]["evidence"][0]["curl"]
        .as_str()
        .unwrap();
    assert!(evidence.starts_with("curl"), "{evidence}");
}

#[test]
fn the_fixed_bookstore_has_no_injection() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    // Writes allowed: JSON body fields are injection points too.
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "injection", "--allow-writes"],
    );
    let found: Vec<String> = rules_found(&report)
        .into_iter()
        .filter(|r| r.starts_with("injection."))
        .collect();
    assert_eq!(found, Vec::<String>::new(), "{report:#}");
    assert!(report["requests"].as_u64().unwrap() > 50, "{report}");
}
