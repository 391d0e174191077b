//! A report built by hand for the formats' tests: rules of three
//! categories, a finding whose every field is hostile text, a finding at an
//! undocumented path, a rule that found nothing, a skip, an error and a
//! comparison with a baseline.

use std::collections::BTreeMap;

use super::{Baseline, IdentitySummary, PriorFinding, Report, SourceLocation};
use crate::checks::Skip;
use crate::finding::{Category, Evidence, Finding, OperationRef, Rule, Severity};

pub static READ: Rule = Rule {
    id: "test.read",
    name: "Another user's object is read",
    category: Category::Api1,
    severity: Severity::High,
    cwe: Some(639),
    description: "An identity reads an object that belongs to another.",
};

pub static SQL: Rule = Rule {
    id: "test.sql",
    name: "SQL injection",
    category: Category::Api8,
    severity: Severity::Critical,
    cwe: Some(89),
    description: "A parameter is spliced into SQL.",
};

pub static ROUTE: Rule = Rule {
    id: "test.route",
    name: "Undocumented route",
    category: Category::Api9,
    severity: Severity::Low,
    cwe: None,
    description: "The API answers a path its document does not list.",
};

pub static QUIET: Rule = Rule {
    id: "test.quiet",
    name: "A rule that finds nothing",
    category: Category::Api4,
    severity: Severity::Info,
    cwe: Some(770),
    description: "Never found in these tests.",
};

/// Text no format may pass through unescaped.
pub const HOSTILE: &str = "<script>alert(\"x\")</script> & ]]> 'q' | `tick` *b* \u{1}";

pub fn report() -> Report {
    let hostile = Finding::new(
        &SQL,
        format!("parameter `q` {HOSTILE}"),
        format!("the answer echoed {HOSTILE}"),
    )
    .at(OperationRef {
        method: "GET".into(),
        path: "/api/books/{bookId}".into(),
        operation_id: Some("getBook".into()),
    })
    .by("alice <admin>")
    .evidence(Evidence {
        curl: format!("curl -H 'x: {HOSTILE}' http://127.0.0.1/api/books/1"),
        status: Some(500),
        observed: format!("body: {HOSTILE}"),
    })
    .fix(format!("inspection:\n  sql: block # {HOSTILE}"))
    .fix_api("use bound parameters");
    let read = Finding::new(&READ, "bob reads alice's order", "GET as bob answered 200")
        .at(OperationRef {
            method: "GET".into(),
            path: "/api/orders/{orderId}".into(),
            operation_id: None,
        })
        .by("bob")
        .fix("object_access: ...");
    let route = Finding::new(&ROUTE, "undocumented /debug", "200 to GET /debug").at_path("/debug");
    let mut locations = BTreeMap::new();
    locations.insert(
        "GET /api/books/{bookId}".to_string(),
        SourceLocation {
            file: "examples/book store/openapi.yaml".into(),
            line: 42,
        },
    );
    let mut report = Report {
        tool: "moat 0.1.0",
        target: "http://127.0.0.1:8080/".into(),
        api: format!("Bookstore {HOSTILE}"),
        started: "2026-01-02T03:04:05Z".into(),
        duration_ms: 1234,
        requests: 321,
        identities: vec![
            IdentitySummary {
                name: "anonymous".into(),
                role: "anonymous",
            },
            IdentitySummary {
                name: "alice <admin>".into(),
                role: "user",
            },
        ],
        findings: vec![hostile, read, route],
        skipped: vec![Skip {
            check: "object-level authorization",
            reason: format!("only one user {HOSTILE}"),
        }],
        errors: vec![format!("the request budget was spent {HOSTILE}")],
        rules: vec![&READ, &SQL, &QUIET],
        document: Some("examples/book store/openapi.yaml".into()),
        locations,
        comparison: None,
    };
    report.compare(&Baseline {
        target: "http://127.0.0.1:9090/".into(),
        findings: vec![
            PriorFinding {
                key: report.findings[1].key(),
                rule: "test.read".into(),
                severity: "high".into(),
                title: "bob reads alice's order".into(),
            },
            PriorFinding {
                key: "test.read|GET /api/notes/{title}|closed one".into(),
                rule: "test.read".into(),
                severity: "high".into(),
                title: format!("closed {HOSTILE}"),
            },
        ],
    });
    report
}

/// A report with nothing found, nothing skipped and no error.
pub fn clean() -> Report {
    Report {
        tool: "moat 0.1.0",
        target: "http://127.0.0.1:8080/".into(),
        api: "Bookstore 1".into(),
        started: "2026-01-02T03:04:05Z".into(),
        duration_ms: 10,
        requests: 3,
        identities: vec![IdentitySummary {
            name: "anonymous".into(),
            role: "anonymous",
        }],
        findings: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
        rules: vec![&QUIET],
        document: None,
        locations: BTreeMap::new(),
        comparison: None,
    }
}
