//! A scan's result, and the formats it is written in.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod terminal;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checks::Skip;
use crate::finding::{Category, Finding, Rule, Severity};

/// What a scan found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// moat's version.
    pub tool: &'static str,
    pub target: String,
    /// The document's title and version.
    pub api: String,
    /// When the scan started, RFC 3339.
    pub started: String,
    pub duration_ms: u64,
    pub requests: u64,
    /// Who the scan acted as.
    pub identities: Vec<IdentitySummary>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
    /// Problems that stopped part of the scan (an identity that could not
    /// log in, the budget spent).
    pub errors: Vec<String>,
    /// Every rule the scan ran.
    #[serde(skip)]
    pub rules: Vec<&'static Rule>,
    /// The OpenAPI document, as a path relative to the working directory
    /// where it is under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Where each documented operation is written, by `METHOD /template`:
    /// what SARIF points code scanning at.
    #[serde(skip)]
    pub locations: BTreeMap<String, SourceLocation>,
    /// Set when a baseline was given: what it had that this scan no longer
    /// finds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

impl Report {
    /// Findings per severity, most severe first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .into_iter()
            .map(|s| (s, self.findings.iter().filter(|f| f.severity == s).count()))
            .collect()
    }

    /// Whether any finding is at `threshold` or worse.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// Every rule the report speaks of: the rules the scan ran, then any
    /// rule of a finding not among them, each once.
    pub fn all_rules(&self) -> Vec<&'static Rule> {
        let mut rules: Vec<&'static Rule> = Vec::new();
        for rule in self
            .rules
            .iter()
            .copied()
            .chain(self.findings.iter().map(Finding::rule))
        {
            if !rules.iter().any(|r| r.id == rule.id) {
                rules.push(rule);
            }
        }
        rules
    }

    /// Findings per category, in category order, only categories with
    /// findings.
    pub fn by_category(&self) -> Vec<(Category, Vec<&Finding>)> {
        Category::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    self.findings
                        .iter()
                        .filter(|f| f.category == c)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, found)| !found.is_empty())
            .collect()
    }

    /// Where `finding` is written in the document: its operation's
    /// location, or for an undocumented path, the document itself.
    pub fn location_of(&self, finding: &Finding) -> Option<SourceLocation> {
        match &finding.operation {
            Some(op) => self
                .locations
                .get(&format!("{} {}", op.method, op.path))
                .cloned(),
            None => self
                .document
                .clone()
                .map(|file| SourceLocation { file, line: 1 }),
        }
    }

    /// With a baseline, whether `finding` is new since it.
    pub fn is_new(&self, finding: &Finding) -> Option<bool> {
        self.comparison
            .as_ref()
            .map(|c| !c.open_keys.contains(&finding.key()))
    }

    /// Compares with an earlier report (`--baseline`).
    pub fn compare(&mut self, baseline: &Baseline) {
        let now: std::collections::BTreeSet<String> =
            self.findings.iter().map(Finding::key).collect();
        let before: std::collections::BTreeSet<&str> =
            baseline.findings.iter().map(|f| f.key.as_str()).collect();
        self.comparison = Some(Comparison {
            baseline_target: baseline.target.clone(),
            closed: baseline
                .findings
                .iter()
                .filter(|f| !now.contains(&f.key))
                .cloned()
                .collect(),
            still_open: self
                .findings
                .iter()
                .filter(|f| before.contains(f.key().as_str()))
                .count(),
            new: self
                .findings
                .iter()
                .filter(|f| !before.contains(f.key().as_str()))
                .count(),
            open_keys: now
                .iter()
                .filter(|k| before.contains(k.as_str()))
                .cloned()
                .collect(),
        });
    }
}

/// The summary's rows, each value passed through `escape` (the format's
/// own escaping): what the Markdown and HTML reports show first.
pub fn summary_rows(
    report: &Report,
    escape: impl Fn(&str) -> String,
) -> [(&'static str, String); 6] {
    let identities: Vec<String> = report
        .identities
        .iter()
        .map(|i| format!("{} ({})", escape(&i.name), escape(i.role)))
        .collect();
    [
        ("Target", escape(&report.target)),
        ("API", escape(&report.api)),
        ("Identities", identities.join(", ")),
        ("Started", escape(&report.started)),
        (
            "Requests",
            format!(
                "{} in {:.1} s",
                report.requests,
                report.duration_ms as f64 / 1000.0
            ),
        ),
        ("Tool", escape(report.tool)),
    ]
}

/// An identity of the scan: its name and role, never its credentials.
#[derive(Debug, Clone, Serialize)]
pub struct IdentitySummary {
    pub name: String,
    pub role: &'static str,
}

/// The place of a documented operation in the document it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// Relative to the working directory where the file is under it,
    /// absolute otherwise; `/`-separated.
    pub file: String,
    /// The line of the operation's method key, from 1.
    pub line: u32,
}

/// The document's path and the location of each of its operations, the
/// paths relative to the working directory.
pub fn locate(spec: &moat_spec::ApiSpec) -> (Option<String>, BTreeMap<String, SourceLocation>) {
    locate_from(spec, std::env::current_dir().ok().as_deref())
}

fn locate_from(
    spec: &moat_spec::ApiSpec,
    cwd: Option<&Path>,
) -> (Option<String>, BTreeMap<String, SourceLocation>) {
    let cwd = cwd.map(|c| std::fs::canonicalize(c).unwrap_or_else(|_| c.to_path_buf()));
    let shown = |path: &Path| {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let relative = cwd
            .as_deref()
            .and_then(|cwd| path.strip_prefix(cwd).ok())
            .unwrap_or(&path);
        relative.to_string_lossy().replace('\\', "/")
    };
    let document = spec.documents().first().map(|d| shown(d.path()));
    let mut locations = BTreeMap::new();
    for op in &spec.operations {
        let Some(doc) = spec.document(op.doc) else {
            continue;
        };
        let line = doc.key_position(&op.pointer).map_or(1, |p| p.line.max(1));
        locations.insert(
            format!("{} {}", op.method.as_str(), op.path_template),
            SourceLocation {
                file: shown(doc.path()),
                line,
            },
        );
    }
    (document, locations)
}

/// The text of the comparison with a baseline, shared by the formats:
/// `3 closed, 2 still open, 1 new since the scan of URL`.
pub fn comparison_line(comparison: &Comparison) -> String {
    format!(
        "{} closed, {} still open, {} new since the baseline scan of {}",
        comparison.closed.len(),
        comparison.still_open,
        comparison.new,
        comparison.baseline_target
    )
}

/// `1 finding`, `3 findings`.
pub fn findings_count(n: usize) -> String {
    if n == 1 {
        "1 finding".to_string()
    } else {
        format!("{n} findings")
    }
}

/// Where a finding is: its operation, or the undocumented path.
pub fn place(finding: &Finding) -> String {
    finding
        .operation
        .as_ref()
        .map(|op| format!("{} {}", op.method, op.path))
        .or_else(|| finding.path.clone())
        .unwrap_or_default()
}

/// This scan beside a baseline.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub baseline_target: String,
    /// Findings of the baseline this scan does not show.
    pub closed: Vec<PriorFinding>,
    pub still_open: usize,
    pub new: usize,
    /// The keys of this scan's findings the baseline had too.
    #[serde(skip)]
    pub open_keys: std::collections::BTreeSet<String>,
}

/// An earlier JSON report, as `--baseline` reads it.
#[derive(Debug, Deserialize)]
pub struct Baseline {
    pub target: String,
    pub findings: Vec<PriorFinding>,
}

/// A finding of an earlier report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PriorFinding {
    pub key: String,
    pub rule: String,
    pub severity: String,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_located_at_their_method_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("api")).unwrap();
        let text = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    parameters:\n      - {name: id, in: path, required: true, schema: {type: string}}\n    get:\n      responses: {'200': {description: ok}}\n    delete:\n      responses: {'204': {description: gone}}\n";
        let path = dir.path().join("api/open api.yaml");
        std::fs::write(&path, text).unwrap();
        let spec = moat_spec::load(&path).unwrap();
        let (document, locations) = locate_from(&spec, Some(dir.path()));
        assert_eq!(document.as_deref(), Some("api/open api.yaml"));
        let get = &locations["GET /a/{id}"];
        assert_eq!(get.file, "api/open api.yaml");
        assert_eq!(text.lines().nth(get.line as usize - 1), Some("    get:"));
        let delete = &locations["DELETE /a/{id}"];
        assert_eq!(
            text.lines().nth(delete.line as usize - 1),
            Some("    delete:")
        );
        // Outside the working directory: the absolute path.
        let elsewhere = tempfile::tempdir().unwrap();
        let (document, _) = locate_from(&spec, Some(elsewhere.path()));
        assert!(document.unwrap().starts_with('/'));
    }

    #[test]
    fn fails_at_the_threshold_or_worse() {
        let report = testing::report();
        assert!(report.fails(Severity::Critical));
        let mut high = testing::report();
        high.findings.retain(|f| f.severity < Severity::Critical);
        assert!(high.fails(Severity::High));
        assert!(!high.fails(Severity::Critical));
        assert!(!testing::clean().fails(Severity::Info));
    }

    #[test]
    fn the_comparison_counts_closed_open_and_new() {
        let report = testing::report();
        let comparison = report.comparison.as_ref().unwrap();
        assert_eq!(comparison.closed.len(), 1);
        assert_eq!(comparison.still_open, 1);
        assert_eq!(comparison.new, 2);
        let new: Vec<Option<bool>> = report.findings.iter().map(|f| report.is_new(f)).collect();
        assert_eq!(new, [Some(true), Some(false), Some(true)]);
        assert_eq!(testing::clean().is_new(&report.findings[0]), None);
    }
}
