//! Human-readable reports of an [`Inventory`]: Markdown and a single
//! self-contained HTML page (inline CSS, no scripts, nothing fetched).
//!
//! Both show the same sections: the summary (requests read, operations by
//! standing, operations with sensitive data), a table of operations, the
//! sensitive data by operation and location, and the orphans. Templates,
//! parameter names and locations come from traffic, so every one of them
//! is escaped for the format it is written in.

mod html;
mod markdown;

pub use html::html;
pub use markdown::markdown;

use crate::inventory::{Inventory, Operation};

/// An operation's parameters as one short line: `id (path, integer),
/// page (query, integer, optional)`.
fn parameters_line(op: &Operation) -> String {
    op.parameters
        .iter()
        .map(|p| {
            let mut s = format!("{} ({}, {}", p.name, p.location.as_str(), p.value_type);
            if let Some(format) = p.format {
                s.push_str(&format!(" {format}"));
            }
            if !p.required {
                s.push_str(", optional");
            }
            if p.repeated {
                s.push_str(", repeated");
            }
            s.push(')');
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statuses seen, comma-separated.
fn statuses_line(op: &Operation) -> String {
    op.statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary's sentences, shared by both formats (plain text, to be
/// escaped by the caller, though only numbers vary).
fn summary_lines(inventory: &Inventory) -> Vec<String> {
    let s = &inventory.summary;
    let i = &inventory.input;
    let mut lines = vec![format!(
        "{} requests read, {} operations found, {} with sensitive data.",
        i.requests, s.operations, s.with_sensitive_data
    )];
    if i.skipped > 0 {
        lines.push(format!(
            "{} entries skipped: {} malformed, {} with a path that has no one canonical form.",
            i.skipped, i.malformed, i.no_canonical_path
        ));
    }
    if let Some(c) = s.standings {
        lines.push(format!(
            "Against the document: {} documented, {} shadow, {} zombie, {} orphan.",
            c.documented, c.shadow, c.zombie, c.orphan
        ));
    }
    lines
}

#[cfg(test)]
mod tests;
