//! `moat scan` end to end: the real binary against the demo's bookstore.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Bookstore, rules_found, scan, scan_bookstore, tempdir};

/// Every rule a planted weakness of the bookstore trips. The other rules
/// of the scan need another kind of target (`tls.*`: an https or a
/// non-loopback one; `auth.invalid-token`: an API that takes any token)
/// and are tested against one in scan_surface.rs and moat-scan's tests.
const PLANTED: &[&str] = &[
    "bola.path",
    "bola.query",
    "bola.body",
    "bola.write",
    "auth.no-credentials",
    "auth.unsigned-token",
    "auth.alg-none",
    "auth.expired-token",
    "auth.weak-jwt-secret",
    "auth.user-enumeration",
    "auth.no-lockout",
    "property.mass-assignment",
    "property.undeclared-field",
    "property.sensitive-field",
    "resources.no-rate-limit",
    "resources.unbounded-page",
    "resources.unbounded-body",
    "resources.redos",
    "bfla.privileged-operation",
    "bfla.method-swap",
    "bfla.account-takeover",
    "flow.unthrottled",
    "ssrf.fetch",
    "cors.reflected-origin",
    "headers.missing",
    "errors.verbose",
    "methods.trace",
    "methods.undocumented",
    "server.version",
    "injection.sql-error",
    "injection.sql-boolean",
    "injection.sql-time",
    "injection.nosql",
    "injection.command",
    "injection.path-traversal",
    "injection.template",
    "inventory.old-version",
    "inventory.deprecated-live",
    "inventory.debug-route",
    "inventory.exposed-docs",
    "graphql.introspection",
    "graphql.suggestions",
    "graphql.batching",
    "graphql.depth",
    "graphql.aliases",
    "graphql.get-mutation",
    "graphql.graphiql",
];

#[test]
fn with_every_weakness_on_every_check_finds_its_own() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(dir.path(), &store.url(), &["--allow-writes"]);
    let found = rules_found(&report);
    let missing: Vec<&&str> = PLANTED
        .iter()
        .filter(|r| !found.iter().any(|f| f == *r))
        .collect();
    assert!(missing.is_empty(), "not found: {missing:?}\n{report:#}");
    // Nothing secret in any of it.
    let text = report.to_string();
    for secret in [
        "wonderland",
        "through-the-looking-glass",
        "your-256-bit-secret",
        "eyJ",
    ] {
        assert!(!text.contains(secret), "`{secret}` is in the report");
    }
}

#[test]
fn the_fixed_bookstore_has_no_finding() {
    let dir = tempdir();
    let store = Bookstore::start("none");
    let report = scan_bookstore(dir.path(), &store.url(), &["--allow-writes"]);
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    assert!(report["requests"].as_u64().unwrap() > 500, "{report}");
    // Every check ran: the rules it ran are all the scan has.
    assert!(
        report["errors"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let config = support::bookstore_scan_config(dir.path(), &store.url());
    let (code, stdout, stderr) = scan(&["--config", config.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("nothing is sent"), "{stdout}");
    assert!(stdout.contains("identity alice (user)"), "{stdout}");
    assert!(stdout.contains("identity admin (privileged)"), "{stdout}");
}

#[test]
fn logs_every_identity_in_and_reports_json() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let report = scan_bookstore(dir.path(), &store.url(), &[]);
    let names: Vec<&str> = report["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["anonymous", "alice", "bob", "admin"], "{report}");
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn a_login_that_fails_is_a_clear_error() {
    let dir = tempdir();
    let store = Bookstore::start("all");
    let config = support::write(
        dir.path(),
        "scan.yaml",
        &format!(
            "target: {}\nspec: {}\nidentities:\n  - name: eve\n    role: user\n    login:\n      path: /api/login\n      json: {{username: alice, password: nope}}\n      token: {{pointer: /auth_token}}\n",
            store.url(),
            support::bookstore_spec().display()
        ),
    );
    let (code, _, stderr) = scan(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("identity `eve`: the login at /api/login was answered 401"),
        "{stderr}"
    );
}

#[test]
fn config_errors_carry_their_position() {
    let dir = tempdir();
    let config = support::write(
        dir.path(),
        "scan.yaml",
        "target: http://127.0.0.1:1\nidentities:\n  - name: a\n    role: admin\n",
    );
    let (code, _, stderr) = scan(&["--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("scan.yaml:4:11"), "{stderr}");
}

/// Scans the bare bookstore, then the same bookstore behind `moat demo`'s
/// gateway with the first report as the baseline: the second report says
/// which weaknesses the gateway closed.
#[test]
fn behind_moat_the_report_shows_what_the_gateway_closed() {
    let dir = tempdir();
    let bare = Bookstore::start("all");
    let baseline = dir.path().join("bare.json");
    let config = support::bookstore_scan_config(dir.path(), &bare.url());
    let (code, _, stderr) = scan(&[
        "--config",
        config.to_str().unwrap(),
        "--allow-writes",
        "--json",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let bare_report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();

    let demo = support::Moat::spawn(&["demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let gateway = format!("http://{}", demo.addrs[0]);
    let report = scan_bookstore(
        dir.path(),
        &gateway,
        &["--allow-writes", "--baseline", baseline.to_str().unwrap()],
    );
    let closed: Vec<(String, String)> = report["comparison"]["closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let closed_at = |rule: &str, place: &str| {
        closed
            .iter()
            .any(|(r, key)| r == rule && key.contains(&format!("|{place}|")))
    };
    // Ownership rules (`object_access`), roles, response filtering against
    // the document, request validation and shadow blocking each closed
    // theirs.
    for (rule, place) in [
        ("bola.path", "GET /orders/{orderId}"),
        ("bola.query", "GET /invoices"),
        ("bfla.privileged-operation", "GET /admin/users"),
        ("bola.path", "GET /notes/{title}"),
        ("property.sensitive-field", "GET /users/{userId}"),
        ("property.undeclared-field", "GET /users/{userId}"),
        ("property.mass-assignment", "POST /books"),
        ("bfla.method-swap", "/orders/{orderId}"),
    ] {
        assert!(
            closed_at(rule, place),
            "{rule} at {place} is not closed: {closed:?}"
        );
    }
    let before = bare_report["findings"].as_array().unwrap().len();
    let after = report["findings"].as_array().unwrap().len();
    assert!(
        after < before,
        "{after} findings behind moat, {before} without"
    );
    assert_eq!(
        report["comparison"]["new"], 0,
        "the gateway added weaknesses: {report}"
    );
}

#[test]
fn identities_from_flags_alone() {
    // The bookstore trusts the gateway's consumer header: identities made
    // of one header each, given on the command line.
    let store = Bookstore::start("bola-numeric");
    let spec = support::bookstore_spec();
    let (code, stdout, stderr) = scan(&[
        "--spec",
        spec.to_str().unwrap(),
        "--target",
        &store.url(),
        "--identity",
        "alice:user:header:X-Moat-Consumer=alice",
        "--identity",
        "bob:user:header:X-Moat-Consumer=bob",
        "--identity",
        "admin:privileged:header:X-Moat-Consumer=admin",
        "--checks",
        "bola",
        "--allow-writes",
        "--rate",
        "100",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "bola.path")
        .filter_map(|f| f["operation"]["path"].as_str())
        .collect();
    assert_eq!(paths, ["/orders/{orderId}"], "{report:#}");
    // The header's value is a credential: never in the evidence.
    assert!(!stdout.contains("X-Moat-Consumer: alice"), "{stdout}");
}

#[test]
fn a_malformed_identity_flag_is_refused_with_a_hint() {
    let spec = support::bookstore_spec();
    let (code, _, stderr) = scan(&[
        "--spec",
        spec.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1",
        "--identity",
        "alice:admin:bearer:x",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown role `admin`"), "{stderr}");
    assert!(stderr.contains("hint: NAME:ROLE:bearer:TOKEN"), "{stderr}");
}
