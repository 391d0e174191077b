//! The JUnit XML report, as GitLab, Jenkins, Azure Pipelines and most CI
//! systems show test results: a test suite per OWASP category, a test case
//! per rule that ran (passing when it found nothing) and per rule and
//! operation where it found something (a `<failure>` per finding, its type
//! the severity), and the steps skipped and the scan's errors in a suite of
//! their own.

use std::fmt::Write as _;

use super::{Report, comparison_line, place};
use crate::finding::{Category, Finding};

/// One `<testcase>`.
struct Case<'a> {
    class: String,
    name: String,
    failures: Vec<&'a Finding>,
    skipped: Option<String>,
    errors: Vec<&'a str>,
}

/// One `<testsuite>`.
struct Suite<'a> {
    name: String,
    cases: Vec<Case<'a>>,
}

impl Suite<'_> {
    fn count(&self, what: fn(&Case<'_>) -> usize) -> usize {
        self.cases.iter().map(what).sum()
    }
}

/// The report as JUnit XML.
pub fn render(report: &Report) -> String {
    let suites = suites(report);
    let total = |what: fn(&Case<'_>) -> usize| suites.iter().map(|s| s.count(what)).sum::<usize>();
    let seconds = report.duration_ms as f64 / 1000.0;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"moat scan\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
        total(|_| 1),
        total(|c| c.failures.len()),
        total(|c| c.errors.len()),
        total(|c| usize::from(c.skipped.is_some())),
    );
    for suite in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" timestamp=\"{}\">",
            esc(&suite.name),
            suite.cases.len(),
            suite.count(|c| c.failures.len()),
            suite.count(|c| c.errors.len()),
            suite.count(|c| usize::from(c.skipped.is_some())),
            esc(report.started.trim_end_matches('Z')),
        );
        for case in &suite.cases {
            write_case(&mut out, case);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn write_case(out: &mut String, case: &Case<'_>) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        esc(&case.class),
        esc(&case.name)
    );
    if case.failures.is_empty() && case.skipped.is_none() && case.errors.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for finding in &case.failures {
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            esc(&finding.title),
            finding.severity,
            esc_text(&failure_text(finding))
        );
    }
    if let Some(reason) = &case.skipped {
        let _ = writeln!(out, "      <skipped message=\"{}\"/>", esc(reason));
    }
    for error in &case.errors {
        let _ = writeln!(out, "      <error message=\"{}\"/>", esc(error));
    }
    out.push_str("    </testcase>\n");
}

fn failure_text(finding: &Finding) -> String {
    let mut text = format!("{}\n", finding.detail);
    if let Some(identity) = &finding.identity {
        let _ = writeln!(text, "identity: {identity}");
    }
    for evidence in &finding.evidence {
        let _ = writeln!(text, "\nevidence: {}\n{}", evidence.observed, evidence.curl);
    }
    if !finding.fix.moat.is_empty() {
        let _ = writeln!(text, "\nfix at the gateway:\n{}", finding.fix.moat);
    }
    if let Some(api) = &finding.fix.api {
        let _ = writeln!(text, "\nfix in the API: {api}");
    }
    text
}

fn suites(report: &Report) -> Vec<Suite<'_>> {
    let rules = report.all_rules();
    let mut suites: Vec<Suite<'_>> = Category::ALL
        .into_iter()
        .filter_map(|category| {
            let mut cases = Vec::new();
            for rule in rules.iter().filter(|r| r.category == category) {
                let found: Vec<&Finding> = report
                    .findings
                    .iter()
                    .filter(|f| f.rule == rule.id)
                    .collect();
                if found.is_empty() {
                    cases.push(Case {
                        class: category.code().to_string(),
                        name: format!("{} {}", rule.id, rule.name),
                        failures: Vec::new(),
                        skipped: None,
                        errors: Vec::new(),
                    });
                    continue;
                }
                let mut places: Vec<String> = found.iter().map(|f| place(f)).collect();
                places.dedup();
                for at in places {
                    cases.push(Case {
                        class: category.code().to_string(),
                        name: format!("{} {at}", rule.id).trim_end().to_string(),
                        failures: found.iter().copied().filter(|f| place(f) == at).collect(),
                        skipped: None,
                        errors: Vec::new(),
                    });
                }
            }
            (!cases.is_empty()).then(|| Suite {
                name: category.to_string(),
                cases,
            })
        })
        .collect();
    let mut scan = Vec::new();
    for skip in &report.skipped {
        scan.push(Case {
            class: "moat scan".into(),
            name: skip.check.to_string(),
            failures: Vec::new(),
            skipped: Some(skip.reason.clone()),
            errors: Vec::new(),
        });
    }
    if !report.errors.is_empty() {
        scan.push(Case {
            class: "moat scan".into(),
            name: "scan".into(),
            failures: Vec::new(),
            skipped: None,
            errors: report.errors.iter().map(String::as_str).collect(),
        });
    }
    if let Some(comparison) = &report.comparison {
        scan.push(Case {
            class: "moat scan".into(),
            name: format!("baseline: {}", comparison_line(comparison)),
            failures: Vec::new(),
            skipped: None,
            errors: Vec::new(),
        });
        for closed in &comparison.closed {
            scan.push(Case {
                class: "moat scan".into(),
                name: format!("closed: {} {}", closed.rule, closed.title),
                failures: Vec::new(),
                skipped: None,
                errors: Vec::new(),
            });
        }
    }
    if !scan.is_empty() {
        suites.push(Suite {
            name: "moat scan".into(),
            cases: scan,
        });
    }
    suites
}

/// Text as XML 1.0 character data: [`esc`], line breaks and tabs kept as
/// they are.
fn esc_text(value: &str) -> String {
    value
        .split('\n')
        .map(|line| line.split('\t').map(esc).collect::<Vec<_>>().join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text as an XML 1.0 attribute value (or character data): markup
/// characters and whitespace other than a space as references, characters
/// XML 1.0 cannot hold dropped.
pub fn esc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{self, HOSTILE};
    use quick_xml::events::Event;
    use quick_xml::{Reader, XmlVersion};

    /// Every element's name and attributes, and the text of each
    /// `<failure>`, as a reader sees them.
    struct Parsed {
        elements: Vec<(String, Vec<(String, String)>)>,
        failure_text: Vec<String>,
    }

    fn parse(xml: &str) -> Parsed {
        let mut reader = Reader::from_str(xml);
        let mut parsed = Parsed {
            elements: Vec::new(),
            failure_text: Vec::new(),
        };
        let mut in_failure = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.name().as_ref().to_string();
                    in_failure = name == "failure";
                    let attributes = e
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
                    parsed.elements.push((name, attributes));
                }
                Event::Text(t) if in_failure => {
                    parsed.failure_text.push(t.xml10_content().into_owned());
                }
                Event::GeneralRef(r) if in_failure => {
                    let c = match r.resolve_char_ref().unwrap() {
                        Some(c) => c,
                        None => match r.xml10_content().as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "quot" => '"',
                            "apos" => '\'',
                            other => panic!("unknown entity {other}"),
                        },
                    };
                    parsed.failure_text.push(c.to_string());
                }
                Event::End(_) => in_failure = false,
                Event::Eof => break,
                _ => {}
            }
        }
        parsed
    }

    fn attr<'a>(element: &'a (String, Vec<(String, String)>), name: &str) -> &'a str {
        element
            .1
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn count(parsed: &Parsed, name: &str) -> usize {
        parsed.elements.iter().filter(|(n, _)| n == name).count()
    }

    #[test]
    fn parses_and_the_counts_add_up() {
        let report = testing::report();
        let parsed = parse(&render(&report));
        let root = &parsed.elements[0];
        assert_eq!(root.0, "testsuites");
        assert_eq!(count(&parsed, "failure"), report.findings.len());
        assert_eq!(attr(root, "failures"), report.findings.len().to_string());
        assert_eq!(attr(root, "tests"), count(&parsed, "testcase").to_string());
        assert_eq!(attr(root, "skipped"), "1");
        assert_eq!(attr(root, "errors"), "1");
        assert_eq!(count(&parsed, "skipped"), 1);
        assert_eq!(count(&parsed, "error"), 1);
        let suites: Vec<_> = parsed
            .elements
            .iter()
            .filter(|(n, _)| n == "testsuite")
            .collect();
        let names: Vec<&str> = suites.iter().map(|s| attr(s, "name")).collect();
        assert_eq!(
            names,
            [
                "API1:2023 Broken Object Level Authorization",
                "API4:2023 Unrestricted Resource Consumption",
                "API8:2023 Security Misconfiguration",
                "API9:2023 Improper Inventory Management",
                "moat scan",
            ]
        );
        let per_suite: usize = suites
            .iter()
            .map(|s| attr(s, "tests").parse::<usize>().unwrap())
            .sum();
        assert_eq!(per_suite, count(&parsed, "testcase"));
        // The rule that found nothing passes; the one that found, fails.
        let cases: Vec<&str> = parsed
            .elements
            .iter()
            .filter(|(n, _)| n == "testcase")
            .map(|c| attr(c, "name"))
            .collect();
        assert!(cases.contains(&"test.quiet A rule that finds nothing"));
        assert!(cases.contains(&"test.sql GET /api/books/{bookId}"));
        assert!(cases.contains(&"test.route /debug"));
        assert!(
            cases
                .iter()
                .any(|c| c.starts_with("closed: test.read closed <script>"))
        );
    }

    #[test]
    fn hostile_values_come_back_as_they_were() {
        let parsed = parse(&render(&testing::report()));
        let failure = parsed
            .elements
            .iter()
            .find(|(n, e)| n == "failure" && attr(&(n.clone(), e.clone()), "type") == "critical")
            .unwrap();
        let without_control: String = HOSTILE.chars().filter(|c| !c.is_control()).collect();
        assert_eq!(
            attr(failure, "message"),
            format!("parameter `q` {without_control}")
        );
        let text = parsed.failure_text.join("");
        assert!(
            text.contains("curl -H 'x: <script>alert(\"x\")</script> & ]]> 'q'"),
            "{text}"
        );
        assert!(text.contains("fix in the API: use bound parameters\n"));
    }

    #[test]
    fn a_clean_report_passes() {
        let parsed = parse(&render(&testing::clean()));
        assert_eq!(attr(&parsed.elements[0], "failures"), "0");
        assert_eq!(attr(&parsed.elements[0], "tests"), "1");
        assert_eq!(count(&parsed, "failure"), 0);
    }

    #[test]
    fn xml_cannot_hold_control_characters() {
        assert_eq!(esc("a\u{1}b\u{1b}c"), "abc");
        assert_eq!(esc("a\nb"), "a&#10;b");
        assert_eq!(esc_text("a\n<b>\tc\r"), "a\n&lt;b&gt;\tc&#13;");
        assert_eq!(esc("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
    }
}
