//! The inventory as Markdown (CommonMark with GitHub tables).

use std::fmt::Write as _;

use super::{Section, parameters_line, risk_cell, sections, statuses_line, summary_lines};
use crate::inventory::Inventory;

/// The inventory as a Markdown document titled `title`.
pub fn markdown(title: &str, inventory: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape(title));
    for line in summary_lines(inventory) {
        let _ = writeln!(out, "{}\n", escape(&line));
    }
    let judged = inventory.summary.standings.is_some();
    out.push_str("## Operations\n\n");
    if inventory.operations.is_empty() {
        out.push_str("None found.\n\n");
    } else {
        out.push_str("| Method | Path | Requests |");
        if judged {
            out.push_str(" Standing |");
        }
        out.push_str(" Risk | Statuses | Parameters | Sensitive values |\n");
        out.push_str("| :-- | :-- | --: |");
        if judged {
            out.push_str(" :-- |");
        }
        out.push_str(" :-- | :-- | :-- | --: |\n");
        for op in &inventory.operations {
            let _ = write!(
                out,
                "| {} | {} | {} |",
                escape(&op.method),
                escape(&op.path),
                op.requests
            );
            if judged {
                let standing = op.judgement.as_ref().map_or("", |j| j.standing.as_str());
                let _ = write!(out, " {standing} |");
            }
            let sensitive: u64 = op.sensitive.iter().map(|f| f.count).sum();
            let _ = writeln!(
                out,
                " {} | {} | {} | {} |",
                risk_cell(op),
                escape(&statuses_line(op)),
                escape(&parameters_line(op)),
                sensitive
            );
        }
        out.push('\n');
    }
    for section in sections(inventory) {
        write_section(&mut out, &section);
    }
    out.push_str("## Sensitive data\n\n");
    let with: Vec<_> = inventory
        .operations
        .iter()
        .filter(|o| !o.sensitive.is_empty())
        .collect();
    if with.is_empty() {
        out.push_str("None seen.\n\n");
    } else {
        out.push_str("| Operation | Location | Kind | Count |\n| :-- | :-- | :-- | --: |\n");
        for op in with {
            for f in &op.sensitive {
                let _ = writeln!(
                    out,
                    "| {} {} | {} | {} | {} |",
                    escape(&op.method),
                    escape(&op.path),
                    escape(&f.location),
                    f.kind.as_str(),
                    f.count
                );
            }
        }
        out.push('\n');
    }
    if let Some(orphans) = &inventory.orphans {
        out.push_str("## Orphans\n\nDocumented, never seen in the traffic.\n\n");
        if orphans.is_empty() {
            out.push_str("None.\n");
        } else {
            out.push_str("| Method | Path |\n| :-- | :-- |\n");
            for o in orphans {
                let _ = writeln!(out, "| {} | {} |", escape(&o.method), escape(&o.path));
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn write_section(out: &mut String, section: &Section) {
    let _ = writeln!(out, "## {}\n\n{}\n", section.title, section.intro);
    if section.rows.is_empty() {
        let _ = writeln!(out, "{}\n", section.empty);
        return;
    }
    let _ = writeln!(out, "| {} |", section.headers.join(" | "));
    let _ = writeln!(out, "|{}", " :-- |".repeat(section.headers.len()));
    for row in &section.rows {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
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
