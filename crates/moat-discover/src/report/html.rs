//! The inventory as one self-contained HTML page: inline CSS, no script,
//! nothing loaded from elsewhere (its Content-Security-Policy forbids it),
//! every value from the traffic escaped.

use std::fmt::Write as _;

use super::{Kind, Section, sections, summary_lines};
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
    for section in sections(inventory) {
        write_section(&mut out, &section);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_section(out: &mut String, section: &Section) {
    let _ = writeln!(out, "<h2>{}</h2>", escape(section.title));
    if let Some(intro) = section.intro {
        let _ = writeln!(out, "<p>{}</p>", escape(intro));
    }
    if section.rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", escape(section.empty));
        return;
    }
    out.push_str("<table>\n<thead><tr>");
    for (name, _) in &section.columns {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &section.rows {
        out.push_str("<tr>");
        for (cell, (_, kind)) in row.iter().zip(&section.columns) {
            let class = match (kind, cell.class) {
                (Kind::Number, _) => Some("n"),
                (_, class) => class.filter(|c| !c.is_empty()),
            };
            match class {
                Some(c) => {
                    let _ = write!(out, "<td class=\"{}\">", escape(c));
                }
                None => out.push_str("<td>"),
            }
            let text = escape(&cell.text);
            if *kind == Kind::Code {
                let _ = write!(out, "<code>{text}</code></td>");
            } else {
                let _ = write!(out, "{text}</td>");
            }
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
