//! `moat scan` writes every report format through the real binary against
//! the demo bookstore: each well-formed, SARIF valid against the official
//! schema, the counts the same in all of them, the comparison with a
//! baseline in each, and `--fail-on` deciding the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use serde_json::{Value, json};
use support::{Bookstore, MOAT, bookstore_scan_config, tempdir};

/// The repository's root: the scan runs there, so the document's path in
/// the reports is `examples/bookstore/openapi.yaml`.
fn root() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
}

fn sarif_schema() -> Value {
    let path = root().join("crates/moat-scan/tests/data/sarif-schema-2.1.0.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JUnit report's `<testsuites>` attributes, and how many of each
/// element it holds.
fn junit_counts(xml: &str) -> (Vec<(String, String)>, [usize; 4]) {
    let mut reader = Reader::from_str(xml);
    let mut root = Vec::new();
    let mut counts = [0; 4];
    loop {
        match reader.read_event().expect("well-formed JUnit XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                if name == "testsuites" {
                    root = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                a.key.as_ref().to_string(),
                                a.normalized_value(XmlVersion::Explicit1_0)
                                    .unwrap()
                                    .into_owned(),
                            )
                        })
                        .collect();
                }
                let at = ["testcase", "failure", "skipped", "error"]
                    .iter()
                    .position(|n| *n == name);
                if let Some(i) = at {
                    counts[i] += 1;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (root, counts)
}

fn attr<'a>(attributes: &'a [(String, String)], name: &str) -> &'a str {
    attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

#[test]
fn every_format_from_one_scan_with_a_baseline() {
    let store = Bookstore::start("all");
    let dir = tempdir();
    let config = bookstore_scan_config(dir.path(), &store.url());
    // A baseline with a finding this scan cannot make: it shows as closed.
    let baseline = dir.path().join("baseline.json");
    std::fs::write(
        &baseline,
        json!({
            "target": "http://127.0.0.1:1/",
            "findings": [{
                "key": "bola.path|GET /nowhere|a finding of the earlier scan",
                "rule": "bola.path",
                "severity": "high",
                "title": "a finding of the earlier scan",
            }],
        })
        .to_string(),
    )
    .unwrap();
    let file = |name: &str| dir.path().join(name);
    let out = Command::new(MOAT)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("scan")
        .arg("--config")
        .arg(&config)
        .arg("--baseline")
        .arg(&baseline)
        .args(["--fail-on", "info"])
        .arg("--json")
        .arg(file("r.json"))
        .arg("--sarif")
        .arg(file("r.sarif"))
        .arg("--junit")
        .arg(file("r.xml"))
        .arg("--markdown")
        .arg(file("r.md"))
        .arg("--html")
        .arg(file("r.html"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap();

    let report: Value = serde_json::from_str(&read("r.json")).unwrap();
    let findings = report["findings"].as_array().unwrap().len();
    // --fail-on info: 1 exactly when something was found.
    assert_eq!(
        out.status.code(),
        Some(i32::from(findings > 0)),
        "{stdout}\n{stderr}"
    );
    assert_eq!(report["document"], "examples/bookstore/openapi.yaml");
    assert_eq!(
        report["comparison"]["closed"][0]["title"],
        "a finding of the earlier scan"
    );
    assert_eq!(report["comparison"]["new"], findings);
    assert_eq!(report["comparison"]["still_open"], 0);

    // SARIF: valid against the official schema, a result per finding,
    // each at a rule the driver lists.
    let sarif: Value = serde_json::from_str(&read("r.sarif")).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&sarif_schema())
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "moat");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), findings);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert_eq!(result["baselineState"], "new");
        if let Some(physical) = result["locations"][0].get("physicalLocation") {
            assert_eq!(
                physical["artifactLocation"]["uri"],
                "examples/bookstore/openapi.yaml"
            );
            // A documented operation is at its line; an undocumented path
            // (a debug route, an old version) at the document's start.
            let logical = result["locations"][0]["logicalLocations"][0]["name"]
                .as_str()
                .unwrap_or_default();
            let line = physical["region"]["startLine"].as_u64().unwrap();
            if logical.contains(' ') {
                assert!(line > 1, "{result:#}");
            } else {
                assert!(line >= 1, "{result:#}");
            }
        }
    }
    assert_eq!(
        run["invocations"][0]["executionSuccessful"],
        report["errors"].as_array().unwrap().is_empty()
    );
    assert_eq!(
        run["properties"]["comparison"]["closed"][0]["rule"],
        "bola.path"
    );

    // JUnit: well-formed, a failure per finding, a passing case per rule
    // that found nothing, the counts in the root adding up.
    let (root_attrs, [cases, failures, skipped, errors]) = junit_counts(&read("r.xml"));
    assert_eq!(failures, findings);
    assert_eq!(attr(&root_attrs, "tests"), cases.to_string());
    assert_eq!(attr(&root_attrs, "failures"), failures.to_string());
    assert_eq!(attr(&root_attrs, "skipped"), skipped.to_string());
    assert_eq!(attr(&root_attrs, "errors"), errors.to_string());
    assert_eq!(skipped, report["skipped"].as_array().unwrap().len());
    assert!(cases >= rules.len(), "a test case per rule at least");
    assert!(read("r.xml").contains("closed: bola.path a finding of the earlier scan"));

    // Markdown and HTML: the summary, the counts, the closed one.
    let closed_line = format!(
        "1 closed, 0 still open, {findings} new since the baseline scan of http://127.0.0.1:1/"
    );
    let counted = if findings == 1 {
        "1 finding".to_string()
    } else {
        format!("{findings} findings")
    };
    let md = read("r.md");
    assert!(md.starts_with("# moat scan of "), "{md}");
    assert!(md.contains(&format!("**{counted}**")));
    assert!(md.contains(&closed_line), "{md}");
    let html = read("r.html");
    assert!(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"));
    assert!(html.contains(&format!("<h2>{counted}</h2>")));
    assert!(html.contains(&closed_line));
    assert!(html.trim_end().ends_with("</html>"));

    // The terminal summary on standard output, without colour.
    assert!(stdout.contains(&format!("{counted}: ")), "{stdout}");
    assert!(stdout.contains(&closed_line));
    assert!(stdout.contains("a finding of the earlier scan"));
    assert!(!stdout.contains('\x1b'));
}

#[test]
fn each_format_on_standard_output() {
    let store = Bookstore::start("none");
    let dir = tempdir();
    let config = bookstore_scan_config(dir.path(), &store.url());
    for (format, starts) in [
        ("json", "{"),
        ("sarif", "{"),
        ("junit", "<?xml"),
        ("markdown", "# moat scan of"),
        ("html", "<!DOCTYPE html>"),
    ] {
        let out = Command::new(MOAT)
            .arg("scan")
            .arg("--config")
            .arg(&config)
            .args(["--checks", "API9", "--format", format])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with(starts), "{format}: {stdout}");
    }
}

#[test]
fn an_unknown_fail_on_severity_is_refused() {
    let (code, _, stderr) = support::scan(&[
        "--spec",
        support::bookstore_spec().to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1",
        "--fail-on",
        "severe",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown severity `severe`"), "{stderr}");
}
