//! The HTML report: one self-contained page (its style inline, no script,
//! nothing fetched, a Content-Security-Policy that forbids anything else)
//! with the summary, the findings by OWASP category, what was skipped, the
//! errors and, with a baseline, what was closed. Every value is escaped.

use std::fmt::Write as _;

use super::{Report, comparison_line, findings_count, place};
use crate::finding::{Finding, Severity};

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#1b1b1b}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
pre{background:#f4f4f4;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}\
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .8em}summary{cursor:pointer}\
.sev{display:inline-block;min-width:5.5em;font-weight:600;text-transform:uppercase}\
.critical{color:#8b0000}.high{color:#c0392b}.medium{color:#b9770e}.low{color:#1f618d}.info{color:#555}\
.new{background:#fde2e2;padding:0 .3em;border-radius:3px;font-size:.85em}";

/// The report as one HTML page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("moat scan of {}", report.api);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    summary(&mut out, report);
    if let Some(comparison) = &report.comparison {
        let _ = write!(
            out,
            "<h2>Compared with the baseline</h2>\n<p>{}</p>\n",
            esc(&comparison_line(comparison))
        );
        if !comparison.closed.is_empty() {
            out.push_str("<p>Closed (found in the baseline, not found now):</p>\n<ul>\n");
            for closed in &comparison.closed {
                let _ = writeln!(
                    out,
                    "<li><span class=\"sev {sev}\">{sev}</span> <code>{}</code> {}</li>",
                    esc(&closed.rule),
                    esc(&closed.title),
                    sev = esc(&closed.severity),
                );
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        out.push_str("<p>None.</p>\n");
    }
    for (category, findings) in report.by_category() {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&category.to_string()));
        for finding in findings {
            one(&mut out, report, finding);
        }
    }
    if !report.skipped.is_empty() {
        out.push_str("<h2>Skipped</h2>\n<ul>\n");
        for skip in &report.skipped {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong>: {}</li>",
                esc(skip.check),
                esc(&skip.reason)
            );
        }
        out.push_str("</ul>\n");
    }
    if !report.errors.is_empty() {
        out.push_str("<h2>Errors</h2>\n<ul>\n");
        for error in &report.errors {
            let _ = writeln!(out, "<li>{}</li>", esc(error));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn summary(out: &mut String, report: &Report) {
    out.push_str("<table>\n");
    let rows = super::summary_rows(report, esc);
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<h2>{}</h2>\n<table>\n<tr><th>Severity</th><th>Findings</th></tr>",
        findings_count(report.findings.len())
    );
    for (severity, n) in report.counts() {
        let _ = writeln!(
            out,
            "<tr><td><span class=\"sev {severity}\">{severity}</span></td><td>{n}</td></tr>"
        );
    }
    out.push_str("</table>\n");
    let categories = report.by_category();
    if !categories.is_empty() {
        out.push_str("<table>\n<tr><th>OWASP category</th><th>Findings</th></tr>\n");
        for (category, findings) in categories {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&category.to_string()),
                findings.len()
            );
        }
        out.push_str("</table>\n");
    }
}

fn one(out: &mut String, report: &Report, finding: &Finding) {
    let new = match report.is_new(finding) {
        Some(true) => " <span class=\"new\">new</span>",
        _ => "",
    };
    let _ = writeln!(
        out,
        "<details open>\n<summary>{} {}{new}</summary>",
        badge(finding.severity),
        esc(&finding.title)
    );
    let _ = write!(out, "<p>Rule <code>{}</code>", esc(finding.rule));
    let at = place(finding);
    if !at.is_empty() {
        let _ = write!(out, " at <code>{}</code>", esc(&at));
    }
    if let Some(identity) = &finding.identity {
        let _ = write!(out, ", as {}", esc(identity));
    }
    let _ = writeln!(out, "</p>\n<p>{}</p>", esc(&finding.detail));
    for evidence in &finding.evidence {
        let status = evidence
            .status
            .map(|s| format!(" (answered {s})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<p>Evidence{status}: {}</p>\n<pre><code>{}</code></pre>",
            esc(&evidence.observed),
            esc(&evidence.curl)
        );
    }
    if !finding.fix.moat.is_empty() {
        let _ = writeln!(
            out,
            "<p>Fix at the gateway:</p>\n<pre><code>{}</code></pre>",
            esc(&finding.fix.moat)
        );
    }
    if let Some(api) = &finding.fix.api {
        let _ = writeln!(out, "<p>Fix in the API: {}</p>", esc(api));
    }
    out.push_str("</details>\n");
}

fn badge(severity: Severity) -> String {
    format!("<span class=\"sev {severity}\">{severity}</span>")
}

/// Text as HTML text or an attribute value: the five characters that can
/// end either are written as references, and control characters go.
pub fn esc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing;

    #[test]
    fn a_page_that_runs_nothing_and_fetches_nothing() {
        let html = render(&testing::report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        ));
        assert_eq!(html.matches("<script").count(), 0, "{html}");
        for fetch in ["src=", "href=", "url(", "@import"] {
            assert!(!html.contains(fetch), "{fetch} in {html}");
        }
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn hostile_values_are_escaped_everywhere() {
        let html = render(&testing::report());
        assert!(html.contains(
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; ]]&gt; &#39;q&#39;"
        ));
        assert!(!html.contains('\u{1}'));
        // title, summary table, finding title, detail, evidence, fix,
        // skip, error, closed finding, identity
        assert!(html.matches("&lt;script&gt;").count() >= 10, "{html}");
        assert!(html.contains("alice &lt;admin&gt;"));
    }

    #[test]
    fn shows_the_findings_by_category_and_the_comparison() {
        let html = render(&testing::report());
        for part in [
            "<h3>API1:2023 Broken Object Level Authorization</h3>",
            "<h3>API8:2023 Security Misconfiguration</h3>",
            "1 closed, 1 still open, 2 new since the baseline scan of http://127.0.0.1:9090/",
            "<h2>3 findings</h2>",
            "<h2>Skipped</h2>",
            "<h2>Errors</h2>",
            "<span class=\"new\">new</span>",
            "<code>GET /api/books/{bookId}</code>",
        ] {
            assert!(html.contains(part), "{part} missing");
        }
        // The finding the baseline had is not marked new.
        let read = html.find("bob reads alice&#39;s order").unwrap();
        let line_end = html[read..].find('\n').unwrap();
        assert!(!html[read..read + line_end].contains("new"));
    }

    #[test]
    fn every_element_opened_is_closed() {
        let html = render(&testing::report());
        for tag in ["details", "table", "ul", "pre", "code", "p", "h2", "h3"] {
            assert_eq!(
                html.matches(&format!("<{tag}>")).count()
                    + html.matches(&format!("<{tag} ")).count(),
                html.matches(&format!("</{tag}>")).count(),
                "<{tag}>"
            );
        }
    }
}
