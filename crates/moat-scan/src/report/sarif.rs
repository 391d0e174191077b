//! The SARIF 2.1.0 report, as GitHub code scanning and other SARIF readers
//! take it: every rule the scan ran (with its OWASP category, CWE and a
//! `security-severity`), one result per finding located at its operation
//! (a logical location, and the operation's line in the OpenAPI document),
//! the scan's errors and skipped steps as notifications.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value, json};

use super::{Report, SourceLocation};
use crate::finding::{Finding, Rule, Severity};

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const SOURCE_ROOT: &str = "%SRCROOT%";
const DOCS: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/scanner.md");

/// Characters a path segment of a URI may not hold as they are.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The report as SARIF 2.1.0 JSON.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&log(report)).unwrap_or_default();
    text.push('\n');
    text
}

/// The SARIF log as a JSON value.
pub fn log(report: &Report) -> Value {
    let rules = report.all_rules();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(report, &rules, f))
        .collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": "moat",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "informationUri": env!("CARGO_PKG_REPOSITORY"),
            "rules": rules.iter().map(|r| rule(report, r)).collect::<Vec<_>>(),
        }},
        "invocations": [invocation(report)],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": run_properties(report),
    });
    if let Ok(cwd) = std::env::current_dir()
        && let Some(uri) = file_uri(&cwd.to_string_lossy())
        && let Some(object) = run.as_object_mut()
    {
        object.insert(
            "originalUriBaseIds".into(),
            json!({SOURCE_ROOT: {"uri": format!("{}/", uri.trim_end_matches('/'))}}),
        );
    }
    json!({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})
}

/// `error`, `warning` or `note`.
pub const fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The score GitHub code scanning reads as the alert's security severity
/// (9.0 and above critical, 7.0 high, 4.0 medium, above 0 low); none for
/// information.
pub const fn security_severity(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Critical => Some("9.5"),
        Severity::High => Some("8.0"),
        Severity::Medium => Some("5.5"),
        Severity::Low => Some("3.0"),
        Severity::Info => None,
    }
}

fn rule(report: &Report, rule: &Rule) -> Value {
    let mut tags = vec![
        "security".to_string(),
        format!("OWASP-{}", rule.category.code()),
    ];
    if let Some(cwe) = rule.cwe {
        tags.push(format!("external/cwe/cwe-{cwe}"));
    }
    let mut properties = json!({"tags": tags, "precision": "high"});
    if let (Some(score), Some(object)) =
        (security_severity(rule.severity), properties.as_object_mut())
    {
        object.insert("security-severity".into(), json!(score));
    }
    let fix = report
        .findings
        .iter()
        .find(|f| f.rule == rule.id && !f.fix.moat.is_empty())
        .map(|f| f.fix.moat.as_str());
    let help = match fix {
        Some(fix) => format!("{}\n\nClose it at the gateway:\n\n{fix}", rule.description),
        None => format!(
            "{}\n\nEach finding names the moat configuration or document change that closes it.",
            rule.description
        ),
    };
    let help_markdown = match fix {
        Some(fix) => format!(
            "{}\n\nClose it at the gateway:\n\n{}",
            rule.description,
            super::markdown::fenced(fix)
        ),
        None => help.clone(),
    };
    json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": format!("{} ({})", rule.description, rule.category)},
        "help": {"text": help, "markdown": help_markdown},
        "helpUri": DOCS,
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": properties,
    })
}

fn result(report: &Report, rules: &[&Rule], finding: &Finding) -> Value {
    let index = rules.iter().position(|r| r.id == finding.rule).unwrap_or(0);
    let mut location = Map::new();
    if let Some(place) = report.location_of(finding) {
        location.insert("physicalLocation".into(), physical(&place));
    }
    let logical = super::place(finding);
    if !logical.is_empty() {
        location.insert(
            "logicalLocations".into(),
            json!([{"name": logical, "fullyQualifiedName": logical, "kind": "function"}]),
        );
    }
    let mut properties = json!({
        "severity": finding.severity.as_str(),
        "owasp": finding.category.code(),
        "detail": finding.detail,
        "evidence": finding.evidence,
        "fix": finding.fix,
    });
    if let (Some(identity), Some(object)) = (&finding.identity, properties.as_object_mut()) {
        object.insert("identity".into(), json!(identity));
    }
    let mut result = json!({
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": level(finding.severity),
        "message": {"text": format!("{}: {}", finding.title, finding.detail)},
        "locations": if location.is_empty() { json!([]) } else { json!([location]) },
        "partialFingerprints": {"moatFindingKey/v1": fingerprint(&finding.key())},
        "properties": properties,
    });
    if let (Some(new), Some(object)) = (report.is_new(finding), result.as_object_mut()) {
        object.insert(
            "baselineState".into(),
            json!(if new { "new" } else { "unchanged" }),
        );
    }
    result
}

fn physical(place: &SourceLocation) -> Value {
    let (uri, base) = if place.file.starts_with('/') {
        (file_uri(&place.file), None)
    } else {
        (Some(relative_uri(&place.file)), Some(SOURCE_ROOT))
    };
    let mut artifact = json!({"uri": uri.unwrap_or_default()});
    if let (Some(base), Some(object)) = (base, artifact.as_object_mut()) {
        object.insert("uriBaseId".into(), json!(base));
    }
    json!({
        "artifactLocation": artifact,
        "region": {"startLine": place.line.max(1)},
    })
}

fn relative_uri(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn file_uri(absolute: &str) -> Option<String> {
    absolute
        .starts_with('/')
        .then(|| format!("file://{}", relative_uri(absolute)))
}

fn invocation(report: &Report) -> Value {
    let mut notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| json!({"level": "error", "message": {"text": e}}))
        .collect();
    notifications.extend(report.skipped.iter().map(|s| {
        json!({
            "level": "note",
            "message": {"text": format!("{} skipped: {}", s.check, s.reason)},
            "descriptor": {"id": format!("skipped/{}", s.check.replace(' ', "-"))},
        })
    }));
    json!({
        "executionSuccessful": report.errors.is_empty(),
        "startTimeUtc": report.started,
        "toolExecutionNotifications": notifications,
    })
}

fn run_properties(report: &Report) -> Value {
    let mut properties = json!({
        "target": report.target,
        "api": report.api,
        "requests": report.requests,
        "durationMs": report.duration_ms,
        "identities": report
            .identities
            .iter()
            .map(|i| json!({"name": i.name, "role": i.role}))
            .collect::<Vec<_>>(),
    });
    if let (Some(comparison), Some(object)) = (&report.comparison, properties.as_object_mut()) {
        object.insert("comparison".into(), json!(comparison));
    }
    properties
}

/// A hex SHA-256 of the finding's key: stable across runs, and no text of
/// the finding in the clear.
fn fingerprint(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    const SCHEMA_TEXT: &str = include_str!("../../tests/data/sarif-schema-2.1.0.json");

    /// Validates `log` against the official SARIF 2.1.0 schema (draft 4),
    /// formats included: every error, or none.
    pub fn schema_errors(log: &Value) -> Vec<String> {
        let schema: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn valid_against_the_official_schema() {
        for report in [testing::report(), testing::clean()] {
            let log: Value = serde_json::from_str(&render(&report)).unwrap();
            let errors = schema_errors(&log);
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    #[test]
    fn the_schema_catches_what_is_wrong() {
        let mut log = log(&testing::report());
        log["runs"][0]["results"][0]["level"] = json!("fatal");
        log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = json!("not a uri");
        let errors = schema_errors(&log);
        assert_eq!(errors.len(), 2, "{errors:#?}");
    }

    #[test]
    fn rules_carry_category_cwe_and_security_severity() {
        let log = log(&testing::report());
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "moat");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        // The rules the scan ran, then the rule of a finding not among them.
        assert_eq!(ids, ["test.read", "test.sql", "test.quiet", "test.route"]);
        let sql = &rules[1];
        assert_eq!(
            sql["properties"]["tags"],
            json!(["security", "OWASP-API8:2023", "external/cwe/cwe-89"])
        );
        assert_eq!(sql["properties"]["security-severity"], "9.5");
        assert_eq!(sql["defaultConfiguration"]["level"], "error");
        assert!(
            sql["help"]["text"]
                .as_str()
                .unwrap()
                .contains("inspection:\n  sql: block")
        );
        let quiet = &rules[2];
        assert_eq!(quiet["defaultConfiguration"]["level"], "note");
        assert!(quiet["properties"].get("security-severity").is_none());
        assert_eq!(
            rules[3]["properties"]["tags"],
            json!(["security", "OWASP-API9:2023"])
        );
    }

    #[test]
    fn results_point_at_the_operation_in_the_document() {
        let report = testing::report();
        let log = log(&report);
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let sql = &results[0];
        assert_eq!(sql["ruleId"], "test.sql");
        assert_eq!(sql["ruleIndex"], 1);
        assert_eq!(sql["level"], "error");
        let location = &sql["locations"][0];
        assert_eq!(
            location["logicalLocations"][0],
            json!({"name": "GET /api/books/{bookId}", "fullyQualifiedName": "GET /api/books/{bookId}", "kind": "function"})
        );
        assert_eq!(
            location["physicalLocation"],
            json!({
                "artifactLocation": {"uri": "examples/book%20store/openapi.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 42}
            })
        );
        assert_eq!(
            sql["partialFingerprints"]["moatFindingKey/v1"],
            fingerprint(&report.findings[0].key())
        );
        assert_eq!(sql["properties"]["fix"]["api"], "use bound parameters");
        assert!(
            sql["properties"]["evidence"][0]["curl"]
                .as_str()
                .unwrap()
                .starts_with("curl ")
        );
        // Not in the locations known: the logical location only.
        let read = &results[1];
        assert!(read["locations"][0].get("physicalLocation").is_none());
        assert_eq!(results[2]["ruleIndex"], 3);
        // The undocumented path points at the document.
        assert_eq!(
            results[2]["locations"][0]["physicalLocation"]["region"]["startLine"],
            1
        );
        let base = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            base.starts_with("file:///") && base.ends_with('/'),
            "{base}"
        );
    }

    #[test]
    fn the_baseline_state_and_notifications() {
        let log = log(&testing::report());
        let run = &log["runs"][0];
        let states: Vec<&str> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["baselineState"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["new", "unchanged", "new"]);
        assert_eq!(
            run["properties"]["comparison"]["closed"][0]["rule"],
            "test.read"
        );
        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0]["level"], "error");
        assert_eq!(notes[1]["level"], "note");
        let clean = super::log(&testing::clean());
        assert_eq!(
            clean["runs"][0]["invocations"][0]["executionSuccessful"],
            true
        );
        assert!(
            clean["runs"][0]["results"][0]
                .get("baselineState")
                .is_none()
        );
    }

    #[test]
    fn levels_and_scores_follow_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(security_severity(Severity::High), Some("8.0"));
        assert_eq!(security_severity(Severity::Info), None);
    }
}
