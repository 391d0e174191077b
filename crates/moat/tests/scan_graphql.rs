//! `moat scan --checks graphql` against the demo bookstore's GraphQL API:
//! every planted GraphQL weakness found, and nothing on the fixed API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Bookstore, rules_found, scan_bookstore, tempdir};

/// Each finding's rule and where it was found (`METHOD path` or a path).
fn places(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let place = support::finding_place(f);
            (f["rule"].as_str().unwrap().to_string(), place)
        })
        .collect();
    out.sort();
    out
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(r, p)| (r.to_string(), p.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_graphql_weakness_is_found_with_writes_allowed() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "graphql", "--allow-writes"],
    );
    assert_eq!(
        places(&report),
        expected(&[
            ("graphql.aliases", "POST /graphql"),
            ("graphql.batching", "POST /graphql"),
            ("graphql.depth", "POST /graphql"),
            ("graphql.get-mutation", "GET /graphql"),
            ("graphql.graphiql", "/api/graphiql"),
            ("graphql.introspection", "POST /graphql"),
            ("graphql.suggestions", "POST /graphql"),
        ]),
        "{report:#}"
    );
}

#[test]
fn without_writes_queries_go_over_get_and_the_batch_is_skipped() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(dir.path(), &store.url(), &["--checks", "graphql"]);
    assert_eq!(
        places(&report),
        expected(&[
            ("graphql.aliases", "GET /graphql"),
            ("graphql.depth", "GET /graphql"),
            ("graphql.get-mutation", "GET /graphql"),
            ("graphql.graphiql", "/api/graphiql"),
            ("graphql.introspection", "GET /graphql"),
            ("graphql.suggestions", "GET /graphql"),
        ]),
        "{report:#}"
    );
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("needs --allow-writes"), "{skipped}");
}

#[test]
fn the_fixed_graphql_api_shows_nothing() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "graphql", "--allow-writes"],
    );
    assert_eq!(rules_found(&report), Vec::<String>::new(), "{report:#}");
    // The endpoint was found and tested: depth is skipped for want of a
    // schema, not for want of an endpoint.
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("introspection is closed"), "{skipped}");
}

#[test]
fn each_weakness_alone_is_found_alone() {
    let dir = tempdir();
    let store = Bookstore::start("graphql-aliases,graphql-suggestions");
    let report = scan_bookstore(
        dir.path(),
        &store.url(),
        &["--checks", "graphql", "--allow-writes"],
    );
    let mut rules = rules_found(&report);
    rules.sort();
    assert_eq!(
        rules,
        ["graphql.aliases", "graphql.suggestions"],
        "{report:#}"
    );
}

#[test]
fn behind_moat_only_the_get_mutation_remains() {
    // `moat demo`: the bookstore with every weakness on, behind the
    // gateway with examples/bookstore/moat.yaml. The gateway's GraphQL
    // defaults refuse introspection, deep and aliased queries, mask
    // suggestions; the document's object body refuses batches; the IDE
    // page is undocumented. A GET query is not parsed by the gateway, so
    // only the document change named in the fix closes the last one.
    let dir = tempdir();
    let moat = support::Moat::spawn(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let report = scan_bookstore(
        dir.path(),
        &moat.url(""),
        &["--checks", "graphql", "--allow-writes"],
    );
    assert_eq!(
        places(&report),
        expected(&[("graphql.get-mutation", "GET /graphql")]),
        "{report:#}"
    );
}
