//! The inventory as Markdown (CommonMark with GitHub tables).

use std::fmt::Write as _;

use super::{Kind, Section, sections, summary_lines};
use crate::inventory::Inventory;

/// The inventory as a Markdown document titled `title`.
pub fn markdown(title: &str, inventory: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape(title));
    for line in summary_lines(inventory) {
        let _ = writeln!(out, "{}\n", escape(&line));
    }
    for section in sections(inventory) {
        write_section(&mut out, &section);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn write_section(out: &mut String, section: &Section) {
    let _ = writeln!(out, "## {}\n", section.title);
    if let Some(intro) = section.intro {
        let _ = writeln!(out, "{intro}\n");
    }
    if section.rows.is_empty() {
        let _ = writeln!(out, "{}\n", section.empty);
        return;
    }
    let names: Vec<&str> = section.columns.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    out.push('|');
    for (_, kind) in &section.columns {
        out.push_str(if *kind == Kind::Number {
            " --: |"
        } else {
            " :-- |"
        });
    }
    out.push('\n');
    for row in &section.rows {
        let cells: Vec<String> = row.iter().map(|c| escape(&c.text)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// `text` as literal Markdown inline text: every character that could
/// start markup (emphasis, links, code, HTML, table cells) is
/// backslash-escaped, and line breaks and other control characters become
/// spaces, so a value cannot leave its table cell or inject HTML.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
