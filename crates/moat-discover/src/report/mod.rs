//! Human-readable reports of an [`Inventory`]: Markdown and a single
//! self-contained HTML page (inline CSS, no scripts, nothing fetched).
//!
//! Both show the same sections: the summary (requests read, operations by
//! standing and by risk, operations with sensitive data), a table of
//! operations, then the [`sections`] both render the same way (risk with
//! its factors, credentials seen, zombies, schema drift), the sensitive
//! data by operation and location, and the orphans. Templates,
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

/// The statuses seen, comma-separated, then the answers' media types:
/// `200, 404 (application/json)`.
fn statuses_line(op: &Operation) -> String {
    let mut line = op
        .statuses
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if !op.content_types.is_empty() {
        let types: Vec<&str> = op.content_types.keys().map(String::as_str).collect();
        line.push_str(&format!(" ({})", types.join(", ")));
    }
    line
}

/// A section of the report as plain-text cells, escaped by the renderer.
struct Section {
    title: &'static str,
    /// One sentence under the title.
    intro: &'static str,
    headers: &'static [&'static str],
    rows: Vec<Vec<String>>,
    /// What to say when there is no row.
    empty: &'static str,
}

fn name(op: &Operation) -> String {
    format!("{} {}", op.method, op.path)
}

/// The sections every report has after its table of operations, in order.
/// Schema drift only with a document to compare with.
fn sections(inventory: &Inventory) -> Vec<Section> {
    let mut risky: Vec<&Operation> = inventory
        .operations
        .iter()
        .filter(|o| o.risk.score > 0)
        .collect();
    risky.sort_by_key(|o| std::cmp::Reverse(o.risk.score));
    let mut out = vec![Section {
        title: "Risk",
        intro: "Operations by risk score, with the factors that explain it.",
        headers: &["Operation", "Score", "Level", "Factors"],
        rows: risky
            .into_iter()
            .map(|o| {
                let factors: Vec<String> = o
                    .risk
                    .factors
                    .iter()
                    .map(|f| format!("{} (+{}): {}", f.factor, f.weight, f.explain))
                    .collect();
                vec![
                    name(o),
                    o.risk.score.to_string(),
                    o.risk.level.as_str().to_string(),
                    factors.join("; "),
                ]
            })
            .collect(),
        empty: "No risk factor found.",
    }];
    out.push(Section {
        title: "Credentials",
        intro: "The security schemes each operation's requests carried.",
        headers: &["Operation", "Authenticated", "Schemes (requests)"],
        rows: inventory
            .operations
            .iter()
            .filter_map(|o| {
                let auth = o.auth.as_ref()?;
                let schemes: Vec<String> = auth
                    .schemes
                    .iter()
                    .map(|s| format!("{} ({})", s.scheme, s.requests))
                    .collect();
                Some(vec![
                    name(o),
                    auth.presence.as_str().to_string(),
                    schemes.join(", "),
                ])
            })
            .collect(),
        empty: "Not profiled.",
    });
    out.push(Section {
        title: "Zombies",
        intro: "Operations still used although deprecated, or although a newer version is used too.",
        headers: &["Operation", "Why"],
        rows: inventory
            .operations
            .iter()
            .filter(|o| !o.zombie.is_empty())
            .map(|o| {
                let why: Vec<String> = o
                    .zombie
                    .iter()
                    .map(|z| match &z.newer {
                        Some(newer) => format!("older version of {newer}"),
                        None => z.reason.to_string(),
                    })
                    .collect();
                vec![name(o), why.join("; ")]
            })
            .collect(),
        empty: "None.",
    });
    if inventory.summary.standings.is_some() {
        let mut rows = Vec::new();
        for o in &inventory.operations {
            let Some(d) = &o.schema_drift else { continue };
            for p in &d.parameters {
                rows.push(vec![
                    name(o),
                    format!("{} parameter {}", p.location.as_str(), p.name),
                ]);
            }
            for f in &d.request_fields {
                rows.push(vec![name(o), format!("request field {f}")]);
            }
            for f in &d.answer_fields {
                let mut what = format!("answer {} field {}", f.status, f.pointer);
                if !f.sensitive.is_empty() {
                    let kinds: Vec<&str> = f.sensitive.iter().map(|k| k.as_str()).collect();
                    what.push_str(&format!(" (exposes {})", kinds.join(", ")));
                }
                rows.push(vec![name(o), what]);
            }
            for status in &d.undocumented_statuses {
                rows.push(vec![name(o), format!("status {status}")]);
            }
        }
        out.push(Section {
            title: "Schema drift",
            intro: "What the traffic carried that the document does not describe.",
            headers: &["Operation", "Undocumented"],
            rows,
            empty: "None.",
        });
    }
    out
}

/// An operation's risk as one cell: `high 45`.
fn risk_cell(op: &Operation) -> String {
    format!("{} {}", op.risk.level.as_str(), op.risk.score)
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
    lines.push(format!(
        "Risk: {} high, {} medium, {} low.",
        s.risk.high, s.risk.medium, s.risk.low
    ));
    if let Some(n) = s.with_schema_drift {
        lines.push(format!(
            "{n} documented operations carried what their document does not describe."
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
