//! Human-readable reports of an [`Inventory`]: Markdown and a single
//! self-contained HTML page (inline CSS, no scripts, nothing fetched).
//!
//! Both show the summary (requests read, operations by standing and by
//! risk, operations with sensitive data), then the same [`sections`], each
//! a table built once here and written in each format's syntax: the
//! operations, risk with its factors, credentials seen, zombies, schema
//! drift, sensitive data by operation and location, and the orphans. Templates,
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

/// How a column's cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Prose.
    Text,
    /// A name from the API or the traffic (a method, a path, a location),
    /// set in code type where the format has it.
    Code,
    /// A count, aligned right.
    Number,
}

/// One cell: its text (escaped by the renderer) and, for HTML, a class
/// that colours it (a standing, a risk level).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cell {
    text: String,
    class: Option<&'static str>,
}

impl Cell {
    fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            class: None,
        }
    }

    fn styled(text: impl Into<String>, class: &'static str) -> Cell {
        Cell {
            text: text.into(),
            class: Some(class),
        }
    }
}

/// A section of the report: a title, an optional sentence, a table.
/// Both formats render the same sections, each in its own syntax.
struct Section {
    title: &'static str,
    intro: Option<&'static str>,
    columns: Vec<(&'static str, Kind)>,
    rows: Vec<Vec<Cell>>,
    /// What to say when there is no row.
    empty: &'static str,
}

fn name(op: &Operation) -> String {
    format!("{} {}", op.method, op.path)
}

/// Every section of the report, in order: the operations, their risk,
/// credentials, zombies, schema drift (with a document), sensitive data,
/// orphans (with a document).
fn sections(inventory: &Inventory) -> Vec<Section> {
    let mut out = vec![operations(inventory), risk(inventory)];
    out.push(Section {
        title: "Credentials",
        intro: Some("The security schemes each operation's requests carried."),
        columns: vec![
            ("Operation", Kind::Code),
            ("Authenticated", Kind::Text),
            ("Schemes (requests)", Kind::Text),
        ],
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
                    Cell::new(name(o)),
                    Cell::new(auth.presence.as_str()),
                    Cell::new(schemes.join(", ")),
                ])
            })
            .collect(),
        empty: "Not profiled.",
    });
    out.push(Section {
        title: "Zombies",
        intro: Some(
            "Operations still used although deprecated, or although a newer version is used too.",
        ),
        columns: vec![("Operation", Kind::Code), ("Why", Kind::Text)],
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
                vec![Cell::new(name(o)), Cell::new(why.join("; "))]
            })
            .collect(),
        empty: "None.",
    });
    if inventory.summary.standings.is_some() {
        out.push(schema_drift(inventory));
    }
    out.push(Section {
        title: "Sensitive data",
        intro: None,
        columns: vec![
            ("Operation", Kind::Code),
            ("Location", Kind::Code),
            ("Kind", Kind::Text),
            ("Count", Kind::Number),
        ],
        rows: inventory
            .operations
            .iter()
            .flat_map(|o| {
                o.sensitive.iter().map(move |f| {
                    vec![
                        Cell::new(name(o)),
                        Cell::new(f.location.clone()),
                        Cell::new(f.kind.as_str()),
                        Cell::new(f.count.to_string()),
                    ]
                })
            })
            .collect(),
        empty: "None seen.",
    });
    if let Some(orphans) = &inventory.orphans {
        out.push(Section {
            title: "Orphans",
            intro: Some("Documented, never seen in the traffic."),
            columns: vec![("Method", Kind::Code), ("Path", Kind::Code)],
            rows: orphans
                .iter()
                .map(|o| vec![Cell::new(o.method.clone()), Cell::new(o.path.clone())])
                .collect(),
            empty: "None.",
        });
    }
    out
}

/// The table of operations (the standing column with a document only).
fn operations(inventory: &Inventory) -> Section {
    let judged = inventory.summary.standings.is_some();
    let mut columns = vec![
        ("Method", Kind::Code),
        ("Path", Kind::Code),
        ("Requests", Kind::Number),
    ];
    if judged {
        columns.push(("Standing", Kind::Text));
    }
    columns.extend([
        ("Risk", Kind::Text),
        ("Statuses", Kind::Text),
        ("Parameters", Kind::Text),
        ("Sensitive values", Kind::Number),
    ]);
    let rows = inventory
        .operations
        .iter()
        .map(|op| {
            let mut row = vec![
                Cell::new(op.method.clone()),
                Cell::new(op.path.clone()),
                Cell::new(op.requests.to_string()),
            ];
            if judged {
                let standing = op.judgement.as_ref().map_or("", |j| j.standing.as_str());
                row.push(Cell::styled(standing, standing));
            }
            let sensitive: u64 = op.sensitive.iter().map(|f| f.count).sum();
            row.extend([
                Cell::styled(risk_cell(op), op.risk.level.as_str()),
                Cell::new(statuses_line(op)),
                Cell::new(parameters_line(op)),
                Cell::new(sensitive.to_string()),
            ]);
            row
        })
        .collect();
    Section {
        title: "Operations",
        intro: None,
        columns,
        rows,
        empty: "None found.",
    }
}

/// The risky operations, riskiest first, with their factors.
fn risk(inventory: &Inventory) -> Section {
    let mut risky: Vec<&Operation> = inventory
        .operations
        .iter()
        .filter(|o| o.risk.score > 0)
        .collect();
    risky.sort_by_key(|o| std::cmp::Reverse(o.risk.score));
    Section {
        title: "Risk",
        intro: Some("Operations by risk score, with the factors that explain it."),
        columns: vec![
            ("Operation", Kind::Code),
            ("Score", Kind::Number),
            ("Level", Kind::Text),
            ("Factors", Kind::Text),
        ],
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
                    Cell::new(name(o)),
                    Cell::new(o.risk.score.to_string()),
                    Cell::styled(o.risk.level.as_str(), o.risk.level.as_str()),
                    Cell::new(factors.join("; ")),
                ]
            })
            .collect(),
        empty: "No risk factor found.",
    }
}

/// What the traffic carried that the document does not describe.
fn schema_drift(inventory: &Inventory) -> Section {
    let mut rows = Vec::new();
    for o in &inventory.operations {
        let Some(d) = &o.schema_drift else { continue };
        let mut add = |what: String| rows.push(vec![Cell::new(name(o)), Cell::new(what)]);
        for p in &d.parameters {
            add(format!("{} parameter {}", p.location.as_str(), p.name));
        }
        for f in &d.request_fields {
            add(format!("request field {f}"));
        }
        for f in &d.answer_fields {
            let mut what = format!("answer {} field {}", f.status, f.pointer);
            if !f.sensitive.is_empty() {
                let kinds: Vec<&str> = f.sensitive.iter().map(|k| k.as_str()).collect();
                what.push_str(&format!(" (exposes {})", kinds.join(", ")));
            }
            add(what);
        }
        for status in &d.undocumented_statuses {
            add(format!("status {status}"));
        }
    }
    Section {
        title: "Schema drift",
        intro: Some("What the traffic carried that the document does not describe."),
        columns: vec![("Operation", Kind::Code), ("Undocumented", Kind::Text)],
        rows,
        empty: "None.",
    }
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
