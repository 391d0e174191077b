//! The inventory as one self-contained HTML page: inline CSS, no script,
//! nothing loaded from elsewhere (its Content-Security-Policy forbids it),
//! every value from the traffic escaped.

use std::fmt::Write as _;

use super::{Section, parameters_line, risk_cell, sections, statuses_line, summary_lines};
use crate::inventory::Inventory;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1b1f24}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font:13px ui-monospace,monospace}\
.shadow,.high{color:#9a3412;font-weight:600}.medium{color:#92400e}.zombie{color:#7c2d12;font-weight:600}.documented{color:#166534}";

/// The inventory as an HTML document titled `title`.
pub fn html(title: &str, inventory: &Inventory) -> String {
    let mut out = String::new();
    let title = escape(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    for line in summary_lines(inventory) {
        let _ = writeln!(out, "<p>{}</p>", escape(&line));
    }
    let judged = inventory.summary.standings.is_some();
    out.push_str("<h2>Operations</h2>\n");
    if inventory.operations.is_empty() {
        out.push_str("<p>None found.</p>\n");
    } else {
        out.push_str("<table>\n<thead><tr><th>Method</th><th>Path</th><th>Requests</th>");
        if judged {
            out.push_str("<th>Standing</th>");
        }
        out.push_str(
            "<th>Risk</th><th>Statuses</th><th>Parameters</th><th>Sensitive values</th></tr></thead>\n<tbody>\n",
        );
        for op in &inventory.operations {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"n\">{}</td>",
                escape(&op.method),
                escape(&op.path),
                op.requests
            );
            if judged {
                let standing = op.judgement.as_ref().map_or("", |j| j.standing.as_str());
                let _ = write!(out, "<td class=\"{standing}\">{standing}</td>");
            }
            let sensitive: u64 = op.sensitive.iter().map(|f| f.count).sum();
            let _ = writeln!(
                out,
                "<td class=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                op.risk.level.as_str(),
                risk_cell(op),
                escape(&statuses_line(op)),
                escape(&parameters_line(op)),
                sensitive
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    for section in sections(inventory) {
        write_section(&mut out, &section);
    }
    out.push_str("<h2>Sensitive data</h2>\n");
    let with: Vec<_> = inventory
        .operations
        .iter()
        .filter(|o| !o.sensitive.is_empty())
        .collect();
    if with.is_empty() {
        out.push_str("<p>None seen.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Operation</th><th>Location</th><th>Kind</th><th>Count</th></tr></thead>\n<tbody>\n",
        );
        for op in with {
            for f in &op.sensitive {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{} {}</code></td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td></tr>",
                    escape(&op.method),
                    escape(&op.path),
                    escape(&f.location),
                    f.kind.as_str(),
                    f.count
                );
            }
        }
        out.push_str("</tbody>\n</table>\n");
    }
    if let Some(orphans) = &inventory.orphans {
        out.push_str("<h2>Orphans</h2>\n<p>Documented, never seen in the traffic.</p>\n");
        if orphans.is_empty() {
            out.push_str("<p>None.</p>\n");
        } else {
            out.push_str(
                "<table>\n<thead><tr><th>Method</th><th>Path</th></tr></thead>\n<tbody>\n",
            );
            for o in orphans {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    escape(&o.method),
                    escape(&o.path)
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_section(out: &mut String, section: &Section) {
    let _ = writeln!(
        out,
        "<h2>{}</h2>\n<p>{}</p>",
        escape(section.title),
        escape(section.intro)
    );
    if section.rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(section.empty));
        return;
    }
    out.push_str("<table>\n<thead><tr>");
    for h in section.headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &section.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// `text` safe in HTML text and in quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
