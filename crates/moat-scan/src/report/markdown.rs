//! The Markdown report, for a pull request comment, a CI job summary or a
//! wiki page: the summary, the findings by OWASP category, each with its
//! evidence and fix, what was skipped, the errors and, with a baseline,
//! what was closed. Every value from the target or the document is escaped,
//! so a hostile answer cannot add markup.

use std::fmt::Write as _;

use super::{Report, comparison_line, findings_count, place};
use crate::finding::Finding;

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# moat scan of {}\n", text(&report.api));
    summary(&mut out, report);
    if let Some(comparison) = &report.comparison {
        let _ = writeln!(out, "## Compared with the baseline\n");
        let _ = writeln!(out, "{}\n", text(&comparison_line(comparison)));
        if !comparison.closed.is_empty() {
            let _ = writeln!(out, "Closed (found in the baseline, not found now):\n");
            for closed in &comparison.closed {
                let _ = writeln!(
                    out,
                    "- {} `{}` {}",
                    closed.severity.to_uppercase(),
                    code(&closed.rule),
                    text(&closed.title)
                );
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "## Findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(out, "None.\n");
    }
    for (category, findings) in report.by_category() {
        let _ = writeln!(out, "### {category}\n");
        for finding in findings {
            one(&mut out, report, finding);
        }
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "## Skipped\n");
        for skip in &report.skipped {
            let _ = writeln!(out, "- **{}**: {}", text(skip.check), text(&skip.reason));
        }
        out.push('\n');
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "## Errors\n");
        for error in &report.errors {
            let _ = writeln!(out, "- {}", text(error));
        }
        out.push('\n');
    }
    out
}

fn summary(out: &mut String, report: &Report) {
    let _ = writeln!(out, "| | |\n|---|---|");
    let rows = super::summary_rows(report, text);
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "**{}**\n\n| Severity | Findings |\n|---|---:|",
        findings_count(report.findings.len())
    );
    for (severity, n) in report.counts() {
        let _ = writeln!(out, "| {severity} | {n} |");
    }
    out.push('\n');
    let categories = report.by_category();
    if !categories.is_empty() {
        let _ = writeln!(out, "| OWASP category | Findings |\n|---|---:|");
        for (category, findings) in categories {
            let _ = writeln!(out, "| {category} | {} |", findings.len());
        }
        out.push('\n');
    }
}

fn one(out: &mut String, report: &Report, finding: &Finding) {
    let new = match report.is_new(finding) {
        Some(true) => " (new)",
        _ => "",
    };
    let _ = writeln!(
        out,
        "#### {} {}{new}\n",
        finding.severity.as_str().to_uppercase(),
        text(&finding.title)
    );
    let _ = writeln!(out, "- Rule: `{}`", code(finding.rule));
    let at = place(finding);
    if !at.is_empty() {
        let what = if finding.operation.is_some() {
            "Operation"
        } else {
            "Path"
        };
        let _ = writeln!(out, "- {what}: `{}`", code(&at));
    }
    if let Some(identity) = &finding.identity {
        let _ = writeln!(out, "- Identity: {}", text(identity));
    }
    let _ = writeln!(out, "\n{}\n", text(&finding.detail));
    for evidence in &finding.evidence {
        let status = evidence
            .status
            .map(|s| format!(" (answered {s})"))
            .unwrap_or_default();
        let _ = writeln!(out, "Evidence{status}: {}\n", text(&evidence.observed));
        let _ = writeln!(out, "{}\n", fenced_as("sh", &evidence.curl));
    }
    if !finding.fix.moat.is_empty() {
        let _ = writeln!(
            out,
            "Fix at the gateway:\n\n{}\n",
            fenced_as("yaml", &finding.fix.moat)
        );
    }
    if let Some(api) = &finding.fix.api {
        let _ = writeln!(out, "Fix in the API: {}\n", text(api));
    }
}

/// Text in a Markdown code block whose fence no line of it can close.
pub fn fenced(content: &str) -> String {
    fenced_as("", content)
}

fn fenced_as(language: &str, content: &str) -> String {
    let content: String = content
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{content}\n{fence}")
}

/// Text as Markdown shows it, and no markup: HTML is written as entities,
/// Markdown's punctuation is escaped, a line break is a space (so a value
/// stays in its list item or table cell) and control characters go.
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text inside an inline code span: backticks and line breaks would end
/// it, and a `|` would end a table cell.
fn code(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '`' { '\'' } else { c })
        .collect::<String>()
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn shows_the_summary_the_findings_by_category_and_the_comparison() {
        let md = render(&testing::report());
        for part in [
            "## Compared with the baseline",
            "1 closed, 1 still open, 2 new since the baseline scan of http://127.0.0.1:9090/",
            "### API1:2023 Broken Object Level Authorization",
            "### API8:2023 Security Misconfiguration",
            "### API9:2023 Improper Inventory Management",
            "| critical | 1 |",
            "| high | 1 |",
            "| Requests | 321 in 1.2 s |",
            "- Operation: `GET /api/books/{bookId}`",
            "## Skipped",
            "## Errors",
            "Fix in the API: use bound parameters",
        ] {
            assert!(md.contains(part), "{part} missing from\n{md}");
        }
        let api1 = md.find("### API1").unwrap();
        let api8 = md.find("### API8").unwrap();
        assert!(api1 < api8, "categories in order");
    }

    #[test]
    fn hostile_values_add_no_markup() {
        let md = render(&testing::report());
        // Raw only inside code blocks, which Markdown shows as they are.
        let mut fence = false;
        for line in md.lines() {
            if line.starts_with("```") {
                fence = !fence;
            } else if !fence {
                assert!(!line.contains("<script>"), "unescaped: {line}");
            }
        }
        assert!(!md.contains('\u{1}'));
        assert!(md.contains("&lt;script&gt;"));
        // The curl is in a code block that its own backticks cannot close.
        assert!(md.contains("curl -H 'x: <script>alert(\"x\")</script> & ]]>"));
        assert!(md.contains("```sh\ncurl"));
    }

    #[test]
    fn a_fence_is_longer_than_any_backtick_run_inside() {
        assert_eq!(fenced("a ```` b"), "`````\na ```` b\n`````");
        assert_eq!(fenced("plain"), "```\nplain\n```");
    }

    #[test]
    fn a_clean_report_says_none() {
        let md = render(&testing::clean());
        assert!(md.contains("**0 findings**"));
        assert!(md.contains("## Findings\n\nNone."));
        assert!(!md.contains("## Skipped") && !md.contains("## Errors"));
    }
}
